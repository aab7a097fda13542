//! One function per operation: resolve what the request names, let `domain` decide, persist in one transaction.

pub mod accounts;
pub mod assistants;
pub mod console;
pub mod fixtures;
pub mod lifecycle;
pub mod mail;
pub mod media;
pub mod oauth;
pub mod portable;
pub mod reset;
pub mod scim;
pub mod settings;
pub mod user_resources;
pub mod users;
pub mod webhooks;

use crate::crypto;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::user::UserRecord;
use crate::error::{ApiError, ApiResult};
use crate::store::{Store, UserKey};

/// A Personal Meeting ID no user holds: ten random digits, drawn again on the rare collision (PMIs are unique
/// across Zoom).
pub async fn fresh_pmi(store: &Store) -> ApiResult<i64> {
    loop {
        let pmi = crypto::random_digits(10);
        if !store.pmi_taken(pmi, "").await? {
            return Ok(pmi);
        }
    }
}

/// Resolves a `{userId}` path value: `me`, an e-mail (case-insensitive) or an id, within the caller's account.
/// A user of another account is indistinguishable from a missing one.
pub async fn resolve_user(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
) -> ApiResult<UserRecord> {
    let account = &principal.account_id;
    let found = match user_key(principal, user_ref) {
        UserKey::Id(id) => store.user_by_id(account, id).await?,
        UserKey::Email(email) => store.user_by_email(account, email).await?,
    };
    found.ok_or_else(|| user_not_found(user_ref))
}

/// The user a `{userId}` path value names: `me` is the caller.
pub fn user_key<'a>(principal: &'a Principal, user_ref: &'a str) -> UserKey<'a> {
    if user_ref == "me" {
        UserKey::Id(&principal.user_id)
    } else if user_ref.contains('@') {
        UserKey::Email(user_ref)
    } else {
        UserKey::Id(user_ref)
    }
}

/// The refusal of a `{userId}` that names no user of the caller's account.
pub fn user_not_found(user_ref: &str) -> ApiError {
    DomainError::UserNotFound(user_ref.to_string()).into()
}

#[cfg(test)]
mod fuzz_targets {
    use super::*;
    use crate::domain::rate_limits::{AccountLimits, Plan};
    use crate::domain::user::Role;
    use crate::fuzz::fuzz;
    use crate::store::Database;

    /// Any `{userId}` text finds a user of the caller's account or is a 404 naming it; never a panic, never another
    /// account's user, never a storage error.
    #[test]
    fn fuzz_user_references() {
        let dir = std::env::temp_dir().join(format!("localzoom-fuzz-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("fuzz.db").display());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = runtime.block_on(Database::open(&url)).unwrap();
        let request = accounts::BootstrapRequest {
            account_id: Some("FuzzAccount".into()),
            ..Default::default()
        };
        let outcome = runtime
            .block_on(db.write(move |tx| async move {
                let store = &tx;
                accounts::bootstrap(store, &request, 0).await
            }))
            .unwrap();
        runtime
            .block_on(db.write(move |tx| async move {
                let store = &tx;

                accounts::create_account(
                    store,
                    "Other",
                    crate::domain::account::AccountPlan::Pro,
                    "o@other.test",
                    0,
                )
                .await
            }))
            .unwrap();
        let principal = Principal {
            account_id: "FuzzAccount".into(),
            user_id: outcome.owner_user_id.clone(),
            client_id: outcome.client_id.clone(),
            scopes: Vec::new(),
            token_sha256: [0; 32],
            role: Role::Owner,
            limits: AccountLimits {
                plan: Plan::Pro,
                overrides: Default::default(),
            },
            account_listened: false,
            account_number: 0,
        };
        fuzz(
            "user_references",
            &[
                b"me",
                b"@",
                b"owner@localzoom.test",
                b"o@other.test",
                b"%",
                b"/",
                b"..",
                b"\0",
                b"\xc3\xa9",
            ],
            |input| {
                let text = String::from_utf8_lossy(input);
                let found = runtime.block_on(db.read(|store| async {
                    let store = store;
                    resolve_user(&store, &principal, &text).await
                }));
                match found {
                    Ok(user) => assert_eq!(user.account_id, "FuzzAccount"),
                    Err(e) => assert_eq!(e, DomainError::UserNotFound(text.to_string()).into()),
                }
            },
        );
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
