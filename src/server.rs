//! The hyper adapter: puts [`dispatch`] on a TCP listener.
//!
//! HTTP/1.1 with keep-alive and HTTP/2 cleartext (h2c, via hyper-util's auto builder), a
//! header read timeout against slow clients, the body cap enforced while reading (nothing
//! past the limit is buffered), and graceful shutdown: stop accepting, let in-flight requests
//! finish, give up after the drain bound.

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
use std::time::Duration;
use tokio::net::TcpListener;

/// Connection-level settings of the server.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Time a client has to send a complete request head.
    pub header_read_timeout: Duration,
    /// Bound on draining in-flight requests once shutdown starts.
    pub drain_timeout: Duration,
}

impl From<&crate::Config> for ServeOptions {
    fn from(config: &crate::Config) -> Self {
        ServeOptions {
            header_read_timeout: config.header_read_timeout,
            drain_timeout: config.drain_timeout,
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
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
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
        let state = Arc::clone(&state);
        let service = service_fn(move |request| handle(Arc::clone(&state), request));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %peer, "connection ended with an error");
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

/// Reads the body up to the limit, then hands the request to [`dispatch`].
async fn handle(
    state: Arc<AppState>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let response = match Limited::new(body, state.body_limit).collect().await {
        Ok(collected) => dispatch(&state, Request::from_parts(parts, collected.to_bytes())).await,
        Err(err) if err.is::<http_body_util::LengthLimitError>() => reject(
            &parts,
            ApiError::PayloadTooLarge {
                limit: state.body_limit,
            },
        ),
        Err(_) => reject(
            &parts,
            ApiError::BadRequest("request body could not be read".into()),
        ),
    };
    Ok(response.map(Full::new))
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
