//! Minting and verifying the service's tokens: JWTs with the claims `email`, `exp` and `nbf`
//! (integer seconds), plus `iss` and `aud` when configured, signed with HS256 (a shared
//! secret, the default), ES256 (ECDSA P-256), EdDSA (Ed25519) or RS256 (RSA PKCS#1 v1.5).
//!
//! This module is the JWT mechanics only:
//!
//! | file | owns |
//! |---|---|
//! | `algorithm.rs` | [`SigningAlgorithm`]: the configured algorithm and its JOSE name |
//! | `key_pair.rs` | [`KeyPair`]: the keys derived from one secret or private key, built once per key, with the public JWK when there is one |
//! | `signer.rs` | the prepared aws-lc-rs signing key of a pair (parsed once, not per token) |
//! | `rules.rs` | [`TokenRules`]: the claims of issued tokens and every verification rule |
//!
//! Which key signs and which keys may verify is decided by [`crate::keys`].

mod algorithm;
mod key_pair;
mod rules;
mod signer;

pub use algorithm::SigningAlgorithm;
pub use key_pair::{KeyPair, PublicJwk};
pub use rules::{
    Claims, KeyMismatch, MAX_TOKEN_BYTES, Rejected, Rejection, SigningFailed, TokenRules,
    claimed_kid, header_kid,
};

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0)
}
