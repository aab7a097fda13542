//! `PUT /users/{userId}/password` (seed 002). The checks run before the slow argon2id hash (so a refused
//! password costs nothing) and again inside the write (so concurrent changes cannot pass the limits together).

use axum::extract::State;
use axum::http::StatusCode;

use super::input::{Fields, PathParams};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Principal, scopes::OperationId};
use crate::service::lifecycle;

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    body: Fields,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserPassword.operation(),
        Some(&user_id),
    )?;
    let password = body.required_str("password")?;
    let now = state.now();
    let key = state.history_key.clone();
    state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;

            lifecycle::check_password_change(store, &principal, &user_id, &password, (&key, now))
                .await
        })
        .await?;
    let hash = state.hashing.hash(password.clone()).await?;
    let target = user_id.clone();
    state
        .write_as_user(principal, &target, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            lifecycle::commit_password_change(
                store,
                principal,
                &user_id,
                &password,
                hash,
                (&key, now),
            )
            .await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
