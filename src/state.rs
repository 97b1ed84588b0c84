//! Application state: everything a request needs, built once at start-up
//! ([`crate::startup`]) and shared (in an `Arc`) by every connection or Lambda invocation.

use crate::keys::KeyStore;
use crate::login::Logins;
use std::sync::Arc;
use std::time::Duration;

/// Per-process state. Share it as `Arc<AppState>`: cloning the `Arc` is shallow.
#[derive(Debug)]
pub struct AppState {
    /// Mints and verifies tokens with the keys in force.
    pub keys: Arc<KeyStore>,
    /// Request body cap, in bytes.
    pub body_limit: usize,
    /// `Cache-Control: max-age` of the JWKS and discovery documents.
    pub jwks_max_age: Duration,
    /// `users` mode: how credentials are checked. `None` in `open` mode.
    pub logins: Option<Logins>,
}
