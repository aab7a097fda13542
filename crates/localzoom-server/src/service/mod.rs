//! One function per operation: resolve what the request names, let `domain` decide, persist in one transaction.

pub mod accounts;
pub mod assistants;
pub mod lifecycle;
pub mod oauth;
pub mod portable;
pub mod users;

use crate::domain::user::UserRecord;
use crate::error::ApiError;
use crate::gate::Principal;
use crate::store::{Store, StoreResult};

/// Resolves a `{userId}` path value: `me`, an e-mail (case-insensitive) or an id, within the caller's account.
/// A user of another account is indistinguishable from a missing one.
pub fn resolve_user(
    store: &dyn Store,
    principal: &Principal,
    user_ref: &str,
) -> StoreResult<UserRecord> {
    let account = &principal.account_id;
    let found = if user_ref == "me" {
        store.user_by_id(account, &principal.user_id)?
    } else if user_ref.contains('@') {
        store.user_by_email(account, user_ref)?
    } else {
        store.user_by_id(account, user_ref)?
    };
    found.ok_or_else(|| ApiError::UserNotFound(user_ref.to_string()))
}
