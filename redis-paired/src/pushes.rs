//! `Pushes`: the push frames a paired connection reads that answer no
//! request and are not the cache's invalidations.

use std::pin::Pin;
use std::task::{Context, Poll};

use resp::Value;
use tokio::sync::mpsc;

/// The push frames (RESP3 `>` frames) a [`PairedConnection`](crate::PairedConnection)
/// reads that are not its cache's invalidations, in the order read:
/// [`PairedConnection::pushes`](crate::PairedConnection::pushes).
///
/// It holds at most [`Options::with_max_pushes`](crate::Options::with_max_pushes)
/// unread; a push that finds it full, or finds it dropped, is dropped and
/// counted in [`Stats::pushes_dropped`](crate::Stats::pushes_dropped). It
/// ends, once what it holds is read, when the connection's task does (a
/// [`close`](crate::PairedConnection::close), or the last clone dropped).
#[derive(Debug)]
pub struct Pushes {
    rx: mpsc::Receiver<Value>,
}

impl Pushes {
    pub(crate) fn new(rx: mpsc::Receiver<Value>) -> Pushes {
        Pushes { rx }
    }

    /// The next push frame (a [`Value::Push`]); `None` once the connection
    /// has ended.
    pub async fn next(&mut self) -> Option<Value> {
        self.rx.recv().await
    }
}

impl futures_util::Stream for Pushes {
    type Item = Value;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Value>> {
        self.rx.poll_recv(cx)
    }
}
