//! The client error shared by every crate above `resp`, and the configuration
//! error it wraps.

use std::io;
use std::sync::Arc;

/// Everything that can go wrong talking to Redis.
///
/// `redis-conn`, `redis-paired` and `redis-pubsub` all return this error. It
/// is `Clone` (I/O errors and nested causes sit behind an [`Arc`]) so that one
/// failure can be handed to every caller it affects, for example every
/// request that was in flight when a connection died.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading from or writing to the socket failed, or it could not be
    /// opened at all.
    #[error("i/o error: {0}")]
    Io(#[source] Arc<io::Error>),
    /// The server sent bytes that are not valid RESP or exceed the decoder's
    /// limits, or a request could not be encoded (an empty command). After a
    /// decoding error the connection is out of step and must be dropped.
    #[error("protocol error: {0}")]
    Protocol(#[source] resp::Error),
    /// The server answered with an error reply; [`Error::server_code`] gives
    /// its code (`WRONGTYPE`, `MOVED`, `NOSCRIPT`, ...).
    #[error("server error: {0}")]
    Server(#[source] resp::ServerError),
    /// A reply could not be converted into the Rust type asked for:
    /// "expected i64, got a string that is not an integer in range: \"abc\"".
    #[error("expected {target}, got {found}{value}")]
    Conversion {
        /// The Rust type that was asked for.
        target: &'static str,
        /// The kind of reply that arrived (or why its content did not fit).
        found: &'static str,
        /// The start of the content that did not fit, when there is some.
        value: resp::Preview,
    },
    /// The handshake was rejected because of the credentials: a wrong user
    /// name or password (`WRONGPASS`), or none given to a server that wants
    /// one (`NOAUTH`).
    #[error("authentication failed: {0}")]
    Auth(#[source] resp::ServerError),
    /// The connection is unavailable or was lost; the inner error says why
    /// (for example the I/O error that broke it, or the failed reconnect).
    #[error("connection unavailable: {0}")]
    Connection(#[source] Arc<Error>),
    /// The connection was closed: shut down on purpose, or its driver stopped.
    #[error("connection closed")]
    Closed,
    /// Something did not finish in time; the field says what (`"connect"`,
    /// `"response"`, ...).
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// A bounded queue is full; the request was not queued.
    #[error("queue full: at most {limit} {unit} may wait")]
    Backpressure {
        /// The bound of the queue.
        limit: usize,
        /// What the bound counts: `"requests"` or `"bytes"`.
        unit: &'static str,
    },
    /// The command cannot be sent on this kind of connection; the field names
    /// it. On a request/response connection these are the commands whose
    /// replies do not pair one to one with requests (SUBSCRIBE, MONITOR,
    /// `CLIENT REPLY`): they would shift every later reply onto the wrong
    /// caller.
    #[error("{0} is not supported on this connection")]
    Unsupported(&'static str),
    /// A transaction's EXEC was aborted because a key it watched (`WATCH`)
    /// changed; none of its commands ran.
    #[error("transaction aborted: a watched key changed")]
    TransactionAborted,
    /// The configuration is invalid (a malformed URL, a missing TLS feature,
    /// unreadable certificates, ...).
    #[error("invalid configuration: {0}")]
    Config(#[source] ConfigError),
    /// A Redis Cluster could not serve the command (`redis-cluster`).
    #[error("cluster: {0}")]
    Cluster(#[source] ClusterError),
    /// A value could not be turned into command arguments (a type whose
    /// serialization fails, or that has no form a command can carry); the
    /// source says why. Nothing was sent.
    #[error("cannot encode the value: {0}")]
    Encode(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

/// Why a Redis Cluster could not serve a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The command was redirected (`MOVED`, `ASK`) or told to wait
    /// (`TRYAGAIN`, `CLUSTERDOWN`) this many times without an answer: the
    /// cluster is reconfiguring, or its nodes disagree.
    #[error("no answer after {0} redirects or retries")]
    TooManyRedirects(usize),
    /// No node serves the slot of the command's keys.
    #[error("no node serves slot {0}")]
    SlotUnserved(u16),
    /// No node gave a usable topology; the text says what was wrong.
    #[error("{0}")]
    Topology(String),
    /// A transaction's keys are in several slots: it cannot run on one node.
    #[error("the keys of a transaction are in more than one slot")]
    CrossSlotTransaction,
}

/// The result type of this crate and the crates built on it.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The code of a server error reply, such as `WRONGTYPE`, `MOVED` or
    /// `WRONGPASS` (for [`Error::Server`] and [`Error::Auth`], also when
    /// they are the reason a connection is unavailable).
    pub fn server_code(&self) -> Option<&str> {
        match self.root() {
            Error::Server(e) | Error::Auth(e) => Some(e.code()),
            _ => None,
        }
    }

    /// True when something timed out ([`Error::Timeout`]), also when a
    /// timeout is the reason a connection is unavailable.
    pub fn is_timeout(&self) -> bool {
        matches!(self.root(), Error::Timeout(_))
    }

    /// True when the error means the connection cannot be used any more:
    /// an I/O failure, a lost or unavailable connection, or a closed one.
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Connection(_) | Error::Closed)
    }

    /// True when the server rejected the credentials ([`Error::Auth`]), also
    /// when that is the reason a connection is unavailable (a reconnect whose
    /// handshake was refused).
    pub fn is_auth(&self) -> bool {
        matches!(self.root(), Error::Auth(_))
    }

    /// The error behind any number of [`Error::Connection`] wrappers: what
    /// actually went wrong.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use redis_conn::Error;
    ///
    /// let wrapped = Error::Connection(Arc::new(Error::Timeout("response")));
    /// assert!(matches!(wrapped.root(), Error::Timeout("response")));
    /// assert!(wrapped.is_timeout() && wrapped.is_connection());
    /// ```
    pub fn root(&self) -> &Error {
        let mut error = self;
        while let Error::Connection(cause) = error {
            error = cause;
        }
        error
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(Arc::new(e))
    }
}

impl From<resp::Error> for Error {
    /// Server error replies and conversion failures keep their meaning;
    /// everything else is a protocol error.
    fn from(e: resp::Error) -> Error {
        match e {
            resp::Error::Server(e) => Error::Server(e),
            resp::Error::Conversion {
                target,
                found,
                value,
            } => Error::Conversion {
                target,
                found,
                value,
            },
            other => Error::Protocol(other),
        }
    }
}

impl From<resp::ServerError> for Error {
    fn from(e: resp::ServerError) -> Error {
        Error::Server(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Config(e)
    }
}

/// What is wrong with a configuration or a connection URL.
///
/// Messages never include a password.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL could not be parsed at all.
    #[error("invalid url: {0}")]
    Url(#[source] url::ParseError),
    /// The URL scheme is not one this crate connects to.
    #[error("unsupported url scheme {0:?}: expected redis, rediss, redis+unix or unix")]
    UnsupportedScheme(String),
    /// A TCP URL without a host.
    #[error("url has no host")]
    MissingHost,
    /// The port is not a number from 1 to 65535.
    #[error("port out of range: expected 1 to 65535")]
    InvalidPort,
    /// The database is not a non-negative integer that fits in 32 bits.
    #[error("db {0:?} is not a non-negative integer")]
    InvalidDb(String),
    /// The database was given both in the path and as `?db=`.
    #[error("db given both in the path and in the query")]
    DuplicateDb,
    /// The `protocol` query parameter is neither `resp2` nor `resp3`.
    #[error("unknown protocol {0:?}: expected resp2 or resp3")]
    InvalidProtocol(String),
    /// The URL has a query parameter this crate does not know.
    #[error("unknown query parameter {0:?}")]
    UnknownQueryParameter(String),
    /// A Unix socket URL names a host; it should be `redis+unix:///path`.
    #[error("unix socket url has a host {0:?}: expected redis+unix:///path/to/socket")]
    UnexpectedHost(String),
    /// A `redis+sentinel://` URL without the master's name
    /// (`redis+sentinel://host:26379/mymaster`).
    #[error("sentinel url names no master: expected redis+sentinel://host:port/master_name")]
    MissingMasterName,
    /// `sentinel_role` is neither `master` nor `replica`.
    #[error("unknown sentinel_role {0:?}: expected master or replica")]
    InvalidSentinelRole(String),
    /// A Unix socket URL without a socket path.
    #[error("unix socket url has no path")]
    MissingPath,
    /// A percent-encoded part of the URL does not decode to UTF-8; the field
    /// names the part.
    #[error("{0} is not valid utf-8 once percent-decoded")]
    InvalidUtf8(&'static str),
    /// A user name without a password: Redis authenticates with both or with
    /// the password alone.
    #[error("a user name was given without a password")]
    UsernameWithoutPassword,
    /// `rediss://` or a TLS option, but the client was built without TLS.
    #[error(
        "tls requested but the client was built without it: enable the `tls` feature \
         of the client crate you depend on (redis-facade, or redis-conn, redis-paired, redis-pubsub)"
    )]
    TlsNotEnabled,
    /// The URL has no scheme: `localhost:6379` or `127.0.0.1`.
    #[error("no url scheme: expected a url such as redis://host:port/db, rediss://host:port or redis+unix:///path")]
    MissingScheme,
    /// TLS was requested for a Unix socket.
    #[error("tls is not supported over a unix socket")]
    TlsOverUnix,
    /// The name to verify the server certificate against is not a valid DNS
    /// name or IP address.
    #[error("invalid tls server name {0:?}")]
    InvalidServerName(String),
    /// A PEM file could not be read.
    #[error("cannot read {what} pem file {path:?}: {source}")]
    PemFile {
        /// Which PEM: `"root certificate"`, `"client certificate"`,
        /// `"client key"`.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why it could not be read.
        #[source]
        source: Arc<io::Error>,
    },
    /// A PEM file or buffer could not be parsed; the field says which one.
    #[error("invalid {what} pem: {source}")]
    #[cfg(feature = "tls")]
    Pem {
        /// Which PEM: `"root certificate"`, `"client certificate"`,
        /// `"client key"`.
        what: &'static str,
        /// Why it could not be parsed.
        #[source]
        source: Arc<rustls::pki_types::pem::Error>,
    },
    /// No trusted root certificate: none given, and none found in the
    /// system's store.
    #[error("no trusted root certificates: none given and none found in the system store")]
    NoRootCertificates,
    /// rustls refused the TLS settings (for example a client key that does
    /// not match its certificate).
    #[error("tls settings rejected: {0}")]
    #[cfg(feature = "tls")]
    Tls(#[source] rustls::Error),
}

impl From<url::ParseError> for ConfigError {
    /// Parse errors with a meaning of their own get their own variant.
    fn from(e: url::ParseError) -> ConfigError {
        match e {
            url::ParseError::InvalidPort => ConfigError::InvalidPort,
            url::ParseError::EmptyHost => ConfigError::MissingHost,
            other => ConfigError::Url(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_errors_keep_their_meaning() {
        let server = resp::ServerError::new(&b"WRONGTYPE Operation against a key"[..]);
        let e = Error::from(resp::Error::Server(server.clone()));
        assert!(matches!(&e, Error::Server(s) if *s == server));
        assert_eq!(e.server_code(), Some("WRONGTYPE"));
        assert_eq!(
            e.to_string(),
            "server error: WRONGTYPE Operation against a key"
        );

        let e = Error::from(resp::Error::Conversion {
            target: "i64",
            found: "a string that is not an integer in range",
            value: resp::Preview::of(b"abc"),
        });
        assert!(matches!(
            e,
            Error::Conversion {
                target: "i64",
                found: "a string that is not an integer in range",
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "expected i64, got a string that is not an integer in range: \"abc\""
        );

        let e = Error::from(resp::Error::InvalidType(b'?'));
        assert!(matches!(e, Error::Protocol(resp::Error::InvalidType(b'?'))));
        let e = Error::from(resp::Error::EmptyCommand);
        assert!(matches!(e, Error::Protocol(resp::Error::EmptyCommand)));
        assert_eq!(e.server_code(), None);
    }

    #[test]
    fn helpers_classify() {
        let io = Error::from(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(io.is_connection());
        assert!(!io.is_timeout());
        assert!(Error::Connection(Arc::new(io.clone())).is_connection());
        assert!(Error::Closed.is_connection());
        assert!(Error::Timeout("connect").is_timeout());
        let auth = Error::Auth(resp::ServerError::new(&b"WRONGPASS invalid"[..]));
        assert!(auth.is_auth());
        assert_eq!(auth.server_code(), Some("WRONGPASS"));
    }

    #[test]
    fn helpers_look_through_an_unavailable_connection() {
        let auth = Error::Auth(resp::ServerError::new(&b"WRONGPASS invalid"[..]));
        // A reconnect refused by the server, as callers see it.
        let wrapped = Error::Connection(Arc::new(auth));
        assert_eq!(
            wrapped.to_string(),
            "connection unavailable: authentication failed: WRONGPASS invalid"
        );
        assert!(wrapped.is_auth() && wrapped.is_connection());
        assert_eq!(wrapped.server_code(), Some("WRONGPASS"));
        let timeout = Error::Connection(Arc::new(Error::Connection(Arc::new(Error::Timeout(
            "response",
        )))));
        assert_eq!(
            timeout.to_string(),
            "connection unavailable: connection unavailable: response timed out"
        );
        assert!(timeout.is_timeout() && !timeout.is_auth());
        assert!(matches!(timeout.root(), Error::Timeout("response")));
        let io = Error::Connection(Arc::new(Error::from(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        ))));
        assert!(!io.is_timeout() && !io.is_auth() && io.server_code().is_none());
    }

    #[test]
    fn messages_are_lowercase_without_period() {
        let errors = [
            Error::from(io::Error::other("boom")),
            Error::Protocol(resp::Error::MissingCrlf),
            Error::Connection(Arc::new(Error::Closed)),
            Error::Closed,
            Error::Timeout("connect"),
            Error::Backpressure {
                limit: 3,
                unit: "requests",
            },
            Error::Config(ConfigError::MissingHost),
            Error::Config(ConfigError::from(url::ParseError::InvalidPort)),
            Error::Config(ConfigError::UnknownQueryParameter("x".into())),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
            assert!(!text.ends_with('.'), "{text}");
        }
        assert_eq!(Error::Timeout("connect").to_string(), "connect timed out");
        assert_eq!(
            Error::Connection(Arc::new(Error::Closed)).to_string(),
            "connection unavailable: connection closed"
        );
    }

    #[test]
    fn error_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Error>();
        assert_traits::<ConfigError>();
    }
}
