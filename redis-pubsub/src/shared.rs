//! What the handles, the subscription streams and the driver share: the
//! table behind one lock, the driver's waker, and how many users are left.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use bytes::{Bytes, BytesMut};
use redis_conn::Error;
use resp::ServerError;
use tokio::sync::Notify;

use crate::buffer::Buffer;
use crate::frame::Frame;
use crate::table::{Received, Registered, StreamId, Table};
use crate::{Kind, PubsubOptions};

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Tells the driver, while it waits to reconnect, that nobody is left.
    pub(crate) closing: Notify,
    pub(crate) options: PubsubOptions,
    /// The driver ended, and who waits for that.
    ended: AtomicBool,
    ended_notify: Notify,
    messages: AtomicU64,
    /// Shared with every stream's buffer, which counts what it drops.
    pub(crate) lagged: Arc<AtomicU64>,
    reconnects: AtomicU64,
    /// The server, as the metrics name it.
    #[cfg(feature = "otel")]
    pub(crate) attributes: Arc<[opentelemetry::KeyValue]>,
}

/// Counters a pub/sub connection keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PubsubStats {
    /// Messages received and handed to at least one stream.
    pub messages: u64,
    /// Messages dropped because a stream's reader was too far behind
    /// (what [`Event::Lagged`](crate::Event::Lagged) tells it), summed over
    /// every stream.
    pub lagged: u64,
    /// Connections made after the first one.
    pub reconnects: u64,
}

struct Inner {
    table: Table,
    /// The driver, when it waits for work.
    driver: Option<Waker>,
    /// The handle (all clones together) plus every subscription stream not
    /// dropped yet. At zero the driver closes the connection.
    users: usize,
    /// Closed on purpose ([`PubsubConnection::close`](crate::PubsubConnection::close)),
    /// whoever is left.
    shut: bool,
}

/// What the driver found when it looked for work.
pub(crate) enum Work {
    /// Commands were encoded into its write buffer.
    Commands,
    /// Nothing to write; its waker is registered.
    Idle,
    /// Nobody is left: close.
    Closing,
}

/// What a batch of frames did.
#[derive(Debug, Default, Clone)]
pub(crate) struct Batch {
    /// Some command got (part of) its answer.
    pub(crate) answered: bool,
    /// Messages delivered.
    pub(crate) delivered: usize,
    /// The answer to the `AUTH` that renewed the credentials, when it came.
    pub(crate) auth: Option<Result<(), ServerError>>,
}

impl Shared {
    /// Shared state with one user: the handle about to be made.
    pub(crate) fn new(config: &redis_conn::ConnectionConfig, options: PubsubOptions) -> Shared {
        #[cfg(not(feature = "otel"))]
        let _ = config;
        Shared {
            inner: Mutex::new(Inner {
                table: Table::new(),
                driver: None,
                users: 1,
                shut: false,
            }),
            closing: Notify::new(),
            options,
            ended: AtomicBool::new(false),
            ended_notify: Notify::new(),
            messages: AtomicU64::new(0),
            lagged: Arc::new(AtomicU64::new(0)),
            reconnects: AtomicU64::new(0),
            #[cfg(feature = "otel")]
            attributes: redis_conn::otel::server_attributes(config.address()).into(),
        }
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> PubsubStats {
        PubsubStats {
            messages: self.messages.load(Ordering::Relaxed),
            lagged: self.lagged.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the table whole (it never panics
        // half-way on input), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new stream; it counts as a user until
    /// [`unregister`](Shared::unregister).
    pub(crate) fn register(
        &self,
        kind: Kind,
        channels: Vec<Bytes>,
        buffer: Arc<Buffer>,
    ) -> Result<(StreamId, Registered), Error> {
        let mut inner = self.lock();
        let registered = inner.table.register(kind, channels, buffer)?;
        inner.users += 1;
        let waker = if inner.table.has_queued() {
            inner.driver.take()
        } else {
            None
        };
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(registered)
    }

    /// A stream is gone: its channels may be unsubscribed.
    pub(crate) fn unregister(&self, id: StreamId) {
        let mut inner = self.lock();
        inner.table.remove(id);
        self.release_locked(inner);
    }

    /// The handle (its last clone) is gone.
    pub(crate) fn release(&self) {
        let inner = self.lock();
        self.release_locked(inner);
    }

    fn release_locked(&self, mut inner: MutexGuard<'_, Inner>) {
        inner.users = inner.users.saturating_sub(1);
        let closing = inner.users == 0;
        let waker = if closing || inner.table.has_queued() {
            inner.driver.take()
        } else {
            None
        };
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        if closing {
            self.closing.notify_one();
        }
    }

    /// Whether subscriptions can be made now; if not, why.
    pub(crate) fn status(&self) -> Result<(), Error> {
        self.lock().table.status()
    }

    /// Encodes the queued commands into `out`, or registers the driver's
    /// waker when there are none.
    pub(crate) fn take_work(&self, out: &mut BytesMut, waker: &Waker) -> Work {
        let mut inner = self.lock();
        if inner.users == 0 || inner.shut {
            return Work::Closing;
        }
        if inner.table.write_commands(out) > 0 {
            return Work::Commands;
        }
        if !inner.driver.as_ref().is_some_and(|w| w.will_wake(waker)) {
            inner.driver = Some(waker.clone());
        }
        Work::Idle
    }

    /// Encodes a `PING` into `out`.
    pub(crate) fn write_ping(&self, out: &mut BytesMut) {
        self.lock().table.write_ping(out);
    }

    /// Encodes `auth`, an `AUTH` that renews the credentials, into `out`,
    /// in turn with the other commands.
    pub(crate) fn write_auth(&self, out: &mut BytesMut, auth: &mut resp::Command) {
        self.lock().table.write_auth(out, auth);
    }

    /// Whether commands written wait for answers.
    pub(crate) fn is_awaiting_replies(&self) -> bool {
        self.lock().table.is_awaiting_replies()
    }

    /// Hands a batch of frames to the table under one lock, then wakes each
    /// reader that got something once.
    pub(crate) fn receive(&self, frames: &mut Vec<Frame>, wakes: &mut Vec<Arc<Buffer>>) -> Batch {
        let mut batch = Batch::default();
        let mut inner = self.lock();
        for frame in frames.drain(..) {
            let unexpected = match &frame {
                Frame::Unexpected(what) => Some(what.clone()),
                _ => None,
            };
            match inner.table.receive(frame) {
                Received::Delivered => batch.delivered += 1,
                Received::Unrouted => {
                    tracing::trace!("a message for a channel no stream wants any more");
                }
                Received::Answered => batch.answered = true,
                Received::Authenticated => {
                    batch.answered = true;
                    batch.auth = Some(Ok(()));
                }
                Received::Refused {
                    command: "AUTH",
                    error,
                } => {
                    batch.answered = true;
                    batch.auth = Some(Err(error));
                }
                Received::Refused { command, error } => {
                    batch.answered = true;
                    tracing::warn!(command, code = error.code(), "the server refused a command");
                }
                Received::Unexpected(why) => match unexpected {
                    Some(what) => tracing::warn!(
                        frame = what.frame,
                        name = ?what.name.as_deref().map(String::from_utf8_lossy),
                        "ignored a frame pub/sub does not use"
                    ),
                    None => tracing::warn!(why, "ignored an unexpected frame"),
                },
            }
        }
        inner.table.take_wakes(wakes);
        drop(inner);
        for buffer in wakes.drain(..) {
            buffer.wake();
        }
        if batch.delivered > 0 {
            self.messages
                .fetch_add(batch.delivered as u64, Ordering::Relaxed);
        }
        batch
    }

    /// The connection is lost (`for_good`: no reconnect will follow).
    pub(crate) fn disconnected(&self, reason: &Arc<Error>, for_good: bool) {
        let mut wakes = Vec::new();
        let mut inner = self.lock();
        inner.table.disconnected(reason, for_good);
        inner.table.take_wakes(&mut wakes);
        drop(inner);
        for buffer in wakes {
            buffer.wake();
        }
    }

    /// While reconnecting: the latest reason subscriptions are refused.
    pub(crate) fn set_reason(&self, reason: Arc<Error>) {
        self.lock().table.set_reason(reason);
    }

    /// A new connection is up; returns how many streams it re-establishes.
    pub(crate) fn reconnected(&self) -> usize {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        self.lock().table.reconnected()
    }

    /// Closes on purpose: every stream ends and every waiting call fails
    /// now, new subscriptions are refused, and the driver ends.
    pub(crate) fn shut(&self) {
        let mut inner = self.lock();
        inner.shut = true;
        let driver = inner.driver.take();
        drop(inner);
        self.close();
        if let Some(waker) = driver {
            waker.wake();
        }
        self.closing.notify_one();
    }

    /// The driver ended: the connection is closed for good.
    pub(crate) fn set_ended(&self) {
        self.ended.store(true, Ordering::Release);
        self.ended_notify.notify_waiters();
    }

    /// Waits until the driver ended.
    pub(crate) async fn ended(&self) {
        loop {
            let notified = self.ended_notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.ended.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Shuts down: every stream left ends, every waiting call fails.
    pub(crate) fn close(&self) {
        let mut wakes = Vec::new();
        let mut inner = self.lock();
        inner.table.close();
        inner.table.take_wakes(&mut wakes);
        drop(inner);
        for buffer in wakes {
            buffer.wake();
        }
    }

    /// Channels, patterns and shard channels held.
    pub(crate) fn counts(&self) -> [usize; 3] {
        self.lock().table.counts()
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [channels, patterns, shard_channels] = self.counts();
        f.debug_struct("Shared")
            .field("channels", &channels)
            .field("patterns", &patterns)
            .field("shard_channels", &shard_channels)
            .finish_non_exhaustive()
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
        crate::otel::counters().retire(&self.attributes, redis_conn::otel::Counted::counters(self));
    }
}
