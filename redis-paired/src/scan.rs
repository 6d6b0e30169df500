//! `Scan` and `ScanStream`: SCAN, HSCAN, SSCAN and ZSCAN as streams that
//! drive the cursor.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::stream::{FusedStream, Stream};
use resp::{Command, FromValue, ToArgs};

use crate::{Error, Reply, Sender};

/// The scans as streams ([`Scan`]), for every [`Sender`] that can be
/// cloned into the stream: [`PairedConnection`], [`ExclusiveConnection`] and
/// references to them.
///
/// [`PairedConnection`]: crate::PairedConnection
/// [`ExclusiveConnection`]: crate::ExclusiveConnection
pub trait ScanCommands: Sender + Clone {
    /// `SCAN`: every key of the database, as a stream (see [`Scan`]).
    fn scan(&self) -> Scan<Self> {
        Scan::new(self.clone(), Command::new("SCAN"))
    }

    /// `HSCAN key`: every `(field, value)` of a hash, as a stream (see
    /// [`Scan`]).
    fn hscan(&self, key: impl ToArgs) -> Scan<Self> {
        Scan::new(self.clone(), Command::new("HSCAN").arg(key))
    }

    /// `SSCAN key`: every member of a set, as a stream (see [`Scan`]).
    fn sscan(&self, key: impl ToArgs) -> Scan<Self> {
        Scan::new(self.clone(), Command::new("SSCAN").arg(key))
    }

    /// `ZSCAN key`: every `(member, score)` of a sorted set, as a stream
    /// (see [`Scan`]).
    fn zscan(&self, key: impl ToArgs) -> Scan<Self> {
        Scan::new(self.clone(), Command::new("ZSCAN").arg(key))
    }
}

impl<S: Sender + Clone> ScanCommands for S {}

/// A cursor iteration not started yet: `SCAN`, `HSCAN`, `SSCAN` or `ZSCAN`
/// with its options. Made by [`Commands::scan`](crate::ScanCommands::scan),
/// [`hscan`](crate::ScanCommands::hscan), [`sscan`](crate::ScanCommands::sscan) and
/// [`zscan`](crate::ScanCommands::zscan); [`into_stream`](Scan::into_stream)
/// runs it.
///
/// ```no_run
/// # async fn demo(conn: redis_paired::PairedConnection) -> Result<(), redis_paired::Error> {
/// use futures_util::TryStreamExt;
/// use redis_paired::ScanCommands;
///
/// let mut users = conn.scan().match_pattern("user:*").count(100).into_stream::<String>();
/// while let Some(key) = users.try_next().await? {
///     println!("{key}");
/// }
/// let fields: Vec<(String, i64)> = conn.hscan("scores").into_stream().try_collect().await?;
/// # Ok(())
/// # }
/// ```
///
/// Redis guarantees that an element present for the whole iteration is
/// returned, but one that was added or removed meanwhile may or may not be,
/// and an element may be returned more than once if the collection is
/// resized during the iteration (see the `SCAN` documentation).
#[derive(Debug, Clone)]
#[must_use = "a scan does nothing until its stream is polled"]
pub struct Scan<S> {
    conn: S,
    /// The command name and, but for SCAN, the key: what precedes the cursor.
    head: Command,
    pattern: Option<Bytes>,
    count: Option<usize>,
    key_type: Option<Bytes>,
}

impl<S: Sender> Scan<S> {
    pub(crate) fn new(conn: S, head: Command) -> Scan<S> {
        Scan {
            conn,
            head,
            pattern: None,
            count: None,
            key_type: None,
        }
    }

    /// `MATCH pattern`: only elements (keys, fields, members) that match the
    /// glob-style pattern. The server filters each page after reading it, so
    /// pages may be small or empty while the iteration goes on.
    pub fn match_pattern(mut self, pattern: impl AsRef<[u8]>) -> Scan<S> {
        self.pattern = Some(Bytes::copy_from_slice(pattern.as_ref()));
        self
    }

    /// `COUNT count`: about how many elements the server reads per page (its
    /// default is 10). Small hashes, sets and sorted sets come back in one
    /// page whatever the count.
    pub fn count(mut self, count: usize) -> Scan<S> {
        self.count = Some(count);
        self
    }

    /// `TYPE type`: only keys whose value has this type (`"string"`,
    /// `"hash"`, ...). For `SCAN` only: the other scans reject it.
    pub fn key_type(mut self, key_type: impl AsRef<[u8]>) -> Scan<S> {
        self.key_type = Some(Bytes::copy_from_slice(key_type.as_ref()));
        self
    }

    /// The elements as a stream of `T`: keys for `SCAN`, members for
    /// `SSCAN`, `(field, value)` pairs for `HSCAN` and `(member, score)`
    /// pairs for `ZSCAN`.
    ///
    /// Nothing is sent until the stream is polled; each page is asked for
    /// when the previous one has been consumed, until the server's cursor
    /// comes back to 0. An error (from the server, the connection, or a
    /// conversion of a page) is the stream's last item.
    pub fn into_stream<T: FromValue>(self) -> ScanStream<S, T> {
        ScanStream {
            scan: self,
            cursor: Some(Bytes::from_static(b"0")),
            pending: None,
            page: Vec::new().into_iter(),
            _items: PhantomData,
        }
    }

    /// The command that asks for the page at `cursor`.
    fn page_command(&self, cursor: &[u8]) -> Command {
        let mut cmd = self.head.clone();
        cmd.push_bulk(cursor);
        if let Some(pattern) = &self.pattern {
            cmd.push_bulk(b"MATCH");
            cmd.push_bulk(pattern);
        }
        if let Some(count) = self.count {
            cmd.push_bulk(b"COUNT");
            cmd.push_int(count);
        }
        if let Some(key_type) = &self.key_type {
            cmd.push_bulk(b"TYPE");
            cmd.push_bulk(key_type);
        }
        cmd
    }
}

/// The elements of a [`Scan`], page by page: a [`Stream`] of
/// `Result<T, Error>` made by [`Scan::into_stream`].
///
/// It owns its connection handle, so with a [`PairedConnection`] it is
/// `'static` and `Send` and can be moved into a task.
///
/// [`PairedConnection`]: crate::PairedConnection
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct ScanStream<S, T> {
    scan: Scan<S>,
    /// The cursor of the next page to ask for; `None` once the server has
    /// returned cursor 0, or after an error.
    cursor: Option<Bytes>,
    /// The page asked for and not yet received.
    pending: Option<Reply<(Bytes, Vec<T>)>>,
    /// What is left of the last page received.
    page: std::vec::IntoIter<T>,
    _items: PhantomData<fn() -> T>,
}

// Nothing is pinned structurally: the pending reply is `Unpin` and the
// rest is never polled in place.
impl<S, T> Unpin for ScanStream<S, T> {}

impl<S: Sender, T: FromValue> Stream for ScanStream<S, T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.page.next() {
                return Poll::Ready(Some(Ok(item)));
            }
            if let Some(reply) = &mut this.pending {
                let result = ready!(Pin::new(reply).poll(cx));
                this.pending = None;
                match result {
                    Ok((cursor, items)) => {
                        // > An iteration starts when the cursor is set to 0,
                        // > and terminates when the cursor returned by the
                        // > server is 0. (SCAN documentation)
                        this.cursor = (cursor.as_ref() != b"0").then_some(cursor);
                        this.page = items.into_iter();
                    }
                    Err(e) => {
                        this.cursor = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                continue;
            }
            match this.cursor.take() {
                Some(cursor) => {
                    this.pending = Some(this.scan.conn.send(this.scan.page_command(&cursor)))
                }
                None => return Poll::Ready(None),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.page.len();
        if self.is_terminated() {
            (left, Some(left))
        } else {
            (left, None)
        }
    }
}

impl<S: Sender, T: FromValue> FusedStream for ScanStream<S, T> {
    fn is_terminated(&self) -> bool {
        self.cursor.is_none() && self.pending.is_none() && self.page.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sender that cannot be used: these tests only build commands.
    #[derive(Debug, Clone)]
    struct NoSender;

    impl redis_commands::SendCommand for NoSender {
        type Replies = crate::ReplyFuture;

        fn send_command<T: FromValue>(&self, _cmd: Command) -> Reply<T> {
            Reply::failed(Error::Closed)
        }
    }

    fn args(cmd: Command) -> Vec<String> {
        cmd.args()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn page_commands_put_the_cursor_after_the_key() {
        let scan = Scan::new(NoSender, Command::new("SCAN"));
        assert_eq!(args(scan.page_command(b"0")), ["SCAN", "0"]);
        let scan = scan.match_pattern("user:*").count(50).key_type("hash");
        assert_eq!(
            args(scan.page_command(b"17")),
            ["SCAN", "17", "MATCH", "user:*", "COUNT", "50", "TYPE", "hash"]
        );
        let scan = Scan::new(NoSender, Command::new("ZSCAN").arg("z")).count(5);
        assert_eq!(
            args(scan.page_command(b"3")),
            ["ZSCAN", "z", "3", "COUNT", "5"]
        );
    }

    #[tokio::test]
    async fn an_error_ends_the_stream() {
        use futures_util::StreamExt;

        let mut stream = Scan::new(NoSender, Command::new("SCAN")).into_stream::<String>();
        assert!(!stream.is_terminated());
        assert!(matches!(stream.next().await, Some(Err(Error::Closed))));
        assert!(stream.is_terminated());
        assert!(stream.next().await.is_none());
    }
}
