//! `PubsubOptions`: what a pub/sub connection needs beyond the connection
//! config.

use std::time::Duration;

/// Settings of a [`PubsubConnection`](crate::PubsubConnection) beyond those
/// of the [`ConnectionConfig`](redis_conn::ConnectionConfig) (address,
/// handshake, connect timeout and reconnect policy live there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubsubOptions {
    buffer_capacity: usize,
    ping_interval: Duration,
    response_timeout: Duration,
}

impl PubsubOptions {
    /// Default per-stream buffer: 1024 messages.
    pub const DEFAULT_BUFFER_CAPACITY: usize = 1024;
    /// Default quiet time after which the connection is checked with a
    /// `PING`: 30 s.
    pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);
    /// Default time the server has to answer a command: 10 s.
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

    /// The defaults.
    pub const fn new() -> PubsubOptions {
        PubsubOptions {
            buffer_capacity: Self::DEFAULT_BUFFER_CAPACITY,
            ping_interval: Self::DEFAULT_PING_INTERVAL,
            response_timeout: Self::DEFAULT_RESPONSE_TIMEOUT,
        }
    }

    /// How many messages each subscription stream holds for its reader
    /// (at least 1). When a stream's buffer is full, new messages for that
    /// stream are dropped and counted, and the stream reports the count as
    /// [`Event::Lagged`](crate::Event::Lagged); nothing else slows down.
    /// [`PubsubConnection::with_buffer_capacity`](crate::PubsubConnection::with_buffer_capacity)
    /// changes it for the subscriptions of one handle.
    pub const fn with_buffer_capacity(mut self, capacity: usize) -> PubsubOptions {
        self.buffer_capacity = if capacity == 0 { 1 } else { capacity };
        self
    }

    /// After how long without anything from the server a `PING` checks
    /// that it is still there. `Duration::ZERO` switches pings off (then a
    /// server that vanishes without closing the socket goes unnoticed until
    /// TCP keepalive gives up).
    pub const fn with_ping_interval(mut self, interval: Duration) -> PubsubOptions {
        self.ping_interval = interval;
        self
    }

    /// How long the server may stay silent while it owes an answer to a
    /// command (a subscribe, an unsubscribe, a `PING`). Longer than that,
    /// it is presumed gone: the connection is dropped and re-established.
    /// Messages arriving count as signs of life, since an answer may be
    /// queued behind many of them.
    pub const fn with_response_timeout(mut self, timeout: Duration) -> PubsubOptions {
        self.response_timeout = timeout;
        self
    }

    /// The per-stream buffer capacity, in messages.
    pub const fn buffer_capacity(&self) -> usize {
        self.buffer_capacity
    }

    /// The ping interval.
    pub const fn ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// The response timeout.
    pub const fn response_timeout(&self) -> Duration {
        self.response_timeout
    }
}

impl Default for PubsubOptions {
    fn default() -> PubsubOptions {
        PubsubOptions::new()
    }
}
