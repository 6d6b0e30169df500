//! Waiting for a reply on a thread that is not running an async runtime:
//! what a synchronous program (a CLI, a build script) does with a
//! connection whose driver runs on a runtime elsewhere.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use redis_conn::Error;

/// Runs `future` to completion on this thread, parking it between polls.
///
/// For futures that need no runtime of their own to make progress: replies
/// of a `PairedConnection` (its driver runs on the runtime that opened it),
/// pipelines, subscription streams. Refused, with
/// [`Error::Unsupported`], on a thread that is running an async runtime: it
/// would stall that runtime's other tasks (or, on a single-threaded one,
/// wait forever for the driver it blocks). Await the future there instead.
pub fn wait<T>(future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::Unsupported(
            "waiting for a reply inside an async runtime (await it instead)",
        ));
    }
    block_on(future)
}

/// Polls `future` on this thread until it is ready.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // A wake that came before the park makes it return at once: no
        // wake-up is lost between the poll and the park.
        thread::park();
    }
}

/// As [`wait`], giving up at `by` with `None`.
pub(crate) fn wait_until<T>(
    future: impl Future<Output = Result<T, Error>>,
    by: std::time::Instant,
) -> Option<Result<T, Error>> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Some(wait(future));
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        let left = by.checked_duration_since(std::time::Instant::now())?;
        if left.is_zero() {
            return None;
        }
        thread::park_timeout(left);
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_sent_from_another_thread_is_waited_for() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let sender = thread::spawn(move || {
            thread::sleep(std::time::Duration::from_millis(20));
            tx.send(7).unwrap();
        });
        let got = wait(async { rx.await.map_err(|_| Error::Closed) }).unwrap();
        assert_eq!(got, 7);
        sender.join().unwrap();
    }

    #[test]
    fn waiting_inside_a_runtime_is_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime.block_on(async { wait(async { Ok::<_, Error>(1) }) });
        assert!(matches!(result, Err(Error::Unsupported(_))), "{result:?}");
    }
}
