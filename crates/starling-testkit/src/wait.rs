//! Bounded waits: every wait in the suites has a limit, and a hang fails
//! the test with what it was waiting for.

use std::future::Future;
use std::time::Duration;

/// How long any single wait may take before the test fails (generous: the
/// machine is small and shared; nothing asserts a timing).
pub const WAIT: Duration = Duration::from_secs(30);

/// Awaits `fut` for at most [`WAIT`]; a hang fails the test with `what`.
///
/// # Panics
///
/// When [`WAIT`] passes first.
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// Runs blocking work (admin commands, signals, restarts) without stalling
/// the runtime's other tasks (a multi-threaded tokio runtime only).
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}
