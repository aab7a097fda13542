//! Zoom's webhooks on the store's side: event subscriptions, and the events an operation causes, recorded in the
//! operation's own transaction (a transactional outbox: a committed change always has its events, a rolled-back
//! one never). The sender (`delivery`) sends what is recorded here.

use serde_json::{Map, Value, json};

use crate::clock::rfc3339;

use crate::crypto;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::user::UserRecord;
use crate::domain::webhook::{
    self, DeliveryState, Event, MAX_SUBSCRIPTIONS_PER_APP, NewSubscription, Occurrence, Operator,
    Validation,
};
use crate::error::ApiResult;
use crate::store::{DeliveryRecord, Store, StoreResult, SubscriptionRecord};

/// The subscriptions of an account that take events now, read once per operation: an operation asks whether
/// anyone wants an event before it builds one (most writes have nobody listening, and pay one indexed read).
pub struct Listeners {
    account_id: String,
    subscriptions: Vec<SubscriptionRecord>,
}

impl Listeners {
    /// The listeners of the principal's account: none, without a query, when the token's lookup found the account
    /// without subscriptions (in a write, that lookup ran inside the write's own transaction, after every
    /// subscription committed before it: subscribing is a write of its own, alone).
    pub async fn of_principal(store: &Store, principal: &Principal) -> StoreResult<Listeners> {
        if !principal.account_listened {
            return Ok(Listeners {
                account_id: principal.account_id.clone(),
                subscriptions: Vec::new(),
            });
        }
        Listeners::of(store, &principal.account_id).await
    }

    pub async fn of(store: &Store, account_id: &str) -> StoreResult<Listeners> {
        Ok(Listeners {
            account_id: account_id.to_string(),
            subscriptions: store.listening_subscriptions(account_id).await?,
        })
    }

    pub fn want(&self, event: Event) -> bool {
        self.subscriptions.iter().any(|s| s.events.contains(&event))
    }

    /// Records the event the principal's operation caused, for every subscription that wants it; `build` runs
    /// only when one does, and may find nothing to tell (an update that changed nothing).
    pub async fn emit(
        &self,
        store: &Store,
        principal: &Principal,
        now: i64,
        event: Event,
        build: impl FnOnce(&Operator) -> Option<Occurrence>,
    ) -> ApiResult<()> {
        if !self.want(event) {
            return Ok(());
        }
        let operator = operator(store, principal).await?;
        match build(&operator) {
            Some(occurrence) => Ok(self.record(store, &occurrence, now).await?),
            None => Ok(()),
        }
    }

    /// Records an event nobody's API call caused (a client's sign-in), for every subscription that wants it.
    pub async fn record(
        &self,
        store: &Store,
        occurrence: &Occurrence,
        now: i64,
    ) -> StoreResult<()> {
        // Collected rather than a lazy filter: a closure's borrow held across the awaits below would make the
        // future's `Send` depend on lifetimes rustc cannot prove general.
        let wanting: Vec<&SubscriptionRecord> = self
            .subscriptions
            .iter()
            .filter(|s| s.events.contains(&occurrence.event))
            .collect();
        if wanting.is_empty() {
            return Ok(());
        }
        // Compact JSON, as JavaScript's `JSON.stringify` writes it back: receivers that verify the signature
        // over a re-serialised body (Zoom's Rivet samples do) compute the same bytes.
        let body = occurrence.envelope(&self.account_id, now).to_string();
        for subscription in wanting {
            store
                .insert_delivery(subscription, occurrence.event, now, &body)
                .await?;
        }
        Ok(())
    }
}

/// `user.updated` around a change of a user: the user's fields before it, kept only when somebody wants the
/// event, compared with the fields after it.
pub struct ProfileChange {
    listeners: Listeners,
    before: Option<Map<String, Value>>,
}

impl ProfileChange {
    pub async fn start(
        store: &Store,
        principal: &Principal,
        user: &UserRecord,
    ) -> StoreResult<ProfileChange> {
        let listeners = Listeners::of_principal(store, principal).await?;
        let before = listeners
            .want(Event::UserUpdated)
            .then(|| webhook::profile(user, None));
        Ok(ProfileChange { listeners, before })
    }

    /// Records `user.updated` with the fields that changed, and `operation` when Zoom names one.
    pub async fn finish(
        self,
        store: &Store,
        principal: &Principal,
        user: &UserRecord,
        operation: Option<&str>,
        now: i64,
    ) -> ApiResult<()> {
        let Some(before) = self.before else {
            return Ok(());
        };
        let after = webhook::profile(user, None);
        self.listeners
            .emit(store, principal, now, Event::UserUpdated, |operator| {
                webhook::updated(&user.id, (&before, &after), operator, operation, now)
            })
            .await
    }
}

/// Zoom's `operator` for a change the principal made: the token's user (for a Server-to-Server app, the app's
/// owner), by e-mail and id.
async fn operator(store: &Store, principal: &Principal) -> ApiResult<Operator> {
    let email = store
        .user_by_id(&principal.account_id, &principal.user_id)
        .await?
        .map(|user| user.email)
        .unwrap_or_default();
    Ok(Operator {
        email,
        id: principal.user_id.clone(),
    })
}

/// Adds a subscription to an app (control API, CLI, fixtures): checked, pending validation.
pub async fn subscribe(
    store: &Store,
    client_id: &str,
    asked: &NewSubscription,
    now: i64,
) -> ApiResult<SubscriptionRecord> {
    let events = asked.check()?;
    let app = store
        .app(client_id)
        .await?
        .ok_or_else(|| DomainError::AppNotFound(client_id.to_string()))?;
    if store.subscriptions(Some(client_id)).await?.len() >= MAX_SUBSCRIPTIONS_PER_APP {
        return Err(DomainError::TooManySubscriptions(MAX_SUBSCRIPTIONS_PER_APP).into());
    }
    let subscription = SubscriptionRecord {
        id: crypto::new_id(),
        account_id: app.account_id,
        client_id: app.client_id,
        url: asked.url.trim().to_string(),
        secret_token: asked.secret_token.clone(),
        events,
        validation: Validation::Pending,
        validated_at: None,
        validation_detail: None,
        created_at: now,
    };
    store.insert_subscription(&subscription).await?;
    Ok(subscription)
}

pub async fn subscription(store: &Store, id: &str) -> ApiResult<SubscriptionRecord> {
    Ok(store
        .subscription(id)
        .await?
        .ok_or_else(|| DomainError::SubscriptionNotFound(id.to_string()))?)
}

pub async fn unsubscribe(store: &Store, id: &str) -> ApiResult<()> {
    if store.delete_subscription(id).await? {
        Ok(())
    } else {
        Err(DomainError::SubscriptionNotFound(id.to_string()).into())
    }
}

/// Records what the endpoint answered to the URL validation. A failed endpoint gets nothing: what was kept for
/// it is dropped, and no event is recorded for it until it is validated again.
pub async fn record_validation(
    store: &Store,
    id: &str,
    outcome: Result<(), String>,
    now: i64,
) -> ApiResult<SubscriptionRecord> {
    subscription(store, id).await?;
    match &outcome {
        Ok(()) => {
            store
                .set_validation(id, Validation::Validated, Some(now), None)
                .await?
        }
        Err(why) => {
            store
                .set_validation(id, Validation::Failed, None, Some(why))
                .await?;
            store
                .drop_pending_deliveries(id, now, &format!("endpoint failed URL validation: {why}"))
                .await?;
        }
    }
    subscription(store, id).await
}

/// Sends one recorded event again: a copy at the end of its subscription's queue (due at once: its time is the
/// event's, which has passed).
pub async fn redeliver(store: &Store, delivery_id: i64) -> ApiResult<DeliveryRecord> {
    let original = store
        .delivery(delivery_id)
        .await?
        .ok_or(DomainError::DeliveryNotFound(delivery_id))?;
    let subscription = subscription(store, &original.subscription_id).await?;
    store
        .insert_delivery(
            &subscription,
            original.event,
            original.event_ts,
            &original.body,
        )
        .await?;
    let copy = store
        .deliveries(&subscription.id, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(DomainError::DeliveryNotFound(delivery_id))?;
    Ok(copy)
}

/// A subscription as the control API and the CLI show it (never its secret token), with its deliveries counted.
pub async fn subscription_view(
    store: &Store,
    subscription: &SubscriptionRecord,
) -> ApiResult<Value> {
    let counts = store.delivery_counts(&subscription.id).await?;
    Ok(json!({
        "id": subscription.id,
        "account_id": subscription.account_id,
        "client_id": subscription.client_id,
        "url": subscription.url,
        "events": subscription.events,
        "validation": subscription.validation,
        "validated_at": subscription.validated_at.map(rfc3339),
        "validation_detail": subscription.validation_detail,
        "created_at": rfc3339(subscription.created_at),
        "deliveries": {
            "pending": counts.pending,
            "delivered": counts.delivered,
            "dropped": counts.dropped,
        },
    }))
}

/// One entry of a subscription's delivery log.
pub fn delivery_view(delivery: &DeliveryRecord) -> Value {
    let pending = delivery.state == DeliveryState::Pending;
    json!({
        "id": delivery.id,
        "event": delivery.event,
        "event_ts": delivery.event_ts,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "latency_ms": delivery.last_latency_ms,
        "next_attempt_at": pending.then(|| rfc3339(delivery.next_attempt_at)),
        "finished_at": delivery.finished_at.map(rfc3339),
        "body": serde_json::from_str::<Value>(&delivery.body).unwrap_or(Value::Null),
    })
}

/// The most entries one read of a delivery log answers.
pub const MAX_LOG_ENTRIES: u32 = 1000;

/// A subscription's delivery log, newest first.
pub async fn delivery_log(store: &Store, id: &str, limit: u32) -> ApiResult<Vec<Value>> {
    subscription(store, id).await?;
    Ok(store
        .deliveries(id, limit.min(MAX_LOG_ENTRIES))
        .await?
        .iter()
        .map(delivery_view)
        .collect())
}
