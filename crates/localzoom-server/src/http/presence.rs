//! `/users/{userId}/presence_status`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use localzoom_api::{PresenceStatus, PresenceStatusReply};

use super::input::{Fields, PathParams};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Bearer, Principal, scopes::OperationId};
use crate::service::users;

/// The statuses `PUT` sets, as its body names them: Zoom's spec spells Do-Not-Disturb `Do_No_Disturb` there (and
/// `Do_Not_Disturb` everywhere else); both are taken.
fn settable(name: &str) -> Option<PresenceStatus> {
    match name {
        "Do_No_Disturb" => Some(PresenceStatus::DoNotDisturb),
        "Offline" => None,
        other => PresenceStatus::parse(other),
    }
}

pub async fn get(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<PresenceStatusReply>, ApiError> {
    let user_id = &user_id;
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::UserPresenceStatus.operation(), Some(user_id)),
                |tx, principal, now| async move {
                    let (store, principal) = (&tx, &principal);
                    users::presence(store, principal, user_id, now).await
                },
            )
            .await?,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    body: Fields,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserPresenceStatusUpdate.operation(),
        Some(&user_id),
    )?;
    let status = body
        .str("status")?
        .as_deref()
        .and_then(settable)
        .ok_or_else(|| body.invalid("status"))?;
    let minutes = match body.int("duration")? {
        None => 20,
        Some(minutes) if (1..=1440).contains(&minutes) => minutes,
        Some(_) => return Err(body.invalid("duration")),
    };
    let now = state.now();
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            users::set_presence(store, principal, &user_id, status, minutes, now).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
