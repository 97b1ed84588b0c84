//! The hyper adapter: puts [`crate::dispatch()`] on a TCP listener.
//!
//! HTTP/1.1 with keep-alive and HTTP/2 cleartext (h2c, via hyper-util's auto builder), and
//! graceful shutdown: stop accepting, let in-flight requests finish, give up after the drain
//! bound.
//!
//! Bounds against slow or hostile clients, all per connection unless said otherwise:
//! - at most [`ServerConfig::max_connections`] connections are open at once; past that, new
//!   ones wait in the kernel's listen backlog until one closes;
//! - a connection with no request in flight for [`ServerConfig::header_read_timeout`] is
//!   closed — one that never sends a byte, stalls inside the HTTP/2 preface, dribbles its
//!   request head, or idles between requests (HTTP/1.1 keep-alive and HTTP/2 alike). hyper
//!   bounds HTTP/1 heads itself, but hyper-util's auto builder reads the protocol preface
//!   with no timer and HTTP/2 has no idle timeout, so the server watches every connection;
//! - a request head is at most [`MAX_HEAD_BYTES`] (HTTP/1, else 431) and
//!   [`MAX_H2_HEADER_LIST_BYTES`] (HTTP/2); an HTTP/2 connection has at most
//!   [`ServerConfig::max_h2_streams`] requests open, and h2c can be turned off
//!   ([`ServerConfig::h2c`]);
//! - a request body must arrive in full within [`ServerConfig::body_read_timeout`] (else 408)
//!   and is cut off past the body limit while reading (413; nothing past it is buffered). A
//!   body declared larger than the limit is refused before any of it is read. After a 413,
//!   the rest of the body is read and discarded for at most [`LINGER_TIME`] and
//!   [`LINGER_BYTES`] before the connection closes (nginx's "lingering close"): closing with
//!   unread data makes the kernel reset the connection, and a client still sending its body
//!   (Python's `http.client`, `requests`) would then see a broken pipe instead of the 413.
//!
//! The admin listener ([`start_admin`]) answers `GET /metrics`, `/healthz` and `/readyz` on a
//! port, a thread and a Tokio runtime of its own, so that the public port keeps exactly the
//! public API and its load never delays a probe. On SIGTERM,
//! [`shutdown_after_delay`] turns `/readyz` to 503 at once and keeps the public listener
//! serving for `SHUTDOWN_DELAY_SECONDS` before it stops accepting and drains.
//!
//! | file | owns |
//! |---|---|
//! | `accept.rs` | [`serve`], [`serve_with`]: the accept loop, the connection cap, protocol settings, the drain |
//! | `connection.rs` | the per-connection watchdog that closes connections with no request in flight |
//! | `body.rs` | reading a request body within its limit and time, the 413 lingering close |
//! | `shutdown.rs` | signals, [`Readiness`], the shutdown sequence |
//! | `admin.rs` | the admin listener: `/metrics`, `/healthz`, `/readyz` |
//!
//! Its options are the configuration's server section, [`ServerConfig`].

mod accept;
mod admin;
mod body;
mod connection;
mod shutdown;

pub use crate::config::ServerConfig;
pub use accept::{serve, serve_with};
pub use admin::{
    ADMIN_CONNECTION_LIFETIME, ADMIN_HEAD_TIMEOUT, ADMIN_MAX_CONNECTIONS,
    ADMIN_MAX_CONNECTIONS_PER_PEER, Admin, serve_admin, start_admin,
};
pub use body::{LINGER_BYTES, LINGER_TIME};
pub use shutdown::{Readiness, Signal, shutdown_after_delay, shutdown_signal, signal_received};

use tokio::net::TcpListener;

/// Largest HTTP/1 request head (request line and headers) read into memory; a larger one is
/// answered 431. Tokens are at most 8 KiB, so this leaves room for ordinary headers (the same
/// bound as Node's default and HTTP/2's header list below).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest HTTP/2 header list (hyper's default, stated here so the bound is visible).
pub const MAX_H2_HEADER_LIST_BYTES: u32 = 16 * 1024;

/// Binds `address` and logs `message` with the address bound (the port is known only now
/// when 0 was asked for).
pub async fn listen(address: std::net::SocketAddr, message: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "{message}");
    Ok(listener)
}
