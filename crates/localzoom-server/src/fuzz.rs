//! The harness of the parsers' fuzz targets (tests only). Each target first replays every input of its corpus
//! (`fuzz/corpus/TARGET/`, in the repository), then feeds the parser inputs built from random bytes and the
//! target's dictionary of tricky tokens for a time budget (`ARBTEST_BUDGET_MS`, 1 s by default; `.ci/run` gives
//! more). An input that panics is written into the corpus before the panic goes on, and one that kills the process
//! outright is left as `.current`: once the bug is fixed, commit the file (renamed) and the crash stays a
//! regression test.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;

use arbtest::arbitrary::{self, Unstructured};

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Bytes of random length, each piece a token of `dictionary` or a random byte.
fn generate(u: &mut Unstructured<'_>, dictionary: &[&[u8]]) -> arbitrary::Result<Vec<u8>> {
    let mut input = Vec::new();
    let pieces = u.int_in_range(0..=256)?;
    for _ in 0..pieces {
        if !dictionary.is_empty() && u.ratio(2, 3)? {
            let token = u.choose(dictionary)?;
            let times = if u.ratio(1, 16)? {
                u.int_in_range(2..=2_000)?
            } else {
                1
            };
            for _ in 0..times {
                input.extend_from_slice(token);
            }
        } else {
            input.push(u.arbitrary()?);
        }
    }
    Ok(input)
}

/// Runs `target` on its corpus, then on generated inputs until the budget is spent. `target` panics where the
/// parser misbehaves (a crash, or a property of its answer that does not hold).
pub fn fuzz(name: &str, dictionary: &[&[u8]], target: impl Fn(&[u8])) {
    let dir = corpus(name);
    let mut replayed = 0;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let input = std::fs::read(entry.path()).unwrap();
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&input))) {
                eprintln!("fuzz {name}: corpus input {} fails", entry.path().display());
                resume_unwind(panic);
            }
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "fuzz {name}: the corpus {} is empty",
        dir.display()
    );
    let budget_ms = std::env::var("ARBTEST_BUDGET_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(1_000);
    // A crash that unwinding cannot catch (a stack overflow, an abort) ends the process: the input then waits in
    // `.current`, which the next run replays first.
    let current = dir.join(".current");
    arbtest::arbtest(|u| {
        let input = generate(u, dictionary)?;
        let _ = std::fs::write(&current, &input);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&input))) {
            let digest = crate::crypto::hex(&crate::crypto::sha256(&input)[..8]);
            let path = dir.join(format!("crash-{digest}"));
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(&path, &input);
            eprintln!(
                "fuzz {name}: a crashing input was saved as {}",
                path.display()
            );
            resume_unwind(panic);
        }
        Ok(())
    })
    .budget_ms(budget_ms);
    let _ = std::fs::remove_file(&current);
}
