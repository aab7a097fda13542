//! Time as the server sees it. Tests swap in a manual clock so expiry and 24-hour windows need no sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_ms(&self) -> i64;

    /// Moves the clock forward to `now_ms` (the control API's `POST /_localzoom/v1/clock`). Time never moves back:
    /// a token, code or window already judged by a later time would be judged again.
    fn move_to(&self, _now_ms: i64) -> Result<(), ClockRefusal> {
        Err(ClockRefusal::Fixed)
    }
}

/// Why the clock did not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockRefusal {
    /// This clock follows the system's alone.
    Fixed,
    /// The time asked for is before the clock's now.
    Backwards,
}

/// The system's time plus an offset that only grows: what a server runs on, real time until the control API moves
/// it forward.
#[derive(Default)]
pub struct AdjustableClock {
    offset_ms: AtomicI64,
}

impl Clock for AdjustableClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }

    fn move_to(&self, now_ms: i64) -> Result<(), ClockRefusal> {
        let system = SystemClock.now_ms();
        let wanted = now_ms - system;
        // Only ever grows, even against a concurrent move.
        self.offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                (wanted >= offset).then_some(wanted)
            })
            .map(|_| ())
            .map_err(|_| ClockRefusal::Backwards)
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        now.as_millis() as i64
    }
}

/// A clock that moves only when told to.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start_ms)))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn move_to(&self, now_ms: i64) -> Result<(), ClockRefusal> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                (now_ms >= now).then_some(now_ms)
            })
            .map(|_| ())
            .map_err(|_| ClockRefusal::Backwards)
    }
}

/// Reads an RFC 3339 time (`2026-12-02T10:00:00Z`, any offset) as milliseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// RFC 3339 in Zoom's form: UTC, whole seconds, `Z` (`2018-10-31T04:32:37Z`).
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let Ok(year) = u16::try_from(t.year()) else {
        // Before year 0: `time`'s own format, which signs the year.
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        return t.format(&format).unwrap_or_default();
    };
    // Digits written directly: a user's view formats three of these, a page of users ninety, and `time`'s
    // formatter took about a thousand instructions each (callgrind).
    let mut text = String::with_capacity(20);
    push_digits(&mut text, year.into(), 4);
    for (separator, value) in [
        ('-', u8::from(t.month())),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ] {
        text.push(separator);
        push_digits(&mut text, value.into(), 2);
    }
    text.push('Z');
    text
}

/// `value`'s last `width` decimal digits, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        text.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_zoom() {
        assert_eq!(super::rfc3339(1_540_960_357_123), "2018-10-31T04:32:37Z");
        assert_eq!(
            parse_rfc3339("2018-10-31T04:32:37Z"),
            Some(1_540_960_357_000)
        );
        assert_eq!(
            parse_rfc3339("2018-10-31T06:32:37+02:00"),
            Some(1_540_960_357_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn formats_every_field_as_time_does() {
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        // From the first second of year 0 (and one before it, which falls back) to the last of 9999, in steps of
        // about 36.5 days and no whole number of minutes or seconds, so that every field takes many values.
        let first = -62_167_219_200_000_i64;
        let last = 253_402_300_799_999_i64;
        let step = (last - first) / 99_991;
        for ms in (first - 1_000..=last)
            .step_by(step as usize)
            .chain([first, last, 0, -1])
        {
            let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap();
            assert_eq!(rfc3339(ms), t.format(&format).unwrap(), "{ms}");
        }
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(first - 1_000), "-0001-12-31T23:59:59Z");
    }

    #[test]
    fn the_adjustable_clock_moves_forward_only() {
        let clock = AdjustableClock::default();
        let start = clock.now_ms();
        clock.move_to(start + 3_600_000).unwrap();
        assert!(clock.now_ms() >= start + 3_600_000);
        assert_eq!(clock.move_to(start), Err(ClockRefusal::Backwards));
        assert!(clock.now_ms() >= start + 3_600_000);
        assert_eq!(SystemClock.move_to(start), Err(ClockRefusal::Fixed));
    }
}
