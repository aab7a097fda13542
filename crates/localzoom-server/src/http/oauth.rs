//! The OAuth endpoints of zoom.us: `POST /oauth/token` (account credentials, authorization code, refresh token),
//! `GET`/`POST /oauth/authorize` (a small sign-in page for the user-level flow) and `POST /oauth/revoke`.

use std::future::Future;

use axum::Json;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use localzoom_api::TokenResponse;

use super::html::{escape, url_encode};
use super::input::{Fields, Query};
use crate::error::{ApiError, OAuthFailure};
use crate::gate::state::AppState;
use crate::service::accounts;
use crate::service::oauth::{self, AuthorizeRequest};
use crate::store::Store;

/// Parameters may come as query parameters or in a urlencoded body, as Zoom accepts them.
struct Params {
    query: Query,
    body: Fields,
}

impl Params {
    fn new(
        query: Result<Query, ApiError>,
        body: Result<Fields, ApiError>,
    ) -> Result<Params, OAuthFailure> {
        // A body that cannot be read is refused for what it is, never taken for an empty one.
        Ok(Params {
            query: query.map_err(OAuthFailure::Unreadable)?,
            body: body.map_err(OAuthFailure::Unreadable)?,
        })
    }

    fn get(&self, name: &str) -> Option<String> {
        self.query
            .get(name)
            .map(str::to_string)
            .or_else(|| self.body.str(name).ok().flatten())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Result<String, OAuthFailure> {
        self.get(name).ok_or(OAuthFailure::InvalidRequest)
    }
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query, ApiError>,
    body: Result<Fields, ApiError>,
) -> Result<Json<TokenResponse>, OAuthFailure> {
    let params = Params::new(query, body)?;
    let (client_id, secret) = basic_credentials(&headers).ok_or(OAuthFailure::InvalidClient)?;
    let grant_type = params
        .get("grant_type")
        .ok_or(OAuthFailure::MissingGrantType)?;
    let now = state.now();
    let guarded = client_id.clone();
    refuse_if_blocked(&state, &guarded, now)?;
    let response = match grant_type.as_str() {
        "account_credentials" => {
            let account_id = params
                .get("account_id")
                .ok_or(OAuthFailure::MissingAccountId)?;
            grant(&state, move |tx| async move {
                let store = &tx;
                accounts::account_credentials_grant(store, &client_id, &secret, &account_id, now)
                    .await
            })
            .await
        }
        "authorization_code" => {
            let code = params.require("code")?;
            let (redirect_uri, verifier) =
                (params.get("redirect_uri"), params.get("code_verifier"));
            grant(&state, move |tx| async move {
                let store = &tx;
                oauth::exchange_code(
                    store,
                    (&client_id, &secret),
                    &code,
                    redirect_uri.as_deref(),
                    verifier.as_deref(),
                    now,
                )
                .await
            })
            .await
        }
        "refresh_token" => {
            let refresh_token = params.require("refresh_token")?;
            grant(&state, move |tx| async move {
                let store = &tx;
                oauth::refresh(store, (&client_id, &secret), &refresh_token, now).await
            })
            .await
        }
        _ => Err(OAuthFailure::UnsupportedGrantType),
    };
    count_failure(&state, &guarded, now, &response);
    response.map(Json)
}

/// Runs an OAuth grant as one write. A refusal is the grant's answer, and what the grant wrote before refusing
/// stands (a replayed code revokes its session, then refuses); a failure of the database is a failed write, rolled
/// back whole and seen by the health check, answered `temporarily_unavailable`.
async fn grant<R: Send + 'static, Fut>(
    state: &AppState,
    f: impl FnOnce(Store) -> Fut + Send + 'static,
) -> Result<R, OAuthFailure>
where
    Fut: Future<Output = Result<R, OAuthFailure>> + Send + 'static,
{
    state
        .db
        .write(move |store| async move {
            match f(store).await {
                Err(OAuthFailure::Unavailable) => {
                    Err(ApiError::storage("storage failed in an OAuth grant"))
                }
                Err(OAuthFailure::Internal) => Err(ApiError::internal("an OAuth grant failed")),
                answer => Ok(answer),
            }
        })
        .await?
}

fn refuse_if_blocked(state: &AppState, client_id: &str, now: i64) -> Result<(), OAuthFailure> {
    match state.client_failures.blocked_for(client_id, now) {
        Some(ms) => Err(OAuthFailure::TooManyFailures((ms as u64).div_ceil(1000))),
        None => Ok(()),
    }
}

fn count_failure<T>(
    state: &AppState,
    client_id: &str,
    now: i64,
    outcome: &Result<T, OAuthFailure>,
) {
    if matches!(outcome, Err(OAuthFailure::InvalidClient)) {
        state.client_failures.record_failure(client_id, now);
        state
            .metrics
            .auth_failure(crate::gate::metrics::AuthFailure::ClientCredentials);
    }
}

/// `POST /oauth/revoke` with `token=…` and the app's client credentials.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query, ApiError>,
    body: Result<Fields, ApiError>,
) -> Result<Json<serde_json::Value>, OAuthFailure> {
    let params = Params::new(query, body)?;
    let (client_id, secret) = basic_credentials(&headers).ok_or(OAuthFailure::InvalidClient)?;
    let token = params.require("token")?;
    let now = state.now();
    let guarded = client_id.clone();
    refuse_if_blocked(&state, &guarded, now)?;
    let outcome = grant(&state, move |tx| async move {
        let store = &tx;
        oauth::revoke(store, (&client_id, &secret), &token, now).await
    })
    .await;
    count_failure(&state, &guarded, now, &outcome);
    outcome?;
    Ok(Json(serde_json::json!({ "status": "success" })))
}

fn authorize_request(params: &Params) -> AuthorizeRequest {
    AuthorizeRequest {
        response_type: params.get("response_type").unwrap_or_default(),
        client_id: params.get("client_id").unwrap_or_default(),
        redirect_uri: params.get("redirect_uri"),
        state: params.get("state"),
        code_challenge: params.get("code_challenge"),
        code_challenge_method: params.get("code_challenge_method"),
    }
}

/// `GET /oauth/authorize`: the sign-in page where a person names the user to authorize as.
pub async fn authorize_page(
    State(state): State<AppState>,
    query: Result<Query, ApiError>,
) -> Response {
    let Ok(params) = Params::new(query, Ok(Fields::default())) else {
        return error_page("Invalid request.");
    };
    let request = authorize_request(&params);
    match state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            oauth::check_authorize(store, &request).await
        })
        .await
    {
        Ok(Ok((app, _))) => sign_in_page(&request, &app.client_id, None),
        Ok(Err(refusal)) => error_page(refusal.message()),
        Err(e) => e.into_response(),
    }
}

/// `POST /oauth/authorize`: the sign-in form. Checks the user (and their password, if they have one), then
/// redirects the browser to the app with a code.
pub async fn authorize_submit(
    State(state): State<AppState>,
    body: Result<Fields, ApiError>,
) -> Response {
    let Ok(params) = Params::new(Ok(Query::default()), body) else {
        return error_page("Invalid request.");
    };
    let request = authorize_request(&params);
    let (app, redirect) = match state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            oauth::check_authorize(store, &request).await
        })
        .await
    {
        Ok(Ok(checked)) => checked,
        Ok(Err(refusal)) => return error_page(refusal.message()),
        Err(e) => return e.into_response(),
    };
    let email = params.get("email").unwrap_or_default();
    // Wrong guesses are throttled per user and per app, so a password cannot be guessed at request speed.
    let now = state.now();
    let throttles = [
        // The user as the lookup finds them: in this app's account, the e-mail trimmed and in any case.
        (
            &state.sign_in_failures_per_user,
            format!("{}/{}", app.account_id, email.trim().to_lowercase()),
        ),
        (&state.sign_in_failures_per_app, app.client_id.clone()),
    ];
    if let Some(wait_ms) = throttles
        .iter()
        .filter_map(|(windows, key)| windows.blocked_for(key, now))
        .max()
    {
        return too_many_sign_ins(wait_ms);
    }
    let user = match state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            oauth::authorizing_user(store, &app, &email).await
        })
        .await
    {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let given = params.get("password").unwrap_or_default();
    // Nobody by that e-mail and a wrong password get the same answer, after the same argon2 work: the page does
    // not tell which e-mails have users.
    let signed_in = match &user {
        Some(u) => match &u.password_hash {
            Some(hash) => state.hashing.verify(given, hash.clone()).await,
            None => Ok(true),
        },
        None => state.hashing.verify_decoy(given).await,
    };
    let user = match (signed_in, user) {
        (Ok(true), Some(user)) => user,
        (Err(e), _) => return e.into_response(),
        _ => {
            for (windows, key) in &throttles {
                windows.record_failure(key, now);
            }
            state
                .metrics
                .auth_failure(crate::gate::metrics::AuthFailure::SignIn);
            return sign_in_page(&request, &app.client_id, Some(WRONG_SIGN_IN));
        }
    };
    let (challenge, target) = (request.code_challenge.clone(), redirect.clone());
    let code = match state
        .db
        .write(move |tx| async move {
            let store = &tx;
            oauth::issue_code(store, &app, &user, &target, challenge, now).await
        })
        .await
    {
        Ok(code) => code,
        Err(e) => return e.into_response(),
    };
    let mut location = format!(
        "{redirect}{}code={code}",
        if redirect.contains('?') { '&' } else { '?' }
    );
    if let Some(state_param) = &request.state {
        location.push_str("&state=");
        location.push_str(&url_encode(state_param));
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// The one answer to a sign-in that failed, whether the e-mail or the password was wrong.
pub const WRONG_SIGN_IN: &str = "The e-mail or password is wrong.";

fn too_many_sign_ins(wait_ms: i64) -> Response {
    let seconds = (wait_ms as u64).div_ceil(1000);
    let mut response = page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many failed sign-ins",
        &format!(
            r#"<h1>Too many failed sign-ins</h1><p class="problem">Try again in {seconds} seconds.</p>"#
        ),
    );
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// A page of the sign-in flow: never framed by another site (clickjacking), never cached, no referrer leaks the
/// query (which carries the state and code challenge), and nothing runs on it.
fn page(status: StatusCode, title: &str, content: &str) -> Response {
    let body = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>{} · localzoom</title></head><body>
{content}</body></html>"#,
        escape(title)
    );
    let mut response = (status, Html(body)).into_response();
    super::html::protect(
        &mut response,
        "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
        "no-referrer",
    );
    response
}

fn sign_in_page(request: &AuthorizeRequest, client_id: &str, problem: Option<&str>) -> Response {
    let hidden = [
        ("response_type", Some(request.response_type.as_str())),
        ("client_id", Some(client_id)),
        ("redirect_uri", request.redirect_uri.as_deref()),
        ("state", request.state.as_deref()),
        ("code_challenge", request.code_challenge.as_deref()),
        (
            "code_challenge_method",
            request.code_challenge_method.as_deref(),
        ),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value.map(|v| {
            format!(
                r#"<input type="hidden" name="{name}" value="{}">"#,
                escape(v)
            )
        })
    })
    .collect::<String>();
    let problem = problem
        .map(|p| format!(r#"<p class="problem">{}</p>"#, escape(p)))
        .unwrap_or_default();
    let status = if problem.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    let content = format!(
        r#"<h1>Sign in to authorize the app</h1>{problem}
<form method="post" action="/oauth/authorize">{hidden}
<label>E-mail <input name="email" type="email" autocomplete="username" required></label>
<label>Password (if the user has one) <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Authorize</button>
</form>"#
    );
    page(status, "Sign in", &content)
}

fn error_page(message: &str) -> Response {
    let content = format!(
        r#"<h1>This authorization request cannot be completed</h1><p class="problem">{}</p>"#,
        escape(message)
    );
    page(StatusCode::BAD_REQUEST, "Error", &content)
}

pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
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

#[cfg(test)]
mod fuzz_targets {
    use super::*;
    use crate::fuzz::fuzz;

    /// Any `Authorization` header of an OAuth request yields credentials or none; never a panic.
    #[test]
    fn fuzz_client_credentials() {
        fuzz(
            "client_credentials",
            &[
                b"Basic ",
                b"basic ",
                b"Bearer ",
                b":",
                b"=",
                b"==",
                b"dGVzdDp0ZXN0",
                b" ",
                b"\xc3\xa9",
            ],
            |input| {
                let Ok(value) = HeaderValue::from_bytes(input) else {
                    return;
                };
                let mut headers = HeaderMap::new();
                headers.insert(AUTHORIZATION, value);
                // Credentials come only from a Basic header whose decoded text holds a colon; the id is what
                // precedes the first colon.
                if let Some((id, secret)) = basic_credentials(&headers) {
                    let text = String::from_utf8_lossy(input);
                    let (scheme, _) = text.trim().split_once(' ').unwrap();
                    assert!(scheme.eq_ignore_ascii_case("basic"));
                    assert!(!id.contains(':'));
                    assert!(id.len() + secret.len() < input.len());
                }
            },
        );
    }
}
