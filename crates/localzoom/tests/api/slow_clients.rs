//! Clients that open connections and send nothing, or a byte now and then, hold a connection for the read timeout
//! and no longer, and never more connections than the server allows.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use localzoom_test_macros::backend_test;
use serde_json::Value;

use crate::helpers::*;

fn connect(app: &TestApp) -> TcpStream {
    let stream = TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Everything the server sends until it closes the connection (or the 10 s read timeout of the test passes).
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut text = Vec::new();
    let _ = stream.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

#[backend_test]
async fn half_sent_requests_and_idle_connections_are_closed_after_the_read_timeout() {
    let app = TestApp::spawn_tuned(|c| c.read_timeout = Duration::from_millis(500)).await;
    let (base, token) = (app.base.clone(), app.token.clone());
    tokio::task::spawn_blocking(move || {
        let app_addr = base.trim_start_matches("http://").to_string();
        let open = || {
            let s = TcpStream::connect(&app_addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        };
        // A connection that sends nothing at all: closed after the read timeout.
        let mut silent = open();
        let started = std::time::Instant::now();
        assert_eq!(read_to_close(&mut silent), "");
        assert!(started.elapsed() < Duration::from_secs(5), "closed by the server, not by the test's timeout");

        // Headers that never end: closed, nothing served.
        let mut partial = open();
        partial
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localzoom\r\n")
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(read_to_close(&mut partial), "");
        assert!(started.elapsed() < Duration::from_secs(5));

        // A kept-alive connection left idle after its request: answered, then closed.
        let mut idle = open();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localzoom\r\n\r\n")
            .unwrap();
        let started = std::time::Instant::now();
        let answered = read_to_close(&mut idle);
        assert!(answered.starts_with("HTTP/1.1 200 OK"), "{answered}");
        assert!(started.elapsed() < Duration::from_secs(5), "closed by the server, not by the test's timeout");

        // A body announced and then trickled: refused in Zoom's shape, not waited for.
        let mut trickle = open();
        trickle
            .write_all(
                format!(
                    "PUT /v2/users/me/status HTTP/1.1\r\nHost: localzoom\r\nAuthorization: Bearer {token}\r\n\
                     Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"action\""
                )
                .as_bytes(),
            )
            .unwrap();
        let reply = read_to_close(&mut trickle);
        assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
        let body = reply.split("\r\n\r\n").nth(1).unwrap_or("");
        let parsed: Value = serde_json::from_str(body).expect(body);
        assert_eq!(
            parsed,
            serde_json::json!({ "code": 300, "message": "The request body did not arrive in time." })
        );
    })
    .await
    .unwrap();
    // The server is unharmed.
    app.get("/users/me").await.assert_status(200);
}

#[backend_test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let app = TestApp::spawn_tuned(|c| {
        c.max_connections = 2;
        c.read_timeout = Duration::from_secs(3);
    })
    .await;
    let base = app.base.clone();
    let _ = connect(&app);
    tokio::task::spawn_blocking(move || {
        let addr = base.trim_start_matches("http://").to_string();
        // Give the first probe connection time to be released.
        std::thread::sleep(Duration::from_millis(200));
        let hold = || {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        };
        let (first, _second) = (hold(), hold());
        std::thread::sleep(Duration::from_millis(200));
        let mut third = TcpStream::connect(&addr).unwrap();
        third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        third
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buffer = [0u8; 64];
        let waited = third.read(&mut buffer);
        assert!(
            waited.is_err(),
            "a third connection was served while two held the cap: {waited:?}"
        );
        // One holder leaves: the waiting request is served.
        drop(first);
        third
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let reply = read_to_close(&mut third);
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    })
    .await
    .unwrap();
}

/// A client that asks for large answers and never reads them cannot keep its connection: the stalled write fails
/// after the read timeout, and the slot goes to the next client.
#[backend_test]
async fn a_client_that_never_reads_loses_its_connection() {
    let app = TestApp::spawn_tuned(|c| {
        c.max_connections = 1;
        c.read_timeout = Duration::from_secs(1);
    })
    .await;
    let now = app.clock_now();
    app.db()
        .write(move |tx| async move {
            let s = &tx;
            localzoom_server::service::accounts::seed_users(s, ACCOUNT_ID, 0, 2_000, now).await
        })
        .await
        .unwrap();
    let (base, token) = (app.base.clone(), app.token.clone());
    tokio::task::spawn_blocking(move || {
        let addr = base.trim_start_matches("http://").to_string();
        // Fifty pages of 2,000 users asked for at once (pipelined), none read: far more than socket buffers hold.
        let mut greedy = TcpStream::connect(&addr).unwrap();
        let ask = format!(
            "GET /v2/users?page_size=2000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        greedy.write_all(ask.repeat(50).as_bytes()).unwrap();
        // The next client is served once the greedy one's stalled write has timed out.
        let mut next = TcpStream::connect(&addr).unwrap();
        next.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        next.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let reply = read_to_close(&mut next);
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        drop(greedy);
    })
    .await
    .unwrap();
}
