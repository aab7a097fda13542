//! The web console, `/_localzoom/ui`: pages rendered here, as plain HTML forms, and one small script that keeps
//! the request journal live. No framework and no build step: the console is a view of what the server holds and
//! a few portal actions, and server-rendered forms keep it in one language, in the binary, and working offline.
//!
//! It exists only with an admin key. Signing in with the key gives the browser a session cookie (`HttpOnly`,
//! `SameSite=Strict`, scoped to the console's path); every change is a POST that must carry the session's CSRF
//! token. No secret (the key, tokens, password hashes) is ever rendered.

mod control;
mod webhooks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use localzoom_api::control::RecordedCall;

use super::input::{Fields, PathParams, Query};
use crate::clock::rfc3339;
use crate::crypto;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::user::{LoginType, Role, Status, StatusAction, UserRecord, UserType};
use crate::error::ApiError;
use crate::gate::journal::JournalFilter;
use crate::gate::state::AppState;
use crate::service::console::{self as service, UserDetail, UserFilter, UserPage};
use crate::service::lifecycle;
use crate::store::{AccountRecord, Store};

pub const BASE: &str = "/_localzoom/ui";
const COOKIE: &str = "localzoom_console";
/// Failed sign-ins are throttled under this key (`console_sign_in_failures`), so the admin key cannot be guessed at
/// request speed.
const SIGN_IN_THROTTLE: &str = "admin-key";
/// Journal rows a page shows: the newest.
const REQUEST_ROWS: usize = 200;

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// The console's routes, nested under `BASE` (its root, `BASE` itself, is `home`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/users", get(users_page))
        .route("/users/{userId}", get(user_page))
        .route("/users/{userId}/status", post(set_status))
        .route("/users/{userId}/sso_token", post(revoke_sso_token))
        .route("/users/{userId}/password", post(reset_password))
        .route(
            "/users/{userId}/sessions/{sessionId}/end",
            post(end_session),
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
        .route("/requests", get(requests_page))
        .route("/requests/{trackingId}", get(request_page))
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
            esc(&self.csrf)
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
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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
        .map(|p| format!(r#"<p class="problem" role="alert">{}</p>"#, esc(p)))
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
    if let Some(wait_ms) = state
        .console_sign_in_failures
        .blocked_for(SIGN_IN_THROTTLE, now)
    {
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
        state
            .console_sign_in_failures
            .record_failure(SIGN_IN_THROTTLE, now);
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

/// `GET /_localzoom/ui/users?account=&status=&role=&type=&login_type=&q=&after=`.
async fn users_page(State(state): State<AppState>, signed: Signed, query: Query) -> Response {
    let status = query
        .get("status")
        .filter(|s| !s.is_empty())
        .map_or(Some(Status::Active), Status::parse);
    let role = match query.get("role").filter(|s| !s.is_empty()) {
        None => Some(None),
        Some(role) => Role::parse(role).map(Some),
    };
    let user_type = code_filter(&query, "type", UserType::from_code);
    let login_type = code_filter(&query, "login_type", LoginType::from_code);
    let after = query.int("after").ok().flatten().unwrap_or(0);
    let (Some(status), Some(role), Some(user_type), Some(login_type)) =
        (status, role, user_type, login_type)
    else {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Invalid filter",
            "Unknown status, role, type or login type.",
        );
    };
    let asked_account = query.get("account").map(str::to_string);
    let search = query
        .get("q")
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_string);
    let read = state.db.read(|store| -> Result<_, ApiError> {
        let accounts = store.accounts()?;
        let Some(account) = pick_account(&accounts, asked_account.as_deref()) else {
            return Ok((accounts, None));
        };
        let filter = UserFilter {
            account_id: account.id.clone(),
            status,
            role,
            user_type,
            login_type,
            search: search.clone(),
            after_seq: after,
        };
        let page = service::users(store, &filter)?;
        Ok((accounts, Some((filter, page))))
    });
    match read {
        Ok((accounts, listed)) => page(
            StatusCode::OK,
            "Users",
            Some(&signed),
            &users_html(&accounts, listed.as_ref()),
        ),
        Err(error) => error_page(&error),
    }
}

/// A filter given as one of Zoom's codes: `Some(None)` when not given, `None` when not a known code.
fn code_filter<T>(
    query: &Query,
    name: &str,
    from_code: impl Fn(i64) -> Option<T>,
) -> Option<Option<T>> {
    match query.get(name).filter(|v| !v.is_empty()) {
        None => Some(None),
        Some(code) => code.parse().ok().and_then(from_code).map(Some),
    }
}

/// The account asked for, or else the first one made (the bootstrap account on a fresh server).
fn pick_account<'a>(
    accounts: &'a [AccountRecord],
    asked: Option<&str>,
) -> Option<&'a AccountRecord> {
    match asked {
        Some(id) => accounts.iter().find(|a| a.id == id),
        None => accounts.iter().min_by_key(|a| a.created_at),
    }
}

fn users_html(accounts: &[AccountRecord], listed: Option<&(UserFilter, UserPage)>) -> String {
    let Some((filter, page)) = listed else {
        return "<h1>Users</h1><p>No such account.</p>".into();
    };
    let account_options: String = accounts
        .iter()
        .map(|a| {
            option(
                &a.id,
                &format!("{} ({})", a.owner_email, a.id),
                a.id == filter.account_id,
            )
        })
        .collect();
    let status_options: String = Status::ALL
        .iter()
        .map(|s| option(s.as_str(), s.as_str(), *s == filter.status))
        .collect();
    let role_options: String = std::iter::once(option("", "any", filter.role.is_none()))
        .chain(
            Role::ALL
                .iter()
                .map(|r| option(r.as_str(), r.name(), Some(*r) == filter.role)),
        )
        .collect();
    let type_options = code_options(UserType::ALL, filter.user_type, |t| t.code());
    let login_options = code_options(LoginType::ALL, filter.login_type, |t| t.code());
    let rows: String = page.users.iter().map(user_row).collect();
    let empty = if page.users.is_empty() {
        empty_row(7, "No users match.")
    } else {
        String::new()
    };
    let next = page
        .next_after
        .map(|after| {
            let query = encode(&[
                ("account", filter.account_id.as_str()),
                ("status", filter.status.as_str()),
                ("role", filter.role.map_or("", Role::as_str)),
                ("type", filter.user_type.map_or("", UserType::as_str)),
                (
                    "login_type",
                    filter.login_type.map_or("", LoginType::as_str),
                ),
                ("after", &after.to_string()),
            ]);
            let label = match page.looked_through {
                Some(n) if (page.users.len() as u64) < service::PAGE_SIZE => {
                    format!("Looked through {n} users; keep looking →")
                }
                _ => "Next page →".to_string(),
            };
            format!(
                r#"<p><a id="next-page" href="{BASE}/users?{}">{label}</a></p>"#,
                esc(&query)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<h1>Users</h1>
<form method="get" action="{BASE}/users" class="filters">
<label>Account <select name="account">{account_options}</select></label>
<label>Status <select name="status">{status_options}</select></label>
<label>Role <select name="role">{role_options}</select></label>
<label>Type <select name="type">{type_options}</select></label>
<label>Login <select name="login_type">{login_options}</select></label>
<label>Find <input type="search" name="q" id="q" value="{search}" placeholder="id or e-mail"></label>
<button type="submit" id="filter">Show</button>
</form>
<table id="users"><thead><tr><th>E-mail</th><th>Name</th><th>Type</th><th>Role</th><th>Status</th><th>Login</th>
<th>Created</th></tr></thead><tbody>{rows}{empty}</tbody></table>{next}"#,
        search = esc(filter.search.as_deref().unwrap_or("")),
    )
}

fn user_row(user: &UserRecord) -> String {
    format!(
        r#"<tr><td><a href="{path}">{email}</a></td><td>{name}</td><td>{kind:?}</td><td>{role}</td>
<td class="status-{status}">{status}</td><td>{login:?}</td><td>{created}</td></tr>"#,
        path = user_path(&user.id),
        email = esc(&user.email),
        name = esc(&format!("{} {}", user.first_name, user.last_name)),
        kind = user.user_type,
        role = user.role.name(),
        status = user.status.as_str(),
        login = user.login_type,
        created = rfc3339(user.created_at),
    )
}

/// `GET /_localzoom/ui/users/{userId}`.
async fn user_page(
    State(state): State<AppState>,
    signed: Signed,
    PathParams(user_id): PathParams<String>,
) -> Response {
    let now = state.now();
    match state.db.read(|store| {
        let account = account_of(store, &user_id)?;
        service::user_detail(store, &account, &user_id, now)
    }) {
        Ok(detail) => page(
            StatusCode::OK,
            &detail.user.email,
            Some(&signed),
            &user_html(&detail, &signed),
        ),
        Err(error) => error_page(&error),
    }
}

/// The account of the user with id `user_id`.
fn account_of(store: &Store, user_id: &str) -> Result<AccountRecord, ApiError> {
    let user = store
        .find_user(user_id)?
        .filter(|u| u.id == user_id)
        .ok_or_else(|| DomainError::UserNotFound(user_id.to_string()))?;
    crate::service::users::account(store, &user.account_id)
}

/// The owner of `user_id`'s account, as the one acting on the user.
fn acting_for(store: &Store, user_id: &str) -> Result<Principal, ApiError> {
    service::owner_principal(store, &account_of(store, user_id)?)
}

fn user_html(detail: &UserDetail, signed: &Signed) -> String {
    let user = &detail.user;
    let path = user_path(&user.id);
    let csrf = signed.field();
    let profile: String = [
        ("Id", user.id.clone()),
        ("E-mail", user.email.clone()),
        ("Name", format!("{} {}", user.first_name, user.last_name)),
        ("Type", format!("{:?}", user.user_type)),
        ("Role", user.role.name().to_string()),
        ("Status", user.status.as_str().to_string()),
        ("Login type", format!("{:?}", user.login_type)),
        ("PMI", user.pmi.to_string()),
        ("Department", user.dept.clone()),
        ("Time zone", user.timezone.clone()),
        ("Account", user.account_id.clone()),
        ("Created", rfc3339(user.created_at)),
        (
            "Last sign-in",
            user.last_login_time.map(rfc3339).unwrap_or_default(),
        ),
    ]
    .iter()
    .map(|(name, value)| format!("<tr><th>{name}</th><td>{}</td></tr>", esc(value)))
    .collect();
    let status_action = match user.status {
        Status::Active => Some(("deactivate", "Deactivate", " class=\"danger\"")),
        Status::Inactive => Some(("activate", "Activate", "")),
        Status::Pending => None,
    };
    let status_form = status_action
        .map(|(action, label, class)| {
            format!(
                r#"<form method="post" action="{path}/status">{csrf}
<input type="hidden" name="action" value="{action}"><button type="submit" id="{action}"{class}>{label}</button></form>"#
            )
        })
        .unwrap_or_default();
    let sessions: String = detail
        .sessions
        .iter()
        .map(|s| {
            let ended = match s.ended_at {
                Some(at) => rfc3339(at),
                None => format!(
                    r#"open <form method="post" action="{path}/sessions/{session}/end" class="inline">{csrf}<button type="submit" class="small">End</button></form>"#,
                    session = esc(&encode_path(&s.id)),
                ),
            };
            format!(
                "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{ended}</td></tr>",
                esc(&s.id),
                s.login_type,
                rfc3339(s.created_at),
            )
        })
        .collect();
    let assistants: String = detail
        .assistants
        .iter()
        .map(|(a, private)| {
            format!(
                r#"<li><a href="{}">{}</a>{}</li>"#,
                user_path(&a.id),
                esc(&a.email),
                if *private { " (private events)" } else { "" }
            )
        })
        .collect();
    let schedulers: String = detail
        .schedulers
        .iter()
        .map(|s| {
            format!(
                r#"<li><a href="{}">{}</a></li>"#,
                user_path(&s.id),
                esc(&s.email)
            )
        })
        .collect();
    let emails: String = detail
        .emails
        .iter()
        .map(|e| {
            format!(
                "<li><details><summary>{} · {} · {}</summary><pre>{}</pre></details></li>",
                rfc3339(e.created_at),
                esc(&e.to_address),
                esc(&e.subject),
                esc(&e.body)
            )
        })
        .collect();
    let none = |list: &str| {
        if list.is_empty() {
            "<li class=\"none\">None.</li>".to_string()
        } else {
            list.to_string()
        }
    };
    format!(
        r#"<h1>{email}</h1>
<div class="actions">{status_form}
<form method="post" action="{path}/sso_token">{csrf}<button type="submit" id="revoke-sso">Revoke SSO token</button></form>
</div>
<h2>Profile</h2><table id="profile">{profile}</table>
<h2>Sessions</h2><table id="sessions"><thead><tr><th>Id</th><th>Login</th><th>Signed in</th><th>Ended</th></tr></thead>
<tbody>{sessions}</tbody></table>
<h2>Password</h2><p id="password-changes">{changes} of {cap} changes allowed in the last 24 hours.</p>
<form method="post" action="{path}/password" class="actions">{csrf}
<label>New password <input type="password" name="password" id="new-password" autocomplete="new-password" required></label>
<button type="submit" id="reset-password">Reset password</button></form>
<h2>Assistants</h2><ul id="assistants">{assistants}</ul>
<h2>Assistant of</h2><ul id="schedulers">{schedulers}</ul>
<h2>E-mails sent</h2><ul id="emails">{emails}</ul>"#,
        email = esc(&user.email),
        changes = detail.password_changes,
        cap = detail.password_changes_per_day,
        assistants = none(&assistants),
        schedulers = none(&schedulers),
        emails = none(&emails),
    )
}

/// `POST /_localzoom/ui/users/{userId}/status` `action=activate|deactivate`: as `PUT /v2/users/{userId}/status`.
async fn set_status(
    State(state): State<AppState>,
    PathParams(user_id): PathParams<String>,
    Change { form, .. }: Change,
) -> Response {
    let action = match form.str("action").ok().flatten().as_deref() {
        Some("activate") => StatusAction::Activate,
        Some("deactivate") => StatusAction::Deactivate,
        _ => return message_page(StatusCode::BAD_REQUEST, "Invalid action", "Unknown action."),
    };
    let now = state.now();
    as_owner(&state, user_id, move |store, principal, user_id| {
        lifecycle::set_status(store, principal, user_id, action, now)
    })
    .await
}

/// `POST /_localzoom/ui/users/{userId}/sso_token`: as `DELETE /v2/users/{userId}/token`.
async fn revoke_sso_token(
    State(state): State<AppState>,
    PathParams(user_id): PathParams<String>,
    _: Change,
) -> Response {
    let now = state.now();
    as_owner(&state, user_id, move |store, principal, user_id| {
        lifecycle::revoke_sso_token(store, principal, user_id, now)
    })
    .await
}

/// `POST /_localzoom/ui/users/{userId}/password` `password=…`: as `PUT /v2/users/{userId}/password` (the same
/// rules: strength, history, the 24-hour cap; checked before the slow hash and again inside the write).
async fn reset_password(
    State(state): State<AppState>,
    PathParams(user_id): PathParams<String>,
    Change { form, .. }: Change,
) -> Response {
    let password = form.str("password").ok().flatten().unwrap_or_default();
    let now = state.now();
    let key = state.history_key.clone();
    let checked = state.db.read(|store| {
        let principal = acting_for(store, &user_id)?;
        lifecycle::check_password_change(store, &principal, &user_id, &password, (&key, now))
    });
    if let Err(error) = checked {
        return error_page(&error);
    }
    let hash = match state.hashing.hash(password.clone()).await {
        Ok(hash) => hash,
        Err(error) => return error_page(&error),
    };
    as_owner(&state, user_id, move |store, principal, user_id| {
        lifecycle::commit_password_change(store, principal, user_id, &password, hash, (&key, now))
    })
    .await
}

/// `POST /_localzoom/ui/users/{userId}/sessions/{sessionId}/end`: the user signs out of that session, as the
/// control API's `DELETE …/sessions/{sessionId}` (from a browser client).
async fn end_session(
    State(state): State<AppState>,
    PathParams((user_id, session_id)): PathParams<(String, String)>,
    _: Change,
) -> Response {
    let now = state.now();
    let target = user_id.clone();
    let done = state
        .db
        .write(move |store| lifecycle::end_session(store, &target, &session_id, (None, None), now))
        .await;
    after_change(done, &user_id)
}

/// Runs `change` on the user `user_id` in one write, acting as the owner of the user's account, as an admin in
/// Zoom's portal would.
async fn as_owner<T: Send + 'static>(
    state: &AppState,
    user_id: String,
    change: impl FnOnce(&Store, &Principal, &str) -> Result<T, ApiError> + Send + 'static,
) -> Response {
    let target = user_id.clone();
    let done = state
        .db
        .write(move |store| {
            let principal = acting_for(store, &target)?;
            change(store, &principal, &target)
        })
        .await;
    after_change(done, &user_id)
}

/// Back to the user's page once a change is done (POST, redirect, GET: a reload does not repeat it); Zoom's
/// refusal, as the API would have answered it, if it was refused.
fn after_change<T>(done: Result<T, ApiError>, user_id: &str) -> Response {
    match done {
        Ok(_) => see_other(&format!("{BASE}/users/{}", encode_path(user_id))),
        Err(error) => error_page(&error),
    }
}

/// `GET /_localzoom/ui/requests?operation=&status=&account=` (`&rows=1`: only the table's rows, which the page's
/// script fetches every second to stay live).
async fn requests_page(State(state): State<AppState>, signed: Signed, query: Query) -> Response {
    let Some(journal) = &state.control.journal else {
        return page(
            StatusCode::OK,
            "Requests",
            Some(&signed),
            "<h1>Requests</h1><p>The journal is off (<code>serve --journal-size 0</code>).</p>",
        );
    };
    let text = |name| {
        query
            .get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let filter = JournalFilter {
        operation: text("operation"),
        account_id: text("account"),
        status: query.get("status").and_then(|s| s.trim().parse().ok()),
        ..JournalFilter::default()
    };
    let rows: String = journal
        .newest(&filter, REQUEST_ROWS)
        .iter()
        .map(request_row)
        .collect();
    if query.get("rows") == Some("1") {
        return fragment(rows);
    }
    let poll = encode(&[
        ("operation", filter.operation.as_deref().unwrap_or("")),
        (
            "status",
            &filter.status.map(|s| s.to_string()).unwrap_or_default(),
        ),
        ("account", filter.account_id.as_deref().unwrap_or("")),
        ("rows", "1"),
    ]);
    page(
        StatusCode::OK,
        "Requests",
        Some(&signed),
        &format!(
            r#"<h1>Requests</h1>
<form method="get" action="{BASE}/requests" class="filters">
<label>Operation <input name="operation" value="{operation}" placeholder="userStatus"></label>
<label>Status <input name="status" value="{status}" size="4" inputmode="numeric"></label>
<label>Account <input name="account" value="{account}"></label>
<button type="submit">Show</button>
</form>
<p class="hint">The newest {REQUEST_ROWS} calls first; this table follows new calls live.</p>
<table id="requests"><thead><tr><th>Time</th><th>Call</th><th>Operation</th><th>Account</th><th>Status</th>
<th>Code</th><th>ms</th></tr></thead><tbody data-poll="{BASE}/requests?{poll}">{rows}</tbody></table>"#,
            poll = esc(&poll),
            operation = esc(filter.operation.as_deref().unwrap_or("")),
            status = filter.status.map(|s| s.to_string()).unwrap_or_default(),
            account = esc(filter.account_id.as_deref().unwrap_or("")),
        ),
    )
}

fn request_row(call: &RecordedCall) -> String {
    format!(
        r#"<tr><td>{time}</td><td><a href="{BASE}/requests/{tracking}">{method} {path}</a></td><td>{operation}</td>
<td>{account}</td><td class="http-{class}xx">{status}</td><td>{code}</td><td>{latency:.1}</td></tr>"#,
        time = esc(&call.time),
        tracking = esc(&encode_path(&call.tracking_id)),
        method = esc(&call.method),
        path = esc(&call.path),
        operation = esc(call.operation.as_deref().unwrap_or("")),
        account = esc(call.account_id.as_deref().unwrap_or("")),
        class = call.status / 100,
        status = call.status,
        code = call.code.map(|c| c.to_string()).unwrap_or_default(),
        latency = call.latency_ms,
    )
}

/// `GET /_localzoom/ui/requests/{trackingId}`: one call, its bodies as the journal kept them (redacted).
async fn request_page(
    State(state): State<AppState>,
    signed: Signed,
    PathParams(tracking_id): PathParams<String>,
) -> Response {
    let found = state
        .control
        .journal
        .as_ref()
        .and_then(|journal| journal.get(&tracking_id));
    let Some(call) = found else {
        return message_page(
            StatusCode::NOT_FOUND,
            "Not in the journal",
            "The journal does not hold this call (it keeps the newest calls only).",
        );
    };
    let pretty = |body: &Option<serde_json::Value>| {
        body.as_ref()
            .map(|b| serde_json::to_string_pretty(b).unwrap_or_default())
            .unwrap_or_else(|| "(none)".into())
    };
    let fields: String = [
        ("Tracking id", call.tracking_id.clone()),
        ("Time", call.time.clone()),
        ("Call", format!("{} {}", call.method, call.path)),
        ("Query", call.query.clone().unwrap_or_default()),
        ("Operation", call.operation.clone().unwrap_or_default()),
        ("Account", call.account_id.clone().unwrap_or_default()),
        ("App", call.client_id.clone().unwrap_or_default()),
        ("User", call.user.clone().unwrap_or_default()),
        ("Status", call.status.to_string()),
        (
            "Zoom code",
            call.code.map(|c| c.to_string()).unwrap_or_default(),
        ),
        ("Latency", format!("{:.1} ms", call.latency_ms)),
        ("Fault rule", call.fault.clone().unwrap_or_default()),
    ]
    .iter()
    .map(|(name, value)| format!("<tr><th>{name}</th><td>{}</td></tr>", esc(value)))
    .collect();
    page(
        StatusCode::OK,
        "Request",
        Some(&signed),
        &format!(
            r#"<h1>{method} {path}</h1><table id="call">{fields}</table>
<h2>Request body</h2><pre id="request-body">{request}</pre><h2>Response body</h2><pre id="response-body">{response}</pre>"#,
            method = esc(&call.method),
            path = esc(&call.path),
            request = esc(&pretty(&call.request_body)),
            response = esc(&pretty(&call.response_body)),
        ),
    )
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
        esc(value),
        if selected { " selected" } else { "" },
        esc(label)
    )
}

/// HTML-escapes text for element content and quoted attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query string of `pairs`, each value form-encoded.
fn encode(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// One path segment, percent-encoded.
fn encode_path(segment: &str) -> String {
    encode(&[("s", segment)])
        .strip_prefix("s=")
        .unwrap_or_default()
        .replace('+', "%20")
}

/// A user's page, as an attribute value.
fn user_path(user_id: &str) -> String {
    esc(&format!("{BASE}/users/{}", encode_path(user_id)))
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
            esc(title),
            esc(message)
        ),
    )
}

/// Headers of every console answer: never framed (clickjacking), never cached, scripts and styles only from the
/// console itself.
fn harden(response: &mut Response) {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
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
        esc(title)
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
