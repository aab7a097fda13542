//! `DELETE /users/{userId}/token` — revoke a user's SSO token (seed 000).

use axum::extract::State;
use axum::http::StatusCode;

use super::input::PathParams;
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Principal, scopes::OperationId};
use crate::service::lifecycle;

pub async fn revoke_sso(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserSsoTokenDelete.operation(),
        Some(&user_id),
    )?;
    let now = state.now();
    state
        .write_as(principal, move |store, principal| {
            lifecycle::revoke_sso_token(store, principal, &user_id, now)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
