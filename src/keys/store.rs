//! The key store: issues and verifies tokens with the keys in force, and installs new keys
//! read from its [`Source`].
//!
//! The [`Keyring`] is swapped atomically (`arc-swap`), so the request path never takes a lock.
//! Material becomes a key in one place ([`KeyStore::key_from`]), for the first read at start-up
//! and for every refresh alike.

use super::policy::{KeyPolicy, MaterialError};
use super::ring::{Checked, Keyring, Plan, VersionedKey};
use crate::admission::{Admission, Overloaded};
use crate::key_material::Strength;
use crate::metrics::{self, KeyInUse, KeyRefresh};
use crate::source::{Document, Source, SourceError};
use crate::token::claimed_kid;
use crate::token::{Claims, KeyPair, PublicJwk, Rejected, Rejection, SigningFailed, TokenRules};
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Minimum time between two reads of the source triggered by tokens with an unknown `kid`.
pub const ON_DEMAND_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// How keys from a changing source take over: a new key signs `activation` after it is first
/// seen (verifying and published at once), and a replaced key keeps verifying for `grace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Delay between a key being seen and it signing (`JWT_KEY_ACTIVATION_SECONDS`; zero for
    /// HS256, whose secret is never published).
    pub activation: Duration,
    /// How long a replaced key keeps verifying (`JWT_SECRET_GRACE_SECONDS`).
    pub grace: Duration,
}

/// Why the first key could not be loaded. The message names the source, never the material.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The source could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The material read failed the policy.
    #[error("{origin}: {source}")]
    Material {
        /// The source, as it describes itself (the variable, and the parameter's name).
        origin: String,
        /// Why.
        source: MaterialError,
    },
}

impl LoadError {
    /// Whether the configuration is at fault (the material, or the source's own setup), so
    /// that a restart cannot help.
    pub fn is_configuration(&self) -> bool {
        match self {
            LoadError::Source(err) => err.is_configuration(),
            LoadError::Material { .. } => true,
        }
    }
}

/// Why a token did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The token is bad, for this reason (every one is the same 401).
    Rejected(Rejection),
    /// Its signature check was refused: the bound on concurrent checks and their queue is
    /// full (503 with `Retry-After`).
    Overloaded(Overloaded),
}

impl From<Rejected> for VerifyError {
    fn from(Rejected(why): Rejected) -> Self {
        VerifyError::Rejected(why)
    }
}

/// Issues and verifies tokens with the keys in force, and rotates them. Shared by every
/// request; built once at start-up.
pub struct KeyStore {
    ring: ArcSwap<Keyring>,
    /// Shared with the signature checks that run on the blocking pool.
    rules: Arc<TokenRules>,
    /// `None` for keys that never change (material from the environment, a fixed test key).
    refresher: Option<Refresher>,
    /// The bound on signature checks ([`KeyStore::with_admission`]); `None`: unbounded.
    admission: Option<Arc<Admission>>,
    /// Signature checks made so far ([`KeyStore::signature_checks`]).
    signature_checks: AtomicU64,
}

/// What a store whose source changes needs to re-read it.
struct Refresher {
    source: Box<dyn Source>,
    policy: KeyPolicy,
    rotation: Rotation,
    /// Held while a refresh runs (single flight); remembers when the last one started.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
    /// When the source was last read successfully (the load counts), in seconds since the
    /// Unix epoch: a refresh that stopped shows here.
    last_success: AtomicU64,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("rules", &self.rules).finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Reads the first key from `source` and builds the store around it. A source that
    /// [`Source::changes`] can then be re-read ([`KeyStore::refresh`]), its new keys taking
    /// over as `rotation` says.
    pub async fn load(
        source: Box<dyn Source>,
        policy: KeyPolicy,
        rotation: Rotation,
        rules: TokenRules,
    ) -> Result<Self, LoadError> {
        let started = Instant::now();
        let document = source.fetch().await?;
        let key = Self::key_from(policy, document).map_err(|source_error| LoadError::Material {
            origin: source.describe(),
            source: source_error,
        })?;
        if source.changes() {
            tracing::info!(
                source = source.describe(),
                version = key.version,
                algorithm = policy.algorithm.name(),
                kid = key.keys.kid(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                grace_seconds = rotation.grace.as_secs(),
                activation_seconds = rotation.activation.as_secs(),
                "{} loaded",
                policy.kind()
            );
        }
        let refresher = source.changes().then(|| Refresher {
            source,
            policy,
            rotation,
            last_refresh: tokio::sync::Mutex::new(None),
            last_success: AtomicU64::new(unix_seconds(SystemTime::now())),
        });
        let ring = ArcSwap::from_pointee(Keyring::single(key));
        Ok(KeyStore {
            ring,
            rules: Arc::new(rules),
            refresher,
            admission: None,
            signature_checks: AtomicU64::new(0),
        })
    }

    /// A store with one key that never changes (tests, fuzzing, benchmarks).
    pub fn fixed(keys: KeyPair, rules: TokenRules) -> Self {
        let key = VersionedKey { version: None, keys, installed: SystemTime::now() };
        let ring = ArcSwap::from_pointee(Keyring::single(key));
        let rules = Arc::new(rules);
        KeyStore { ring, rules, refresher: None, admission: None, signature_checks: 0.into() }
    }

    /// Runs every signature check behind `admission`: past its slots and queue, verification
    /// answers [`VerifyError::Overloaded`] at once. Checks that need no signature (a malformed
    /// token, a `kid` naming no key) are never held back by it, nor is a wait for a re-read.
    pub fn with_admission(mut self, admission: Arc<Admission>) -> Self {
        self.admission = Some(admission);
        self
    }

    /// Signature checks made by this store so far (each token tried against one key); also
    /// the metric `simple_jwt_api_signature_checks_total`.
    pub fn signature_checks(&self) -> u64 {
        self.signature_checks.load(Ordering::Relaxed)
    }

    /// When the key material was last read successfully (at start-up or by a refresh); `None`
    /// when it is never re-read.
    pub fn last_refresh(&self) -> Option<SystemTime> {
        let refresher = self.refresher.as_ref()?;
        let seconds = refresher.last_success.load(Ordering::Relaxed);
        Some(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    /// The one place where material becomes a key: applies `policy` to `document` and warns
    /// about a weak secret.
    fn key_from(policy: KeyPolicy, document: Document) -> Result<VersionedKey, MaterialError> {
        let version = document.version;
        let (keys, strength) = policy.build(document)?;
        if strength == Strength::Weak {
            tracing::warn!(
                "the JWT secret is shorter than 32 bytes; accepted only because \
                 JWT_ALLOW_WEAK_SECRET=true. Replace it with `openssl rand -base64 48`"
            );
        }
        Ok(VersionedKey { version, keys, installed: SystemTime::now() })
    }

    /// The token rules (algorithm, issuer, ...).
    pub fn rules(&self) -> &TokenRules {
        &self.rules
    }

    /// Whether the keys come from a source that changes (and so are worth refreshing).
    pub fn refreshes(&self) -> bool {
        self.refresher.is_some()
    }

    /// Mints a token with the key that signs now.
    pub fn issue(&self, email: &str) -> Result<String, SigningFailed> {
        self.issue_at(email, Instant::now())
    }

    fn issue_at(&self, email: &str, now: Instant) -> Result<String, SigningFailed> {
        self.rules.issue(&self.ring.load().signing(now).keys, email)
    }

    /// Verifies `token` with the keys accepted now, chosen as [`Keyring::plan`] says (by `kid`
    /// in the public-key modes: at most one signature check). If no key matched and the
    /// token's `kid` may name a key not seen yet, re-reads the material once (single-flight,
    /// rate-limited) and checks only the keys that read brought.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify_at(token, Instant::now()).await
    }

    async fn verify_at(&self, token: &str, now: Instant) -> Result<Claims, VerifyError> {
        let ring = self.ring.load_full();
        match ring.plan(self.rules.algorithm(), token, now) {
            Plan::Check(_) => {
                if let Some(claims) = self.check(&ring, None, token, now).await? {
                    return Ok(claims);
                }
            }
            Plan::UnknownKid => {}
            Plan::Rejected(rejected) => return Err(rejected.into()),
        }
        // Boxed: the re-read embeds the SSM call and makes a future of several KiB, which
        // would otherwise be built (and moved) for every verification, not just this rare one.
        Box::pin(self.verify_after_refresh(token, &ring, now)).await
    }

    /// Checks `token` against the keys `ring` plans for it (skipping those `tried` accepts).
    /// Without an admission bound (HS256: a check costs about what the rest of the request
    /// does) on the calling task. With one, after a slot is granted, on Tokio's blocking pool:
    /// a check that runs on an async worker holds that worker for its whole length (ES256
    /// ~0.6 ms), and with every worker checking, the accept loop, the connections and the
    /// 503s that would shed the excess wait their turn; measured in a debug build, that made
    /// valid requests wait seconds with no 503 at all.
    async fn check(
        &self,
        ring: &Arc<Keyring>,
        tried: Option<&Arc<Keyring>>,
        token: &str,
        now: Instant,
    ) -> Result<Option<Claims>, VerifyError> {
        let checked = match &self.admission {
            None => check_now(ring, tried.map(|tried| &**tried), &self.rules, token, now),
            Some(admission) => {
                let _slot = admission.admit().await.map_err(VerifyError::Overloaded)?;
                let (ring, tried) = (Arc::clone(ring), tried.cloned());
                let (rules, token) = (Arc::clone(&self.rules), token.to_owned());
                tokio::task::spawn_blocking(move || {
                    check_now(&ring, tried.as_deref(), &rules, &token, now)
                })
                .await
                .unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()))
            }
        };
        self.signature_checks.fetch_add(checked.signature_checks as u64, Ordering::Relaxed);
        metrics::signature_checks(checked.signature_checks);
        Ok(checked.result?)
    }

    /// The rare path of [`KeyStore::verify`]: no key in `ring` matched.
    async fn verify_after_refresh(
        &self,
        token: &str,
        ring: &Arc<Keyring>,
        now: Instant,
    ) -> Result<Claims, VerifyError> {
        // No key in force matched the signature.
        const NO_KEY: VerifyError = VerifyError::Rejected(Rejection::BadSignature);
        let Some(refresher) = &self.refresher else {
            return Err(NO_KEY);
        };
        if !self.may_name_unseen_key(token, ring, now) {
            return Err(NO_KEY);
        }
        {
            let mut last = refresher.last_refresh.lock().await;
            let refreshed_meanwhile = !Arc::ptr_eq(&self.ring.load(), ring);
            let too_soon = last
                .is_some_and(|at| now.saturating_duration_since(at) < ON_DEMAND_REFRESH_INTERVAL);
            if !refreshed_meanwhile && !too_soon {
                *last = Some(now);
                self.fetch_and_install(refresher, "unknown token kid", now).await;
            }
        }
        let refreshed = self.ring.load_full();
        if Arc::ptr_eq(&refreshed, ring) {
            // Nothing new to check against: no second pass over the same keys.
            return Err(NO_KEY);
        }
        match refreshed.plan_after(self.rules.algorithm(), token, now, Some(ring)) {
            Plan::Check(_) => self.check(&refreshed, Some(ring), token, now).await?.ok_or(NO_KEY),
            Plan::UnknownKid => Err(NO_KEY),
            Plan::Rejected(rejected) => Err(rejected.into()),
        }
    }

    /// Whether the token's `kid` may name a key this process has not seen: for HS256 a
    /// version newer than the signing one (as the service always did), for every public-key
    /// algorithm a `kid` none of the accepted keys has.
    fn may_name_unseen_key(&self, token: &str, ring: &Keyring, now: Instant) -> bool {
        let Some(kid) = claimed_kid(token) else {
            return false;
        };
        if self.rules.algorithm().is_public_key() {
            ring.accepted(now).all(|key| key.keys.kid() != Some(kid.as_str()))
        } else {
            let current = ring.signing(now).version.unwrap_or(i64::MIN);
            kid.parse::<i64>().is_ok_and(|version| version > current)
        }
    }

    /// Re-reads the material now (the periodic refresh). A no-op for keys that never change.
    /// On failure the last good key stays in use and a warning is logged.
    pub async fn refresh(&self) {
        self.refresh_at(Instant::now()).await;
    }

    async fn refresh_at(&self, now: Instant) {
        if let Some(refresher) = &self.refresher {
            let mut last = refresher.last_refresh.lock().await;
            *last = Some(now);
            self.fetch_and_install(refresher, "periodic", now).await;
        }
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

    async fn fetch_and_install(&self, refresher: &Refresher, reason: &'static str, now: Instant) {
        let kind = refresher.policy.kind();
        let document = match refresher.source.fetch().await {
            Ok(document) => document,
            Err(err) => {
                metrics::key_refresh(KeyRefresh::Failed);
                tracing::warn!(
                    reason,
                    error = %err,
                    "could not refresh the {kind}; keeping the last good one"
                );
                return;
            }
        };
        let version = document.version;
        let ring = self.ring.load();
        if version.is_some_and(|version| ring.holds_version(version)) {
            refresher.last_success.store(unix_seconds(SystemTime::now()), Ordering::Relaxed);
            metrics::key_refresh(KeyRefresh::Unchanged);
            tracing::debug!(reason, version, "{kind} unchanged");
            return;
        }
        let key = match Self::key_from(refresher.policy, document) {
            Ok(key) => key,
            Err(err) => {
                metrics::key_refresh(KeyRefresh::Failed);
                tracing::warn!(
                    reason,
                    version,
                    error = %err,
                    "the new {kind} is unusable; keeping the last good one"
                );
                return;
            }
        };
        let kid = key.keys.kid().map(str::to_owned);
        let previous_version = ring.signing(now).version;
        let Rotation { activation, grace } = refresher.rotation;
        self.ring.store(Arc::new(ring.rotated(key, activation, grace, now)));
        refresher.last_success.store(unix_seconds(SystemTime::now()), Ordering::Relaxed);
        metrics::key_refresh(KeyRefresh::Rotated);
        if activation.is_zero() {
            tracing::info!(
                reason,
                version,
                previous_version,
                grace_seconds = grace.as_secs(),
                "{kind} rotated"
            );
        } else {
            tracing::info!(
                reason,
                version,
                kid,
                previous_version,
                activation_seconds = activation.as_secs(),
                grace_seconds = grace.as_secs(),
                "{kind} published; it signs after the activation delay"
            );
        }
    }
}

impl KeyInUse for KeyStore {
    /// The key installed last (with an activation delay it is published at once and signs
    /// later): its version (0 for material from the environment) and when it was installed.
    fn key_in_use(&self) -> (i64, SystemTime) {
        let ring = self.ring.load();
        let newest = ring.newest();
        (newest.version.unwrap_or(0), newest.installed)
    }

    /// The last successful read of the key material: by the last refresh, or at start-up for
    /// material that is never re-read (the one read it gets).
    fn last_read(&self) -> SystemTime {
        let ring = self.ring.load();
        KeyStore::last_refresh(self).unwrap_or(ring.newest().installed)
    }
}

/// The signature checks of one token: the keys `ring` plans for it at `now`, less those
/// `tried` accepts.
fn check_now(
    ring: &Keyring,
    tried: Option<&Keyring>,
    rules: &TokenRules,
    token: &str,
    now: Instant,
) -> Checked {
    match ring.plan_after(rules.algorithm(), token, now, tried) {
        Plan::Check(candidates) => ring.check(rules, token, candidates),
        Plan::UnknownKid => Checked { result: Ok(None), signature_checks: 0 },
        Plan::Rejected(rejected) => Checked { result: Err(rejected), signature_checks: 0 },
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    //! Loading, refresh, rotation, activation, grace and on-demand refresh, driven by an
    //! in-memory source and an injected `now`: no sleeps, no SSM.

    use super::*;
    use crate::key_material::{PrivateKey, Secret};
    use crate::source::{BoxFuture, Inline};
    use crate::token::SigningAlgorithm;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use zeroize::Zeroizing;

    const SECRET_V1: &str = "first-secret-0123456789abcdef-0123456789";
    const SECRET_V2: &str = "second-secret-0123456789abcdef-0123456789";
    const ES256_1: &str = include_str!("../../tests/data/keys/es256-1.pem");
    const ES256_2: &str = include_str!("../../tests/data/keys/es256-2.pem");
    const ES256_OUTSIDE: &str = include_str!("../../tests/data/keys/es256-outside.pem");
    const RSA_2048_1: &str = include_str!("../../tests/data/keys/rsa-2048-1.pem");
    const RSA_2048_2: &str = include_str!("../../tests/data/keys/rsa-2048-2.pem");
    const ED25519_1: &str = include_str!("../../tests/data/keys/ed25519-1.pem");
    const ED25519_2: &str = include_str!("../../tests/data/keys/ed25519-2.pem");

    /// An in-memory parameter: versions 1, 2, ... as put; it can be made to fail like an
    /// unreachable source, and counts the reads.
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

    impl Source for Arc<FakeParameter> {
        fn fetch(&self) -> BoxFuture<'_, Result<Document, SourceError>> {
            Box::pin(async move {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                // Yield once, as a network call would, so concurrent callers really overlap.
                tokio::task::yield_now().await;
                if self.failing.load(Ordering::SeqCst) {
                    return Err(SourceError::Unavailable("the fake is failing".into()));
                }
                let versions = self.versions.lock().unwrap();
                let value = versions.last().expect("a version was put").clone();
                Ok(Document { value: Zeroizing::new(value), version: Some(versions.len() as i64) })
            })
        }

        fn describe(&self) -> String {
            "FAKE_PARAMETER: fake parameter".into()
        }

        fn changes(&self) -> bool {
            true
        }
    }

    fn policy(algorithm: SigningAlgorithm) -> KeyPolicy {
        KeyPolicy { algorithm, allow_weak: false }
    }

    /// A store reading `parameter` (at its latest version) with these timings.
    async fn store(
        parameter: &Arc<FakeParameter>,
        algorithm: SigningAlgorithm,
        activation: u64,
        grace: u64,
    ) -> KeyStore {
        let rotation = Rotation {
            activation: Duration::from_secs(activation),
            grace: Duration::from_secs(grace),
        };
        let rules = TokenRules::with_claims(algorithm, Duration::from_secs(3600), 0, None, None);
        KeyStore::load(Box::new(Arc::clone(parameter)), policy(algorithm), rotation, rules)
            .await
            .unwrap()
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
        let document = Document { value: Zeroizing::new(pem.to_owned()), version: None };
        policy(algorithm).build(document).unwrap().0.kid().unwrap().to_owned()
    }

    /// Material from the environment loads as one fixed key without a `kid`, and is never
    /// read again; a source that cannot be read or material that fails the policy is refused
    /// with an error naming the source, and says whether the configuration is at fault.
    #[tokio::test]
    async fn load_from_the_environment_and_load_failures() {
        let rules = || TokenRules::new(secs(60), 0);
        let inline =
            |value: &str| Box::new(Inline::new("JWT_SECRET", Zeroizing::new(value.into())));
        let rotation = Rotation { activation: Duration::ZERO, grace: secs(60) };
        let hs256 = policy(SigningAlgorithm::Hs256);
        let store = KeyStore::load(inline(SECRET_V1), hs256, rotation, rules()).await.unwrap();
        assert!(!store.refreshes());
        let token = store.issue("a@b.c").unwrap();
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid, None);
        assert_eq!(store.key_in_use().0, 0);

        let err = KeyStore::load(inline("hunter2"), hs256, rotation, rules()).await.unwrap_err();
        assert!(err.is_configuration());
        let message = err.to_string();
        assert!(
            message.starts_with("JWT_SECRET: the JWT secret is 7 bytes")
                && !message.contains("hunter2")
        );

        let parameter = FakeParameter::with(SECRET_V1);
        parameter.failing.store(true, Ordering::SeqCst);
        let err = KeyStore::load(Box::new(parameter), hs256, rotation, rules()).await.unwrap_err();
        assert!(!err.is_configuration(), "an unreachable source may work after a restart");
    }

    /// HS256, as the service always behaved: a new version signs as soon as a refresh sees it
    /// (`kid` = version); the old secret's tokens verify until the grace period ends, then
    /// not, and an old `kid` does not trigger a re-read. The key gauge follows the new version.
    #[tokio::test]
    async fn hs256_rotation_signs_at_once_then_grace_ends() {
        let t0 = Instant::now();
        let parameter = FakeParameter::with(SECRET_V1);
        let store = store(&parameter, SigningAlgorithm::Hs256, 0, 60).await;
        assert!(store.refreshes());
        let old = store.issue_at("a@b.c", t0).unwrap();
        assert_eq!(kid(&old), "1");
        assert_eq!(store.key_in_use().0, 1);
        assert!(store.jwks_at(t0).is_empty(), "a secret is never published");

        parameter.put(SECRET_V2);
        store.refresh_at(t0 + secs(10)).await;
        assert_eq!(store.key_in_use().0, 2);
        let new = store.issue_at("a@b.c", t0 + secs(10)).unwrap();
        assert_eq!(kid(&new), "2");
        assert!(store.verify_at(&new, t0 + secs(10)).await.is_ok());
        assert!(store.verify_at(&old, t0 + secs(69)).await.is_ok(), "within grace");
        let fetches = parameter.fetches();
        assert_eq!(
            store.verify_at(&old, t0 + secs(70)).await,
            Err(VerifyError::Rejected(Rejection::BadSignature)),
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
        let store = store(&parameter, SigningAlgorithm::Hs256, 0, 0).await;
        let old = store.issue_at("a@b.c", t0).unwrap();
        parameter.put(SECRET_V2);
        store.refresh_at(t0 + secs(1)).await;
        assert_eq!(
            store.verify_at(&old, t0 + secs(1)).await,
            Err(VerifyError::Rejected(Rejection::BadSignature))
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
        let lagging = store(&parameter, SigningAlgorithm::Hs256, 0, 60).await;
        let ahead = store(&parameter, SigningAlgorithm::Hs256, 0, 60).await;
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
            rules.issue(&KeyPair::hmac(&secret, Some("99".into())), "evil@b.c").unwrap()
        };
        let before = parameter.fetches();
        assert_eq!(
            lagging.verify_at(&forged, t0 + secs(4)).await,
            Err(VerifyError::Rejected(Rejection::BadSignature))
        );
        assert_eq!(parameter.fetches(), before, "within 5 s of the last re-read");
        assert_eq!(
            lagging.verify_at(&forged, t0 + secs(6)).await,
            Err(VerifyError::Rejected(Rejection::BadSignature))
        );
        assert_eq!(
            lagging.verify_at(&forged, t0 + secs(7)).await,
            Err(VerifyError::Rejected(Rejection::BadSignature))
        );
        assert_eq!(parameter.fetches(), before + 1, "rate-limited");
        assert_eq!(
            lagging.verify_at(&forged, t0 + secs(11)).await,
            Err(VerifyError::Rejected(Rejection::BadSignature))
        );
        assert_eq!(parameter.fetches(), before + 2, "allowed again after the interval");
    }

    /// When the source fails, or serves material that fails the policy, the last good key
    /// stays in use; a later good version rotates normally.
    #[tokio::test]
    async fn failures_at_refresh_keep_the_last_good_key() {
        let t0 = Instant::now();
        let parameter = FakeParameter::with(SECRET_V1);
        let store = store(&parameter, SigningAlgorithm::Hs256, 0, 60).await;
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

    /// ES256 and RS256 timeline: a new key is published (and verifies) at the refresh that
    /// sees it, signs only after the activation delay, the key it replaces stays published and
    /// verifies until its grace period ends, then leaves the JWKS. `kid`s are thumbprints.
    #[tokio::test]
    async fn public_key_publish_then_activate_then_retire() {
        for (algorithm, first, second) in [
            (SigningAlgorithm::Es256, ES256_1, ES256_2),
            (SigningAlgorithm::Rs256, RSA_2048_1, RSA_2048_2),
        ] {
            publish_then_activate_then_retire(algorithm, first, second).await;
        }
    }

    async fn publish_then_activate_then_retire(
        algorithm: SigningAlgorithm,
        first: &str,
        second: &str,
    ) {
        let (k1, k2) = (thumbprint(first, algorithm), thumbprint(second, algorithm));
        let t0 = Instant::now();
        let parameter = FakeParameter::with(first);
        let store = store(&parameter, algorithm, 100, 50).await;
        let signer_v2 = {
            let other = FakeParameter::with(second);
            self::store(&other, algorithm, 100, 50).await
        };
        let v1_token = store.issue_at("a@b.c", t0).unwrap();
        assert_eq!(kid(&v1_token), k1);
        assert_eq!(jwks_kids(&store, t0), [k1.as_str()]);

        parameter.put(second);
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
            Err(VerifyError::Rejected(Rejection::BadSignature))
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
        let store = store(&parameter, SigningAlgorithm::EdDsa, 100, 50).await;
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
        let lagging = store(&parameter, SigningAlgorithm::Es256, 100, 50).await;
        let ahead = store(&parameter, SigningAlgorithm::Es256, 0, 50).await;
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
            Err(VerifyError::Rejected(Rejection::BadSignature))
        );
        assert_eq!(parameter.fetches(), before, "our own kid never triggers a re-read");

        parameter.put(ED25519_1);
        lagging.refresh_at(t0 + secs(1)).await;
        assert_eq!(jwks_kids(&lagging, t0 + secs(1)).len(), 2, "the Ed25519 key was refused");
    }

    /// Public keys: a token whose `kid` names no key costs no signature check, only the
    /// rate-limited re-read; a token of a key that re-read brings costs one check; and a
    /// forged token whose re-read found nothing new is not checked a second time (it was
    /// checked against every key, re-read, and checked against every key again: 633 µs ->
    /// 2,547 µs per forged token in the review).
    #[tokio::test]
    async fn at_most_one_signature_check_per_token() {
        let t0 = Instant::now();
        let parameter = FakeParameter::with(ES256_1);
        let lagging = store(&parameter, SigningAlgorithm::Es256, 100, 50).await;
        let outside = {
            let other = FakeParameter::with(ES256_OUTSIDE);
            self::store(&other, SigningAlgorithm::Es256, 0, 50).await
        };
        let forged = outside.issue_at("evil@b.c", t0).unwrap();
        let (fetches, checks) = (parameter.fetches(), lagging.signature_checks());
        let rejected = Err(VerifyError::Rejected(Rejection::BadSignature));
        assert_eq!(lagging.verify_at(&forged, t0).await, rejected);
        assert_eq!(parameter.fetches(), fetches + 1, "one re-read for an unknown kid");
        assert_eq!(lagging.signature_checks(), checks, "and no signature check");
        assert_eq!(lagging.verify_at(&forged, t0 + secs(1)).await, rejected);
        assert_eq!(parameter.fetches(), fetches + 1, "rate-limited");
        assert_eq!(lagging.signature_checks(), checks);

        let ahead = store(&parameter, SigningAlgorithm::Es256, 0, 50).await;
        parameter.put(ES256_2);
        ahead.refresh_at(t0).await;
        let v2_token = ahead.issue_at("a@b.c", t0).unwrap();
        assert!(lagging.verify_at(&v2_token, t0 + secs(6)).await.is_ok());
        assert_eq!(lagging.signature_checks(), checks + 1, "the key the re-read brought, once");

        // HS256: a forged newer version triggers a re-read that finds nothing new; the token
        // was checked against the one key once, and is not checked again.
        let parameter = FakeParameter::with(SECRET_V1);
        let hs256 = store(&parameter, SigningAlgorithm::Hs256, 0, 60).await;
        let forged = {
            let (secret, _) = Secret::new("x".repeat(40), false).unwrap();
            let rules = TokenRules::new(secs(60), 0);
            rules.issue(&KeyPair::hmac(&secret, Some("99".into())), "evil@b.c").unwrap()
        };
        let fetches = parameter.fetches();
        assert_eq!(hs256.verify_at(&forged, t0).await, rejected);
        assert_eq!(parameter.fetches(), fetches + 1);
        assert_eq!(hs256.signature_checks(), 1, "one pass: the re-read changed nothing");
    }

    /// Behind an admission bound, a signature check past the bound's slots and queue is
    /// refused at once with `Overloaded` (503), while tokens that need no check — malformed
    /// ones — are still answered as such; once the slot frees, checks run again.
    #[tokio::test]
    async fn signature_checks_wait_behind_the_admission_bound() {
        let parameter = FakeParameter::with(ES256_1);
        let admission = Arc::new(Admission::new(1, 0, secs(2)));
        let store = store(&parameter, SigningAlgorithm::Es256, 0, 50)
            .await
            .with_admission(Arc::clone(&admission));
        let t0 = Instant::now();
        let token = store.issue_at("a@b.c", t0).unwrap();
        let busy = admission.admit().await.unwrap();
        let refused = store.verify_at(&token, t0).await;
        assert_eq!(
            refused,
            Err(VerifyError::Overloaded(Overloaded { retry_after: secs(2) })),
            "every slot busy and no queue: refused at once"
        );
        assert_eq!(store.signature_checks(), 0);
        assert_eq!(
            store.verify_at("not-a-token", t0).await,
            Err(VerifyError::Rejected(Rejection::Malformed)),
            "a malformed token is not a signature check"
        );
        drop(busy);
        assert!(store.verify_at(&token, t0).await.is_ok());
        assert_eq!(store.signature_checks(), 1);
    }

    /// A store that re-reads its source reports when the last read succeeded: at load, then
    /// at each successful refresh, and not at a failed one; a store whose material never
    /// changes reports none.
    #[tokio::test]
    async fn last_successful_refresh() {
        let parameter = FakeParameter::with(SECRET_V1);
        let store = store(&parameter, SigningAlgorithm::Hs256, 0, 60).await;
        let loaded = store.last_refresh().expect("a refreshing store");
        assert!(SystemTime::now().duration_since(loaded).unwrap() < secs(5));
        store.refresh_at(Instant::now()).await;
        assert!(store.last_refresh().unwrap() >= loaded);
        let fixed = KeyStore::fixed(
            KeyPair::hmac(&Secret::new(SECRET_V1.to_owned(), false).unwrap().0, None),
            TokenRules::new(secs(60), 0),
        );
        assert_eq!(fixed.last_refresh(), None);
    }
}
