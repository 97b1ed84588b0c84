//! The shutdown sequence: which signal came, readiness dropping at once, and the delay the
//! public listener keeps serving before the drain.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// What Kubernetes (and `docker stop`) send.
    Terminate,
    /// Ctrl-C.
    Interrupt,
}

/// Completes on SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    signal_received().await;
}

/// Completes on SIGTERM or SIGINT, telling which (for [`shutdown_after_delay`]).
pub async fn signal_received() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = terminate.recv() => {
            tracing::info!(signal = "SIGTERM", "shutdown requested");
            Signal::Terminate
        }
        _ = interrupt.recv() => {
            tracing::info!(signal = "SIGINT", "shutdown requested");
            Signal::Interrupt
        }
    }
}

/// Whether the process is ready for traffic. It starts ready: the admin listener opens only
/// once the state, and so a signing key, exists. Shared by the shutdown sequence (which
/// clears it) and `/readyz` (which reads it).
#[derive(Debug, Default)]
pub struct Readiness {
    shutting_down: AtomicBool,
}

impl Readiness {
    /// Marks the process as shutting down: `/readyz` answers 503 from now on.
    pub fn shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// `Err` with the reason when not ready.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.shutting_down.load(Ordering::SeqCst) { Err("shutting down") } else { Ok(()) }
    }
}

/// The shutdown sequence, as the `shutdown` future of [`super::serve`]: waits for `signal`, turns
/// `readiness` to not ready at once, then lets the public listener keep serving for `delay`
/// (so that Kubernetes removes the endpoint and the load balancer its target while requests
/// still succeed) before completing. After SIGINT (Ctrl-C, a person at a terminal) it
/// completes at once.
pub async fn shutdown_after_delay(
    signal: impl Future<Output = Signal>,
    readiness: Arc<Readiness>,
    delay: Duration,
) {
    let signal = signal.await;
    readiness.shutting_down();
    if signal == Signal::Terminate && !delay.is_zero() {
        tracing::info!(
            delay_seconds = delay.as_secs(),
            "not ready; serving on until the load balancer has removed this instance"
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SIGTERM: not ready at once, and the public listener's shutdown future completes only
    /// after the delay. SIGINT: completes at once. (Tokio's paused clock: no real waiting.)
    #[tokio::test(start_paused = true)]
    async fn readiness_drops_at_once_and_serving_stops_after_the_delay() {
        let delay = Duration::from_secs(5);
        let readiness = Arc::new(Readiness::default());
        assert_eq!(readiness.check(), Ok(()));
        let (send, signal) = tokio::sync::oneshot::channel();
        let shutdown = tokio::spawn(shutdown_after_delay(
            async { signal.await.unwrap() },
            Arc::clone(&readiness),
            delay,
        ));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(readiness.check(), Ok(()), "ready until the signal");
        send.send(Signal::Terminate).unwrap();
        let signalled = tokio::time::Instant::now();
        tokio::task::yield_now().await;
        assert_eq!(readiness.check(), Err("shutting down"));
        assert!(!shutdown.is_finished());
        shutdown.await.unwrap();
        assert_eq!(signalled.elapsed(), delay);

        let readiness = Arc::new(Readiness::default());
        let started = tokio::time::Instant::now();
        shutdown_after_delay(async { Signal::Interrupt }, Arc::clone(&readiness), delay).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(readiness.check(), Err("shutting down"));
    }
}
