//! `Options`: what a paired connection needs beyond the connection config.

use std::time::Duration;

/// Settings of a [`PairedConnection`](crate::PairedConnection) beyond those of
/// the [`ConnectionConfig`](redis_conn::ConnectionConfig) (address, handshake,
/// connect timeout and reconnect policy live there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    response_timeout: Duration,
    blocking_margin: Duration,
    max_pending: usize,
    max_unwritten_bytes: usize,
}

impl Options {
    /// Default response timeout: 30 s.
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default margin added to a blocking command's own timeout: 5 s.
    pub const DEFAULT_BLOCKING_MARGIN: Duration = Duration::from_secs(5);
    /// Default bound on requests queued or awaiting replies: 65,536.
    pub const DEFAULT_MAX_PENDING: usize = 1 << 16;
    /// Default bound on encoded bytes not yet written: 64 MiB.
    pub const DEFAULT_MAX_UNWRITTEN_BYTES: usize = 64 << 20;

    /// The defaults.
    pub const fn new() -> Options {
        Options {
            response_timeout: Self::DEFAULT_RESPONSE_TIMEOUT,
            blocking_margin: Self::DEFAULT_BLOCKING_MARGIN,
            max_pending: Self::DEFAULT_MAX_PENDING,
            max_unwritten_bytes: Self::DEFAULT_MAX_UNWRITTEN_BYTES,
        }
    }

    /// How long a reply may take once its command is written. A caller whose
    /// reply is later gets [`Error::Timeout`](redis_conn::Error::Timeout);
    /// when the oldest command on the socket is that late, the server is
    /// presumed gone and the connection is replaced.
    pub const fn with_response_timeout(mut self, timeout: Duration) -> Options {
        self.response_timeout = timeout;
        self
    }

    /// What a blocking command (BLPOP, XREAD BLOCK, WAIT, ...) may take beyond
    /// its own timeout argument. It replaces the response timeout for them.
    pub const fn with_blocking_margin(mut self, margin: Duration) -> Options {
        self.blocking_margin = margin;
        self
    }

    /// The most requests that may be queued or awaiting replies at once. At
    /// the bound, sending fails at once with
    /// [`Error::Backpressure`](redis_conn::Error::Backpressure).
    pub const fn with_max_pending(mut self, max: usize) -> Options {
        self.max_pending = max;
        self
    }

    /// The most encoded bytes that may wait for the driver to take them. At
    /// the bound, sending fails at once with a backpressure error (a single
    /// larger command is accepted when nothing else waits). The batch the
    /// driver is writing at that moment comes on top: at most twice the bound
    /// is held in all.
    pub const fn with_max_unwritten_bytes(mut self, max: usize) -> Options {
        self.max_unwritten_bytes = max;
        self
    }

    /// The response timeout.
    pub const fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The blocking margin.
    pub const fn blocking_margin(&self) -> Duration {
        self.blocking_margin
    }

    /// The bound on pending requests.
    pub const fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// The bound on unwritten bytes.
    pub const fn max_unwritten_bytes(&self) -> usize {
        self.max_unwritten_bytes
    }
}

impl Default for Options {
    fn default() -> Options {
        Options::new()
    }
}
