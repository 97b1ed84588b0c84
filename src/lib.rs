//! `simple-jwt-api`: issues and checks JSON Web Tokens — HS256 with a shared secret, or
//! RS256 / ES256 / EdDSA with a private key whose public half it publishes as a JWKS behind an
//! OpenID discovery document.
//!
//! All behaviour lives in this library. One function, [`dispatch()`], answers every HTTP request;
//! the binaries only put it on the wire:
//!
//! - `server` (the EKS container) runs [`server::serve`], a hyper 1.x server;
//! - `lambda` runs the same dispatch function behind `lambda_http` ([`lambda::handle`]).
//!
//! Module map — the one place that owns each behaviour, listed from the wire down; each module
//! imports only modules below it:
//!
//! | module | owns |
//! |---|---|
//! | [`server`] | the hyper adapter: accept loop, connection watchdog, body reading, shutdown, the admin port |
//! | [`lambda`] | the lambda_http adapter: event request and response bodies <-> dispatch |
//! | [`startup`] | what both binaries do first: configuration, logs, state |
//! | [`command`] | `server users hash` / `server users add`: making users |
//! | [`mod@dispatch`] | the one routing function |
//! | [`handlers`] | the answer of each route |
//! | [`access`] | each request's access line, metrics and request id |
//! | [`login`] | a `users`-mode login: the order of the checks, the one 401 |
//! | [`client_address`] | the client's address (socket, Lambda source IP, trusted `X-Forwarded-For`) |
//! | [`state`] | the per-process state shared by every request |
//! | [`config`] | every environment variable, parsed and checked once, one file per section |
//! | [`users`] | the user record, the store trait, the `htpasswd`-shaped document and its refresh |
//! | [`throttle`] | per-account back-off (in process or DynamoDB) and per-address token buckets |
//! | [`password`] | argon2id/bcrypt hashes: parsing against the floor, verifying, the dummy hash |
//! | [`aws`] | the AWS SDK configuration and one file per service (SSM, DynamoDB) |
//! | [`keys`] | which key signs and which verify: policy, ring, store, rotation |
//! | [`source`] | versioned documents read from outside (SSM, the environment) and their refresh |
//! | [`token`] | JWT mechanics: algorithms, key pairs and their JWK/`kid`, issuing and verification rules |
//! | [`key_material`] | the HMAC secret's and the PEM private key's policy, zeroizing |
//! | [`metrics`] | metric names and labels; the Prometheus (server) and EMF (Lambda) exporters |
//! | [`admission`] | bounded concurrency for expensive work (503 + `Retry-After` past it) |
//! | [`route`] | the routes, decided once from the path |
//! | [`error`], [`response`] | the one error enum and its HTTP mapping; response helpers |
//! | [`telemetry`] | JSON log output |
#![deny(missing_docs)]

pub mod access;
pub mod admission;
pub mod aws;
pub mod client_address;
pub mod command;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod handlers;
pub mod key_material;
pub mod keys;
pub mod lambda;
pub mod login;
pub mod metrics;
pub mod password;
pub mod response;
pub mod route;
pub mod server;
pub mod source;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod token;
pub mod users;

pub use config::Config;
pub use dispatch::dispatch;
pub use error::ApiError;
pub use state::AppState;
