//! The raw argon2id hash rate of this machine with localzoom's production parameters: one hashing thread per
//! core for SECONDS, then prints `{"hashes_per_second": …}`. Usage: argon2-rate SECONDS

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use localzoom_server::crypto::{HashParams, PasswordHashing};

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let done = &done;
            scope.spawn(move || {
                // The same way localzoom's hashing threads work: one argon2 memory per thread, reused.
                let mut memory = Vec::new();
                let mut n = 0u64;
                while Instant::now() < until {
                    PasswordHashing::hash_with_memory(
                        HashParams::OWASP,
                        &format!("Bench{t}Pass{n}x"),
                        &mut memory,
                    )
                    .expect("hash");
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("{{\"hashes_per_second\": {rate:.1}, \"threads\": {threads}}}");
}
