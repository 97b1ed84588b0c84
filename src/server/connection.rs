//! The connection watchdog: a connection with no request in flight for the header read
//! timeout is closed, whatever the protocol is doing (hyper-util's auto builder reads the
//! protocol preface with no timer, and HTTP/2 has no idle timeout of its own).
//!
//! It never closes a connection with a request in flight, nor one whose next requests have
//! arrived but not been read yet: when its timer fires, the connection is polled first, so
//! requests waiting in the socket are taken up (and counted in flight) before idleness is
//! judged. Under CPU starvation the timer and the requests come due together; the order
//! decides.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
// Tokio's clock, so that the unit test can pause it.
use tokio::time::Instant;

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
            // The connection first (see the module docs).
            biased;
            output = connection.as_mut() => return Some(output),
            () = tokio::time::sleep_until(deadline) => {
                if activity.idle_since().is_some_and(|since| since.elapsed() >= idle) {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::task::Poll;

    /// A connection whose request arrived while its task was starved (the request and the
    /// idle deadline come due at once, as after seconds without CPU) is not closed: the
    /// request is read first and keeps it open; once it is answered and the connection stays
    /// quiet for the idle time, it is closed. (Tokio's paused clock: no real waiting.)
    #[tokio::test(start_paused = true)]
    async fn a_request_waiting_to_be_read_keeps_the_connection() {
        let idle = Duration::from_secs(10);
        let activity = Arc::new(Activity::new());
        let arrived = Arc::new(AtomicBool::new(false));
        // The requests read, held (in flight) for the rest of the test.
        let mut requests: Vec<InFlight> = Vec::new();
        let connection = {
            let (activity, arrived) = (Arc::clone(&activity), Arc::clone(&arrived));
            std::future::poll_fn(move |_| {
                if arrived.swap(false, Ordering::SeqCst) {
                    // What hyper does when it reads a request: the service is called.
                    requests.push(InFlight::start(&activity));
                }
                Poll::<()>::Pending
            })
        };
        let watched = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { close_when_idle(connection, &activity, idle).await.is_none() }
        });
        tokio::task::yield_now().await;
        // Starved: the request lands, and the clock passes the deadline, before the task runs.
        arrived.store(true, Ordering::SeqCst);
        tokio::time::advance(idle + Duration::from_secs(1)).await;
        // Lets the timer fire and the watchdog run.
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!watched.is_finished(), "closed with a request waiting to be read");
        assert!(activity.idle_since().is_none(), "the request is in flight");
    }
}
