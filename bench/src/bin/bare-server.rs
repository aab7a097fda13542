//! The floor: an axum server on the same runtime settings as localzoom that answers every request with 204.
//! Usage: bare-server ADDR

use axum::Router;
use axum::http::StatusCode;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9900".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("bare-server listening on {addr}");
    let app = Router::new().fallback(|| async { StatusCode::NO_CONTENT });
    axum::serve(listener, app).await.expect("serve");
}
