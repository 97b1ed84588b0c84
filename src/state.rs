//! Application state: everything a request needs, built once at start-up and shared (in an
//! `Arc`) by every connection or Lambda invocation.

use crate::config::{Config, SecretSource};
use crate::secret::Strength;
use crate::token::TokenService;
use std::sync::Arc;

/// Immutable per-process state. Share it as `Arc<AppState>`: cloning the `Arc` is shallow.
#[derive(Debug)]
pub struct AppState {
    /// Mints and verifies tokens with keys built once.
    pub tokens: TokenService,
    /// Request body cap, in bytes.
    pub body_limit: usize,
}

/// Why the state could not be built at start-up.
#[derive(Debug)]
pub struct StartupError(String);

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}

impl AppState {
    /// Builds the state from the configuration: obtains the secret and builds the keys.
    pub async fn from_config(config: &Config) -> Result<Arc<Self>, StartupError> {
        let SecretSource::Env { secret, strength } = &config.secret;
        if *strength == Strength::Weak {
            tracing::warn!(
                "JWT_SECRET is shorter than 32 bytes; accepted only because \
                 JWT_ALLOW_WEAK_SECRET=true. Replace it with `openssl rand -base64 48`"
            );
        }
        let tokens = TokenService::new(secret, config.token_ttl, config.leeway_seconds);
        Ok(Arc::new(AppState {
            tokens,
            body_limit: config.body_limit,
        }))
    }
}
