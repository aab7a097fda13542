//! Enforcement of Zoom's rate limits (USERS_API.md §4), per account, in this process's memory.
//!
//! Per-second (per-minute) quotas are GCRA: a quota of `n` per period admits `n` calls at once, then one call
//! every `period / n` — never the double burst a fixed window allows at its edge. Daily quotas are counters that
//! start again at 00:00 UTC. A refused call spends nothing.
//!
//! State is kept only for accounts that are not idle: a sweep drops an account once its GCRA state has fully
//! recovered and its daily counters are from an earlier day, so memory follows the accounts active now, not
//! every account ever seen.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Mutex;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use localzoom_api::headers;

use crate::domain::rate_limits::{AccountLimits, DAY_MS, Label, Limit};
use crate::error::ApiError;

const SHARDS: usize = 16;
/// A shard is swept when it holds this many accounts, or twice as many as after its last sweep.
const FIRST_SWEEP: usize = 1_024;
const NS_PER_MS: i64 = 1_000_000;

/// What the caller may still do in the quota that bound this call; sent on success as `X-RateLimit-Limit` and
/// `X-RateLimit-Remaining`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
}

pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static(headers::RATE_LIMIT_LIMIT);
pub const X_RATELIMIT_REMAINING: HeaderName =
    HeaderName::from_static(headers::RATE_LIMIT_REMAINING);

pub struct RateLimiter {
    shards: Vec<Padded>,
}

/// FNV-1a: keys are account ids of authenticated callers, not attacker-chosen strings, so a keyed hash's cost
/// (SipHash, twice per call) buys nothing here.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

type FnvBuild = BuildHasherDefault<Fnv>;

/// One shard per cache line pair, so that cores locking different shards do not contend for one line.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

struct Shard {
    accounts: HashMap<Box<str>, AccountState, FnvBuild>,
    sweep_at: usize,
}

#[derive(Default)]
struct AccountState {
    /// GCRA's theoretical arrival time per label, in nanoseconds since the epoch.
    tat_ns: [i64; 4],
    /// The UTC day (days since the epoch) `daily` counts.
    day: i64,
    daily: [u32; 6],
}

impl AccountState {
    fn idle(&self, now_ns: i64, today: i64) -> bool {
        self.tat_ns.iter().all(|&t| t <= now_ns) && (self.day < today || self.daily == [0; 6])
    }
}

fn daily_slot(limit: Limit) -> usize {
    match limit {
        Limit::Daily(label) => label.index(),
        Limit::HeavySharedDaily => 4,
        _ => 5,
    }
}

/// The quotas a call of `label` spends on this account: its rate, if any, and those of the daily quotas `daily`
/// (at most three) the account has. Both limiters start from this, so they agree on what applies.
pub(crate) fn quotas(
    limits: &AccountLimits,
    label: Label,
    daily: impl IntoIterator<Item = Limit>,
) -> (Option<u32>, [Option<(Limit, u32)>; 3]) {
    let mut quotas = [None; 3];
    for (slot, limit) in quotas.iter_mut().zip(daily) {
        *slot = limits.get(limit).map(|max| (limit, max));
    }
    (limits.get(Limit::Rate(label)), quotas)
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            shards: (0..SHARDS)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        accounts: HashMap::default(),
                        sweep_at: FIRST_SWEEP,
                    }))
                })
                .collect(),
        }
    }
}

impl RateLimiter {
    /// Spends one call of `account_id` of `label`: its per-second (per-minute) quota and the daily quotas
    /// `daily` (at most three), each if the account has it. All are checked before any is spent. The allowance
    /// returned is the last daily quota's, or the rate's when there is none.
    pub fn spend(
        &self,
        account_id: &str,
        limits: &AccountLimits,
        label: Label,
        daily: impl IntoIterator<Item = Limit>,
        now_ms: i64,
    ) -> Result<Option<Allowance>, ApiError> {
        let (rate, quotas) = quotas(limits, label, daily);
        if rate.is_none() && quotas.iter().all(Option::is_none) {
            return Ok(None);
        }
        let now_ns = now_ms.saturating_mul(NS_PER_MS);
        let today = now_ms.div_euclid(DAY_MS);
        // The shard comes from middle bits: the map inside keeps the top ones for its own tags.
        let hash = FnvBuild::default().hash_one(account_id);
        let shard = &self.shards[(hash >> 32) as usize % SHARDS];
        let mut shard = shard
            .0
            .lock()
            .map_err(|_| ApiError::internal("rate limiter lock poisoned"))?;
        shard.sweep_if_due(now_ns, today);
        let state = match shard.accounts.get_mut(account_id) {
            Some(state) => state,
            None => shard.accounts.entry(account_id.into()).or_default(),
        };
        if state.day != today {
            state.day = today;
            state.daily = [0; 6];
        }

        // Daily quotas first: when both kinds are spent, the caller needs to know it cannot retry today.
        for (limit, max) in quotas.iter().flatten() {
            if state.daily[daily_slot(*limit)] >= *max {
                return Err(ApiError::DailyRateLimit {
                    category: label,
                    limit: *max,
                    reset_at_ms: (today + 1) * DAY_MS,
                });
            }
        }
        let mut allowance = None;
        if let Some(max) = rate {
            if max == 0 {
                return Err(ApiError::RateLimit {
                    category: label,
                    limit: 0,
                });
            }
            let period = Limit::Rate(label).period_ms() * NS_PER_MS;
            // Quotas beyond one call per nanosecond are treated as exactly that.
            let interval = (period / i64::from(max)).max(1);
            let tat = &mut state.tat_ns[label.index()];
            let next = (*tat).max(now_ns) + interval;
            if next - now_ns > period {
                return Err(ApiError::RateLimit {
                    category: label,
                    limit: max,
                });
            }
            *tat = next;
            allowance = Some(Allowance {
                limit: max,
                remaining: ((period - (next - now_ns)) / interval).clamp(0, i64::from(max)) as u32,
            });
        }
        for (limit, max) in quotas.iter().flatten() {
            let used = &mut state.daily[daily_slot(*limit)];
            *used += 1;
            // A daily quota is what a caller paces a day of work by, so it is the one reported.
            allowance = Some(Allowance {
                limit: *max,
                remaining: max - *used,
            });
        }
        Ok(allowance)
    }

    /// Forgets what the account (every account: `None`) has spent.
    pub fn forget(&self, account_id: Option<&str>) {
        for shard in &self.shards {
            if let Ok(mut shard) = shard.0.lock() {
                match account_id {
                    Some(id) => {
                        shard.accounts.remove(id);
                    }
                    None => shard.accounts.clear(),
                }
            }
        }
    }

    /// How many accounts have limiter state now.
    pub fn tracked_accounts(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().map(|s| s.accounts.len()).unwrap_or(0))
            .sum()
    }
}

impl Shard {
    fn sweep_if_due(&mut self, now_ns: i64, today: i64) {
        if self.accounts.len() < self.sweep_at {
            return;
        }
        self.accounts.retain(|_, state| !state.idle(now_ns, today));
        self.sweep_at = (self.accounts.len() * 2).max(FIRST_SWEEP);
    }
}

tokio::task_local! {
    /// The allowance of the request being served, for its response headers: set where the request is admitted,
    /// read by the router's outermost layer, so handlers need not thread it through.
    static ALLOWANCE: Cell<Option<Allowance>>;
}

/// Records the allowance of the request this task is serving.
pub fn report(allowance: Option<Allowance>) {
    if allowance.is_some() {
        let _ = ALLOWANCE.try_with(|cell| cell.set(allowance));
    }
}

/// Runs a request so that `report` reaches its response as `X-RateLimit-Limit` / `X-RateLimit-Remaining`.
pub async fn with_allowance_headers(request: impl Future<Output = Response>) -> Response {
    let (mut response, allowance) = ALLOWANCE
        .scope(Cell::new(None), async {
            let response = request.await;
            (response, ALLOWANCE.with(Cell::get))
        })
        .await;
    // A 429 carries the headers of the quota that refused it.
    if let Some(a) = allowance
        && response.status() != StatusCode::TOO_MANY_REQUESTS
    {
        let headers = response.headers_mut();
        headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(a.limit));
        headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(a.remaining));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rate_limits::{Overrides, Plan};

    const NOON: i64 = 1_767_268_800_000; // 2026-01-01T12:00:00Z

    fn plan(plan: Plan) -> AccountLimits {
        AccountLimits {
            plan,
            overrides: Overrides::default(),
        }
    }

    /// Spends one call of `label` as the gate does: its rate and its plan's daily quota.
    fn call(
        limiter: &RateLimiter,
        account: &str,
        limits: &AccountLimits,
        label: Label,
        now: i64,
    ) -> Result<Option<Allowance>, ApiError> {
        limiter.spend(account, limits, label, Limit::daily_for(label), now)
    }

    fn burst(limiter: &RateLimiter, limits: &AccountLimits, label: Label, now: i64) -> u32 {
        let mut admitted = 0;
        while call(limiter, "acct", limits, label, now).is_ok() {
            admitted += 1;
            assert!(admitted < 100_000, "no limit");
        }
        admitted
    }

    #[test]
    fn a_burst_admits_exactly_the_plan_rate_of_every_label_then_one_per_interval() {
        for p in [Plan::Free, Plan::Pro, Plan::BusinessPlus] {
            for label in Label::ALL {
                let limiter = RateLimiter::default();
                let limits = plan(p);
                let max = limits.get(Limit::Rate(label)).unwrap();
                assert_eq!(
                    burst(&limiter, &limits, label, NOON),
                    max,
                    "{p:?} {label:?}"
                );
                assert_eq!(
                    call(&limiter, "acct", &limits, label, NOON),
                    Err(ApiError::RateLimit {
                        category: label,
                        limit: max
                    })
                );
                // One interval later exactly one more call fits; a full period later, a whole burst.
                let period = Limit::Rate(label).period_ms();
                let interval = (period + i64::from(max) - 1) / i64::from(max);
                assert_eq!(burst(&limiter, &limits, label, NOON + interval), 1);
                assert_eq!(
                    burst(&limiter, &limits, label, NOON + interval + period),
                    max
                );
            }
        }
    }

    #[test]
    fn labels_and_accounts_have_separate_quotas() {
        let limiter = RateLimiter::default();
        let pro = plan(Plan::Pro);
        assert_eq!(burst(&limiter, &pro, Label::Light, NOON), 30);
        assert!(call(&limiter, "acct", &pro, Label::Medium, NOON).is_ok());
        assert!(call(&limiter, "other", &pro, Label::Light, NOON).is_ok());
    }

    #[test]
    fn daily_quotas_end_the_day_and_start_again_at_midnight_utc() {
        let limiter = RateLimiter::default();
        let mut limits = plan(Plan::Free);
        limits.overrides.set(Limit::Rate(Label::Heavy), Some(None));
        for i in 0..1_000 {
            let allowance = call(&limiter, "acct", &limits, Label::Heavy, NOON).unwrap();
            assert_eq!(
                allowance,
                Some(Allowance {
                    limit: 1_000,
                    remaining: 999 - i
                })
            );
        }
        let midnight = NOON + 12 * 3_600_000;
        assert_eq!(
            call(&limiter, "acct", &limits, Label::Heavy, midnight - 1),
            Err(ApiError::DailyRateLimit {
                category: Label::Heavy,
                limit: 1_000,
                reset_at_ms: midnight
            })
        );
        assert!(call(&limiter, "acct", &limits, Label::Heavy, midnight).is_ok());
    }

    #[test]
    fn heavy_and_resource_intensive_share_one_daily_quota_on_paid_plans() {
        let limiter = RateLimiter::default();
        let mut limits = plan(Plan::Pro);
        limits.overrides.set(Limit::HeavySharedDaily, Some(Some(3)));
        assert!(call(&limiter, "acct", &limits, Label::Heavy, NOON).is_ok());
        assert!(call(&limiter, "acct", &limits, Label::ResourceIntensive, NOON).is_ok());
        assert!(call(&limiter, "acct", &limits, Label::Heavy, NOON + 1_000).is_ok());
        let refused = call(
            &limiter,
            "acct",
            &limits,
            Label::ResourceIntensive,
            NOON + 60_000,
        );
        assert!(matches!(
            refused,
            Err(ApiError::DailyRateLimit { limit: 3, .. })
        ));
        // Light has no daily quota on Pro: it reports its per-second allowance.
        assert_eq!(
            call(&limiter, "acct", &limits, Label::Light, NOON),
            Ok(Some(Allowance {
                limit: 30,
                remaining: 29
            }))
        );
    }

    #[test]
    fn a_refused_call_spends_nothing() {
        let limiter = RateLimiter::default();
        let mut limits = plan(Plan::Free);
        limits
            .overrides
            .set(Limit::Daily(Label::Light), Some(Some(5)));
        assert_eq!(burst(&limiter, &limits, Label::Light, NOON), 4);
        // The four per-second refusals did not use the day's quota: one more call fits a second later.
        assert!(call(&limiter, "acct", &limits, Label::Light, NOON + 1_000).is_ok());
        assert!(matches!(
            call(&limiter, "acct", &limits, Label::Light, NOON + 2_000),
            Err(ApiError::DailyRateLimit { .. })
        ));
    }

    #[test]
    fn idle_accounts_are_forgotten_so_memory_stays_bounded() {
        let limiter = RateLimiter::default();
        let (pro, free) = (plan(Plan::Pro), plan(Plan::Free));
        // Accounts still inside their quotas' windows are all kept: forgetting one would reset its limits.
        for i in 0..50_000 {
            call(&limiter, &format!("busy{i}"), &pro, Label::Light, NOON).unwrap();
        }
        call(&limiter, "daily", &free, Label::Light, NOON).unwrap();
        assert_eq!(limiter.tracked_accounts(), 50_001);
        // The next day, 200,000 new accounts call, 50 per millisecond: each is idle 34 ms after its call, so
        // only the recently active ones (and not yesterday's daily counters) are kept.
        let tomorrow = NOON + DAY_MS;
        for i in 0..200_000 {
            let now = tomorrow + i / 50;
            call(&limiter, &format!("new{i}"), &pro, Label::Light, now).unwrap();
        }
        let tracked = limiter.tracked_accounts();
        assert!(
            tracked < SHARDS * 2 * FIRST_SWEEP,
            "{tracked} accounts tracked"
        );
    }
}
