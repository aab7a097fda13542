//! The webhook sender: validates endpoints as Zoom does (`endpoint.url_validation`, again every 72 hours), and
//! sends the events `service::webhooks` recorded, signed, in order per subscription, retried on Zoom's schedule.
//!
//! Every node runs one. The database decides who sends what: a node claims a delivery in a write transaction
//! before sending it (a claim that lapses, because its node died, is taken over), so with several nodes each event
//! goes out once, and after a crash or restart sending goes on from what the database holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::clock::{Clock, SystemClock};
use crate::crypto;
use crate::domain::webhook::{
    DELIVERY_TIMEOUT_MS, DeliveryState, REVALIDATE_AFTER_MS, is_success, retry_after_ms,
};
use crate::error::ApiResult;
use crate::service::webhooks;
use crate::store::{AttemptOutcome, Database, DeliveryRecord, StoreError, SubscriptionRecord};

/// How often a node looks for due deliveries when nothing woke it (events recorded by other nodes or by the CLI,
/// retries falling due).
const POLL: Duration = Duration::from_millis(100);
/// How long a claim holds: longer than an attempt can take, short enough that a dead node's claims are taken
/// over soon. Leases run on the system's clock, not the server's (which a test may hold still): they are about
/// processes being alive, not about Zoom's time.
const CLAIM_MS: i64 = 15_000;
/// The most deliveries (each the head of its own subscription's queue) sent at once.
const BATCH: u32 = 64;
/// The most bytes of an answer to the URL validation that are read: it is an object of two short tokens, and an
/// endpoint must not be able to make a node hold more.
const MAX_VALIDATION_ANSWER_BYTES: usize = 16 * 1024;

/// What sends one node's share of the webhooks.
#[derive(Clone)]
pub struct Sender {
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    /// Tells claims of this node from others'.
    node: Arc<str>,
    /// Rung when there may be work sooner than the next poll (a subscription added, the clock moved).
    pub wake: Arc<Notify>,
}

impl Sender {
    pub fn new(db: Arc<Database>, clock: Arc<dyn Clock>) -> Sender {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(DELIVERY_TIMEOUT_MS))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Zoom Marketplace/1.0a")
            .build()
            .expect("the HTTP client's settings are valid");
        Sender {
            db,
            clock,
            http,
            node: crypto::new_id().into(),
            wake: Arc::default(),
        }
    }

    /// Sends until the task is aborted.
    pub async fn run(self) {
        if matches!(*self.db, Database::Sqlite(_)) {
            // One node serves an SQLite file: claims left by an earlier process died with it.
            let released = self.db.write(|store| store.release_delivery_claims()).await;
            if let Err(e) = released {
                tracing::warn!(error = %e, "cannot release earlier webhook claims");
            }
        }
        loop {
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "webhook sending failed; trying again");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Validates what is due for validation, then sends what is due until nothing is.
    async fn round(&self) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let to_validate = self
            .db
            .read(|store| store.subscriptions_to_validate(now - REVALIDATE_AFTER_MS))?;
        let mut validations = JoinSet::new();
        for subscription in to_validate {
            let sender = self.clone();
            validations.spawn(async move { sender.validate(&subscription).await });
        }
        while let Some(done) = validations.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e.cause(), "cannot record a webhook validation");
            }
        }
        while self.send_due().await? > 0 {}
        Ok(())
    }

    /// Claims the deliveries due now (at most one per subscription: the oldest pending, so none overtakes an
    /// earlier event), sends them at once and records each outcome; how many were sent.
    async fn send_due(&self) -> Result<usize, StoreError> {
        let (now, lease_now) = (self.clock.now_ms(), SystemClock.now_ms());
        let due = self
            .db
            .read(|store| store.due_deliveries(now, lease_now, BATCH))?;
        if due.is_empty() {
            return Ok(0);
        }
        let node = self.node.clone();
        let claimed = self
            .db
            .write(move |store| -> Result<Vec<DeliveryRecord>, StoreError> {
                let mut claimed = Vec::with_capacity(due.len());
                for delivery in due {
                    if store.claim_delivery(delivery.id, &node, lease_now, lease_now + CLAIM_MS)? {
                        claimed.push(delivery);
                    }
                }
                Ok(claimed)
            })
            .await?;
        let count = claimed.len();
        let mut attempts = JoinSet::new();
        for delivery in claimed {
            let sender = self.clone();
            attempts.spawn(async move { sender.attempt(delivery).await });
        }
        let mut outcomes = Vec::with_capacity(count);
        while let Some(done) = attempts.join_next().await {
            if let Ok(Some(outcome)) = done {
                outcomes.push(outcome);
            }
        }
        let node = self.node.clone();
        self.db
            .write(move |store| -> Result<(), StoreError> {
                for (id, outcome) in &outcomes {
                    store.finish_attempt(*id, &node, outcome)?;
                }
                Ok(())
            })
            .await?;
        Ok(count)
    }

    /// One attempt at one delivery: what to record (`None` when its subscription is gone).
    async fn attempt(&self, delivery: DeliveryRecord) -> Option<(i64, AttemptOutcome)> {
        let subscription = self
            .db
            .read(|store| store.subscription(&delivery.subscription_id))
            .ok()
            .flatten()?;
        let started = Instant::now();
        let answer = self
            .post(&subscription, delivery.body.clone())
            .await
            .map(|response| response.status().as_u16());
        let latency_ms = started.elapsed().as_millis() as i64;
        let now = self.clock.now_ms();
        let attempts = delivery.attempts + 1;
        let (status, error) = match answer {
            Ok(status) if is_success(status) => {
                return Some((
                    delivery.id,
                    AttemptOutcome {
                        state: DeliveryState::Delivered,
                        next_attempt_at: delivery.next_attempt_at,
                        status: Some(status.into()),
                        error: None,
                        latency_ms,
                        finished_at: Some(now),
                    },
                ));
            }
            Ok(status) => (
                Some(i64::from(status)),
                format!("the endpoint answered {status}; Zoom needs 200 or 204"),
            ),
            Err(e) => (None, describe(&e)),
        };
        let outcome = match retry_after_ms(attempts) {
            Some(delay) => AttemptOutcome {
                state: DeliveryState::Pending,
                next_attempt_at: now + delay,
                status,
                error: Some(error),
                latency_ms,
                finished_at: None,
            },
            None => AttemptOutcome {
                state: DeliveryState::Dropped,
                next_attempt_at: delivery.next_attempt_at,
                status,
                error: Some(error),
                latency_ms,
                finished_at: Some(now),
            },
        };
        Some((delivery.id, outcome))
    }

    /// POSTs a body to the subscription's endpoint, signed as Zoom signs it.
    async fn post(
        &self,
        subscription: &SubscriptionRecord,
        body: String,
    ) -> reqwest::Result<reqwest::Response> {
        let timestamp = self.clock.now_ms().div_euclid(1000);
        let signature = crypto::webhook_signature(&subscription.secret_token, timestamp, &body);
        self.http
            .post(&subscription.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("x-zm-request-timestamp", timestamp.to_string())
            .header("x-zm-signature", signature)
            .header("x-zm-trackingid", crypto::new_tracking_id())
            .body(body)
            .send()
            .await
    }

    /// Zoom's URL validation of a subscription's endpoint, recorded: validated, or failed (with why).
    pub async fn validate(
        &self,
        subscription: &SubscriptionRecord,
    ) -> ApiResult<SubscriptionRecord> {
        let plain_token = crypto::new_secret();
        let body = json!({
            "payload": { "plainToken": plain_token },
            "event_ts": self.clock.now_ms(),
            "event": "endpoint.url_validation",
        })
        .to_string();
        let expected = crypto::url_validation_token(&subscription.secret_token, &plain_token);
        let outcome = match self.post(subscription, body).await {
            Err(e) => Err(describe(&e)),
            Ok(response) if response.status().as_u16() != 200 => Err(format!(
                "the endpoint answered {} to the URL validation; Zoom needs 200",
                response.status().as_u16()
            )),
            Ok(response) => match bounded_body(response).await {
                Err(why) => Err(why),
                Ok(body) => match serde_json::from_slice::<Value>(&body) {
                    Ok(answer)
                        if answer["plainToken"] == plain_token.as_str()
                            && answer["encryptedToken"] == expected.as_str() =>
                    {
                        Ok(())
                    }
                    Ok(_) => Err(
                        "the endpoint's answer did not carry the plainToken and its encryptedToken \
                         (the hex HMAC-SHA256 of plainToken keyed by the secret token)"
                            .to_string(),
                    ),
                    Err(e) => Err(format!("the endpoint's answer is not JSON: {e}")),
                },
            },
        };
        let (id, now) = (subscription.id.clone(), self.clock.now_ms());
        let recorded = self
            .db
            .write(move |store| webhooks::record_validation(store, &id, outcome, now))
            .await;
        self.wake.notify_one();
        recorded
    }
}

/// An answer's body, refused past `MAX_VALIDATION_ANSWER_BYTES`.
async fn bounded_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_VALIDATION_ANSWER_BYTES {
            return Err(format!(
                "the endpoint's answer to the URL validation is longer than {} KiB",
                MAX_VALIDATION_ANSWER_BYTES / 1024
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a request got no usable answer, in words for the delivery log.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} seconds", DELIVERY_TIMEOUT_MS / 1000)
    } else if e.is_connect() {
        "the endpoint refused the connection or could not be reached".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    }
}
