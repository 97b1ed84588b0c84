//! The admission section: how much expensive work (signature verification in the public-key
//! modes) runs at once and how much may wait, before the service answers `503` with
//! `Retry-After` ([`crate::admission`]).

use super::ConfigError;
use super::env::Env;
use std::ops::RangeInclusive;
use std::time::Duration;

/// The variables of this section.
pub const VARIABLES: &[&str] = &["VERIFY_CONCURRENCY", "VERIFY_QUEUE"];

/// Accepted range of `VERIFY_CONCURRENCY`.
pub const CONCURRENCY_RANGE: RangeInclusive<usize> = 1..=1_024;
/// Accepted range of `VERIFY_QUEUE`.
pub const QUEUE_RANGE: RangeInclusive<usize> = 0..=100_000;
/// Waiting verifications per running one, by default: with a check at 20–60 µs of CPU in
/// process (RS256, ES256, EdDSA on AWS-LC; a loaded server spends more per request), a full
/// queue drains in about a millisecond, well inside any client's patience, while a flood beyond
/// it is refused at once instead of queueing without limit.
pub const DEFAULT_QUEUE_PER_SLOT: usize = 16;
/// Longest a verification waits in the queue before it is refused (the `Retry-After`, at
/// least a second, of the 503).
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);

/// The admission section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Signature verifications running at once (`VERIFY_CONCURRENCY`; default: the CPUs this
    /// process may use, which honours a container's CPU limit).
    pub verify_limit: usize,
    /// Verifications that may wait for a slot (`VERIFY_QUEUE`; default 16 per slot).
    pub verify_queue: usize,
}

impl AdmissionConfig {
    pub(super) fn read(env: &Env) -> Result<Self, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let verify_limit = env.count_in("VERIFY_CONCURRENCY", cpus, CONCURRENCY_RANGE)?;
        let verify_queue =
            env.count_in("VERIFY_QUEUE", verify_limit * DEFAULT_QUEUE_PER_SLOT, QUEUE_RANGE)?;
        Ok(AdmissionConfig { verify_limit, verify_queue })
    }
}
