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
use crate::store::{Store, TokenKind, TokenStanding};

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
        Ok(Bearer::of_token(token))
    }
}

impl Bearer {
    /// The bearer of an access token as issued (what follows `Bearer ` in the header).
    pub fn of_token(token: &str) -> Bearer {
        Bearer(crypto::sha256(token.as_bytes()))
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
        || record.kind != TokenKind::Access
    {
        return Err(ApiError::InvalidToken);
    }
    alive(record.revoked, record.expires_at, now)?;
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

/// `authenticate` again, inside the write the gate let `principal` in for: what can have changed since (the token
/// revoked or expired, its app deactivated, its user's role, the account's webhook subscriptions) is read in the
/// write's own transaction. (Its kind cannot: the gate let only an access token in.)
pub async fn reauthenticate(
    store: &Store,
    principal: Principal,
    now: i64,
) -> Result<Principal, ApiError> {
    let TokenStanding {
        revoked,
        expires_at,
        role,
        account_listened,
    } = store
        .token_standing(&principal.token_sha256)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    alive(revoked, expires_at, now)?;
    Ok(Principal {
        role: role.ok_or(ApiError::InvalidToken)?,
        account_listened,
        ..principal
    })
}

/// A token neither revoked (nor its app deactivated) nor expired at `now`.
fn alive(revoked: bool, expires_at: i64, now: i64) -> Result<(), ApiError> {
    if revoked {
        return Err(ApiError::InvalidToken);
    }
    if expires_at <= now {
        return Err(ApiError::ExpiredToken);
    }
    Ok(())
}
