//! `ClusterScan` and `ClusterScanStream`: `SCAN` over a whole cluster, one
//! primary after another.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::stream::{FusedStream, Stream, StreamExt};
use redis_conn::Error;
use redis_paired::{PairedConnection, Scan, ScanCommands, ScanStream};
use resp::FromValue;

use crate::connection::Inner;
use crate::topology::NodeAddr;

/// `SCAN` over every primary of the cluster, as one stream: a `SCAN`
/// cursor belongs to the node that gave it, so each primary is walked in
/// turn. Made by [`ClusterConnection::scan`](crate::ClusterConnection::scan).
///
/// The primaries are those of the topology when the stream starts; a key
/// whose slot moves during the walk may be returned twice or not at all, as
/// a key added or removed during a single server's `SCAN` may.
#[derive(Debug, Clone)]
#[must_use = "a scan does nothing until its stream is polled"]
pub struct ClusterScan {
    inner: Arc<Inner>,
    pattern: Option<Bytes>,
    count: Option<usize>,
    key_type: Option<Bytes>,
}

impl ClusterScan {
    pub(crate) fn new(inner: Arc<Inner>) -> ClusterScan {
        ClusterScan {
            inner,
            pattern: None,
            count: None,
            key_type: None,
        }
    }

    /// `MATCH pattern`: only keys that match the glob-style pattern.
    pub fn match_pattern(mut self, pattern: impl AsRef<[u8]>) -> ClusterScan {
        self.pattern = Some(Bytes::copy_from_slice(pattern.as_ref()));
        self
    }

    /// `COUNT count`: about how many keys each node reads per page.
    pub fn count(mut self, count: usize) -> ClusterScan {
        self.count = Some(count);
        self
    }

    /// `TYPE type`: only keys whose value has this type.
    pub fn key_type(mut self, key_type: impl AsRef<[u8]>) -> ClusterScan {
        self.key_type = Some(Bytes::copy_from_slice(key_type.as_ref()));
        self
    }

    /// The keys, converted into `T`, primary after primary: a
    /// [`ClusterScanStream`], `Unpin` as a single server's
    /// [`ScanStream`](redis_paired::ScanStream) is, so that code moved
    /// from one server to a cluster reads it the same way
    /// (`stream.next().await`, no pinning). An error ends the stream after
    /// it is yielded.
    pub fn into_stream<T: FromValue>(self) -> ClusterScanStream<T> {
        let primaries: Vec<NodeAddr> = self
            .inner
            .topology()
            .shards()
            .iter()
            .map(|s| s.primary.clone())
            .collect();
        ClusterScanStream {
            scan: self,
            primaries: primaries.into_iter(),
            opening: None,
            current: None,
            ended: false,
        }
    }
}

/// The keys of a [`ClusterScan`], primary after primary: a [`Stream`] of
/// `Result<T, Error>` made by [`ClusterScan::into_stream`].
///
/// Each primary's keys are a single server's
/// [`ScanStream`](redis_paired::ScanStream) on that node's connection; the
/// next primary is asked once the last one's cursor is back to 0. It is
/// `Unpin`, `Send` and `'static`: move it into a task, call `.next()` on it
/// in place.
#[must_use = "streams do nothing unless polled"]
pub struct ClusterScanStream<T> {
    scan: ClusterScan,
    /// The primaries not yet walked.
    primaries: std::vec::IntoIter<NodeAddr>,
    /// The connection to the next primary, being opened.
    opening: Option<Opening>,
    /// The walk of the current primary.
    current: Option<ScanStream<PairedConnection, T>>,
    /// The last primary is done, or an error was yielded.
    ended: bool,
}

/// A node connection being opened.
type Opening = Pin<Box<dyn Future<Output = Result<PairedConnection, Error>> + Send>>;

impl<T: FromValue> Stream for ClusterScanStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error>>> {
        let this = self.get_mut();
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if let Some(current) = &mut this.current {
                match ready!(current.poll_next_unpin(cx)) {
                    Some(Ok(item)) => return Poll::Ready(Some(Ok(item))),
                    Some(Err(error)) => {
                        // Stop after the first error, as a single node's
                        // scan does.
                        this.ended = true;
                        return Poll::Ready(Some(Err(error)));
                    }
                    None => this.current = None,
                }
                continue;
            }
            if let Some(opening) = &mut this.opening {
                let opened = ready!(opening.as_mut().poll(cx));
                this.opening = None;
                match opened {
                    Ok(conn) => this.current = Some(this.scan.on(conn).into_stream()),
                    Err(error) => {
                        this.ended = true;
                        return Poll::Ready(Some(Err(error)));
                    }
                }
                continue;
            }
            match this.primaries.next() {
                Some(addr) => {
                    let inner = Arc::clone(&this.scan.inner);
                    this.opening = Some(Box::pin(async move { inner.node(&addr).await }));
                }
                None => this.ended = true,
            }
        }
    }
}

impl<T: FromValue> FusedStream for ClusterScanStream<T> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

// Nothing is pinned structurally: the node's stream is `Unpin` and the
// connection being opened is boxed.
impl<T> Unpin for ClusterScanStream<T> {}

impl<T> std::fmt::Debug for ClusterScanStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterScanStream")
            .field("scan", &self.scan)
            .field("primaries_left", &self.primaries.len())
            .field("opening", &self.opening.is_some())
            .field("walking", &self.current.is_some())
            .field("ended", &self.ended)
            .finish()
    }
}

impl ClusterScan {
    /// The scan of one node, with this scan's options.
    fn on(&self, conn: PairedConnection) -> Scan<PairedConnection> {
        let mut scan = conn.scan();
        if let Some(pattern) = &self.pattern {
            scan = scan.match_pattern(pattern);
        }
        if let Some(count) = self.count {
            scan = scan.count(count);
        }
        if let Some(key_type) = &self.key_type {
            scan = scan.key_type(key_type);
        }
        scan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_a_named_unpin_send_static_type() {
        fn movable<S: Stream + Unpin + FusedStream + Send + 'static>() {}
        movable::<ClusterScanStream<String>>();
        movable::<ClusterScanStream<Bytes>>();
    }
}
