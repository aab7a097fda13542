//! localzoom: a Zoom-compatible Users API server.
//!
//! A request flows top to bottom through the folders: `http` (router, extractors, the error table) → `gate`
//! (authentication, scopes, rate limits) → `service` (one function per operation: load, ask `domain`, persist)
//! → `domain` (Zoom's rules, no I/O) and `store` (persistence). Imports only point down (`layering.rs` checks
//! it); docs/architecture.md is the map.

pub mod blocking;
pub mod clock;
pub mod crypto;
pub mod delivery;
pub mod domain;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod gate;
pub mod http;
#[cfg(test)]
mod layering;
pub mod server;
pub mod service;
pub mod spec;
pub mod store;

pub use server::{AppState, Bootstrap, ServerConfig, Started};
