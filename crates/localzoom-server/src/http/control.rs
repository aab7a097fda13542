//! localzoom's own control API (`/_localzoom/v1/…`), never under `/v2`: what a test needs to arrange that Zoom's
//! API cannot, such as a user signing in from a client. Off unless the server has an admin key.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::{Value, json};

use super::input::{Fields, PathParams};
use crate::clock::rfc3339;
use crate::crypto;
use crate::domain::error::DomainError;
use crate::domain::user::{LoginType, Status};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::store::SessionRecord;

/// A request carrying the server's admin key as its bearer token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(key) = &state.admin_key else {
            return Err(ApiError::ControlApiOff);
        };
        // Only `Bearer KEY`: a bare value, another scheme or an empty key never matches.
        let given = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .filter(|key| !key.is_empty())
            .ok_or(ApiError::InvalidToken)?;
        // Digests of equal length, compared in constant time: neither the key's length nor its prefix leaks.
        let matches = crypto::constant_time_eq(
            &crypto::sha256(given.as_bytes()),
            &crypto::sha256(key.as_bytes()),
        );
        if matches {
            Ok(Admin)
        } else {
            Err(ApiError::InvalidToken)
        }
    }
}

fn session_json(s: &SessionRecord) -> Value {
    json!({
        "id": s.id,
        "user_id": s.user_id,
        "login_type": s.login_type.code(),
        "created_at": rfc3339(s.created_at),
        "ended_at": s.ended_at.map(rfc3339),
    })
}

/// `POST /_localzoom/v1/users/{userId}/sessions` `{"login_type": 101}`: the user signs in from a client.
pub async fn sign_in(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(user_ref): PathParams<String>,
    body: Fields,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let login_type = body
        .int("login_type")?
        .and_then(LoginType::from_code)
        .ok_or_else(|| body.invalid("login_type"))?;
    let now = state.now();
    let session = state
        .db
        .write(move |store| -> Result<_, ApiError> {
            let user = store
                .find_user(&user_ref)?
                .ok_or(DomainError::UserNotFound(user_ref))?;
            if user.status != Status::Active {
                return Err(DomainError::Invalid(format!(
                    "User {} is {} and cannot sign in.",
                    user.email,
                    user.status.as_str()
                ))
                .into());
            }
            let session = SessionRecord {
                id: crypto::new_id(),
                user_id: user.id,
                login_type,
                created_at: now,
                ended_at: None,
            };
            store.insert_session(&session)?;
            Ok(session)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(session_json(&session))))
}

/// `GET /_localzoom/v1/users/{userId}/sessions`: every sign-in, ended ones with `ended_at`.
pub async fn sessions(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(user_ref): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let sessions = state.db.read(|store| -> Result<_, ApiError> {
        let user = store
            .find_user(&user_ref)?
            .ok_or_else(|| DomainError::UserNotFound(user_ref.clone()))?;
        Ok(store.sessions(&user.id)?)
    })?;
    Ok(Json(
        json!({ "sessions": sessions.iter().map(session_json).collect::<Vec<_>>() }),
    ))
}
