//! Per-address throttling of `POST /auth`: `governor`'s keyed token bucket (GCRA), one bucket
//! per client address, IPv6 addresses grouped by /64 (one host usually holds a whole /64, so
//! per-address buckets would be free to multiply). A refused attempt costs no password
//! verification and no ledger write. The table of buckets is swept of full (idle) buckets
//! every so often, so that it stays bounded by the addresses active within a refill period.

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The per-address bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressLimits {
    /// Attempts an address may make at once.
    pub burst: NonZeroU32,
    /// Attempts it regains per minute.
    pub per_minute: NonZeroU32,
}

impl Default for AddressLimits {
    fn default() -> Self {
        AddressLimits {
            burst: NonZeroU32::new(20).expect("non-zero"),
            per_minute: NonZeroU32::new(10).expect("non-zero"),
        }
    }
}

/// Sweep the idle buckets once per this many checks.
const SWEEP_EVERY: u32 = 4_096;

/// Token buckets by client address. `C` is the clock (a fake one in the unit tests).
pub struct AddressLimiter<C: Clock + Clone = MonotonicClock> {
    buckets: RateLimiter<IpAddr, DashMapStateStore<IpAddr>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    checks: AtomicU32,
}

impl std::fmt::Debug for AddressLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AddressLimiter({} buckets)", self.buckets.len())
    }
}

impl AddressLimiter {
    /// Buckets of `limits` on the monotonic clock.
    pub fn new(limits: AddressLimits) -> Self {
        Self::with_clock(limits, MonotonicClock)
    }
}

impl<C: Clock + Clone> AddressLimiter<C> {
    /// Buckets of `limits` on `clock`.
    pub fn with_clock(limits: AddressLimits, clock: C) -> Self {
        let period = Duration::from_secs(60) / limits.per_minute.get();
        let quota =
            Quota::with_period(period).expect("a non-zero period").allow_burst(limits.burst);
        AddressLimiter {
            buckets: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            checks: AtomicU32::new(0),
        }
    }

    /// Takes one attempt from `address`'s bucket, or says how long until it has one.
    pub fn check(&self, address: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.buckets.retain_recent();
            self.buckets.shrink_to_fit();
        }
        self.buckets
            .check_key(&bucket_of(address))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The bucket an address counts against: itself for IPv4 (and IPv4-mapped IPv6), its /64 for
/// IPv6.
pub fn bucket_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// 20 attempts at once, then one per 6 s; addresses apart; a /64 is one bucket (fake
    /// clock: no waiting).
    #[test]
    fn burst_then_refill() {
        let clock = FakeRelativeClock::default();
        let limiter = AddressLimiter::with_clock(AddressLimits::default(), clock.clone());
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..20 {
            assert_eq!(limiter.check(one), Ok(()));
        }
        assert_eq!(limiter.check(one), Err(Duration::from_secs(6)));
        assert_eq!(limiter.check("192.0.2.2".parse().unwrap()), Ok(()), "per address");
        clock.advance(Duration::from_secs(6));
        assert_eq!(limiter.check(one), Ok(()));
        assert!(limiter.check(one).is_err());

        let v6 = |text: &str| text.parse::<IpAddr>().unwrap();
        for last in 0..20 {
            assert_eq!(limiter.check(v6(&format!("2001:db8:1:2::{last:x}"))), Ok(()));
        }
        assert!(limiter.check(v6("2001:db8:1:2:ffff::1")).is_err(), "the same /64");
        assert_eq!(limiter.check(v6("2001:db8:1:3::1")), Ok(()), "another /64");
        assert_eq!(bucket_of(v6("::ffff:192.0.2.9")), v6("192.0.2.9"));
    }
}
