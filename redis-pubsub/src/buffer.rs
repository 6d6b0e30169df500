//! `Buffer`, the bounded queue between the driver and one subscription
//! stream, with its slow-reader policy: drop the newest, count, report.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::{Event, Message};

/// The events of one stream not yet read, at most `capacity` of them
/// messages.
///
/// The driver pushes a whole read batch, then wakes the reader once (see
/// [`Buffer::wake`]); the reader takes everything queued in one lock
/// ([`Buffer::poll_take`]) and yields it from a queue of its own. Messages
/// held by the reader still count against the capacity, through `taken`.
///
/// When a message arrives and `capacity` messages are already waiting, it is
/// dropped and counted. Once there is room again, the count is queued as one
/// [`Event::Lagged`] ahead of the next message, so the reader sees the
/// messages it had, then how many it missed, then newer ones. Control events
/// (`Disconnected`, `Resubscribed`, `Lagged`) are never dropped; repeated
/// disconnections while the reader is away collapse into one
/// `Disconnected`, so they cannot grow without bound either.
#[derive(Debug)]
pub(crate) struct Buffer {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Messages the reader moved to its own queue and has not yielded yet.
    taken: AtomicUsize,
    /// The connection's count of dropped messages, when it keeps one.
    lagged: Option<Arc<AtomicU64>>,
}

#[derive(Debug, Default)]
struct Inner {
    events: VecDeque<Event>,
    /// Messages among `events`.
    messages: usize,
    /// Messages dropped since the reader last heard of drops.
    dropped: u64,
    /// No more events will come: the stream ends once drained.
    closed: bool,
    /// Something was pushed since the last [`Buffer::wake`].
    unwoken: bool,
    waker: Option<Waker>,
}

/// What the reader found.
#[derive(Debug, PartialEq)]
pub(crate) enum Taken {
    /// Events were moved to the reader's queue.
    Events,
    /// Nothing queued, but messages were dropped: report it now.
    Lagged(u64),
    /// Nothing queued and nothing more will come.
    Closed,
}

impl Buffer {
    /// A buffer that holds at most `capacity` messages (at least one).
    pub(crate) fn new(capacity: usize) -> Buffer {
        Buffer {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            taken: AtomicUsize::new(0),
            lagged: None,
        }
    }

    /// As [`new`](Buffer::new), adding each message it drops to `lagged`.
    pub(crate) fn counted(capacity: usize, lagged: Arc<AtomicU64>) -> Buffer {
        Buffer {
            lagged: Some(lagged),
            ..Buffer::new(capacity)
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the queue whole; a panic elsewhere
        // while holding the lock cannot break it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a message, or drops and counts it when the reader is
    /// `capacity` messages behind. True when this is the first push since
    /// the last [`wake`](Buffer::wake): the caller should wake it later.
    pub(crate) fn push_message(&self, message: Message) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        if inner.messages + self.taken.load(Ordering::Acquire) >= self.capacity {
            inner.dropped += 1;
            if let Some(lagged) = &self.lagged {
                lagged.fetch_add(1, Ordering::Relaxed);
            }
            return false;
        }
        if inner.dropped > 0 {
            let n = std::mem::take(&mut inner.dropped);
            inner.events.push_back(Event::Lagged(n));
        }
        inner.events.push_back(Event::Message(message));
        inner.messages += 1;
        first_push(&mut inner)
    }

    /// Queues a control event, never dropped. A disconnection right after a
    /// disconnection (with nothing else between, or only the resubscription
    /// that it undid) replaces it. True as for
    /// [`push_message`](Buffer::push_message).
    pub(crate) fn push_event(&self, event: Event) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        if inner.dropped > 0 {
            let n = std::mem::take(&mut inner.dropped);
            inner.events.push_back(Event::Lagged(n));
        }
        if let Event::Disconnected(_) = event {
            if matches!(inner.events.back(), Some(Event::Resubscribed)) {
                inner.events.pop_back();
            }
            if matches!(inner.events.back(), Some(Event::Disconnected(_))) {
                inner.events.pop_back();
            }
        }
        inner.events.push_back(event);
        first_push(&mut inner)
    }

    /// Ends the stream once what is queued has been read. True as for
    /// [`push_message`](Buffer::push_message).
    pub(crate) fn close(&self) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        inner.closed = true;
        first_push(&mut inner)
    }

    /// Wakes the reader, if it waits, after a batch of pushes.
    pub(crate) fn wake(&self) {
        let mut inner = self.lock();
        inner.unwoken = false;
        let waker = inner.waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Moves everything queued into the reader's (empty) `local` queue, or
    /// registers the reader's waker when there is nothing.
    pub(crate) fn poll_take(
        &self,
        local: &mut VecDeque<Event>,
        cx: &mut Context<'_>,
    ) -> Poll<Taken> {
        let mut inner = self.lock();
        if !inner.events.is_empty() {
            std::mem::swap(local, &mut inner.events);
            let messages = std::mem::take(&mut inner.messages);
            self.taken.fetch_add(messages, Ordering::Release);
            return Poll::Ready(Taken::Events);
        }
        if inner.dropped > 0 {
            return Poll::Ready(Taken::Lagged(std::mem::take(&mut inner.dropped)));
        }
        if inner.closed {
            return Poll::Ready(Taken::Closed);
        }
        if !inner
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            inner.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The reader yielded one message it had taken: room for another.
    pub(crate) fn yielded_message(&self) {
        self.taken.fetch_sub(1, Ordering::Release);
    }

    /// The most messages it holds.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

fn first_push(inner: &mut Inner) -> bool {
    !std::mem::replace(&mut inner.unwoken, true)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;
    use std::task::Wake;

    use bytes::Bytes;

    use super::*;
    use crate::Kind;

    /// A reader of a buffer, as a subscription is, without the async.
    pub(crate) struct Reader {
        pub(crate) buffer: Arc<Buffer>,
        local: VecDeque<Event>,
    }

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Reader {
        pub(crate) fn new(buffer: Arc<Buffer>) -> Reader {
            Reader {
                buffer,
                local: VecDeque::new(),
            }
        }

        /// The next event, `Ok(None)` when the stream ended, `Err(())` when
        /// the reader would wait.
        pub(crate) fn next(&mut self) -> Result<Option<Event>, ()> {
            if let Some(event) = self.local.pop_front() {
                if let Event::Message(_) = event {
                    self.buffer.yielded_message();
                }
                return Ok(Some(event));
            }
            let waker = Arc::new(CountingWaker(AtomicUsize::new(0))).into();
            let mut cx = Context::from_waker(&waker);
            match self.buffer.poll_take(&mut self.local, &mut cx) {
                Poll::Ready(Taken::Events) => self.next(),
                Poll::Ready(Taken::Lagged(n)) => Ok(Some(Event::Lagged(n))),
                Poll::Ready(Taken::Closed) => Ok(None),
                Poll::Pending => Err(()),
            }
        }

        /// Everything readable now, as short strings: `m:<payload>`,
        /// `lagged:<n>`, `disconnected`, `resubscribed`, `end`.
        pub(crate) fn drain(&mut self) -> Vec<String> {
            let mut out = Vec::new();
            loop {
                match self.next() {
                    Ok(Some(event)) => out.push(describe(&event)),
                    Ok(None) => {
                        out.push("end".to_string());
                        return out;
                    }
                    Err(()) => return out,
                }
            }
        }
    }

    pub(crate) fn describe(event: &Event) -> String {
        match event {
            Event::Message(m) => format!("m:{}", String::from_utf8_lossy(m.payload())),
            Event::Lagged(n) => format!("lagged:{n}"),
            Event::Disconnected(_) => "disconnected".to_string(),
            Event::Resubscribed => "resubscribed".to_string(),
        }
    }

    fn msg(payload: &str) -> Message {
        Message::new(
            Kind::Channel,
            Bytes::from_static(b"c"),
            None,
            Bytes::copy_from_slice(payload.as_bytes()),
        )
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_slow_reader_gets_what_it_had_then_the_count_then_newer_messages() {
        let buffer = Arc::new(Buffer::new(3));
        let mut reader = Reader::new(buffer.clone());
        for i in 0..10 {
            buffer.push_message(msg(&i.to_string()));
        }
        assert_eq!(reader.drain(), strings(&["m:0", "m:1", "m:2", "lagged:7"]));
        buffer.push_message(msg("10"));
        assert_eq!(reader.drain(), strings(&["m:10"]));
    }

    #[test]
    fn messages_held_by_the_reader_count_against_the_capacity() {
        let buffer = Arc::new(Buffer::new(2));
        let mut reader = Reader::new(buffer.clone());
        buffer.push_message(msg("a"));
        buffer.push_message(msg("b"));
        // The reader takes both into its own queue and yields one.
        assert_eq!(
            reader.next().unwrap().map(|e| describe(&e)).as_deref(),
            Some("m:a")
        );
        buffer.push_message(msg("c")); // room for one
        buffer.push_message(msg("d")); // full: b and c are held
        assert_eq!(reader.drain(), strings(&["m:b", "m:c", "lagged:1"]));
    }

    #[test]
    fn the_lag_is_reported_in_order_before_newer_messages() {
        let buffer = Arc::new(Buffer::new(1));
        let mut reader = Reader::new(buffer.clone());
        buffer.push_message(msg("a"));
        buffer.push_message(msg("b"));
        buffer.push_message(msg("c"));
        assert_eq!(reader.drain(), strings(&["m:a", "lagged:2"]));
        buffer.push_message(msg("d"));
        buffer.push_message(msg("e"));
        buffer.push_message(msg("f"));
        // d waits in the buffer; e and f are dropped; the reader then makes
        // room and g arrives: the lag goes before g.
        assert_eq!(
            reader.next().unwrap().map(|e| describe(&e)).as_deref(),
            Some("m:d")
        );
        buffer.push_message(msg("g"));
        assert_eq!(reader.drain(), strings(&["lagged:2", "m:g"]));
    }

    #[test]
    fn control_events_pass_a_full_buffer_and_disconnections_collapse() {
        let buffer = Arc::new(Buffer::new(1));
        let mut reader = Reader::new(buffer.clone());
        buffer.push_message(msg("a"));
        buffer.push_message(msg("dropped"));
        for _ in 0..1000 {
            buffer.push_event(Event::Disconnected(redis_conn::Error::Closed));
            buffer.push_event(Event::Resubscribed);
        }
        assert_eq!(
            reader.drain(),
            strings(&["m:a", "lagged:1", "disconnected", "resubscribed"])
        );
    }

    #[test]
    fn a_closed_buffer_ends_after_its_events() {
        let buffer = Arc::new(Buffer::new(4));
        let mut reader = Reader::new(buffer.clone());
        buffer.push_message(msg("a"));
        buffer.push_event(Event::Disconnected(redis_conn::Error::Closed));
        buffer.close();
        buffer.push_message(msg("after"));
        assert_eq!(reader.drain(), strings(&["m:a", "disconnected", "end"]));
        assert_eq!(reader.drain(), strings(&["end"]));
    }

    #[test]
    fn the_reader_is_woken_once_per_batch() {
        let buffer = Buffer::new(100);
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = counter.clone().into();
        let mut cx = Context::from_waker(&waker);
        let mut local = VecDeque::new();
        assert_eq!(buffer.poll_take(&mut local, &mut cx), Poll::Pending);
        assert!(buffer.push_message(msg("a")), "first push of the batch");
        assert!(!buffer.push_message(msg("b")));
        assert!(!buffer.push_event(Event::Resubscribed));
        buffer.wake();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(buffer.push_message(msg("c")), "a new batch");
        buffer.wake(); // the reader has not polled again: no waker to wake
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(buffer.capacity(), 100);
    }
}
