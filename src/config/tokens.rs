//! The token section: lifetime, clock-skew leeway, and the `iss`/`aud` claims.

use super::ConfigError;
use super::env::Env;
use crate::token::{SigningAlgorithm, TokenRules};
use std::net::IpAddr;
use std::time::Duration;

/// Default token lifetime: 14 days, as in the original service.
pub const DEFAULT_TOKEN_TTL_SECONDS: u64 = 14 * 24 * 60 * 60;
/// Default clock-skew allowance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;
/// Largest allowed leeway: more would make `exp`/`nbf` meaningless for short-lived tokens.
pub const MAX_LEEWAY_SECONDS: u64 = 300;
/// Longest token lifetime accepted: 366 days. Longer is no lifetime at all, and a value near
/// `u64::MAX` would overflow `exp`.
pub const MAX_TOKEN_TTL_SECONDS: u64 = 31_622_400;

/// The variables of this section.
pub const VARIABLES: &[&str] =
    &["JWT_ISSUER", "JWT_AUDIENCE", "TOKEN_TTL_SECONDS", "TOKEN_LEEWAY_SECONDS"];

/// The token section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokensConfig {
    /// `iss` of issued tokens, required of verified ones, and the base of the discovery
    /// document's URLs (`JWT_ISSUER`).
    pub issuer: Option<String>,
    /// `aud` of issued tokens, required of verified ones (`JWT_AUDIENCE`).
    pub audience: Option<String>,
    /// Lifetime of issued tokens (`TOKEN_TTL_SECONDS`).
    pub ttl: Duration,
    /// Clock-skew leeway for `exp`/`nbf`, in seconds (`TOKEN_LEEWAY_SECONDS`).
    pub leeway_seconds: u64,
}

impl TokensConfig {
    pub(super) fn read(env: &Env) -> Result<Self, ConfigError> {
        let issuer = env.trimmed("JWT_ISSUER");
        if let Some(issuer) = &issuer {
            check_issuer(issuer).map_err(|problem| ConfigError::new("JWT_ISSUER", problem))?;
        }
        let audience = env.trimmed("JWT_AUDIENCE");
        let ttl = env.seconds_in(
            "TOKEN_TTL_SECONDS",
            DEFAULT_TOKEN_TTL_SECONDS,
            1..=MAX_TOKEN_TTL_SECONDS,
        )?;
        let leeway_seconds =
            env.count_in("TOKEN_LEEWAY_SECONDS", DEFAULT_LEEWAY_SECONDS, 0..=MAX_LEEWAY_SECONDS)?;
        Ok(TokensConfig { issuer, audience, ttl, leeway_seconds })
    }

    /// The rules tokens are issued and verified by, with `algorithm`.
    pub fn rules(&self, algorithm: SigningAlgorithm) -> TokenRules {
        TokenRules::with_claims(
            algorithm,
            self.ttl,
            self.leeway_seconds,
            self.issuer.clone(),
            self.audience.clone(),
        )
    }
}

/// An issuer is the URL verifiers fetch `/.well-known/openid-configuration` under (OpenID
/// Connect Discovery 1.0 §4): `https`, or `http` on a loopback host for local tests; no query
/// or fragment.
fn check_issuer(issuer: &str) -> Result<(), String> {
    let uri: http::Uri =
        issuer.parse().map_err(|err| format!("invalid value {issuer:?}: {err}"))?;
    let host = uri.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if loopback => {}
        _ => {
            return Err(format!(
                "invalid value {issuer:?}: must be an https:// URL (http:// only on a loopback \
                 host, for tests)"
            ));
        }
    }
    if host.is_empty() || uri.query().is_some() || issuer.contains('#') {
        return Err(format!("invalid value {issuer:?}: needs a host, and no query or fragment"));
    }
    Ok(())
}
