//! A login in `users` mode: the order of the checks, each cheaper than the next, so that what
//! is refused costs least, and every answer that is not a login looks the same.
//!
//! 1. the client address's token bucket ([`AddressLimiter`]): empty → 429;
//! 2. the user, by normalised email ([`UserStore`]): unreachable → 503;
//! 3. the account's ledger ([`FailureLedger::begin`], which counts the attempt): in its back-off
//!    → 429, unreachable → 503 (nothing recorded: an outage locks no one);
//! 4. a verification slot ([`Admission`]): none within the queue bound → 503;
//! 5. the password against the user's hash — or, for an unknown or disabled user, against the
//!    dummy hash, the same work — on the blocking pool;
//! 6. a match resets the account's count; anything else is the one 401.
//!
//! Every step records its [`Outcome`] outcome; the password is zeroized when the attempt ends
//! and is never logged.

use crate::admission::Admission;
use crate::client_address::{PeerAddress, client_address};
use crate::error::ApiError;
use crate::metrics::{self, Login as Outcome};
use crate::password::Verifier;
use crate::throttle::{AddressLimiter, Attempt, FailureLedger};
use crate::users::{User, UserStore, normalise};
use http::HeaderMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use zeroize::Zeroizing;

/// Everything a login needs, built once at start-up (it lives in the state).
pub struct Logins {
    /// The user store.
    pub store: Arc<dyn UserStore>,
    /// The per-account failure counts.
    pub ledger: Arc<dyn FailureLedger>,
    /// The per-address buckets.
    pub addresses: AddressLimiter,
    /// Hashes and verifications.
    pub verifier: Arc<Verifier>,
    /// The bound on concurrent verifications.
    pub admission: Admission,
    /// `TRUSTED_PROXY_HOPS`.
    pub trusted_proxy_hops: usize,
    /// Unix seconds now (the wall clock; a fixed one in tests).
    pub clock: fn() -> u64,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Logins(store {})", self.store.describe())
    }
}

/// The wall clock in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

impl Logins {
    /// Checks `email` and `password`: the user on success, else the error to answer; with the
    /// outcome, for the access line.
    pub async fn attempt(
        &self,
        email: &str,
        password: Zeroizing<String>,
        headers: &HeaderMap,
        peer: Option<PeerAddress>,
    ) -> (Outcome, Result<Arc<User>, ApiError>) {
        let (outcome, result) = self.checks(email, password, headers, peer).await;
        metrics::login(outcome);
        (outcome, result)
    }

    async fn checks(
        &self,
        email: &str,
        password: Zeroizing<String>,
        headers: &HeaderMap,
        peer: Option<PeerAddress>,
    ) -> (Outcome, Result<Arc<User>, ApiError>) {
        if let Some(address) = client_address(headers, peer, self.trusted_proxy_hops)
            && let Err(retry_after) = self.addresses.check(address)
        {
            return (Outcome::Throttled, Err(ApiError::TooManyAttempts { retry_after }));
        }
        let key = normalise(email);
        let user = match self.store.find(&key).await {
            Ok(user) => user,
            Err(err) => {
                tracing::warn!(store = %self.store.describe(), error = %err, "the user store did not answer");
                return (Outcome::Unavailable, Err(ApiError::Unavailable));
            }
        };
        match self.ledger.begin(&key, (self.clock)()).await {
            Ok(Attempt::Allowed) => {}
            Ok(Attempt::Locked { retry_after }) => {
                return (Outcome::Locked, Err(ApiError::TooManyAttempts { retry_after }));
            }
            Err(err) => {
                tracing::warn!(error = %err, "the failure ledger did not answer");
                return (Outcome::Unavailable, Err(ApiError::Unavailable));
            }
        }
        let _slot = match self.admission.admit().await {
            Ok(slot) => slot,
            Err(overloaded) => {
                let retry_after = overloaded.retry_after;
                return (Outcome::Overloaded, Err(ApiError::Overloaded { retry_after }));
            }
        };
        let verifier = Arc::clone(&self.verifier);
        let candidate = user.clone().filter(|user| user.enabled);
        let verified = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let matched =
                verifier.verify(password.as_bytes(), candidate.as_ref().map(|user| &user.hash));
            metrics::password_verification(started.elapsed());
            matched
        })
        .await;
        match (verified, user) {
            (Ok(true), Some(user)) => {
                if let Err(err) = self.ledger.succeeded(&key).await {
                    // The login stands; the count expires by itself.
                    tracing::warn!(error = %err, "could not reset the account's failure count");
                }
                (Outcome::Ok, Ok(user))
            }
            (Ok(_), _) => (Outcome::BadCredentials, Err(ApiError::InvalidCredentials)),
            (Err(err), _) => {
                tracing::error!(error = %err, "the password verification task failed");
                (Outcome::BadCredentials, Err(ApiError::Internal))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{HashFloor, HashParameters, StoredHash};
    use crate::source::BoxFuture;
    use crate::throttle::{AccountLimits, AddressLimits, MemoryLedger};
    use crate::users::{StoreUnavailable, UserTable};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    const FAST: HashParameters = HashParameters { memory_kib: 8, iterations: 1, parallelism: 1 };
    const FLOOR: HashFloor =
        HashFloor { min_memory_kib: 8, min_work: 8, max_memory_kib: 1 << 20, min_bcrypt_cost: 4 };

    /// A table store whose availability the test switches.
    struct Switchable(UserTable, AtomicBool);

    impl UserStore for Switchable {
        fn find<'a>(
            &'a self,
            key: &'a str,
        ) -> BoxFuture<'a, Result<Option<Arc<User>>, StoreUnavailable>> {
            let up = self.1.load(Ordering::SeqCst);
            Box::pin(std::future::ready(if up {
                Ok(self.0.get(key))
            } else {
                Err(StoreUnavailable("down".into()))
            }))
        }
        fn describe(&self) -> String {
            "test".into()
        }
    }

    fn logins() -> (Logins, Arc<Switchable>) {
        let verifier = Arc::new(Verifier::new(FAST, 1).unwrap());
        let text = format!(
            "Alice@Example.com:{}\noff@example.com:!{}",
            verifier.hash(b"right").unwrap(),
            verifier.hash(b"right").unwrap()
        );
        let store =
            Arc::new(Switchable(UserTable::parse(&text, &FLOOR).unwrap(), AtomicBool::new(true)));
        let logins = Logins {
            store: store.clone(),
            ledger: Arc::new(MemoryLedger::new(AccountLimits::default(), 100)),
            addresses: AddressLimiter::new(AddressLimits::default()),
            verifier,
            admission: Admission::new(1, 0, Duration::from_secs(1)),
            trusted_proxy_hops: 0,
            clock: || 1_000_000,
        };
        (logins, store)
    }

    async fn try_login(
        logins: &Logins,
        email: &str,
        password: &str,
        peer: &str,
    ) -> (Outcome, Result<String, ApiError>) {
        let peer = Some(PeerAddress(peer.parse().unwrap()));
        let (outcome, result) =
            logins.attempt(email, Zeroizing::new(password.into()), &HeaderMap::new(), peer).await;
        (outcome, result.map(|user| user.email.clone()))
    }

    /// The right password logs in with the stored email (whatever the case and spaces given);
    /// wrong password, unknown and disabled users get the same error.
    #[tokio::test]
    async fn outcomes() {
        let (logins, _) = logins();
        assert_eq!(
            try_login(&logins, "  alice@EXAMPLE.com ", "right", "192.0.2.1").await,
            (Outcome::Ok, Ok("Alice@Example.com".into()))
        );
        for (email, password) in [
            ("alice@example.com", "wrong"),
            ("nobody@example.com", "right"),
            ("off@example.com", "right"),
        ] {
            assert_eq!(
                try_login(&logins, email, password, "192.0.2.2").await,
                (Outcome::BadCredentials, Err(ApiError::InvalidCredentials)),
                "{email}"
            );
        }
    }

    /// An unreachable store is a 503 that counts nothing; a locked account is refused without
    /// a verification; a full address bucket too.
    #[tokio::test]
    async fn refusals() {
        let (logins, store) = logins();
        store.1.store(false, Ordering::SeqCst);
        for _ in 0..10 {
            assert_eq!(
                try_login(&logins, "alice@example.com", "wrong", "192.0.2.3").await.0,
                Outcome::Unavailable
            );
        }
        store.1.store(true, Ordering::SeqCst);
        assert_eq!(
            try_login(&logins, "alice@example.com", "right", "192.0.2.3").await.0,
            Outcome::Ok,
            "the outage locked no one"
        );
        for _ in 0..5 {
            assert_eq!(
                try_login(&logins, "alice@example.com", "wrong", "192.0.2.4").await.0,
                Outcome::BadCredentials
            );
        }
        let (outcome, result) = try_login(&logins, "alice@example.com", "right", "192.0.2.5").await;
        assert_eq!(outcome, Outcome::Locked);
        assert_eq!(result, Err(ApiError::TooManyAttempts { retry_after: Duration::from_secs(60) }));
        for _ in 0..20 {
            let _ = try_login(&logins, "x@example.com", "wrong", "192.0.2.6").await;
        }
        assert_eq!(
            try_login(&logins, "y@example.com", "wrong", "192.0.2.6").await.0,
            Outcome::Throttled
        );
    }

    /// Parsing is shared with the stores: the dummy path and a stored hash differ only in
    /// whether a match can count.
    #[test]
    fn dummy_never_logs_in() {
        let verifier = Verifier::new(FAST, 1).unwrap();
        let hash = StoredHash::parse(&verifier.hash(b"pw").unwrap(), &FLOOR).unwrap();
        assert!(verifier.verify(b"pw", Some(&hash)));
        assert!(!verifier.verify(b"pw", None));
    }
}
