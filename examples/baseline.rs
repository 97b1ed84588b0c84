//! The load harness's baseline (`scripts/load.sh`): the `server` binary's hyper adapter —
//! [`serve_with`], the same accept loop, HTTP/1.1 + h2c builder, connection limit, timeouts,
//! `TCP_NODELAY`, graceful shutdown and Tokio runtime — around a handler that answers every
//! request with a constant `200 "Healthy"` and does nothing else: no routing, no request id,
//! no access log, no JSON. It is the practical ceiling for this machine; the harness reports
//! the service as a fraction of it.
//!
//! Reads `PORT` (default 8081) and `BIND_ADDRESS` (default 127.0.0.1); stops on SIGTERM or
//! SIGINT. Run it with `cargo run --release --example baseline`.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response};
use http_body_util::Full;
use simple_jwt_api::server::{ServeOptions, serve_with, shutdown_signal};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

#[tokio::main]
async fn main() {
    let port: u16 = env_or("PORT", 8081);
    let address: IpAddr = env_or("BIND_ADDRESS", IpAddr::from([127, 0, 0, 1]));
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(address, port))
        .await
        .expect("bind the baseline's listener");
    eprintln!("baseline listening on {}", listener.local_addr().unwrap());
    // The server's defaults: what `server` runs with when no variable overrides them.
    let options = ServeOptions::default();
    serve_with(listener, options, shutdown_signal(), |_request| async {
        let mut response = Response::new(Full::new(Bytes::from_static(br#""Healthy""#)));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok::<_, Infallible>(response)
    })
    .await;
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value.parse().unwrap_or_else(|_| panic!("{name}: invalid value {value:?}")),
        Err(_) => default,
    }
}
