//! The key ring: which key signs and which keys verify at a given instant.
//!
//! A [`Keyring`] is a value: the current key (signs every new token), possibly a next key
//! (already verifying and published, signing from its activation instant) and, after a
//! rotation, the previous keys, each accepted until its grace period ends. Rotating makes a new
//! ring ([`Keyring::rotated`]); every answer depends only on the ring and the instant asked
//! about, so activation and the end of grace need no timer and the tests pass `now` in.
//!
//! Which keys a token is checked against is decided before any signature is checked
//! ([`Keyring::plan`]), and a signature check is the expensive step (ES256 ~55 µs):
//! - every public-key algorithm (ES256, EdDSA, RS256, any other whose public half is
//!   published) chooses by `kid`: the one key the `kid` names, the signing key when there is
//!   no `kid`, none when the `kid` names no key of the ring. A `kid` is a thumbprint we
//!   computed of a key we hold, never a key we fetch: at most one signature check per token;
//! - HS256 keeps its rule: a `kid` (the SSM version) is not trusted to choose, only to order;
//!   every accepted key is tried, the named one first.

use crate::token::{Claims, KeyMismatch, KeyPair, Rejected, SigningAlgorithm, TokenRules};
use crate::token::{claimed_kid, header_kid};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// `instant + duration`, without the panic of an overflow: configuration ranges keep the
/// durations far from it, and this keeps an overflow from ever ending the refresh task.
fn after(instant: Instant, duration: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    instant.checked_add(duration).or_else(|| instant.checked_add(CENTURY)).unwrap_or(instant)
}

/// Which keys of a ring a token is to be checked against, decided from its header alone.
#[derive(Debug)]
pub enum Plan<'a> {
    /// Check the token against these keys, in order, until a signature matches.
    Check(Candidates<'a>),
    /// Public-key modes: the token's `kid` names no key of the ring, so no check could match
    /// (the key may be one this process has not seen yet).
    UnknownKid,
    /// Public-key modes: the token is not even well-formed; no key is tried.
    Rejected(Rejected),
}

/// The keys a token is checked against, in order (see [`Plan`]).
#[derive(Debug, Clone, Copy)]
pub struct Candidates<'a> {
    ring: &'a Keyring,
    now: Instant,
    /// Checked first (public-key modes: the only one).
    first: Option<&'a VersionedKey>,
    /// HS256: whether the other accepted keys follow `first`.
    others: bool,
    /// Keys accepted in this ring at `now` were tried already (a second pass after a
    /// refresh): they are skipped.
    tried: Option<&'a Keyring>,
}

impl<'a> Candidates<'a> {
    /// The keys, in the order they are checked.
    pub fn keys(self) -> impl Iterator<Item = &'a VersionedKey> {
        let Candidates { ring, now, first, others, tried } = self;
        let not_first = move |key: &&VersionedKey| !first.is_some_and(|f| std::ptr::eq(f, *key));
        let rest = others.then(|| ring.accepted(now).filter(not_first)).into_iter().flatten();
        first.into_iter().chain(rest).filter(move |key| {
            !tried.is_some_and(|tried| tried.accepted(now).any(|old| std::ptr::eq(old, *key)))
        })
    }
}

/// What checking a token cost and found.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    /// The claims when a key's signature matched; `Ok(None)` when none did; `Err` when the
    /// token is bad whatever the key.
    pub result: Result<Option<Claims>, Rejected>,
    /// Signature checks made (one per key tried).
    pub signature_checks: usize,
}

/// One key of the ring, with where it came from.
#[derive(Debug)]
pub struct VersionedKey {
    /// The source's version of the material (the SSM parameter version); `None` for material
    /// from the environment.
    pub version: Option<i64>,
    /// The signing and verifying keys.
    pub keys: KeyPair,
    /// When this process installed it (the key-age gauge).
    pub installed: SystemTime,
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

impl Keyring {
    /// A ring of one key, which signs.
    pub fn single(key: VersionedKey) -> Self {
        Keyring { current: Arc::new(key), next: None, previous: Vec::new() }
    }

    /// The key that signs at `now`.
    pub fn signing(&self, now: Instant) -> &VersionedKey {
        match &self.next {
            Some(next) if next.activates_at <= now => &next.key,
            _ => &self.current,
        }
    }

    /// The key installed last: the next key while one is pending, else the current one.
    pub fn newest(&self) -> &VersionedKey {
        self.next.as_ref().map_or(&self.current, |next| &next.key)
    }

    /// Every key that verifies (and is published) at `now`: the signing key first, then a
    /// pending next key or the key just replaced, then retired keys within their grace.
    pub fn accepted(&self, now: Instant) -> impl Iterator<Item = &VersionedKey> + Clone {
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
    pub fn rotated(
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
                previous.push((Arc::clone(&next.key), after(now, grace)));
                Arc::clone(&self.current)
            }
            None => Arc::clone(&self.current),
        };
        previous.extend(self.previous.iter().cloned());
        let key = Arc::new(key);
        let (current, next) = if activation.is_zero() {
            previous.insert(0, (current, after(now, grace)));
            (key, None)
        } else {
            let activates_at = after(now, activation);
            let current_until = after(activates_at, grace);
            (current, Some(NextKey { key, activates_at, current_until }))
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
    pub fn holds_version(&self, version: i64) -> bool {
        self.current.version == Some(version)
            || self.next.as_ref().is_some_and(|next| next.key.version == Some(version))
    }

    /// Which keys `token` is checked against at `now`, from its header alone (see the module
    /// docs): by `kid` for every public-key `algorithm`; every accepted key, the named one
    /// first, for HS256.
    pub fn plan(&self, algorithm: SigningAlgorithm, token: &str, now: Instant) -> Plan<'_> {
        self.plan_after(algorithm, token, now, None)
    }

    /// [`Keyring::plan`] for a second pass after a refresh: keys accepted in `tried` were
    /// checked already and are skipped, so no key is checked twice for one token.
    pub fn plan_after<'a>(
        &'a self,
        algorithm: SigningAlgorithm,
        token: &str,
        now: Instant,
        tried: Option<&'a Keyring>,
    ) -> Plan<'a> {
        let candidates = |first, others| Candidates { ring: self, now, first, others, tried };
        if algorithm.is_public_key() {
            return match header_kid(token) {
                Err(rejected) => Plan::Rejected(rejected),
                Ok(None) => Plan::Check(candidates(Some(self.signing(now)), false)),
                Ok(Some(kid)) => match self.accepted(now).find(|key| key.keys.kid() == Some(&*kid))
                {
                    Some(named) => Plan::Check(candidates(Some(named), false)),
                    None => Plan::UnknownKid,
                },
            };
        }
        // The usual case (one key in force) needs no kid: nothing to order.
        let several = self.accepted(now).nth(1).is_some();
        let kid = several.then(|| claimed_kid(token)).flatten();
        let named = kid.and_then(|kid| self.accepted(now).find(|k| k.keys.kid() == Some(&*kid)));
        Plan::Check(candidates(named, true))
    }

    /// Checks `token` against `candidates` (from this ring's [`Keyring::plan`]) until a
    /// signature matches.
    pub fn check(&self, rules: &TokenRules, token: &str, candidates: Candidates<'_>) -> Checked {
        let mut signature_checks = 0;
        for key in candidates.keys() {
            signature_checks += 1;
            match rules.verify(&key.keys, token) {
                Ok(claims) => return Checked { result: Ok(Some(claims)), signature_checks },
                Err(KeyMismatch::Signature) => continue,
                Err(KeyMismatch::Rejected(why)) => {
                    return Checked { result: Err(Rejected(why)), signature_checks };
                }
            }
        }
        Checked { result: Ok(None), signature_checks }
    }

    /// [`Keyring::plan`], then [`Keyring::check`]: `Ok(None)` means no key's signature
    /// matched, or (public keys) the `kid` names no key here; either way the token may be from
    /// a key not seen yet.
    pub fn verify(&self, rules: &TokenRules, token: &str, now: Instant) -> Checked {
        match self.plan(rules.algorithm(), token, now) {
            Plan::Check(candidates) => self.check(rules, token, candidates),
            Plan::UnknownKid => Checked { result: Ok(None), signature_checks: 0 },
            Plan::Rejected(rejected) => Checked { result: Err(rejected), signature_checks: 0 },
        }
    }
}

#[cfg(test)]
mod tests {
    //! The ring as a state machine: installs at injected instants, then what signs, what
    //! verifies and what is published at each instant after.

    use super::*;
    use crate::key_material::Secret;
    use crate::token::Rejection;

    fn key(version: i64) -> VersionedKey {
        let secret = format!("secret-number-{version}-0123456789abcdef-0123456789");
        let (secret, _) = Secret::new(secret, false).unwrap();
        VersionedKey {
            version: Some(version),
            keys: KeyPair::hmac(&secret, Some(version.to_string())),
            installed: SystemTime::UNIX_EPOCH,
        }
    }

    fn versions<'a>(keys: impl Iterator<Item = &'a VersionedKey>) -> Vec<i64> {
        keys.map(|key| key.version.unwrap()).collect()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Installed with an activation delay, a key verifies at once, signs from its activation,
    /// and the key it replaces verifies until activation + grace; `newest` is the new key from
    /// the install on, and `holds_version` knows both.
    #[test]
    fn activation_then_grace() {
        let t0 = Instant::now();
        let ring = Keyring::single(key(1)).rotated(key(2), secs(100), secs(50), t0);
        assert_eq!(ring.newest().version, Some(2));
        assert!(ring.holds_version(1) && ring.holds_version(2) && !ring.holds_version(3));
        assert_eq!(ring.signing(t0 + secs(99)).version, Some(1));
        assert_eq!(versions(ring.accepted(t0 + secs(99))), [1, 2]);
        assert_eq!(ring.signing(t0 + secs(100)).version, Some(2));
        assert_eq!(versions(ring.accepted(t0 + secs(149))), [2, 1]);
        assert_eq!(versions(ring.accepted(t0 + secs(150))), [2]);
    }

    /// Without an activation delay the new key signs at once and the old one is retired for
    /// the grace period; a zero grace retires it at once.
    #[test]
    fn immediate_rotation_and_zero_grace() {
        let t0 = Instant::now();
        let ring = Keyring::single(key(1)).rotated(key(2), Duration::ZERO, secs(60), t0);
        assert_eq!(ring.signing(t0).version, Some(2));
        assert_eq!(versions(ring.accepted(t0 + secs(59))), [2, 1]);
        assert_eq!(versions(ring.accepted(t0 + secs(60))), [2]);
        let revoked = Keyring::single(key(1)).rotated(key(2), Duration::ZERO, Duration::ZERO, t0);
        assert_eq!(versions(revoked.accepted(t0)), [2]);
    }

    /// A key installed while another is pending retires the pending one with a grace period
    /// (other processes may sign with it already); a rotation after an activation moves the
    /// activated key to current without changing any answer; a key installed again under a
    /// new version replaces its older copy instead of being listed twice.
    #[test]
    fn pending_keys_activated_keys_and_duplicates() {
        let t0 = Instant::now();
        let ring = Keyring::single(key(1)).rotated(key(2), secs(100), secs(50), t0);
        let replaced = ring.rotated(key(3), secs(100), secs(50), t0 + secs(10));
        assert_eq!(versions(replaced.accepted(t0 + secs(10))), [1, 3, 2]);
        assert_eq!(versions(replaced.accepted(t0 + secs(60))), [1, 3]);
        assert_eq!(replaced.signing(t0 + secs(110)).version, Some(3));

        let after = ring.rotated(key(1), secs(100), secs(50), t0 + secs(120));
        // Key 2 signs since t0 + 100; key 1 (installed again, as a pending key) is listed once.
        assert_eq!(after.signing(t0 + secs(120)).version, Some(2));
        assert_eq!(versions(after.accepted(t0 + secs(120))), [2, 1]);
        assert_eq!(versions(after.accepted(t0 + secs(170))), [2, 1], "1 is pending, not retired");
    }

    /// HS256 verification tries every accepted key: a token of a retired key verifies within
    /// its grace, not after; a token of a key the ring has never held verifies with none
    /// (`None`, so the caller may re-read); a bad token is rejected outright.
    #[test]
    fn verification_over_the_accepted_keys() {
        let t0 = Instant::now();
        let rules = TokenRules::new(secs(3600), 0);
        let old_token = rules.issue(&key(1).keys, "a@b.c").unwrap();
        let unseen = rules.issue(&key(9).keys, "a@b.c").unwrap();
        let ring = Keyring::single(key(1)).rotated(key(2), Duration::ZERO, secs(60), t0);
        let result = |token: &str, at| ring.verify(&rules, token, at).result;
        assert!(result(&old_token, t0 + secs(59)).unwrap().is_some());
        assert_eq!(result(&old_token, t0 + secs(60)), Ok(None));
        assert_eq!(result(&unseen, t0), Ok(None));
        assert_eq!(result("not-a-token", t0), Err(Rejected(Rejection::Malformed)));
    }

    /// HS256 keeps its rule (a `kid` is an SSM version, not trusted to choose): with two keys
    /// in force, the named key is checked first, and a token of neither costs one check per
    /// key. A second pass after a refresh skips the keys the first pass tried.
    #[test]
    fn hs256_checks_every_key_once() {
        let t0 = Instant::now();
        let rules = TokenRules::new(secs(3600), 0);
        let ring = Keyring::single(key(1)).rotated(key(2), Duration::ZERO, secs(60), t0);
        let checks = |ring: &Keyring, token: &str| ring.verify(&rules, token, t0).signature_checks;
        let old_token = rules.issue(&key(1).keys, "a@b.c").unwrap();
        assert_eq!(checks(&ring, &old_token), 1, "kid 1 names the retired key: checked first");
        assert_eq!(checks(&ring, &rules.issue(&key(9).keys, "a@b.c").unwrap()), 2);

        let refreshed = ring.rotated(key(3), Duration::ZERO, secs(60), t0);
        let forged = rules.issue(&key(4).keys, "a@b.c").unwrap();
        let Plan::Check(second) =
            refreshed.plan_after(SigningAlgorithm::Hs256, &forged, t0, Some(&ring))
        else {
            panic!("HS256 always checks")
        };
        let second = refreshed.check(&rules, &forged, second);
        assert_eq!(second, Checked { result: Ok(None), signature_checks: 1 }, "only key 3 is new");
    }

    fn public_key(pem: &str, algorithm: SigningAlgorithm) -> VersionedKey {
        let document = crate::source::Document { value: pem.to_owned().into(), version: None };
        let policy = crate::keys::KeyPolicy { algorithm, allow_weak: false };
        VersionedKey {
            version: None,
            keys: policy.build(document).unwrap().0,
            installed: SystemTime::UNIX_EPOCH,
        }
    }

    /// A valid token signed by the private key `pem`, with the header `kid` given.
    fn signed(pem: &str, algorithm: SigningAlgorithm, kid: Option<&str>) -> String {
        let key = crate::key_material::PrivateKey::from_pem(pem.to_owned()).unwrap();
        let (alg, encoding_key) = match algorithm {
            SigningAlgorithm::Es256 => {
                (jsonwebtoken::Algorithm::ES256, jsonwebtoken::EncodingKey::from_ec_der(key.der()))
            }
            SigningAlgorithm::Rs256 => (
                jsonwebtoken::Algorithm::RS256,
                jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            ),
            _ => {
                (jsonwebtoken::Algorithm::EdDSA, jsonwebtoken::EncodingKey::from_ed_der(key.der()))
            }
        };
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = kid.map(str::to_owned);
        let now = crate::token::unix_now();
        let claims = serde_json::json!({"email": "a@b.c", "exp": now + 60, "nbf": now});
        jsonwebtoken::encode(&header, &claims, &encoding_key).unwrap()
    }

    /// Every public-key mode chooses by `kid`, whatever the number of keys in force: a token
    /// naming a key of the ring costs exactly one check (and verifies or not), one naming no
    /// key costs none ([`Plan::UnknownKid`]), one without `kid` is checked against the signing
    /// key only, and a token signed by an outside key that borrows our `kid` is one failed
    /// check, never a fetch.
    #[test]
    fn public_keys_are_chosen_by_kid() {
        const OUTSIDE: &str = include_str!("../../tests/data/keys/es256-outside.pem");
        let cases = [
            (
                SigningAlgorithm::Es256,
                include_str!("../../tests/data/keys/es256-1.pem"),
                include_str!("../../tests/data/keys/es256-2.pem"),
                OUTSIDE,
            ),
            (
                SigningAlgorithm::EdDsa,
                include_str!("../../tests/data/keys/ed25519-1.pem"),
                include_str!("../../tests/data/keys/ed25519-2.pem"),
                include_str!("../../tests/data/keys/ed25519-outside.pem"),
            ),
            (
                SigningAlgorithm::Rs256,
                include_str!("../../tests/data/keys/rsa-2048-1.pem"),
                include_str!("../../tests/data/keys/rsa-2048-2.pem"),
                include_str!("../../tests/data/keys/rsa-2048-outside.pem"),
            ),
        ];
        for (algorithm, first, second, outside) in cases {
            let t0 = Instant::now();
            let rules = TokenRules::with_claims(algorithm, secs(3600), 0, None, None);
            let ring = Keyring::single(public_key(first, algorithm)).rotated(
                public_key(second, algorithm),
                secs(100),
                secs(50),
                t0,
            );
            let verify = |token: &str| ring.verify(&rules, token, t0);
            let kid_of = |pem: &str| public_key(pem, algorithm).keys.kid().unwrap().to_owned();
            let (first_kid, second_kid) = (kid_of(first), kid_of(second));

            let checked = verify(&signed(second, algorithm, Some(&second_kid)));
            assert!(checked.result.unwrap().is_some(), "{algorithm}: the next key verifies");
            assert_eq!(checked.signature_checks, 1, "{algorithm}");

            let unseen = signed(outside, algorithm, Some(&kid_of(outside)));
            assert!(matches!(ring.plan(algorithm, &unseen, t0), Plan::UnknownKid));
            assert_eq!(verify(&unseen), Checked { result: Ok(None), signature_checks: 0 });

            let borrowed = signed(outside, algorithm, Some(&first_kid));
            assert_eq!(verify(&borrowed), Checked { result: Ok(None), signature_checks: 1 });

            // Without a kid: the signing key (the first, until the second activates) alone.
            let checked = verify(&signed(first, algorithm, None));
            assert!(checked.result.unwrap().is_some(), "{algorithm}");
            assert_eq!(checked.signature_checks, 1);
            let anonymous_next = signed(second, algorithm, None);
            assert_eq!(verify(&anonymous_next), Checked { result: Ok(None), signature_checks: 1 });
        }
    }
}
