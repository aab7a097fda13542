//! Zoom's rules, with no I/O: what a user is, which changes are allowed, what a password must look like. Of the
//! crate it reads only `spec` (Zoom's own schemas, as data).

pub mod account;
pub mod error;
pub mod fixture;
pub mod media;
pub mod password;
pub mod principal;
pub mod rate_limits;
pub mod schema;
pub mod scim;
pub mod settings;
pub mod user;
pub mod user_resources;
pub mod user_settings;
pub mod webhook;
