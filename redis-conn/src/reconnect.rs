//! `ReconnectPolicy`: when to try connecting again, as a pure function of the
//! attempt number and a random number.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a connection that heals itself waits between attempts to reconnect:
/// exponential backoff with jitter.
///
/// This crate never reconnects; `redis-paired` and `redis-pubsub` follow the
/// policy found in their [`ConnectionConfig`](crate::ConnectionConfig). The
/// first attempt after a connection is lost is made at once: most losses
/// are a restart or a dropped socket, and waiting only adds to the outage.
/// After failed attempt `n` (counting from 0) the wait is
/// `min(max, initial * factor^n)`, spread by the [`Jitter`] so that many
/// clients that lost the same server do not all come back at once.
///
/// ```
/// use std::time::Duration;
/// use redis_conn::{Jitter, ReconnectPolicy};
///
/// let policy = ReconnectPolicy::default().with_jitter(Jitter::None);
/// assert_eq!(policy.delay(0, 0), Duration::from_millis(1));
/// assert_eq!(policy.delay(3, 0), Duration::from_millis(8));
/// assert_eq!(policy.delay(30, 0), Duration::from_secs(1));
///
/// // With jitter, the caller passes the randomness.
/// let policy = ReconnectPolicy::default();
/// let delay = policy.delay(3, redis_conn::jitter_seed());
/// assert!(delay >= Duration::from_millis(4) && delay <= Duration::from_millis(8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReconnectPolicy {
    enabled: bool,
    initial: Duration,
    max: Duration,
    factor: u32,
    jitter: Jitter,
}

/// How a [`ReconnectPolicy`] randomises the exponential delay `d`.
///
/// The names follow the AWS Architecture Blog's "Exponential Backoff And
/// Jitter".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// Exactly `d`.
    None,
    /// Anywhere from zero to `d`: spreads clients the most.
    Full,
    /// From `d / 2` to `d`: spread, but never much shorter than the backoff.
    #[default]
    Equal,
}

impl ReconnectPolicy {
    /// The default wait after the first failed attempt: 1 ms. A restarted
    /// server is usually back within tens of milliseconds, and doubling
    /// from 1 ms tries a dozen times in that window (a refused connection
    /// costs the server next to nothing), then backs off quickly.
    pub const DEFAULT_INITIAL: Duration = Duration::from_millis(1);
    /// The default longest delay: 1 s, so that a connection is back within
    /// about a second of its server, however long the server was away.
    pub const DEFAULT_MAX: Duration = Duration::from_secs(1);
    /// The default growth factor from one attempt to the next.
    pub const DEFAULT_FACTOR: u32 = 2;

    /// Reconnecting enabled, with the defaults: at once, then 1 ms doubling
    /// up to 1 s, equal jitter.
    pub const fn new() -> ReconnectPolicy {
        ReconnectPolicy {
            enabled: true,
            initial: Self::DEFAULT_INITIAL,
            max: Self::DEFAULT_MAX,
            factor: Self::DEFAULT_FACTOR,
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

    /// Sets the wait after the first failed attempt (before jitter).
    pub const fn with_initial(mut self, initial: Duration) -> ReconnectPolicy {
        self.initial = initial;
        self
    }

    /// Sets the longest delay (before jitter); the backoff stops growing there.
    pub const fn with_max(mut self, max: Duration) -> ReconnectPolicy {
        self.max = max;
        self
    }

    /// Sets how much the delay grows from one attempt to the next (1 keeps it
    /// constant; 0 is treated as 1).
    pub const fn with_factor(mut self, factor: u32) -> ReconnectPolicy {
        self.factor = factor;
        self
    }

    /// Sets how the delay is randomised.
    pub const fn with_jitter(mut self, jitter: Jitter) -> ReconnectPolicy {
        self.jitter = jitter;
        self
    }

    /// The wait after the first failed attempt.
    pub const fn initial(&self) -> Duration {
        self.initial
    }

    /// The longest delay.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// The growth factor.
    pub const fn factor(&self) -> u32 {
        self.factor
    }

    /// The jitter.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// How long to wait after failed reconnect attempt `attempt` (0 for the
    /// first attempt, which is made as soon as the connection is lost).
    ///
    /// `random` is any random number, for example from [`jitter_seed`]; the
    /// same inputs always give the same delay, which keeps callers testable.
    /// The result is never above [`max`](Self::max). A disabled policy still
    /// computes delays; callers check [`is_enabled`](Self::is_enabled) first.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let cap = self.max.as_nanos();
        let mut d = self.initial.as_nanos().min(cap);
        let factor = u128::from(self.factor.max(1));
        for _ in 0..attempt {
            if d >= cap || factor == 1 {
                break;
            }
            d = d.saturating_mul(factor).min(cap);
        }
        let random = u128::from(random);
        let d = match self.jitter {
            Jitter::None => d,
            Jitter::Full => random % (d + 1),
            Jitter::Equal => d - d / 2 + random % (d / 2 + 1),
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

    #[test]
    fn defaults() {
        let p = ReconnectPolicy::default();
        assert!(p.is_enabled());
        assert_eq!(p.initial(), MS);
        assert_eq!(p.max(), 1000 * MS);
        assert_eq!(p.factor(), 2);
        assert_eq!(p.jitter(), Jitter::Equal);
        assert!(!ReconnectPolicy::disabled().is_enabled());
    }

    #[test]
    fn backoff_grows_exponentially_to_the_cap() {
        let p = ReconnectPolicy::default().with_jitter(Jitter::None);
        let delays: Vec<_> = (0..13).map(|n| p.delay(n, 12345)).collect();
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            delays,
            ms(&[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000, 1000])
        );
        assert_eq!(p.delay(u32::MAX, u64::MAX), 1000 * MS);
    }

    #[test]
    fn factor_and_bounds_are_honoured() {
        let p = ReconnectPolicy::new()
            .with_initial(10 * MS)
            .with_max(100 * MS)
            .with_factor(3)
            .with_jitter(Jitter::None);
        assert_eq!(p.delay(0, 0), 10 * MS);
        assert_eq!(p.delay(1, 0), 30 * MS);
        assert_eq!(p.delay(2, 0), 90 * MS);
        assert_eq!(p.delay(3, 0), 100 * MS);
        // Constant backoff, and an initial delay above the cap.
        let constant = p.with_factor(1);
        assert_eq!(constant.delay(50, 0), 10 * MS);
        assert_eq!(p.with_factor(0).delay(5, 0), 10 * MS);
        assert_eq!(p.with_initial(MS * 500).delay(0, 0), 100 * MS);
        // Huge durations do not overflow.
        let huge = p
            .with_initial(Duration::MAX)
            .with_max(Duration::MAX)
            .with_factor(u32::MAX);
        assert_eq!(huge.delay(100, 7), Duration::MAX);
    }

    #[test]
    fn full_jitter_spans_zero_to_the_backoff() {
        let p = ReconnectPolicy::default().with_jitter(Jitter::Full);
        assert_eq!(p.delay(2, 0), Duration::ZERO);
        let d = 4 * MS;
        let nanos = d.as_nanos() as u64;
        assert_eq!(p.delay(2, nanos), d);
        assert_eq!(p.delay(2, nanos + 1), Duration::ZERO);
        for seed in 0..1000 {
            assert!(p.delay(2, jitter_seed() ^ seed) <= d);
        }
    }

    #[test]
    fn equal_jitter_spans_half_to_the_backoff() {
        let p = ReconnectPolicy::default();
        let d = 8 * MS;
        assert_eq!(p.delay(3, 0), d / 2);
        assert_eq!(p.delay(3, (d / 2).as_nanos() as u64), d);
        for _ in 0..1000 {
            let got = p.delay(3, jitter_seed());
            assert!(got >= d / 2 && got <= d, "{got:?}");
        }
    }

    #[test]
    fn jitter_seeds_differ() {
        let seeds: std::collections::HashSet<u64> = (0..1000).map(|_| jitter_seed()).collect();
        assert_eq!(seeds.len(), 1000);
    }
}
