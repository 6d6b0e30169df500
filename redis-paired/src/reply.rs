//! `Reply`, the future a caller awaits for its answer.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use redis_conn::{CommandName, Error};
use resp::{Command, FromValue, Value};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};
use tracing::Span;

use crate::Runner;

/// The answer to a command sent on a [`PairedConnection`](crate::PairedConnection),
/// converted into `T` when it arrives.
///
/// The command was queued when the `Reply` was made, so dropping it does not
/// take the command back: the reply is read and discarded. A `Reply` always
/// resolves: with the answer, a server error, a timeout, or the connection
/// error that stopped it.
///
/// [`timeout`](Reply::timeout) bounds the wait of one call more tightly
/// than the connection's response timeout:
///
/// ```no_run
/// # async fn demo(conn: redis_paired::PairedConnection) -> Result<(), redis_paired::Error> {
/// use std::time::Duration;
/// use redis_paired::Commands;
///
/// let name: Option<String> = conn
///     .get("user:7:name")
///     .timeout(Duration::from_millis(50))
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "the command is sent anyway; await the reply or use send_and_forget"]
pub struct Reply<T> {
    state: State,
    /// When the caller called, for a deadline counted from the call.
    called: Instant,
    /// The command's name, for the error of a deadline that passed.
    command: Option<CommandName>,
    /// The caller's own deadline, the command's span and the blocking
    /// client's runner: boxed, since most replies have none of them, and
    /// stay small.
    extra: Option<Box<Extra>>,
    _into: PhantomData<fn() -> T>,
}

/// What few replies have.
#[derive(Default)]
struct Extra {
    /// The caller's own deadline ([`Reply::timeout`]); `None` for none.
    deadline: Option<Deadline>,
    /// The command's span, when a subscriber wants it: how the command
    /// ended is recorded on it, and it closes with the reply.
    span: Option<Traced>,
    /// What runs the connection's runtime on the thread that waits, for
    /// [`Reply::wait`].
    runner: Option<Arc<dyn Runner>>,
}

impl std::fmt::Debug for Extra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extra")
            .field("deadline", &self.deadline)
            .field("span", &self.span)
            .field("runner", &self.runner.is_some())
            .finish()
    }
}

/// A deadline of the caller's own, on top of the request's timeout.
#[derive(Debug)]
struct Deadline {
    at: Instant,
    limit: Duration,
    /// Made at the first poll inside a runtime: a reply may be made, and
    /// waited for, on a thread that has none ([`Reply::wait`]).
    sleep: Option<Pin<Box<Sleep>>>,
}

/// The span a reply stands for.
#[derive(Debug)]
struct Traced {
    span: Span,
    /// Entered while the reply is polled: for a reply whose future does
    /// traced work of its own ([`Reply::in_span`]).
    enter: bool,
}

/// A reply that a future gives.
pub type BoxedReply = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>;

/// What a connection built on this crate does with an error that may not
/// be the answer yet: a cluster's `MOVED`, which asks for the command to
/// be sent elsewhere. See [`Reply::with_recovery`].
pub trait Recover: Send + Sync + 'static {
    /// The future whose answer replaces `error`, the reply to `cmd` (sent
    /// with `tag`, whatever the implementation made it mean), or
    /// `Err(error)` when the error is the answer.
    fn recover(self: Arc<Self>, cmd: Command, tag: u32, error: Error) -> Result<BoxedReply, Error>;
}

/// A command kept for [`Recover::recover`], should its reply be an error.
struct Recovery {
    recover: Arc<dyn Recover>,
    cmd: Command,
    tag: u32,
}

enum State {
    Waiting(oneshot::Receiver<Result<Value, Error>>),
    /// As `Waiting`, and an error goes to the recovery before the caller:
    /// the future it gives, if any, becomes the state.
    Recovering(oneshot::Receiver<Result<Value, Error>>, Option<Recovery>),
    /// The mutex only makes the reply `Sync` like the others: polling has
    /// `&mut` access and never locks.
    Future(Mutex<BoxedReply>),
    Failed(Option<Error>),
    /// Answered already: a reply from the client-side cache.
    Ready(Option<Value>),
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Waiting(rx) => f.debug_tuple("Waiting").field(rx).finish(),
            State::Recovering(rx, _) => f.debug_tuple("Recovering").field(rx).finish(),
            State::Future(_) => f.write_str("Future"),
            State::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            State::Ready(_) => f.write_str("Ready"),
        }
    }
}

impl<T> Reply<T> {
    /// The reply `rx` will carry, to the command `command` called at
    /// `called`.
    pub(crate) fn waiting(
        rx: oneshot::Receiver<Result<Value, Error>>,
        called: Instant,
        command: CommandName,
    ) -> Reply<T> {
        Reply::with_state(State::Waiting(rx), called, Some(command))
    }

    /// A reply that is `value` already (from the client-side cache). No
    /// clock is read: a hit costs the lookup and the conversion.
    pub(crate) fn ready(value: Value, called: Instant) -> Reply<T> {
        Reply::with_state(State::Ready(Some(value)), called, None)
    }

    pub(crate) fn failed(error: Error) -> Reply<T> {
        Reply::with_state(State::Failed(Some(error)), Instant::now(), None)
    }

    fn with_state(state: State, called: Instant, command: Option<CommandName>) -> Reply<T> {
        Reply {
            state,
            called,
            command,
            extra: None,
            _into: PhantomData,
        }
    }

    /// The same reply, standing for the command `span` traces.
    #[inline]
    pub(crate) fn traced(mut self, span: Option<Span>) -> Reply<T> {
        if let Some(span) = span {
            self.extra_mut().span = Some(Traced { span, enter: false });
        }
        self
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The same reply, standing for the operation `span` traces (see
    /// [`trace::span`](crate::trace::span)): the span is entered while the
    /// reply is polled, so that what the reply's future does (a cluster's
    /// redirects, its tries on each node) is traced inside it; how the
    /// operation ended is recorded on it; it closes when the reply is
    /// dropped. A disabled span costs nothing.
    pub fn in_span(mut self, span: Span) -> Reply<T> {
        if !span.is_disabled() {
            self.extra_mut().span = Some(Traced { span, enter: true });
        }
        self
    }

    /// The same reply, whose [`wait`](Reply::wait) runs the runtime it
    /// needs with `runner` on the waiting thread (see
    /// [`PairedConnection::wait_through`](crate::PairedConnection::wait_through)):
    /// for connections built on this crate whose replies are futures of
    /// their own on that runtime, such as a cluster's run for a caller
    /// outside it.
    pub fn wait_through(self, runner: Arc<dyn Runner>) -> Reply<T> {
        self.run_by(Some(&runner))
    }

    /// Makes [`wait`](Reply::wait) run the connection's runtime with
    /// `runner` on the waiting thread.
    pub(crate) fn run_by(mut self, runner: Option<&Arc<dyn Runner>>) -> Reply<T> {
        if let Some(runner) = runner {
            self.extra_mut().runner = Some(Arc::clone(runner));
        }
        self
    }

    /// The reply `future` gives, converted into `T`: for connections built
    /// on this crate, such as a cluster's, which follows redirects before it
    /// has the answer.
    pub fn from_future(
        future: impl Future<Output = Result<Value, Error>> + Send + 'static,
    ) -> Reply<T> {
        let state = State::Future(Mutex::new(Box::pin(future)));
        Reply::with_state(state, Instant::now(), None)
    }

    /// This reply, whose error (a server's error reply, a lost
    /// connection, any) goes to `recover` with `cmd` and `tag` before it
    /// goes to the caller: the future `recover` gives then answers instead.
    /// For connections built on this crate whose errors are not always the
    /// answer, such as a cluster's, which follows redirects: a reply that
    /// is no error costs no future of its own.
    pub fn with_recovery(self, cmd: Command, tag: u32, recover: Arc<dyn Recover>) -> Reply<T> {
        let recovery = Recovery { recover, cmd, tag };
        let state = match self.state {
            State::Waiting(rx) => State::Recovering(rx, Some(recovery)),
            State::Failed(Some(error)) => {
                match recovery.recover.recover(recovery.cmd, recovery.tag, error) {
                    Ok(future) => State::Future(Mutex::new(future)),
                    Err(error) => State::Failed(Some(error)),
                }
            }
            state => state,
        };
        Reply {
            state,
            called: self.called,
            command: self.command,
            extra: self.extra,
            _into: PhantomData,
        }
    }

    /// A reply that is this error.
    pub fn from_error(error: Error) -> Reply<T> {
        Reply::failed(error)
    }

    /// Waits for the reply on this thread, for a synchronous program whose
    /// connection's driver runs on a runtime elsewhere (see
    /// [`wait`](crate::wait)), or on the runtime a [`Runner`] runs here
    /// (see [`PairedConnection::wait_through`](crate::PairedConnection::wait_through)).
    /// Refused inside an async runtime: `.await` the reply there.
    pub fn wait(mut self) -> Result<T, Error>
    where
        T: FromValue,
    {
        if let Some(runner) = self.extra.as_mut().and_then(|e| e.runner.take()) {
            // Inside the runner's runtime the reply keeps its own deadline.
            return crate::wait::wait_with(Some(&*runner), self);
        }
        let deadline = self.extra.as_ref().and_then(|e| e.deadline.as_ref());
        match deadline.map(|d| (d.at.into_std(), d.limit)) {
            None => crate::wait(self),
            Some((at, limit)) => {
                let command = self.command;
                crate::wait::wait_until(self, at).unwrap_or(Err(Error::Timeout {
                    what: "response",
                    command,
                    limit: Some(limit),
                }))
            }
        }
    }

    /// Gives up waiting after `limit`, counted from the call that sent the
    /// command, with [`Error::Timeout`] (`what` is `"response"`, `limit`
    /// this one): a bound of this call's own, tighter than the connection's
    /// [response timeout](crate::Options::with_response_timeout).
    ///
    /// The command was queued when it was called, so giving up does not
    /// take it back: it is still written, and its reply is read and
    /// discarded in its turn; no other caller's reply shifts. The command's
    /// own timeout (the response timeout, a blocking command's own, or
    /// [`send_with_timeout`](crate::PairedConnection::send_with_timeout)'s)
    /// still applies, and it is what decides when the server is presumed
    /// gone: a `limit` longer than it changes nothing (send the command
    /// with `send_with_timeout` to wait longer). Called twice, the earlier
    /// deadline holds.
    ///
    /// The limit is kept by the reply itself, as
    /// [`tokio::time::timeout_at`] would from the call; a reply that fails
    /// at once (a refused command, a full queue) fails as it would without
    /// it. It works on every reply of this type, a cluster's included.
    pub fn timeout(mut self, limit: Duration) -> Reply<T> {
        let Some(at) = self.called.checked_add(limit) else {
            // Past the end of time: no deadline.
            return self;
        };
        let deadline = &mut self.extra_mut().deadline;
        if deadline.as_ref().is_none_or(|d| at < d.at) {
            *deadline = Some(Deadline {
                at,
                limit,
                sleep: None,
            });
        }
        self
    }

    /// The raw reply, before any conversion: to inspect it (a redirect)
    /// before converting it.
    pub fn into_value(self) -> Reply<Value> {
        Reply {
            state: self.state,
            called: self.called,
            command: self.command,
            extra: self.extra,
            _into: PhantomData,
        }
    }

    /// Whether the caller's own deadline passed; polls its timer, which is
    /// made at the first poll inside a runtime (outside one,
    /// [`Reply::wait`] keeps the deadline).
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        let Some(deadline) = self.extra.as_mut().and_then(|e| e.deadline.as_mut()) else {
            return Poll::Pending;
        };
        let sleep = match &mut deadline.sleep {
            Some(sleep) => sleep,
            None => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Poll::Pending;
                }
                deadline
                    .sleep
                    .insert(Box::pin(tokio::time::sleep_until(deadline.at)))
            }
        };
        ready!(sleep.as_mut().poll(cx));
        let limit = deadline.limit;
        if let Some(extra) = &mut self.extra {
            extra.deadline = None;
        }
        // Dropping the receiver lets the request's reply be discarded in
        // its turn (and closes a blocking command's own connection).
        self.state = State::Failed(None);
        Poll::Ready(Error::Timeout {
            what: "response",
            command: self.command,
            limit: Some(limit),
        })
    }
}

impl<T: FromValue> Future for Reply<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = &mut *self;
        let span = this.extra.as_mut().and_then(|e| e.span.take());
        let entered = span
            .as_ref()
            .filter(|traced| traced.enter)
            .map(|traced| traced.span.enter());
        let result = match this.poll_state(cx) {
            Poll::Ready(value) => value.and_then(|value| T::from_value(value).map_err(Error::from)),
            Poll::Pending => match this.poll_deadline(cx) {
                Poll::Ready(error) => Err(error),
                Poll::Pending => {
                    drop(entered);
                    if let Some(span) = span {
                        this.extra_mut().span = Some(span);
                    }
                    return Poll::Pending;
                }
            },
        };
        drop(entered);
        if let (Some(traced), Err(error)) = (&span, &result) {
            crate::trace::record_error(&traced.span, error);
        }
        Poll::Ready(result)
    }
}

impl<T> Reply<T> {
    /// Polls for the raw reply.
    fn poll_state(&mut self, cx: &mut Context<'_>) -> Poll<Result<Value, Error>> {
        Poll::Ready(match &mut self.state {
            State::Waiting(rx) => match ready!(Pin::new(rx).poll(cx)) {
                Ok(result) => result,
                // The driver is gone without answering: it only drops a
                // request's sender when it stops for good.
                Err(_) => Err(Error::Closed),
            },
            State::Recovering(rx, recovery) => {
                // An error reply arrives as a value: it is an error here,
                // as it would be to the caller.
                let error = match ready!(Pin::new(rx).poll(cx)) {
                    Ok(Ok(value)) => match Value::from_value(value) {
                        Ok(value) => return Poll::Ready(Ok(value)),
                        Err(error) => Error::from(error),
                    },
                    Ok(Err(error)) => error,
                    Err(_) => Error::Closed,
                };
                let Some(Recovery { recover, cmd, tag }) = recovery.take() else {
                    return Poll::Ready(Err(error));
                };
                match recover.recover(cmd, tag, error) {
                    Ok(future) => {
                        self.state = State::Future(Mutex::new(future));
                        return self.poll_state(cx);
                    }
                    Err(error) => Err(error),
                }
            }
            State::Future(future) => {
                let future = future.get_mut().unwrap_or_else(|e| e.into_inner());
                ready!(future.as_mut().poll(cx))
            }
            State::Failed(error) => Err(error.take().unwrap_or(Error::Closed)),
            State::Ready(value) => value.take().ok_or_else(|| Error::Closed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every recovered command with its tag, except a tag of 0,
    /// whose error stands; counts its calls.
    #[derive(Default)]
    struct Tagged(std::sync::atomic::AtomicUsize);

    impl Recover for Tagged {
        fn recover(
            self: Arc<Self>,
            _cmd: Command,
            tag: u32,
            error: Error,
        ) -> Result<BoxedReply, Error> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if tag == 0 {
                return Err(error);
            }
            Ok(Box::pin(async move { Ok(Value::Integer(i64::from(tag))) }))
        }
    }

    async fn recovered(answer: Result<Value, Error>, tag: u32) -> (Result<Value, Error>, usize) {
        let recover = Arc::new(Tagged::default());
        let (tx, rx) = oneshot::channel();
        let reply = Reply::<Value>::waiting(rx, Instant::now(), CommandName::new(b"GET"))
            .with_recovery(resp::cmd!("GET", "k"), tag, Arc::clone(&recover) as _);
        tx.send(answer).unwrap();
        let result = reply.await;
        (result, recover.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    #[tokio::test]
    async fn only_an_error_goes_to_the_recovery() {
        let moved = || Value::Error("MOVED 1 127.0.0.1:1".into());
        let ok = |(result, calls): (Result<Value, Error>, usize)| (result.ok(), calls);
        assert_eq!(
            ok(recovered(Ok(Value::Integer(1)), 7).await),
            (Some(Value::Integer(1)), 0)
        );
        // An error reply arrives as a value, and is an error all the same.
        assert_eq!(
            ok(recovered(Ok(moved()), 7).await),
            (Some(Value::Integer(7)), 1)
        );
        assert_eq!(
            ok(recovered(Err(Error::Closed), 9).await),
            (Some(Value::Integer(9)), 1)
        );
        let (result, calls) = recovered(Ok(moved()), 0).await;
        assert!(matches!(result, Err(Error::Server(_))), "{result:?}");
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_reply_failed_at_once_is_recovered_at_once() {
        let recover = Arc::new(Tagged::default());
        let reply = Reply::<Value>::failed(Error::Closed).with_recovery(
            resp::cmd!("GET", "k"),
            3,
            Arc::clone(&recover) as _,
        );
        assert!(matches!(reply.state, State::Future(_)));
        assert_eq!(recover.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
