//! Three of the four seed operations: revoke the SSO token, change status, change password.

use crate::crypto::{self, HistoryKey};
use crate::domain::error::DomainError;
use crate::domain::password::{self, PasswordRule};
use crate::domain::principal::Principal;
use crate::domain::rate_limits::DAY_MS;
use crate::domain::settings;
use crate::domain::user::{
    AdminOnly, LoginType, Status, StatusAction, StatusEffect, UserRecord, UserType, decide_status,
    require_admin,
};
use crate::domain::webhook::{self, ClientSession, Event};
use crate::error::ApiResult;
use crate::service::webhooks::{Listeners, ProfileChange};
use crate::service::{resolve_user, users};
use crate::store::Store;

/// `DELETE /users/{userId}/token`: ends the user's SSO sign-in sessions. Idempotent; non-SSO users simply have
/// none to end.
pub async fn revoke_sso_token(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    now: i64,
) -> ApiResult<u64> {
    let user = resolve_user(store, principal, user_ref).await?;
    let change = ProfileChange::start(store, principal, &user).await?;
    let ended = store
        .end_sessions(&user.id, Some(LoginType::Sso), now)
        .await?;
    if ended > 0 {
        change
            .finish(
                store,
                principal,
                &user,
                Some("sign_out_from_all_devices"),
                now,
            )
            .await?;
    }
    Ok(ended)
}

/// The user (any account's, by id or e-mail) signs out of their open session `session_id`, from the client
/// `(client_type, version)` as the request named it (checked once the session is found; none: a browser):
/// its tokens stop working, and `user.signed_out` is announced. The control API's sign-out, and the console's
/// "end session".
pub async fn end_session(
    store: &Store,
    user_ref: &str,
    session_id: &str,
    (client_type, version): (Option<String>, Option<String>),
    now: i64,
) -> ApiResult<()> {
    let user = store
        .find_user(user_ref)
        .await?
        .ok_or_else(|| DomainError::UserNotFound(user_ref.to_string()))?;
    let session = store
        .sessions(&user.id)
        .await?
        .into_iter()
        .find(|s| s.id == session_id && s.ended_at.is_none())
        .ok_or_else(|| {
            DomainError::Invalid(format!("{} has no open session {session_id}.", user.email))
        })?;
    let client = ClientSession {
        client_type: webhook::client_type(client_type.as_deref())?,
        version: webhook::client_version(version)?,
        login_type: session.login_type,
        date_time: crate::clock::rfc3339(now),
    };
    store.end_session(&session.id, now).await?;
    let signed_out = webhook::session(&user, &client, false);
    Listeners::of(store, &user.account_id)
        .await?
        .record(store, &signed_out, now)
        .await?;
    Ok(())
}

/// `PUT /users/{userId}/status`.
pub async fn set_status(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    action: StatusAction,
    now: i64,
) -> ApiResult<()> {
    let mut user = resolve_user(store, principal, user_ref).await?;
    if matches!(action, StatusAction::Activate | StatusAction::Deactivate) {
        require_admin(principal.role, AdminOnly::Status)?;
    }
    // Only an activation is bound by the account (its Basic-user cap): other actions read no more than the user.
    let (max_basic_users, basic_users) = match action {
        StatusAction::Activate => {
            let account = users::account(store, &principal.account_id).await?;
            let basic_users = match account.max_basic_users {
                Some(_) => store.count_basic_users(&account.id).await?,
                None => 0,
            };
            (account.max_basic_users, basic_users)
        }
        _ => (None, 0),
    };
    let event = match decide_status(&user, action, max_basic_users, basic_users)? {
        StatusEffect::Deactivate => {
            user.status = Status::Inactive;
            user.user_type = UserType::Basic;
            store.update_user(&user).await?;
            store.sign_out_everywhere(&user.id, now).await?;
            Event::UserDeactivated
        }
        StatusEffect::Activate if user.status != Status::Active => {
            user.status = Status::Active;
            store.update_user(&user).await?;
            Event::UserActivated
        }
        StatusEffect::Activate | StatusEffect::None => return Ok(()),
    };
    Listeners::of_principal(store, principal)
        .await?
        .emit(store, principal, now, event, |operator| {
            Some(webhook::lifecycle(event, &user, operator))
        })
        .await
}

/// The fingerprint the password history keeps: a keyed hash, so reuse checks cost no argon2 runs, under a key
/// kept out of the database, so a copy of the database cannot check guesses against it.
pub fn fingerprint(key: &HistoryKey, user_id: &str, password: &str) -> String {
    crypto::hmac_hex(
        key.bytes(),
        &[b"password", user_id.as_bytes(), password.as_bytes()],
    )
}

const META_HISTORY_KEY_CHECK: &str = "history_key_check";

/// A value only the history key produces, kept in the database to tell whether a key is the one its history was
/// recorded with (it does not help anyone recover the key).
fn key_check(key: &HistoryKey) -> String {
    crypto::hmac_hex(key.bytes(), &[b"history-key-check"])
}

/// Makes sure the password history was recorded with `key`: on a database that has none, `key` becomes its key;
/// with another key, the start is refused, unless `forget` says to drop the history (whose key is lost).
pub async fn adopt_history_key(store: &Store, key: &HistoryKey, forget: bool) -> ApiResult<()> {
    let check = key_check(key);
    match store.meta_get(META_HISTORY_KEY_CHECK).await? {
        Some(stored) if crypto::constant_time_eq(stored.as_bytes(), check.as_bytes()) => return Ok(()),
        Some(_) if !forget => return Err(DomainError::Invalid(
            "the password history of this database was recorded with another key than the one given: give its \
             key file (--history-key-file), or, if that key is lost, start once with --forget-password-history"
                .into(),
        ).into()),
        Some(_) => {
            let forgotten = store.clear_password_history().await?;
            tracing::warn!(forgotten, "password history forgotten: its key was lost");
        }
        None => {}
    }
    Ok(store.meta_set(META_HISTORY_KEY_CHECK, &check).await?)
}

/// Every check of `PUT /users/{userId}/password` that needs stored state, in Zoom's order. Run once before the
/// (slow) hash and again inside the write, so a concurrent change cannot slip past the history or daily cap.
pub async fn check_password_change(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    password: &str,
    (key, now): (&HistoryKey, i64),
) -> ApiResult<(UserRecord, String)> {
    let user = resolve_user(store, principal, user_ref).await?;
    require_admin(principal.role, AdminOnly::Password)?;
    if user.role.is_admin() {
        return Err(DomainError::AdminPassword.into());
    }
    if user.login_type != LoginType::WorkEmail {
        return Err(DomainError::NotWorkEmailUser.into());
    }
    let account = users::account(store, &principal.account_id).await?;
    password::check(password, &settings::password_requirement(&account.security))
        .map_err(DomainError::Password)?;
    let print = fingerprint(key, &user.id, password);
    let history = store
        .password_history(&user.id, account.password_history_count.max(1))
        .await?;
    if user.password_hash.is_some() && history.first() == Some(&print) {
        return Err(DomainError::Password(PasswordRule::SameAsCurrent).into());
    }
    if history.contains(&print) {
        return Err(
            DomainError::Password(PasswordRule::Reused(account.password_history_count)).into(),
        );
    }
    if password_changes_today(store, &user.id, now).await?
        >= u64::from(account.password_changes_per_day)
    {
        return Err(DomainError::Password(PasswordRule::TooManyChangesToday).into());
    }
    Ok((user, print))
}

/// The user's password changes in the 24 hours before `now`: what the account's daily cap counts.
pub async fn password_changes_today(store: &Store, user_id: &str, now: i64) -> ApiResult<u64> {
    Ok(store.password_changes_since(user_id, now - DAY_MS).await?)
}

/// Stores a checked, hashed password; signs the user out of password sessions and records the e-mail Zoom
/// sends.
pub async fn commit_password_change(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    password: &str,
    hash: String,
    (key, now): (&HistoryKey, i64),
) -> ApiResult<()> {
    let (mut user, print) =
        check_password_change(store, principal, user_ref, password, (key, now)).await?;
    let change = ProfileChange::start(store, principal, &user).await?;
    user.password_hash = Some(hash);
    store.update_user(&user).await?;
    store.record_password(&user.id, &print, now, false).await?;
    store
        .end_sessions(&user.id, Some(LoginType::WorkEmail), now)
        .await?;
    super::mail::send(store, &user, super::mail::Mail::PasswordChanged, now).await?;
    change
        .finish(store, principal, &user, Some("change_password"), now)
        .await
}
