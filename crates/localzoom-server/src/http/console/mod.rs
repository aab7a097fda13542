//! The web console, `/_localzoom/ui`: pages rendered here, as plain HTML forms, and one small script that keeps
//! the request journal live. No framework and no build step: the console is a view of what the server holds and
//! a few portal actions, and server-rendered forms keep it in one language, in the binary, and working offline.
//!
//! It exists only with an admin key. Signing in with the key gives the browser a session cookie (`HttpOnly`,
//! `SameSite=Strict`, scoped to the console's path); every change is a POST that must carry the session's CSRF
//! token. No secret (the key, tokens, password hashes) is ever rendered.
//!
//! The pages are in `users.rs`, `requests.rs`, `webhooks.rs` and `control.rs`; this file holds the router, the
//! session (sign-in, `Signed`, `Change`) and what every page shares (the layout, escaping, redirects).

mod control;
mod requests;
mod users;
mod webhooks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use super::html::{self, escape};
use super::input::Fields;
use crate::clock::{Clock, SystemClock};
use crate::crypto;
use crate::error::ApiError;
use crate::gate::state::AppState;

pub const BASE: &str = "/_localzoom/ui";
const COOKIE: &str = "localzoom_console";

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// The console's routes, nested under `BASE` (its root, `BASE` itself, is `home`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/users", get(users::users_page))
        .route("/users/{userId}", get(users::user_page))
        .route("/users/{userId}/status", post(users::set_status))
        .route("/users/{userId}/sso_token", post(users::revoke_sso_token))
        .route("/users/{userId}/password", post(users::reset_password))
        .route(
            "/users/{userId}/sessions/{sessionId}/end",
            post(users::end_session),
        )
        .route("/webhooks", get(webhooks::list))
        .route("/webhooks/{id}", get(webhooks::subscription))
        .route(
            "/webhooks/{id}/deliveries/{deliveryId}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/control", get(control::page_of))
        .route("/control/clock", post(control::advance_clock))
        .route("/control/faults", post(control::add_fault))
        .route("/control/faults/{id}/delete", post(control::remove_fault))
        .route("/control/reset", post(control::reset))
        .route(
            "/control/fixtures",
            post(control::load_fixture).layer(DefaultBodyLimit::max(control::UPLOAD_LIMIT)),
        )
        .route("/requests", get(requests::requests_page))
        .route("/requests/{trackingId}", get(requests::request_page))
        .route("/assets/console.css", get(|| asset("text/css", CSS)))
        .route("/assets/console.js", get(|| asset("text/javascript", JS)))
}

/// A signed-in browser.
pub struct Signed {
    cookie: String,
    csrf: String,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if state.admin_key.is_none() {
            return Err(ApiError::ControlApiOff.into_response());
        }
        cookie(&parts.headers)
            .and_then(|cookie| {
                let csrf = state.control.console.csrf_of(&cookie, wall_clock_ms())?;
                Some(Signed { cookie, csrf })
            })
            .ok_or_else(|| see_other(&format!("{BASE}/sign-in")))
    }
}

/// A change a console page asks for: a signed-in browser's form (urlencoded), carrying the session's CSRF token.
/// Anything else never reaches the handler: no session leads to the sign-in form, a missing or wrong token is
/// refused (403).
pub struct Change {
    signed: Signed,
    form: Fields,
}

impl FromRequest<AppState> for Change {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let form = Fields::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !signed.holds(&form.str("csrf").ok().flatten().unwrap_or_default()) {
            return Err(forged());
        }
        Ok(Change { signed, form })
    }
}

impl Signed {
    /// Whether `token` is the session's CSRF token: the change comes from one of the console's own pages.
    fn holds(&self, token: &str) -> bool {
        crypto::secrets_match(token, &self.csrf)
    }

    /// The hidden field every form of the console carries.
    fn field(&self) -> String {
        format!(
            r#"<input type="hidden" name="csrf" value="{}">"#,
            escape(&self.csrf)
        )
    }
}

/// The answer to a change whose form did not carry the session's CSRF token.
fn forged() -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "Refused",
        "The form did not come from this console session. Reload the page and try again.",
    )
}

/// Sessions last by the wall clock: moving the emulated clock (`POST /_localzoom/v1/clock`) must not sign the
/// console out.
fn wall_clock_ms() -> i64 {
    SystemClock.now_ms()
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// `GET /_localzoom/ui`: the users table, or the sign-in form.
pub async fn home(signed: Result<Signed, Response>) -> Response {
    match signed {
        Ok(_) => see_other(&format!("{BASE}/users")),
        Err(response) => response,
    }
}

async fn sign_in_page(State(state): State<AppState>) -> Response {
    if state.admin_key.is_none() {
        return ApiError::ControlApiOff.into_response();
    }
    sign_in_form(StatusCode::OK, None)
}

fn sign_in_form(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!(r#"<p class="problem" role="alert">{}</p>"#, escape(p)))
        .unwrap_or_default();
    page(
        status,
        "Sign in",
        None,
        &format!(
            r#"<h1>localzoom console</h1>{problem}
<form method="post" action="{BASE}/sign-in" class="card">
<label>Admin key <input type="password" name="key" id="key" autocomplete="current-password" required autofocus></label>
<button type="submit" id="sign-in">Sign in</button>
</form><p class="hint">The key <code>serve --admin-key</code> was started with.</p>"#
        ),
    )
}

async fn sign_in(State(state): State<AppState>, form: Result<Fields, ApiError>) -> Response {
    let Some(admin_key) = &state.admin_key else {
        return ApiError::ControlApiOff.into_response();
    };
    let now = wall_clock_ms();
    if let Some(wait_ms) = state.control.console.sign_in_blocked_for(now) {
        let seconds = (wait_ms as u64).div_ceil(1000);
        return sign_in_form(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many wrong keys. Try again in {seconds} seconds."
            )),
        );
    }
    let given = form
        .ok()
        .and_then(|f| f.str("key").ok().flatten())
        .unwrap_or_default();
    let matches = !given.is_empty() && crypto::secrets_match(&given, admin_key);
    if !matches {
        state.control.console.record_wrong_key(now);
        return sign_in_form(StatusCode::UNAUTHORIZED, Some("That is not the admin key."));
    }
    let opened = state.control.console.open(now);
    let mut response = see_other(&format!("{BASE}/users"));
    set_cookie(
        &state,
        &mut response,
        &opened.cookie,
        crate::gate::console::SESSION_MS / 1000,
    );
    response
}

/// The session cookie: never readable by scripts, never sent by another site, only to the console; `Secure` when
/// the server is reached over HTTPS (`--public-url https://…`).
fn set_cookie(state: &AppState, response: &mut Response, value: &str, max_age_seconds: i64) {
    let secure = state
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let cookie = format!(
        "{COOKIE}={value}; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}

async fn sign_out(State(state): State<AppState>, change: Change) -> Response {
    state.control.console.close(&change.signed.cookie);
    let mut response = see_other(&format!("{BASE}/sign-in"));
    set_cookie(&state, &mut response, "", 0);
    response
}

/// "any", then every member of a closed set of Zoom's codes, named as Rust names them.
fn code_options<T: Copy + PartialEq + std::fmt::Debug>(
    all: &[T],
    selected: Option<T>,
    code: impl Fn(T) -> i64,
) -> String {
    std::iter::once(option("", "any", selected.is_none()))
        .chain(all.iter().map(|t| {
            option(
                &code(*t).to_string(),
                &format!("{t:?}"),
                Some(*t) == selected,
            )
        }))
        .collect()
}

fn option(value: &str, label: &str, selected: bool) -> String {
    format!(
        r#"<option value="{}"{}>{}</option>"#,
        escape(value),
        if selected { " selected" } else { "" },
        escape(label)
    )
}

/// A query string of `pairs`, each value form-encoded.
fn encode(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// One path segment, percent-encoded.
fn encode_path(segment: &str) -> String {
    html::url_encode(segment).replace('+', "%20")
}

/// A user's page, as an attribute value.
fn user_path(user_id: &str) -> String {
    escape(&format!("{BASE}/users/{}", encode_path(user_id)))
}

/// A table's only row when it has none.
fn empty_row(columns: usize, text: &str) -> String {
    format!(r#"<tr><td colspan="{columns}" class="none">{text}</td></tr>"#)
}

/// A JSON value as plain text: strings without their quotes, nothing for null.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn error_page(error: &ApiError) -> Response {
    let (status, code, message) = error.parts();
    message_page(status, "Refused", &format!("{message} (Zoom code {code})"))
}

fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        title,
        None,
        &format!(
            r#"<h1>{}</h1><p class="problem" role="alert">{}</p><p><a href="{BASE}/users">Back to the users</a></p>"#,
            escape(title),
            escape(message)
        ),
    )
}

/// Headers of every console answer: scripts and styles only from the console itself.
fn harden(response: &mut Response) {
    html::protect(
        response,
        "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        "same-origin",
    );
}

fn page(status: StatusCode, title: &str, signed: Option<&Signed>, content: &str) -> Response {
    let nav = signed
        .map(|signed| {
            format!(
                r#"<nav><a href="{BASE}/users">Users</a><a href="{BASE}/requests">Requests</a>
<a href="{BASE}/webhooks">Webhooks</a><a href="{BASE}/control">Control</a>
<form method="post" action="{BASE}/sign-out">{}<button type="submit" id="sign-out">Sign out</button></form></nav>"#,
                signed.field()
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{} · localzoom</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{BASE}/assets/console.css"><script src="{BASE}/assets/console.js" defer></script></head>
<body><header><span class="brand">localzoom</span>{nav}</header><main>{content}</main></body></html>"#,
        escape(title)
    );
    let mut response = (status, Html(body)).into_response();
    harden(&mut response);
    response
}

fn fragment(html: String) -> Response {
    let mut response = Html(html).into_response();
    harden(&mut response);
    response
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    harden(&mut response);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
