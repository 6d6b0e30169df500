//! `Reply`, the future a caller awaits for its answer.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};

use redis_conn::Error;
use resp::{FromValue, Value};
use tokio::sync::oneshot;

/// The answer to a command sent on a [`PairedConnection`](crate::PairedConnection),
/// converted into `T` when it arrives.
///
/// The command was queued when the `Reply` was made, so dropping it does not
/// take the command back: the reply is read and discarded. A `Reply` always
/// resolves: with the answer, a server error, a timeout, or the connection
/// error that stopped it.
#[must_use = "the command is sent anyway; await the reply or use send_and_forget"]
#[derive(Debug)]
pub struct Reply<T> {
    state: State,
    _into: PhantomData<fn() -> T>,
}

/// A reply that a future gives.
type BoxedReply = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>;

enum State {
    Waiting(oneshot::Receiver<Result<Value, Error>>),
    /// The mutex only makes the reply `Sync` like the others: polling has
    /// `&mut` access and never locks.
    Future(Mutex<BoxedReply>),
    Failed(Option<Error>),
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Waiting(rx) => f.debug_tuple("Waiting").field(rx).finish(),
            State::Future(_) => f.write_str("Future"),
            State::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl<T> Reply<T> {
    pub(crate) fn waiting(rx: oneshot::Receiver<Result<Value, Error>>) -> Reply<T> {
        Reply {
            state: State::Waiting(rx),
            _into: PhantomData,
        }
    }

    pub(crate) fn failed(error: Error) -> Reply<T> {
        Reply {
            state: State::Failed(Some(error)),
            _into: PhantomData,
        }
    }

    /// The reply `future` gives, converted into `T`: for connections built
    /// on this crate, such as a cluster's, which follows redirects before it
    /// has the answer.
    pub fn from_future(
        future: impl Future<Output = Result<Value, Error>> + Send + 'static,
    ) -> Reply<T> {
        Reply {
            state: State::Future(Mutex::new(Box::pin(future))),
            _into: PhantomData,
        }
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
        crate::wait(self)
    }

    /// The raw reply, before any conversion: to inspect it (a redirect)
    /// before converting it.
    pub fn into_value(self) -> Reply<Value> {
        Reply {
            state: self.state,
            _into: PhantomData,
        }
    }
}

impl<T: FromValue> Future for Reply<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let value = match &mut self.state {
            State::Waiting(rx) => match ready!(Pin::new(rx).poll(cx)) {
                Ok(result) => result?,
                // The driver is gone without answering: it only drops a
                // request's sender when it stops for good.
                Err(_) => return Poll::Ready(Err(Error::Closed)),
            },
            State::Future(future) => {
                let future = future.get_mut().unwrap_or_else(|e| e.into_inner());
                ready!(future.as_mut().poll(cx))?
            }
            State::Failed(error) => return Poll::Ready(Err(error.take().unwrap_or(Error::Closed))),
        };
        Poll::Ready(T::from_value(value).map_err(Error::from))
    }
}
