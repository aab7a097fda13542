//! Seed 001 ("Node.js / Zoom API / Update user status") in Rust: `PUT /v2/users/{userId}/status` with
//! `action=deactivate`, printing the status code Zoom answered, as the Chilkat example does.
//!
//! Against localzoom (`cargo run --release -- serve --account-id my-account --client-id my-client
//! --client-secret my-secret` in another terminal):
//!
//! ```sh
//! ZOOM_API_URL=http://127.0.0.1:9800/v2 ZOOM_OAUTH_URL=http://127.0.0.1:9800 \
//! ZOOM_ACCOUNT_ID=my-account ZOOM_CLIENT_ID=my-client ZOOM_CLIENT_SECRET=my-secret \
//!   cargo run -p localzoom-client --example update_user_status -- jane@example.com deactivate
//! ```
//!
//! Against Zoom, leave out the two URLs and use a Server-to-Server app's credentials.

use localzoom_client::{Client, StatusAction};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(user), action) = (args.next(), args.next()) else {
        eprintln!("usage: update_user_status USER [activate|deactivate]");
        return std::process::ExitCode::from(2);
    };
    let action = match action.as_deref().map(StatusAction::parse) {
        None => StatusAction::Deactivate,
        Some(Some(action)) => action,
        Some(None) => {
            eprintln!("unknown action: activate, deactivate, clock_in or clock_out");
            return std::process::ExitCode::from(2);
        }
    };
    let result = async {
        let zoom = Client::from_env()?;
        zoom.update_status(&user, action).await
    }
    .await;
    match result {
        Ok(()) => {
            println!("204");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            if let Some(zoom) = e.zoom() {
                println!("{}", zoom.http_status);
            }
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
