//! `Reply`, the future a caller awaits for its answer.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use redis_conn::{CommandName, Error};
use resp::{FromValue, Value};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

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
#[must_use = "the command is sent anyway; await the reply or use send_and_forget"]
#[derive(Debug)]
pub struct Reply<T> {
    state: State,
    /// When the caller called, for a deadline counted from the call.
    called: Instant,
    /// The command's name, for the error of a deadline that passed.
    command: Option<CommandName>,
    /// The caller's own deadline ([`Reply::timeout`]); `None` for none.
    /// Boxed: most replies have none, and stay small.
    deadline: Option<Box<Deadline>>,
    _into: PhantomData<fn() -> T>,
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

/// A reply that a future gives.
type BoxedReply = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>;

enum State {
    Waiting(oneshot::Receiver<Result<Value, Error>>),
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
            deadline: None,
            _into: PhantomData,
        }
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

    /// A reply that is this error.
    pub fn from_error(error: Error) -> Reply<T> {
        Reply::failed(error)
    }

    /// Waits for the reply on this thread, for a synchronous program whose
    /// connection's driver runs on a runtime elsewhere (see
    /// [`wait`](crate::wait)). Refused inside an async runtime: `.await`
    /// the reply there.
    pub fn wait(self) -> Result<T, Error>
    where
        T: FromValue,
    {
        match self.deadline.as_ref().map(|d| (d.at.into_std(), d.limit)) {
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
        if self.deadline.as_ref().is_none_or(|d| at < d.at) {
            self.deadline = Some(Box::new(Deadline {
                at,
                limit,
                sleep: None,
            }));
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
            deadline: self.deadline,
            _into: PhantomData,
        }
    }

    /// Whether the caller's own deadline passed; polls its timer, which is
    /// made at the first poll inside a runtime (outside one,
    /// [`Reply::wait`] keeps the deadline).
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        let Some(deadline) = &mut self.deadline else {
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
        self.deadline = None;
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
        let value = match this.poll_state(cx) {
            Poll::Ready(value) => value?,
            Poll::Pending => return this.poll_deadline(cx).map(Err),
        };
        Poll::Ready(T::from_value(value).map_err(Error::from))
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
            State::Future(future) => {
                let future = future.get_mut().unwrap_or_else(|e| e.into_inner());
                ready!(future.as_mut().poll(cx))
            }
            State::Failed(error) => Err(error.take().unwrap_or(Error::Closed)),
            State::Ready(value) => value.take().ok_or(Error::Closed),
        })
    }
}
