//! `Connection`: the framed low-level connection, a `Sink` of commands and a
//! `Stream` of replies over one socket, and `connect`, which opens one.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::future::Either;
use futures_util::{Sink, SinkExt, StreamExt};
use resp::{Command, Decoder, DecoderConfig, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::handshake::{Handshake, Step};
use crate::transport::Phase;
use crate::{
    Address, CommandName, ConnectionConfig, Error, HandshakeInfo, MasterWatch, Protocol, Result,
    Stream,
};

/// Opens a connection: the transport, then the handshake, all within the
/// configured [connect timeout](ConnectionConfig::with_connect_timeout).
///
/// The handshake authenticates, selects the database, names the client and
/// negotiates the protocol, in one round trip when the server speaks RESP3
/// (see [`HandshakeInfo::round_trips`]). A socket that cannot be opened, or
/// breaks during the handshake, gives [`Error::Connect`] naming the address
/// around the I/O error. A server that does not answer in time gives
/// [`Error::Connect`] around an [`Error::Timeout`] naming what it was
/// waiting for and the limit: `"connect"` (resolving the name, the TCP
/// connection), `"tls handshake"`, `"credentials"` (the
/// [credentials provider](ConnectionConfig::with_credentials_provider)) or
/// `"handshake"` (the server accepted the connection but did not answer
/// the Redis handshake: a stalled or paused server). Rejected credentials
/// give [`Error::Auth`], whose message says what to change.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
///
/// # async fn run() -> redis_conn::Result<()> {
/// let config = "redis://127.0.0.1:6379/0".parse()?;
/// let mut conn = redis_conn::connect(&config).await?;
/// conn.send(resp::cmd!("SET", "greeting", "hello")).await?;
/// let reply = conn.next().await;
/// # Ok(())
/// # }
/// ```
pub async fn connect(config: &ConnectionConfig) -> Result<Connection<Stream>> {
    config.validate()?;
    // What the attempt was doing when time ran out: "connect" (resolving,
    // TCP), "tls handshake" or "handshake" (the Redis one), so that a
    // stalled server reads differently from an unreachable one.
    let phase = Phase::new("connect");
    #[cfg(feature = "otel")]
    let started = tokio::time::Instant::now();
    let attempt = async {
        if let Address::Sentinel { sentinels, master } = config.address() {
            // A watch that follows the master knows of a failover before a
            // sentinel that did not lead it does, and the old master still
            // answers as one for seconds after it: go where the watch says.
            let watched = MasterWatch::existing(config).and_then(|watch| watch.master());
            if let Some((host, port)) = watched {
                match connect_node(config, master, host, port, &phase).await {
                    Ok(conn) => return Ok(conn),
                    Err(error) => {
                        tracing::debug!(%error, "the master the sentinels announced did not serve; asking them")
                    }
                }
            }
            phase.set("sentinel");
            let (host, port) = crate::sentinel::master_address(config, sentinels, master).await?;
            return connect_node(config, master, host, port, &phase).await;
        }
        let stream = Stream::connect_in(config, &phase).await?;
        phase.set("handshake");
        Connection::establish_in(stream, config, &phase)
            .await
            .map_err(|e| at_address(e, config.address()))
    };
    match tokio::time::timeout(config.connect_timeout(), attempt).await {
        Ok(Ok(conn)) => {
            let info = conn.handshake();
            tracing::debug!(
                address = %config.address(),
                protocol = %info.protocol(),
                round_trips = info.round_trips(),
                server_version = info.server_version(),
                "connected"
            );
            #[cfg(feature = "otel")]
            crate::otel::connected(config.address(), started.elapsed());
            Ok(conn)
        }
        Ok(Err(e)) => {
            tracing::debug!(address = %config.address(), error = %e, "connect failed");
            Err(e)
        }
        Err(_elapsed) => Err(Error::Connect {
            address: config.address().clone(),
            source: Arc::new(Error::Timeout {
                what: phase.get(),
                command: None,
                limit: Some(config.connect_timeout()),
            }),
        }),
    }
}

/// An I/O error while opening a connection, as an [`Error::Connect`] that
/// names the address; other errors as they are.
pub(crate) fn at_address(error: Error, address: &Address) -> Error {
    match error {
        Error::Io(_) => Error::Connect {
            address: address.clone(),
            source: Arc::new(error),
        },
        other => other,
    }
}

/// Opens a connection to the node a sentinel named, and checks its role.
async fn connect_node(
    config: &ConnectionConfig,
    master: &str,
    host: String,
    port: u16,
    phase: &Phase,
) -> Result<Connection<Stream>> {
    let node = config
        .clone()
        .with_address(Address::tcp(host.clone(), port));
    phase.set("connect");
    let stream = Stream::connect_in(&node, phase).await?;
    phase.set("handshake");
    let mut conn = Connection::establish_in(stream, &node, phase)
        .await
        .map_err(|e| at_address(e, node.address()))?;
    crate::sentinel::check_role(&mut conn, config, master).await?;
    conn.node = Some((host, port));
    Ok(conn)
}

/// Opens a connection again after one was lost: tries at once, then waits
/// after each failed attempt as the config's
/// [`ReconnectPolicy`](crate::ReconnectPolicy) says for the time since this
/// was called (the time the server has been away), and tries until one
/// works or `stop` completes (then `None`). `failed` hears why each attempt
/// failed, so that a caller can report it while it waits.
///
/// A server that accepts the connection but is still loading its dataset
/// from disk (it answers commands with `LOADING`) is not back yet: the
/// attempt counts as failed, so that commands waiting for the reconnect
/// are not all refused the moment it is made. Finding out costs a `PING`
/// on each new connection.
///
/// This crate never reconnects by itself; this is the loop the connections
/// that heal themselves (`redis-paired`, `redis-pubsub`) share.
pub async fn reconnect(
    config: &ConnectionConfig,
    stop: impl Future<Output = ()>,
    mut failed: impl FnMut(Error),
) -> Option<Connection<Stream>> {
    let policy = config.reconnect();
    let lost = tokio::time::Instant::now();
    let mut stop = pin!(stop);
    let mut attempt: u32 = 0;
    // The first attempt goes at once; the waits start after a failure.
    let mut delay = Duration::ZERO;
    // Behind sentinels, the new master's announcement ends a wait at once.
    let mut watch = MasterWatch::existing(config);
    loop {
        let watch = &mut watch;
        let next = pin!(async move {
            if !delay.is_zero() {
                let sleep = pin!(tokio::time::sleep(delay));
                match watch {
                    Some(watch) => {
                        futures_util::future::select(sleep, pin!(watch.changed())).await;
                    }
                    None => sleep.await,
                }
            }
            let mut conn = connect(config).await?;
            loaded(&mut conn, config).await?;
            Ok(conn)
        });
        match futures_util::future::select(next, stop.as_mut()).await {
            Either::Left((Ok(conn), _)) => return Some(conn),
            Either::Left((Err(error), _)) => {
                tracing::debug!(%error, attempt, "reconnect failed");
                failed(error);
                delay = policy.delay(lost.elapsed(), crate::jitter_seed());
                attempt = attempt.saturating_add(1);
            }
            Either::Right(((), _)) => return None,
        }
    }
}

/// Checks that the server behind a new connection has its dataset
/// loaded: one restarted with persistence accepts connections and the
/// handshake while it loads, and refuses every command with `LOADING`.
async fn loaded(conn: &mut Connection<Stream>, config: &ConnectionConfig) -> Result<()> {
    match tokio::time::timeout(config.connect_timeout(), conn.send(resp::cmd!("PING"))).await {
        Ok(Err(Error::Server(e))) if e.code() == "LOADING" => Err(Error::Server(e)),
        // Any other answer, even a refusal (a user not allowed PING), says
        // the server serves commands.
        Ok(Ok(_) | Err(Error::Server(_))) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_elapsed) => Err(Error::Timeout {
            what: "handshake",
            command: Some(CommandName::new(b"PING")),
            limit: Some(config.connect_timeout()),
        }),
    }
}

/// One connection to a server, framed: a [`Sink`] of [`Command`]s and a
/// [`Stream`](futures_util::Stream) of reply [`Value`]s.
///
/// It pairs nothing: replies come out in the order the server sends them,
/// pushes included, and matching them to requests is the caller's business.
/// That suits `MONITOR`, proxies, test doubles and the drivers of
/// `redis-paired` and `redis-pubsub`, which take the socket over with
/// [`into_parts`](Self::into_parts). It never reconnects: once the stream
/// ends, the connection is spent.
///
/// Commands sent are encoded into a write buffer and written on
/// [`flush`](SinkExt::flush) (or when the buffer passes 64 KiB). Replies are
/// decoded from a read buffer that is reused; bulk strings in them share its
/// memory. The stream yields an error at most once and then ends: a
/// malformed reply is an [`Error::Protocol`], a read failure an
/// [`Error::Io`], end of file in the middle of a reply an `Io` error of kind
/// `UnexpectedEof`; end of file between replies just ends it.
pub struct Connection<S = Stream> {
    stream: S,
    read_buf: BytesMut,
    /// Encoded commands, and how much of them is written.
    write_buf: BytesMut,
    written: usize,
    decoder: Decoder,
    handshake: HandshakeInfo,
    /// The stream of replies ended (end of file or an error).
    finished: bool,
    /// The node a Sentinel address led to, as the sentinels named it.
    node: Option<(String, u16)>,
}

/// A [`Connection`] taken apart, to be driven by other code.
///
/// `read_buf` holds bytes already read but not decoded (replies that
/// arrived right after the handshake, or part of one); `decoder` may be in
/// the middle of a frame of them. Keep feeding the same decoder with
/// `read_buf` and more bytes read into it.
#[derive(Debug)]
pub struct Parts<S> {
    /// The byte stream.
    pub stream: S,
    /// Bytes read and not decoded yet.
    pub read_buf: BytesMut,
    /// The decoder, with the configured limits and any partial frame.
    pub decoder: Decoder,
    /// The protocol the connection speaks.
    pub protocol: Protocol,
}

/// The write buffer size at which [`Sink::poll_ready`] writes before taking
/// more commands.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// Read at least this much at a time, so that small replies do not each
/// cost a system call.
const READ_CHUNK: usize = 8 * 1024;

impl Connection<Stream> {
    /// The same as [`connect`](crate::connect).
    pub async fn connect(config: &ConnectionConfig) -> Result<Connection<Stream>> {
        connect(config).await
    }
}

impl<S> Connection<S> {
    /// Wraps a stream without any handshake: the connection is taken to
    /// speak RESP2, as every new Redis connection does. For tests, proxies,
    /// and streams whose handshake was done elsewhere.
    pub fn new(stream: S, decoder: DecoderConfig) -> Connection<S> {
        Connection {
            stream,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::new(),
            written: 0,
            decoder: Decoder::with_config(decoder),
            handshake: HandshakeInfo::without_handshake(Protocol::Resp2),
            finished: false,
            node: None,
        }
    }

    /// The protocol the connection speaks, as negotiated.
    pub fn protocol(&self) -> Protocol {
        self.handshake.protocol()
    }

    /// What the handshake negotiated and learned.
    pub fn handshake(&self) -> &HandshakeInfo {
        &self.handshake
    }

    /// The node a [`Sentinel`](Address::Sentinel) address led to: its host
    /// and port as the sentinels named them. `None` for other addresses.
    pub fn node(&self) -> Option<(&str, u16)> {
        self.node
            .as_ref()
            .map(|(host, port)| (host.as_str(), *port))
    }

    /// The byte stream.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The byte stream, mutably. Reading or writing it directly puts the
    /// connection out of step.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Takes the connection apart so that other code can drive the socket.
    ///
    /// Commands sent but not flushed yet are dropped: flush first.
    pub fn into_parts(self) -> Parts<S> {
        Parts {
            stream: self.stream,
            read_buf: self.read_buf,
            decoder: self.decoder,
            protocol: self.handshake.protocol(),
        }
    }

    /// Puts a connection taken apart back together.
    pub fn from_parts(parts: Parts<S>) -> Connection<S> {
        Connection {
            stream: parts.stream,
            read_buf: parts.read_buf,
            write_buf: BytesMut::new(),
            written: 0,
            decoder: parts.decoder,
            handshake: HandshakeInfo::without_handshake(parts.protocol),
            finished: false,
            node: None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Runs the handshake `config` asks for over an open stream, without a
    /// timeout ([`connect`](crate::connect) adds one).
    ///
    /// Bytes the server sends after the handshake replies stay buffered for
    /// the connection to yield.
    ///
    /// With a [credentials provider](ConnectionConfig::with_credentials_provider),
    /// the provider is asked first, and the handshake authenticates with
    /// what it gives.
    pub async fn establish(stream: S, config: &ConnectionConfig) -> Result<Connection<S>> {
        Connection::establish_in(stream, config, &Phase::new("handshake")).await
    }

    /// As [`establish`](Self::establish), saying in `phase` what it is
    /// doing: `"credentials"` while the provider is asked, then
    /// `"handshake"`.
    pub(crate) async fn establish_in(
        stream: S,
        config: &ConnectionConfig,
        phase: &Phase,
    ) -> Result<Connection<S>> {
        config.validate()?;
        let credentials = match config.credentials_provider() {
            Some(provider) => {
                phase.set("credentials");
                let credentials = provider.credentials().await?;
                phase.set("handshake");
                Some(credentials)
            }
            None => None,
        };
        let mut conn = Connection::new(stream, config.decoder_config());
        let mut handshake = Handshake::new(config, credentials.as_ref());
        let mut step = handshake.start();
        loop {
            match step {
                Step::Done(mut info) => {
                    info.credentials_expire_at = credentials.as_ref().and_then(|c| c.expires_at());
                    conn.handshake = info;
                    return Ok(conn);
                }
                Step::Send(batch) => {
                    // One write for the whole batch: the round trip is the point.
                    conn.stream.write_all(&batch).await?;
                    conn.stream.flush().await?;
                }
                Step::Wait => {}
            }
            let reply = match conn.next().await {
                Some(reply) => reply?,
                None => {
                    return Err(Error::from(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection during the handshake",
                    )))
                }
            };
            step = handshake.receive(reply)?;
        }
    }

    /// Sends one command and waits for the next value the server sends.
    ///
    /// That value is this command's reply only if nothing else was pending:
    /// use it for request-response exchanges such as the `MONITOR` that
    /// starts a monitor. An error reply becomes [`Error::Server`]; the end of
    /// the stream an [`Error::Io`] of kind `UnexpectedEof`.
    pub async fn send(&mut self, cmd: Command) -> Result<Value> {
        SinkExt::send(self, cmd).await?;
        match self.next().await {
            Some(Ok(Value::Error(text) | Value::BlobError(text))) => {
                Err(Error::Server(resp::ServerError::new(text)))
            }
            Some(reply) => reply,
            None => Err(Error::from(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ))),
        }
    }
}

impl<S: AsyncWrite + Unpin> Connection<S> {
    /// Writes the write buffer out and flushes the stream.
    fn poll_write_buf(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        crate::io::poll_write_all(&mut self.stream, cx, &mut self.write_buf, &mut self.written)
            .map_err(Error::from)
    }
}

impl<S: AsyncWrite + Unpin> Sink<Command> for Connection<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.write_buf.len() >= WRITE_HIGH_WATER {
            ready!(this.poll_write_buf(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, cmd: Command) -> Result<()> {
        cmd.encode(&mut self.get_mut().write_buf);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_write_buf(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_buf(cx))?;
        ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> futures_util::Stream for Connection<S> {
    type Item = Result<Value>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Value>>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match this.decoder.decode(&mut this.read_buf) {
                Ok(Some(value)) => return Poll::Ready(Some(Ok(value))),
                Ok(None) => {}
                Err(e) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(Error::Protocol(e))));
                }
            }
            let read =
                crate::io::poll_read_more(&mut this.stream, cx, &mut this.read_buf, READ_CHUNK);
            match ready!(read) {
                Ok(0) => {
                    this.finished = true;
                    if this.read_buf.is_empty() && this.decoder.is_idle() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(Error::from(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection in the middle of a reply",
                    )))));
                }
                Ok(_) => {}
                Err(e) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }
}

impl<S> fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("handshake", &self.handshake)
            .field("buffered_read", &self.read_buf.len())
            .field("buffered_write", &self.write_buf.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
