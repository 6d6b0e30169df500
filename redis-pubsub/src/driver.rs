//! The driver: one task per connection that owns the socket, writes the
//! table's commands, decodes whole read buffers into the table, pings a
//! quiet server, and reconnects.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use redis_conn::io::ReadRoom;
use redis_conn::{Connection, ConnectionConfig, Error, MasterWatch, Protocol, Reauth, Stream};
use resp::Decoder;
use tokio::time::{Instant, Sleep};

use crate::buffer::Buffer;
use crate::frame::Frame;
use crate::shared::{Shared, Work};

/// Starts the task that runs a connection. However the task ends (even
/// dropped with its runtime before it first ran), the connection is closed
/// for its users from then on, not left waiting for a driver that is gone.
pub(crate) fn spawn(shared: Arc<Shared>, config: ConnectionConfig, conn: Connection<Stream>) {
    let guard = CloseOnDrop(shared);
    tokio::spawn(async move {
        run(&guard.0, config, conn).await;
        drop(guard);
    });
}

/// Runs a connection until every handle and stream is gone, reconnecting as
/// the config's policy says.
async fn run(shared: &Shared, config: ConnectionConfig, mut conn: Connection<Stream>) {
    let policy = config.reconnect();
    // Behind sentinels, their announcement of a new master moves the
    // subscriptions there at once: publishers follow the master too.
    let mut watch = MasterWatch::follow(&config);
    loop {
        let node = conn.node().map(|(host, port)| (host.to_owned(), port));
        let reason = match Io::new(shared, &config, conn, watch.as_mut(), node)
            .run()
            .await
        {
            Ending::Shutdown => {
                tracing::debug!("every handle and subscription is gone; closing the connection");
                return;
            }
            Ending::Lost(reason) => Arc::new(reason),
        };
        let [channels, patterns, shard_channels] = shared.counts();
        if !policy.is_enabled() {
            tracing::warn!(error = %reason, "connection lost; reconnecting is off, every subscription ends");
            shared.disconnected(&reason, true);
            return;
        }
        tracing::warn!(
            error = %reason,
            channels,
            patterns,
            shard_channels,
            "connection lost; reconnecting"
        );
        shared.disconnected(&reason, false);
        let stop = shared.closing.notified();
        let failed = |error| shared.set_reason(Arc::new(error));
        conn = match redis_conn::reconnect(&config, stop, failed).await {
            Some(conn) => conn,
            None => return,
        };
        let streams = shared.reconnected();
        tracing::info!(streams, "connection restored; resubscribing");
    }
}

struct CloseOnDrop(Arc<Shared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
        self.0.set_ended();
    }
}

/// Why a connection's I/O loop stopped.
enum Ending {
    /// Nobody is left.
    Shutdown,
    /// The connection broke, or the server stopped answering.
    Lost(Error),
}

/// The I/O loop of one connection.
struct Io<'a> {
    shared: &'a Shared,
    stream: Stream,
    read_buf: BytesMut,
    /// How much room to keep free before each read: one read can bring
    /// thousands of small messages, all handed over under one lock.
    room: ReadRoom,
    decoder: Decoder,
    /// Commands being written, and how much of them is out.
    write_buf: BytesMut,
    written: usize,
    /// Frames of the current read, and the readers to wake after it: kept
    /// to reuse their memory.
    frames: Vec<Frame>,
    wakes: Vec<Arc<Buffer>>,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    /// When the server last sent anything.
    last_read: Instant,
    /// Since when the oldest command written has waited for an answer (or
    /// since the last answer to it): `None` when nothing is owed.
    owed_since: Option<Instant>,
    /// The sentinels' view of the master, when the connection follows one.
    watch: Option<&'a mut MasterWatch>,
    /// The node the connection reached through the sentinels.
    node: Option<(String, u16)>,
    /// Renews expiring credentials with `AUTH` on the live connection
    /// (RESP3 only).
    reauth: Option<Reauth>,
}

impl<'a> Io<'a> {
    fn new(
        shared: &'a Shared,
        config: &ConnectionConfig,
        conn: Connection<Stream>,
        watch: Option<&'a mut MasterWatch>,
        node: Option<(String, u16)>,
    ) -> Io<'a> {
        let reauth = Some(Reauth::new(config, conn.handshake())).filter(Reauth::is_active);
        // "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are
        // allowed in this context" (Redis, to AUTH on a subscribed RESP2
        // connection): there, the credentials are renewed at the next
        // reconnect only.
        let reauth = match reauth {
            Some(_) if conn.protocol() == Protocol::Resp2 => {
                tracing::debug!("expiring credentials on a RESP2 pub/sub connection: renewed at the next reconnect only");
                None
            }
            reauth => reauth,
        };
        let parts = conn.into_parts();
        let now = Instant::now();
        Io {
            shared,
            stream: parts.stream,
            read_buf: parts.read_buf,
            room: ReadRoom::default(),
            decoder: parts.decoder,
            write_buf: BytesMut::with_capacity(4 * 1024),
            written: 0,
            frames: Vec::new(),
            wakes: Vec::new(),
            timer: Box::pin(tokio::time::sleep_until(now)),
            timer_at: None,
            last_read: now,
            owed_since: None,
            watch,
            node,
            reauth,
        }
    }

    async fn run(mut self) -> Ending {
        // Bytes that came right after the handshake are frames too.
        if let Err(e) = self.process(Instant::now()) {
            return Ending::Lost(e);
        }
        poll_fn(|cx| self.poll(cx)).await
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Ending> {
        loop {
            let now = Instant::now();
            if let Some(moved) = self.poll_master(cx) {
                return Poll::Ready(Ending::Lost(moved));
            }
            let mut progress = false;
            if self.write_buf.is_empty() {
                match self.shared.take_work(&mut self.write_buf, cx.waker()) {
                    Work::Commands => {
                        self.owed_since.get_or_insert(now);
                        progress = true;
                    }
                    Work::Idle => {}
                    Work::Closing => return Poll::Ready(Ending::Shutdown),
                }
            }
            match self.poll_write(cx) {
                Poll::Ready(Ok(wrote)) => progress |= wrote,
                Poll::Ready(Err(e)) => return Poll::Ready(Ending::Lost(e)),
                Poll::Pending => {}
            }
            match self.poll_read(cx, now) {
                Poll::Ready(Ok(())) => progress = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Ending::Lost(e)),
                Poll::Pending => {}
            }
            match self.poll_timer(cx, now) {
                Poll::Ready(Ok(())) => progress = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Ending::Lost(e)),
                Poll::Pending => {}
            }
            if let Some(reauth) = &mut self.reauth {
                if let Poll::Ready(mut auth) = reauth.poll_auth(cx) {
                    // In turn with the (un)subscribe commands; its answer
                    // comes back through the table.
                    self.shared.write_auth(&mut self.write_buf, &mut auth);
                    self.owed_since.get_or_insert(now);
                    progress = true;
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Why the connection must move: the sentinels named a master other
    /// than the node it is on. Messages published on the new master never
    /// reach the old one.
    fn poll_master(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        let watch = self.watch.as_deref_mut()?;
        let mut changed = false;
        while watch.poll_changed(cx).is_ready() {
            changed = true;
        }
        let master = watch.master();
        if !changed || self.node.is_none() || master.is_none() || master == self.node {
            return None;
        }
        let (host, port) = master?;
        Some(Error::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            format!("the sentinels named a new master, {host}:{port}"),
        )))
    }

    /// Writes as much as the socket takes. `Ok(true)` when everything went
    /// out.
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
        Poll::Ready(Ok(true))
    }

    /// Reads what has arrived and hands all of it to the table at once.
    fn poll_read(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Result<(), Error>> {
        ready!(redis_conn::io::poll_read_open(
            &mut self.stream,
            cx,
            &mut self.read_buf,
            self.room.next_read()
        ))?;
        self.last_read = now;
        Poll::Ready(self.process(now))
    }

    /// Decodes every whole frame in the read buffer and hands them over.
    fn process(&mut self, now: Instant) -> Result<(), Error> {
        let mut result = Ok(());
        loop {
            match self.room.decode(&mut self.decoder, &mut self.read_buf) {
                Ok(Some(value)) => self.frames.push(Frame::read(value)),
                Ok(None) => break,
                Err(e) => {
                    // The frames before the bad one are good: deliver them.
                    result = Err(Error::Protocol(e));
                    break;
                }
            }
        }
        if self.frames.is_empty() {
            return result;
        }
        let batch = self.shared.receive(&mut self.frames, &mut self.wakes);
        if let (Some(reauth), Some(answer)) = (&mut self.reauth, batch.auth) {
            reauth.answered(answer.map_err(Error::Auth));
        }
        if batch.answered {
            self.owed_since = self.shared.is_awaiting_replies().then_some(now);
        }
        result
    }

    /// Pings a quiet server; gives up on one that owes an answer and has
    /// sent nothing for the response timeout.
    fn poll_timer(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Result<(), Error>> {
        let options = &self.shared.options;
        // A server that keeps sending is alive, even if the answer owed is
        // still queued behind a flood of messages: only silence counts.
        // A deadline past the end of time, or a zero ping interval, is none.
        let deadline = match self.owed_since {
            Some(since) => since
                .max(self.last_read)
                .checked_add(options.response_timeout()),
            None if options.ping_interval().is_zero() => None,
            None => self.last_read.checked_add(options.ping_interval()),
        };
        let Some(deadline) = deadline else {
            return Poll::Pending;
        };
        if deadline > now {
            if self.timer_at != Some(deadline) {
                self.timer.as_mut().reset(deadline);
                self.timer_at = Some(deadline);
            }
            ready!(self.timer.as_mut().poll(cx));
        }
        self.timer_at = None;
        if self.owed_since.is_some() {
            tracing::warn!("no answer within the response timeout; presuming the server gone");
            return Poll::Ready(Err(Error::Timeout {
                what: "response",
                command: None,
                limit: Some(options.response_timeout()),
            }));
        }
        tracing::trace!("quiet connection; sending PING");
        self.shared.write_ping(&mut self.write_buf);
        self.owed_since = Some(now);
        Poll::Ready(Ok(()))
    }
}
