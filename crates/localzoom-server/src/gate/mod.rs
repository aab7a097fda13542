//! What every `/v2` request passes before its handler: the bearer token becomes a `Principal`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::crypto;
use crate::error::ApiError;
use crate::server::AppState;

/// Who is calling: the account, the user the token acts for (`me`), the app and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::InvalidToken)?;
        let (scheme, token) = header
            .trim()
            .split_once(' ')
            .ok_or(ApiError::InvalidToken)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(ApiError::InvalidToken);
        }
        authenticate(state, token)
    }
}

pub fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let digest = crypto::sha256(token.as_bytes());
    let record = state
        .db
        .read(|store| store.token(&digest))?
        .ok_or(ApiError::InvalidToken)?;
    // The lookup matched on the digest; compare again in constant time so the check does not hinge on the
    // index's comparison.
    if !crypto::constant_time_eq(&record.token_sha256, &digest) || record.revoked {
        return Err(ApiError::InvalidToken);
    }
    if record.expires_at <= state.clock.now_ms() {
        return Err(ApiError::ExpiredToken);
    }
    Ok(Principal {
        account_id: record.account_id,
        user_id: record.user_id,
        client_id: record.client_id,
        scopes: record.scopes,
    })
}
