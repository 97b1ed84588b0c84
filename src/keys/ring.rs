//! The key ring: which key signs and which keys verify at a given instant.
//!
//! A [`Keyring`] is a value: the current key (signs every new token), possibly a next key
//! (already verifying and published, signing from its activation instant) and, after a
//! rotation, the previous keys, each accepted until its grace period ends. Rotating makes a new
//! ring ([`Keyring::rotated`]); every answer depends only on the ring and the instant asked
//! about, so activation and the end of grace need no timer and the tests pass `now` in.

use crate::token::{Claims, KeyMismatch, KeyPair, Rejected, TokenRules, claimed_kid};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
    pub fn holds_version(&self, version: i64) -> bool {
        self.current.version == Some(version)
            || self.next.as_ref().is_some_and(|next| next.key.version == Some(version))
    }

    /// Tries the keys accepted at `now`, the one named by `kid` first. `Ok(None)` means no
    /// key's signature matched (the token may be from a key not seen yet).
    pub fn verify(
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

    /// Verification tries every accepted key: a token of a retired key verifies within its
    /// grace, not after; a token of a key the ring has never held verifies with none (`None`,
    /// so the caller may re-read); a bad token is rejected outright.
    #[test]
    fn verification_over_the_accepted_keys() {
        let t0 = Instant::now();
        let rules = TokenRules::new(secs(3600), 0);
        let old_token = rules.issue(&key(1).keys, "a@b.c").unwrap();
        let unseen = rules.issue(&key(9).keys, "a@b.c").unwrap();
        let ring = Keyring::single(key(1)).rotated(key(2), Duration::ZERO, secs(60), t0);
        assert!(ring.verify(&rules, &old_token, t0 + secs(59)).unwrap().is_some());
        assert_eq!(ring.verify(&rules, &old_token, t0 + secs(60)), Ok(None));
        assert_eq!(ring.verify(&rules, &unseen, t0), Ok(None));
        assert_eq!(ring.verify(&rules, "not-a-token", t0), Err(Rejected(Rejection::Malformed)));
    }
}
