//! localzoom's own control API (`/_localzoom/v1/…`), never under `/v2`: what a test needs to arrange that Zoom's
//! API cannot, such as a user signing in from a client. Off unless the server has an admin key.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use localzoom_api::control::Email;
use serde_json::{Value, json};

use super::input::{Fields, PathParams, Query};
use crate::clock::{ClockRefusal, rfc3339};
use crate::crypto;
use crate::domain::error::DomainError;
use crate::domain::fixture::{FixtureFormat, MAX_FIXTURE_BYTES};
use crate::domain::user::{LoginType, Status};
use crate::domain::webhook::{self, ClientSession};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::service::lifecycle;
use crate::service::reset::ResetScope;
use crate::service::webhooks::Listeners;
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
        if crypto::secrets_match(given, key) {
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

/// `POST /_localzoom/v1/users/{userId}/sessions` `{"login_type": 101, "client_type": "mac", "version": "6.2.0"}`:
/// the user signs in from a client (`user.signed_in`; `client_type` and `version` only shape the event).
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
    let client = client_session(&body, login_type, now)?;
    let session = state
        .db
        .write(move |tx| async move {
            let store = &tx;
            let result: Result<_, ApiError> = {
                let user = store
                    .find_user(&user_ref)
                    .await?
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
                    user_id: user.id.clone(),
                    login_type,
                    created_at: now,
                    ended_at: None,
                };
                store.insert_session(&session).await?;
                let signed_in = webhook::session(&user, &client, true);
                Listeners::of(store, &user.account_id)
                    .await?
                    .record(store, &signed_in, now)
                    .await?;
                Ok(session)
            };
            result
        })
        .await?;
    Ok((StatusCode::CREATED, Json(session_json(&session))))
}

/// `DELETE /_localzoom/v1/users/{userId}/sessions/{sessionId}[?client_type=mac&version=6.2.0]`: the user signs out
/// of that client (its tokens stop working; `user.signed_out`).
pub async fn sign_out(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams((user_ref, session_id)): PathParams<(String, String)>,
    query: Query,
) -> Result<StatusCode, ApiError> {
    let now = state.now();
    let client = (
        query.get("client_type").map(str::to_string),
        query.get("version").map(str::to_string),
    );
    state
        .db
        .write(move |tx| async move {
            let store = &tx;
            lifecycle::end_session(store, &user_ref, &session_id, client, now).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The client a sign-in comes from, as `user.signed_in` shows it.
fn client_session(
    body: &Fields,
    login_type: LoginType,
    now: i64,
) -> Result<ClientSession, ApiError> {
    Ok(ClientSession {
        client_type: webhook::client_type(body.str("client_type")?.as_deref())?,
        version: webhook::client_version(body.str("version")?)?,
        login_type,
        date_time: rfc3339(now),
    })
}

/// `GET /_localzoom/v1/users/{userId}/sessions`: every sign-in, ended ones with `ended_at`.
pub async fn sessions(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(user_ref): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let sessions = state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            let result: Result<_, ApiError> = {
                let user = store
                    .find_user(&user_ref)
                    .await?
                    .ok_or_else(|| DomainError::UserNotFound(user_ref.clone()))?;
                Ok(store.sessions(&user.id).await?)
            };
            result
        })
        .await?;
    Ok(Json(
        json!({ "sessions": sessions.iter().map(session_json).collect::<Vec<_>>() }),
    ))
}

/// The most a single `POST /_localzoom/v1/clock` may move time: ten years.
pub const MAX_ADVANCE_SECONDS: i64 = 10 * 366 * 24 * 3600;

/// `GET /_localzoom/v1/clock`: `{"now": RFC 3339}`, the time every rule of the server follows.
pub async fn clock(State(state): State<AppState>, _admin: Admin) -> Json<Value> {
    Json(json!({ "now": rfc3339(state.now()) }))
}

/// `POST /_localzoom/v1/clock` `{"advance_seconds": N}` or `{"now": RFC 3339}`: moves time forward for every
/// time-based rule (token and code expiry, the 24-hour windows, daily quotas, page tokens, sessions). Back is
/// refused: what a later time already decided would be decided again.
pub async fn set_clock(
    State(state): State<AppState>,
    _admin: Admin,
    body: Fields,
) -> Result<Json<Value>, ApiError> {
    let now = state.now();
    let target = match (body.int("advance_seconds")?, body.str("now")?) {
        (Some(seconds), None) if (0..=MAX_ADVANCE_SECONDS).contains(&seconds) => {
            now + seconds * 1000
        }
        (Some(_), None) => return Err(body.invalid("advance_seconds")),
        (None, Some(text)) => {
            crate::clock::parse_rfc3339(&text).ok_or_else(|| body.invalid("now"))?
        }
        _ => {
            return Err(DomainError::Invalid(
                "Give one of \"advance_seconds\" (seconds forward) or \"now\" (an RFC 3339 time)."
                    .into(),
            )
            .into());
        }
    };
    move_clock(&state, target)?;
    Ok(Json(json!({ "now": rfc3339(state.now()) })))
}

/// Moves the server's clock to `target` (forward only), and sends at once the webhook retries and re-validations
/// that fell due.
pub fn move_clock(state: &AppState, target: i64) -> Result<(), ApiError> {
    state.clock.move_to(target).map_err(|refusal| {
        let message = match refusal {
            ClockRefusal::Backwards => format!(
                "The clock moves forward only: it is {} and cannot be set to {}.",
                rfc3339(state.now()),
                rfc3339(target)
            ),
            ClockRefusal::Fixed => {
                "This server's clock follows the system's and cannot be moved.".into()
            }
        };
        ApiError::from(DomainError::Invalid(message))
    })?;
    state.sender.wake.notify_one();
    Ok(())
}

/// The user named by the control API's `user` filter (id or e-mail, any account), if one is given.
async fn user_filter(
    store: &crate::store::Store,
    query: &Query,
) -> Result<Option<String>, ApiError> {
    let Some(user_ref) = query.get("user") else {
        return Ok(None);
    };
    let user = store
        .find_user(user_ref)
        .await?
        .ok_or_else(|| DomainError::UserNotFound(user_ref.to_string()))?;
    Ok(Some(user.id))
}

/// `GET /_localzoom/v1/outbox[?user=ID|EMAIL]`: the e-mails localzoom "sent" (it sends none), oldest first.
pub async fn outbox(
    State(state): State<AppState>,
    _admin: Admin,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    let emails = state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            let result: Result<_, ApiError> = {
                let user_id = user_filter(store, &query).await?;
                Ok(store.outbox(user_id.as_deref()).await?)
            };
            result
        })
        .await?;
    let messages: Vec<Email> = emails
        .into_iter()
        .map(|e| Email {
            sent_at: rfc3339(e.created_at),
            to: e.to_address,
            subject: e.subject,
            body: e.body,
            user_id: e.user_id,
        })
        .collect();
    Ok(Json(json!({ "messages": messages })))
}

/// `DELETE /_localzoom/v1/outbox[?user=ID|EMAIL]`: forgets the e-mails sent (to that user).
pub async fn clear_outbox(
    State(state): State<AppState>,
    _admin: Admin,
    query: Query,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .write(move |tx| async move {
            let store = &tx;
            let result: Result<_, ApiError> = {
                let user_id = user_filter(store, &query).await?;
                Ok(store.clear_outbox(user_id.as_deref()).await?)
            };
            result
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /_localzoom/v1/reset` (body optional: `{"account_id": "…"}`): everything back to the bootstrap account
/// and app as configured, or one account emptied back to its owner (`service::reset`); 204.
pub async fn reset(
    State(state): State<AppState>,
    _admin: Admin,
    body: Fields,
) -> Result<StatusCode, ApiError> {
    let scope = match body.str("account_id")? {
        Some(id) if id.trim().is_empty() => return Err(body.invalid("account_id")),
        Some(id) => ResetScope::Account(id),
        None => ResetScope::Everything,
    };
    state.reset(scope).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /_localzoom/v1/fixtures`: a fixture document (`docs/fixtures.md`), JSON, or YAML with
/// `Content-Type: application/yaml`; 204 once loaded, or 400 naming the field, with nothing changed.
pub async fn load_fixtures(
    State(state): State<AppState>,
    _admin: Admin,
    request: axum::extract::Request,
) -> Result<StatusCode, ApiError> {
    let (parts, body) = request.into_parts();
    let media_type = super::input::media_type(parts.headers.get(axum::http::header::CONTENT_TYPE));
    // application/yaml, application/x-yaml, text/yaml
    let format = if media_type.ends_with("yaml") {
        FixtureFormat::Yaml
    } else {
        FixtureFormat::Json
    };
    let bytes =
        super::input::read_body(&parts, body, MAX_FIXTURE_BYTES, ApiError::PayloadTooLarge).await?;
    let fixture = crate::domain::fixture::parse(&bytes, format)?;
    state.load_fixture(fixture).await?;
    Ok(StatusCode::NO_CONTENT)
}
