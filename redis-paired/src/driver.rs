//! The driver: one task per connection that owns the socket, writes what is
//! queued in batches, hands replies to the in-flight queue, and reconnects.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use redis_conn::io::ReadRoom;
use redis_conn::{CommandName, Connection, ConnectionConfig, Error, MasterWatch, Reauth, Stream};
use resp::{Decoder, Value};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use crate::queue::{Completion, Queue, Request, Unsolicited};
use crate::shared::{Encoded, Shared, Taken};

/// Replies are handed out in this many shares of those in flight, the
/// callers of each share sending again before the next is handed out, so
/// that the server works on their commands meanwhile.
const DELIVERY_SHARES: usize = 8;

/// The fewest replies handed out at once: with few callers, all of them.
const MIN_DELIVERY: usize = 8;

/// With [`Options::with_write_gathering`](crate::Options::with_write_gathering),
/// the fewest replies awaited for a small batch to wait before it is
/// written: with fewer, the server may be idle, and the batch goes at once.
const GATHER_IN_FLIGHT: usize = 32;

/// Starts the task that runs a connection, made already or (`None`, a lazy
/// connect) to be made by the task. However the task ends (even dropped
/// with its runtime before it first ran), the connection is closed for its
/// users from then on, not left waiting for a driver that is gone.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    config: ConnectionConfig,
    conn: Option<Connection<Stream>>,
) {
    let guard = CloseOnDrop(shared);
    tokio::spawn(async move {
        run(&guard.0, config, conn).await;
        drop(guard);
    });
}

/// Runs a connection until every handle is gone, reconnecting as the
/// config's policy says.
async fn run(shared: &Shared, config: ConnectionConfig, conn: Option<Connection<Stream>>) {
    let policy = config.reconnect();
    // A connection made before the task started had its tracking turned on
    // then.
    let mut tracked = conn.is_some();
    let mut conn = match conn {
        Some(conn) => conn,
        None => match connect(shared, &config).await {
            Some(conn) => conn,
            None => return,
        },
    };
    let follows_master = matches!(config.address(), redis_conn::Address::Sentinel { .. })
        && !config.sentinel_replica();
    // Behind sentinels, their announcements say when to hold commands back
    // and where to move.
    let mut watch = if follows_master {
        MasterWatch::follow(&config)
    } else {
        None
    };
    loop {
        if !tracked {
            // Tracking is on before any command of this connection goes
            // out, and whatever was cached before it is gone.
            retrack(shared, &mut conn).await;
        }
        tracked = false;
        shared.set_connected();
        let node = conn.node().map(|(host, port)| (host.to_owned(), port));
        let reason = match Io::new(shared, &config, conn, follows_master, watch.as_mut(), node)
            .run()
            .await
        {
            Ending::Shutdown => {
                tracing::debug!("connection closed: every handle is gone");
                return;
            }
            Ending::Lost(reason) => Arc::new(reason),
            Ending::Moved(reason) => {
                let reason = Arc::new(reason);
                if let Some(cache) = &shared.cache {
                    cache.restart(false, &Error::Connection(reason.clone()));
                }
                shared.moved(&reason);
                if !policy.is_enabled() {
                    // An exclusive connection cannot take its state along:
                    // it ends, and what it held back fails.
                    shared.set_disconnected(reason, true);
                    return;
                }
                tracing::info!(%reason, "moving to the new master");
                let started = Instant::now();
                // Nothing failed and nothing is in flight: what was held
                // back stays queued and goes to the new master.
                conn = match reconnect(shared, &config).await {
                    Some(conn) => conn,
                    None => return,
                };
                shared.count_reconnect();
                tracing::info!(after = ?started.elapsed(), "moved to the new master");
                continue;
            }
        };
        if !policy.is_enabled() {
            tracing::warn!(error = %reason, "connection lost; reconnecting is off");
            shared.set_disconnected(reason, true);
            return;
        }
        tracing::warn!(error = %reason, "connection lost; reconnecting");
        shared.set_disconnected(reason, false);
        let started = Instant::now();
        conn = match reconnect(shared, &config).await {
            Some(conn) => conn,
            None => return,
        };
        shared.count_reconnect();
        tracing::info!(after = ?started.elapsed(), "reconnected");
    }
}

/// Turns on tracking of the keys this connection reads (`CLIENT TRACKING
/// ON`, its default mode), for the cache: `Ok` when the server agreed
/// within the response timeout.
pub(crate) async fn track(shared: &Shared, conn: &mut Connection<Stream>) -> Result<(), Error> {
    if conn.protocol() != redis_conn::Protocol::Resp3 {
        return Err(Error::Config(redis_conn::ConfigError::CacheNeedsResp3));
    }
    let exchange = async {
        // The sink alone: the reply is read below, past any push.
        SinkExt::send(conn, resp::Command::new("CLIENT").arg("TRACKING").arg("ON")).await?;
        loop {
            match conn.next().await {
                // Nothing is tracked yet: a push now is no invalidation.
                Some(Ok(Value::Push(items))) => shared.push_frame(items),
                Some(Ok(Value::Error(text) | Value::BlobError(text))) => {
                    return Err(Error::Server(resp::ServerError::new(text)));
                }
                Some(Ok(_)) => return Ok(()),
                Some(Err(error)) => return Err(error),
                None => return Err(Error::Closed),
            }
        }
    };
    let limit = shared.options.response_timeout();
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or(Err(Error::Timeout {
            what: "response",
            command: Some(CommandName::new(b"CLIENT")),
            limit: Some(limit),
        }))
}

/// Tracking for a new connection: on, or (when the server refuses it, a
/// RESP2 server, no answer) the cache serves nothing until the next
/// connection; a broken socket is then found by the I/O loop as ever.
/// Whatever was cached before is gone either way.
async fn retrack(shared: &Shared, conn: &mut Connection<Stream>) {
    let Some(cache) = &shared.cache else {
        return;
    };
    let active = match track(shared, conn).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "CLIENT TRACKING failed: the client-side cache is off on this connection");
            false
        }
    };
    cache.restart(active, &Error::Closed);
}

/// Makes the first connection of a lazy connect: as a reconnect, or with
/// reconnecting off, one attempt, whose failure closes the connection.
async fn connect(shared: &Shared, config: &ConnectionConfig) -> Option<Connection<Stream>> {
    if config.reconnect().is_enabled() {
        return reconnect(shared, config).await;
    }
    match redis_conn::connect(config).await {
        Ok(conn) => Some(conn),
        Err(error) => {
            tracing::warn!(%error, "the first connection failed; reconnecting is off");
            shared.set_disconnected(Arc::new(error), true);
            None
        }
    }
}

/// Reconnects as the config's policy says, until it works (`Some`), or
/// every handle is gone or the connection was closed with nothing left to
/// send (`None`). Meanwhile commands queued for the connection wait, and
/// those whose callers' time is up are failed.
async fn reconnect(shared: &Shared, config: &ConnectionConfig) -> Option<Connection<Stream>> {
    let stop = shared.closing.notified();
    let failed = |error| shared.set_reason(Arc::new(error));
    let mut reconnect = std::pin::pin!(redis_conn::reconnect(config, stop, failed));
    let mut timer = Box::pin(tokio::time::sleep_until(Instant::now()));
    poll_fn(|cx| {
        if let Poll::Ready(conn) = reconnect.as_mut().poll(cx) {
            return Poll::Ready(conn);
        }
        loop {
            let next = shared.expire_queued(Instant::now(), cx.waker());
            // After the waker is registered: a close that comes later wakes
            // this.
            if shared.closed_and_drained() {
                return Poll::Ready(None);
            }
            let Some(next) = next else {
                return Poll::Pending;
            };
            timer.as_mut().reset(next);
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    })
    .await
}

struct CloseOnDrop(Arc<Shared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.set_closed();
    }
}

/// Why a connection's I/O loop stopped.
enum Ending {
    /// Every handle is gone and everything queued was answered.
    Shutdown,
    /// The connection broke; everything in flight was failed with this.
    Lost(Error),
    /// The sentinels named a new master and everything in flight was
    /// answered: the connection must move, failing nothing.
    Moved(Error),
}

/// The I/O loop of one connection.
struct Io<'a> {
    shared: &'a Shared,
    stream: Stream,
    read_buf: BytesMut,
    decoder: Decoder,
    /// The batch being written, and how much of it is out.
    write_buf: BytesMut,
    written: usize,
    /// Requests of the batch just taken, before they join the queue.
    taken: Vec<Request>,
    queue: Queue,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    closing: bool,
    /// The connection is to whatever node Sentinel names master: one that
    /// answers `READONLY` was demoted, and the connection must find the
    /// new master.
    follows_master: bool,
    /// Replies were just handed to several callers: they are about to send
    /// again.
    delivered: bool,
    /// The requests queued now waited one turn of the scheduler for others
    /// to join them (`Options::with_write_gathering`); they go next time.
    gathered: bool,
    /// `read_buf` may hold whole replies not decoded yet: a read stopped
    /// handing them out so that the callers served so far could send again.
    buffered: bool,
    /// How much room to keep free before each read.
    room: ReadRoom,
    /// The sentinels' view of the master, when the connection follows one.
    watch: Option<&'a mut MasterWatch>,
    /// The node the connection reached through the sentinels.
    node: Option<(String, u16)>,
    /// A failover of this node is under way: new commands wait.
    holding: bool,
    /// The sentinels named another master: once what is in flight is
    /// answered, the connection moves there.
    moving: Option<(String, u16)>,
    /// When the next held command's time runs out.
    hold_timer: Pin<Box<Sleep>>,
    /// Renews expiring credentials with an `AUTH` of the driver's own, in
    /// order with the callers' commands; `None` on an exclusive connection,
    /// where it could land inside its user's `MULTI`.
    reauth: Option<Reauth>,
    /// The reply to that `AUTH`, which the driver takes itself.
    reauth_reply: Option<oneshot::Receiver<Result<Value, Error>>>,
    /// Records how long each operation took.
    #[cfg(feature = "otel")]
    recorder: crate::otel::Recorder,
}

impl<'a> Io<'a> {
    fn new(
        shared: &'a Shared,
        config: &ConnectionConfig,
        conn: Connection<Stream>,
        follows_master: bool,
        watch: Option<&'a mut MasterWatch>,
        node: Option<(String, u16)>,
    ) -> Io<'a> {
        let reauth = Some(Reauth::new(config, conn.handshake()))
            .filter(|reauth| reauth.is_active() && !shared.exclusive);
        let parts = conn.into_parts();
        // A connection made while a failover of its node is under way holds
        // from the start. It moves only when the view changes: had the
        // master the view names served, the connect would have gone there.
        let holding = watch.as_ref().is_some_and(|watch| {
            watch.is_failing_over() && (node.is_none() || watch.master() == node)
        });
        Io {
            shared,
            stream: parts.stream,
            read_buf: parts.read_buf,
            decoder: parts.decoder,
            write_buf: BytesMut::with_capacity(16 * 1024),
            written: 0,
            taken: Vec::new(),
            queue: Queue::new(shared.options.response_timeout()),
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            timer_at: None,
            closing: false,
            follows_master,
            delivered: false,
            gathered: false,
            buffered: false,
            room: ReadRoom::default(),
            watch,
            node,
            holding,
            moving: None,
            hold_timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            reauth,
            reauth_reply: None,
            #[cfg(feature = "otel")]
            recorder: crate::otel::Recorder::new(shared.attributes.clone()),
        }
    }

    async fn run(mut self) -> Ending {
        let ending = poll_fn(|cx| self.poll(cx)).await;
        if let Ending::Lost(reason) = &ending {
            let error = Error::Connection(Arc::new(reason.clone()));
            if let Some(cache) = &self.shared.cache {
                // Nothing the lost connection cached can be known any more.
                cache.restart(false, &error);
            }
            let mut retries = Vec::new();
            let failed = self.queue.fail_all(&error, &mut retries);
            self.shared.finished(failed);
            // Before the state says disconnected: with fail-fast, or with
            // no reconnect to come, they fail with what is queued.
            self.shared.requeue(retries);
        }
        ending
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Ending> {
        loop {
            if let Some(reason) = self.shared.take_abandoned() {
                tracing::warn!(%reason, "the server was given up on");
                return Poll::Ready(Ending::Lost((*reason).clone()));
            }
            let mut progress = self.poll_master(cx);
            if self.write_buf.is_empty() {
                if self.delivered {
                    // Let the callers just woken run first: what they send
                    // next then goes out in one write instead of many.
                    self.delivered = false;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                if self.holding || self.moving.is_some() {
                    self.expire_held(cx);
                } else {
                    match self.take(cx) {
                        Some(took) => progress |= took,
                        None => {
                            // A small batch, and many replies awaited: the
                            // callers woken elsewhere send first, and their
                            // commands join this write.
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                }
            }
            match self.poll_write(cx) {
                Poll::Ready(Ok(wrote)) => progress |= wrote,
                Poll::Ready(Err(e)) => return Poll::Ready(Ending::Lost(e)),
                Poll::Pending => {}
            }
            match self.poll_read(cx) {
                Poll::Ready(Ok(())) => progress = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Ending::Lost(e)),
                Poll::Pending => {}
            }
            match self.poll_deadlines(cx) {
                Poll::Ready(Ok(())) => progress = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Ending::Lost(e)),
                Poll::Pending => {}
            }
            if !self.closing {
                progress |= self.poll_reauth(cx);
            }
            if let Some((host, port)) = &self.moving {
                if self.write_buf.is_empty() && !self.buffered {
                    let reason = Error::from(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        format!("the sentinels named a new master, {host}:{port}"),
                    ));
                    if self.queue.is_empty() {
                        return Poll::Ready(Ending::Moved(reason));
                    }
                    // A command that blocks forever would keep the
                    // connection on the old master forever.
                    if self.queue.waits_forever() {
                        return Poll::Ready(Ending::Lost(reason));
                    }
                }
            }
            // With every handle gone, what is still queued is written and
            // its replies awaited (callers may still hold them), but a
            // command that blocks forever would hold the socket forever:
            // closing it ends the block.
            if self.closing
                && self.write_buf.is_empty()
                && !self.buffered
                && (self.queue.is_empty() || self.queue.waits_forever())
            {
                return Poll::Ready(Ending::Shutdown);
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Follows the sentinels' view of the master: holds new commands back
    /// while a failover of this node is under way, and decides to move when
    /// they name another master. True when the view changed.
    fn poll_master(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(watch) = self.watch.as_deref_mut() else {
            return false;
        };
        let mut changed = false;
        while watch.poll_changed(cx).is_ready() {
            changed = true;
        }
        if !changed {
            return false;
        }
        let master = watch.master();
        let on_master = self.node.is_none() || master.is_none() || master == self.node;
        let holding = watch.is_failing_over() && on_master;
        if holding != self.holding {
            if holding {
                tracing::info!("a failover of the master started; holding new commands back");
            } else {
                tracing::info!("the failover ended; sending what was held back");
            }
            self.holding = holding;
        }
        if !on_master && self.moving.is_none() {
            tracing::info!(
                master = ?master,
                "the sentinels named a new master; moving once what is in flight is answered"
            );
            self.moving = master;
        }
        true
    }

    /// While commands are held back, fails those whose time ran out.
    fn expire_held(&mut self, cx: &mut Context<'_>) {
        loop {
            let Some(next) = self.shared.expire_queued(Instant::now(), cx.waker()) else {
                return;
            };
            self.hold_timer.as_mut().reset(next);
            if self.hold_timer.as_mut().poll(cx).is_pending() {
                return;
            }
        }
    }

    /// Takes the queued requests into the batch to write; true when there
    /// were any. `None` when the batch would be small and should wait for
    /// one turn of the scheduler first (see
    /// [`Options::with_write_gathering`](crate::Options::with_write_gathering)):
    /// once a batch, so no batch waits longer.
    fn take(&mut self, cx: &mut Context<'_>) -> Option<bool> {
        let gather = self.shared.options.write_gathering() && !self.gathered;
        let fewest = if gather && self.queue.len() >= GATHER_IN_FLIGHT {
            self.queue.len() / 2
        } else {
            0
        };
        let taken = self
            .shared
            .take(&mut self.write_buf, &mut self.taken, cx.waker(), fewest);
        self.gathered = matches!(taken, Taken::Few);
        Some(match taken {
            Taken::Few => return None,
            Taken::Work => {
                let now = Instant::now();
                if self.queue.is_empty() {
                    // Replies are owed from now, not since the last one.
                    self.shared.progressed(now);
                }
                for request in self.taken.drain(..) {
                    self.queue.push(request, now);
                }
                true
            }
            Taken::Idle => false,
            Taken::Closing => {
                self.closing = true;
                false
            }
        })
    }

    /// Writes as much of the batch as the socket takes. `Ok(true)` when the
    /// batch finished.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        if self.write_buf.is_empty() {
            return Poll::Ready(Ok(false));
        }
        ready!(redis_conn::io::poll_write_all(
            &mut self.stream,
            cx,
            &mut self.write_buf,
            &mut self.written
        ))?;
        self.shared.count_write();
        Poll::Ready(Ok(true))
    }

    /// Reads what has arrived and hands each reply to its request.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.buffered {
            ready!(redis_conn::io::poll_read_open(
                &mut self.stream,
                cx,
                &mut self.read_buf,
                self.room.next_read()
            ))?;
        }
        let now = Instant::now();
        let mut finished = 0;
        let mut demoted = None;
        // Hand out replies a share at a time, letting their callers send
        // again before the next share: the server then has their commands
        // to work on while the rest are handed out, instead of the two
        // sides taking turns with one large batch each.
        let limit = (self.queue.len() / DELIVERY_SHARES).max(MIN_DELIVERY);
        self.buffered = false;
        let result = loop {
            // After a demotion the replies that arrived are all handed out
            // before the connection is given up.
            if finished >= limit && demoted.is_none() {
                self.buffered = true;
                break Ok(());
            }
            let value = match self.room.decode(&mut self.decoder, &mut self.read_buf) {
                Ok(Some(value)) => value,
                Ok(None) => break Ok(()),
                Err(e) => break Err(Error::Protocol(e)),
            };
            if let Value::Push(items) = value {
                // RESP3 out-of-band data answers no request: the cache's
                // invalidations, read here in wire order with the replies,
                // and anything else, for `pushes()`.
                self.shared.push_frame(items);
                continue;
            }
            if self.follows_master && demoted.is_none() {
                if let Value::Error(text) = &value {
                    if text.starts_with(b"READONLY ") {
                        demoted = Some(resp::ServerError::new(text.clone()));
                    }
                }
            }
            let shared = self.shared;
            #[cfg(feature = "otel")]
            let recorder = &mut self.recorder;
            let done = |done: crate::queue::Done<'_>| {
                shared.finished(1);
                #[cfg(feature = "otel")]
                recorder.record(
                    done.command,
                    done.batch,
                    done.last,
                    now.saturating_duration_since(done.called),
                );
                #[cfg(not(feature = "otel"))]
                let _ = done;
            };
            let filled = |fill: &_, value: &_| {
                if let Some(cache) = &shared.cache {
                    cache.filled(fill, value);
                }
            };
            match self.queue.complete(value, now, done, filled) {
                Ok(Completion::Finished) => finished += 1,
                Ok(Completion::Partial) => {}
                Err(Unsolicited) => {
                    break Err(Error::Protocol(resp::Error::InvalidFrame(
                        "unsolicited reply",
                    )));
                }
            }
        };
        // One reply woke one caller: yielding would only make the runtime
        // wake another worker to steal the driver (a futex call and a
        // context switch), for a batch of one. Several make it worth it.
        self.delivered |= finished > 1;
        if finished > 0 {
            self.shared.progressed(now);
        }
        if let (Ok(()), Some(reply)) = (&result, demoted) {
            tracing::warn!("the master answered as a replica (a failover); finding the new master");
            return Poll::Ready(Err(Error::Server(reply)));
        }
        Poll::Ready(result)
    }

    /// Takes the reply to the driver's own `AUTH`, and queues the next when
    /// the credentials are due for renewal: like any request, so it goes
    /// out in order and no caller's reply shifts. A failure is the renewal's
    /// alone (logged and retried); no caller's command fails for it. True
    /// when something happened.
    fn poll_reauth(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(reauth) = &mut self.reauth else {
            return false;
        };
        let mut progress = false;
        if let Some(rx) = &mut self.reauth_reply {
            let Poll::Ready(reply) = Pin::new(rx).poll(cx) else {
                return false;
            };
            self.reauth_reply = None;
            reauth.answered(match reply {
                Ok(Ok(Value::Error(text) | Value::BlobError(text))) => {
                    Err(Error::Auth(resp::ServerError::new(text)))
                }
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(Error::Closed),
            });
            progress = true;
        }
        let Poll::Ready(mut auth) = reauth.poll_auth(cx) else {
            return progress;
        };
        let (tx, rx) = oneshot::channel();
        let request = Request {
            tx: Some(tx),
            replies: 1,
            batch: false,
            timeout: Some(self.shared.options.response_timeout()),
            from_front: false,
            called: Instant::now(),
            len: 0,
            command: CommandName::new(b"AUTH"),
            resend: None,
            fill: None,
        };
        match self
            .shared
            .enqueue_own(Encoded::Slice(auth.encoded()), 1, request)
        {
            Ok(()) => self.reauth_reply = Some(rx),
            Err(error) => reauth.answered(Err(error)),
        }
        true
    }

    /// Fails requests whose replies are overdue. An overdue oldest request
    /// means the server stopped answering: the connection is given up.
    fn poll_deadlines(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Replies that arrived and are still to be handed out are not
        // overdue; `poll_read` keeps the loop going until they are.
        if self.buffered {
            return Poll::Pending;
        }
        let Some(deadline) = self.queue.next_deadline() else {
            return Poll::Pending;
        };
        if self.timer_at != Some(deadline) {
            self.timer.as_mut().reset(deadline);
            self.timer_at = Some(deadline);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timer_at = None;
        let now = Instant::now();
        #[cfg(feature = "otel")]
        let recorder = &mut self.recorder;
        let timed_out = |request: crate::queue::TimedOut| {
            #[cfg(feature = "otel")]
            recorder.record_timeout(
                request.command,
                now.saturating_duration_since(request.called),
            );
            #[cfg(not(feature = "otel"))]
            let _ = request;
        };
        if self.queue.expire_with(now, timed_out) {
            tracing::warn!("no reply within the response timeout; presuming the server gone");
            return Poll::Ready(Err(self.queue.silence()));
        }
        Poll::Ready(Ok(()))
    }
}
