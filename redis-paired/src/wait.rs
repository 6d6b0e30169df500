//! Waiting for a reply on a thread that is not running an async runtime:
//! what a synchronous program (a CLI, a build script) does with a
//! connection whose driver runs on a runtime elsewhere.

use std::future::Future;
use std::pin::{pin, Pin};
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

/// Runs the runtime a connection's driver is on, on the thread that waits
/// for a reply, so that this thread does the connection's I/O itself
/// rather than sleep until another thread hands it the reply.
///
/// A connection given one ([`PairedConnection::wait_through`]) waits with
/// it in [`Reply::wait`] and
/// [`Pipeline::query_wait`](crate::Pipeline::query_wait): the blocking
/// client of the facade crate installs one whose runtime runs on whichever
/// thread waits. Without one, those park the thread while the runtime's own
/// threads do the work.
///
/// [`PairedConnection::wait_through`]: crate::PairedConnection::wait_through
/// [`Reply::wait`]: crate::Reply::wait
pub trait Runner: Send + Sync {
    /// Runs `future` to completion on this thread; fails, leaving it
    /// unfinished, when it cannot (the runtime is gone, or this thread is
    /// running an async runtime already).
    fn run(&self, future: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error>;

    /// Takes the wake-up of a connection's driver that a new command
    /// needs, to give it from inside the runtime, where it costs no
    /// system call: at the start of the next [`run`](Runner::run), or
    /// whenever the runtime next runs; true when taken. It must not be
    /// taken (false: the caller wakes the driver at once) while a thread
    /// runs the runtime that would not give it. By default none is taken.
    fn defer(&self, driver: &Waker) -> bool {
        let _ = driver;
        false
    }
}

/// As [`wait`], through `runner` when there is one.
pub(crate) fn wait_with<T>(
    runner: Option<&dyn Runner>,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(runner) = runner else {
        return wait(future);
    };
    let mut output = None;
    {
        let mut future = pin!(async {
            output = Some(future.await);
        });
        runner.run(future.as_mut())?;
    }
    // A runner that returns has run the future to its end.
    output.unwrap_or(Err(Error::Closed))
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
