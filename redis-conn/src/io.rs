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
