//! `ReconnectPolicy`: when to try connecting again, as a pure function of
//! how long the server has been away and a random number.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a connection that heals itself waits between attempts to reconnect:
/// a wait that grows with the time the server has been away, with jitter.
///
/// This crate never reconnects; `redis-paired` and `redis-pubsub` follow the
/// policy found in their [`ConnectionConfig`](crate::ConnectionConfig). The
/// first attempt after a connection is lost is made at once: most losses
/// are a restart or a dropped socket, and waiting only adds to the outage.
/// After a failed attempt, with the server away for `away` so far, the wait
/// is `away / divisor`, kept between `min` and `max`, then spread by the
/// [`Jitter`] so that many clients that lost the same server do not try in
/// lockstep.
///
/// The wait is a fixed fraction of the outage so far, so the time between
/// the server's return and the next attempt is a fraction of the outage
/// too: by default at most a thousandth of it (or 10 ms, whichever is
/// more, up to 1 s). What that costs the server while it is away:
///
/// - attempts per second are bounded: the waits are never shorter than
///   `min / 2` (with [`Jitter::Equal`]), so at most `2 / min` attempts a
///   second (200 with the defaults; about 133 on average), and never more
///   than one at a time;
/// - once `away / divisor` passes `min` (after 10 s by default) the waits
///   grow with the outage, so the attempts made in all grow only with its
///   logarithm: about `divisor / 0.75 * ln(away / (min * divisor))` on top
///   of the first `min * divisor`'s worth. With the defaults: about 67
///   attempts in a 0.5 s outage, 270 in 2 s, 1,300 in 10 s, 3,700 in a
///   minute, 7,500 in the first 17 minutes, then 4 every 3 seconds;
/// - against a host that is down rather than refusing connections, each
///   attempt lasts the connect timeout, which bounds them further.
///
/// A fleet of many clients sharing one server may prefer a larger `min`
/// (say [`with_min`](Self::with_min)`(100 ms)`): the server then sees
/// fewer attempts while it is away, and its clients come back spread over
/// a wider window, at the price of a longer wait for each.
///
/// ```
/// use std::time::Duration;
/// use redis_conn::{Jitter, ReconnectPolicy};
///
/// let ms = Duration::from_millis;
/// let policy = ReconnectPolicy::default().with_jitter(Jitter::None);
/// assert_eq!(policy.delay(ms(500), 0), ms(10));
/// assert_eq!(policy.delay(Duration::from_secs(60), 0), ms(60));
/// assert_eq!(policy.delay(Duration::from_secs(3_600), 0), Duration::from_secs(1));
///
/// // With jitter, the caller passes the randomness.
/// let policy = ReconnectPolicy::default();
/// let delay = policy.delay(Duration::from_secs(60), redis_conn::jitter_seed());
/// assert!(delay >= ms(30) && delay <= ms(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReconnectPolicy {
    enabled: bool,
    min: Duration,
    max: Duration,
    divisor: u32,
    jitter: Jitter,
}

/// How a [`ReconnectPolicy`] randomises its wait `d`.
///
/// The names follow the AWS Architecture Blog's "Exponential Backoff And
/// Jitter". There is no "full" jitter (anywhere from zero to `d`): a wait of
/// zero would let attempts to a server that refuses them follow each other
/// without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// Exactly `d`.
    None,
    /// From `d / 2` to `d`: spread, but never much shorter than the wait.
    #[default]
    Equal,
}

impl ReconnectPolicy {
    /// The default shortest wait (before jitter): 10 ms. A restarted server
    /// is then noticed within 10 ms of accepting connections (5 ms on
    /// average), and a refused attempt costs it next to nothing.
    pub const DEFAULT_MIN: Duration = Duration::from_millis(10);
    /// The default longest wait (before jitter): 1 s, so that a connection
    /// is back within a second of its server, however long it was away.
    pub const DEFAULT_MAX: Duration = Duration::from_secs(1);
    /// The default divisor: the wait is a thousandth of the time the server
    /// has been away.
    pub const DEFAULT_DIVISOR: u32 = 1000;

    /// Reconnecting enabled, with the defaults: at once, then waiting a
    /// thousandth of the outage so far, from 10 ms to 1 s, equal jitter.
    pub const fn new() -> ReconnectPolicy {
        ReconnectPolicy {
            enabled: true,
            min: Self::DEFAULT_MIN,
            max: Self::DEFAULT_MAX,
            divisor: Self::DEFAULT_DIVISOR,
            jitter: Jitter::Equal,
        }
    }

    /// Never reconnect: a lost connection stays lost.
    pub const fn disabled() -> ReconnectPolicy {
        ReconnectPolicy {
            enabled: false,
            ..ReconnectPolicy::new()
        }
    }

    /// Whether a lost connection should be re-established at all.
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Sets the shortest wait (before jitter): it bounds the attempts a
    /// second while the server is away. A zero `min` is taken as 1 ms.
    pub const fn with_min(mut self, min: Duration) -> ReconnectPolicy {
        self.min = min;
        self
    }

    /// Sets the longest wait (before jitter); the wait stops growing there.
    pub const fn with_max(mut self, max: Duration) -> ReconnectPolicy {
        self.max = max;
        self
    }

    /// Sets the divisor: the wait is the time the server has been away
    /// divided by it (0 is taken as 1). A larger divisor comes back sooner
    /// after a long outage, for more attempts while it lasts.
    pub const fn with_divisor(mut self, divisor: u32) -> ReconnectPolicy {
        self.divisor = divisor;
        self
    }

    /// Sets how the wait is randomised.
    pub const fn with_jitter(mut self, jitter: Jitter) -> ReconnectPolicy {
        self.jitter = jitter;
        self
    }

    /// The shortest wait.
    pub const fn min(&self) -> Duration {
        self.min
    }

    /// The longest wait.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// The divisor.
    pub const fn divisor(&self) -> u32 {
        self.divisor
    }

    /// The jitter.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// How long to wait after a failed attempt, the server having been away
    /// for `away` (since the connection was lost).
    ///
    /// `random` is any random number, for example from [`jitter_seed`]; the
    /// same inputs always give the same delay, which keeps callers testable.
    /// The result is never above [`max`](Self::max), and never below half
    /// the smaller of [`min`](Self::min) and `max` (nor below 1 ms before
    /// the jitter). A disabled policy still computes delays; callers check
    /// [`is_enabled`](Self::is_enabled) first.
    pub fn delay(&self, away: Duration, random: u64) -> Duration {
        const FLOOR: u128 = 1_000_000;
        let max = self.max.as_nanos().max(FLOOR);
        let min = self.min.as_nanos().max(FLOOR).min(max);
        let d = (away.as_nanos() / u128::from(self.divisor.max(1))).clamp(min, max);
        let d = match self.jitter {
            Jitter::None => d,
            Jitter::Equal => d - d / 2 + u128::from(random) % (d / 2 + 1),
        };
        // `d` is at most `max` in nanoseconds, so it fits the u64 and u32 parts.
        Duration::new(
            u64::try_from(d / 1_000_000_000).unwrap_or(u64::MAX),
            u32::try_from(d % 1_000_000_000).unwrap_or(0),
        )
    }
}

impl Default for ReconnectPolicy {
    fn default() -> ReconnectPolicy {
        ReconnectPolicy::new()
    }
}

/// A different, unpredictable-enough number at every call, to pass to
/// [`ReconnectPolicy::delay`].
///
/// It mixes the clock with a process-wide counter (splitmix64). It is not
/// cryptographic; it only keeps clients that lost the same server from
/// retrying in lockstep.
pub fn jitter_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    splitmix64(nanos ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const S: Duration = Duration::from_secs(1);

    #[test]
    fn defaults() {
        let p = ReconnectPolicy::default();
        assert!(p.is_enabled());
        assert_eq!(p.min(), 10 * MS);
        assert_eq!(p.max(), S);
        assert_eq!(p.divisor(), 1000);
        assert_eq!(p.jitter(), Jitter::Equal);
        assert!(!ReconnectPolicy::disabled().is_enabled());
    }

    #[test]
    fn the_wait_is_a_fraction_of_the_outage_between_min_and_max() {
        let p = ReconnectPolicy::default().with_jitter(Jitter::None);
        let table = [
            (Duration::ZERO, 10 * MS),
            (500 * MS, 10 * MS),
            (2 * S, 10 * MS),
            (10 * S, 10 * MS),
            (20 * S, 20 * MS),
            (60 * S, 60 * MS),
            (500 * S, 500 * MS),
            (1000 * S, S),
            (3600 * S, S),
            (Duration::MAX, S),
        ];
        for (away, wait) in table {
            assert_eq!(p.delay(away, 12345), wait, "away {away:?}");
        }
    }

    #[test]
    fn bounds_and_divisor_are_honoured() {
        let p = ReconnectPolicy::new()
            .with_min(20 * MS)
            .with_max(100 * MS)
            .with_divisor(10)
            .with_jitter(Jitter::None);
        assert_eq!(p.delay(100 * MS, 0), 20 * MS);
        assert_eq!(p.delay(500 * MS, 0), 50 * MS);
        assert_eq!(p.delay(5 * S, 0), 100 * MS);
        // A zero divisor is 1; a zero min is 1 ms; a min above the max is
        // the max.
        assert_eq!(p.with_divisor(0).delay(70 * MS, 0), 70 * MS);
        assert_eq!(p.with_min(Duration::ZERO).delay(Duration::ZERO, 0), MS);
        assert_eq!(p.with_min(S).delay(Duration::ZERO, 0), 100 * MS);
        // Huge durations do not overflow.
        let huge = p.with_min(Duration::MAX).with_max(Duration::MAX);
        assert_eq!(huge.delay(Duration::MAX, 7), Duration::MAX);
        let huge = p.with_max(Duration::MAX).with_divisor(1);
        assert_eq!(huge.delay(Duration::MAX, 7), Duration::MAX);
    }

    #[test]
    fn equal_jitter_spans_half_to_the_wait() {
        let p = ReconnectPolicy::default();
        let d = 60 * MS;
        let away = 60 * S;
        assert_eq!(p.delay(away, 0), d / 2);
        assert_eq!(p.delay(away, (d / 2).as_nanos() as u64), d);
        for _ in 0..1000 {
            let got = p.delay(away, jitter_seed());
            assert!(got >= d / 2 && got <= d, "{got:?}");
        }
    }

    /// The attempts a connection makes to a server away for `outage`, and
    /// how long after its return the next one comes, following `p`.
    ///
    /// The randomness is a fixed sequence (splitmix64 of a counter that
    /// `seed` carries), so that the test gives the same answer every run.
    fn simulate(p: ReconnectPolicy, outage: Duration, seed: &mut u64) -> (u64, Duration) {
        let mut at = Duration::ZERO;
        let mut attempts = 1;
        while at < outage {
            *seed += 1;
            at += p.delay(at, splitmix64(*seed));
            attempts += 1;
        }
        (attempts, at - outage)
    }

    #[test]
    fn attempts_stay_bounded_and_the_return_is_noticed_soon() {
        let p = ReconnectPolicy::default();
        // (outage, attempts expected with the default jitter, the longest
        // a return may go unnoticed)
        let table = [
            (500 * MS, 67, 10 * MS),
            (2 * S, 267, 10 * MS),
            (10 * S, 1_333, 10 * MS),
            (60 * S, 3_722, 60 * MS),
            (3600 * S, 10_940, S),
        ];
        let mut seed = 0;
        for (outage, expected, longest) in table {
            let mut late = Vec::new();
            for _ in 0..50 {
                let (attempts, after) = simulate(p, outage, &mut seed);
                let (low, high) = (expected * 9 / 10, expected * 11 / 10);
                assert!(
                    (low..=high).contains(&attempts),
                    "{attempts} attempts in {outage:?}, expected about {expected}"
                );
                assert!(after <= longest, "{after:?} after a {outage:?} outage");
                late.push(after);
            }
            late.sort();
            // Noticed a fraction of the longest wait after the return.
            assert!(late[late.len() / 2] < longest * 3 / 4, "{late:?}");
        }
        // The rate while the server is away: never two attempts closer than
        // half the min.
        assert!((0..10_000).all(|_| p.delay(Duration::ZERO, jitter_seed()) >= 5 * MS));
    }

    #[test]
    fn jitter_seeds_differ() {
        let seeds: std::collections::HashSet<u64> = (0..1000).map(|_| jitter_seed()).collect();
        assert_eq!(seeds.len(), 1000);
    }
}
