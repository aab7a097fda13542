//! What localzoom's rate limiter costs per call: one thread per core spends Light calls of 1,000 accounts (whose
//! Light quota is raised so that nothing is refused) for SECONDS, then prints `{"ns_per_call": …}`.
//! Usage: limiter-cost SECONDS

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use localzoom_server::clock::{Clock, SystemClock};
use localzoom_server::domain::rate_limits::{AccountLimits, Label, Limit, Overrides, Plan};
use localzoom_server::gate::rate_limit::RateLimiter;

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let mut overrides = Overrides::default();
    overrides.set(Limit::Rate(Label::Light), Some(Some(1_000_000_000)));
    let limits = AccountLimits {
        plan: Plan::Pro,
        overrides,
    };
    let accounts: Vec<String> = (0..1_000).map(|i| format!("BenchAccount{i:010}")).collect();
    let limiter = RateLimiter::default();
    let calls = AtomicU64::new(0);
    let busy_ns = AtomicU64::new(0);
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (limiter, limits, accounts) = (&limiter, &limits, &accounts);
            let (calls, busy_ns) = (&calls, &busy_ns);
            scope.spawn(move || {
                let started = Instant::now();
                let mut n = 0usize;
                while Instant::now() < until {
                    // The server reads the clock once per request too.
                    let now = SystemClock.now_ms();
                    let account = &accounts[(n * 7 + t) % accounts.len()];
                    limiter
                        .spend(account, limits, Label::Light, None, now)
                        .expect("nothing is refused");
                    n += 1;
                }
                calls.fetch_add(n as u64, Ordering::Relaxed);
                busy_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            });
        }
    });
    // CPU time per call: every thread was busy the whole time.
    let ns = busy_ns.load(Ordering::Relaxed) as f64 / calls.load(Ordering::Relaxed) as f64;
    println!("{{\"ns_per_call\": {ns:.1}, \"threads\": {threads}}}");
}
