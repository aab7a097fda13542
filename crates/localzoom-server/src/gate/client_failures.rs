//! Failed client authentication at the OAuth endpoints is limited per client id, so a client secret cannot be
//! guessed at request speed. Kept per node, in memory, with bounded size.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many failed attempts per client id in one window.
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW_MS: i64 = 60_000;
/// Past this many tracked ids, ids whose window has passed are dropped.
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub struct ClientFailures {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl ClientFailures {
    /// Milliseconds until the client id may try again, if it is blocked now.
    pub fn blocked_for(&self, client_id: &str, now: i64) -> Option<i64> {
        let windows = self.windows.lock().ok()?;
        let (start, count) = *windows.get(client_id)?;
        (count >= MAX_FAILURES && now - start < WINDOW_MS).then(|| start + WINDOW_MS - now)
    }

    pub fn record_failure(&self, client_id: &str, now: i64) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (start, _)| now - *start < WINDOW_MS);
        }
        let entry = windows.entry(client_id.to_string()).or_insert((now, 0));
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
        let failures = ClientFailures::default();
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
