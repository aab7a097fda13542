//! The limiter a server enforces with: its own memory (`rate_limit`) or Redis shared by every node
//! (`shared_limit`). Above both, so neither imports the other's home.

use crate::domain::rate_limits::{AccountLimits, Label, Limit};
use crate::error::ApiError;
use crate::gate::rate_limit::{Allowance, RateLimiter};
use crate::gate::shared_limit::RedisLimiter;

/// The limiter a server enforces with: its own memory, or Redis shared by every node.
pub enum Limiter {
    Local(RateLimiter),
    Shared(Box<RedisLimiter>),
}

impl Limiter {
    pub fn spend(
        &self,
        account_id: &str,
        limits: &AccountLimits,
        label: Label,
        daily: impl IntoIterator<Item = Limit>,
        now_ms: i64,
    ) -> Result<Option<Allowance>, ApiError> {
        match self {
            Limiter::Local(l) => l.spend(account_id, limits, label, daily, now_ms),
            Limiter::Shared(l) => l.spend(account_id, limits, label, daily, now_ms),
        }
    }

    /// Forgets what the account (every account: `None`) has spent, on every node sharing the limiter.
    pub fn forget(&self, account_id: Option<&str>) -> Result<(), ApiError> {
        match self {
            Limiter::Local(l) => {
                l.forget(account_id);
                Ok(())
            }
            Limiter::Shared(l) => l.forget(account_id),
        }
    }
}
