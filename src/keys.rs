//! Which key signs and which keys verify, and how that changes when the secret rotates.
//!
//! A [`KeyStore`] holds a [`Keyring`]: the current key (signs every new token) and, after a
//! rotation, the previous keys, each accepted for verification until its grace period ends.
//! The ring is swapped atomically (`arc-swap`), so the request path never takes a lock.
//!
//! Rotation semantics (secret from SSM):
//! - tokens carry `kid` = the SSM parameter version that signed them;
//! - a periodic refresh installs a new version as current at once; the old one keeps
//!   verifying for `JWT_SECRET_GRACE_SECONDS` (0 = revoked at once);
//! - a token whose `kid` names a version newer than ours (signed by a pod that refreshed
//!   first) triggers one on-demand refresh — single-flight, and at most one per
//!   [`ON_DEMAND_REFRESH_INTERVAL`], so forged `kid`s cannot hammer SSM;
//! - tokens without `kid` (minted elsewhere with the same secret) are tried against every
//!   key still accepted; a `kid` only orders the keys, it never supplies one;
//! - if SSM fails at refresh time the last good secret stays in use and a warning is logged.

use crate::metrics::{self, KeyRefresh};
use crate::secret::{Secret, Strength};
use crate::ssm::{FetchedSecret, SsmParameter};
use crate::token::{
    Claims, KeyMismatch, KeyPair, Rejected, Rejection, SigningFailed, TokenRules, claimed_kid,
};
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Minimum time between two SSM reads triggered by tokens with an unknown, newer `kid`.
pub const ON_DEMAND_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// The keys in force at one moment.
#[derive(Debug)]
pub struct Keyring {
    current: Arc<VersionedKey>,
    /// Retired keys, newest first, each with the instant its grace period ends.
    previous: Vec<(Arc<VersionedKey>, Instant)>,
}

#[derive(Debug)]
struct VersionedKey {
    /// The SSM parameter version; `None` for a secret from the environment.
    version: Option<i64>,
    keys: KeyPair,
}

impl VersionedKey {
    fn new(secret: &Secret, version: Option<i64>) -> Self {
        VersionedKey { version, keys: KeyPair::new(secret, version.map(|v| v.to_string())) }
    }
}

impl Keyring {
    fn single(key: VersionedKey) -> Self {
        Keyring { current: Arc::new(key), previous: Vec::new() }
    }

    /// The ring after `next` becomes current: the old current key is retired with `grace`,
    /// and retired keys whose grace has ended are dropped.
    fn rotated(&self, next: VersionedKey, grace: Duration, now: Instant) -> Keyring {
        let mut previous = Vec::new();
        if !grace.is_zero() {
            previous.push((Arc::clone(&self.current), now + grace));
            previous.extend(self.previous.iter().filter(|(_, until)| *until > now).cloned());
        }
        Keyring { current: Arc::new(next), previous }
    }

    /// Tries the keys still accepted, the one named by `kid` first. `Ok(None)` means no key's
    /// signature matched (the token may be from a newer secret).
    fn verify(
        &self,
        rules: &TokenRules,
        token: &str,
        now: Instant,
    ) -> Result<Option<Claims>, Rejected> {
        let current: &VersionedKey = &self.current;
        let ordered: Vec<&VersionedKey>;
        let keys = if self.previous.is_empty() {
            // The usual case (a secret from the environment, or no rotation within the grace
            // period): one key, nothing to collect or order.
            std::slice::from_ref(&current)
        } else {
            let accepted = std::iter::once(current).chain(
                self.previous.iter().filter(|(_, until)| *until > now).map(|(key, _)| &**key),
            );
            let mut accepted: Vec<&VersionedKey> = accepted.collect();
            if accepted.len() > 1
                && let Some(kid) = claimed_kid(token)
            {
                accepted.sort_by_key(|key| key.keys.kid() != Some(kid.as_str()));
            }
            ordered = accepted;
            &ordered[..]
        };
        for key in keys {
            match rules.verify(&key.keys, token) {
                Ok(claims) => return Ok(Some(claims)),
                Err(KeyMismatch::Signature) => continue,
                Err(KeyMismatch::Rejected(why)) => return Err(Rejected(why)),
            }
        }
        Ok(None)
    }
}

/// Issues and verifies tokens with the keys in force, and rotates them. Shared by every
/// request; built once at start-up.
pub struct KeyStore {
    ring: ArcSwap<Keyring>,
    rules: TokenRules,
    rotation: Option<Rotation>,
}

struct Rotation {
    parameter: SsmParameter,
    grace: Duration,
    allow_weak: bool,
    /// Held while a refresh runs (single flight); remembers when the last one started.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("rules", &self.rules).finish_non_exhaustive()
    }
}

impl KeyStore {
    /// A store with one fixed key (secret from `JWT_SECRET`): tokens carry no `kid`.
    pub fn fixed(secret: &Secret, rules: TokenRules) -> Self {
        metrics::key_installed(None);
        KeyStore {
            ring: ArcSwap::from_pointee(Keyring::single(VersionedKey::new(secret, None))),
            rules,
            rotation: None,
        }
    }

    /// A store whose key comes from an SSM parameter, starting with `first` (already
    /// fetched) and refreshable with [`KeyStore::refresh`].
    pub fn rotating(
        first: &FetchedSecret,
        parameter: SsmParameter,
        grace: Duration,
        allow_weak: bool,
        rules: TokenRules,
    ) -> Self {
        let key = VersionedKey::new(&first.secret, Some(first.version));
        metrics::key_installed(Some(first.version));
        KeyStore {
            ring: ArcSwap::from_pointee(Keyring::single(key)),
            rules,
            rotation: Some(Rotation {
                parameter,
                grace,
                allow_weak,
                last_refresh: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Mints a token with the current key.
    pub fn issue(&self, email: &str) -> Result<String, SigningFailed> {
        self.rules.issue(&self.ring.load().current.keys, email)
    }

    /// Verifies `token` against every key still accepted. If no key matches and the token
    /// names a newer secret version than the current one, re-reads the secret once
    /// (single-flight, rate-limited) and tries again.
    pub async fn verify(&self, token: &str) -> Result<Claims, Rejected> {
        let ring = self.ring.load_full();
        if let Some(claims) = ring.verify(&self.rules, token, Instant::now())? {
            return Ok(claims);
        }
        // Boxed: the re-read embeds the SSM call and makes a future of several KiB, which
        // would otherwise be built (and moved) for every verification, not just this rare one.
        Box::pin(self.verify_after_refresh(token, &ring)).await
    }

    /// The rare path of [`KeyStore::verify`]: no key in `ring` matched.
    async fn verify_after_refresh(&self, token: &str, ring: &Keyring) -> Result<Claims, Rejected> {
        let no_key_matched = Rejected(Rejection::BadSignature);
        let Some(rotation) = &self.rotation else {
            return Err(no_key_matched);
        };
        let current = ring.current.version.unwrap_or(i64::MIN);
        let claims_newer = claimed_kid(token)
            .and_then(|kid| kid.parse::<i64>().ok())
            .is_some_and(|version| version > current);
        if !claims_newer {
            return Err(no_key_matched);
        }
        {
            let mut last = rotation.last_refresh.lock().await;
            let refreshed_meanwhile = self.ring.load().current.version != ring.current.version;
            let too_soon = last.is_some_and(|at| at.elapsed() < ON_DEMAND_REFRESH_INTERVAL);
            if !refreshed_meanwhile && !too_soon {
                *last = Some(Instant::now());
                self.fetch_and_install(rotation, "unknown token kid").await;
            }
        }
        self.ring.load().verify(&self.rules, token, Instant::now())?.ok_or(no_key_matched)
    }

    /// Re-reads the secret now (the periodic refresh). A no-op for a fixed key. On failure
    /// the last good secret stays in use and a warning is logged.
    pub async fn refresh(&self) {
        if let Some(rotation) = &self.rotation {
            let mut last = rotation.last_refresh.lock().await;
            *last = Some(Instant::now());
            self.fetch_and_install(rotation, "periodic").await;
        }
    }

    /// The version of the current secret (`None` for a secret from the environment).
    pub fn current_version(&self) -> Option<i64> {
        self.ring.load().current.version
    }

    async fn fetch_and_install(&self, rotation: &Rotation, reason: &'static str) {
        match rotation.parameter.fetch(rotation.allow_weak).await {
            Ok(fetched) => {
                let ring = self.ring.load();
                if ring.current.version == Some(fetched.version) {
                    metrics::key_refresh(KeyRefresh::Unchanged);
                    tracing::debug!(reason, version = fetched.version, "JWT secret unchanged");
                    return;
                }
                if fetched.strength == Strength::Weak {
                    tracing::warn!(
                        "the new JWT secret is shorter than 32 bytes (JWT_ALLOW_WEAK_SECRET=true)"
                    );
                }
                let next = VersionedKey::new(&fetched.secret, Some(fetched.version));
                self.ring.store(Arc::new(ring.rotated(next, rotation.grace, Instant::now())));
                metrics::key_installed(Some(fetched.version));
                metrics::key_refresh(KeyRefresh::Rotated);
                tracing::info!(
                    reason,
                    version = fetched.version,
                    previous_version = ring.current.version,
                    grace_seconds = rotation.grace.as_secs(),
                    "JWT secret rotated"
                );
            }
            Err(err) => {
                metrics::key_refresh(KeyRefresh::Failed);
                tracing::warn!(
                    reason,
                    error = %err,
                    "could not refresh the JWT secret; keeping the last good one"
                )
            }
        }
    }
}

/// Runs [`KeyStore::refresh`] every `period`, for as long as the process lives.
pub fn spawn_periodic_refresh(store: Arc<KeyStore>, period: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            store.refresh().await;
        }
    });
}
