//! The in-flight queue: requests written and waiting for their replies, in
//! wire order. Pure and synchronous; the driver only feeds it.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use redis_conn::{CommandName, Error};
use resp::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cache::Fill;

/// Where a request's reply goes.
pub(crate) type ReplyTx = oneshot::Sender<Result<Value, Error>>;

/// A request as a sender hands it over, next to its encoded bytes.
#[derive(Debug)]
pub(crate) struct Request {
    /// The caller waiting for the reply; `None` for fire-and-forget.
    pub(crate) tx: Option<ReplyTx>,
    /// How many replies the request's bytes produce: 1 for a command, N for
    /// a pipeline or transaction.
    pub(crate) replies: usize,
    /// A pipeline or transaction: its replies are delivered together as one
    /// array, even when there is only one.
    pub(crate) batch: bool,
    /// How long the caller waits for the reply, counted from `called`;
    /// `None` waits as long as the server does (a blocking command with
    /// timeout 0).
    pub(crate) timeout: Option<Duration>,
    /// The clock starts when the request is the oldest on the socket, not
    /// when it is called: for blocking commands, whose time only starts to
    /// run when the server gets to them.
    pub(crate) from_front: bool,
    /// When the caller sent it: its timeout counts from here, so time spent
    /// queued (behind a large write, or waiting for a reconnect) is part of
    /// it.
    pub(crate) called: Instant,
    /// The length of its encoded bytes.
    pub(crate) len: usize,
    /// The command's name (a pipeline's first), for a timeout's error.
    pub(crate) command: CommandName,
    /// A read its caller allows to be retried: its encoded bytes, to be
    /// sent once more on the next connection if this one breaks before its
    /// reply comes. `None` for everything else.
    /// Boxed: most requests have none, and a request small enough is moved
    /// without a call to `memcpy`.
    pub(crate) resend: Option<Box<Bytes>>,
    /// A cached read's pending entries, which its reply fills when it is
    /// paired (`None` for everything else, and always without a cache).
    pub(crate) fill: Option<Box<Fill>>,
}

impl Request {
    /// When the caller stops waiting, as long as the request is not written:
    /// `None` for never.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timeout.and_then(|t| self.called.checked_add(t))
    }
}

/// What happened to a reply handed to [`Queue::complete`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Completion {
    /// Part of a batch; the request still waits for more replies.
    Partial,
    /// The request is finished (delivered, or discarded if its caller left).
    Finished,
}

/// A request just finished, as [`Queue::complete`] tells of it: for the
/// metrics of the `otel` feature, and empty without it, so that nothing is
/// copied for them.
#[derive(Debug)]
pub(crate) struct Done<'a> {
    /// The command's name (a batch's first).
    #[cfg(feature = "otel")]
    pub(crate) command: CommandName,
    /// A pipeline or transaction.
    #[cfg(feature = "otel")]
    pub(crate) batch: bool,
    /// When its caller sent it.
    #[cfg(feature = "otel")]
    pub(crate) called: Instant,
    /// Its reply; a batch's last.
    #[cfg(feature = "otel")]
    pub(crate) last: &'a Value,
    #[cfg(not(feature = "otel"))]
    pub(crate) last: std::marker::PhantomData<&'a Value>,
}

/// A request whose caller's time ran out, as [`Queue::expire_with`]
/// tells of it.
#[derive(Debug)]
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) struct TimedOut {
    /// The command's name (a batch's first).
    pub(crate) command: CommandName,
    /// When its caller sent it.
    #[cfg(feature = "otel")]
    pub(crate) called: Instant,
}

/// A reply arrived but no request was waiting for one.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unsolicited;

/// A read to send once more on the next connection: the request (which is
/// not retried again) and its encoded bytes.
#[derive(Debug)]
pub(crate) struct Retry {
    pub(crate) request: Request,
    pub(crate) bytes: Bytes,
}

/// Requests written to the socket, oldest first.
///
/// Invariant: the front slot owns the next reply off the wire. A caller that
/// gives up (dropped future, timeout) keeps its slot until its reply arrives
/// and is discarded, so no reply ever shifts onto the next caller.
#[derive(Debug)]
pub(crate) struct Queue {
    slots: VecDeque<Slot>,
    /// How long the oldest request may go unanswered before the server is
    /// presumed gone: the connection's response timeout (or the request's
    /// own timeout, when that is longer).
    patience: Duration,
    /// The earliest time `expire` has work, or earlier: refreshed by `expire`.
    next_deadline: Option<Instant>,
}

#[derive(Debug)]
struct Slot {
    tx: Option<ReplyTx>,
    remaining: usize,
    /// Replies gathered so far, for a batch request.
    collected: Option<Vec<Value>>,
    /// When the caller stops waiting; `None` once told, or never.
    deadline: Option<Instant>,
    /// When, as the oldest request, its missing reply means the server is
    /// gone; `None` for a request that may wait as long as the server takes.
    give_up: Option<Instant>,
    /// A timeout whose clock starts when this request is the oldest.
    deferred: Option<Duration>,
    /// The command's name and its timeout, for the error when it is late.
    command: CommandName,
    limit: Option<Duration>,
    /// For a read that may be retried, the request to queue again (without
    /// its caller, which `tx` holds) and its bytes.
    /// Boxed: most slots have none, and a small slot moves cheaply.
    retry: Option<Box<Retry>>,
    /// For a cached read, what its reply fills.
    fill: Option<Box<Fill>>,
    /// When the caller sent it, for the operation's duration.
    #[cfg(feature = "otel")]
    called: Instant,
}

impl Slot {
    /// Starts the clock of a request with `timeout`: the caller's from
    /// `from` (its call, or when it reached the front), the connection's
    /// patience from `now`, when it is written or reaches the front; keeps
    /// `next_deadline` no later than its deadlines.
    fn start(
        &mut self,
        timeout: Option<Duration>,
        patience: Duration,
        (from, now): (Instant, Instant),
        next_deadline: &mut Option<Instant>,
    ) {
        // A deadline past the end of time is no deadline.
        self.deadline = timeout.and_then(|t| from.checked_add(t));
        // Time spent waiting to be written says nothing about the server.
        self.give_up = timeout.and_then(|t| now.checked_add(t.max(patience)));
        if let Some(d) = self.deadline.or(self.give_up) {
            if next_deadline.is_none_or(|n| d < n) {
                *next_deadline = Some(d);
            }
        }
    }
}

impl Queue {
    /// An empty queue; `patience` is the connection's response timeout.
    pub(crate) fn new(patience: Duration) -> Queue {
        Queue {
            slots: VecDeque::new(),
            patience,
            next_deadline: None,
        }
    }

    /// Adds a request that was just written at `now`.
    pub(crate) fn push(&mut self, request: Request, now: Instant) {
        let collected = request.batch.then(|| Vec::with_capacity(request.replies));
        // A blocking command behind others starts its clock when it is the
        // oldest; any other request now.
        let deferred = !self.slots.is_empty() && request.from_front;
        let fill = request.fill;
        let retry = request.resend.map(|bytes| {
            Box::new(Retry {
                request: Request {
                    tx: None,
                    resend: None,
                    fill: None,
                    ..request
                },
                bytes: *bytes,
            })
        });
        let mut slot = Slot {
            tx: request.tx,
            remaining: request.replies,
            collected,
            deadline: None,
            give_up: None,
            deferred: None,
            command: request.command,
            limit: request.timeout,
            retry,
            fill,
            #[cfg(feature = "otel")]
            called: request.called,
        };
        if deferred {
            slot.deferred = request.timeout;
        } else {
            let from = if request.from_front {
                now
            } else {
                request.called
            };
            slot.start(
                request.timeout,
                self.patience,
                (from, now),
                &mut self.next_deadline,
            );
        }
        self.slots.push_back(slot);
    }

    /// Hands the next reply off the wire, read at `now`, to the request that
    /// owns it. `finished` runs when the request is done, before its caller
    /// is handed the reply: a caller who has its reply finds the request
    /// no longer counted as owed. `filled` runs first, for a cached read,
    /// with what its reply fills: in wire order, before any frame read
    /// after it.
    pub(crate) fn complete(
        &mut self,
        value: Value,
        now: Instant,
        finished: impl FnOnce(Done<'_>),
        filled: impl FnOnce(&Fill, &Value),
    ) -> Result<Completion, Unsolicited> {
        let slot = self.slots.front_mut().ok_or(Unsolicited)?;
        slot.remaining = slot.remaining.saturating_sub(1);
        if slot.remaining > 0 {
            if let Some(collected) = &mut slot.collected {
                collected.push(value);
            }
            return Ok(Completion::Partial);
        }
        let slot = self.slots.pop_front().ok_or(Unsolicited)?;
        if let Some(next) = self.slots.front_mut() {
            if let Some(timeout) = next.deferred.take() {
                next.start(
                    Some(timeout),
                    self.patience,
                    (now, now),
                    &mut self.next_deadline,
                );
            }
        }
        if let Some(fill) = &slot.fill {
            filled(fill, &value);
        }
        finished(Done {
            #[cfg(feature = "otel")]
            command: slot.command,
            #[cfg(feature = "otel")]
            batch: slot.collected.is_some(),
            #[cfg(feature = "otel")]
            called: slot.called,
            #[cfg(feature = "otel")]
            last: &value,
            #[cfg(not(feature = "otel"))]
            last: std::marker::PhantomData,
        });
        if let Some(tx) = slot.tx {
            let value = match slot.collected {
                None => value,
                Some(mut all) => {
                    all.push(value);
                    Value::Array(all)
                }
            };
            // The caller may have gone; its reply is then simply dropped.
            let _ = tx.send(Ok(value));
        }
        Ok(Completion::Finished)
    }

    /// Fails every request whose own deadline has passed with a timeout,
    /// keeping its slot. Returns true when the oldest request has gone
    /// unanswered past its patience: the server is presumed gone. One
    /// caller's short timeout alone never condemns the connection.
    #[cfg(test)]
    pub(crate) fn expire(&mut self, now: Instant) -> bool {
        self.expire_with(now, |_| ())
    }

    /// As [`expire`](Queue::expire), telling `timed_out` of each request
    /// it fails.
    pub(crate) fn expire_with(
        &mut self,
        now: Instant,
        mut timed_out: impl FnMut(TimedOut),
    ) -> bool {
        let mut next: Option<Instant> = None;
        for slot in &mut self.slots {
            if slot.deadline.is_some_and(|d| d <= now) {
                timed_out(TimedOut {
                    command: slot.command,
                    #[cfg(feature = "otel")]
                    called: slot.called,
                });
                if let Some(tx) = slot.tx.take() {
                    let _ = tx.send(Err(Error::Timeout {
                        what: "response",
                        command: Some(slot.command),
                        limit: slot.limit,
                    }));
                }
                slot.deadline = None;
            }
            for d in [slot.deadline, slot.give_up].into_iter().flatten() {
                if next.is_none_or(|n| d < n) {
                    next = Some(d);
                }
            }
        }
        self.next_deadline = next;
        self.slots
            .front()
            .and_then(|slot| slot.give_up)
            .is_some_and(|g| g <= now)
    }

    /// The error that gives up on a server that left the oldest request
    /// unanswered (see [`expire`](Queue::expire)): its command, and how
    /// long it waited.
    pub(crate) fn silence(&self) -> Error {
        let front = self.slots.front();
        Error::Timeout {
            what: "response",
            command: front.map(|slot| slot.command),
            limit: Some(
                front
                    .and_then(|slot| slot.limit)
                    .map_or(self.patience, |t| t.max(self.patience)),
            ),
        }
    }

    /// True when the oldest request may wait as long as the server takes (a
    /// blocking command with timeout 0): nothing behind it can finish first.
    pub(crate) fn waits_forever(&self) -> bool {
        self.slots
            .front()
            .is_some_and(|slot| slot.give_up.is_none())
    }

    /// Empties the queue, the connection being lost: moves the reads that
    /// may be retried, and whose callers still wait, to `retries` in wire
    /// order, and fails every other request with `error`. Returns how many
    /// requests failed.
    pub(crate) fn fail_all(&mut self, error: &Error, retries: &mut Vec<Retry>) -> usize {
        let mut failed = 0;
        for slot in self.slots.drain(..) {
            match (slot.tx, slot.retry) {
                (Some(tx), Some(mut retry)) if !tx.is_closed() => {
                    retry.request.tx = Some(tx);
                    retries.push(*retry);
                }
                (tx, _) => {
                    if let Some(tx) = tx {
                        let _ = tx.send(Err(error.clone()));
                    }
                    failed += 1;
                }
            }
        }
        self.next_deadline = None;
        failed
    }

    /// When [`expire`](Queue::expire) should next run.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.next_deadline
    }

    /// How many requests wait for replies.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no request waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENCE: Duration = Duration::from_millis(1_000);

    impl Queue {
        /// `complete`, at a time that does not matter to the test.
        fn complete_at(&mut self, value: Value) -> Result<Completion, Unsolicited> {
            self.complete(value, Instant::now(), |_| (), |_, _| ())
        }
    }

    fn request(
        replies: usize,
        timeout: Option<u64>,
        called: Instant,
    ) -> (Request, oneshot::Receiver<Result<Value, Error>>) {
        let (tx, rx) = oneshot::channel();
        let request = Request {
            tx: Some(tx),
            replies,
            batch: replies > 1,
            timeout: timeout.map(Duration::from_millis),
            from_front: false,
            called,
            len: 0,
            command: CommandName::new(b"GET"),
            resend: None,
            fill: None,
        };
        (request, rx)
    }

    fn ok(rx: &mut oneshot::Receiver<Result<Value, Error>>) -> Value {
        rx.try_recv().expect("delivered").expect("not an error")
    }

    #[test]
    fn replies_go_to_requests_in_order() {
        let now = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let (a, mut ra) = request(1, None, now);
        let (b, mut rb) = request(1, None, now);
        q.push(a, now);
        q.push(b, now);
        assert_eq!(q.complete_at(Value::Integer(1)), Ok(Completion::Finished));
        assert_eq!(q.complete_at(Value::Integer(2)), Ok(Completion::Finished));
        assert_eq!(ok(&mut ra), Value::Integer(1));
        assert_eq!(ok(&mut rb), Value::Integer(2));
        assert_eq!(q.complete_at(Value::Integer(3)), Err(Unsolicited));
    }

    #[test]
    fn a_dropped_caller_keeps_its_slot() {
        let now = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let (a, ra) = request(1, None, now);
        let (b, mut rb) = request(1, None, now);
        q.push(a, now);
        q.push(b, now);
        drop(ra);
        assert_eq!(
            q.complete_at(Value::bulk("for a")),
            Ok(Completion::Finished)
        );
        assert_eq!(
            q.complete_at(Value::bulk("for b")),
            Ok(Completion::Finished)
        );
        assert_eq!(ok(&mut rb), Value::bulk("for b"));
    }

    #[test]
    fn a_batch_collects_its_replies_into_one_array() {
        let now = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let (a, mut ra) = request(3, None, now);
        let (b, mut rb) = request(1, None, now);
        q.push(a, now);
        q.push(b, now);
        assert_eq!(q.complete_at(Value::Integer(1)), Ok(Completion::Partial));
        assert_eq!(
            q.complete_at(Value::Error("ERR x".into())),
            Ok(Completion::Partial)
        );
        assert_eq!(q.complete_at(Value::Integer(3)), Ok(Completion::Finished));
        assert_eq!(q.complete_at(Value::Null), Ok(Completion::Finished));
        assert_eq!(
            ok(&mut ra),
            Value::Array(vec![
                Value::Integer(1),
                Value::Error("ERR x".into()),
                Value::Integer(3)
            ])
        );
        assert_eq!(ok(&mut rb), Value::Null);
    }

    #[test]
    fn a_timed_out_caller_is_told_and_its_late_reply_discarded() {
        let start = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let (slow, mut rslow) = request(1, None, start); // blocking forever, at the front
        let (a, mut ra) = request(1, Some(100), start);
        let (b, mut rb) = request(1, Some(500), start);
        q.push(slow, start);
        q.push(a, start);
        q.push(b, start);
        assert_eq!(q.next_deadline(), Some(start + Duration::from_millis(100)));

        let front_overdue = q.expire(start + Duration::from_millis(200));
        assert!(
            !front_overdue,
            "the front waits forever, so the peer is not silent"
        );
        match ra.try_recv() {
            Ok(Err(e)) => assert_eq!(e.to_string(), "response to GET timed out after 100ms"),
            other => panic!("{other:?}"),
        }
        assert!(rb.try_recv().is_err(), "b is not due yet");
        assert_eq!(q.next_deadline(), Some(start + Duration::from_millis(500)));
        assert_eq!(q.len(), 3, "the timed-out slot stays");

        q.complete_at(Value::bulk("slow")).unwrap();
        q.complete_at(Value::bulk("late a")).unwrap();
        q.complete_at(Value::bulk("b")).unwrap();
        assert_eq!(ok(&mut rslow), Value::bulk("slow"));
        assert_eq!(ok(&mut rb), Value::bulk("b"));
        assert!(q.is_empty());
    }

    #[test]
    fn an_unanswered_front_means_a_silent_peer_after_the_patience() {
        let ms = Duration::from_millis;
        let start = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let (short, mut rshort) = request(1, Some(10), start);
        let (long, _rlong) = request(1, Some(3_000), start);
        q.push(short, start);
        q.push(long, start);
        assert!(!q.expire(start + ms(5)));
        // The short caller gives up; the connection does not.
        assert!(!q.expire(start + ms(10)));
        assert!(matches!(rshort.try_recv(), Ok(Err(Error::Timeout { .. }))));
        assert_eq!(q.next_deadline(), Some(start + PATIENCE));
        // Unanswered for the whole response timeout: the server is gone.
        assert!(q.expire(start + PATIENCE));
    }

    #[test]
    fn a_long_own_timeout_extends_the_patience_and_none_is_forever() {
        let start = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let (long, _r) = request(1, Some(5_000), start);
        q.push(long, start);
        assert!(!q.expire(start + PATIENCE));
        assert!(q.expire(start + Duration::from_millis(5_000)));

        let mut q = Queue::new(PATIENCE);
        let (forever, _r) = request(1, None, start);
        q.push(forever, start);
        assert!(q.waits_forever());
        assert!(!q.expire(start + Duration::from_secs(3_600)));
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn timeouts_past_the_end_of_time_are_no_timeouts() {
        let start = Instant::now();
        let mut q = Queue::new(Duration::MAX);
        let (a, _r) = request(1, Some(u64::MAX), start);
        q.push(a, start);
        let (tx, _rx) = oneshot::channel();
        q.push(
            Request {
                tx: Some(tx),
                replies: 1,
                batch: false,
                timeout: Some(Duration::MAX),
                from_front: false,
                called: start,
                len: 0,
                command: CommandName::new(b"GET"),
                resend: None,
                fill: None,
            },
            start,
        );
        assert!(!q.expire(start + Duration::from_secs(3_600)));
    }

    #[test]
    fn a_blocking_command_starts_its_clock_when_it_is_the_oldest() {
        let ms = Duration::from_millis;
        let start = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let (slow, _rslow) = request(1, None, start);
        q.push(slow, start);
        let (tx, mut rx) = oneshot::channel();
        let blocking = Request {
            tx: Some(tx),
            replies: 1,
            batch: false,
            timeout: Some(ms(100)),
            from_front: true,
            called: start,
            len: 0,
            command: CommandName::new(b"BLPOP"),
            resend: None,
            fill: None,
        };
        q.push(blocking, start);
        // Behind a command that takes 10 s, its 100 ms have not started.
        assert!(!q.expire(start + ms(5_000)));
        assert!(rx.try_recv().is_err());
        q.complete(Value::Null, start + ms(10_000), |_| (), |_, _| ())
            .unwrap();
        assert_eq!(q.next_deadline(), Some(start + ms(10_100)));
        assert!(!q.expire(start + ms(10_050)));
        assert!(rx.try_recv().is_err());
        q.expire(start + ms(10_100));
        assert!(matches!(rx.try_recv(), Ok(Err(Error::Timeout { .. }))));
    }

    #[test]
    fn a_callers_timeout_counts_from_its_call_not_its_write() {
        let ms = Duration::from_millis;
        let called = Instant::now();
        let mut q = Queue::new(PATIENCE);
        // Waited 400 ms to be written (a reconnect, a large write ahead).
        let (a, mut ra) = request(1, Some(500), called);
        let written = called + ms(400);
        q.push(a, written);
        assert_eq!(q.next_deadline(), Some(called + ms(500)));
        assert!(!q.expire(called + ms(500)), "the server is not late yet");
        assert!(matches!(ra.try_recv(), Ok(Err(Error::Timeout { .. }))));
        // The connection's patience counts from the write.
        assert!(!q.expire(written + ms(999)));
        assert!(q.expire(written + PATIENCE));
    }

    #[test]
    fn a_batch_of_one_is_still_an_array() {
        let now = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let (tx, mut rx) = oneshot::channel();
        q.push(
            Request {
                tx: Some(tx),
                replies: 1,
                batch: true,
                timeout: None,
                from_front: false,
                called: now,
                len: 0,
                command: CommandName::new(b"MULTI"),
                resend: None,
                fill: None,
            },
            now,
        );
        let reply = Value::Array(vec![Value::bulk("a"), Value::bulk("b")]);
        q.complete_at(reply.clone()).unwrap();
        assert_eq!(ok(&mut rx), Value::Array(vec![reply]));
    }

    #[test]
    fn a_lost_connection_hands_back_the_reads_to_retry_in_wire_order() {
        let ms = Duration::from_millis;
        let start = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let read = |bytes: &'static str, timeout| {
            let (mut request, rx) = request(1, timeout, start);
            request.resend = Some(Box::new(Bytes::from_static(bytes.as_bytes())));
            (request, rx)
        };
        let (answered, mut r_answered) = read("answered", None);
        let (get_a, mut r_get_a) = read("get a", None);
        let (incr, mut r_incr) = request(1, None, start);
        let (gone, r_gone) = read("gone", None);
        let (expired, mut r_expired) = read("expired", Some(10));
        let (get_b, mut r_get_b) = read("get b", Some(500));
        for r in [answered, get_a, incr, gone, expired, get_b] {
            q.push(r, start);
        }
        q.complete_at(Value::bulk("v")).unwrap();
        assert_eq!(ok(&mut r_answered), Value::bulk("v"));
        drop(r_gone);
        assert!(!q.expire(start + ms(10)));
        assert!(matches!(
            r_expired.try_recv(),
            Ok(Err(Error::Timeout { .. }))
        ));

        let mut retries = Vec::new();
        let failed = q.fail_all(&Error::Closed, &mut retries);
        // The write is failed, never sent again; so are the reads nobody
        // waits for any more.
        assert_eq!(failed, 3);
        assert!(matches!(r_incr.try_recv(), Ok(Err(Error::Closed))));
        assert!(q.is_empty());
        let bytes: Vec<_> = retries.iter().map(|r| r.bytes.clone()).collect();
        assert_eq!(bytes, ["get a", "get b"]);
        // A retried read keeps its call time and timeout, and is not retried
        // a second time.
        let b = &retries[1].request;
        assert_eq!((b.called, b.timeout), (start, Some(ms(500))));
        assert!(retries.iter().all(|r| r.request.resend.is_none()));

        // Queued again, the reads get their replies on the next connection.
        let mut q = Queue::new(PATIENCE);
        for retry in retries {
            q.push(retry.request, start + ms(20));
        }
        assert_eq!(q.next_deadline(), Some(start + ms(500)));
        q.complete_at(Value::bulk("a")).unwrap();
        q.complete_at(Value::bulk("b")).unwrap();
        assert_eq!(ok(&mut r_get_a), Value::bulk("a"));
        assert_eq!(ok(&mut r_get_b), Value::bulk("b"));
    }

    #[test]
    fn failing_all_tells_every_caller() {
        let now = Instant::now();
        let mut q = Queue::new(PATIENCE);
        let (a, mut ra) = request(1, None, now);
        let (b, mut rb) = request(2, None, now);
        q.push(a, now);
        q.push(b, now);
        q.complete_at(Value::Integer(1)).unwrap();
        let (c, mut rc) = request(1, None, now);
        q.push(c, now);
        let mut retries = Vec::new();
        assert_eq!(q.fail_all(&Error::Closed, &mut retries), 2);
        assert!(retries.is_empty());
        assert!(ok(&mut ra) == Value::Integer(1));
        assert!(matches!(rb.try_recv(), Ok(Err(Error::Closed))));
        assert!(matches!(rc.try_recv(), Ok(Err(Error::Closed))));
        assert!(q.is_empty());
    }
}
