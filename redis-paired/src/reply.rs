//! `Reply`, the future a caller awaits for its answer.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
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

#[derive(Debug)]
enum State {
    Waiting(oneshot::Receiver<Result<Value, Error>>),
    Failed(Option<Error>),
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
            State::Failed(error) => return Poll::Ready(Err(error.take().unwrap_or(Error::Closed))),
        };
        Poll::Ready(T::from_value(value).map_err(Error::from))
    }
}
