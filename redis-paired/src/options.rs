//! `Options`: what a paired connection needs beyond the connection config.

use std::time::Duration;

use crate::CacheOptions;

/// Settings of a [`PairedConnection`](crate::PairedConnection) beyond those of
/// the [`ConnectionConfig`](redis_conn::ConnectionConfig) (address, handshake,
/// connect timeout and reconnect policy live there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    response_timeout: Duration,
    blocking_margin: Duration,
    max_pending: usize,
    max_unwritten_bytes: usize,
    fail_fast: bool,
    retry_reads: bool,
    max_blocking_connections: usize,
    blocking_idle_timeout: Duration,
    lazy_connect: bool,
    query_text: bool,
    cache: Option<CacheOptions>,
    max_pushes: usize,
    write_gathering: bool,
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
    /// Default bound on the connections kept for blocking commands: 32.
    pub const DEFAULT_MAX_BLOCKING_CONNECTIONS: usize = 32;
    /// Default time a connection for blocking commands stays open unused: 30 s.
    pub const DEFAULT_BLOCKING_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

    /// Default bound on push frames kept for [`pushes`](crate::PairedConnection::pushes): 1,024.
    pub const DEFAULT_MAX_PUSHES: usize = 1024;

    /// The defaults.
    pub const fn new() -> Options {
        Options {
            response_timeout: Self::DEFAULT_RESPONSE_TIMEOUT,
            blocking_margin: Self::DEFAULT_BLOCKING_MARGIN,
            max_pending: Self::DEFAULT_MAX_PENDING,
            max_unwritten_bytes: Self::DEFAULT_MAX_UNWRITTEN_BYTES,
            fail_fast: false,
            retry_reads: false,
            max_blocking_connections: Self::DEFAULT_MAX_BLOCKING_CONNECTIONS,
            blocking_idle_timeout: Self::DEFAULT_BLOCKING_IDLE_TIMEOUT,
            lazy_connect: false,
            query_text: false,
            cache: None,
            max_pushes: Self::DEFAULT_MAX_PUSHES,
            write_gathering: false,
        }
    }

    /// How long a caller waits for its reply, counted from its call (time
    /// spent queued or waiting for a reconnect included). A caller whose
    /// reply is later gets [`Error::Timeout`](redis_conn::Error::Timeout);
    /// when the oldest command on the socket has gone unanswered that long
    /// since it was written, the server is presumed gone and the connection
    /// is replaced.
    pub const fn with_response_timeout(mut self, timeout: Duration) -> Options {
        self.response_timeout = timeout;
        self
    }

    /// What a blocking command (BLPOP, XREAD BLOCK, WAIT, ...) may take beyond
    /// its own timeout argument, counted from when the server gets to it. It
    /// replaces the response timeout for them.
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

    /// While the connection is down, fail new commands at once with
    /// [`Error::Connection`](redis_conn::Error::Connection) (`true`), or let
    /// them wait for the reconnect (`false`, the default).
    ///
    /// Waiting commands were never written, so sending them once the
    /// connection is back sends nothing twice. They wait at most their own
    /// timeout (the response timeout by default) and count against
    /// [`max_pending`](Self::with_max_pending) and
    /// [`max_unwritten_bytes`](Self::with_max_unwritten_bytes); a caller
    /// whose timeout passes first gets the reason the connection is down.
    /// With reconnecting disabled, or once the connection is closed, they
    /// fail at once either way.
    pub const fn with_fail_fast(mut self, fail_fast: bool) -> Options {
        self.fail_fast = fail_fast;
        self
    }

    /// Let other tasks run once before writing a batch of commands smaller
    /// than half of the replies awaited (`true`), so that more commands join
    /// the write; or write what is queued as soon as the connection's task
    /// runs (`false`, the default).
    ///
    /// On a connection of its own, the callers that send next are mostly
    /// those its own task just handed replies to, and they have sent
    /// already when it writes. On one of several connections that the same
    /// callers share, such as a cluster's connections to its nodes (a
    /// caller's next command goes to any node), the callers are woken by the
    /// other connections' tasks at any time, and the batches come out a few
    /// commands each: one system call a few commands. Gathering makes them
    /// several times larger, for one turn of the scheduler of latency, and
    /// only while at least 32 replies are awaited, when the server has work
    /// meanwhile.
    pub const fn with_write_gathering(mut self, gather: bool) -> Options {
        self.write_gathering = gather;
        self
    }

    /// Let a read that was awaiting its reply when the connection broke be
    /// sent once more on the next connection (`true`), instead of failing
    /// with [`Error::Connection`](redis_conn::Error::Connection) like every
    /// other command in flight (`false`, the default).
    ///
    /// This is the one exception to "a command is never silently sent
    /// twice", and it is limited to what sending twice cannot harm: a
    /// single command that the [catalogue](crate::catalogue) flags read-only
    /// (`GET`, `HGETALL`, `ZRANGE`, `EVAL_RO`, ...; see
    /// [`CommandInfo::is_read_only`](crate::catalogue::CommandInfo::is_read_only)),
    /// sent with `send` (not `send_and_forget`, nor in a pipeline or a
    /// transaction), and whose caller still waits. It is retried at most
    /// once: if the next connection breaks too, it fails. A write (`SET`,
    /// `INCR`, a script that may write, a command the catalogue does not
    /// know) is never sent again: whether the server applied it is unknown.
    ///
    /// A retried read keeps its place: it goes out on the new connection
    /// before every command sent after it, so replies stay in call order.
    /// It keeps its timeout, counted from its call, and it answers from the
    /// server as it is after the reconnect (which may be a restarted server
    /// that lost data, or a new master). With
    /// [`fail_fast`](Self::with_fail_fast), or with reconnecting disabled,
    /// it fails like the commands waiting for the reconnect. The encoded
    /// read is kept until its reply comes: one copy of each read's bytes.
    pub const fn with_retry_reads(mut self, retry: bool) -> Options {
        self.retry_reads = retry;
        self
    }

    /// The most connections kept for blocking commands. On a shared
    /// connection, a blocking command (BLPOP, BRPOP, BLMOVE, BZPOPMIN, ...,
    /// XREAD or XREADGROUP with BLOCK) runs on a connection of its own, so
    /// that it stalls no other caller: these connections are opened when
    /// needed, reused, and closed after the
    /// [idle timeout](Self::with_blocking_idle_timeout). When all are busy,
    /// the next blocking command waits for one (at most the response
    /// timeout). `0` sends blocking commands on the shared connection, where
    /// every other caller waits behind them.
    pub const fn with_max_blocking_connections(mut self, max: usize) -> Options {
        self.max_blocking_connections = max;
        self
    }

    /// How long a connection for blocking commands stays open unused.
    pub const fn with_blocking_idle_timeout(mut self, timeout: Duration) -> Options {
        self.blocking_idle_timeout = timeout;
        self
    }

    /// Return the connection at once, without connecting (`true`), instead
    /// of only once the first connection succeeded (`false`, the default).
    ///
    /// The connection is then made in the background right away, and while
    /// the server cannot be reached it is tried again as the config's
    /// [`ReconnectPolicy`](redis_conn::ReconnectPolicy) says: a service can
    /// start before its Redis. Commands sent meanwhile wait for it exactly
    /// as commands sent during a reconnect do: each at most its timeout,
    /// after which it fails with [`Error::Connection`](redis_conn::Error::Connection)
    /// carrying the reason of the last attempt (or at once, with
    /// [`fail_fast`](Self::with_fail_fast)); credentials the server
    /// refuses fail them at once. A configuration that cannot work fails
    /// where it always does, when it is parsed or built. With reconnecting
    /// disabled (an [`ExclusiveConnection`](crate::ExclusiveConnection)),
    /// the one attempt that fails closes the connection.
    pub const fn with_lazy_connect(mut self, lazy: bool) -> Options {
        self.lazy_connect = lazy;
        self
    }

    /// Cache the replies of reads in the client, kept true by the server's
    /// invalidations (`CLIENT TRACKING`): a read served from the cache never
    /// reaches the server, nor the connection's task. See the crate's
    /// "Client-side caching" section for what is cached, when entries go,
    /// and what is guaranteed.
    ///
    /// It needs RESP3 (the default protocol): on a configuration that asks
    /// for RESP2, or a server that answers only RESP2, connecting fails with
    /// [`ConfigError::CacheNeedsResp3`](redis_conn::ConfigError::CacheNeedsResp3).
    /// A [`Cached::Commands`](crate::Cached::Commands) list that names a
    /// command that cannot be cached fails with
    /// [`ConfigError::NotCacheable`](redis_conn::ConfigError::NotCacheable).
    /// Without it (the default) nothing is cached, and sending costs one
    /// branch more than it did.
    pub const fn with_cache(mut self, cache: CacheOptions) -> Options {
        self.cache = Some(cache);
        self
    }

    /// The most push frames (other than the cache's invalidations) kept
    /// for [`pushes`](crate::PairedConnection::pushes) until they are
    /// read. At the bound, or once the stream is dropped, a push is
    /// dropped and counted ([`Stats::pushes_dropped`](crate::Stats::pushes_dropped)).
    pub const fn with_max_pushes(mut self, max: usize) -> Options {
        self.max_pushes = max;
        self
    }

    /// The cache, if the connection keeps one.
    pub const fn cache(&self) -> Option<CacheOptions> {
        self.cache
    }

    /// The bound on push frames kept unread.
    pub const fn max_pushes(&self) -> usize {
        self.max_pushes
    }

    /// Whether the first connection is made in the background.
    pub const fn lazy_connect(&self) -> bool {
        self.lazy_connect
    }

    /// Whether each command's span (target `redis::command`) carries
    /// `db.query.text`: the command's name with a `?` for each argument
    /// (`SET ? ? ? ?`), never the arguments themselves. Off by default;
    /// building the text costs an allocation a command while spans are on.
    pub const fn with_query_text(mut self, on: bool) -> Options {
        self.query_text = on;
        self
    }

    /// Whether command spans carry `db.query.text`.
    pub const fn query_text(&self) -> bool {
        self.query_text
    }

    /// Whether new commands fail at once while the connection is down.
    pub const fn fail_fast(&self) -> bool {
        self.fail_fast
    }

    /// Whether small batches wait for one turn of the scheduler before they
    /// are written.
    pub const fn write_gathering(&self) -> bool {
        self.write_gathering
    }

    /// Whether reads in flight when the connection breaks are sent again.
    pub const fn retry_reads(&self) -> bool {
        self.retry_reads
    }

    /// The bound on connections for blocking commands.
    pub const fn max_blocking_connections(&self) -> usize {
        self.max_blocking_connections
    }

    /// How long a connection for blocking commands stays open unused.
    pub const fn blocking_idle_timeout(&self) -> Duration {
        self.blocking_idle_timeout
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
