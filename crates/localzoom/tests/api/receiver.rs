//! A webhook endpoint written the way Zoom's documentation tells integrators to write one: it answers
//! `endpoint.url_validation` with the `plainToken` and its HMAC, and accepts an event only when `x-zm-signature` is
//! `v0=` and the hex HMAC-SHA256, keyed by the secret token, of `v0:{x-zm-request-timestamp}:{body}`. It runs on a
//! thread of its own, so async tests and tests of the binary use it alike; the test steers how it answers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// One event the endpoint accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    /// The bytes as sent.
    pub raw: String,
    /// `x-zm-request-timestamp`, in seconds.
    pub timestamp: i64,
}

/// How the endpoint answers Zoom's URL validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// As Zoom requires.
    Answer,
    /// With an `encryptedToken` that is not the HMAC of the `plainToken`.
    WrongToken,
    /// As Zoom requires, padded past any sensible size.
    Oversized,
}

struct Behaviour {
    secret: String,
    validation: Validation,
    /// The status an event is answered with.
    status: u16,
    /// How long the endpoint takes to answer an event.
    delay: Duration,
}

#[derive(Default)]
struct Log {
    events: Vec<Received>,
    validations: usize,
    /// Requests whose signature did not verify (refused with 401).
    forged: usize,
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    log: Mutex<Log>,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

// docs/webhooks.md, Rust: begin
/// The hex HMAC-SHA256 of `message`, keyed by the app's secret token.
fn hmac_hex(secret_token: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_token.as_bytes()).expect("any key length");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The event Zoom sent, if `x-zm-signature` is `v0=` and the HMAC of `v0:{x-zm-request-timestamp}:{body}`.
fn verified_event(secret_token: &str, headers: &HeaderMap, body: &[u8]) -> Option<Value> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let mut message = format!("v0:{}:", header("x-zm-request-timestamp")).into_bytes();
    message.extend_from_slice(body);
    let expected = format!("v0={}", hmac_hex(secret_token, &message));
    let given = header("x-zm-signature");
    // Compared in constant time: how long a comparison takes must not tell how much of a forgery was right.
    let same = expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// The answer to Zoom's URL validation (`endpoint.url_validation`), if the event is one.
fn url_validation_answer(secret_token: &str, event: &Value) -> Option<Value> {
    if event["event"] != "endpoint.url_validation" {
        return None;
    }
    let plain_token = event["payload"]["plainToken"].as_str()?;
    Some(json!({
        "plainToken": plain_token,
        "encryptedToken": hmac_hex(secret_token, plain_token.as_bytes()),
    }))
}
// docs/webhooks.md, Rust: end

async fn endpoint(State(shared): State<Arc<Shared>>, headers: HeaderMap, raw: Bytes) -> Response {
    let (secret, validation, status, delay) = {
        let b = shared.behaviour.lock().unwrap();
        (b.secret.clone(), b.validation, b.status, b.delay)
    };
    let Some(body) = verified_event(&secret, &headers, &raw) else {
        shared.log.lock().unwrap().forged += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let answer_secret = match validation {
        Validation::Answer | Validation::Oversized => secret.as_str(),
        Validation::WrongToken => "not the secret",
    };
    if let Some(mut answer) = url_validation_answer(answer_secret, &body) {
        if validation == Validation::Oversized {
            answer["padding"] = "x".repeat(100_000).into();
        }
        shared.log.lock().unwrap().validations += 1;
        return axum::Json(answer).into_response();
    }
    let timestamp = headers
        .get("x-zm-request-timestamp")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    shared.log.lock().unwrap().events.push(Received {
        body,
        raw: String::from_utf8_lossy(&raw).into_owned(),
        timestamp,
    });
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap().into_response()
}

impl Receiver {
    /// An endpoint verifying with `secret`, answering events with 200.
    pub fn start(secret: &str) -> Receiver {
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(Behaviour {
                secret: secret.to_string(),
                validation: Validation::Answer,
                status: 200,
                delay: Duration::ZERO,
            }),
            log: Mutex::default(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/zoom/events", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/zoom/events", axum::routing::post(endpoint))
            .with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Receiver {
            url,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn answer_events_with(&self, status: u16) {
        self.shared.behaviour.lock().unwrap().status = status;
    }

    pub fn answer_validation(&self, validation: Validation) {
        self.shared.behaviour.lock().unwrap().validation = validation;
    }

    pub fn delay_events(&self, delay: Duration) {
        self.shared.behaviour.lock().unwrap().delay = delay;
    }

    /// Every event attempt received and verified, failed ones too, in arrival order.
    pub fn events(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().events.clone()
    }

    pub fn validations(&self) -> usize {
        self.shared.log.lock().unwrap().validations
    }

    /// Requests whose signature did not verify.
    pub fn forged(&self) -> usize {
        self.shared.log.lock().unwrap().forged
    }

    /// The events once `n` have arrived (panics after 20 seconds).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {n} events, got {}: {:#?}",
                events.len(),
                events.iter().map(|e| &e.body["event"]).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `wait_for`, for synchronous tests, with a longer patience (a restarted server catches up first).
    pub fn wait_for_blocking(&self, n: usize, patience: Duration) -> Vec<Received> {
        let deadline = Instant::now() + patience;
        loop {
            let events = self.events();
            if events.len() >= n || Instant::now() >= deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The validations once `n` have been answered.
    pub async fn wait_for_validations(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.validations() < n {
            assert!(
                Instant::now() < deadline,
                "waited for {n} validations, got {}",
                self.validations()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
