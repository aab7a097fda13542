//! Who acts: the account, the user a token acts for (`me`), the app, its scopes, and the user's role and the
//! account's limits as they are now.

use super::rate_limits::AccountLimits;
use super::user::Role;

/// Who is calling: the account, the user the token acts for (`me`), the app and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// The SHA-256 of the bearer token the principal came from, to check it again inside a write.
    pub token_sha256: [u8; 32],
    /// The acting user's role now (not when the token was issued).
    pub role: Role,
    /// The account's rate limits now (its plan and overrides).
    pub limits: AccountLimits,
    /// Whether the account had any webhook subscription when the token was looked up (inside a write, in the
    /// write's own transaction): a write of an account nobody listens to need not read its subscriptions.
    pub account_listened: bool,
    /// The account's number (`account_number` of a user's view), read with the token: a read of a user needs no
    /// read of the account for it.
    pub account_number: i64,
}
