//! The connection watchdog: a connection with no request in flight for the header read
//! timeout is closed, whatever the protocol is doing (hyper-util's auto builder reads the
//! protocol preface with no timer, and HTTP/2 has no idle timeout of its own).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Whether a connection has a request in flight, and since when it has had none.
pub(super) struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// When the last request finished, in milliseconds after `opened`.
    last_done_ms: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Activity { opened: Instant::now(), in_flight: AtomicUsize::new(0), last_done_ms: 0.into() }
    }

    /// Since when no request has been in flight; `None` while one is.
    fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(self.opened + Duration::from_millis(self.last_done_ms.load(Ordering::SeqCst)))
    }
}

/// Marks one request in flight on its connection until dropped.
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let done = self.0.opened.elapsed().as_millis() as u64;
        self.0.last_done_ms.fetch_max(done, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Drives `connection` to its end, or drops it (closing the socket) once it has had no
/// request in flight for `idle`. Returns `None` when it was closed for idleness.
pub(super) async fn close_when_idle<F: Future>(
    connection: F,
    activity: &Activity,
    idle: Duration,
) -> Option<F::Output> {
    let mut connection = std::pin::pin!(connection);
    loop {
        let deadline = activity.idle_since().unwrap_or_else(Instant::now) + idle;
        tokio::select! {
            output = connection.as_mut() => return Some(output),
            () = tokio::time::sleep_until(deadline.into()) => {
                if activity.idle_since().is_some_and(|since| since.elapsed() >= idle) {
                    return None;
                }
            }
        }
    }
}
