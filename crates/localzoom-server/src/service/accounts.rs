//! Accounts, apps and access tokens: the bootstrap of an empty database and the S2S token grant.

use localzoom_api::TokenResponse;
use serde_json::Map;

use crate::crypto;
use crate::domain::account::AccountPlan;
use crate::domain::error::DomainError;
use crate::domain::user::{Role, Status, UserRecord, UserType, email_domain};
use crate::error::{ApiError, ApiResult, OAuthFailure};
use crate::store::{AccountRecord, AppRecord, Store, TokenKind, TokenRecord};

/// Access tokens live one hour, as Zoom's do.
pub const TOKEN_TTL_SECONDS: u64 = 3600;

/// The classic admin scopes a Server-to-Server app holds by default.
pub const S2S_ADMIN_SCOPES: &[&str] = &[
    "user:read:admin",
    "user:write:admin",
    "account:read:admin",
    "account:write:admin",
    "scim2",
];

pub const DEFAULT_OWNER_EMAIL: &str = "owner@localzoom.test";

const META_BOOTSTRAP_ACCOUNT: &str = "bootstrap_account_id";
const META_BOOTSTRAP_CLIENT: &str = "bootstrap_client_id";
const META_SERVER_KEY: &str = "server_key";

/// What `serve` and `token` are told about the bootstrap account.
#[derive(Debug, Clone, Default)]
pub struct BootstrapRequest {
    /// The plan of a new account (`pro` when none is given); on a used database, see `apply_plan`.
    pub plan: Option<AccountPlan>,
    /// Move a used database's account to `plan` (what `serve --plan` does); otherwise a differing plan is only
    /// reported back, so a `LOCALZOOM_PLAN` exported for `serve` cannot undo `accounts set-plan` through `token`.
    pub apply_plan: bool,
    /// The owner of a new account (`owner@localzoom.test` when none is given); must be a used database's owner.
    pub owner_email: Option<String>,
    pub account_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapOutcome {
    pub account_id: String,
    pub owner_user_id: String,
    pub client_id: String,
    /// Set when this run generated the secret: it is shown once and only its hash is kept.
    pub generated_secret: Option<String>,
    pub created: bool,
    pub plan: AccountPlan,
    /// What became of a requested plan that differed from the account's.
    pub plan_note: Option<PlanNote>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanNote {
    /// The account was moved to the requested plan from this one.
    MovedFrom(AccountPlan),
    /// This plan was requested but not applied (`apply_plan` was off).
    NotApplied(AccountPlan),
}

/// Creates the account, its owner and one Server-to-Server app on an empty database; on a used one, checks
/// the given credentials and makes sure they work.
pub async fn bootstrap(
    store: &Store,
    req: &BootstrapRequest,
    now: i64,
) -> ApiResult<BootstrapOutcome> {
    if store.meta_get(META_SERVER_KEY).await?.is_none() {
        store
            .meta_set(META_SERVER_KEY, &crypto::new_secret())
            .await?;
    }
    if let Some(account_id) = store.meta_get(META_BOOTSTRAP_ACCOUNT).await? {
        return reuse_bootstrap(store, req, account_id).await;
    }
    let account_id = req.account_id.clone().unwrap_or_else(crypto::new_id);
    let plan = req.plan.unwrap_or(AccountPlan::DEFAULT);
    let owner_email = req
        .owner_email
        .clone()
        .unwrap_or_else(|| DEFAULT_OWNER_EMAIL.into());
    let (_, owner) = create_account(store, &account_id, plan, &owner_email, now).await?;
    let client_id = req.client_id.clone().unwrap_or_else(crypto::new_id);
    let (secret, generated_secret) = match &req.client_secret {
        Some(secret) => (secret.clone(), None),
        None => {
            let secret = crypto::new_secret();
            (secret.clone(), Some(secret))
        }
    };
    store
        .insert_app(&bootstrap_app(
            &client_id,
            &secret,
            &account_id,
            &owner.id,
            now,
        ))
        .await?;
    store.meta_set(META_BOOTSTRAP_ACCOUNT, &account_id).await?;
    store.meta_set(META_BOOTSTRAP_CLIENT, &client_id).await?;
    Ok(BootstrapOutcome {
        account_id,
        owner_user_id: owner.id,
        client_id,
        generated_secret,
        created: true,
        plan,
        plan_note: None,
    })
}

/// The account `serve` made when it first ran on this database, if it has.
pub async fn bootstrap_account_id(store: &Store) -> ApiResult<Option<String>> {
    Ok(store.meta_get(META_BOOTSTRAP_ACCOUNT).await?)
}

/// A used database: the given credentials must be the ones it holds. Nothing is registered here (a mistyped
/// client id must not become a new app); apps are added with `localzoom apps create`. A given plan is applied.
async fn reuse_bootstrap(
    store: &Store,
    req: &BootstrapRequest,
    account_id: String,
) -> ApiResult<BootstrapOutcome> {
    if let Some(given) = &req.account_id
        && given != &account_id
    {
        return Err(DomainError::Invalid(format!(
            "this database belongs to account {account_id}, not {given}: leave out --account-id \
             (LOCALZOOM_ACCOUNT_ID) to use it, or give --database (LOCALZOOM_DATABASE) a new file for account {given}"
        )).into());
    }
    let mut account = store
        .account(&account_id)
        .await?
        .ok_or_else(|| ApiError::internal("bootstrap account missing"))?;
    if let Some(given) = &req.owner_email
        && !given.eq_ignore_ascii_case(&account.owner_email)
    {
        return Err(DomainError::Invalid(format!(
            "this database's account {account_id} is owned by {}, not {given}: --owner-email \
             (LOCALZOOM_OWNER_EMAIL) only names the owner of a new database; leave it out to use this one",
            account.owner_email
        )).into());
    }
    let owner = store
        .user_by_email(&account_id, &account.owner_email)
        .await?
        .ok_or_else(|| ApiError::internal("bootstrap owner missing"))?;
    let stored_client = store
        .meta_get(META_BOOTSTRAP_CLIENT)
        .await?
        .ok_or_else(|| ApiError::internal("bootstrap app missing"))?;
    let client_id = req.client_id.clone().unwrap_or(stored_client.clone());
    match store.app(&client_id).await? {
        None => {
            return Err(DomainError::Invalid(format!(
                "this database has no app with client id {client_id}: leave out --client-id \
                 (LOCALZOOM_CLIENT_ID) to use its bootstrap app {stored_client}, or register another with \
                 `localzoom apps create --account {account_id} --type s2s`"
            )).into());
        }
        Some(app) if app.account_id != account_id => {
            return Err(DomainError::Invalid(format!(
                "client id {client_id} belongs to another account than this database's bootstrap account \
                 {account_id}"
            )).into());
        }
        Some(app) if app.kind != AppKind::S2s => {
            return Err(DomainError::Invalid(format!(
                "client id {client_id} is a user-managed app; the bootstrap app must be a Server-to-Server app"
            )).into());
        }
        Some(app) if !app.active => {
            return Err(DomainError::Invalid(format!(
                "client id {client_id} is deactivated: leave out --client-id (LOCALZOOM_CLIENT_ID) to use the \
                 bootstrap app {stored_client}"
            )).into());
        }
        Some(app) => {
            if let Some(secret) = &req.client_secret
                && !crypto::constant_time_eq(
                    &app.client_secret_sha256,
                    &crypto::sha256(secret.as_bytes()),
                )
            {
                return Err(DomainError::Invalid(format!(
                    "client id {client_id} has another secret in this database: give its secret, or leave out \
                     --client-secret (LOCALZOOM_CLIENT_SECRET)"
                )).into());
            }
        }
    }
    // Another Server-to-Server app of the account may be named for this run; the bootstrap app stays what it was.
    let mut plan_note = None;
    if let Some(plan) = req.plan
        && plan != account.plan
    {
        if req.apply_plan {
            plan_note = Some(PlanNote::MovedFrom(std::mem::replace(
                &mut account.plan,
                plan,
            )));
            store.update_account(&account).await?;
        } else {
            plan_note = Some(PlanNote::NotApplied(plan));
        }
    }
    Ok(BootstrapOutcome {
        account_id,
        owner_user_id: owner.id,
        client_id,
        generated_secret: None,
        created: false,
        plan: account.plan,
        plan_note,
    })
}

/// An active, Licensed, work-email user with the role Owner.
pub fn new_owner(account_id: &str, email: &str, now: i64) -> UserRecord {
    let local = email.split('@').next().unwrap_or("owner");
    UserRecord {
        first_name: local.to_string(),
        display_name: local.to_string(),
        user_type: UserType::Licensed,
        role: Role::Owner,
        status: Status::Active,
        verified: true,
        ..UserRecord::new(crypto::new_id(), account_id, email, now)
    }
}

pub use crate::domain::account::AppKind;

/// The classic scope set an app of this kind holds unless told otherwise.
pub fn default_scopes(kind: AppKind) -> &'static [&'static str] {
    match kind {
        AppKind::S2s => S2S_ADMIN_SCOPES,
        AppKind::User => USER_APP_SCOPES,
    }
}
/// The classic user-level scopes a user-managed app holds by default.
pub const USER_APP_SCOPES: &[&str] = &["user:read", "user:write"];

/// The bootstrap account's Server-to-Server app, with the credentials given or generated at start-up.
fn bootstrap_app(
    client_id: &str,
    secret: &str,
    account_id: &str,
    owner_id: &str,
    now: i64,
) -> AppRecord {
    new_app(
        client_id,
        secret,
        account_id,
        owner_id,
        AppKind::S2s,
        None,
        None,
        now,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn new_app(
    client_id: &str,
    secret: &str,
    account_id: &str,
    owner_id: &str,
    kind: AppKind,
    scopes: Option<Vec<String>>,
    redirect_uri: Option<String>,
    now: i64,
) -> AppRecord {
    AppRecord {
        client_id: client_id.to_string(),
        client_secret_sha256: crypto::sha256(secret.as_bytes()).to_vec(),
        account_id: account_id.to_string(),
        owner_user_id: owner_id.to_string(),
        kind,
        scopes: scopes
            .unwrap_or_else(|| default_scopes(kind).iter().map(|s| s.to_string()).collect()),
        active: true,
        created_at: now,
        redirect_uri,
    }
}

/// Creates an account and its owner (role Owner, Licensed, work-email login; the managed domain is the owner's).
pub async fn create_account(
    store: &Store,
    account_id: &str,
    plan: AccountPlan,
    owner_email: &str,
    now: i64,
) -> ApiResult<(AccountRecord, UserRecord)> {
    if !crate::domain::user::is_valid_email(owner_email) {
        return Err(
            DomainError::Invalid(format!("{owner_email:?} is not an e-mail address")).into(),
        );
    }
    if store.email_exists(owner_email).await? {
        return Err(DomainError::EmailTaken(owner_email.to_string()).into());
    }
    if store.account(account_id).await?.is_some() {
        return Err(DomainError::Invalid(format!("account {account_id} exists already")).into());
    }
    let account = AccountRecord {
        id: account_id.to_string(),
        account_number: crypto::random_digits(9),
        plan,
        owner_email: owner_email.to_string(),
        managed_domain: Some(email_domain(owner_email).to_lowercase()),
        max_basic_users: None,
        password_history_count: 5,
        password_changes_per_day: 5,
        security: Map::new(),
        created_at: now,
        rate_limit_overrides: Default::default(),
    };
    store.insert_account(&account).await?;
    let owner = UserRecord {
        pmi: super::fresh_pmi(store).await?,
        ..new_owner(account_id, owner_email, now)
    };
    store.insert_user(&owner).await?;
    Ok((account, owner))
}

/// Registers an app in an account, acting for (S2S) or owned by the account owner; returns it with its
/// client secret, which is shown once and stored only as a hash.
pub async fn create_app(
    store: &Store,
    account_id: &str,
    kind: AppKind,
    scopes: Option<Vec<String>>,
    redirect_uri: Option<String>,
    now: i64,
) -> ApiResult<(AppRecord, String)> {
    // The authorization-code flow sends the browser back to it; an app without one could never be authorized.
    if kind == AppKind::User && redirect_uri.as_deref().is_none_or(str::is_empty) {
        return Err(DomainError::Invalid(
            "a user-managed app needs a redirect URI (--redirect-uri)".into(),
        )
        .into());
    }
    let account = store
        .account(account_id)
        .await?
        .ok_or_else(|| DomainError::AccountNotFound(account_id.to_string()))?;
    let owner = store
        .user_by_email(&account.id, &account.owner_email)
        .await?
        .ok_or_else(|| ApiError::internal("account owner missing"))?;
    let secret = crypto::new_secret();
    let app = new_app(
        &crypto::new_id(),
        &secret,
        &account.id,
        &owner.id,
        kind,
        scopes,
        redirect_uri,
        now,
    );
    store.insert_app(&app).await?;
    Ok((app, secret))
}

/// Deactivates an app: its tokens stop working at once (the token lookup checks the app).
pub async fn deactivate_app(store: &Store, client_id: &str) -> ApiResult<AppRecord> {
    let mut app = store
        .app(client_id)
        .await?
        .ok_or_else(|| DomainError::Invalid(format!("no app with client id {client_id}")))?;
    app.active = false;
    store.update_app(&app).await?;
    Ok(app)
}

/// The server's own secret key (page tokens, password fingerprints); created by `bootstrap`.
pub async fn server_key(store: &Store) -> ApiResult<Vec<u8>> {
    store
        .meta_get(META_SERVER_KEY)
        .await?
        .map(String::into_bytes)
        .ok_or_else(|| ApiError::internal("server key missing"))
}

/// Mints an access token of an app acting for its owner (Server-to-Server); returns it in clear (only its digest
/// is stored).
pub async fn mint_token(store: &Store, app: &AppRecord, now: i64) -> ApiResult<TokenResponse> {
    issue_tokens(store, app, &app.owner_user_id, None, false, now).await
}

/// Refresh tokens of user-level apps live 90 days.
pub const REFRESH_TTL_MS: i64 = 90 * 24 * 3600 * 1000;

/// Issues an access token for `user_id` through `app`, with a refresh token when `refresh` (user-level grants),
/// both tied to the sign-in `session_id` if any.
pub async fn issue_tokens(
    store: &Store,
    app: &AppRecord,
    user_id: &str,
    session_id: Option<String>,
    refresh: bool,
    now: i64,
) -> ApiResult<TokenResponse> {
    // Tokens a day past expiry are of no use to anyone: each mint sweeps a few, so the table stays bounded.
    store.purge_expired_tokens(now - 24 * 3600 * 1000).await?;
    let issue = async |kind: TokenKind, ttl_ms: i64| -> ApiResult<String> {
        let token = crypto::new_secret();
        store
            .insert_token(&TokenRecord {
                token_sha256: crypto::sha256(token.as_bytes()).to_vec(),
                client_id: app.client_id.clone(),
                account_id: app.account_id.clone(),
                user_id: user_id.to_string(),
                scopes: app.scopes.clone(),
                issued_at: now,
                expires_at: now + ttl_ms,
                revoked: false,
                kind,
                session_id: session_id.clone(),
                role: None,
                limits: None,
                account_listened: false,
                account_number: 0,
            })
            .await?;
        Ok(token)
    };
    let access_token = issue(TokenKind::Access, (TOKEN_TTL_SECONDS as i64) * 1000).await?;
    let refresh_token = if refresh {
        Some(issue(TokenKind::Refresh, REFRESH_TTL_MS).await?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "bearer".into(),
        expires_in: TOKEN_TTL_SECONDS,
        scope: app.scopes.join(" "),
        refresh_token,
        api_url: None,
    })
}

/// Checks an app's client credentials; `Ok(None)` when they do not match an active app.
pub async fn authenticate_client(
    store: &Store,
    client_id: &str,
    secret: &str,
) -> ApiResult<Option<AppRecord>> {
    let digest = crypto::sha256(secret.as_bytes());
    let app = store.app(client_id).await?;
    // Compare against a dummy digest when the app is unknown, so timing does not tell which client ids exist.
    let expected = app
        .as_ref()
        .map(|a| a.client_secret_sha256.clone())
        .unwrap_or_else(|| vec![0; 32]);
    let matches = crypto::constant_time_eq(&expected, &digest);
    Ok(app.filter(|a| matches && a.active))
}

/// The `account_credentials` grant: HTTP Basic client credentials plus the account id.
pub async fn account_credentials_grant(
    store: &Store,
    client_id: &str,
    secret: &str,
    account_id: &str,
    now: i64,
) -> Result<TokenResponse, OAuthFailure> {
    let app = authenticate_client(store, client_id, secret)
        .await
        .map_err(OAuthFailure::from)?
        .filter(|app| app.kind == AppKind::S2s)
        .ok_or(OAuthFailure::InvalidClient)?;
    if app.account_id != account_id {
        return Err(OAuthFailure::InvalidAccount);
    }
    mint_token(store, &app, now)
        .await
        .map_err(OAuthFailure::from)
}

/// Bulk-creates `count` active, Licensed, work-email members in the account, numbered from `first`
/// (`seed{n}@seed.localzoom.test`): the fast path behind `localzoom seed`, for load tests.
pub async fn seed_users(
    store: &Store,
    account_id: &str,
    first: u64,
    count: u64,
    now: i64,
) -> ApiResult<()> {
    for n in first..first + count {
        let mut user = new_owner(account_id, &format!("seed{n}@seed.localzoom.test"), now);
        user.role = Role::Member;
        user.first_name = "Seed".into();
        user.last_name = format!("User {n}");
        user.display_name = format!("Seed User {n}");
        user.pmi = super::fresh_pmi(store).await?;
        store.insert_user(&user).await?;
    }
    Ok(())
}
