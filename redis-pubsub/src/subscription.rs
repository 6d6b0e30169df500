//! `Subscription`, the stream of one subscribe call's events, `Subscribing`,
//! the future that yields it, and `Messages`, the stream of its messages
//! alone.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::stream::FusedStream;
use futures_util::{Stream, StreamExt};
use redis_conn::Error;

use crate::buffer::{Buffer, Taken};
use crate::shared::Shared;
use crate::table::{Registered, StreamId};
use crate::{Event, Kind, Message};

/// The events of one subscribe call: the messages published to its
/// channels (or matching its patterns), and word of anything missed.
///
/// It is a [`Stream`] of [`Event`]s that ends only when the connection is
/// closed for good or the server refused to re-establish the subscription
/// after a reconnect (both announced by [`Event::Disconnected`]). Several
/// subscriptions to one channel, on one connection, each get every message.
///
/// Dropping it (or calling [`unsubscribe`](Subscription::unsubscribe)) ends
/// it; the server-side subscription ends when the last stream that wants the
/// channel goes.
///
/// Its buffer is bounded ([`PubsubOptions::with_buffer_capacity`](crate::PubsubOptions::with_buffer_capacity)):
/// a reader that falls behind loses the newest messages, not the oldest,
/// and learns how many through [`Event::Lagged`], placed after the messages
/// it already had. Neither the connection nor other streams ever wait for a
/// slow reader.
pub struct Subscription {
    shared: Arc<Shared>,
    id: StreamId,
    kind: Kind,
    channels: Vec<Bytes>,
    buffer: Arc<Buffer>,
    /// Events taken from the buffer in one go, yielded one by one.
    local: VecDeque<Event>,
    ended: bool,
}

/// The future of a subscribe call: resolves into the [`Subscription`] once
/// the server has confirmed every channel, or with the error that refused
/// one.
///
/// The subscribe command is queued when the call is made, not when this is
/// first polled. Dropping it before it resolves unsubscribes again.
#[must_use = "the subscription ends when this future is dropped"]
pub struct Subscribing {
    state: Option<Result<(Subscription, Registered), Error>>,
}

/// The messages of a [`Subscription`], without the other events.
///
/// Gaps (a lost connection, a full buffer) go unreported; read the
/// `Subscription` itself to learn of them.
#[derive(Debug)]
pub struct Messages {
    inner: Subscription,
}

impl Subscription {
    pub(crate) fn new(
        shared: Arc<Shared>,
        id: StreamId,
        kind: Kind,
        channels: Vec<Bytes>,
        buffer: Arc<Buffer>,
    ) -> Subscription {
        Subscription {
            shared,
            id,
            kind,
            channels,
            buffer,
            local: VecDeque::new(),
            ended: false,
        }
    }

    /// Whether this stream is of channels, patterns or shard channels.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The channels (or patterns) of this stream, each once, in the order
    /// given.
    pub fn channels(&self) -> &[Bytes] {
        &self.channels
    }

    /// Ends this stream, as dropping it does. The server-side subscription
    /// of a channel ends when no other stream on this connection wants it.
    /// Safe at any time, also after the connection died.
    pub fn unsubscribe(self) {
        drop(self);
    }

    /// A stream of the messages alone.
    pub fn into_messages(self) -> Messages {
        Messages { inner: self }
    }
}

impl Stream for Subscription {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.local.pop_front() {
                if let Event::Message(_) = event {
                    this.buffer.yielded_message();
                }
                return Poll::Ready(Some(event));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match ready!(this.buffer.poll_take(&mut this.local, cx)) {
                Taken::Events => {}
                Taken::Lagged(n) => return Poll::Ready(Some(Event::Lagged(n))),
                Taken::Closed => this.ended = true,
            }
        }
    }
}

impl FusedStream for Subscription {
    fn is_terminated(&self) -> bool {
        self.ended && self.local.is_empty()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.unregister(self.id);
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("kind", &self.kind)
            .field("channels", &self.channels.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Subscribing {
    pub(crate) fn new(state: Result<(Subscription, Registered), Error>) -> Subscribing {
        Subscribing { state: Some(state) }
    }
}

impl Future for Subscribing {
    type Output = Result<Subscription, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(state) = this.state.take() else {
            // Polled after it resolved: the subscription was handed out.
            return Poll::Ready(Err(Error::Closed));
        };
        let (subscription, mut registered) = state?;
        let rx = match &mut registered {
            Registered::Ready => return Poll::Ready(Ok(subscription)),
            Registered::Waiting(rx) => rx,
        };
        match Pin::new(rx).poll(cx) {
            Poll::Pending => {
                this.state = Some(Ok((subscription, registered)));
                Poll::Pending
            }
            Poll::Ready(Ok(Ok(()))) => Poll::Ready(Ok(subscription)),
            Poll::Ready(Ok(Err(e))) => Poll::Ready(Err(e)),
            // The table went without answering: the driver is gone.
            Poll::Ready(Err(_)) => Poll::Ready(Err(Error::Closed)),
        }
    }
}

impl fmt::Debug for Subscribing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            None => "done",
            Some(Err(_)) => "failed",
            Some(Ok((_, Registered::Ready))) => "ready",
            Some(Ok((_, Registered::Waiting(_)))) => "waiting",
        };
        f.debug_struct("Subscribing")
            .field("state", &state)
            .finish()
    }
}

impl Messages {
    /// The subscription, with its other events.
    pub fn into_inner(self) -> Subscription {
        self.inner
    }

    /// The subscription.
    pub fn get_ref(&self) -> &Subscription {
        &self.inner
    }
}

impl Stream for Messages {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        loop {
            match ready!(self.inner.poll_next_unpin(cx)) {
                Some(Event::Message(m)) => return Poll::Ready(Some(m)),
                Some(_) => {}
                None => return Poll::Ready(None),
            }
        }
    }
}

impl FusedStream for Messages {
    fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }
}
