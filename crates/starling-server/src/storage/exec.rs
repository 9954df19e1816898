//! Where blocking storage calls run: tokio's blocking thread pool, with at
//! most a fixed number of calls in flight.
//!
//! Storage never runs on the async worker threads, which must stay free to
//! read and write sockets. A call takes a permit first; callers beyond the
//! limit wait asynchronously for one (the waiting sessions are the bounded
//! queue: each waits for its own call and reads nothing from its client
//! meanwhile), so a slow disk slows the sessions that need it instead of
//! piling up threads or unbounded work. The limit matches the backend's
//! useful concurrency (SQLite: one writer and a few readers).

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::StorageError;

/// Runs blocking storage calls off the async workers, a bounded number at
/// a time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use starling_server::storage::Executor;
///
/// let exec = Executor::new(4);
/// let n = exec.run(|| Ok(6 * 7)).await.unwrap();
/// assert_eq!(n, 42);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Executor {
    permits: Arc<Semaphore>,
}

impl Executor {
    /// At most `in_flight` calls run at once (at least one).
    pub fn new(in_flight: usize) -> Executor {
        Executor {
            permits: Arc::new(Semaphore::new(in_flight.max(1))),
        }
    }

    /// Runs `f` on a blocking thread and returns its result. A panic in
    /// `f` is a [`StorageError::Backend`], never a panic of the caller. If
    /// the caller stops waiting, `f` still runs to its end (a write is
    /// never cut in half).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StorageError::Backend("storage executor closed".to_owned()))?;
        let task = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        });
        task.await
            .map_err(|e| StorageError::Backend(format!("storage call failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_n_calls_at_once_and_panics_are_errors() {
        let exec = Executor::new(2);
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (exec, now, peak) = (exec.clone(), now.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                exec.run(move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert!(peak.load(Ordering::SeqCst) >= 1);
        let err = exec
            .run(|| -> Result<(), StorageError> { panic!("boom") })
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Backend(_)));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn calls_do_not_run_on_the_caller_thread() {
        let exec = Executor::new(1);
        let me = std::thread::current().id();
        let there = exec
            .run(move || Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(me, there);
    }
}
