//! Behavioural tests of localzoom over HTTP. One test binary for the crate (linking is the slow part on small
//! machines); each test starts its own server on port 0 with a fresh temporary database.

mod helpers;
mod receiver;

mod architecture;
mod assistants;
mod bad_input;
mod client;
mod console;
mod console_browser;
mod control;
mod email_change;
mod faults;
mod features;
mod first_hour;
mod fixtures;
mod history_key;
mod isolation;
mod metrics;
mod oauth;
mod password;
mod presence;
mod process;
mod rate_limits;
mod scim;
mod scopes;
mod slow_clients;
mod sso_token;
mod status;
mod storage;
mod testing;
mod uploads;
mod user_oauth;
mod user_reads;
mod user_resources;
mod user_settings;
mod users;
mod webhooks;
