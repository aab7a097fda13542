//! The control API's webhooks (`/_localzoom/v1/…`): an app's event subscriptions, their delivery logs, and
//! sending an event again.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::control::Admin;
use super::input::{Fields, PathParams, Query};
use crate::domain::error::DomainError;
use crate::domain::webhook::NewSubscription;
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::service::webhooks;

/// `POST /_localzoom/v1/apps/{clientId}/webhooks` `{"url", "secret_token", "events": […]}`: adds a subscription
/// and validates its endpoint at once, as Zoom does when one is saved; 201 with the outcome
/// (`validation: validated|failed`, and why).
pub async fn subscribe(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(client_id): PathParams<String>,
    body: Fields,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let asked: NewSubscription = serde_json::from_value(body.into_value()).map_err(|e| {
        DomainError::Invalid(format!(
            "A subscription is {{\"url\", \"secret_token\", \"events\": [\"user.created\", …]}}: {e}"
        ))
    })?;
    let validated = state.sender.subscribe(client_id, asked).await?;
    let view = state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            webhooks::subscription_view(store, &validated).await
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /_localzoom/v1/apps/{clientId}/webhooks`: the app's subscriptions.
pub async fn of_app(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(client_id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    list(&state, Some(&client_id)).await
}

/// `GET /_localzoom/v1/webhooks`: every subscription.
pub async fn all(State(state): State<AppState>, _admin: Admin) -> Result<Json<Value>, ApiError> {
    list(&state, None).await
}

async fn list(state: &AppState, client_id: Option<&str>) -> Result<Json<Value>, ApiError> {
    let views = state
        .db
        .read(|store| async move {
            if let Some(id) = client_id {
                store
                    .app(id)
                    .await?
                    .ok_or_else(|| DomainError::AppNotFound(id.to_string()))?;
            }
            let mut views = Vec::new();
            for subscription in store.subscriptions(client_id).await? {
                views.push(webhooks::subscription_view(&store, &subscription).await?);
            }
            Ok::<_, ApiError>(views)
        })
        .await?;
    Ok(Json(json!({ "webhooks": views })))
}

/// `GET /_localzoom/v1/webhooks/{id}`.
pub async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let view = state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            let result: Result<_, ApiError> = {
                webhooks::subscription_view(store, &webhooks::subscription(store, &id).await?).await
            };
            result
        })
        .await?;
    Ok(Json(view))
}

/// `DELETE /_localzoom/v1/webhooks/{id}`: the subscription and its deliveries go.
pub async fn unsubscribe(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .write(move |tx| async move {
            let store = &tx;
            webhooks::unsubscribe(store, &id).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /_localzoom/v1/webhooks/{id}/validate`: Zoom's URL validation again, now (a failed endpoint gets
/// events again once it passes).
pub async fn validate(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let subscription = state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            webhooks::subscription(store, &id).await
        })
        .await?;
    let validated = state.sender.validate(&subscription).await?;
    let view = state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            webhooks::subscription_view(store, &validated).await
        })
        .await?;
    Ok(Json(view))
}

/// `GET /_localzoom/v1/webhooks/{id}/deliveries[?limit=N]`: the delivery log, newest first (event, state,
/// attempts, last status, error and latency, next retry, the body sent).
pub async fn deliveries(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(id): PathParams<String>,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    let limit = match query.get("limit") {
        None => 100,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| DomainError::field("limit", "Invalid field."))?,
    };
    let log = state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            webhooks::delivery_log(store, &id, limit).await
        })
        .await?;
    Ok(Json(json!({ "deliveries": log })))
}

/// `POST /_localzoom/v1/webhook_deliveries/{id}/redeliver`: sends a recorded event again (a new delivery, at the
/// end of its subscription's queue); 201 with it.
pub async fn redeliver(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(id): PathParams<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| DomainError::field("deliveryId", "Invalid field."))?;
    let copy = state
        .db
        .write(move |tx| async move {
            let store = &tx;
            webhooks::redeliver(store, id).await
        })
        .await?;
    state.sender.wake.notify_one();
    Ok((StatusCode::CREATED, Json(webhooks::delivery_view(&copy))))
}
