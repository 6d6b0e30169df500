//! `Pool`: a bounded set of exclusive connections, for the work a shared
//! connection should not do (`WATCH`, `MULTI` by hand, long scripts,
//! connection state), lent out one caller at a time.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_conn::{ConnectionConfig, Error};
use resp::cmd;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::{ExclusiveConnection, Options};

/// Settings of a [`Pool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    max_size: usize,
    checkout_timeout: Duration,
    check_after_idle: Duration,
    connection: Options,
}

impl PoolOptions {
    /// The defaults: at most 8 connections, a checkout waits at most 5 s,
    /// and a connection idle for more than 1 s is checked with `PING`
    /// before it is lent again.
    pub const fn new() -> PoolOptions {
        PoolOptions {
            max_size: 8,
            checkout_timeout: Duration::from_secs(5),
            check_after_idle: Duration::from_secs(1),
            connection: Options::new(),
        }
    }

    /// The most connections open at once, lent or idle: the pool never
    /// opens more, so the server's `maxclients` is never spent by it.
    pub const fn with_max_size(mut self, max_size: usize) -> PoolOptions {
        self.max_size = max_size;
        self
    }

    /// How long [`Pool::get`] waits for a connection when all are lent.
    pub const fn with_checkout_timeout(mut self, timeout: Duration) -> PoolOptions {
        self.checkout_timeout = timeout;
        self
    }

    /// After how long idle a connection is checked with `PING` before it
    /// is lent again (`Duration::ZERO`: every time).
    pub const fn with_check_after_idle(mut self, idle: Duration) -> PoolOptions {
        self.check_after_idle = idle;
        self
    }

    /// The options of each connection (timeouts, queue bounds).
    pub const fn with_connection_options(mut self, options: Options) -> PoolOptions {
        self.connection = options;
        self
    }

    /// The bound on connections.
    pub const fn max_size(&self) -> usize {
        self.max_size
    }
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions::new()
    }
}

/// What a pool holds and has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open: lent plus idle.
    pub size: usize,
    /// Connections lent now.
    pub in_use: usize,
    /// Connections idle in the pool.
    pub idle: usize,
    /// Connections opened so far.
    pub opened: u64,
    /// Checkouts that had to wait for a connection to come back.
    pub waits: u64,
    /// Connections closed instead of returned: broken, or returned with a
    /// reply still owed (a dropped blocking command, an unawaited reply).
    pub discarded: u64,
    /// Checkouts that gave up waiting for a connection (the checkout
    /// timeout).
    pub timeouts: u64,
}

/// A bounded pool of [`ExclusiveConnection`]s, lent one caller at a time.
///
/// Cheap to clone; it opens connections only when a checkout finds none
/// idle, never more than [`PoolOptions::with_max_size`]. A connection comes
/// back when its [`Pooled`] is dropped: first `DISCARD` and `UNWATCH` (a
/// `MULTI` or `WATCH` left behind cannot reach the next caller), and not at
/// all when it still owes a reply or is broken. One that sat idle is
/// checked with `PING` before it is lent again; one that fails is replaced.
///
/// ```no_run
/// # async fn demo() -> Result<(), redis_paired::Error> {
/// use redis_paired::{Commands, Pool, PoolOptions};
/// use resp::cmd;
///
/// let pool = Pool::new(&"redis://127.0.0.1/".parse()?, PoolOptions::new());
/// let conn = pool.get().await?;
/// let () = conn.send(cmd!("WATCH", "balance")).await?;
/// let balance: i64 = conn.get("balance").await?.unwrap_or(0);
/// let _: ((),) = conn.transaction().add(cmd!("SET", "balance", balance + 1)).query().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
pub(crate) struct PoolInner {
    config: ConnectionConfig,
    options: PoolOptions,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<(ExclusiveConnection, Instant)>>,
    opened: AtomicU64,
    waits: AtomicU64,
    discarded: AtomicU64,
    timeouts: AtomicU64,
    open: AtomicU64,
    /// The server, as the metrics name it.
    #[cfg(feature = "otel")]
    pub(crate) attributes: Arc<[opentelemetry::KeyValue]>,
}

impl Pool {
    /// A pool for the server `config` names. Opens nothing yet.
    pub fn new(config: &ConnectionConfig, options: PoolOptions) -> Pool {
        let pool = Pool {
            inner: Arc::new(PoolInner {
                config: config.clone(),
                options,
                permits: Arc::new(Semaphore::new(options.max_size)),
                idle: Mutex::new(Vec::new()),
                opened: AtomicU64::new(0),
                waits: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
                timeouts: AtomicU64::new(0),
                open: AtomicU64::new(0),
                #[cfg(feature = "otel")]
                attributes: redis_conn::otel::server_attributes(config.address()).into(),
            }),
        };
        #[cfg(feature = "otel")]
        crate::otel::registry().register_pool(&pool.inner);
        pool
    }

    /// Lends a connection: an idle one (checked with `PING` if it was idle
    /// long), or a new one while the pool is below its size; otherwise
    /// waits for one to come back, at most the checkout timeout
    /// ([`Error::Timeout`] of `"pool checkout"`).
    pub async fn get(&self) -> Result<Pooled, Error> {
        #[cfg(feature = "otel")]
        let started = Instant::now();
        let pooled = self.checkout().await;
        #[cfg(feature = "otel")]
        crate::otel::registry()
            .wait_time
            .record(started.elapsed().as_secs_f64(), &self.inner.attributes);
        pooled
    }

    async fn checkout(&self) -> Result<Pooled, Error> {
        let inner = &self.inner;
        let permit = match Arc::clone(&inner.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                inner.waits.fetch_add(1, Ordering::Relaxed);
                let acquire = Arc::clone(&inner.permits).acquire_owned();
                tokio::time::timeout(inner.options.checkout_timeout, acquire)
                    .await
                    .map_err(|_| {
                        inner.timeouts.fetch_add(1, Ordering::Relaxed);
                        Error::Timeout {
                            what: "pool checkout",
                            command: None,
                            limit: Some(inner.options.checkout_timeout),
                        }
                    })?
                    .map_err(|_| Error::Closed)?
            }
        };
        while let Some((conn, since)) = inner.take_idle() {
            if since.elapsed() < inner.options.check_after_idle && conn.status().is_ok() {
                return Ok(Pooled::new(conn, permit, inner));
            }
            // The reply is bounded by the connection's response timeout.
            let alive = conn.status().is_ok() && conn.send::<String>(cmd!("PING")).await.is_ok();
            if alive {
                return Ok(Pooled::new(conn, permit, inner));
            }
            inner.discard(conn);
        }
        let conn =
            ExclusiveConnection::connect_with(&inner.config, inner.options.connection).await?;
        inner.opened.fetch_add(1, Ordering::Relaxed);
        inner.open.fetch_add(1, Ordering::Relaxed);
        Ok(Pooled::new(conn, permit, inner))
    }

    /// Counters and sizes.
    pub fn stats(&self) -> PoolStats {
        self.inner.stats()
    }
}

impl PoolInner {
    pub(crate) fn stats(&self) -> PoolStats {
        let inner = self;
        let idle = inner.idle.lock().unwrap_or_else(|e| e.into_inner()).len();
        let size = usize::try_from(inner.open.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        PoolStats {
            size,
            in_use: size.saturating_sub(idle),
            idle,
            opened: inner.opened.load(Ordering::Relaxed),
            waits: inner.waits.load(Ordering::Relaxed),
            discarded: inner.discarded.load(Ordering::Relaxed),
            timeouts: inner.timeouts.load(Ordering::Relaxed),
        }
    }

    fn take_idle(&self) -> Option<(ExclusiveConnection, Instant)> {
        // Most recently returned first: the others age out sooner.
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn discard(&self, conn: ExclusiveConnection) {
        drop(conn);
        self.discarded.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Takes a connection back: cleaned of any transaction state, or
    /// closed.
    fn give_back(
        self: Arc<Self>,
        conn: ExclusiveConnection,
        permit: OwnedSemaphorePermit,
        runtime: Option<tokio::runtime::Handle>,
    ) {
        if !conn.is_reusable() {
            self.discard(conn);
            return;
        }
        let Some(runtime) = runtime else {
            self.discard(conn);
            return;
        };
        runtime.spawn(async move {
            // The permit is held until the connection is clean, so no
            // checkout can get it half-reset.
            let _permit = permit;
            if conn.reset().await.is_ok() {
                self.idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((conn, Instant::now()));
            } else {
                self.discard(conn);
            }
        });
    }
}

/// A connection lent by a [`Pool`]; it derefs to the
/// [`ExclusiveConnection`], and goes back to the pool when dropped.
#[derive(Debug)]
pub struct Pooled {
    conn: Option<ExclusiveConnection>,
    permit: Option<OwnedSemaphorePermit>,
    pool: Arc<PoolInner>,
    /// The runtime of the checkout, where the connection is cleaned up
    /// when it comes back.
    runtime: Option<tokio::runtime::Handle>,
    /// When it was lent.
    #[cfg(feature = "otel")]
    lent: Instant,
}

impl Pooled {
    fn new(
        conn: ExclusiveConnection,
        permit: OwnedSemaphorePermit,
        pool: &Arc<PoolInner>,
    ) -> Pooled {
        Pooled {
            conn: Some(conn),
            permit: Some(permit),
            pool: Arc::clone(pool),
            runtime: tokio::runtime::Handle::try_current().ok(),
            #[cfg(feature = "otel")]
            lent: Instant::now(),
        }
    }
}

impl Deref for Pooled {
    type Target = ExclusiveConnection;

    fn deref(&self) -> &ExclusiveConnection {
        // Taken only in `drop`.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("a pooled connection is there until dropped"))
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        crate::otel::registry()
            .use_time
            .record(self.lent.elapsed().as_secs_f64(), &self.pool.attributes);
        if let (Some(conn), Some(permit)) = (self.conn.take(), self.permit.take()) {
            Arc::clone(&self.pool).give_back(conn, permit, self.runtime.take());
        }
    }
}
