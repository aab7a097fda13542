//! `PUT /users/{userId}/status` — activate, deactivate, clock in/out (seed 001).

use axum::extract::State;
use axum::http::StatusCode;

use super::input::{Fields, PathParams};
use crate::domain::user::StatusAction;
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Principal, scopes::OperationId};
use crate::service::lifecycle;
use crate::store::Store;

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    body: Fields,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserStatus.operation(),
        Some(&user_id),
    )?;
    let action = body
        .str("action")?
        .as_deref()
        .and_then(StatusAction::parse)
        .ok_or_else(|| body.invalid("action"))?;
    let now = state.now();
    let target = user_id.clone();
    let write = move |store: Store, principal: Principal| async move {
        lifecycle::set_status(&store, &principal, &user_id, action, now).await
    };
    // Activating counts the account's Basic users (its cap): that reads the whole account.
    if action == StatusAction::Activate {
        state.write_as(principal, write).await?;
    } else {
        state.write_as_user(principal, &target, write).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
