//! What every `/v2` request passes before its handler: the bearer token becomes a `Principal`.
//!
//! Reads authenticate inside the same read transaction as the operation (`AppState::read_as` in `http/`): one
//! snapshot, one round of locking. Writes authenticate before their body is parsed (the `Principal` extractor),
//! so a bad token is reported before a bad body, as Zoom does.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::crypto;
use crate::error::ApiError;
use crate::store::{Store, TokenKind};

pub mod console;
pub mod failures;
pub mod faults;
pub mod journal;
pub mod limiter;
pub mod metrics;
pub mod rate_limit;
pub mod scopes;
pub mod shared_limit;
pub mod state;

pub use crate::domain::principal::Principal;

/// A well-formed `Authorization: Bearer …` header, not yet checked against the store: only its SHA-256 is kept.
#[derive(Debug, Clone)]
pub struct Bearer([u8; 32]);

impl Bearer {
    /// The bearer a principal came from, to check it again inside a write.
    pub fn of(principal: &Principal) -> Bearer {
        Bearer(principal.token_sha256)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
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
        Ok(Bearer(crypto::sha256(token.as_bytes())))
    }
}

pub async fn authenticate(store: &Store, bearer: &Bearer, now: i64) -> Result<Principal, ApiError> {
    let record = store
        .token(&bearer.0)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    // The lookup matched on the digest; compare again in constant time so the check does not hinge on the
    // index's comparison.
    if !crypto::constant_time_eq(&record.token_sha256, &bearer.0)
        || record.revoked
        || record.kind != TokenKind::Access
    {
        return Err(ApiError::InvalidToken);
    }
    if record.expires_at <= now {
        return Err(ApiError::ExpiredToken);
    }
    Ok(Principal {
        account_id: record.account_id,
        user_id: record.user_id,
        client_id: record.client_id,
        scopes: record.scopes,
        token_sha256: bearer.0,
        role: record.role.ok_or(ApiError::InvalidToken)?,
        limits: record.limits.ok_or(ApiError::InvalidToken)?,
        account_listened: record.account_listened,
        account_number: record.account_number,
    })
}
