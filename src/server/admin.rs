//! The admin listener: `/metrics`, `/healthz` and `/readyz` on a port of their own, so that
//! the public port keeps exactly the public API.

use super::{MAX_HEAD_BYTES, Readiness};
use crate::error::ApiError;
use crate::metrics::Prometheus;
use crate::response::{json_response, no_store};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Most connections the admin listener serves at once; it answers probes and scrapes only.
pub const ADMIN_MAX_CONNECTIONS: usize = 16;
/// Longest life of an admin connection. Its requests are answered at once, so this only
/// closes keep-alive connections (Prometheus reconnects) and stuck ones.
pub const ADMIN_CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

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
