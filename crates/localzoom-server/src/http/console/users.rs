//! The console's users: each account's users table (filters, find, keyset pages), a user's page, and the
//! portal's actions on a user, run through the `/v2` operations' own service code as the account's owner.

use std::future::Future;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{
    BASE, Change, Signed, code_options, empty_row, encode, encode_path, error_page, escape,
    message_page, option, page, see_other, user_path,
};
use crate::clock::rfc3339;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::user::{LoginType, Role, Status, StatusAction, UserRecord, UserType};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::http::input::{PathParams, Query};
use crate::service::console::{self as service, UserDetail, UserFilter, UserPage};
use crate::service::lifecycle;
use crate::store::{AccountRecord, Store};

/// `GET /_localzoom/ui/users?account=&status=&role=&type=&login_type=&q=&after=`.
pub(super) async fn users_page(
    State(state): State<AppState>,
    signed: Signed,
    query: Query,
) -> Response {
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
    let read = state.db.read(|tx| async {
        let tx = tx;
        let store = &tx;
        let result: Result<_, ApiError> = {
            let accounts = store.accounts().await?;
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
            let page = service::users(store, &filter).await?;
            Ok((accounts, Some((filter, page))))
        };
        result
    });
    match read.await {
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
                escape(&query)
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
        search = escape(filter.search.as_deref().unwrap_or("")),
    )
}

fn user_row(user: &UserRecord) -> String {
    format!(
        r#"<tr><td><a href="{path}">{email}</a></td><td>{name}</td><td>{kind:?}</td><td>{role}</td>
<td class="status-{status}">{status}</td><td>{login:?}</td><td>{created}</td></tr>"#,
        path = user_path(&user.id),
        email = escape(&user.email),
        name = escape(&format!("{} {}", user.first_name, user.last_name)),
        kind = user.user_type,
        role = user.role.name(),
        status = user.status.as_str(),
        login = user.login_type,
        created = rfc3339(user.created_at),
    )
}

/// `GET /_localzoom/ui/users/{userId}`.
pub(super) async fn user_page(
    State(state): State<AppState>,
    signed: Signed,
    PathParams(user_id): PathParams<String>,
) -> Response {
    let now = state.now();
    match state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;

            let account = account_of(store, &user_id).await?;
            service::user_detail(store, &account, &user_id, now).await
        })
        .await
    {
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
async fn account_of(store: &Store, user_id: &str) -> Result<AccountRecord, ApiError> {
    let user = store
        .find_user(user_id)
        .await?
        .filter(|u| u.id == user_id)
        .ok_or_else(|| DomainError::UserNotFound(user_id.to_string()))?;
    crate::service::users::account(store, &user.account_id).await
}

/// The owner of `user_id`'s account, as the one acting on the user.
async fn acting_for(store: &Store, user_id: &str) -> Result<Principal, ApiError> {
    service::owner_principal(store, &account_of(store, user_id).await?).await
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
    .map(|(name, value)| format!("<tr><th>{name}</th><td>{}</td></tr>", escape(value)))
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
                    session = escape(&encode_path(&s.id)),
                ),
            };
            format!(
                "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{ended}</td></tr>",
                escape(&s.id),
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
                escape(&a.email),
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
                escape(&s.email)
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
                escape(&e.to_address),
                escape(&e.subject),
                escape(&e.body)
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
        email = escape(&user.email),
        changes = detail.password_changes,
        cap = detail.password_changes_per_day,
        assistants = none(&assistants),
        schedulers = none(&schedulers),
        emails = none(&emails),
    )
}

/// `POST /_localzoom/ui/users/{userId}/status` `action=activate|deactivate`: as `PUT /v2/users/{userId}/status`.
pub(super) async fn set_status(
    State(state): State<AppState>,
    PathParams(user_id): PathParams<String>,
    Change { form, .. }: Change,
) -> Response {
    // The portal's two status actions (clocking in and out is not one of its buttons).
    let action = form
        .str("action")
        .ok()
        .flatten()
        .as_deref()
        .and_then(StatusAction::parse)
        .filter(|a| matches!(a, StatusAction::Activate | StatusAction::Deactivate));
    let Some(action) = action else {
        return message_page(StatusCode::BAD_REQUEST, "Invalid action", "Unknown action.");
    };
    let now = state.now();
    as_owner(&state, user_id, move |tx, principal, user_id| async move {
        let (store, principal, user_id) = (&tx, &principal, &*user_id);
        lifecycle::set_status(store, principal, user_id, action, now).await
    })
    .await
}

/// `POST /_localzoom/ui/users/{userId}/sso_token`: as `DELETE /v2/users/{userId}/token`.
pub(super) async fn revoke_sso_token(
    State(state): State<AppState>,
    PathParams(user_id): PathParams<String>,
    _: Change,
) -> Response {
    let now = state.now();
    as_owner(&state, user_id, move |tx, principal, user_id| async move {
        let (store, principal, user_id) = (&tx, &principal, &*user_id);
        lifecycle::revoke_sso_token(store, principal, user_id, now).await
    })
    .await
}

/// `POST /_localzoom/ui/users/{userId}/password` `password=…`: as `PUT /v2/users/{userId}/password` (the same
/// rules: strength, history, the 24-hour cap; checked before the slow hash and again inside the write).
pub(super) async fn reset_password(
    State(state): State<AppState>,
    PathParams(user_id): PathParams<String>,
    Change { form, .. }: Change,
) -> Response {
    let password = form.str("password").ok().flatten().unwrap_or_default();
    let now = state.now();
    let key = state.history_key.clone();
    let checked = state.db.read(|tx| async {
        let tx = tx;
        let store = &tx;

        let principal = acting_for(store, &user_id).await?;
        lifecycle::check_password_change(store, &principal, &user_id, &password, (&key, now)).await
    });
    if let Err(error) = checked.await {
        return error_page(&error);
    }
    let hash = match state.hashing.hash(password.clone()).await {
        Ok(hash) => hash,
        Err(error) => return error_page(&error),
    };
    as_owner(&state, user_id, move |tx, principal, user_id| async move {
        let (store, principal, user_id) = (&tx, &principal, &*user_id);
        lifecycle::commit_password_change(store, principal, user_id, &password, hash, (&key, now))
            .await
    })
    .await
}

/// `POST /_localzoom/ui/users/{userId}/sessions/{sessionId}/end`: the user signs out of that session, as the
/// control API's `DELETE …/sessions/{sessionId}` (from a browser client).
pub(super) async fn end_session(
    State(state): State<AppState>,
    PathParams((user_id, session_id)): PathParams<(String, String)>,
    _: Change,
) -> Response {
    let now = state.now();
    let target = user_id.clone();
    let done = state
        .db
        .write(move |tx| async move {
            let store = &tx;
            lifecycle::end_session(store, &target, &session_id, (None, None), now).await
        })
        .await;
    after_change(done, &user_id)
}

/// Runs `change` on the user `user_id` in one write, acting as the owner of the user's account, as an admin in
/// Zoom's portal would.
async fn as_owner<T: Send + 'static, Fut>(
    state: &AppState,
    user_id: String,
    change: impl FnOnce(Store, Principal, String) -> Fut + Send + 'static,
) -> Response
where
    Fut: Future<Output = Result<T, ApiError>> + Send + 'static,
{
    let target = user_id.clone();
    let done = state
        .db
        .write(move |store| async move {
            let principal = acting_for(&store, &target).await?;
            change(store, principal, target).await
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
