//! Admission control for expensive work (password hashing, signature verification): at most
//! `limit` jobs run at once, at most `queue` more wait, each for at most `wait`; anything past
//! that is refused at once with [`Overloaded`], which the API answers with `503` and
//! `Retry-After`, so a flood costs a bounded amount of CPU and memory instead of a growing
//! queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A bound on concurrent expensive jobs. Shared by every request (it lives in the state).
#[derive(Debug)]
pub struct Admission {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    limit: usize,
    queue: usize,
    wait: Duration,
}

/// The work was refused: every slot is busy and the queue is full, or the wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded {
    /// When a client may try again (the `Retry-After` of the 503).
    pub retry_after: Duration,
}

/// A slot to run one job in; the slot frees when it drops.
#[derive(Debug)]
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
}

impl Admission {
    /// At most `limit` jobs at once (at least one), `queue` waiting, each waiting at most
    /// `wait`.
    pub fn new(limit: usize, queue: usize, wait: Duration) -> Self {
        let limit = limit.max(1);
        Admission {
            running: Arc::new(Semaphore::new(limit)),
            waiting: AtomicUsize::new(0),
            limit,
            queue,
            wait,
        }
    }

    /// A slot, at once when one is free, else after waiting in the queue (if there is room in
    /// it) for at most the configured wait.
    pub async fn admit(&self) -> Result<Admitted, Overloaded> {
        let overloaded = Overloaded { retry_after: self.wait.max(Duration::from_secs(1)) };
        if let Ok(permit) = Arc::clone(&self.running).try_acquire_owned() {
            return Ok(Admitted { _slot: permit });
        }
        // Take a place in the queue, or leave if it is full.
        let place = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&self.waiting);
        if place >= self.queue {
            return Err(overloaded);
        }
        match tokio::time::timeout(self.wait, Arc::clone(&self.running).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Admitted { _slot: permit }),
            // Timed out (the semaphore is never closed).
            _ => Err(overloaded),
        }
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.limit - self.running.available_permits()
    }

    /// The most jobs that run at once.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Gives a queue place back when the waiter leaves, however it leaves.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every slot taken, `queue` callers wait and get a slot when one frees; the caller
    /// past the queue is refused at once; a waiter whose wait runs out is refused with a
    /// `Retry-After` of the wait (at least a second). (Tokio's paused clock: no real waiting.)
    #[tokio::test(start_paused = true)]
    async fn slots_then_queue_then_refusal() {
        let admission = Arc::new(Admission::new(2, 1, Duration::from_secs(3)));
        let first = admission.admit().await.unwrap();
        let _second = admission.admit().await.unwrap();
        assert_eq!(admission.running(), 2);

        let queued = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move { admission.admit().await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        let started = tokio::time::Instant::now();
        assert_eq!(
            admission.admit().await.unwrap_err(),
            Overloaded { retry_after: Duration::from_secs(3) },
            "the queue is full"
        );
        assert_eq!(started.elapsed(), Duration::ZERO, "refused at once");

        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(first);
        assert_eq!(queued.await.unwrap(), Ok(()), "the waiter got the freed slot");

        let _third = admission.admit().await.unwrap();
        let started = tokio::time::Instant::now();
        assert!(admission.admit().await.is_err(), "no slot within the wait");
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert_eq!(admission.waiting.load(Ordering::SeqCst), 0, "every place given back");
    }
}
