//! Per-account back-off. Each attempt is counted as a failure *before* the password is
//! verified ([`FailureLedger::begin`]) and the count is reset when it succeeds: concurrent
//! attempts cannot slip past the limit between a check and a write, so an account gets at most
//! `max_failures` verifications per window, whoever sends them and however many replicas serve
//! them.
//!
//! The rules ([`AccountLimits`]) are pure functions of a record and the time (Unix seconds), so
//! the unit tests inject time. After `max_failures` attempts without a success within `window`,
//! the account is locked for `lockout`, doubling with each further lockout up to `max_lockout`;
//! while locked, attempts are refused without a verification. The ledger is keyed by the
//! normalised email whether or not such a user exists, so a refusal says nothing about the
//! account.

use crate::source::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The per-account rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// Attempts without a success within `window` before the account locks.
    pub max_failures: u32,
    /// The window those failures are counted in.
    pub window: Duration,
    /// The first lockout.
    pub lockout: Duration,
    /// The longest lockout (each one doubles the last).
    pub max_lockout: Duration,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits {
            max_failures: 5,
            window: Duration::from_secs(300),
            lockout: Duration::from_secs(60),
            max_lockout: Duration::from_secs(900),
        }
    }
}

/// What the ledger holds for one account. Times are Unix seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountRecord {
    /// Attempts without a success since `window_start`.
    pub failures: u32,
    /// When the current counting window began.
    pub window_start: u64,
    /// Attempts are refused until then.
    pub locked_until: u64,
    /// Lockouts in a row (the back-off doubles with each).
    pub lockouts: u32,
}

/// The answer to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Verify the password (the attempt is already counted).
    Allowed,
    /// Refused without verifying; retry after this long.
    Locked {
        /// Until the lockout ends.
        retry_after: Duration,
    },
}

impl AccountLimits {
    /// The record after an attempt at `now`, and whether the attempt may verify a password.
    pub fn attempt(&self, record: AccountRecord, now: u64) -> (AccountRecord, Attempt) {
        if now < record.locked_until {
            let retry_after = Duration::from_secs(record.locked_until - now);
            return (record, Attempt::Locked { retry_after });
        }
        let mut next = record;
        let quiet = now.saturating_sub(record.locked_until.max(record.window_start));
        if quiet >= self.window.as_secs() + self.max_lockout.as_secs() {
            // Long quiet: the back-off starts over.
            next.lockouts = 0;
        }
        if now >= record.window_start.saturating_add(self.window.as_secs()) {
            next.failures = 0;
            next.window_start = now;
        }
        next.failures += 1;
        if next.failures >= self.max_failures {
            // This attempt is the last one allowed: whatever it is, the next ones wait.
            let doubling = 2u64.saturating_pow(next.lockouts.min(30));
            let lockout =
                self.lockout.as_secs().saturating_mul(doubling).min(self.max_lockout.as_secs());
            next.locked_until = now.saturating_add(lockout);
            next.lockouts = next.lockouts.saturating_add(1);
            next.failures = 0;
            next.window_start = next.locked_until;
        }
        (next, Attempt::Allowed)
    }

    /// How long a record must be kept to still matter (its TTL in a shared ledger).
    pub fn retention(&self, record: &AccountRecord) -> u64 {
        record.locked_until.max(record.window_start)
            + self.window.as_secs()
            + self.max_lockout.as_secs()
    }
}

/// The ledger could not be read or written (DynamoDB unreachable): the login is answered 503,
/// and nothing is recorded, so an outage locks no one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LedgerUnavailable(pub String);

/// Where failure counts live: in the process ([`MemoryLedger`]) or in DynamoDB.
pub trait FailureLedger: Send + Sync {
    /// Counts an attempt on account `key` at `now` (Unix seconds) and says whether it may
    /// verify a password.
    fn begin<'a>(
        &'a self,
        key: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Attempt, LedgerUnavailable>>;

    /// The attempt succeeded: the account's count and back-off start over.
    fn succeeded<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), LedgerUnavailable>>;
}

/// Counts in this process: right for one process, per-replica with several (with 3 replicas an
/// attacker spreading attempts gets up to 3 × `max_failures` per window; use `USERS_TABLE` to
/// share the count). Holds at most `capacity` accounts: past it, records that no longer matter
/// go first, then the oldest.
#[derive(Debug)]
pub struct MemoryLedger {
    limits: AccountLimits,
    capacity: usize,
    records: Mutex<HashMap<String, AccountRecord>>,
}

/// Accounts a [`MemoryLedger`] holds by default (~100 bytes each).
pub const MEMORY_LEDGER_CAPACITY: usize = 100_000;

impl MemoryLedger {
    /// An empty ledger applying `limits`, holding at most `capacity` accounts.
    pub fn new(limits: AccountLimits, capacity: usize) -> Self {
        MemoryLedger { limits, capacity: capacity.max(1), records: Mutex::new(HashMap::new()) }
    }

    fn attempt(&self, key: &str, now: u64) -> Attempt {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() >= self.capacity && !records.contains_key(key) {
            let limits = self.limits;
            records.retain(|_, record| limits.retention(record) > now);
            if records.len() >= self.capacity
                && let Some(oldest) =
                    records.iter().min_by_key(|(_, r)| r.window_start).map(|(k, _)| k.clone())
            {
                records.remove(&oldest);
            }
        }
        let record = records.get(key).copied().unwrap_or_default();
        let (next, attempt) = self.limits.attempt(record, now);
        records.insert(key.to_owned(), next);
        attempt
    }
}

impl FailureLedger for MemoryLedger {
    fn begin<'a>(
        &'a self,
        key: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Attempt, LedgerUnavailable>> {
        Box::pin(std::future::ready(Ok(self.attempt(key, now))))
    }

    fn succeeded<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), LedgerUnavailable>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(seconds: u64) -> Attempt {
        Attempt::Locked { retry_after: Duration::from_secs(seconds) }
    }

    /// Five attempts pass, the sixth waits 60 s; after it, five more, then 120 s; the back-off
    /// doubles to at most 900 s; a success starts over (injected time).
    #[tokio::test]
    async fn back_off_grows_and_success_resets() {
        let ledger = MemoryLedger::new(AccountLimits::default(), 10);
        let mut now = 1_000_000;
        for _ in 0..5 {
            assert_eq!(ledger.begin("a", now).await.unwrap(), Attempt::Allowed);
        }
        assert_eq!(ledger.begin("a", now).await.unwrap(), locked(60));
        assert_eq!(ledger.begin("a", now + 59).await.unwrap(), locked(1));
        assert_eq!(ledger.begin("other", now).await.unwrap(), Attempt::Allowed, "per account");
        for expected in [120, 240, 480, 900, 900] {
            now = match ledger.begin("a", now).await.unwrap() {
                Attempt::Locked { retry_after } => now + retry_after.as_secs(),
                Attempt::Allowed => now,
            };
            for _ in 0..5 {
                assert_eq!(ledger.begin("a", now).await.unwrap(), Attempt::Allowed);
            }
            assert_eq!(ledger.begin("a", now).await.unwrap(), locked(expected));
        }
        now += 900;
        assert_eq!(ledger.begin("a", now).await.unwrap(), Attempt::Allowed);
        ledger.succeeded("a").await.unwrap();
        for _ in 0..5 {
            assert_eq!(ledger.begin("a", now).await.unwrap(), Attempt::Allowed);
        }
        assert_eq!(ledger.begin("a", now).await.unwrap(), locked(60), "back to the first lockout");
    }

    /// Failures spread wider than the window never lock; a long quiet resets the doubling.
    #[test]
    fn windows_and_quiet() {
        let limits = AccountLimits::default();
        let mut record = AccountRecord::default();
        for step in 0..50 {
            let (next, attempt) = limits.attempt(record, 1_000_000 + step * 75);
            assert_eq!(attempt, Attempt::Allowed, "step {step}");
            record = next;
        }
        let record =
            AccountRecord { failures: 0, window_start: 2_000, locked_until: 2_000, lockouts: 4 };
        let (next, _) = limits.attempt(record, 2_000 + 300 + 900);
        assert_eq!(next.lockouts, 0);
    }

    /// The ledger never holds more than its capacity; stale records go first.
    #[tokio::test]
    async fn bounded() {
        let ledger = MemoryLedger::new(AccountLimits::default(), 3);
        for (index, key) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            ledger.begin(key, 1_000 + index as u64).await.unwrap();
        }
        assert_eq!(ledger.records.lock().unwrap().len(), 3);
        assert!(ledger.records.lock().unwrap().contains_key("e"));
    }
}
