//! The admin listener: `/metrics`, `/healthz` and `/readyz` on a port of their own, so that
//! the public port keeps exactly the public API.
//!
//! Probes and scrapes must get through whatever the public port is going through, so this
//! listener has bounds of its own:
//! - its own OS thread and single-threaded Tokio runtime ([`start_admin`]): a public port
//!   whose workers are saturated (a flood of forged tokens, say) does not delay it; the kernel
//!   shares the CPU between its thread and theirs;
//! - short-lived connections: one request each (no keep-alive), [`ADMIN_HEAD_TIMEOUT`] to
//!   send it, closed after [`ADMIN_CONNECTION_LIFETIME`] whatever happens. A client holding
//!   sockets open therefore holds them for seconds, not a minute;
//! - at most [`ADMIN_MAX_CONNECTIONS`] at once, and [`ADMIN_MAX_CONNECTIONS_PER_PEER`] from one
//!   address: the kubelet, the ALB's nodes and Prometheus each come from addresses of their
//!   own, so one client cannot take the slots they need. A connection past the per-peer limit
//!   is closed at once.

use super::{MAX_HEAD_BYTES, Readiness};
use crate::error::ApiError;
use crate::keys::KeyStore;
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
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Most connections the admin listener serves at once; more wait in the listen backlog.
pub const ADMIN_MAX_CONNECTIONS: usize = 128;
/// Most connections one peer address may hold at once. The kubelet opens one per probe
/// (readiness every 2 s, liveness every 10 s) and Prometheus one per scrape.
pub const ADMIN_MAX_CONNECTIONS_PER_PEER: usize = 8;
/// Time an admin connection has to send its request head.
pub const ADMIN_HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest life of an admin connection, request and response included. Its requests are
/// answered at once; this only closes stuck ones (a client that does not read).
pub const ADMIN_CONNECTION_LIFETIME: Duration = Duration::from_secs(5);

/// What the admin listener serves from. Cloning is shallow.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Renders `/metrics`.
    pub metrics: Prometheus,
    /// Answers `/readyz`.
    pub readiness: Arc<Readiness>,
    /// The key store, whose last successful refresh `/readyz` reports.
    pub keys: Arc<KeyStore>,
}

/// Binds `address` and serves the admin endpoints there ([`serve_admin`]) on a thread and
/// Tokio runtime of their own, for as long as the process runs. Logs "admin listening" with
/// the address bound, and returns it.
pub fn start_admin(address: SocketAddr, admin: Admin) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("admin".into()).spawn(move || {
        runtime.block_on(async move {
            match TcpListener::from_std(listener) {
                Ok(listener) => serve_admin(listener, admin).await,
                Err(err) => tracing::error!(error = %err, "cannot serve the admin port"),
            }
        });
    })?;
    tracing::info!(%address, "admin listening");
    Ok(address)
}

/// Serves the admin endpoints on `listener`: `GET /metrics` (Prometheus text format),
/// `GET /healthz` (liveness: the process and its runtime answer) and `GET /readyz`
/// (readiness: 503 with a JSON reason once shutting down). HTTP/1.1, one request per
/// connection, within the bounds of the module docs. It keeps answering through the shutdown
/// delay and the drain, so probes and scrapes see the whole shutdown.
pub async fn serve_admin(listener: TcpListener, admin: Admin) {
    let connections = Arc::new(Semaphore::new(ADMIN_MAX_CONNECTIONS));
    let peers = Peers::default();
    loop {
        let permit = Arc::clone(&connections)
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(peer_slot) = peers.take(peer.ip()) else {
            tracing::debug!(%peer, "admin connection refused: per-peer limit reached");
            continue; // dropping the stream closes it; the permit frees
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let _held = (permit, peer_slot);
            serve_admin_connection(stream, admin).await;
        });
    }
}

/// Connections open per peer address.
#[derive(Debug, Default, Clone)]
struct Peers(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection of a peer; gives its place back when dropped.
struct PeerSlot {
    peers: Peers,
    ip: IpAddr,
}

impl Peers {
    /// A place for one more connection from `ip`, if it holds fewer than the limit.
    fn take(&self, ip: IpAddr) -> Option<PeerSlot> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= ADMIN_MAX_CONNECTIONS_PER_PEER {
            return None;
        }
        *count += 1;
        Some(PeerSlot { peers: self.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

async fn serve_admin_connection(stream: TcpStream, admin: Admin) {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = admin_response(&admin, request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response.map(Full::new)) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(ADMIN_HEAD_TIMEOUT)
        .keep_alive(false)
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
            // A refresh that stopped (SSM unreachable, or a bug) leaves the last good key in
            // use, so the pod stays ready; the age of the last good read says so.
            Ok(()) => match admin.keys.last_refresh() {
                None => json(StatusCode::OK, Bytes::from_static(br#"{"status":"ready"}"#)),
                Some(refreshed) => {
                    let age = SystemTime::now().duration_since(refreshed).unwrap_or_default();
                    let body = serde_json::json!({
                        "status": "ready",
                        "last_key_refresh_seconds_ago": age.as_secs(),
                    });
                    json(StatusCode::OK, body.to_string().into())
                }
            },
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

    /// One peer gets at most [`ADMIN_MAX_CONNECTIONS_PER_PEER`] places, another peer gets its
    /// own, and a place freed is a place back.
    #[test]
    fn per_peer_limit() {
        let peers = Peers::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let held: Vec<PeerSlot> =
            (0..ADMIN_MAX_CONNECTIONS_PER_PEER).map(|_| peers.take(a).unwrap()).collect();
        assert!(peers.take(a).is_none(), "over the per-peer limit");
        assert!(peers.take(b).is_some(), "another peer is not affected");
        drop(held);
        let again = peers.take(a);
        assert!(again.is_some());
        assert_eq!(peers.0.lock().unwrap().len(), 1, "freed peers leave the table");
    }
}
