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
//!   and is cut off past the body limit while reading (413; nothing past it is buffered). A
//!   body declared larger than the limit is refused before any of it is read. After a 413,
//!   the rest of the body is read and discarded for at most [`LINGER_TIME`] and
//!   [`LINGER_BYTES`] before the connection closes (nginx's "lingering close"): closing with
//!   unread data makes the kernel reset the connection, and a client still sending its body
//!   (Python's `http.client`, `requests`) would then see a broken pipe instead of the 413.
//!
//! The admin listener ([`serve_admin`]) answers `GET /metrics`, `/healthz` and `/readyz` on a
//! port of its own, so that the public port keeps exactly the public API. On SIGTERM,
//! [`shutdown_after_delay`] turns `/readyz` to 503 at once and keeps the public listener
//! serving for `SHUTDOWN_DELAY_SECONDS` before it stops accepting and drains.

use crate::dispatch::{dispatch, no_store, reject};
use crate::error::{ApiError, json_response};
use crate::metrics::{self, Prometheus};
use crate::state::AppState;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
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
/// Longest time the rest of a body over the limit is read and discarded after the 413 (the
/// connection is closed at [`ServeOptions::header_read_timeout`] in any case).
pub const LINGER_TIME: Duration = Duration::from_secs(5);
/// Most bytes read and discarded after a 413 before the connection is closed.
pub const LINGER_BYTES: usize = 32 * 1024 * 1024;
/// Most connections the admin listener serves at once; it answers probes and scrapes only.
pub const ADMIN_MAX_CONNECTIONS: usize = 16;
/// Longest life of an admin connection. Its requests are answered at once, so this only
/// closes keep-alive connections (Prometheus reconnects) and stuck ones.
pub const ADMIN_CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

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
        if connections.available_permits() == 0 {
            metrics::connection_limit_reached();
        }
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
        metrics::connection_opened();
        tokio::spawn(async move {
            let _permit = permit;
            match close_when_idle(connection, &activity, idle_timeout).await {
                Some(Ok(())) => {}
                Some(Err(err)) => {
                    tracing::debug!(error = %err, %peer, "connection ended with an error");
                }
                None => {
                    metrics::idle_timeout();
                    tracing::debug!(%peer, "closed a connection idle for the header timeout");
                }
            }
            metrics::connection_closed();
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
    let (parts, mut body) = request.into_parts();
    let too_large = || ApiError::PayloadTooLarge { limit: state.body_limit };
    if body.size_hint().lower() > state.body_limit as u64 {
        linger(body);
        return Ok(reject(&parts, too_large()).map(Full::new));
    }
    let read = Limited::new(&mut body, state.body_limit).collect();
    let response = match tokio::time::timeout(body_timeout, read).await {
        Ok(Ok(collected)) => {
            dispatch(&state, Request::from_parts(parts, collected.to_bytes())).await
        }
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
            linger(body);
            reject(&parts, too_large())
        }
        Ok(Err(_)) => reject(&parts, ApiError::BadRequest("request body could not be read".into())),
        Err(_elapsed) => reject(&parts, ApiError::RequestTimeout),
    };
    Ok(response.map(Full::new))
}

/// Reads and discards the rest of a body over the limit, in the background, while hyper
/// sends the 413: for at most [`LINGER_TIME`] and [`LINGER_BYTES`], then drops it, which
/// closes an HTTP/1.1 connection (HTTP/2 resets just the stream). A body that ends within the
/// bounds leaves the connection usable for the next request. A client that sends its whole body before reading (Python's
/// `http.client`) thus finishes sending and reads the 413, instead of a reset.
fn linger(mut body: Incoming) {
    tokio::spawn(async move {
        let mut discarded = 0usize;
        let drain = async {
            while let Some(Ok(frame)) = body.frame().await {
                discarded += frame.data_ref().map_or(0, Bytes::len);
                if discarded > LINGER_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIME, drain).await;
    });
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

/// The shutdown sequence, as the `shutdown` future of [`serve`]: waits for `signal`, turns
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

/// Binds `address` and logs `message` with the address bound (the port is known only now
/// when 0 was asked for).
pub async fn listen(address: std::net::SocketAddr, message: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "{message}");
    Ok(listener)
}

/// What the admin listener serves from. Cloning is shallow.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Renders `/metrics`.
    pub metrics: Prometheus,
    /// Answers `/readyz`.
    pub readiness: Arc<Readiness>,
}

/// Serves the admin endpoints on `listener` for as long as the process runs: `GET /metrics`
/// (Prometheus text format), `GET /healthz` (liveness: the process and its runtime answer)
/// and `GET /readyz` (readiness: 503 with a JSON reason once shutting down). HTTP/1.1 only,
/// at most [`ADMIN_MAX_CONNECTIONS`] at once, each given `idle_timeout` to send a request
/// head and closed after [`ADMIN_CONNECTION_LIFETIME`]. It keeps answering through the shutdown delay and the drain, so
/// probes and scrapes see the whole shutdown.
pub async fn serve_admin(listener: TcpListener, admin: Admin, idle_timeout: Duration) {
    let connections = Arc::new(Semaphore::new(ADMIN_MAX_CONNECTIONS));
    loop {
        let permit = Arc::clone(&connections)
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(error = %err, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let _permit = permit;
            serve_admin_connection(stream, admin, idle_timeout).await;
        });
    }
}

async fn serve_admin_connection(stream: TcpStream, admin: Admin, idle_timeout: Duration) {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = admin_response(&admin, request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response.map(Full::new)) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(ADMIN_CONNECTION_LIFETIME, connection).await;
}

/// The admin port's router.
fn admin_response(admin: &Admin, method: &Method, path: &str) -> Response<Bytes> {
    let json = |status, body: Bytes| no_store(json_response(status, body));
    if method != Method::GET && method != Method::HEAD {
        return ApiError::MethodNotAllowed { allow: "GET, HEAD" }.into_response();
    }
    match path {
        "/metrics" => {
            let mut response = Response::new(Bytes::from(admin.metrics.render()));
            response.headers_mut().insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" => json(StatusCode::OK, Bytes::from_static(br#"{"status":"alive"}"#)),
        "/readyz" => match admin.readiness.check() {
            Ok(()) => json(StatusCode::OK, Bytes::from_static(br#"{"status":"ready"}"#)),
            Err(reason) => {
                let body = serde_json::json!({ "status": "not ready", "reason": reason });
                json(StatusCode::SERVICE_UNAVAILABLE, body.to_string().into())
            }
        },
        _ => ApiError::NotFound.into_response(),
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
