//! Spacing calls under quotas learned from 429s: after a per-second quota of `n` refused a call, calls of that
//! category start at most `n` per period (a tenth below, to leave room for other clients' stray calls), so a long
//! job runs at the quota's pace instead of bouncing off it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Default)]
pub(crate) struct Pacer {
    /// Per category: the spacing between calls and when the next call may start.
    slots: Mutex<HashMap<String, (Duration, Instant)>>,
}

impl Pacer {
    pub(crate) fn learn(&self, category: &str, limit: u32) {
        let period = if category.eq_ignore_ascii_case("Resource-intensive") {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(1)
        };
        let spacing = period.mul_f64(1.1) / limit.max(1);
        if let Ok(mut slots) = self.slots.lock() {
            let now = Instant::now();
            let slot = slots.entry(category.to_string()).or_insert((spacing, now));
            slot.0 = spacing;
        }
    }

    /// Waits for this call's turn in its category (at once for categories without a learned quota).
    pub(crate) async fn wait(&self, category: &str) {
        let start = {
            let Ok(mut slots) = self.slots.lock() else {
                return;
            };
            let Some((spacing, next)) = slots.get_mut(category) else {
                return;
            };
            let start = (*next).max(Instant::now());
            *next = start + *spacing;
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_of_a_learned_category_are_spaced_under_its_quota() {
        let pacer = Pacer::default();
        let started = Instant::now();
        // Nothing learned yet: no waiting.
        for _ in 0..5 {
            pacer.wait("Light").await;
        }
        assert_eq!(started.elapsed(), Duration::ZERO);
        pacer.learn("Light", 10);
        for _ in 0..11 {
            pacer.wait("Light").await;
        }
        // 10 a second, a tenth slower: the 11th call starts 10 spacings of 110 ms after the first.
        assert_eq!(started.elapsed(), Duration::from_millis(1_100));
        // Other categories are not held up.
        let before = Instant::now();
        pacer.wait("Medium").await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }
}
