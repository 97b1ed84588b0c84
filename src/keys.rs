//! Which key signs and which keys verify, and how that changes when the key material rotates.
//!
//! A [`KeyStore`] holds a [`Keyring`]: the current key (signs every new token), possibly a
//! next key (already verifying and published, signing from its activation instant) and, after
//! a rotation, the previous keys, each accepted for verification until its grace period ends.
//! The ring is swapped atomically (`arc-swap`), so the request path never takes a lock. What
//! the ring answers depends only on the ring and the instant asked about: activation and the
//! end of grace need no timer, and the tests drive them with an injected `now`.
//!
//! One code path serves the HMAC secret (HS256) and the private key (ES256, EdDSA): a
//! [`KeySource`] yields versions of the material (the SSM parameter in production, an
//! in-memory fake in the tests), [`KeyPolicy::build`] — the only place where the two differ —
//! turns one into a [`KeyPair`], and the refresh, single flight, activation and grace below
//! are shared.
//!
//! Rotation semantics (material from SSM):
//! - a periodic refresh that sees a new parameter version installs its key as next, signing
//!   from `activation` later and verifying (and published in the JWKS) at once; when it
//!   starts signing, the key it replaces keeps verifying for the grace period (0 = revoked at
//!   once). HS256 uses no activation delay (nobody can cache a secret that is never published),
//!   which is the behaviour the service always had;
//! - tokens carry `kid`: the SSM parameter version (HS256) or the RFC 7638 thumbprint of the
//!   public key (ES256, EdDSA);
//! - a token whose `kid` may name a key this process has not seen yet (HS256: a version newer
//!   than ours; public keys: a `kid` none of our keys has) triggers one on-demand refresh —
//!   single-flight, and at most one per [`ON_DEMAND_REFRESH_INTERVAL`], so forged `kid`s
//!   cannot hammer SSM;
//! - tokens without `kid` (minted elsewhere with the same key) are tried against every key
//!   still accepted; a `kid` only orders the keys, it never supplies one;
//! - if SSM fails, or the new material fails the policy, at refresh time the last good key
//!   stays in use and a warning is logged.

use crate::metrics::{self, KeyRefresh};
use crate::secret::{KeyError, PrivateKey, Secret, SecretError, Strength};
use crate::ssm::FetchError;
use crate::token::{
    Claims, KeyMismatch, KeyPair, PublicJwk, Rejected, Rejection, SigningAlgorithm, SigningFailed,
    TokenRules, claimed_kid,
};
use arc_swap::ArcSwap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Minimum time between two SSM reads triggered by tokens with an unknown `kid`.
pub const ON_DEMAND_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// A boxed future, so that [`KeySource`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where rotating key material comes from: [`crate::ssm::SsmParameter`] in production, an
/// in-memory fake in the unit tests.
pub trait KeySource: Send + Sync {
    /// Reads the current version of the key material.
    fn fetch(&self) -> BoxFuture<'_, Result<Material, FetchError>>;
}

/// One version of the key material as read from its source, before any policy is applied.
/// Zeroized on drop; `Debug` never shows the value.
pub struct Material {
    /// The secret or PEM text.
    pub value: Zeroizing<String>,
    /// The source's version of it (the SSM parameter version).
    pub version: i64,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Material(version {}, [redacted])", self.version)
    }
}

/// How material becomes keys, for the configured algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The signing algorithm.
    pub algorithm: SigningAlgorithm,
    /// Whether HMAC secrets shorter than 32 bytes are accepted (`JWT_ALLOW_WEAK_SECRET`).
    pub allow_weak: bool,
}

/// Why material was refused. Never contains the material.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MaterialError {
    /// The HMAC secret failed the secret policy.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The private key failed the key policy.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl KeyPolicy {
    /// Applies the policy to `value` and derives the keys; `version` becomes the `kid` of an
    /// HMAC secret (a private key's `kid` is its thumbprint). The only place where a secret
    /// and a private key take different paths. Takes ownership so that no unzeroized copy of
    /// the material is left behind.
    pub fn build(
        &self,
        value: String,
        version: Option<i64>,
    ) -> Result<(KeyPair, Strength), MaterialError> {
        match self.algorithm {
            SigningAlgorithm::Hs256 => {
                let (secret, strength) = Secret::new(value, self.allow_weak)?;
                Ok((KeyPair::new(&secret, version.map(|v| v.to_string())), strength))
            }
            SigningAlgorithm::Es256 | SigningAlgorithm::EdDsa => {
                let key = PrivateKey::from_pem(value)?;
                Ok((KeyPair::from_private_key(self.algorithm, &key)?, Strength::Strong))
            }
        }
    }
}

/// The keys in force; what signs and what verifies at a given instant.
#[derive(Debug)]
pub struct Keyring {
    current: Arc<VersionedKey>,
    /// A newer key: verifies and is published now, signs from `activates_at`.
    next: Option<NextKey>,
    /// Retired keys, newest first, each with the instant its grace period ends.
    previous: Vec<(Arc<VersionedKey>, Instant)>,
}

#[derive(Debug)]
struct NextKey {
    key: Arc<VersionedKey>,
    activates_at: Instant,
    /// When `current` stops verifying once this key signs: `activates_at` + grace.
    current_until: Instant,
}

#[derive(Debug)]
struct VersionedKey {
    /// The SSM parameter version; `None` for material from the environment.
    version: Option<i64>,
    keys: KeyPair,
}

impl Keyring {
    fn single(key: VersionedKey) -> Self {
        Keyring { current: Arc::new(key), next: None, previous: Vec::new() }
    }

    /// The key that signs at `now`.
    fn signing(&self, now: Instant) -> &Arc<VersionedKey> {
        match &self.next {
            Some(next) if next.activates_at <= now => &next.key,
            _ => &self.current,
        }
    }

    /// Every key that verifies (and is published) at `now`: the signing key first, then a
    /// pending next key or the key just replaced, then retired keys within their grace.
    fn accepted(&self, now: Instant) -> impl Iterator<Item = &VersionedKey> + Clone {
        let (first, second) = match &self.next {
            Some(next) if next.activates_at <= now => {
                (&next.key, (next.current_until > now).then_some(&self.current))
            }
            Some(next) => (&self.current, Some(&next.key)),
            None => (&self.current, None),
        };
        std::iter::once(&**first)
            .chain(second.map(|key| &**key))
            .chain(self.previous.iter().filter(move |(_, until)| *until > now).map(|(k, _)| &**k))
    }

    /// The ring after `key` is installed at `now`: with a zero `activation` it signs at once
    /// (the key it replaces is retired with `grace`); otherwise it becomes the next key,
    /// signing `activation` from now. A next key still pending is retired with `grace` rather
    /// than dropped: other processes may have activated it already. Keys whose grace has
    /// ended are dropped, and so is an older copy of a key that is installed again.
    fn rotated(
        &self,
        key: VersionedKey,
        activation: Duration,
        grace: Duration,
        now: Instant,
    ) -> Keyring {
        let mut previous = Vec::new();
        let current = match &self.next {
            Some(next) if next.activates_at <= now => {
                previous.push((Arc::clone(&self.current), next.current_until));
                Arc::clone(&next.key)
            }
            Some(next) => {
                previous.push((Arc::clone(&next.key), now + grace));
                Arc::clone(&self.current)
            }
            None => Arc::clone(&self.current),
        };
        previous.extend(self.previous.iter().cloned());
        let key = Arc::new(key);
        let (current, next) = if activation.is_zero() {
            previous.insert(0, (current, now + grace));
            (key, None)
        } else {
            let activates_at = now + activation;
            (current, Some(NextKey { key, activates_at, current_until: activates_at + grace }))
        };
        let shadowed = |old: &VersionedKey| {
            std::iter::once(&current)
                .chain(next.as_ref().map(|next| &next.key))
                .any(|key| key.keys.kid() == old.keys.kid())
        };
        previous.retain(|(old, until)| *until > now && !shadowed(old));
        Keyring { current, next, previous }
    }

    /// Whether `version` is the version of the signing key or of the pending next key.
    fn holds_version(&self, version: i64) -> bool {
        self.current.version == Some(version)
            || self.next.as_ref().is_some_and(|next| next.key.version == Some(version))
    }

    /// Tries the keys accepted at `now`, the one named by `kid` first. `Ok(None)` means no
    /// key's signature matched (the token may be from a key not seen yet).
    fn verify(
        &self,
        rules: &TokenRules,
        token: &str,
        now: Instant,
    ) -> Result<Option<Claims>, Rejected> {
        let keys = self.accepted(now);
        // The usual case (one key in force) needs no kid: nothing to order.
        let several = keys.clone().nth(1).is_some();
        let kid = several.then(|| claimed_kid(token)).flatten();
        let named = kid.as_deref().and_then(|kid| keys.clone().find(|k| k.keys.kid() == Some(kid)));
        let others = keys.filter(|key| !named.is_some_and(|named| std::ptr::eq(named, *key)));
        for key in named.into_iter().chain(others) {
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

/// How a rotating store refreshes and rotates.
pub struct Rotation {
    source: Box<dyn KeySource>,
    policy: KeyPolicy,
    activation: Duration,
    grace: Duration,
    /// Held while a refresh runs (single flight); remembers when the last one started.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl Rotation {
    /// Rotation from `source`: material that passes `policy` signs `activation` after it is
    /// first seen, and a replaced key keeps verifying for `grace`.
    pub fn new(
        source: Box<dyn KeySource>,
        policy: KeyPolicy,
        activation: Duration,
        grace: Duration,
    ) -> Self {
        Rotation { source, policy, activation, grace, last_refresh: tokio::sync::Mutex::new(None) }
    }
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("rules", &self.rules).finish_non_exhaustive()
    }
}

impl KeyStore {
    /// A store with one fixed HMAC secret (from `JWT_SECRET`): tokens carry no `kid`.
    pub fn fixed(secret: &Secret, rules: TokenRules) -> Self {
        Self::with_key(KeyPair::new(secret, None), rules)
    }

    /// A store with one fixed key pair (material from the environment).
    pub fn with_key(keys: KeyPair, rules: TokenRules) -> Self {
        metrics::key_installed(None);
        KeyStore {
            ring: ArcSwap::from_pointee(Keyring::single(VersionedKey { version: None, keys })),
            rules,
            rotation: None,
        }
    }

    /// A store whose keys come from a [`KeySource`], starting with `first` (version
    /// `version`, already built with the rotation's policy) and refreshable with
    /// [`KeyStore::refresh`].
    pub fn rotating(first: KeyPair, version: i64, rotation: Rotation, rules: TokenRules) -> Self {
        metrics::key_installed(Some(version));
        let key = VersionedKey { version: Some(version), keys: first };
        KeyStore {
            ring: ArcSwap::from_pointee(Keyring::single(key)),
            rules,
            rotation: Some(rotation),
        }
    }

    /// The token rules (algorithm, issuer, ...).
    pub fn rules(&self) -> &TokenRules {
        &self.rules
    }

    /// Mints a token with the key that signs now.
    pub fn issue(&self, email: &str) -> Result<String, SigningFailed> {
        self.issue_at(email, Instant::now())
    }

    fn issue_at(&self, email: &str, now: Instant) -> Result<String, SigningFailed> {
        self.rules.issue(&self.ring.load().signing(now).keys, email)
    }

    /// Verifies `token` against every key accepted now. If no key matches and the token's
    /// `kid` may name a key not seen yet, re-reads the material once (single-flight,
    /// rate-limited) and tries again.
    pub async fn verify(&self, token: &str) -> Result<Claims, Rejected> {
        self.verify_at(token, Instant::now()).await
    }

    async fn verify_at(&self, token: &str, now: Instant) -> Result<Claims, Rejected> {
        let ring = self.ring.load_full();
        if let Some(claims) = ring.verify(&self.rules, token, now)? {
            return Ok(claims);
        }
        // Boxed: the re-read embeds the SSM call and makes a future of several KiB, which
        // would otherwise be built (and moved) for every verification, not just this rare one.
        Box::pin(self.verify_after_refresh(token, &ring, now)).await
    }

    /// The rare path of [`KeyStore::verify`]: no key in `ring` matched.
    async fn verify_after_refresh(
        &self,
        token: &str,
        ring: &Arc<Keyring>,
        now: Instant,
    ) -> Result<Claims, Rejected> {
        // No key in force matched the signature.
        const NO_KEY: Rejected = Rejected(Rejection::BadSignature);
        let Some(rotation) = &self.rotation else {
            return Err(NO_KEY);
        };
        if !self.may_name_unseen_key(token, ring, now) {
            return Err(NO_KEY);
        }
        {
            let mut last = rotation.last_refresh.lock().await;
            let refreshed_meanwhile = !Arc::ptr_eq(&self.ring.load(), ring);
            let too_soon = last
                .is_some_and(|at| now.saturating_duration_since(at) < ON_DEMAND_REFRESH_INTERVAL);
            if !refreshed_meanwhile && !too_soon {
                *last = Some(now);
                self.fetch_and_install(rotation, "unknown token kid", now).await;
            }
        }
        self.ring.load().verify(&self.rules, token, now)?.ok_or(NO_KEY)
    }

    /// Whether the token's `kid` may name a key this process has not seen: for HS256 a
    /// version newer than the signing one (as the service always did), for public keys any
    /// `kid` none of the accepted keys has.
    fn may_name_unseen_key(&self, token: &str, ring: &Keyring, now: Instant) -> bool {
        let Some(kid) = claimed_kid(token) else {
            return false;
        };
        match self.rules.algorithm() {
            SigningAlgorithm::Hs256 => {
                let current = ring.signing(now).version.unwrap_or(i64::MIN);
                kid.parse::<i64>().is_ok_and(|version| version > current)
            }
            SigningAlgorithm::Es256 | SigningAlgorithm::EdDsa => {
                ring.accepted(now).all(|key| key.keys.kid() != Some(kid.as_str()))
            }
        }
    }

    /// Re-reads the material now (the periodic refresh). A no-op for a fixed key. On failure
    /// the last good key stays in use and a warning is logged.
    pub async fn refresh(&self) {
        self.refresh_at(Instant::now()).await;
    }

    async fn refresh_at(&self, now: Instant) {
        if let Some(rotation) = &self.rotation {
            let mut last = rotation.last_refresh.lock().await;
            *last = Some(now);
            self.fetch_and_install(rotation, "periodic", now).await;
        }
    }

    /// The version of the key that signs now (`None` for material from the environment).
    pub fn current_version(&self) -> Option<i64> {
        self.ring.load().signing(Instant::now()).version
    }

    /// The public keys verifiers need now: the signing key, the next key and keys within
    /// their grace period. Empty for HS256 (a shared secret is never published).
    pub fn jwks(&self) -> Vec<PublicJwk> {
        self.jwks_at(Instant::now())
    }

    fn jwks_at(&self, now: Instant) -> Vec<PublicJwk> {
        let ring = self.ring.load();
        let mut keys: Vec<PublicJwk> = Vec::new();
        for jwk in ring.accepted(now).filter_map(|key| key.keys.public_jwk()) {
            if keys.iter().all(|known| known.kid != jwk.kid) {
                keys.push(jwk.clone());
            }
        }
        keys
    }

    async fn fetch_and_install(&self, rotation: &Rotation, reason: &'static str, now: Instant) {
        let mut material = match rotation.source.fetch().await {
            Ok(material) => material,
            Err(err) => {
                metrics::key_refresh(KeyRefresh::Failed);
                tracing::warn!(
                    reason,
                    error = %err,
                    "could not refresh the JWT secret; keeping the last good one"
                );
                return;
            }
        };
        let version = material.version;
        let ring = self.ring.load();
        if ring.holds_version(version) {
            metrics::key_refresh(KeyRefresh::Unchanged);
            tracing::debug!(reason, version, "JWT secret unchanged");
            return;
        }
        let value = std::mem::take(&mut *material.value);
        let (keys, strength) = match rotation.policy.build(value, Some(version)) {
            Ok(built) => built,
            Err(err) => {
                metrics::key_refresh(KeyRefresh::Failed);
                tracing::warn!(
                    reason,
                    version,
                    error = %err,
                    "the new JWT key material is unusable; keeping the last good key"
                );
                return;
            }
        };
        if strength == Strength::Weak {
            tracing::warn!(
                "the new JWT secret is shorter than 32 bytes (JWT_ALLOW_WEAK_SECRET=true)"
            );
        }
        let kid = keys.kid().map(str::to_owned);
        let previous_version = ring.signing(now).version;
        let next = VersionedKey { version: Some(version), keys };
        self.ring.store(Arc::new(ring.rotated(next, rotation.activation, rotation.grace, now)));
        // The gauges follow the newest key: with an activation delay it is published now and
        // signs `activation` later.
        metrics::key_installed(Some(version));
        metrics::key_refresh(KeyRefresh::Rotated);
        if rotation.activation.is_zero() {
            tracing::info!(
                reason,
                version,
                previous_version,
                grace_seconds = rotation.grace.as_secs(),
                "JWT secret rotated"
            );
        } else {
            tracing::info!(
                reason,
                version,
                kid,
                previous_version,
                activation_seconds = rotation.activation.as_secs(),
                grace_seconds = rotation.grace.as_secs(),
                "JWT signing key published; it signs after the activation delay"
            );
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

#[cfg(test)]
mod tests {
    //! Rotation, activation, grace and on-demand refresh, driven by an in-memory parameter and
    //! an injected `now`: no sleeps, no SSM.

    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const SECRET_V1: &str = "first-secret-0123456789abcdef-0123456789";
    const SECRET_V2: &str = "second-secret-0123456789abcdef-0123456789";
    const ES256_1: &str = include_str!("../tests/data/keys/es256-1.pem");
    const ES256_2: &str = include_str!("../tests/data/keys/es256-2.pem");
    const ES256_OUTSIDE: &str = include_str!("../tests/data/keys/es256-outside.pem");
    const ED25519_1: &str = include_str!("../tests/data/keys/ed25519-1.pem");
    const ED25519_2: &str = include_str!("../tests/data/keys/ed25519-2.pem");

    /// An in-memory SSM parameter: versions 1, 2, ... as put; it can be made to fail like an
    /// unreachable SSM, and counts the reads.
    #[derive(Default)]
    struct FakeParameter {
        versions: Mutex<Vec<String>>,
        failing: AtomicBool,
        fetches: AtomicUsize,
    }

    impl FakeParameter {
        fn with(value: &str) -> Arc<Self> {
            let parameter = Arc::new(FakeParameter::default());
            parameter.put(value);
            parameter
        }

        fn put(&self, value: &str) -> i64 {
            let mut versions = self.versions.lock().unwrap();
            versions.push(value.to_owned());
            versions.len() as i64
        }

        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    impl KeySource for Arc<FakeParameter> {
        fn fetch(&self) -> BoxFuture<'_, Result<Material, FetchError>> {
            Box::pin(async move {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                // Yield once, as a network call would, so concurrent callers really overlap.
                tokio::task::yield_now().await;
                if self.failing.load(Ordering::SeqCst) {
                    return Err(FetchError::Unreachable {
                        name: "fake".into(),
                        detail: "the fake is failing".into(),
                    });
                }
                let versions = self.versions.lock().unwrap();
                let value = versions.last().expect("a version was put").clone();
                Ok(Material { value: Zeroizing::new(value), version: versions.len() as i64 })
            })
        }
    }

    /// A store reading `parameter` (at its latest version) with these timings.
    fn store(
        parameter: &Arc<FakeParameter>,
        algorithm: SigningAlgorithm,
        activation: u64,
        grace: u64,
    ) -> KeyStore {
        let policy = KeyPolicy { algorithm, allow_weak: false };
        let versions = parameter.versions.lock().unwrap().clone();
        let (first, _) =
            policy.build(versions.last().unwrap().clone(), Some(versions.len() as i64)).unwrap();
        let rotation = Rotation::new(
            Box::new(Arc::clone(parameter)),
            policy,
            Duration::from_secs(activation),
            Duration::from_secs(grace),
        );
        let rules = TokenRules::with_claims(algorithm, Duration::from_secs(3600), 0, None, None);
        KeyStore::rotating(first, versions.len() as i64, rotation, rules)
    }

    fn kid(token: &str) -> String {
        jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn jwks_kids(store: &KeyStore, now: Instant) -> Vec<String> {
        store.jwks_at(now).into_iter().map(|jwk| jwk.kid).collect()
    }

    fn thumbprint(pem: &str, algorithm: SigningAlgorithm) -> String {
        let policy = KeyPolicy { algorithm, allow_weak: false };
        policy.build(pem.to_owned(), None).unwrap().0.kid().unwrap().to_owned()
    }

    /// HS256, as the service always behaved: a new version signs as soon as a refresh sees it
    /// (`kid` = version); the old secret's tokens verify until the grace period ends, then
    /// not, and an old `kid` does not trigger a re-read.
    #[tokio::test]
    async fn hs256_rotation_signs_at_once_then_grace_ends() {
        let t0 = Instant::now();
        let parameter = FakeParameter::with(SECRET_V1);
        let store = store(&parameter, SigningAlgorithm::Hs256, 0, 60);
        let old = store.issue_at("a@b.c", t0).unwrap();
        assert_eq!(kid(&old), "1");
        assert!(store.jwks_at(t0).is_empty(), "a secret is never published");

        parameter.put(SECRET_V2);
        store.refresh_at(t0 + secs(10)).await;
        let new = store.issue_at("a@b.c", t0 + secs(10)).unwrap();
        assert_eq!(kid(&new), "2");
        assert!(store.verify_at(&new, t0 + secs(10)).await.is_ok());
        assert!(store.verify_at(&old, t0 + secs(69)).await.is_ok(), "within grace");
        let fetches = parameter.fetches();
        assert_eq!(
            store.verify_at(&old, t0 + secs(70)).await,
            Err(Rejected(Rejection::BadSignature)),
            "grace over"
        );
        assert_eq!(parameter.fetches(), fetches, "an old kid never triggers a re-read");
        assert!(store.verify_at(&new, t0 + secs(1000)).await.is_ok());
    }

    /// A zero grace period revokes the replaced secret's tokens at the rotation.
    #[tokio::test]
    async fn zero_grace_revokes_at_once() {
        let t0 = Instant::now();
        let parameter = FakeParameter::with(SECRET_V1);
        let store = store(&parameter, SigningAlgorithm::Hs256, 0, 0);
        let old = store.issue_at("a@b.c", t0).unwrap();
        parameter.put(SECRET_V2);
        store.refresh_at(t0 + secs(1)).await;
        assert_eq!(
            store.verify_at(&old, t0 + secs(1)).await,
            Err(Rejected(Rejection::BadSignature))
        );
        assert_eq!(kid(&store.issue_at("a@b.c", t0 + secs(1)).unwrap()), "2");
    }

    /// A process that has not refreshed yet verifies a token of a newer version by re-reading
    /// once; unknown newer `kid`s re-read at most once per interval, and the re-read is
    /// single-flight under concurrent requests.
    #[tokio::test]
    async fn hs256_on_demand_refresh_is_rate_limited_and_single_flight() {
        let t0 = Instant::now();
        let parameter = FakeParameter::with(SECRET_V1);
        let lagging = store(&parameter, SigningAlgorithm::Hs256, 0, 60);
        let ahead = store(&parameter, SigningAlgorithm::Hs256, 0, 60);
        parameter.put(SECRET_V2);
        ahead.refresh_at(t0).await;
        let tokens: Vec<String> = (0..3).map(|_| ahead.issue_at("a@b.c", t0).unwrap()).collect();
        let before = parameter.fetches();
        let (a, b, c) = tokio::join!(
            lagging.verify_at(&tokens[0], t0),
            lagging.verify_at(&tokens[1], t0),
            lagging.verify_at(&tokens[2], t0),
        );
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert_eq!(parameter.fetches(), before + 1, "one re-read for three requests");
        assert_eq!(kid(&lagging.issue_at("a@b.c", t0).unwrap()), "2");

        // A forged token naming a future version: one re-read, then none until the interval
        // has passed.
        let forged = {
            let (secret, _) = Secret::new("x".repeat(40), false).unwrap();
            let rules = TokenRules::new(secs(60), 0);
            rules.issue(&KeyPair::new(&secret, Some("99".into())), "evil@b.c").unwrap()
        };
        let before = parameter.fetches();
        assert_eq!(
            lagging.verify_at(&forged, t0 + secs(4)).await,
            Err(Rejected(Rejection::BadSignature))
        );
        assert_eq!(parameter.fetches(), before, "within 5 s of the last re-read");
        assert_eq!(
            lagging.verify_at(&forged, t0 + secs(6)).await,
            Err(Rejected(Rejection::BadSignature))
        );
        assert_eq!(
            lagging.verify_at(&forged, t0 + secs(7)).await,
            Err(Rejected(Rejection::BadSignature))
        );
        assert_eq!(parameter.fetches(), before + 1, "rate-limited");
        assert_eq!(
            lagging.verify_at(&forged, t0 + secs(11)).await,
            Err(Rejected(Rejection::BadSignature))
        );
        assert_eq!(parameter.fetches(), before + 2, "allowed again after the interval");
    }

    /// When the source fails, or serves material that fails the policy, the last good key
    /// stays in use; a later good version rotates normally.
    #[tokio::test]
    async fn failures_at_refresh_keep_the_last_good_key() {
        let t0 = Instant::now();
        let parameter = FakeParameter::with(SECRET_V1);
        let store = store(&parameter, SigningAlgorithm::Hs256, 0, 60);
        let token = store.issue_at("a@b.c", t0).unwrap();

        parameter.failing.store(true, Ordering::SeqCst);
        store.refresh_at(t0 + secs(1)).await;
        assert_eq!(kid(&store.issue_at("a@b.c", t0 + secs(1)).unwrap()), "1");
        parameter.failing.store(false, Ordering::SeqCst);

        parameter.put("too-short");
        store.refresh_at(t0 + secs(2)).await;
        assert_eq!(kid(&store.issue_at("a@b.c", t0 + secs(2)).unwrap()), "1");
        assert!(store.verify_at(&token, t0 + secs(2)).await.is_ok());

        parameter.put(SECRET_V2);
        store.refresh_at(t0 + secs(3)).await;
        assert_eq!(kid(&store.issue_at("a@b.c", t0 + secs(3)).unwrap()), "3");
    }

    /// ES256 timeline: a new key is published (and verifies) at the refresh that sees it,
    /// signs only after the activation delay, the key it replaces stays published and verifies
    /// until its grace period ends, then leaves the JWKS. `kid`s are thumbprints.
    #[tokio::test]
    async fn es256_publish_then_activate_then_retire() {
        let (k1, k2) = (
            thumbprint(ES256_1, SigningAlgorithm::Es256),
            thumbprint(ES256_2, SigningAlgorithm::Es256),
        );
        let t0 = Instant::now();
        let parameter = FakeParameter::with(ES256_1);
        let store = store(&parameter, SigningAlgorithm::Es256, 100, 50);
        let signer_v2 = {
            let other = FakeParameter::with(ES256_2);
            self::store(&other, SigningAlgorithm::Es256, 100, 50)
        };
        let v1_token = store.issue_at("a@b.c", t0).unwrap();
        assert_eq!(kid(&v1_token), k1);
        assert_eq!(jwks_kids(&store, t0), [k1.as_str()]);

        parameter.put(ES256_2);
        store.refresh_at(t0 + secs(10)).await;
        assert_eq!(
            jwks_kids(&store, t0 + secs(10)),
            [k1.as_str(), k2.as_str()],
            "published at once"
        );
        assert_eq!(kid(&store.issue_at("a@b.c", t0 + secs(109)).unwrap()), k1, "not active yet");
        let v2_token = signer_v2.issue_at("a@b.c", t0).unwrap();
        let fetches = parameter.fetches();
        assert!(store.verify_at(&v2_token, t0 + secs(10)).await.is_ok(), "next key verifies");
        assert_eq!(parameter.fetches(), fetches, "a known kid needs no re-read");

        assert_eq!(kid(&store.issue_at("a@b.c", t0 + secs(110)).unwrap()), k2, "activated");
        assert_eq!(jwks_kids(&store, t0 + secs(110)), [k2.as_str(), k1.as_str()]);
        assert!(store.verify_at(&v1_token, t0 + secs(159)).await.is_ok(), "within grace");
        assert_eq!(
            store.verify_at(&v1_token, t0 + secs(160)).await,
            Err(Rejected(Rejection::BadSignature))
        );
        assert_eq!(jwks_kids(&store, t0 + secs(160)), [k2.as_str()], "v1 left the JWKS");

        // A refresh after activation normalises the ring without changing the answers.
        store.refresh_at(t0 + secs(120)).await;
        assert_eq!(jwks_kids(&store, t0 + secs(120)), [k2.as_str(), k1.as_str()]);
        assert_eq!(jwks_kids(&store, t0 + secs(160)), [k2.as_str()]);
    }

    /// EdDSA follows the same timeline; a version put while another is still pending retires
    /// the pending one with a grace period (other processes may be signing with it already),
    /// and the same key stored again under a new version is not published twice.
    #[tokio::test]
    async fn eddsa_pending_key_replaced_and_duplicates() {
        let (k1, k2) = (
            thumbprint(ED25519_1, SigningAlgorithm::EdDsa),
            thumbprint(ED25519_2, SigningAlgorithm::EdDsa),
        );
        let t0 = Instant::now();
        let parameter = FakeParameter::with(ED25519_1);
        let store = store(&parameter, SigningAlgorithm::EdDsa, 100, 50);
        parameter.put(ED25519_2);
        store.refresh_at(t0 + secs(10)).await;
        parameter.put(ED25519_1); // a roll-back to the first key, as version 3
        store.refresh_at(t0 + secs(20)).await;
        assert_eq!(jwks_kids(&store, t0 + secs(20)), [k1.as_str(), k2.as_str()]);
        assert_eq!(kid(&store.issue_at("a@b.c", t0 + secs(20)).unwrap()), k1);
        assert_eq!(
            jwks_kids(&store, t0 + secs(70)),
            [k1.as_str()],
            "pending v2 retired after grace"
        );
        assert_eq!(kid(&store.issue_at("a@b.c", t0 + secs(500)).unwrap()), k1);
    }

    /// Public-key mode: a `kid` none of our keys has triggers one re-read (a pod that has not
    /// refreshed yet learns the next key); a token signed by an outside key that borrows our
    /// `kid` is rejected without a re-read; a key of the wrong type at refresh is refused.
    #[tokio::test]
    async fn es256_unknown_kid_and_outside_keys() {
        let t0 = Instant::now();
        let parameter = FakeParameter::with(ES256_1);
        let lagging = store(&parameter, SigningAlgorithm::Es256, 100, 50);
        let ahead = store(&parameter, SigningAlgorithm::Es256, 0, 50);
        parameter.put(ES256_2);
        ahead.refresh_at(t0).await;
        let v2_token = ahead.issue_at("a@b.c", t0).unwrap();
        let before = parameter.fetches();
        assert!(lagging.verify_at(&v2_token, t0).await.is_ok());
        assert_eq!(parameter.fetches(), before + 1);
        assert_eq!(
            kid(&lagging.issue_at("a@b.c", t0).unwrap()),
            thumbprint(ES256_1, SigningAlgorithm::Es256),
            "learnt by a re-read, the key still waits for its activation"
        );

        // An outside P-256 key signing with our kid.
        let outside = PrivateKey::from_pem(ES256_OUTSIDE.to_owned()).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(thumbprint(ES256_1, SigningAlgorithm::Es256));
        let now = crate::token::unix_now();
        let claims = serde_json::json!({"email": "evil@b.c", "exp": now + 60, "nbf": now});
        let borrowed = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(outside.der()),
        )
        .unwrap();
        let before = parameter.fetches();
        assert_eq!(
            lagging.verify_at(&borrowed, t0 + secs(1)).await,
            Err(Rejected(Rejection::BadSignature))
        );
        assert_eq!(parameter.fetches(), before, "our own kid never triggers a re-read");

        parameter.put(ED25519_1);
        lagging.refresh_at(t0 + secs(1)).await;
        assert_eq!(jwks_kids(&lagging, t0 + secs(1)).len(), 2, "the Ed25519 key was refused");
    }
}
