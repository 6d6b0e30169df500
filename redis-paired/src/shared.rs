//! The state handles and the driver share: the queue of encoded commands not
//! yet taken by the driver, the connection state, and counters.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::Duration;

use bytes::BytesMut;
use redis_conn::{ConnectionConfig, Error};
use resp::Value;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::cache::{Cache, Fill, Writes};
use crate::lanes::Lanes;
use crate::queue::{Request, Retry};
use crate::trace::Peer;
use crate::{Options, Runner};

/// Counters a connection keeps about itself.
///
/// `commands / writes` is how many commands went out per write: the effect
/// of implicit pipelining.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests handed to the socket (a pipeline counts once).
    pub requests: u64,
    /// Commands handed to the socket (a pipeline counts each).
    pub commands: u64,
    /// Completed writes of a batch of commands.
    pub writes: u64,
    /// Connections made after the first one.
    pub reconnects: u64,
    /// Reads sent again on a new connection
    /// ([`Options::with_retry_reads`]).
    pub retried_reads: u64,
    /// Connections opened for blocking commands, so that they stall no
    /// other caller.
    pub blocking_connections: u64,
    /// Commands refused at once with
    /// [`Error::Backpressure`](redis_conn::Error::Backpressure): a queue
    /// was at its bound.
    pub backpressure: u64,
    /// Reads answered by the client-side cache ([`Options::with_cache`]),
    /// or by joining the same read already on its way.
    pub cache_hits: u64,
    /// Cacheable reads sent to the server.
    pub cache_misses: u64,
    /// Cached entries dropped because their key changed: the server's
    /// invalidations, flushes, this client's own writes, reconnects.
    pub cache_invalidations: u64,
    /// Cached entries dropped to stay within the bounds, or for their age.
    pub cache_evictions: u64,
    /// Bytes held by the cache now.
    pub cache_bytes: u64,
    /// Entries in the cache now.
    pub cache_entries: u64,
    /// Push frames (other than the cache's invalidations) handed to
    /// [`pushes`](crate::PairedConnection::pushes).
    pub pushes: u64,
    /// Push frames dropped: the stream was full ([`Options::with_max_pushes`])
    /// or dropped.
    pub pushes_dropped: u64,
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Requests queued or awaiting replies, against `Options::max_pending`.
    outstanding: AtomicUsize,
    /// When the driver last saw progress (a reply, or work after idling),
    /// in nanoseconds since `epoch`: how long a reply has been owed.
    progress: AtomicU64,
    epoch: Instant,
    /// Someone gave up on the server: the driver fails what is in flight
    /// with `abandon_reason` and drops the socket.
    abandoned: AtomicBool,
    abandon_reason: Mutex<Option<Arc<Error>>>,
    /// The state is `Connected`, readable without the lock.
    up: AtomicBool,
    /// Signals the driver, while it waits to reconnect, that every handle is gone.
    pub(crate) closing: Notify,
    /// The driver has ended: set, then `ended` notified, as it stops.
    finished: AtomicBool,
    ended: Notify,
    pub(crate) options: Options,
    /// Only one user: transaction commands may be sent by hand.
    pub(crate) exclusive: bool,
    /// Where blocking commands go, on a shared connection.
    pub(crate) lanes: Option<Arc<Lanes>>,
    /// What runs the driver's runtime on a thread that waits for a reply.
    pub(crate) runner: OnceLock<Arc<dyn Runner>>,
    /// The client-side cache, when the options ask for one.
    pub(crate) cache: Option<Cache>,
    /// Push frames that are not the cache's, for `pushes()`; the receiver
    /// waits here until it is taken.
    /// Taken when the driver ends, so that the stream ends too.
    pushes_tx: Mutex<Option<mpsc::Sender<Value>>>,
    pushes_rx: Mutex<Option<mpsc::Receiver<Value>>>,
    pushes: AtomicU64,
    pushes_dropped: AtomicU64,
    requests: AtomicU64,
    commands: AtomicU64,
    writes: AtomicU64,
    reconnects: AtomicU64,
    retried_reads: AtomicU64,
    backpressure: AtomicU64,
    /// The server, as the command spans name it.
    pub(crate) peer: Peer,
    /// The server, as the metrics name it.
    #[cfg(feature = "otel")]
    pub(crate) attributes: Arc<[opentelemetry::KeyValue]>,
}

struct Inner {
    state: State,
    /// Encoded commands the driver has not taken yet, in call order.
    out: BytesMut,
    /// One entry per request in `out`, in the same order.
    requests: Vec<Request>,
    /// Commands in `out` (a pipeline counts each).
    commands: u64,
    /// The driver is parked and must be woken for new work.
    driver_waiting: bool,
    waker: Option<Waker>,
    /// Every handle is gone, or one closed the connection: new commands
    /// are refused; finish what is queued, then stop.
    closing: bool,
}

#[derive(Debug, Clone)]
enum State {
    Connected,
    /// Reconnecting; commands wait for it unless `fail_fast`.
    Disconnected(Arc<Error>),
    Closed(Option<Arc<Error>>),
}

impl Inner {
    /// Whether commands are accepted; if not, the error that says why. Once
    /// the connection is closing, none are.
    fn check(&self, fail_fast: bool) -> Result<(), Error> {
        if self.closing {
            return Err(Error::Closed);
        }
        self.state.check(fail_fast)
    }
}

impl State {
    /// Whether commands are accepted; if not, the error that says why.
    fn check(&self, fail_fast: bool) -> Result<(), Error> {
        match self {
            State::Connected => Ok(()),
            // A reconnect refused for its credentials does not come right
            // by waiting: callers hear of it at once.
            State::Disconnected(reason) if !fail_fast && !reason.is_auth() => Ok(()),
            State::Disconnected(reason) | State::Closed(Some(reason)) => {
                Err(Error::Connection(reason.clone()))
            }
            State::Closed(None) => Err(Error::Closed),
        }
    }
}

/// The encoded bytes of a request, as [`Shared::enqueue`] takes them.
pub(crate) enum Encoded<'a> {
    /// Bytes to copy (one command).
    Slice(&'a [u8]),
    /// A buffer of its own (a pipeline), which may be taken whole.
    Buffer(&'a mut BytesMut),
}

impl Encoded<'_> {
    fn len(&self) -> usize {
        match self {
            Encoded::Slice(bytes) => bytes.len(),
            Encoded::Buffer(buf) => buf.len(),
        }
    }
}

/// What the driver found when it looked for work.
pub(crate) enum Taken {
    /// New requests were moved into the driver's buffers.
    Work,
    /// Nothing queued; the driver's waker is registered.
    Idle,
    /// Nothing queued and every handle is gone.
    Closing,
    /// Fewer requests queued than the driver asked for: none were moved,
    /// and the driver's waker is not registered.
    Few,
}

impl Shared {
    /// The state of a connection; `not_yet` when it is still to be made
    /// (a lazy connect), which commands wait for as for a reconnect.
    pub(crate) fn new(
        config: &ConnectionConfig,
        options: Options,
        exclusive: bool,
        lanes: Option<Lanes>,
        not_yet: Option<Error>,
        cache: Option<Cache>,
    ) -> Shared {
        let (pushes_tx, pushes_rx) = mpsc::channel(options.max_pushes().max(1));
        let up = not_yet.is_none();
        let state = match not_yet {
            None => State::Connected,
            Some(reason) => State::Disconnected(Arc::new(reason)),
        };
        Shared {
            inner: Mutex::new(Inner {
                state,
                out: BytesMut::with_capacity(16 * 1024),
                requests: Vec::new(),
                commands: 0,
                driver_waiting: false,
                waker: None,
                closing: false,
            }),
            outstanding: AtomicUsize::new(0),
            progress: AtomicU64::new(0),
            epoch: Instant::now(),
            abandoned: AtomicBool::new(false),
            abandon_reason: Mutex::new(None),
            up: AtomicBool::new(up),
            closing: Notify::new(),
            finished: AtomicBool::new(false),
            ended: Notify::new(),
            options,
            exclusive,
            lanes: lanes.map(Arc::new),
            runner: OnceLock::new(),
            cache,
            pushes_tx: Mutex::new(Some(pushes_tx)),
            pushes_rx: Mutex::new(Some(pushes_rx)),
            pushes: AtomicU64::new(0),
            pushes_dropped: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            retried_reads: AtomicU64::new(0),
            backpressure: AtomicU64::new(0),
            peer: Peer::new(config, options.query_text()),
            #[cfg(feature = "otel")]
            attributes: redis_conn::otel::server_attributes(config.address()).into(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves the queue consistent (every
        // critical section pushes or swaps whole entries), so carry on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a request with its encoded bytes, in call order, or fails at
    /// once.
    pub(crate) fn enqueue(
        &self,
        bytes: Encoded<'_>,
        commands: usize,
        request: Request,
    ) -> Result<(), Error> {
        self.push(bytes, commands, request, false)
            .map_err(|(error, _)| error)
    }

    /// As [`enqueue`](Self::enqueue), handing back the cached read's
    /// markers when it is refused, for their followers to be told.
    pub(crate) fn enqueue_or_return(
        &self,
        bytes: Encoded<'_>,
        commands: usize,
        request: Request,
    ) -> Result<(), (Error, Option<Box<Fill>>)> {
        self.push(bytes, commands, request, false)
    }

    /// As [`enqueue`](Self::enqueue), for a request of the driver's own
    /// (an `AUTH` renewing the credentials), which a connection that is
    /// closing still takes: what is queued before it still goes out.
    pub(crate) fn enqueue_own(
        &self,
        bytes: Encoded<'_>,
        commands: usize,
        request: Request,
    ) -> Result<(), Error> {
        self.push(bytes, commands, request, true)
            .map_err(|(error, _)| error)
    }

    fn push(
        &self,
        bytes: Encoded<'_>,
        commands: usize,
        mut request: Request,
        own: bool,
    ) -> Result<(), (Error, Option<Box<Fill>>)> {
        request.len = bytes.len();
        let mut inner = self.lock();
        let state = if own {
            inner.state.check(self.options.fail_fast())
        } else {
            inner.check(self.options.fail_fast())
        };
        if let Err(error) = state {
            return Err((error, request.fill));
        }
        let max = self.options.max_pending();
        if self.outstanding.load(Ordering::Relaxed) >= max {
            self.backpressure.fetch_add(1, Ordering::Relaxed);
            let error = Error::Backpressure {
                limit: max,
                unit: "requests",
            };
            return Err((error, request.fill));
        }
        let max_bytes = self.options.max_unwritten_bytes();
        if !inner.out.is_empty() && inner.out.len() + bytes.len() > max_bytes {
            self.backpressure.fetch_add(1, Ordering::Relaxed);
            let error = Error::Backpressure {
                limit: max_bytes,
                unit: "bytes",
            };
            return Err((error, request.fill));
        }
        match bytes {
            // A large batch into an empty queue moves over instead of being
            // copied.
            Encoded::Buffer(buf) if inner.out.is_empty() => std::mem::swap(&mut inner.out, buf),
            Encoded::Buffer(buf) => inner.out.extend_from_slice(buf),
            Encoded::Slice(bytes) => inner.out.extend_from_slice(bytes),
        }
        inner.requests.push(request);
        inner.commands += commands as u64;
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        if inner.driver_waiting {
            inner.driver_waiting = false;
            if let Some(waker) = &inner.waker {
                // A runner gives the wake-up on the thread that runs the
                // runtime next, with no system call to reach it.
                if !self.runner.get().is_some_and(|runner| runner.defer(waker)) {
                    waker.wake_by_ref();
                }
            }
        }
        Ok(())
    }

    /// Moves queued requests into the driver's (empty) buffers, or registers
    /// the driver's waker when there are none; leaves them queued when
    /// there are fewer than `fewest`.
    pub(crate) fn take(
        &self,
        out: &mut BytesMut,
        requests: &mut Vec<Request>,
        waker: &Waker,
        fewest: usize,
    ) -> Taken {
        let mut inner = self.lock();
        if !inner.requests.is_empty() && inner.requests.len() < fewest {
            return Taken::Few;
        }
        if inner.requests.is_empty() {
            if inner.closing {
                return Taken::Closing;
            }
            inner.driver_waiting = true;
            if !inner.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                inner.waker = Some(waker.clone());
            }
            return Taken::Idle;
        }
        std::mem::swap(out, &mut inner.out);
        std::mem::swap(requests, &mut inner.requests);
        let commands = std::mem::take(&mut inner.commands);
        drop(inner);
        self.requests
            .fetch_add(requests.len() as u64, Ordering::Relaxed);
        self.commands.fetch_add(commands, Ordering::Relaxed);
        Taken::Work
    }

    /// The connection was just lost: queues the reads to retry ahead of
    /// everything not yet taken, since they were called first. They were
    /// accepted already, so the queue bounds do not turn them away; they
    /// still count as outstanding.
    pub(crate) fn requeue(&self, retries: Vec<Retry>) {
        if retries.is_empty() {
            return;
        }
        let n = retries.len();
        let mut inner = self.lock();
        let len = retries.iter().map(|r| r.bytes.len()).sum::<usize>() + inner.out.len();
        let mut out = BytesMut::with_capacity(len);
        let mut requests = Vec::with_capacity(n + inner.requests.len());
        for Retry { mut request, bytes } in retries {
            out.extend_from_slice(&bytes);
            request.len = bytes.len();
            requests.push(request);
        }
        out.extend_from_slice(&inner.out);
        requests.append(&mut inner.requests);
        inner.out = out;
        inner.requests = requests;
        inner.commands += n as u64;
        drop(inner);
        self.retried_reads.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Called when the last handle is dropped.
    /// Notes progress: a reply arrived, or work came after an idle spell.
    pub(crate) fn progressed(&self, now: Instant) {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        self.progress
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// How long replies have been owed with none arriving; `None` when
    /// nothing is owed.
    pub(crate) fn unanswered_for(&self, now: Instant) -> Option<Duration> {
        if self.pending() == 0 {
            return None;
        }
        let since = self.epoch + Duration::from_nanos(self.progress.load(Ordering::Relaxed));
        Some(now.saturating_duration_since(since))
    }

    /// Gives up on the server: the driver fails everything in flight with
    /// `reason` and drops the socket, then reconnects as after any loss.
    pub(crate) fn abandon(&self, reason: Arc<Error>) {
        *self
            .abandon_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(reason);
        self.abandoned.store(true, Ordering::Release);
        if let Some(waker) = self.lock().waker.take() {
            waker.wake();
        }
    }

    /// Why the connection was given up on, once: for the driver.
    pub(crate) fn take_abandoned(&self) -> Option<Arc<Error>> {
        // A load first: this is asked at every turn of the driver.
        if !self.abandoned.load(Ordering::Relaxed) || !self.abandoned.swap(false, Ordering::Acquire)
        {
            return None;
        }
        self.abandon_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Called when the last handle is dropped: as [`shut`](Self::shut),
    /// and a reconnect under way stops at once, failing what waits for it.
    pub(crate) fn close(&self) {
        self.shut();
        self.closing.notify_one();
    }

    /// A handle closed the connection: new commands are refused, and the
    /// driver finishes what is queued (a reconnect under way goes on while
    /// commands wait for it), then stops.
    pub(crate) fn shut(&self) {
        if let Some(lanes) = &self.lanes {
            lanes.close();
        }
        self.up.store(false, Ordering::Release);
        let mut inner = self.lock();
        inner.closing = true;
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
    }

    /// Whether the connection is closing and nothing waits to be written:
    /// a reconnect would serve no one.
    pub(crate) fn closed_and_drained(&self) -> bool {
        let inner = self.lock();
        inner.closing && inner.requests.is_empty()
    }

    /// Waits until the driver has ended.
    pub(crate) async fn ended(&self) {
        let mut ended = std::pin::pin!(self.ended.notified());
        ended.as_mut().enable();
        if self.finished.load(Ordering::Acquire) {
            return;
        }
        ended.await;
    }

    /// The connection is up: accept commands (unless it is closing).
    pub(crate) fn set_connected(&self) {
        let mut inner = self.lock();
        inner.state = State::Connected;
        self.up.store(!inner.closing, Ordering::Release);
    }

    /// When the connection was made: the time a reply answered at once
    /// (from the cache) is said to be called at, as it never waits.
    pub(crate) fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Requests queued or awaiting replies.
    pub(crate) fn pending(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Whether the connection is up, without taking the lock.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The connection moves to a new master: blocking exchanges under way
    /// on the old one fail with `reason`, and idle lanes to it close.
    pub(crate) fn moved(&self, reason: &Arc<Error>) {
        if let Some(lanes) = &self.lanes {
            lanes.lost(reason);
        }
    }

    /// The connection is down for `reason`. Commands not yet taken wait for
    /// the reconnect, or with `fail_fast` fail now, as new ones will until it
    /// is back. With `for_good`, it never comes back.
    pub(crate) fn set_disconnected(&self, reason: Arc<Error>, for_good: bool) {
        self.up.store(false, Ordering::Release);
        if let Some(lanes) = &self.lanes {
            lanes.lost(&reason);
        }
        if for_good {
            let state = State::Closed(Some(reason.clone()));
            self.fail_queued(state, &Error::Connection(reason));
        } else if self.options.fail_fast() {
            let state = State::Disconnected(reason.clone());
            self.fail_queued(state, &Error::Connection(reason));
        } else {
            self.lock().state = State::Disconnected(reason);
        }
    }

    /// While reconnecting: fails the queued requests whose callers' time is
    /// up (they were never written, so they are simply dropped), and
    /// registers the driver's waker for new ones. Returns the next time a
    /// queued request's time is up.
    pub(crate) fn expire_queued(&self, now: Instant, waker: &Waker) -> Option<Instant> {
        let mut inner = self.lock();
        inner.driver_waiting = true;
        if !inner.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            inner.waker = Some(waker.clone());
        }
        let due = |r: &Request| r.deadline().is_some_and(|d| d <= now);
        let mut expired = Vec::new();
        if inner.requests.iter().any(due) {
            let lost = match &inner.state {
                State::Disconnected(reason) => Some(reason.clone()),
                _ => None,
            };
            let reason = |r: &Request| match &lost {
                Some(reason) => Error::Connection(reason.clone()),
                None => Error::Timeout {
                    what: "response",
                    command: Some(r.command),
                    limit: r.timeout,
                },
            };
            // Rebuild the bytes without the expired requests' commands.
            let Inner {
                out,
                requests,
                commands,
                ..
            } = &mut *inner;
            let old = std::mem::replace(out, BytesMut::with_capacity(out.len()));
            let mut at = 0;
            for request in std::mem::take(requests) {
                let bytes = &old[at..at + request.len];
                at += request.len;
                if due(&request) {
                    *commands = commands.saturating_sub(request.replies as u64);
                    let error = reason(&request);
                    expired.push((request, error));
                } else {
                    out.extend_from_slice(bytes);
                    requests.push(request);
                }
            }
        }
        let next = inner.requests.iter().filter_map(Request::deadline).min();
        drop(inner);
        self.finished(expired.len());
        for (request, error) in expired {
            self.abandon_fill(&request, &error);
            if let Some(tx) = request.tx {
                let _ = tx.send(Err(error));
            }
        }
        next
    }

    /// While reconnecting: the latest reason commands are refused. When
    /// the server refused the credentials, the commands waiting for the
    /// reconnect fail at once with it, as new ones do until a reconnect
    /// succeeds: waiting would only end in the same error, later.
    pub(crate) fn set_reason(&self, reason: Arc<Error>) {
        let mut inner = self.lock();
        if let State::Disconnected(_) = inner.state {
            if reason.is_auth() {
                drop(inner);
                let error = Error::Connection(reason.clone());
                self.fail_queued(State::Disconnected(reason), &error);
                return;
            }
            inner.state = State::Disconnected(reason);
        }
    }

    /// Stops accepting commands for good, and fails those still queued:
    /// the driver has ended.
    pub(crate) fn set_closed(&self) {
        let reason = match &self.lock().state {
            State::Disconnected(reason) | State::Closed(Some(reason)) => Some(reason.clone()),
            _ => None,
        };
        self.fail_queued(State::Closed(reason), &Error::Closed);
        // The stream of pushes ends once what it holds is read.
        drop(
            self.pushes_tx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        self.finished.store(true, Ordering::Release);
        self.ended.notify_waiters();
    }

    /// Moves to `state` and fails every request not yet taken by the driver
    /// with `error`.
    fn fail_queued(&self, state: State, error: &Error) {
        if !matches!(state, State::Connected) {
            self.up.store(false, Ordering::Release);
        }
        let mut inner = self.lock();
        inner.state = state;
        inner.out.clear();
        inner.commands = 0;
        let queued = std::mem::take(&mut inner.requests);
        drop(inner);
        self.finished(queued.len());
        for request in queued {
            self.abandon_fill(&request, error);
            if let Some(tx) = request.tx {
                let _ = tx.send(Err(error.clone()));
            }
        }
    }

    /// `n` requests are done (answered, failed or discarded).
    pub(crate) fn finished(&self, n: usize) {
        if n > 0 {
            self.outstanding.fetch_sub(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a command may be sent on a lane now: not once the connection
    /// is closed, nor while it is down with `fail_fast`.
    pub(crate) fn status_for_lanes(&self) -> Result<(), Error> {
        self.lock().check(self.options.fail_fast())
    }

    /// Whether the connection is up now, and if not, why.
    pub(crate) fn status(&self) -> Result<(), Error> {
        self.lock().check(true)
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            commands: self.commands.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            retried_reads: self.retried_reads.load(Ordering::Relaxed),
            blocking_connections: self.lanes.as_ref().map_or(0, |l| l.opened()),
            backpressure: self.backpressure.load(Ordering::Relaxed),
            pushes: self.pushes.load(Ordering::Relaxed),
            pushes_dropped: self.pushes_dropped.load(Ordering::Relaxed),
            ..self.cache_stats()
        }
    }

    fn cache_stats(&self) -> Stats {
        let Some(cache) = &self.cache else {
            return Stats::default();
        };
        let core = cache.lock();
        Stats {
            cache_hits: core.counters.hits,
            cache_misses: core.counters.misses,
            cache_invalidations: core.counters.invalidations,
            cache_evictions: core.counters.evictions,
            cache_bytes: core.bytes() as u64,
            cache_entries: core.entries() as u64,
            ..Stats::default()
        }
    }

    /// A push frame read off the connection: an invalidation goes to the
    /// cache; anything else to the stream of pushes, or is counted dropped.
    pub(crate) fn push_frame(&self, items: Vec<Value>) {
        if let Some(cache) = &self.cache {
            if cache.invalidation(&items) {
                return;
            }
        }
        let sent = match &*self.pushes_tx.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(tx) => tx.try_send(Value::Push(items)).is_ok(),
            None => false,
        };
        match sent {
            true => {
                self.pushes.fetch_add(1, Ordering::Relaxed);
            }
            false => {
                tracing::debug!("a push frame was dropped: the stream of pushes is full or gone");
                self.pushes_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The stream of push frames, once.
    pub(crate) fn take_pushes(&self) -> Option<mpsc::Receiver<Value>> {
        self.pushes_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Drops from the cache what a command about to be sent writes.
    pub(crate) fn forget(&self, writes: &Writes) {
        if let Some(cache) = &self.cache {
            cache.forget(writes);
        }
    }

    /// A request that will not be answered: the callers following its
    /// cached read hear `error` too.
    fn abandon_fill(&self, request: &Request, error: &Error) {
        if let (Some(cache), Some(fill)) = (&self.cache, &request.fill) {
            cache.abandon(fill, error);
        }
    }
}

#[cfg(feature = "otel")]
impl redis_conn::otel::Counted for Shared {
    fn counters(&self) -> Vec<u64> {
        redis_conn::otel::read(crate::otel::STATS, &self.stats())
    }
}

#[cfg(feature = "otel")]
impl Drop for Shared {
    fn drop(&mut self) {
        // What this connection counted stays in the exported totals.
        crate::otel::registry().retire(&self.attributes, &self.stats());
    }
}
