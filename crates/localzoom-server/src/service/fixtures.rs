//! Loading a fixture document (`domain::fixture`) in one transaction: what it names by id (or an account by its
//! owner, a user by e-mail) is updated, what it does not is created, so loading the same document twice changes
//! nothing. A refusal names the field and stores nothing.

use std::collections::HashMap;

use super::accounts;
use crate::crypto::{self, HistoryKey};
use crate::domain::error::DomainError;
use crate::domain::fixture::{Fixture, FixtureAccount, FixtureApp, FixtureUser};
use crate::domain::rate_limits::Limit;
use crate::domain::user::{LoginType, Role, Status, UserRecord, UserType};
use crate::domain::user_settings::{self, SettingsOption};
use crate::error::ApiResult;
use crate::store::{AccountRecord, SessionRecord, Store};

/// A checked document with the argon2id hash of each password, keyed by (account, user) position: hashing is
/// slow, so it is done before the transaction (and once, for a document loaded again after a reset).
#[derive(Debug, Clone, Default)]
pub struct LoadableFixture {
    pub fixture: Fixture,
    pub hashes: HashMap<(usize, usize), String>,
}

/// Hashes the document's passwords (at most `MAX_PASSWORDS`, each a full argon2id hash, in the hashing pool).
pub async fn prepare(
    hashing: &crypto::PasswordHashing,
    fixture: Fixture,
) -> ApiResult<LoadableFixture> {
    let mut hashes = HashMap::new();
    for (a, account) in fixture.accounts.iter().enumerate() {
        for (u, user) in account.users.iter().enumerate() {
            if let Some(password) = &user.password {
                hashes.insert((a, u), hashing.hash(password.clone()).await?);
            }
        }
    }
    Ok(LoadableFixture { fixture, hashes })
}

fn refused(field: String, message: impl Into<String>) -> crate::error::ApiError {
    DomainError::field(&field, &message.into()).into()
}

/// Loads the whole document; `only` limits it to the accounts it names with that id or owner (a reset of one
/// account loads that account's part again).
pub async fn load(
    store: &Store,
    loadable: &LoadableFixture,
    only: Option<&AccountRecord>,
    (key, now): (&HistoryKey, i64),
) -> ApiResult<()> {
    for (a, entry) in loadable.fixture.accounts.iter().enumerate() {
        if let Some(only) = only {
            let named = entry.id.as_deref() == Some(only.id.as_str())
                || entry
                    .owner_email
                    .as_deref()
                    .is_some_and(|o| o.eq_ignore_ascii_case(&only.owner_email));
            if !named {
                continue;
            }
        }
        let at = format!("accounts[{a}]");
        let account = upsert_account(store, entry, &at, now).await?;
        let owner = store
            .user_by_email(&account.id, &account.owner_email)
            .await?
            .ok_or_else(|| crate::error::ApiError::internal("account owner missing"))?;
        for (p, app) in entry.apps.iter().enumerate() {
            upsert_app(
                store,
                &account,
                &owner.id,
                app,
                &format!("{at}.apps[{p}]"),
                now,
            )
            .await?;
        }
        let mut ids = Vec::with_capacity(entry.users.len());
        for (u, user) in entry.users.iter().enumerate() {
            let at = format!("{at}.users[{u}]");
            let hash = loadable.hashes.get(&(a, u)).cloned();
            ids.push(upsert_user(store, &account, user, hash, &at, (key, now)).await?);
        }
        for (u, user) in entry.users.iter().enumerate() {
            let at = format!("{at}.users[{u}]");
            let this = member(store, &account, &ids[u], &at).await?;
            for (n, named) in user.assistants.iter().enumerate() {
                let at = format!("{at}.assistants[{n}]");
                let assistant = member(store, &account, named, &at).await?;
                link(store, &this, &assistant, &at, now).await?;
            }
            for (n, named) in user.schedulers.iter().enumerate() {
                let at = format!("{at}.schedulers[{n}]");
                let scheduler = member(store, &account, named, &at).await?;
                link(store, &scheduler, &this, &at, now).await?;
            }
        }
    }
    Ok(())
}

async fn upsert_account(
    store: &Store,
    entry: &FixtureAccount,
    at: &str,
    now: i64,
) -> ApiResult<AccountRecord> {
    let existing = match (&entry.id, &entry.owner_email) {
        (Some(id), _) => store.account(id).await?,
        (None, Some(owner)) => match store.find_user(owner).await? {
            Some(user) if user.role == Role::Owner => store.account(&user.account_id).await?,
            _ => None,
        },
        (None, None) => None,
    };
    let mut account = match existing {
        Some(account) => {
            if let Some(owner) = &entry.owner_email
                && !owner.eq_ignore_ascii_case(&account.owner_email)
            {
                return Err(refused(
                    format!("{at}.owner_email"),
                    format!(
                        "Account {} is owned by {}.",
                        account.id, account.owner_email
                    ),
                ));
            }
            account
        }
        None => {
            let owner = entry.owner_email.as_deref().ok_or_else(|| {
                refused(
                    format!("{at}.owner_email"),
                    "A new account needs its owner's e-mail.",
                )
            })?;
            if store.email_exists(owner).await? {
                return Err(refused(
                    format!("{at}.owner_email"),
                    format!("{owner} is a user of another account."),
                ));
            }
            let id = entry.id.clone().unwrap_or_else(crypto::new_id);
            let plan = entry
                .plan
                .unwrap_or(crate::domain::account::AccountPlan::DEFAULT);
            accounts::create_account(store, &id, plan, owner, now)
                .await?
                .0
        }
    };
    if let Some(plan) = entry.plan {
        account.plan = plan;
    }
    if entry.max_basic_users.is_some() {
        account.max_basic_users = entry.max_basic_users;
    }
    for (name, value) in &entry.rate_limits {
        if let Some(limit) = Limit::parse(name) {
            account.rate_limit_overrides.set(limit, Some(*value));
        }
    }
    store.update_account(&account).await?;
    Ok(account)
}

async fn upsert_app(
    store: &Store,
    account: &AccountRecord,
    owner_id: &str,
    app: &FixtureApp,
    at: &str,
    now: i64,
) -> ApiResult<()> {
    let stored = store.app(&app.client_id).await?;
    if stored.as_ref().is_some_and(|s| s.account_id != account.id) {
        return Err(refused(
            format!("{at}.client_id"),
            format!("App {} belongs to another account.", app.client_id),
        ));
    }
    match (stored, &app.client_secret) {
        // Named only: the app stays as it is; its subscriptions below are added to it.
        (Some(_), None) => {}
        (None, None) => {
            return Err(refused(
                format!("{at}.client_secret"),
                format!(
                    "App {} does not exist: a new app needs a client secret.",
                    app.client_id
                ),
            ));
        }
        (stored, Some(secret)) => {
            let fresh = accounts::new_app(
                &app.client_id,
                secret,
                &account.id,
                owner_id,
                app.kind,
                app.scopes.as_ref().map(|s| s.names()),
                app.redirect_uri.clone(),
                now,
            );
            match stored {
                Some(stored) => {
                    store
                        .update_app(&crate::store::AppRecord {
                            created_at: stored.created_at,
                            ..fresh
                        })
                        .await?
                }
                None => store.insert_app(&fresh).await?,
            }
        }
    }
    // A subscription is known by its URL: the same document loaded again changes nothing.
    let existing = store.subscriptions(Some(&app.client_id)).await?;
    for asked in &app.webhooks {
        let same = existing.iter().find(|s| s.url == asked.url.trim());
        if let Some(same) = same {
            if same.secret_token == asked.secret_token && same.events == asked.check()? {
                continue;
            }
            store.delete_subscription(&same.id).await?;
        }
        super::webhooks::subscribe(store, &app.client_id, asked, now).await?;
    }
    Ok(())
}

async fn upsert_user(
    store: &Store,
    account: &AccountRecord,
    entry: &FixtureUser,
    hash: Option<String>,
    at: &str,
    (key, now): (&HistoryKey, i64),
) -> ApiResult<String> {
    // Named by id, else by e-mail; either must not be another account's.
    let by_id = match &entry.id {
        Some(id) => store.find_user(id).await?.filter(|u| u.id == *id),
        None => None,
    };
    let by_email = store.find_user(&entry.email).await?;
    for found in [&by_id, &by_email].into_iter().flatten() {
        if found.account_id != account.id {
            return Err(refused(
                format!("{at}.{}", if by_id.is_some() { "id" } else { "email" }),
                format!("{} is a user of another account.", found.email),
            ));
        }
    }
    if let (Some(by_id), Some(by_email)) = (&by_id, &by_email)
        && by_id.id != by_email.id
    {
        return Err(refused(
            format!("{at}.email"),
            format!("{} is another user's e-mail.", entry.email),
        ));
    }
    let existing = by_id.or(by_email);
    let is_new = existing.is_none();
    let mut user = existing.unwrap_or_else(|| UserRecord {
        status: Status::Active,
        ..UserRecord::new(
            entry.id.clone().unwrap_or_else(crypto::new_id),
            &account.id,
            &entry.email,
            now,
        )
    });
    let owner = user.email.eq_ignore_ascii_case(&account.owner_email)
        || entry.email.eq_ignore_ascii_case(&account.owner_email);
    user.email = entry.email.clone();
    if let Some(user_type) = entry.user_type() {
        user.user_type = user_type;
    }
    for (field, given) in [
        (&mut user.first_name, &entry.first_name),
        (&mut user.last_name, &entry.last_name),
        (&mut user.timezone, &entry.timezone),
        (&mut user.dept, &entry.dept),
        (&mut user.language, &entry.language),
    ] {
        if let Some(given) = given {
            *field = given.clone();
        }
    }
    match &entry.display_name {
        Some(name) => user.display_name = name.clone(),
        None if is_new || entry.first_name.is_some() || entry.last_name.is_some() => {
            user.display_name = format!("{} {}", user.first_name, user.last_name)
                .trim()
                .to_string();
        }
        None => {}
    }
    match (owner, entry.role) {
        (true, Some(role)) if role != Role::Owner => {
            return Err(refused(
                format!("{at}.role"),
                "The account's owner stays its owner.",
            ));
        }
        (false, Some(role)) => user.role = role,
        _ => {}
    }
    if let Some(status) = entry.status {
        if owner && status != Status::Active {
            return Err(refused(
                format!("{at}.status"),
                "The account's owner stays active.",
            ));
        }
        user.status = status;
    }
    user.verified = user.status == Status::Active;
    if let Some(login_type) = entry.login_type() {
        user.login_type = login_type;
    }
    if entry.password.is_some() && user.login_type != LoginType::WorkEmail {
        return Err(refused(
            format!("{at}.password"),
            "Only a work-email user (login_type 100) has a Zoom password.",
        ));
    }
    match entry.pmi {
        Some(pmi) if store.pmi_taken(pmi, &user.id).await? => {
            return Err(refused(
                format!("{at}.pmi"),
                format!("PMI {pmi} is another user's."),
            ));
        }
        Some(pmi) => user.pmi = pmi,
        None if is_new => user.pmi = super::fresh_pmi(store).await?,
        None => {}
    }
    if let Some(hash) = hash {
        user.password_hash = Some(hash);
    }
    if is_new {
        store.insert_user(&user).await?;
    } else {
        store.update_user(&user).await?;
    }
    if let Some(password) = &entry.password {
        // The fixture's password is the user's first one: history (not reusable) but no change (no daily cap).
        let print = super::lifecycle::fingerprint(key, &user.id, password);
        if !store
            .password_history(&user.id, u32::MAX)
            .await?
            .contains(&print)
        {
            store.record_password(&user.id, &print, now, true).await?;
        }
    }
    if let Some(settings) = &entry.settings {
        let mut stored = store.user_settings(&user.id).await?;
        user_settings::apply_patch(SettingsOption::All, &mut stored, settings, user.user_type)
            .map_err(|refusal| within(&format!("{at}.settings"), refusal))?;
        store.set_user_settings(&user.id, &stored).await?;
    }
    let sessions = store.sessions(&user.id).await?;
    for session in &entry.sessions {
        let login_type = session.login_type();
        let present = match &session.id {
            Some(id) => sessions.iter().any(|s| s.id == *id),
            None => sessions
                .iter()
                .any(|s| s.login_type == login_type && s.ended_at.is_none()),
        };
        if !present {
            store
                .insert_session(&SessionRecord {
                    id: session.id.clone().unwrap_or_else(crypto::new_id),
                    user_id: user.id.clone(),
                    login_type,
                    created_at: now,
                    ended_at: None,
                })
                .await?;
        }
    }
    Ok(user.id)
}

/// A settings refusal, its fields named from the document's root.
fn within(at: &str, refusal: DomainError) -> crate::error::ApiError {
    match refusal {
        DomainError::Validation(errors) => DomainError::Validation(
            errors
                .into_iter()
                .map(|mut e| {
                    e.field = format!("{at}.{}", e.field);
                    e
                })
                .collect(),
        )
        .into(),
        other => refused(at.to_string(), other.to_string()),
    }
}

/// A user of the account named by id or e-mail.
async fn member(
    store: &Store,
    account: &AccountRecord,
    named: &str,
    at: &str,
) -> ApiResult<UserRecord> {
    let found = if named.contains('@') {
        store.user_by_email(&account.id, named).await?
    } else {
        store.user_by_id(&account.id, named).await?
    };
    found.ok_or_else(|| {
        refused(
            at.to_string(),
            format!("No user {named} in account {}.", account.id),
        )
    })
}

/// Makes `assistant` an assistant of `user_id` (once), as Zoom's rules allow: both Licensed (or On-prem), not
/// the same user, at most 30 assistants.
async fn link(
    store: &Store,
    user: &UserRecord,
    assistant: &UserRecord,
    at: &str,
    now: i64,
) -> ApiResult<()> {
    let licensed = |u: &UserRecord| matches!(u.user_type, UserType::Licensed | UserType::OnPrem);
    if user.id == assistant.id {
        return Err(refused(
            at.to_string(),
            "A user is not their own assistant.",
        ));
    }
    if !licensed(user) || !licensed(assistant) {
        return Err(refused(
            at.to_string(),
            "Assistants and the users they schedule for are Licensed (type 2).",
        ));
    }
    let assistants = store.assistants(&user.id).await?;
    if assistants.iter().any(|(a, _)| a.id == assistant.id) {
        return Ok(());
    }
    if assistants.len() >= super::assistants::MAX_ASSISTANTS {
        return Err(refused(
            at.to_string(),
            "A user can have at most 30 assistants.",
        ));
    }
    Ok(store
        .add_assistant(&user.id, &assistant.id, false, now)
        .await?)
}
