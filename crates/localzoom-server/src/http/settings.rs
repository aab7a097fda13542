//! `GET/PATCH /accounts/{accountId}/settings?option=security` — the account's password requirements.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::input::{Fields, PathParams, Query};
use crate::domain::error::DomainError;
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Bearer, Principal, scopes::OperationId};
use crate::service::users;

/// localzoom keeps the `security` option only; other options are refused rather than answered with made-up data.
fn require_security_option(query: &Query) -> Result<(), ApiError> {
    match query.get("option") {
        Some("security") => Ok(()),
        _ => Err(DomainError::field("option", "Invalid field.").into()),
    }
}

pub async fn get(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(account_id): PathParams<String>,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    let option = require_security_option(&query);
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::AccountSettings.operation(), None),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    option.clone()?;
                    users::security_settings(store, principal, &account_id).await
                },
            )
            .await?,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(account_id): PathParams<String>,
    query: Query,
    body: Fields,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::AccountSettingsUpdate.operation(),
        None,
    )?;
    require_security_option(&query)?;
    let security = body
        .get("security")
        .cloned()
        .ok_or_else(|| body.invalid("security"))?;
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            users::update_security_settings(store, principal, &account_id, &security).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
