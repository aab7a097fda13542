//! Rate limits shared by every node: the same GCRA and daily counters as `rate_limit`, kept in Redis and applied
//! by one Lua script per call, so a check and its spending are atomic across nodes.
//!
//! Keys are namespaced by the dataset (a digest of its server key): nodes of one deployment share counters, other
//! deployments on the same Redis do not. When Redis cannot be reached the configured `Failure` applies: `Open`
//! admits the call unlimited (the API stays up), `Closed` refuses it with a 503; either way it is logged (at most
//! every ten seconds).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::domain::rate_limits::{AccountLimits, DAY_MS, Label, Limit};
use crate::error::ApiError;
use crate::gate::rate_limit::Allowance;

/// What happens to calls while Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Open,
    Closed,
}

/// KEYS[1]: the rate key; KEYS[2..]: daily keys. ARGV: now (µs), whether there is a rate quota, its interval
/// (µs), its period (µs), milliseconds until the daily keys expire, then each daily key's maximum.
/// Returns {0, remaining burst or -1, used of each daily key…}, {1} for a refused rate, {2, i} for a refused
/// daily quota i (1-based).
const SCRIPT: &str = r#"
local now = tonumber(ARGV[1])
for i = 2, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[4 + i]) then return {2, i - 1} end
end
local remaining = -1
if ARGV[2] == '1' then
  local interval, period = tonumber(ARGV[3]), tonumber(ARGV[4])
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local nxt = tat + interval
  if nxt - now > period then return {1} end
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
  remaining = math.floor((period - (nxt - now)) / interval)
end
local result = {0, remaining}
for i = 2, #KEYS do
  local used = redis.call('INCR', KEYS[i])
  if used == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
  result[#result + 1] = used
end
return result
"#;

pub struct RedisLimiter {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    script: redis::Script,
    namespace: String,
    failure: Failure,
    last_warning_ms: AtomicI64,
    /// After a failure, Redis is not asked again until then: a dead Redis costs one timeout a second, not one
    /// per call.
    retry_at_ms: AtomicI64,
}

const TIMEOUT: Duration = Duration::from_millis(250);

impl RedisLimiter {
    /// `namespace` keeps this deployment's keys apart from others on the same Redis. `ca_file`: the CA
    /// certificates (PEM) a `rediss://` server's certificate must chain to, instead of the system's.
    pub fn new(
        url: &str,
        ca_file: Option<&std::path::Path>,
        namespace: &str,
        failure: Failure,
    ) -> anyhow::Result<RedisLimiter> {
        // The error, not the URL: it may hold a password.
        let client = match ca_file {
            None => redis::Client::open(url),
            Some(path) => {
                if !url.starts_with("rediss://") {
                    anyhow::bail!("a Redis CA file needs a rediss:// URL (TLS)");
                }
                let root_cert = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("cannot read the Redis CA file {}: {e}", path.display())
                })?;
                redis::Client::build_with_tls(
                    url,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    },
                )
            }
        }
        .map_err(|e| anyhow::anyhow!("bad Redis URL: {e}"))?;
        Ok(RedisLimiter {
            client,
            idle: Mutex::new(Vec::new()),
            script: redis::Script::new(SCRIPT),
            namespace: namespace.to_string(),
            failure,
            last_warning_ms: AtomicI64::new(i64::MIN),
            retry_at_ms: AtomicI64::new(i64::MIN),
        })
    }

    /// Whether Redis answers now (for the start-up banner).
    pub fn reachable(&self) -> bool {
        crate::blocking::blocking(|| self.connection().is_ok()).unwrap_or(false)
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        Ok(self.pooled_connection()?.0)
    }

    /// An idle connection (`true`) or a new one.
    fn pooled_connection(&self) -> redis::RedisResult<(redis::Connection, bool)> {
        if let Some(con) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok((con, true));
        }
        Ok((self.new_connection()?, false))
    }

    fn new_connection(&self) -> redis::RedisResult<redis::Connection> {
        let con = self.client.get_connection_with_timeout(TIMEOUT)?;
        con.set_read_timeout(Some(TIMEOUT))?;
        con.set_write_timeout(Some(TIMEOUT))?;
        Ok(con)
    }

    /// Like `RateLimiter::spend`, for all nodes at once.
    pub fn spend(
        &self,
        account_id: &str,
        limits: &AccountLimits,
        label: Label,
        daily: impl IntoIterator<Item = Limit>,
        now_ms: i64,
    ) -> Result<Option<Allowance>, ApiError> {
        let (rate, quotas) = crate::gate::rate_limit::quotas(limits, label, daily);
        let quotas: Vec<(Limit, u32)> = quotas.into_iter().flatten().collect();
        if rate.is_none() && quotas.is_empty() {
            return Ok(None);
        }
        if rate == Some(0) {
            return Err(ApiError::RateLimit {
                category: label,
                limit: 0,
            });
        }
        if now_ms < self.retry_at_ms.load(Ordering::Relaxed) {
            return self.policy();
        }
        let today = now_ms.div_euclid(DAY_MS);
        let prefix = format!("lz:{}:{account_id}", self.namespace);
        let mut invocation = self.script.prepare_invoke();
        invocation.key(format!("{prefix}:rate:{}", label.as_str()));
        for (limit, _) in &quotas {
            invocation.key(format!("{prefix}:{}:{today}", limit.name()));
        }
        let period_us = Limit::Rate(label).period_ms() * 1_000;
        let max = rate.unwrap_or(1);
        invocation
            .arg(now_ms * 1_000)
            .arg(if rate.is_some() { "1" } else { "0" })
            .arg((period_us / i64::from(max)).max(1))
            .arg(period_us)
            .arg((today + 1) * DAY_MS - now_ms + 60_000);
        for (_, max) in &quotas {
            invocation.arg(*max);
        }
        let outcome: redis::RedisResult<Vec<i64>> = crate::blocking::blocking(|| {
            let (mut con, pooled) = self.pooled_connection()?;
            let mut result = invocation.invoke(&mut con);
            // A pooled connection Redis dropped (it restarted) fails before the script ran: the others are as
            // stale, so they go, and the call is made once more on a new connection.
            if pooled
                && let Err(e) = &result
                && (e.is_connection_dropped() || e.is_io_error())
            {
                if let Ok(mut idle) = self.idle.lock() {
                    idle.clear();
                }
                con = self.new_connection()?;
                result = invocation.invoke(&mut con);
            }
            // A connection that failed is dropped; a healthy one goes back for the next call.
            if result.is_ok()
                && let Ok(mut idle) = self.idle.lock()
            {
                idle.push(con);
            }
            result
        })
        .map_err(ApiError::internal)?;
        let reply = match outcome {
            Ok(reply) => reply,
            Err(e) => return self.unavailable(&e, now_ms),
        };
        match reply.as_slice() {
            [1] => Err(ApiError::RateLimit {
                category: label,
                limit: max,
            }),
            [2, i] => Err(ApiError::DailyRateLimit {
                category: label,
                limit: quotas[(*i - 1) as usize].1,
                reset_at_ms: (today + 1) * DAY_MS,
            }),
            [0, remaining, used @ ..] => Ok(match (quotas.last(), used.last()) {
                (Some((_, max)), Some(used)) => Some(Allowance {
                    limit: *max,
                    remaining: max.saturating_sub(*used as u32),
                }),
                _ => rate.map(|max| Allowance {
                    limit: max,
                    remaining: (*remaining).clamp(0, i64::from(max)) as u32,
                }),
            }),
            _ => Err(ApiError::internal(format!(
                "unexpected limiter reply {reply:?}"
            ))),
        }
    }

    /// Deletes the counters of the account (of every account of this deployment: `None`).
    pub fn forget(&self, account_id: Option<&str>) -> Result<(), ApiError> {
        let pattern = match account_id {
            Some(id) => format!("lz:{}:{id}:*", self.namespace),
            None => format!("lz:{}:*", self.namespace),
        };
        crate::blocking::blocking(|| -> redis::RedisResult<()> {
            let mut con = self.connection()?;
            // SCAN, not KEYS: a shared Redis is not blocked while a large keyspace is walked.
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(&mut con)?;
                if !keys.is_empty() {
                    redis::cmd("DEL").arg(keys).query::<()>(&mut con)?;
                }
                if next == 0 {
                    return Ok(());
                }
                cursor = next;
            }
        })
        .map_err(ApiError::internal)?
        .map_err(|e| {
            tracing::warn!(error = %e, "the shared rate limiter (Redis) could not be reset");
            ApiError::LimiterUnavailable
        })
    }

    fn unavailable(
        &self,
        error: &redis::RedisError,
        now_ms: i64,
    ) -> Result<Option<Allowance>, ApiError> {
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= 10_000 {
            self.last_warning_ms.store(now_ms, Ordering::Relaxed);
            tracing::warn!(error = %error, failure = ?self.failure, "the shared rate limiter (Redis) is unreachable");
        }
        self.policy()
    }

    fn policy(&self) -> Result<Option<Allowance>, ApiError> {
        match self.failure {
            Failure::Open => Ok(None),
            Failure::Closed => Err(ApiError::LimiterUnavailable),
        }
    }
}
