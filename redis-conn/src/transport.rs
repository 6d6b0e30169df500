//! `Stream`: the byte stream under a connection, over TCP, a Unix socket or
//! TLS, and how each is opened.

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::{Address, ConnectionConfig, Result};

/// What a connection attempt is doing, for the error when its time runs
/// out. Shared with the future that sets it, which must stay `Send`.
#[derive(Debug)]
pub(crate) struct Phase(std::sync::Mutex<&'static str>);

impl Phase {
    pub(crate) fn new(phase: &'static str) -> Phase {
        Phase(std::sync::Mutex::new(phase))
    }

    pub(crate) fn set(&self, phase: &'static str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = phase;
    }

    pub(crate) fn get(&self) -> &'static str {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An open byte stream to a server: TCP, a Unix socket, or TLS over TCP
/// (feature `tls`).
///
/// It only moves bytes; [`Connection`](crate::Connection) frames them.
pub struct Stream {
    inner: Inner,
}

enum Inner {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// Opens the transport `config` describes, without any handshake and
    /// without a timeout ([`connect`](crate::connect) adds both). An I/O
    /// error (a refused connection, a name that does not resolve) comes as
    /// an [`Error::Connect`](crate::Error::Connect) that names the address.
    ///
    /// For TCP, every address the host resolves to is tried in turn;
    /// `TCP_NODELAY` is set (requests are written in batches already, and
    /// each should leave at once) and keepalive as configured. For TLS, the
    /// server certificate is verified against the host name, or the name
    /// given with [`ConnectionConfig::with_tls_server_name`].
    pub async fn connect(config: &ConnectionConfig) -> Result<Stream> {
        Stream::connect_in(config, &Phase::new("connect")).await
    }

    /// As [`connect`](Self::connect), saying in `phase` what it is doing:
    /// `"connect"`, then `"tls handshake"`.
    pub(crate) async fn connect_in(config: &ConnectionConfig, phase: &Phase) -> Result<Stream> {
        config.validate()?;
        Stream::open(config, phase)
            .await
            .map_err(|e| crate::connection::at_address(e, config.address()))
    }

    async fn open(config: &ConnectionConfig, phase: &Phase) -> Result<Stream> {
        let inner = match config.address() {
            Address::Tcp { host, port } => {
                let tcp = connect_tcp(host, *port, config.tcp_keepalive()).await?;
                if config.is_tls() {
                    phase.set("tls handshake");
                    tls_over(tcp, config).await?
                } else {
                    Inner::Tcp(tcp)
                }
            }
            Address::Sentinel { .. } => {
                // Resolved by `connect` before a stream is opened.
                return Err(crate::Error::Protocol(resp::Error::InvalidFrame(
                    "a sentinel address resolved to no master",
                )));
            }
            #[cfg(unix)]
            Address::Unix(path) => Inner::Unix(tokio::net::UnixStream::connect(path).await?),
            #[cfg(not(unix))]
            Address::Unix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "unix sockets are not available on this platform",
                )
                .into())
            }
        };
        Ok(Stream { inner })
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        match self.inner {
            #[cfg(feature = "tls")]
            Inner::Tls(_) => true,
            _ => false,
        }
    }
}

impl From<TcpStream> for Stream {
    fn from(tcp: TcpStream) -> Stream {
        Stream {
            inner: Inner::Tcp(tcp),
        }
    }
}

#[cfg(unix)]
impl From<tokio::net::UnixStream> for Stream {
    fn from(unix: tokio::net::UnixStream) -> Stream {
        Stream {
            inner: Inner::Unix(unix),
        }
    }
}

#[cfg(feature = "tls")]
impl From<tokio_rustls::client::TlsStream<TcpStream>> for Stream {
    fn from(tls: tokio_rustls::client::TlsStream<TcpStream>) -> Stream {
        Stream {
            inner: Inner::Tls(Box::new(tls)),
        }
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Tcp(tcp) => f.debug_tuple("Tcp").field(tcp).finish(),
            #[cfg(unix)]
            Inner::Unix(unix) => f.debug_tuple("Unix").field(unix).finish(),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => f.debug_tuple("Tls").field(tls.get_ref().0).finish(),
        }
    }
}

/// Calls the same method on whichever stream is inside.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.get_mut().inner {
            Inner::Tcp($s) => $e,
            #[cfg(unix)]
            Inner::Unix($s) => $e,
            #[cfg(feature = "tls")]
            Inner::Tls($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Tcp(s) => s.is_write_vectored(),
            #[cfg(unix)]
            Inner::Unix(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Inner::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// Connects to the first address of `host` that accepts.
async fn connect_tcp(host: &str, port: u16, keepalive: Option<Duration>) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                configure(&tcp, keepalive)?;
                return Ok(tcp);
            }
            Err(e) => {
                tracing::debug!(%addr, error = %e, "connect failed; trying the next address");
                last_error = Some(e);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "the host name resolved to no address",
        )
    }))
}

fn configure(tcp: &TcpStream, keepalive: Option<Duration>) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    if let Some(idle) = keepalive {
        let params = socket2::TcpKeepalive::new().with_time(idle);
        socket2::SockRef::from(tcp).set_tcp_keepalive(&params)?;
    }
    Ok(())
}

#[cfg(feature = "tls")]
async fn tls_over(tcp: TcpStream, config: &ConnectionConfig) -> Result<Inner> {
    let tls = crate::tls::connect(tcp, config).await?;
    Ok(Inner::Tls(Box::new(tls)))
}

#[cfg(not(feature = "tls"))]
async fn tls_over(_tcp: TcpStream, _config: &ConnectionConfig) -> Result<Inner> {
    Err(crate::ConfigError::TlsNotEnabled.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_gets_nodelay_and_keepalive() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = ConnectionConfig::new(Address::tcp("127.0.0.1", port))
            .with_tcp_keepalive(Some(Duration::from_secs(30)));
        let stream = Stream::connect(&config).await.unwrap();
        assert!(!stream.is_tls());
        let Inner::Tcp(tcp) = &stream.inner else {
            panic!("not tcp: {stream:?}")
        };
        assert!(tcp.nodelay().unwrap());
        let sock = socket2::SockRef::from(tcp);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(30));

        let config = config.with_tcp_keepalive(None);
        let stream = Stream::connect(&config).await.unwrap();
        let Inner::Tcp(tcp) = &stream.inner else {
            panic!("not tcp")
        };
        assert!(!socket2::SockRef::from(tcp).keepalive().unwrap());
    }

    #[tokio::test]
    async fn every_resolved_address_is_tried() {
        // "localhost" usually resolves to ::1 and 127.0.0.1; only the IPv4
        // one listens here, so an IPv6 refusal must not end the attempt.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = ConnectionConfig::new(Address::tcp("localhost", port));
        Stream::connect(&config).await.unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn unix_socket() {
        let dir = std::env::temp_dir().join(format!("redis-conn-{}", crate::jitter_seed()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _listener = tokio::net::UnixListener::bind(&path).unwrap();
        let config = ConnectionConfig::new(Address::unix(&path));
        let stream = Stream::connect(&config).await.unwrap();
        assert!(format!("{stream:?}").starts_with("Unix"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
