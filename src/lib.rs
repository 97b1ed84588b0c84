//! `simple-jwt-api`: issues and checks HS256 JSON Web Tokens.
//!
//! All behaviour lives in this library. One function, [`dispatch()`], answers every HTTP request;
//! the binaries only put it on the wire:
//!
//! - `server` (the EKS container) runs [`server::serve`], a hyper 1.x server;
//! - `lambda` runs the same dispatch function behind `lambda_http`.
//!
//! Module map — the one file that owns each behaviour:
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | every environment variable, parsed and checked once at start-up |
//! | [`secret`] | the HMAC secret: its policy (length) and its lifetime in memory |
//! | [`ssm`] | reading the secret from SSM Parameter Store, with bounded timeouts |
//! | [`keys`] | which key signs and which verify; rotation, grace period, refresh |
//! | [`token`] | JWT mechanics: keys from a secret, issuing and verification rules |
//! | [`error`] | the one error enum and its mapping to HTTP responses |
//! | [`mod@dispatch`] | routing, request parsing and the access log |
//! | [`state`] | the per-process state shared by every request |
//! | [`server`] | the hyper adapter: connections, body cap, timeouts, graceful shutdown; the admin port (metrics, probes) |
//! | [`lambda`] | the lambda_http adapter: event request and response bodies <-> dispatch |
//! | [`metrics`] | metric names and labels; the Prometheus (server) and EMF (Lambda) exporters |
//! | [`telemetry`] | JSON log output |
#![deny(missing_docs)]

pub mod config;
pub mod dispatch;
pub mod error;
pub mod keys;
pub mod lambda;
pub mod metrics;
pub mod secret;
pub mod server;
pub mod ssm;
pub mod state;
pub mod telemetry;
pub mod token;

pub use config::Config;
pub use dispatch::dispatch;
pub use error::ApiError;
pub use state::AppState;
