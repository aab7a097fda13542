//! Synchronous clients (PostgreSQL's, Redis's) called from async code.

/// Runs blocking client code from wherever it is called: on an async worker through `block_in_place` (so the
/// runtime moves its other tasks elsewhere, and a client that drives its own runtime may block on it), elsewhere
/// directly. Needs tokio's multi-threaded runtime, which `serve` and the CLI use.
pub fn blocking<R>(f: impl FnOnce() -> R) -> Result<R, &'static str> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Ok(tokio::task::block_in_place(f))
        }
        Ok(_) => Err("this backend needs tokio's multi-threaded runtime"),
        Err(_) => Ok(f()),
    }
}
