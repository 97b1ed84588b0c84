//! The hyper adapter: puts [`dispatch`] on a TCP listener.
//!
//! HTTP/1.1 with keep-alive and HTTP/2 cleartext (h2c, via hyper-util's auto builder), and
//! graceful shutdown: stop accepting, let in-flight requests finish, give up after the drain
//! bound.
//!
//! Bounds against slow or hostile clients, all per connection unless said otherwise:
//! - at most [`ServeOptions::max_connections`] connections are open at once; past that, new
//!   ones wait in the kernel's listen backlog until one closes;
//! - a connection with no request in flight for [`ServeOptions::header_read_timeout`] is
//!   closed — one that never sends a byte, stalls inside the HTTP/2 preface, dribbles its
//!   request head, or idles between requests (HTTP/1.1 keep-alive and HTTP/2 alike). hyper
//!   bounds HTTP/1 heads itself, but hyper-util's auto builder reads the protocol preface
//!   with no timer and HTTP/2 has no idle timeout, so the server watches every connection;
//! - a request head is at most [`MAX_HEAD_BYTES`] (HTTP/1, else 431) and
//!   [`MAX_H2_HEADER_LIST_BYTES`] (HTTP/2); an HTTP/2 connection has at most
//!   [`MAX_H2_STREAMS`] requests open;
//! - a request body must arrive in full within [`ServeOptions::body_read_timeout`] (else 408)
//!   and is cut off past the body limit while reading (413; nothing past it is buffered).

use crate::dispatch::{dispatch, reject};
use crate::error::ApiError;
use crate::state::AppState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Default cap on connections open at once. A silent connection costs about 6 KiB, one
/// holding a nearly full [`MAX_HEAD_BYTES`] head about 30 KiB (measured, release build), plus
/// the body being read: size the cap to the memory limit (see SECURITY.md).
pub const DEFAULT_MAX_CONNECTIONS: usize = crate::config::DEFAULT_MAX_CONNECTIONS;
/// Default time a request body has to arrive in full once its head has been read.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration =
    Duration::from_secs(crate::config::DEFAULT_BODY_READ_TIMEOUT_SECONDS);
/// Largest HTTP/1 request head (request line and headers) read into memory; a larger one is
/// answered 431. Tokens are at most 8 KiB, so this leaves room for ordinary headers (the same
/// bound as Node's default and HTTP/2's header list below).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest HTTP/2 header list (hyper's default, stated here so the bound is visible).
pub const MAX_H2_HEADER_LIST_BYTES: u32 = 16 * 1024;
/// Most requests one HTTP/2 connection may have open at once (RFC 9113 recommends allowing
/// at least 100).
pub const MAX_H2_STREAMS: u32 = 100;

/// Connection-level settings of the server.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Time a client has to send a complete request head; also how long a connection may sit
    /// with no request in flight before it is closed.
    pub header_read_timeout: Duration,
    /// Time a request body has to arrive in full, counted from the end of its head.
    pub body_read_timeout: Duration,
    /// Bound on draining in-flight requests once shutdown starts.
    pub drain_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    /// The documented defaults of every setting.
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(
                crate::config::DEFAULT_HEADER_READ_TIMEOUT_SECONDS,
            ),
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            drain_timeout: Duration::from_secs(crate::config::DEFAULT_DRAIN_SECONDS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl From<&crate::Config> for ServeOptions {
    fn from(config: &crate::Config) -> Self {
        ServeOptions {
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
            drain_timeout: config.drain_timeout,
            max_connections: config.max_connections,
        }
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then drains open connections for
/// at most `options.drain_timeout`. Accept errors (e.g. out of file descriptors) are logged
/// and survived.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let body_timeout = options.body_read_timeout;
    serve_with(listener, options, shutdown, move |request| {
        handle(Arc::clone(&state), request, body_timeout)
    })
    .await;
}

/// The accept loop, connection settings and limits of [`serve`] around any request handler:
/// `serve` passes one that reads the body and calls [`dispatch`]; the load harness's
/// baseline (`examples/baseline.rs`) passes one that answers a constant, so that comparing
/// the two measures only what the service adds on top of this adapter.
pub async fn serve_with<H, F>(
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS)
        .max_header_list_size(MAX_H2_HEADER_LIST_BYTES);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut warned_full: Option<Instant> = None;

    loop {
        if connections.available_permits() == 0
            && warned_full.is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            warned_full = Some(Instant::now());
            tracing::warn!(
                max_connections = options.max_connections,
                "connection limit reached; new connections wait in the listen backlog"
            );
        }
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => {
                permit.expect("the connection semaphore is never closed")
            }
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    // Typically EMFILE: give in-flight connections a moment to free descriptors.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = {
            let (handler, activity) = (handler.clone(), Arc::clone(&activity));
            service_fn(move |request| {
                let in_flight = InFlight::start(&activity);
                let response = handler(request);
                async move {
                    let response = response.await;
                    drop(in_flight);
                    response
                }
            })
        };
        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        let idle_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match close_when_idle(connection, &activity, idle_timeout).await {
                Some(Ok(())) => {}
                Some(Err(err)) => {
                    tracing::debug!(error = %err, %peer, "connection ended with an error");
                }
                None => tracing::debug!(%peer, "closed a connection idle for the header timeout"),
            }
        });
    }

    drop(listener);
    tracing::info!(
        drain_seconds = options.drain_timeout.as_secs(),
        "shutting down: draining connections"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(options.drain_timeout) => {
            tracing::warn!("drain bound reached; closing remaining connections");
        }
    }
}

/// Reads the body up to the limit and within the body timeout, then hands the request to
/// [`dispatch`].
async fn handle(
    state: Arc<AppState>,
    request: Request<Incoming>,
    body_timeout: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(body_timeout, Limited::new(body, state.body_limit).collect());
    let response = match read.await {
        Ok(Ok(collected)) => {
            dispatch(&state, Request::from_parts(parts, collected.to_bytes())).await
        }
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
            reject(&parts, ApiError::PayloadTooLarge { limit: state.body_limit })
        }
        Ok(Err(_)) => reject(&parts, ApiError::BadRequest("request body could not be read".into())),
        Err(_elapsed) => reject(&parts, ApiError::RequestTimeout),
    };
    Ok(response.map(Full::new))
}

/// Whether a connection has a request in flight, and since when it has had none.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// When the last request finished, in milliseconds after `opened`.
    last_done_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
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
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
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
async fn close_when_idle<F: Future>(
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

/// Completes on SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "shutdown requested"),
        _ = interrupt.recv() => tracing::info!(signal = "SIGINT", "shutdown requested"),
    }
}
