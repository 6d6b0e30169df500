//! `ClusterScan`: `SCAN` over a whole cluster, one primary after another.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use redis_conn::Error;
use redis_paired::ScanCommands;
use resp::FromValue;

use crate::connection::Inner;

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

    /// The keys, converted into `T`, primary after primary. An error ends
    /// the stream after it is yielded.
    pub fn into_stream<T: FromValue + Send + 'static>(
        self,
    ) -> impl Stream<Item = Result<T, Error>> + Send + 'static {
        let primaries: Vec<_> = self
            .inner
            .topology()
            .shards()
            .iter()
            .map(|s| s.primary.clone())
            .collect();
        let ClusterScan {
            inner,
            pattern,
            count,
            key_type,
        } = self;
        stream::iter(primaries)
            .then(move |addr| {
                let inner = Arc::clone(&inner);
                async move { inner.node(&addr).await }
            })
            .flat_map(move |node| match node {
                Ok(conn) => {
                    let mut scan = conn.scan();
                    if let Some(pattern) = &pattern {
                        scan = scan.match_pattern(pattern);
                    }
                    if let Some(count) = count {
                        scan = scan.count(count);
                    }
                    if let Some(key_type) = &key_type {
                        scan = scan.key_type(key_type);
                    }
                    scan.into_stream::<T>().left_stream()
                }
                Err(error) => stream::once(async move { Err(error) }).right_stream(),
            })
            .scan(false, |failed, item: Result<T, Error>| {
                // Stop after the first error, as a single node's scan does.
                if *failed {
                    return std::future::ready(None);
                }
                *failed = item.is_err();
                std::future::ready(Some(item))
            })
    }
}
