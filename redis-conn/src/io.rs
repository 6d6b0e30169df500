//! Moving bytes between a socket and buffers: what [`Connection`] and the
//! drivers of the connections built on it (which take the socket over with
//! [`Connection::into_parts`]) share.
//!
//! [`Connection`]: crate::Connection
//! [`Connection::into_parts`]: crate::Connection::into_parts

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use resp::{Decoder, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

/// Writes `buf[*written..]` to `stream` as far as the socket takes it,
/// counting in `written`, and flushes once all of it is out (TLS buffers
/// records; a plain socket's flush does nothing). Ready once everything is
/// written and flushed; `buf` is then cleared and `written` reset, so the
/// buffer's memory is reused from its start.
pub fn poll_write_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    written: &mut usize,
) -> Poll<io::Result<()>> {
    while *written < buf.len() {
        let n = ready!(Pin::new(&mut *stream).poll_write(cx, &buf[*written..]))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        *written += n;
    }
    ready!(Pin::new(stream).poll_flush(cx))?;
    buf.clear();
    *written = 0;
    Poll::Ready(Ok(()))
}

/// Reads what has arrived from `stream` into `buf`, first making room for
/// `chunk` bytes when less than a quarter of that is free. Ready with the
/// number of bytes read: 0 means the server closed the connection.
pub fn poll_read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    chunk: usize,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < chunk / 4 {
        buf.reserve(chunk);
    }
    // The read future holds no state of its own: dropping it while pending
    // loses nothing, so a fresh one per poll is sound.
    pin!(stream.read_buf(buf)).poll(cx)
}

/// As [`poll_read_more`], for a connection that expects more: the server
/// closing it is an `UnexpectedEof` error.
pub fn poll_read_open<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    chunk: usize,
) -> Poll<io::Result<()>> {
    if ready!(poll_read_more(stream, cx, buf, chunk))? == 0 {
        return Poll::Ready(Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    Poll::Ready(Ok(()))
}

/// How much room to keep free in a read buffer before each read: a little
/// for small frames, more for a while after a large one. A frame handed out
/// without copying keeps its part of the buffer alive, so a buffer that
/// holds one large frame at a time is reallocated (and the partial next
/// frame copied) for every one; room for several at once avoids that,
/// without the memory while frames are small.
#[derive(Debug, Clone, Default)]
pub struct ReadRoom {
    /// Reads left that keep the larger room.
    large_reads: u8,
}

impl ReadRoom {
    /// Bytes kept free before a read while frames are small.
    pub const SMALL: usize = 64 * 1024;
    /// Bytes kept free while large frames arrive.
    pub const LARGE: usize = 256 * 1024;
    /// A frame of this many bytes is a large one.
    pub const LARGE_FRAME: usize = 16 * 1024;
    /// How many reads keep the larger room after the last large frame.
    const LARGE_READS: u8 = 16;

    /// The room to keep free before the next read, which it counts.
    pub fn next_read(&mut self) -> usize {
        let room = if self.large_reads > 0 {
            Self::LARGE
        } else {
            Self::SMALL
        };
        self.large_reads = self.large_reads.saturating_sub(1);
        room
    }

    /// Decodes the next frame of `buf`, noting its size: a large frame, or
    /// a frame not whole yet of which a large part is buffered, keeps the
    /// larger room for the next reads.
    pub fn decode(
        &mut self,
        decoder: &mut Decoder,
        buf: &mut BytesMut,
    ) -> Result<Option<Value>, resp::Error> {
        let before = buf.len();
        let frame = decoder.decode(buf)?;
        let size = match frame {
            Some(_) => before - buf.len(),
            None => buf.len(),
        };
        if size >= Self::LARGE_FRAME {
            self.large_reads = Self::LARGE_READS;
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod read_room_tests {
    use bytes::BytesMut;
    use resp::Decoder;

    use super::ReadRoom;

    fn bulk(len: usize) -> BytesMut {
        let mut frame = BytesMut::from(format!("${len}\r\n").as_str());
        frame.extend_from_slice(&vec![b'x'; len]);
        frame.extend_from_slice(b"\r\n");
        frame
    }

    #[test]
    fn the_room_grows_after_a_large_frame_and_shrinks_back() {
        let mut room = ReadRoom::default();
        let mut decoder = Decoder::new();
        assert_eq!(room.next_read(), ReadRoom::SMALL);
        let mut small = bulk(100);
        assert!(room.decode(&mut decoder, &mut small).unwrap().is_some());
        assert_eq!(room.next_read(), ReadRoom::SMALL);
        // Not whole yet, but already large.
        let mut partial = bulk(ReadRoom::LARGE_FRAME);
        partial.truncate(partial.len() - 1);
        assert!(room.decode(&mut decoder, &mut partial).unwrap().is_none());
        let rooms: Vec<usize> = (0..17).map(|_| room.next_read()).collect();
        assert!(
            rooms[..16].iter().all(|&r| r == ReadRoom::LARGE),
            "{rooms:?}"
        );
        assert_eq!(rooms[16], ReadRoom::SMALL);
        // A whole large frame does the same.
        let mut whole = bulk(ReadRoom::LARGE_FRAME);
        let frame = room.decode(&mut Decoder::new(), &mut whole).unwrap();
        assert!(frame.is_some());
        assert_eq!(room.next_read(), ReadRoom::LARGE);
    }
}
