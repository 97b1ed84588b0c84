//! The accept loop: connections up to the cap, each served by hyper-util's auto builder
//! (HTTP/1.1 and h2c) under the watchdog, until shutdown; then the bounded drain.

use super::connection::{Activity, InFlight, close_when_idle};
use super::{MAX_H2_HEADER_LIST_BYTES, MAX_HEAD_BYTES, ServerConfig, body};
use crate::client_address::PeerAddress;
use crate::metrics;
use crate::state::AppState;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Serves `state` on `listener` until `shutdown` completes, then drains open connections for
/// at most `options.drain_timeout`. Accept errors (e.g. out of file descriptors) are logged
/// and survived.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    options: ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let body_timeout = options.body_read_timeout;
    serve_with(listener, options, shutdown, move |request| {
        body::handle(Arc::clone(&state), request, body_timeout)
    })
    .await;
}

/// The accept loop, connection settings and limits of [`serve`] around any request handler:
/// `serve` passes one that reads the body and calls [`crate::dispatch()`]; the load harness's
/// baseline (`examples/baseline.rs`) passes one that answers a constant, so that comparing
/// the two measures only what the service adds on top of this adapter.
pub async fn serve_with<H, F>(
    listener: TcpListener,
    options: ServerConfig,
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
        .max_concurrent_streams(options.max_h2_streams)
        .max_header_list_size(MAX_H2_HEADER_LIST_BYTES);
    if !options.h2c {
        builder = builder.http1_only();
    }
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
            service_fn(move |mut request: Request<Incoming>| {
                // The socket's peer, for the login throttle (crate::client_address).
                request.extensions_mut().insert(PeerAddress(peer.ip()));
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
