//! The server section (`server` binary only): where it listens, the admin listener, the
//! time and connection bounds against slow or hostile clients, and the shutdown sequence. These
//! are the options [`crate::server::serve`] takes, with their documented defaults in one place.

use super::ConfigError;
use super::env::Env;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

/// Default listening port, as in the original service's container.
pub const DEFAULT_PORT: u16 = 8080;
/// Default admin port (`/metrics`, `/healthz`, `/readyz`).
pub const DEFAULT_ADMIN_PORT: u16 = 9090;
/// Default time a client has to send a request's headers.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECONDS: u64 = 10;
/// Default time a request body has to arrive in full once its head has been read.
pub const DEFAULT_BODY_READ_TIMEOUT_SECONDS: u64 = 30;
/// Default cap on connections open at once. A silent connection costs about 6 KiB, one
/// holding a nearly full request head about 30 KiB (measured, release build), plus the body
/// being read: size the cap to the memory limit (see SECURITY.md).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default bound on draining in-flight requests after SIGTERM; shorter than Kubernetes'
/// default 30 s `terminationGracePeriodSeconds`.
pub const DEFAULT_DRAIN_SECONDS: u64 = 10;
/// Default time the public listener keeps serving after SIGTERM, with `/readyz` already
/// answering 503, so that Kubernetes removes the pod's endpoints and the load balancer its
/// target before connections are refused. Five seconds, as the preStop sleep it replaces;
/// plus the drain bound it stays within the default 30 s `terminationGracePeriodSeconds`.
pub const DEFAULT_SHUTDOWN_DELAY_SECONDS: u64 = 5;
/// Default cap on concurrent requests of one HTTP/2 connection. Below RFC 9113's suggested
/// 100 on purpose: every stream may hold a request head (up to 16 KiB) and a body being read,
/// so the memory one connection can pin grows with it, while a connection gains no
/// throughput from more streams than the verification queue admits (past it they get 503 at
/// once). 32 streams of stalled 4 KiB bodies cost about 1 MiB; a client that needs more
/// parallelism opens another connection, which `MAX_CONNECTIONS` counts.
pub const DEFAULT_MAX_H2_STREAMS: u32 = 32;

/// Accepted range of `HEADER_READ_TIMEOUT_SECONDS` and `BODY_READ_TIMEOUT_SECONDS`.
pub const READ_TIMEOUT_RANGE: RangeInclusive<u64> = 1..=3_600;
/// Accepted range of `SHUTDOWN_DRAIN_SECONDS` and `SHUTDOWN_DELAY_SECONDS`.
pub const SHUTDOWN_RANGE: RangeInclusive<u64> = 0..=3_600;
/// Accepted range of `MAX_CONNECTIONS`.
pub const MAX_CONNECTIONS_RANGE: RangeInclusive<usize> = 1..=1_000_000;
/// Accepted range of `MAX_H2_STREAMS`.
pub const MAX_H2_STREAMS_RANGE: RangeInclusive<u32> = 1..=1_000;

/// The variables of this section.
pub const VARIABLES: &[&str] = &[
    "PORT",
    "BIND_ADDRESS",
    "ADMIN_PORT",
    "ADMIN_BIND_ADDRESS",
    "HEADER_READ_TIMEOUT_SECONDS",
    "BODY_READ_TIMEOUT_SECONDS",
    "MAX_CONNECTIONS",
    "SHUTDOWN_DRAIN_SECONDS",
    "SHUTDOWN_DELAY_SECONDS",
    "H2C_ENABLED",
    "MAX_H2_STREAMS",
];

/// The server section: everything [`crate::server::serve`] and the admin listener need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address the server binds (`BIND_ADDRESS`:`PORT`).
    pub bind: SocketAddr,
    /// Address of the admin listener (`ADMIN_BIND_ADDRESS`:`ADMIN_PORT`; port 0 picks a free
    /// one); `None` when `ADMIN_PORT=off`.
    pub admin: Option<SocketAddr>,
    /// Time a client has to send a complete request head; also how long a connection may sit
    /// with no request in flight before it is closed (`HEADER_READ_TIMEOUT_SECONDS`).
    pub header_read_timeout: Duration,
    /// Time a request body has to arrive in full, counted from the end of its head
    /// (`BODY_READ_TIMEOUT_SECONDS`).
    pub body_read_timeout: Duration,
    /// Most connections open at once (`MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Bound on draining in-flight requests once shutdown starts (`SHUTDOWN_DRAIN_SECONDS`).
    pub drain_timeout: Duration,
    /// Time the public listener keeps serving after SIGTERM, not ready
    /// (`SHUTDOWN_DELAY_SECONDS`).
    pub shutdown_delay: Duration,
    /// Whether HTTP/2 cleartext (h2c, prior knowledge) is served beside HTTP/1.1
    /// (`H2C_ENABLED`, default true). The ALB speaks HTTP/1.1 to the pods, so turning it off
    /// costs nothing behind it and closes the HTTP/2 paths to clients inside the VPC.
    pub h2c: bool,
    /// Most requests one HTTP/2 connection may have open at once (`MAX_H2_STREAMS`).
    pub max_h2_streams: u32,
}

impl Default for ServerConfig {
    /// The documented default of every setting.
    fn default() -> Self {
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        ServerConfig {
            bind: SocketAddr::new(any, DEFAULT_PORT),
            admin: Some(SocketAddr::new(any, DEFAULT_ADMIN_PORT)),
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECONDS),
            body_read_timeout: Duration::from_secs(DEFAULT_BODY_READ_TIMEOUT_SECONDS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            drain_timeout: Duration::from_secs(DEFAULT_DRAIN_SECONDS),
            shutdown_delay: Duration::from_secs(DEFAULT_SHUTDOWN_DELAY_SECONDS),
            h2c: true,
            max_h2_streams: DEFAULT_MAX_H2_STREAMS,
        }
    }
}

impl ServerConfig {
    pub(super) fn read(env: &Env) -> Result<Self, ConfigError> {
        let defaults = ServerConfig::default();
        let port = env.parse_or("PORT", DEFAULT_PORT)?;
        let address: IpAddr = env.parse_or("BIND_ADDRESS", defaults.bind.ip())?;
        let admin_port = match env.trimmed("ADMIN_PORT") {
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            _ => Some(env.parse_or("ADMIN_PORT", DEFAULT_ADMIN_PORT)?),
        };
        let admin_address: IpAddr = env.parse_or("ADMIN_BIND_ADDRESS", defaults.bind.ip())?;
        let max_connections =
            env.count_in("MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, MAX_CONNECTIONS_RANGE)?;
        Ok(ServerConfig {
            bind: SocketAddr::new(address, port),
            admin: admin_port.map(|port| SocketAddr::new(admin_address, port)),
            header_read_timeout: env.seconds_in(
                "HEADER_READ_TIMEOUT_SECONDS",
                DEFAULT_HEADER_READ_TIMEOUT_SECONDS,
                READ_TIMEOUT_RANGE,
            )?,
            body_read_timeout: env.seconds_in(
                "BODY_READ_TIMEOUT_SECONDS",
                DEFAULT_BODY_READ_TIMEOUT_SECONDS,
                READ_TIMEOUT_RANGE,
            )?,
            max_connections,
            drain_timeout: env.seconds_in(
                "SHUTDOWN_DRAIN_SECONDS",
                DEFAULT_DRAIN_SECONDS,
                SHUTDOWN_RANGE,
            )?,
            shutdown_delay: env.seconds_in(
                "SHUTDOWN_DELAY_SECONDS",
                DEFAULT_SHUTDOWN_DELAY_SECONDS,
                SHUTDOWN_RANGE,
            )?,
            h2c: env.flag_or("H2C_ENABLED", defaults.h2c)?,
            max_h2_streams: env.count_in(
                "MAX_H2_STREAMS",
                DEFAULT_MAX_H2_STREAMS,
                MAX_H2_STREAMS_RANGE,
            )?,
        })
    }
}
