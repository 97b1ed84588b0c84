//! Which key signs and which keys verify, and how that changes when the key material rotates.
//!
//! | file | owns |
//! |---|---|
//! | `policy.rs` | [`KeyPolicy`]: how material (a secret, a PEM key) becomes a [`crate::token::KeyPair`] |
//! | `ring.rs` | [`Keyring`]: the pure state machine of current, next and retired keys |
//! | `store.rs` | [`KeyStore`]: issuing and verifying with the ring in force, loading and refreshing it from a [`crate::source::Source`] |
//!
//! One code path serves the HMAC secret (HS256) and the private key (RS256, ES256, EdDSA): a source
//! yields versions of the material (an SSM parameter, or the environment), [`KeyPolicy::build`]
//! turns one into keys, and the refresh, single flight, activation and grace are shared.
//!
//! Rotation semantics (material from a source that changes, i.e. SSM):
//! - a periodic refresh that sees a new parameter version installs its key as next, signing
//!   from `activation` later and verifying (and published in the JWKS) at once; when it
//!   starts signing, the key it replaces keeps verifying for the grace period (0 = revoked at
//!   once). HS256 uses no activation delay (nobody can cache a secret that is never published),
//!   which is the behaviour the service always had;
//! - tokens carry `kid`: the SSM parameter version (HS256) or the RFC 7638 thumbprint of the
//!   public key (RS256, ES256, EdDSA);
//! - a token whose `kid` may name a key this process has not seen yet (HS256: a version newer
//!   than ours; public keys: a `kid` none of our keys has) triggers one on-demand refresh —
//!   single-flight, and at most one per [`ON_DEMAND_REFRESH_INTERVAL`], so forged `kid`s
//!   cannot hammer SSM;
//! - in the public-key modes a token is checked against the one key its `kid` names (a
//!   thumbprint of a key we hold; a `kid` never supplies a key), or the signing key when it
//!   has none: at most one signature check per token, and these checks run behind the
//!   admission bound ([`KeyStore::with_admission`]); HS256 tokens (a `kid` is only an SSM
//!   version there) are tried against every key still accepted, the named one first;
//! - if the source fails, or the new material fails the policy, at refresh time the last good
//!   key stays in use and a warning is logged.

mod policy;
mod ring;
mod store;

pub use policy::{KeyPolicy, MaterialError};
pub use ring::{Candidates, Checked, Keyring, Plan, VersionedKey};
pub use store::{KeyStore, LoadError, ON_DEMAND_REFRESH_INTERVAL, Rotation, VerifyError};
