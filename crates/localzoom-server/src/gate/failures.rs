//! Failures counted per key in a window, so that a secret cannot be guessed at request speed: failed client
//! authentication at the OAuth endpoints (per client id), failed sign-ins on the authorization page (per user and
//! per app). Kept per node, in memory, with bounded size.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many failed attempts per key in one window.
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW_MS: i64 = 60_000;
/// Failed sign-ins per app and window, over all its users.
pub const MAX_SIGN_IN_FAILURES_PER_APP: u32 = 100;
/// Past this many tracked keys, keys whose window has passed are dropped.
const MAX_TRACKED: usize = 10_000;

pub struct FailureWindows {
    /// Failures per key and window before the key is blocked for the rest of the window.
    limit: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl Default for FailureWindows {
    fn default() -> Self {
        FailureWindows::with_limit(MAX_FAILURES)
    }
}

impl FailureWindows {
    pub fn with_limit(limit: u32) -> Self {
        FailureWindows {
            limit,
            windows: Mutex::default(),
        }
    }

    /// Milliseconds until `key` may try again, if it is blocked now.
    pub fn blocked_for(&self, key: &str, now: i64) -> Option<i64> {
        let windows = self.windows.lock().ok()?;
        let (start, count) = *windows.get(key)?;
        (count >= self.limit && now - start < WINDOW_MS).then(|| start + WINDOW_MS - now)
    }

    /// Forgets every failure (a reset of the control API).
    pub fn clear(&self) {
        if let Ok(mut windows) = self.windows.lock() {
            windows.clear();
        }
    }

    pub fn record_failure(&self, key: &str, now: i64) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (start, _)| now - *start < WINDOW_MS);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now - entry.0 >= WINDOW_MS {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_passes() {
        let failures = FailureWindows::default();
        for _ in 0..MAX_FAILURES - 1 {
            failures.record_failure("c", 1_000);
        }
        assert_eq!(failures.blocked_for("c", 1_000), None);
        failures.record_failure("c", 2_000);
        assert_eq!(failures.blocked_for("c", 2_000), Some(WINDOW_MS - 1_000));
        assert_eq!(failures.blocked_for("other", 2_000), None);
        assert_eq!(failures.blocked_for("c", 1_000 + WINDOW_MS), None);
    }
}
