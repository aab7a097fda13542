//! Event subscriptions and the outbox of their deliveries.

use super::{Store, known, parsed};
use crate::domain::webhook::{DeliveryState, Event, Validation};
use crate::store::sql::{Row, params};
use crate::store::{DeliveryRecord, StoreResult, SubscriptionRecord};

macro_rules! subscription_columns {
    () => {
        "id, account_id, client_id, url, secret_token, events, validation, validated_at, validation_detail, \
         created_at"
    };
}

macro_rules! delivery_columns {
    () => {
        "id, subscription_id, account_id, event, event_ts, body, state, attempts, next_attempt_at, last_status, \
         last_error, last_latency_ms, finished_at"
    };
}

fn subscription_from_row(row: &Row<'_>) -> StoreResult<SubscriptionRecord> {
    let events: String = row.get("events")?;
    Ok(SubscriptionRecord {
        id: row.get("id")?,
        account_id: row.get("account_id")?,
        client_id: row.get("client_id")?,
        url: row.get("url")?,
        secret_token: row.get("secret_token")?,
        events: events
            .split_whitespace()
            .map(|name| known("events", name, Event::parse))
            .collect::<StoreResult<_>>()?,
        validation: parsed(row, "validation", Validation::parse)?,
        validated_at: row.get("validated_at")?,
        validation_detail: row.get("validation_detail")?,
        created_at: row.get("created_at")?,
    })
}

fn delivery_from_row(row: &Row<'_>) -> StoreResult<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: row.get("id")?,
        subscription_id: row.get("subscription_id")?,
        account_id: row.get("account_id")?,
        event: parsed(row, "event", Event::parse)?,
        event_ts: row.get("event_ts")?,
        body: row.get("body")?,
        state: parsed(row, "state", DeliveryState::parse)?,
        attempts: row.get("attempts")?,
        next_attempt_at: row.get("next_attempt_at")?,
        last_status: row.get("last_status")?,
        last_error: row.get("last_error")?,
        last_latency_ms: row.get("last_latency_ms")?,
        finished_at: row.get("finished_at")?,
    })
}

/// How many deliveries of a subscription are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub delivered: u64,
    pub dropped: u64,
}

/// What the sender records after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub state: DeliveryState,
    pub next_attempt_at: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub finished_at: Option<i64>,
}

impl Store {
    pub async fn insert_subscription(&self, s: &SubscriptionRecord) -> StoreResult<()> {
        let events = s
            .events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        self.execute(
            concat!(
                "INSERT INTO webhook_subscriptions (",
                subscription_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            params![
                &s.id,
                &s.account_id,
                &s.client_id,
                &s.url,
                &s.secret_token,
                &events,
                s.validation.as_str(),
                s.validated_at,
                s.validation_detail.as_deref(),
                s.created_at,
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn subscription(&self, id: &str) -> StoreResult<Option<SubscriptionRecord>> {
        self.one(
            concat!(
                "SELECT ",
                subscription_columns!(),
                " FROM webhook_subscriptions WHERE id = $1"
            ),
            params![id],
            subscription_from_row,
        )
        .await
    }

    /// The subscriptions of one app, or of every app, oldest first.
    pub async fn subscriptions(
        &self,
        client_id: Option<&str>,
    ) -> StoreResult<Vec<SubscriptionRecord>> {
        self.all(
            concat!(
                "SELECT ",
                subscription_columns!(),
                " FROM webhook_subscriptions WHERE CAST($1 AS TEXT) IS NULL OR client_id = $1 \
                 ORDER BY created_at, id"
            ),
            params![client_id],
            subscription_from_row,
        )
        .await
    }

    /// The subscriptions of the account's apps that take events now (not failed validation).
    pub async fn listening_subscriptions(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<SubscriptionRecord>> {
        self.all(
            concat!(
                "SELECT ",
                subscription_columns!(),
                " FROM webhook_subscriptions WHERE account_id = $1 AND validation <> 'failed'"
            ),
            params![account_id],
            subscription_from_row,
        )
        .await
    }

    /// Subscriptions whose endpoint is to be validated (never asked yet, or last validated `before` or earlier)
    /// and that no node is validating at `lease_now`.
    pub async fn subscriptions_to_validate(
        &self,
        before: i64,
        lease_now: i64,
    ) -> StoreResult<Vec<SubscriptionRecord>> {
        self.all(
            concat!(
                "SELECT ",
                subscription_columns!(),
                " FROM webhook_subscriptions WHERE (validation = 'pending' \
                 OR (validation = 'validated' AND validated_at <= $1)) \
                 AND (claimed_until IS NULL OR claimed_until <= $2) ORDER BY created_at, id"
            ),
            params![before, lease_now],
            subscription_from_row,
        )
        .await
    }

    /// Takes a subscription's validation for `node` until `until`: false when another node holds it, or, with
    /// `due_before`, when it no longer needs one (another node has just validated it).
    pub async fn claim_validation(
        &self,
        id: &str,
        node: &str,
        (lease_now, until): (i64, i64),
        due_before: Option<i64>,
    ) -> StoreResult<bool> {
        Ok(self
            .execute(
                "UPDATE webhook_subscriptions SET claimed_by = $1, claimed_until = $2 \
             WHERE id = $3 AND (claimed_until IS NULL OR claimed_until <= $4) \
             AND (CAST($5 AS BIGINT) IS NULL OR validation = 'pending' \
                  OR (validation = 'validated' AND validated_at <= $5))",
                params![node, until, id, lease_now, due_before],
            )
            .await?
            == 1)
    }

    pub async fn set_validation(
        &self,
        id: &str,
        validation: Validation,
        validated_at: Option<i64>,
        detail: Option<&str>,
    ) -> StoreResult<()> {
        self.execute(
            "UPDATE webhook_subscriptions SET validation = $1, \
             validated_at = COALESCE($2, validated_at), validation_detail = $3, \
             claimed_by = NULL, claimed_until = NULL WHERE id = $4",
            params![validation.as_str(), validated_at, detail, id],
        )
        .await?;
        Ok(())
    }

    /// Removes a subscription and its deliveries; whether it existed.
    pub async fn delete_subscription(&self, id: &str) -> StoreResult<bool> {
        self.execute(
            "DELETE FROM webhook_deliveries WHERE subscription_id = $1",
            params![id],
        )
        .await?;
        Ok(self
            .execute(
                "DELETE FROM webhook_subscriptions WHERE id = $1",
                params![id],
            )
            .await?
            > 0)
    }

    /// Removes every subscription and delivery, or those of one account.
    pub async fn clear_webhooks(&self, account_id: Option<&str>) -> StoreResult<()> {
        for sql in [
            "DELETE FROM webhook_deliveries WHERE CAST($1 AS TEXT) IS NULL OR account_id = $1",
            "DELETE FROM webhook_subscriptions WHERE CAST($1 AS TEXT) IS NULL OR account_id = $1",
        ] {
            self.execute(sql, params![account_id]).await?;
        }
        Ok(())
    }

    /// Records one event for one subscription, due at once; its id.
    pub async fn insert_delivery(
        &self,
        subscription: &SubscriptionRecord,
        event: Event,
        event_ts: i64,
        body: &str,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO webhook_deliveries (subscription_id, account_id, event, event_ts, body, state, \
             attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6)",
            params![
                &subscription.id,
                &subscription.account_id,
                event.as_str(),
                event_ts,
                body,
                event_ts,
            ],
        ).await?;
        Ok(())
    }

    pub async fn delivery(&self, id: i64) -> StoreResult<Option<DeliveryRecord>> {
        self.one(
            concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM webhook_deliveries WHERE id = $1"
            ),
            params![id],
            delivery_from_row,
        )
        .await
    }

    /// A subscription's deliveries, newest first, at most `limit`.
    pub async fn deliveries(
        &self,
        subscription_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.all(
            concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY id DESC LIMIT $2"
            ),
            params![subscription_id, limit],
            delivery_from_row,
        )
        .await
    }

    pub async fn delivery_counts(&self, subscription_id: &str) -> StoreResult<DeliveryCounts> {
        let mut counts = DeliveryCounts::default();
        self.conn.query(
            "SELECT state, COUNT(*) AS n FROM webhook_deliveries WHERE subscription_id = $1 GROUP BY state",
            params![subscription_id],
            &mut |row| {
                let n: u64 = row.get("n")?;
                match parsed(row, "state", DeliveryState::parse)? {
                    DeliveryState::Pending => counts.pending = n,
                    DeliveryState::Delivered => counts.delivered = n,
                    DeliveryState::Dropped => counts.dropped = n,
                }
                Ok(())
            },
        ).await?;
        Ok(counts)
    }

    /// The first pending delivery of each validated subscription, when it is due by `now` and no claim on it
    /// holds at `lease_now`: what may be sent now without overtaking an earlier event of the same subscription.
    /// One index probe per subscription, however long a failing endpoint's backlog.
    pub async fn due_deliveries(
        &self,
        now: i64,
        lease_now: i64,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.all(
            concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM webhook_deliveries WHERE id IN (\
                   SELECT (SELECT p.id FROM webhook_deliveries p \
                           WHERE p.state = 'pending' AND p.subscription_id = s.id ORDER BY p.id LIMIT 1) \
                   FROM webhook_subscriptions s WHERE s.validation = 'validated') \
                 AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $2) \
                 ORDER BY id LIMIT $3"
            ),
            params![now, lease_now, limit],
            delivery_from_row,
        ).await
    }

    /// Takes a delivery for `node` until `until`, as `due_deliveries` read it: false when another node took it
    /// first, or has meanwhile attempted it (its attempts moved on), or it is no longer due at `now`.
    pub async fn claim_delivery(
        &self,
        seen: &DeliveryRecord,
        node: &str,
        now: i64,
        (lease_now, until): (i64, i64),
    ) -> StoreResult<bool> {
        Ok(self
            .execute(
                "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2 \
             WHERE id = $3 AND state = 'pending' AND attempts = $4 AND next_attempt_at <= $5 \
             AND (claimed_until IS NULL OR claimed_until <= $6)",
                params![node, until, seen.id, seen.attempts, now, lease_now],
            )
            .await?
            == 1)
    }

    /// Removes the deliveries that finished (delivered or dropped) before `before`.
    pub async fn prune_deliveries(&self, before: i64) -> StoreResult<()> {
        self.execute(
            "DELETE FROM webhook_deliveries WHERE finished_at < $1 AND state <> 'pending'",
            params![before],
        )
        .await?;
        Ok(())
    }

    /// Records an attempt made by `node` (nothing when it lost its claim to another node meanwhile).
    pub async fn finish_attempt(
        &self,
        id: i64,
        node: &str,
        outcome: &AttemptOutcome,
    ) -> StoreResult<()> {
        self.execute(
            "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, next_attempt_at = $2, \
             last_status = $3, last_error = $4, last_latency_ms = $5, finished_at = $6, \
             claimed_by = NULL, claimed_until = NULL WHERE id = $7 AND claimed_by = $8",
            params![
                outcome.state.as_str(),
                outcome.next_attempt_at,
                outcome.status,
                outcome.error.as_deref(),
                outcome.latency_ms,
                outcome.finished_at,
                id,
                node,
            ],
        ).await?;
        Ok(())
    }

    /// Lets go of every claim (a node starting alone on its database: whoever held them is gone).
    pub async fn release_webhook_claims(&self) -> StoreResult<()> {
        for sql in [
            "UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL",
            "UPDATE webhook_subscriptions SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL",
        ] {
            self.execute(sql, params![]).await?;
        }
        Ok(())
    }

    /// Drops every pending delivery of a subscription (its endpoint failed validation).
    pub async fn drop_pending_deliveries(
        &self,
        subscription_id: &str,
        now: i64,
        why: &str,
    ) -> StoreResult<()> {
        self.execute(
            "UPDATE webhook_deliveries SET state = 'dropped', finished_at = $1, last_error = $2, \
             claimed_by = NULL, claimed_until = NULL WHERE subscription_id = $3 AND state = 'pending'",
            params![now, why, subscription_id],
        ).await?;
        Ok(())
    }
}
