//! `GET/PATCH /users/{userId}/settings`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::input::{Fields, PathParams, Query};
use crate::domain::error::DomainError;
use crate::domain::user_settings::{self, SettingsOption};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Bearer, Principal, scopes::OperationId};
use crate::service::settings;

fn option(query: &Query) -> Result<SettingsOption, ApiError> {
    SettingsOption::parse(query.get("option"))
        .ok_or_else(|| DomainError::field("option", "Invalid field.").into())
}

pub async fn get(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    // Checked before the gate only in what they decide; the gate still answers first for a bad token.
    let request = (|| {
        let option = option(&query)?;
        // `login_type` selects nothing (a user has one here); the route checks it against S1's list.
        let only = match query.get("custom_query_fields") {
            None => None,
            Some(value) => Some(
                user_settings::query_field_names(value)
                    .ok_or_else(|| DomainError::field("custom_query_fields", "Invalid field."))?,
            ),
        }
        // An empty list names no filter at all.
        .filter(|names| !names.is_empty());
        Ok::<_, ApiError>((option, only))
    })();
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::UserSettings.operation(), Some(&user_id)),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    let (option, only) = request.clone()?;
                    settings::user_settings(store, principal, &user_id, option, only.as_deref())
                        .await
                },
            )
            .await?,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    query: Query,
    body: Fields,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserSettingsUpdate.operation(),
        Some(&user_id),
    )?;
    let option = option(&query)?;
    let body = body.into_value();
    let now = state.now();
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            settings::update_user_settings(store, principal, &user_id, option, &body, now).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
