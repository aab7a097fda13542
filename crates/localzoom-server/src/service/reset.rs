//! Putting the data back as a test run found it, without a restart: everything (the bootstrap account and app
//! as `serve` was configured), or one account. One transaction each, so a reset during traffic is seen whole or
//! not at all.

use serde_json::Map;

use super::accounts::{self, AppKind};
use crate::domain::account::AccountPlan;
use crate::domain::error::DomainError;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;

/// What a reset puts back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetScope {
    Everything,
    Account(String),
}

/// The bootstrap account and app as this server was started with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub account_id: String,
    pub client_id: String,
    pub plan: AccountPlan,
}

/// Everything: every account but the bootstrap one goes, with its apps; the bootstrap account keeps only its
/// owner and its bootstrap app (scopes and activity as created). One account: its users, tokens, codes,
/// sessions, mail and settings go; the account, its apps (their credentials keep working) and its owner stay.
///
/// The fixture document `serve --fixtures` loaded is loaded again after the reset (the part naming the account,
/// for one account): a reset goes back to where the test run started.
pub async fn reset(
    store: &Store,
    scope: &ResetScope,
    configured: &Configured,
    start_fixture: Option<&super::fixtures::LoadableFixture>,
    (key, now): (&crate::crypto::HistoryKey, i64),
) -> ApiResult<()> {
    empty(store, scope, configured, now).await?;
    let Some(fixture) = start_fixture else {
        return Ok(());
    };
    let only = match scope {
        ResetScope::Everything => None,
        ResetScope::Account(id) => store.account(id).await?,
    };
    super::fixtures::load(store, fixture, only.as_ref(), (key, now)).await
}

async fn empty(
    store: &Store,
    scope: &ResetScope,
    configured: &Configured,
    now: i64,
) -> ApiResult<()> {
    match scope {
        ResetScope::Everything => {
            // Tokens first, then the apps they belong to.
            restore(store, &configured.account_id, Some(configured.plan), now).await?;
            for account in store.accounts().await? {
                if account.id != configured.account_id {
                    forget_account(store, &account.id).await?;
                }
            }
            store
                .delete_apps_and_accounts_except(&configured.account_id, &configured.client_id)
                .await?;
            // Mail recorded before e-mails named their account belongs to nobody: it goes too.
            store.clear_outbox(None).await?;
            let mut app = store
                .app(&configured.client_id)
                .await?
                .ok_or_else(|| ApiError::internal("bootstrap app missing"))?;
            app.scopes = accounts::default_scopes(AppKind::S2s)
                .iter()
                .map(|s| s.to_string())
                .collect();
            app.active = true;
            Ok(store.update_app(&app).await?)
        }
        ResetScope::Account(id) => {
            let plan = (*id == configured.account_id).then_some(configured.plan);
            restore(store, id, plan, now).await
        }
    }
}

async fn forget_account(store: &Store, account_id: &str) -> ApiResult<()> {
    store.clear_account(account_id).await?;
    store.clear_webhooks(Some(account_id)).await?;
    Ok(store
        .meta_delete(&super::users::feature_update_key(account_id))
        .await?)
}

/// Empties the account and gives it back its owner (same id) and Zoom's default settings; its plan is `plan`
/// when given. What an operator set from the command line (rate limits, the Basic-user cap) stays.
async fn restore(
    store: &Store,
    account_id: &str,
    plan: Option<AccountPlan>,
    now: i64,
) -> ApiResult<()> {
    let mut account = store
        .account(account_id)
        .await?
        .ok_or_else(|| DomainError::AccountNotFound(account_id.to_string()))?;
    let owner = store
        .user_by_email(account_id, &account.owner_email)
        .await?;
    forget_account(store, account_id).await?;
    account.security = Map::new();
    if let Some(plan) = plan {
        account.plan = plan;
    }
    store.update_account(&account).await?;
    let fresh = accounts::new_owner(account_id, &account.owner_email, now);
    let owner = match owner {
        Some(old) => crate::domain::user::UserRecord {
            id: old.id,
            created_at: old.created_at,
            ..fresh
        },
        None => fresh,
    };
    let owner = crate::domain::user::UserRecord {
        pmi: super::fresh_pmi(store).await?,
        ..owner
    };
    Ok(store.insert_user(&owner).await?)
}
