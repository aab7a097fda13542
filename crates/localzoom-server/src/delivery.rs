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
    DELIVERY_TIMEOUT_MS, DeliveryState, NewSubscription, REVALIDATE_AFTER_MS, is_success,
    retry_after_ms,
};
use crate::error::ApiResult;
use crate::service::webhooks;
use crate::store::{
    AttemptOutcome, Database, DeliveryRecord, StoreError, SubscriptionRecord, WriteScope,
};

/// How often a node looks for due deliveries when nothing woke it (events recorded by other nodes or by the CLI,
/// retries falling due).
const POLL: Duration = Duration::from_millis(100);
/// How long a claim holds: longer than an attempt can take, short enough that a dead node's claims are taken
/// over soon. Leases run on the system's clock, not the server's (which a test may hold still): they are about
/// processes being alive, not about Zoom's time.
const CLAIM_MS: i64 = 15_000;
/// The most attempts and validations under way at once on a node.
const MAX_UNDER_WAY: usize = 64;
/// Finished deliveries stay in the log this long (by the server's clock), then go.
pub const KEEP_FINISHED_MS: i64 = 7 * 24 * 3600 * 1000;
/// How often old deliveries are pruned.
const PRUNE_EVERY_MS: i64 = 60_000;
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
            let released = self
                .db
                .write_in(WriteScope::Rows, move |tx| async move {
                    let store = &tx;
                    store.release_webhook_claims().await
                })
                .await;
            if let Err(e) = released {
                tracing::warn!(error = %e, "cannot release earlier webhook claims");
            }
        }
        let mut under_way = JoinSet::new();
        let mut pruned_at: Option<i64> = None;
        loop {
            if let Err(e) = self.start_due(&mut under_way).await {
                tracing::warn!(error = %e, "webhook sending failed; trying again");
            }
            let now = self.clock.now_ms();
            if pruned_at.is_none_or(|at| now - at >= PRUNE_EVERY_MS) {
                pruned_at = Some(now);
                let pruned = self
                    .db
                    .write_in(WriteScope::Rows, move |tx| async move {
                        let store = &tx;
                        store.prune_deliveries(now - KEEP_FINISHED_MS).await
                    })
                    .await;
                if let Err(e) = pruned {
                    tracing::warn!(error = %e, "cannot prune old webhook deliveries");
                }
            }
            // Woken by news, by the poll, or by a task ending (its subscription's next event may go now).
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                Some(_) = under_way.join_next(), if !under_way.is_empty() => {}
            }
            while under_way.try_join_next().is_some() {}
        }
    }

    /// Starts what is due and not under way: the validations of endpoints that need one, and the oldest pending
    /// delivery of each subscription (so none overtakes an earlier event). Each is claimed in the database first,
    /// so no other node starts it too, and records its own outcome when it ends: a slow endpoint holds up its own
    /// subscription only.
    async fn start_due(&self, under_way: &mut JoinSet<()>) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let lease @ (lease_now, _) = self.lease();
        let due_before = now - REVALIDATE_AFTER_MS;
        let node = self.node.clone();
        // Read first: an idle node (nearly always) then costs the writer nothing; the claim checks again. Each read
        // is one statement and needs no snapshot of its own (on PostgreSQL: no BEGIN and COMMIT, ten times a second
        // on every node).
        let candidates = self
            .db
            .lookup(|tx| async {
                let tx = tx;
                let store = &tx;
                store.subscriptions_to_validate(due_before, lease_now).await
            })
            .await?;
        let to_validate = if candidates.is_empty() {
            Vec::new()
        } else {
            self.db
                .write_in(WriteScope::Rows, move |tx| async move {
                    let store = &tx;
                    let result: Result<Vec<SubscriptionRecord>, StoreError> = {
                        let mut claimed = Vec::new();
                        for subscription in candidates {
                            if store
                                .claim_validation(&subscription.id, &node, lease, Some(due_before))
                                .await?
                            {
                                claimed.push(subscription);
                            }
                        }
                        Ok(claimed)
                    };
                    result
                })
                .await?
        };
        for subscription in to_validate {
            let sender = self.clone();
            under_way.spawn(async move {
                if let Err(e) = sender.validate_claimed(&subscription).await {
                    tracing::warn!(error = %e.cause(), "cannot record a webhook validation");
                }
            });
        }
        if under_way.len() >= MAX_UNDER_WAY {
            return Ok(());
        }
        let limit = (MAX_UNDER_WAY - under_way.len()) as u32;
        let due = self
            .db
            .lookup(|tx| async {
                let tx = tx;
                let store = &tx;
                store.due_deliveries(now, lease_now, limit).await
            })
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        let node = self.node.clone();
        let claimed = self
            .db
            .write_in(WriteScope::Rows, move |tx| async move {
                let store = &tx;
                let result: Result<Vec<DeliveryRecord>, StoreError> = {
                    let mut claimed = Vec::with_capacity(due.len());
                    for delivery in due {
                        if store.claim_delivery(&delivery, &node, now, lease).await? {
                            claimed.push(delivery);
                        }
                    }
                    Ok(claimed)
                };
                result
            })
            .await?;
        for delivery in claimed {
            let sender = self.clone();
            under_way.spawn(async move {
                let id = delivery.id;
                let Some(outcome) = sender.attempt(delivery).await else {
                    return;
                };
                let node = sender.node.clone();
                let recorded = sender
                    .db
                    .write_in(WriteScope::Rows, move |tx| async move {
                        let store = &tx;
                        store.finish_attempt(id, &node, &outcome).await
                    })
                    .await;
                match recorded {
                    Ok(()) => sender.wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, delivery = id, "cannot record a webhook attempt")
                    }
                }
            });
        }
        Ok(())
    }

    /// One attempt at one delivery: what to record (`None` when its subscription is gone).
    async fn attempt(&self, delivery: DeliveryRecord) -> Option<AttemptOutcome> {
        let subscription = self
            .db
            .read(|tx| async {
                let tx = tx;
                let store = &tx;
                store.subscription(&delivery.subscription_id).await
            })
            .await
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
                return Some(AttemptOutcome {
                    state: DeliveryState::Delivered,
                    next_attempt_at: delivery.next_attempt_at,
                    status: Some(status.into()),
                    error: None,
                    latency_ms,
                    finished_at: Some(now),
                });
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
        Some(outcome)
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

    /// Adds a subscription and validates its endpoint at once, as Zoom does when one is saved (claimed for
    /// this validation as it is stored, so no node's background round validates it as well).
    pub async fn subscribe(
        &self,
        client_id: String,
        asked: NewSubscription,
    ) -> ApiResult<SubscriptionRecord> {
        let (now, node, lease) = (self.clock.now_ms(), self.node.clone(), self.lease());
        let created = self
            .db
            // At most 20 subscriptions per app: counted before one is added, so alone.
            .write(move |tx| async move {
                let store = &tx;
                let result: ApiResult<SubscriptionRecord> = {
                    let created = webhooks::subscribe(store, &client_id, &asked, now).await?;
                    store
                        .claim_validation(&created.id, &node, lease, None)
                        .await?;
                    Ok(created)
                };
                result
            })
            .await?;
        self.validate_claimed(&created).await
    }

    /// Zoom's URL validation of a subscription's endpoint, now, recorded: validated, or failed (with why). If
    /// another node is validating it at this moment, this one waits for it to finish first.
    pub async fn validate(
        &self,
        subscription: &SubscriptionRecord,
    ) -> ApiResult<SubscriptionRecord> {
        let deadline = Instant::now() + Duration::from_millis(CLAIM_MS as u64);
        loop {
            let (id, node, lease) = (subscription.id.clone(), self.node.clone(), self.lease());
            let claimed = self
                .db
                .write_in(WriteScope::Rows, move |tx| async move {
                    let store = &tx;
                    store.claim_validation(&id, &node, lease, None).await
                })
                .await?;
            if claimed || Instant::now() >= deadline {
                return self.validate_claimed(subscription).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A claim from now on the system's clock.
    fn lease(&self) -> (i64, i64) {
        let now = SystemClock.now_ms();
        (now, now + CLAIM_MS)
    }

    /// The validation of a subscription this node has claimed; recording it lets go of the claim.
    async fn validate_claimed(
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
            .write_in(WriteScope::Rows, move |tx| async move {
                let store = &tx;
                webhooks::record_validation(store, &id, outcome, now).await
            })
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
