//! Connections of their own for blocking commands: a `BLPOP k 0` sent on a
//! shared connection waits there for its own caller only, and every other
//! caller goes on as if it were not there.
//!
//! A lane is one connection that carries one blocking exchange at a time.
//! Lanes are opened when a blocking command needs one, bounded in number,
//! reused, and closed once idle for a while. A caller who gives up (drops its
//! reply) closes its lane: the server unblocks a client whose socket closes,
//! so nothing is left waiting on the server's side either.

use std::future::{poll_fn, Future};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use redis_conn::{ConnectionConfig, Error, Parts, Stream};
use resp::Value;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::blocking::Timing;
use crate::queue::ReplyTx;
use crate::Options;

/// Read this much at a time from a lane.
const READ_CHUNK: usize = 4 * 1024;

/// The lanes of one shared connection.
pub(crate) struct Lanes {
    config: ConnectionConfig,
    /// The runtime of the shared connection: exchanges run there whether or
    /// not the caller is inside a runtime.
    runtime: Handle,
    /// One permit a lane, busy or about to be.
    permits: Arc<Semaphore>,
    idle: Mutex<IdleLanes>,
    /// Wakes every exchange under way when the shared connection lost the
    /// server: a lane blocked on a paused server would not notice by itself.
    lost: Notify,
    lost_reason: Mutex<Option<Arc<Error>>>,
    /// Every handle is gone: a command that would block forever is given up
    /// (its lane closed), as on the shared socket.
    closing: Notify,
    closed: AtomicBool,
    idle_timeout: Duration,
    /// How long a command may wait to be sent (for a free lane, for one to
    /// open): the response timeout.
    wait_timeout: Duration,
    fail_fast: bool,
    /// Exchanges waiting or under way, against `max_pending`.
    outstanding: AtomicUsize,
    max_pending: usize,
    opened: AtomicU64,
}

/// Lanes not in use, most recently used last, and whether a task closes
/// those idle too long.
#[derive(Default)]
struct IdleLanes {
    lanes: Vec<(Lane, Instant)>,
    reaping: bool,
}

/// What a lane sends and how long it waits for the answer.
#[derive(Debug)]
pub(crate) struct Exchange {
    /// One command, or a pipeline of them, encoded.
    pub(crate) bytes: Bytes,
    /// How many replies `bytes` produce.
    pub(crate) replies: usize,
    /// The replies go back as one array (a pipeline).
    pub(crate) batch: bool,
    /// How long the reply may take once the command is written (`None`: as
    /// long as the server takes).
    pub(crate) timeout: Option<Duration>,
    /// When the caller sent it.
    pub(crate) called: Instant,
}

impl Exchange {
    /// One command, with the timing worked out for it.
    pub(crate) fn one(cmd: resp::Command, timing: Timing, called: Instant) -> Exchange {
        Exchange {
            bytes: cmd.into_bytes(),
            replies: 1,
            batch: false,
            timeout: timing.timeout,
            called,
        }
    }
}

impl Lanes {
    pub(crate) fn new(config: &ConnectionConfig, options: &Options, runtime: Handle) -> Lanes {
        Lanes {
            config: config.clone(),
            runtime,
            permits: Arc::new(Semaphore::new(options.max_blocking_connections())),
            idle: Mutex::new(IdleLanes::default()),
            lost: Notify::new(),
            lost_reason: Mutex::new(None),
            closing: Notify::new(),
            closed: AtomicBool::new(false),
            idle_timeout: options.blocking_idle_timeout(),
            wait_timeout: options.response_timeout(),
            fail_fast: options.fail_fast(),
            outstanding: AtomicUsize::new(0),
            max_pending: options.max_pending(),
            opened: AtomicU64::new(0),
        }
    }

    /// Starts `exchange` on a lane; its reply goes to `tx`. If the caller
    /// drops its end first, the lane is closed and the server stops waiting.
    pub(crate) fn send(self: &Arc<Self>, exchange: Exchange, tx: Option<ReplyTx>) {
        if self.outstanding.fetch_add(1, Ordering::Relaxed) >= self.max_pending {
            self.outstanding.fetch_sub(1, Ordering::Relaxed);
            let full = Error::Backpressure {
                limit: self.max_pending,
                unit: "blocking requests",
            };
            if let Some(tx) = tx {
                let _ = tx.send(Err(full));
            }
            return;
        }
        let lanes = Arc::clone(self);
        self.runtime.spawn(async move {
            match tx {
                Some(mut tx) => {
                    tokio::select! {
                        result = lanes.run(exchange) => {
                            let _ = tx.send(result);
                        }
                        () = tx.closed() => {
                            tracing::debug!("a blocking caller gave up; its connection is closed");
                        }
                    }
                }
                None => {
                    if let Err(error) = lanes.run(exchange).await {
                        tracing::debug!(%error, "a blocking command sent without waiting failed");
                    }
                }
            }
            lanes.outstanding.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// The shared connection lost the server for `reason`: exchanges under
    /// way fail with it, and idle lanes, likely dead too, are closed.
    pub(crate) fn lost(&self, reason: &Arc<Error>) {
        *lock(&self.lost_reason) = Some(reason.clone());
        let idle = std::mem::take(&mut lock(&self.idle).lanes);
        drop(idle);
        self.lost.notify_waiters();
    }

    /// Every handle is gone: exchanges that would wait forever end now.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.closing.notify_waiters();
    }

    /// Lanes opened so far.
    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    async fn run(self: &Arc<Self>, exchange: Exchange) -> Result<Value, Error> {
        // Waiting for a lane is waiting to be sent: bounded like any command
        // that waits for its connection, and safe to give up, since nothing
        // was written.
        let mut failure = None;
        let checkout = self.checkout(&mut failure);
        let (permit, mut lane) = match exchange.called.checked_add(self.wait_timeout) {
            Some(by) => match tokio::time::timeout_at(by, checkout).await {
                Ok(checked_out) => checked_out?,
                // Still trying to connect: why is the better answer.
                Err(_) => {
                    return Err(match failure {
                        Some(reason) => Error::Connection(Arc::new(reason)),
                        None => Error::Timeout {
                            what: "waiting for a blocking connection",
                            command: None,
                            limit: Some(self.wait_timeout),
                        },
                    })
                }
            },
            None => checkout.await?,
        };
        let mut lost = std::pin::pin!(self.lost.notified());
        lost.as_mut().enable();
        let mut closing = std::pin::pin!(self.closing.notified());
        closing.as_mut().enable();
        let endless = exchange.timeout.is_none();
        if endless && self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        // Written now, on a connection of its own: the server starts on it
        // at once, so its own timeout starts too.
        let reply_by = exchange.timeout.and_then(|t| Instant::now().checked_add(t));
        let result = tokio::select! {
            result = until(reply_by, exchange.timeout, lane.exchange(&exchange)) => result,
            () = lost => Err(Error::Connection(
                lock(&self.lost_reason).clone().unwrap_or_else(|| Arc::new(Error::Closed)),
            )),
            () = closing, if endless => Err(Error::Closed),
        };
        // A lane that failed in any way may still owe a reply: only a clean
        // one is used again.
        if result.is_ok() {
            self.put_back(lane);
        }
        drop(permit);
        result
    }

    /// A permit and a lane: an idle one that still looks healthy, or a new
    /// one.
    /// While it waits for a connection, `failure` holds why the last
    /// attempt failed.
    async fn checkout(
        &self,
        failure: &mut Option<Error>,
    ) -> Result<(OwnedSemaphorePermit, Lane), Error> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        if let Some(lane) = self.take_idle() {
            return Ok((permit, lane));
        }
        let conn = if self.fail_fast || !self.config.reconnect().is_enabled() {
            redis_conn::connect(&self.config).await
        } else {
            // A restart in progress: keep trying, as the shared connection
            // does, until the caller's wait is over.
            let failed = |error| *failure = Some(error);
            match redis_conn::reconnect(&self.config, std::future::pending(), failed).await {
                Some(conn) => Ok(conn),
                None => Err(Error::Closed),
            }
        };
        let conn = conn.map_err(|e| Error::Connection(Arc::new(e)))?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok((
            permit,
            Lane {
                parts: conn.into_parts(),
            },
        ))
    }

    fn take_idle(&self) -> Option<Lane> {
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        while let Some((mut lane, since)) = idle.lanes.pop() {
            if now.saturating_duration_since(since) < self.idle_timeout && lane.is_usable() {
                return Some(lane);
            }
        }
        None
    }

    fn put_back(self: &Arc<Self>, lane: Lane) {
        if !lane.parts.read_buf.is_empty() {
            // Bytes nobody asked for: the lane is out of step.
            return;
        }
        let mut idle = lock(&self.idle);
        idle.lanes.push((lane, Instant::now()));
        if !idle.reaping && self.idle_timeout < Duration::MAX {
            idle.reaping = true;
            self.runtime.spawn(reap(Arc::downgrade(self)));
        }
    }
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes")
            .field("opened", &self.opened())
            .finish_non_exhaustive()
    }
}

/// Closes lanes idle for longer than the idle timeout, as long as any are
/// idle; stops when none are (the next `put_back` starts it again).
async fn reap(lanes: Weak<Lanes>) {
    loop {
        let wake = {
            let Some(lanes) = lanes.upgrade() else { return };
            let now = Instant::now();
            let mut idle = lock(&lanes.idle);
            idle.lanes
                .retain(|(_, since)| now.saturating_duration_since(*since) < lanes.idle_timeout);
            match idle.lanes.first() {
                // The oldest is first: it expires first.
                Some((_, since)) => since.checked_add(lanes.idle_timeout),
                None => {
                    idle.reaping = false;
                    return;
                }
            }
        };
        match wake {
            Some(at) => tokio::time::sleep_until(at).await,
            None => return,
        }
    }
}

/// `future`, or a response timeout at `by`.
async fn until<T>(
    by: Option<Instant>,
    limit: Option<Duration>,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match by {
        Some(by) => tokio::time::timeout_at(by, future)
            .await
            .unwrap_or(Err(Error::Timeout {
                what: "response",
                command: None,
                limit,
            })),
        None => future.await,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves the data whole.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One connection for one blocking exchange at a time.
struct Lane {
    parts: Parts<Stream>,
}

impl Lane {
    /// Writes the exchange's bytes and reads its replies (pushes, which
    /// answer no request, are skipped).
    async fn exchange(&mut self, exchange: &Exchange) -> Result<Value, Error> {
        let lost = |e: Error| Error::Connection(Arc::new(e));
        let stream = &mut self.parts.stream;
        stream
            .write_all(&exchange.bytes)
            .await
            .map_err(|e| lost(e.into()))?;
        stream.flush().await.map_err(|e| lost(e.into()))?;
        let mut batch = Vec::new();
        loop {
            let decoded = self
                .parts
                .decoder
                .decode(&mut self.parts.read_buf)
                .map_err(|e| lost(Error::Protocol(e)))?;
            match decoded {
                Some(Value::Push(_)) => {}
                Some(value) if !exchange.batch => return Ok(value),
                Some(value) => {
                    batch.push(value);
                    if batch.len() >= exchange.replies {
                        return Ok(Value::Array(batch));
                    }
                }
                None => {
                    let Parts {
                        stream, read_buf, ..
                    } = &mut self.parts;
                    let n = poll_fn(|cx| {
                        redis_conn::io::poll_read_more(stream, cx, read_buf, READ_CHUNK)
                    })
                    .await
                    .map_err(|e| lost(e.into()))?;
                    if n == 0 {
                        let eof = io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        );
                        return Err(lost(eof.into()));
                    }
                }
            }
        }
    }

    /// Whether an idle lane can be used again: the server has not closed it
    /// and has sent nothing since (anything it sent would be taken for the
    /// next reply).
    fn is_usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let Parts {
            stream, read_buf, ..
        } = &mut self.parts;
        matches!(
            redis_conn::io::poll_read_more(stream, &mut cx, read_buf, READ_CHUNK),
            Poll::Pending
        ) && read_buf.is_empty()
    }
}
