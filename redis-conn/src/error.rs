//! The client error shared by every crate above `resp`, and the configuration
//! error it wraps.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::Address;

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
    /// one (`NOAUTH`). The message says what to change; the server's own
    /// reply is the source.
    #[error("authentication failed: {}", auth_hint(.0))]
    Auth(#[source] resp::ServerError),
    /// The [`CredentialsProvider`](crate::CredentialsProvider) could not
    /// give credentials; the source says why. Nothing was sent.
    #[error("cannot get credentials: {0}")]
    Credentials(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// A connection to `address` could not be opened: the source says why
    /// (the I/O error, such as a refused connection, or the timeout).
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// Where the connection was to go.
        address: Address,
        /// Why it could not be opened.
        #[source]
        source: Arc<Error>,
    },
    /// The connection is unavailable or was lost; the inner error says why
    /// (for example the I/O error that broke it, or the failed reconnect).
    #[error("connection unavailable: {0}")]
    Connection(#[source] Arc<Error>),
    /// The connection was closed: shut down on purpose, or its driver stopped.
    #[error("connection closed")]
    Closed,
    /// Something did not finish in time: "response to GET timed out after
    /// 30s".
    #[error("{}", timeout_text(what, command, limit))]
    Timeout {
        /// What did not finish: `"connect"`, `"tls handshake"`,
        /// `"handshake"`, `"response"`, `"pool checkout"`, ...
        what: &'static str,
        /// The command whose reply did not come in time, when a command's
        /// did not.
        command: Option<CommandName>,
        /// The time it was given, when one was.
        limit: Option<Duration>,
    },
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
    /// The command was redirected (`MOVED`, `ASK`) this many times without
    /// an answer: its nodes disagree about who serves the slot. (Being told
    /// to wait, `TRYAGAIN` or `CLUSTERDOWN`, is retried until the command's
    /// own deadline instead.)
    #[error("no answer after {0} redirects")]
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

    /// What kind of error this is, in a word fit for a metric's attribute
    /// or a span's status (OpenTelemetry's `error.type`): the code of a
    /// server error reply (`WRONGTYPE`, `MOVED`, ...), else the kind, lower
    /// case (`timeout`, `io`, `conversion`, `backpressure`, ...), of the
    /// error behind any [`Error::Connection`] wrapper.
    pub fn error_type(&self) -> &str {
        match self.root() {
            Error::Server(e) | Error::Auth(e) => e.code(),
            Error::Io(_) => "io",
            Error::Protocol(_) => "protocol",
            Error::Conversion { .. } => "conversion",
            Error::Credentials(_) => "credentials",
            Error::Connect { .. } | Error::Connection(_) => "connection",
            Error::Closed => "closed",
            Error::Timeout { .. } => "timeout",
            Error::Backpressure { .. } => "backpressure",
            Error::Unsupported(_) => "unsupported",
            Error::TransactionAborted => "transaction_aborted",
            Error::Config(_) => "config",
            Error::Cluster(_) => "cluster",
            Error::Encode(_) => "encode",
        }
    }

    /// True when something timed out ([`Error::Timeout`]), also when a
    /// timeout is the reason a connection is unavailable.
    pub fn is_timeout(&self) -> bool {
        matches!(self.root(), Error::Timeout { .. })
    }

    /// True when the error means the connection cannot be used any more:
    /// an I/O failure, a lost, unavailable or unopened connection, or a
    /// closed one.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Io(_) | Error::Connection(_) | Error::Connect { .. } | Error::Closed
        )
    }

    /// True when authentication failed: the server rejected the credentials
    /// ([`Error::Auth`]) or the credentials provider gave none
    /// ([`Error::Credentials`]), also when that is the reason a connection
    /// is unavailable (a reconnect whose handshake was refused).
    pub fn is_auth(&self) -> bool {
        matches!(self.root(), Error::Auth(_) | Error::Credentials(_))
    }

    /// The error behind any number of [`Error::Connection`] and
    /// [`Error::Connect`] wrappers: what actually went wrong.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use redis_conn::Error;
    ///
    /// let timeout = Error::Timeout { what: "response", command: None, limit: None };
    /// let wrapped = Error::Connection(Arc::new(timeout));
    /// assert!(matches!(wrapped.root(), Error::Timeout { what: "response", .. }));
    /// assert!(wrapped.is_timeout() && wrapped.is_connection());
    /// ```
    pub fn root(&self) -> &Error {
        let mut error = self;
        while let Error::Connection(cause) | Error::Connect { source: cause, .. } = error {
            error = cause;
        }
        error
    }

    /// An [`Error::Credentials`]: what a
    /// [`CredentialsProvider`](crate::CredentialsProvider) returns when it
    /// cannot give credentials.
    pub fn credentials(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Credentials(Arc::from(source.into()))
    }
}

/// The name of a command, for an error about it: at most
/// [`MAX_LEN`](Self::MAX_LEN) bytes of its first word, upper case, without
/// allocating. Its arguments, which may be secrets, are never kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandName {
    bytes: [u8; CommandName::MAX_LEN],
    len: u8,
}

impl CommandName {
    /// The longest name kept; longer ones are cut there.
    pub const MAX_LEN: usize = 23;

    /// The name of the command whose first word is `name`. Bytes that are
    /// not printable ASCII show as `?`.
    pub fn new(name: &[u8]) -> CommandName {
        let mut bytes = [0; CommandName::MAX_LEN];
        let len = name.len().min(CommandName::MAX_LEN);
        for (to, from) in bytes.iter_mut().zip(&name[..len]) {
            *to = if from.is_ascii_graphic() {
                from.to_ascii_uppercase()
            } else {
                b'?'
            };
        }
        CommandName {
            bytes,
            // At most MAX_LEN, which fits.
            len: len as u8,
        }
    }

    /// The name, upper case.
    pub fn as_str(&self) -> &str {
        // Printable ASCII only (see `new`), so always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The text of an [`Error::Auth`]: what to change, then the server's reply.
/// A `NOAUTH` reply talks about the command it refused (`HELLO`, which the
/// user never sent), so it is replaced, not quoted.
fn auth_hint(reply: &resp::ServerError) -> AuthHint<'_> {
    AuthHint(reply)
}

struct AuthHint<'a>(&'a resp::ServerError);

impl fmt::Display for AuthHint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reply = self.0;
        match reply.code() {
            "NOAUTH" => f.write_str(
                "the server wants a password and none was given (NOAUTH): put it in the url \
                 (redis://:password@host or redis://user:password@host), or set it with \
                 ConnectionConfig::with_password",
            ),
            "WRONGPASS" => write!(
                f,
                "the server refused the user name or password: {reply} \
                 (check the user and password in the url, or the credentials provider)"
            ),
            _ if reply
                .message()
                .to_ascii_lowercase()
                .contains("without any password configured") =>
            {
                write!(
                    f,
                    "a password was given but the server has none for this user: {reply} \
                     (remove the password from the url)"
                )
            }
            _ => write!(f, "{reply}"),
        }
    }
}

/// The text of an [`Error::Timeout`].
fn timeout_text<'a>(
    what: &'a str,
    command: &'a Option<CommandName>,
    limit: &'a Option<Duration>,
) -> TimeoutText<'a> {
    TimeoutText {
        what,
        command,
        limit,
    }
}

struct TimeoutText<'a> {
    what: &'a str,
    command: &'a Option<CommandName>,
    limit: &'a Option<Duration>,
}

impl fmt::Display for TimeoutText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)?;
        if let Some(command) = self.command {
            write!(f, " to {command}")?;
        }
        f.write_str(" timed out")?;
        if let Some(limit) = self.limit {
            write!(f, " after {limit:?}")?;
        }
        Ok(())
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
    /// The URL scheme is not one this client connects to.
    #[error(
        "unsupported url scheme {0:?}: expected redis, rediss, redis+unix, unix or \
         redis+sentinel (one server), or redis+cluster, rediss+cluster (a cluster)"
    )]
    UnsupportedScheme(String),
    /// The URL scheme is one the client knows, but names a topology this
    /// entry point does not open: a cluster URL given to
    /// [`ConnectionConfig::from_url`](crate::ConnectionConfig::from_url), a
    /// Sentinel or Unix socket URL given to a cluster's configuration.
    #[error("url scheme {scheme:?} names {names}: open it with {entry}")]
    OtherEntryPoint {
        /// The scheme given.
        scheme: String,
        /// What the scheme names: `"a cluster"`, `"a sentinel group"`, ...
        names: &'static str,
        /// The entry points that take it.
        entry: &'static str,
    },
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
    /// The library name suffix is empty or has a character the server
    /// refuses in `CLIENT SETINFO` (anything but printable ASCII, a space
    /// among them) or one that delimits it (`(`, `)`).
    #[error(
        "lib name suffix {0:?} is empty or has a space, parenthesis or non-printable character"
    )]
    InvalidLibNameSuffix(String),
    /// The `client_info` query parameter is neither `true` nor `false`.
    #[error("client_info {0:?} is not a boolean: expected true or false")]
    InvalidClientInfo(String),
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
    /// Client-side caching was asked for on RESP2: the server's
    /// invalidations are pushes, which only RESP3 carries on the connection
    /// that reads.
    #[error(
        "client-side caching needs RESP3 (protocol=resp3, the default) and a server that speaks it (Redis 6 or later)"
    )]
    CacheNeedsResp3,
    /// A command listed for client-side caching cannot be cached: it does
    /// not only read one key named by its first argument, or its reply
    /// changes without a write to the key.
    #[error("{0:?} cannot be cached: only read-only commands of one key (their first argument) whose reply depends on the key alone")]
    NotCacheable(String),
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

    fn timeout(what: &'static str) -> Error {
        Error::Timeout {
            what,
            command: None,
            limit: None,
        }
    }

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
        assert!(timeout("connect").is_timeout());
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
            "connection unavailable: authentication failed: the server refused the user name \
             or password: WRONGPASS invalid (check the user and password in the url, or the \
             credentials provider)"
        );
        assert!(wrapped.is_auth() && wrapped.is_connection());
        assert_eq!(wrapped.server_code(), Some("WRONGPASS"));
        let timeout = Error::Connection(Arc::new(Error::Connection(Arc::new(timeout("response")))));
        assert_eq!(
            timeout.to_string(),
            "connection unavailable: connection unavailable: response timed out"
        );
        assert!(timeout.is_timeout() && !timeout.is_auth());
        assert!(matches!(
            timeout.root(),
            Error::Timeout {
                what: "response",
                ..
            }
        ));
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
            timeout("connect"),
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
        assert_eq!(timeout("connect").to_string(), "connect timed out");
        assert_eq!(
            Error::Connection(Arc::new(Error::Closed)).to_string(),
            "connection unavailable: connection closed"
        );
    }

    #[test]
    fn messages_say_where_what_and_how_long() {
        let refused = Error::Connect {
            address: Address::tcp("10.0.0.7", 6380),
            source: Arc::new(Error::from(io::Error::from(
                io::ErrorKind::ConnectionRefused,
            ))),
        };
        assert!(refused.is_connection() && !refused.is_timeout());
        assert!(matches!(refused.root(), Error::Io(_)));
        assert!(
            refused
                .to_string()
                .starts_with("cannot connect to 10.0.0.7:6380: i/o error: "),
            "{refused}"
        );
        let slow = Error::Connect {
            address: Address::unix("/run/redis.sock"),
            source: Arc::new(Error::Timeout {
                what: "connect",
                command: None,
                limit: Some(Duration::from_secs(5)),
            }),
        };
        assert!(slow.is_timeout());
        assert_eq!(
            slow.to_string(),
            "cannot connect to /run/redis.sock: connect timed out after 5s"
        );
        let response = Error::Timeout {
            what: "response",
            command: Some(CommandName::new(b"hgetall")),
            limit: Some(Duration::from_millis(1500)),
        };
        assert_eq!(
            response.to_string(),
            "response to HGETALL timed out after 1.5s"
        );
        // A server that closed the connection after a response timeout:
        // callers see both.
        assert_eq!(
            Error::Connection(Arc::new(response)).to_string(),
            "connection unavailable: response to HGETALL timed out after 1.5s"
        );
    }

    #[test]
    fn auth_errors_say_what_to_change() {
        let text = |reply: &'static str| {
            Error::Auth(resp::ServerError::new(reply.as_bytes().to_vec())).to_string()
        };
        let noauth = text(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time",
        );
        assert!(!noauth.contains("HELLO"), "{noauth}");
        assert_eq!(
            noauth,
            "authentication failed: the server wants a password and none was given (NOAUTH): \
             put it in the url (redis://:password@host or redis://user:password@host), or set \
             it with ConnectionConfig::with_password"
        );
        assert_eq!(
            text("NOAUTH Authentication required."),
            noauth,
            "RESP2's SELECT says the same"
        );
        let extra = text(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
        assert!(
            extra.starts_with(
                "authentication failed: a password was given but the server has none for this user"
            ),
            "{extra}"
        );
        let e = Error::Auth(resp::ServerError::new(
            &b"NOAUTH Authentication required."[..],
        ));
        assert_eq!(e.server_code(), Some("NOAUTH"));
        let e = Error::credentials("token service unreachable");
        assert!(e.is_auth() && !e.is_connection());
        assert_eq!(
            e.to_string(),
            "cannot get credentials: token service unreachable"
        );
    }

    #[test]
    fn command_names_are_short_upper_case_and_printable() {
        assert_eq!(CommandName::new(b"get").as_str(), "GET");
        assert_eq!(CommandName::new(b"").as_str(), "");
        assert_eq!(CommandName::new(b"a b\r\n\xff").as_str(), "A?B???");
        let long = CommandName::new(&[b'x'; 100]);
        assert_eq!(long.as_str().len(), CommandName::MAX_LEN);
        assert_eq!(format!("{long:?}"), format!("{:?}", long.as_str()));
        // Small enough to travel with every request.
        assert!(std::mem::size_of::<Option<CommandName>>() <= 25);
    }

    #[test]
    fn error_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Error>();
        assert_traits::<ConfigError>();
    }
}
