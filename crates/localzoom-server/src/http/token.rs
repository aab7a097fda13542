//! `/users/{userId}/token`: revoke a user's SSO token (seed 000), get a user's token; `GET /users/me/zak`.

use axum::extract::State;
use axum::http::StatusCode;

use axum::Json;
use localzoom_api::{UserToken, UserTokenType};

use super::input::{PathParams, Query};
use crate::domain::error::DomainError;
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Bearer, Principal, scopes::OperationId};
use crate::service::{lifecycle, users};

/// The longest `ttl` Zoom takes for a ZAK or on-behalf token: one year, in seconds.
const MAX_TTL_SECONDS: i64 = 365 * 24 * 3600;

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
    let target = user_id.clone();
    state
        .write_as_user(principal, &target, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            lifecycle::revoke_sso_token(store, principal, &user_id, now).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users/{userId}/token?type=zak|onbehalf|token&ttl=…&meeting_id=…`.
pub async fn get(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
    query: Query,
) -> Result<Json<UserToken>, ApiError> {
    let kind = match query.get("type") {
        None | Some("") => UserTokenType::Token,
        Some(text) => UserTokenType::parse(text)
            .ok_or_else(|| DomainError::field("type", "Invalid field."))?,
    };
    if let Some(ttl) = query.get("ttl") {
        let valid = ttl
            .parse::<i64>()
            .is_ok_and(|seconds| (1..=MAX_TTL_SECONDS).contains(&seconds));
        if !valid {
            return Err(DomainError::field("ttl", "Invalid field.").into());
        }
    }
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::UserToken.operation(), Some(&user_id)),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    users::token(store, principal, &user_id, kind).await
                },
            )
            .await?,
    ))
}

/// `GET /users/me/zak`: a ZAK of the token's own user.
pub async fn zak(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Json<UserToken>, ApiError> {
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::UserZak.operation(), Some("me")),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    users::token(store, principal, "me", UserTokenType::Zak).await
                },
            )
            .await?,
    ))
}
