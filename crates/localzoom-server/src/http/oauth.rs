//! `POST /oauth/token` (zoom.us): the Server-to-Server `account_credentials` grant.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use localzoom_api::TokenResponse;

use super::input::{Fields, Query};
use crate::error::{ApiError, OAuthFailure};
use crate::server::AppState;
use crate::service::accounts;

/// `grant_type` and `account_id` may come as query parameters or in a urlencoded body.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query, ApiError>,
    body: Result<Fields, ApiError>,
) -> Result<Json<TokenResponse>, OAuthFailure> {
    let query = query.map_err(|_| OAuthFailure::InvalidRequest)?;
    let body = body.unwrap_or_default();
    let param = |name: &str| {
        query
            .get(name)
            .map(str::to_string)
            .or_else(|| body.str(name).ok().flatten())
            .filter(|v| !v.is_empty())
    };
    let (client_id, secret) = basic_credentials(&headers).ok_or(OAuthFailure::InvalidClient)?;
    let grant_type = param("grant_type").ok_or(OAuthFailure::MissingGrantType)?;
    if grant_type != "account_credentials" {
        return Err(OAuthFailure::UnsupportedGrantType);
    }
    let account_id = param("account_id").ok_or(OAuthFailure::MissingAccountId)?;
    let now = state.now();
    state
        .db
        .write(move |store| {
            Ok(accounts::account_credentials_grant(
                store,
                &client_id,
                &secret,
                &account_id,
                now,
            ))
        })
        .await
        .map_err(OAuthFailure::from)?
        .map(Json)
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}
