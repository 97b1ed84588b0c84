//! `simple-jwt-api`: issues and checks JSON Web Tokens — HS256 with a shared secret, or ES256 /
//! EdDSA with a private key whose public half it publishes as a JWKS behind an OpenID
//! discovery document.
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
//! | [`secret`] | key material: the HMAC secret's and the PEM private key's policy, zeroizing |
//! | [`ssm`] | reading the material from SSM Parameter Store (SecureString only), bounded |
//! | [`keys`] | which key signs and which verify; rotation, activation, grace, refresh, JWKS |
//! | [`token`] | JWT mechanics: algorithms, keys and their JWK/`kid`, issuing and verification |
//! | [`error`] | the one error enum and its mapping to HTTP responses |
//! | [`mod@dispatch`] | routing, request parsing, the JWKS and discovery documents, access log |
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
