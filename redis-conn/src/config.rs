//! `ConnectionConfig`: where to connect and how, from a URL and `with_*`
//! builders; `Address`, `Protocol` and `PemSource`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use resp::DecoderConfig;

use crate::{ConfigError, CredentialsProvider, Error, ReconnectPolicy, Result};

/// Everything needed to open a connection: the address, TLS, credentials,
/// the database, the protocol, timeouts, decoder limits and the reconnect
/// policy of the crates that heal connections.
///
/// Build one from a URL (see [`from_url`](Self::from_url)) or from an
/// [`Address`], then adjust it with the `with_*` methods:
///
/// ```
/// use std::time::Duration;
/// use redis_conn::{ConnectionConfig, Protocol};
///
/// let config: ConnectionConfig = "redis://alice:s3cret@cache.internal:6380/2?client_name=worker"
///     .parse()?;
/// let config = config.with_connect_timeout(Duration::from_secs(1));
/// assert_eq!(config.address().to_string(), "cache.internal:6380");
/// assert_eq!(config.db(), 2);
/// assert_eq!(config.username(), Some("alice"));
/// assert_eq!(config.client_name(), Some("worker"));
/// assert_eq!(config.protocol(), Protocol::Resp3);
/// // The password never shows.
/// assert!(!format!("{config:?} {config}").contains("s3cret"));
/// # Ok::<(), redis_conn::Error>(())
/// ```
///
/// It is cheap to clone and `Send + Sync`; clones share the TLS settings
/// built at the first TLS connection.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    address: Address,
    db: u32,
    username: Option<String>,
    password: Option<Secret>,
    credentials_provider: Option<Provider>,
    client_name: Option<String>,
    client_info: bool,
    lib_name_suffix: Option<String>,
    read_only: bool,
    sentinel_username: Option<String>,
    sentinel_password: Option<Secret>,
    sentinel_replica: bool,
    protocol: Protocol,
    connect_timeout: Duration,
    tcp_keepalive: Option<Duration>,
    decoder_config: DecoderConfig,
    reconnect: ReconnectPolicy,
    pub(crate) tls: TlsOptions,
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A host name or IP address (IPv6 without brackets) and a port. Every
    /// address the name resolves to is tried in turn.
    Tcp {
        /// The host name or IP address.
        host: String,
        /// The port.
        port: u16,
    },
    /// The path of a Unix domain socket.
    Unix(PathBuf),
    /// The current master of `master`, as Redis Sentinel names it: the
    /// sentinels are asked in turn (`SENTINEL GET-MASTER-ADDR-BY-NAME`) at
    /// every connect and reconnect, and the node found must say it is a
    /// master (`ROLE`), so a connection follows a failover.
    Sentinel {
        /// The sentinels' hosts and ports.
        sentinels: Vec<(String, u16)>,
        /// The name the sentinels monitor the master under.
        master: String,
    },
}

/// The protocol version to ask the server for.
///
/// With [`Resp3`](Protocol::Resp3), the default, the handshake is `HELLO 3`;
/// a server that does not know `HELLO` (Redis before 6) is spoken to in RESP2
/// instead. [`Resp2`](Protocol::Resp2) never sends `HELLO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// RESP2, the protocol of every Redis version.
    Resp2,
    /// RESP3, available from Redis 6: typed replies (maps, sets, doubles,
    /// booleans) and push messages on the same connection.
    #[default]
    Resp3,
}

/// PEM data, or the file that holds it: certificates and keys for TLS.
///
/// Files are read when the first TLS connection is made. Its `Debug` shows the
/// path or the length, never the content (a key is a secret).
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A PEM file.
    File(PathBuf),
    /// PEM text in memory.
    Bytes(Vec<u8>),
}

impl ConnectionConfig {
    /// The default port, 6379.
    pub const DEFAULT_PORT: u16 = 6379;
    /// The port a sentinel listens on when a `redis+sentinel://` URL names
    /// none.
    pub const DEFAULT_SENTINEL_PORT: u16 = 26379;
    /// The default connect timeout, 5 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default TCP keepalive idle time, 60 s.
    pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(60);

    /// A plain-text connection to `address`, database 0, RESP3, no
    /// credentials, and the default timeouts and limits.
    pub fn new(address: Address) -> ConnectionConfig {
        ConnectionConfig {
            address,
            db: 0,
            username: None,
            password: None,
            credentials_provider: None,
            client_name: None,
            client_info: true,
            lib_name_suffix: None,
            read_only: false,
            sentinel_username: None,
            sentinel_password: None,
            sentinel_replica: false,
            protocol: Protocol::Resp3,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            tcp_keepalive: Some(Self::DEFAULT_TCP_KEEPALIVE),
            decoder_config: DecoderConfig::default(),
            reconnect: ReconnectPolicy::default(),
            tls: TlsOptions::default(),
        }
    }

    /// Parses a connection URL.
    ///
    /// ```text
    /// redis://[user[:password]@]host[:port][/db][?params]
    /// rediss://[user[:password]@]host[:port][/db][?params]     TLS, feature `tls`
    /// redis+unix:///path/to/socket[?params]
    /// unix:///path/to/socket[?params]
    /// ```
    ///
    /// The port defaults to 6379 and the database to 0. IPv6 hosts go in
    /// brackets (`redis://[::1]:6380`). The user name and password are
    /// percent-decoded (`p%40ss` is `p@ss`). Query parameters:
    ///
    /// - `db=N`: the database (the only way to give it for a Unix socket);
    /// - `protocol=resp2` or `protocol=resp3` (also `2` or `3`);
    /// - `client_name=NAME`: sent with `HELLO ... SETNAME` or `CLIENT SETNAME`;
    /// - `lib_name_suffix=NAME`: see
    ///   [`with_lib_name_suffix`](Self::with_lib_name_suffix);
    /// - `client_info=false` (or `true`): see
    ///   [`with_client_info`](Self::with_client_info);
    /// - `user=NAME` and `password=SECRET` (also `username=`): credentials,
    ///   for Unix sockets, whose URLs have no room for them. Query values are
    ///   form-decoded: a `+` is a space, write `%2B` for a plus sign.
    ///
    /// Anything else is an error that names the problem.
    pub fn from_url(url: &str) -> Result<ConnectionConfig> {
        parse_url(url).map_err(Error::Config)
    }

    /// Sets the address to connect to.
    pub fn with_address(mut self, address: Address) -> ConnectionConfig {
        self.address = address;
        self
    }

    /// Sets the database selected at connect time (`SELECT`, skipped for 0).
    pub fn with_db(mut self, db: u32) -> ConnectionConfig {
        self.db = db;
        self
    }

    /// Sets the ACL user name; it needs a password too.
    pub fn with_username(mut self, username: impl Into<String>) -> ConnectionConfig {
        self.username = Some(username.into());
        self
    }

    /// Sets the password, for the ACL user or, without a user name, for the
    /// `default` user (`requirepass`).
    pub fn with_password(mut self, password: impl Into<String>) -> ConnectionConfig {
        self.password = Some(Secret(password.into()));
        self
    }

    /// Asks `provider` for the user name and password at every handshake,
    /// instead of using those of the URL: for passwords that are rotated
    /// and tokens that expire (see [`CredentialsProvider`]). The user name
    /// of the config is used when the credentials name none.
    pub fn with_credentials_provider(
        mut self,
        provider: Arc<dyn CredentialsProvider>,
    ) -> ConnectionConfig {
        self.credentials_provider = Some(Provider(provider));
        self
    }

    /// Sets the name the connection gets on the server (`CLIENT LIST`).
    pub fn with_client_name(mut self, name: impl Into<String>) -> ConnectionConfig {
        self.client_name = Some(name.into());
        self
    }

    /// Says who is calling, or not: with `true`, the default, the handshake
    /// tells the server the library's name and version (`CLIENT SETINFO
    /// LIB-NAME redis-facade` and `LIB-VER`, shown by `CLIENT LIST` and
    /// `CLIENT INFO`). They go in the same write as `HELLO`, or as the
    /// RESP2 handshake's `AUTH`, `SELECT` or `CLIENT SETNAME`, so they cost
    /// no round trip; a RESP2 connection with nothing else to send does
    /// without them. A server that does not know them (Redis before 7.2)
    /// answers with an error, which the handshake ignores. Turn them off
    /// for a proxy that refuses the connection over them.
    pub fn with_client_info(mut self, enabled: bool) -> ConnectionConfig {
        self.client_info = enabled;
        self
    }

    /// Appends `(suffix)` to the library name the handshake sends
    /// ([`with_client_info`](Self::with_client_info)), as the server's
    /// documentation asks of libraries built on another:
    /// `with_lib_name_suffix("myorm_v1")` sends `LIB-NAME
    /// redis-facade(myorm_v1)`. The server refuses spaces and other
    /// characters that would break a `CLIENT LIST` line, and parentheses
    /// delimit the suffix: a suffix with any of them, or an empty one, is a
    /// [`ConfigError::InvalidLibNameSuffix`] before anything is sent.
    pub fn with_lib_name_suffix(mut self, suffix: impl Into<String>) -> ConnectionConfig {
        self.lib_name_suffix = Some(suffix.into());
        self
    }

    /// Sends `READONLY` at the end of the handshake (and so after every
    /// reconnect): a Redis Cluster replica then serves reads of its
    /// primary's slots instead of redirecting them. `redis-cluster` sets it
    /// on the connections it reads from replicas with.
    pub fn with_read_only(mut self, read_only: bool) -> ConnectionConfig {
        self.read_only = read_only;
        self
    }

    /// Sets the protocol version to ask for.
    pub fn with_protocol(mut self, protocol: Protocol) -> ConnectionConfig {
        self.protocol = protocol;
        self
    }

    /// Sets the time allowed for resolving, connecting, TLS and the
    /// handshake, all together (default 5 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> ConnectionConfig {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the TCP keepalive idle time, or turns keepalive off with `None`
    /// (default 60 s).
    pub fn with_tcp_keepalive(mut self, idle: Option<Duration>) -> ConnectionConfig {
        self.tcp_keepalive = idle;
        self
    }

    /// Sets the limits the decoder enforces on replies.
    pub fn with_decoder_config(mut self, decoder_config: DecoderConfig) -> ConnectionConfig {
        self.decoder_config = decoder_config;
        self
    }

    /// Sets the reconnect policy that `redis-paired` and `redis-pubsub`
    /// follow; this crate itself never reconnects.
    pub fn with_reconnect(mut self, reconnect: ReconnectPolicy) -> ConnectionConfig {
        self.reconnect = reconnect;
        self
    }

    /// Turns TLS on or off (`rediss://` turns it on). Connecting with TLS on
    /// needs the `tls` feature.
    pub fn with_tls(mut self, enabled: bool) -> ConnectionConfig {
        self.tls.enabled = enabled;
        self.tls.reset_cache();
        self
    }

    /// Trusts only the CA certificates in this PEM (a file or bytes) instead
    /// of the system's root store.
    pub fn with_tls_root_pem(mut self, pem: impl Into<PemSource>) -> ConnectionConfig {
        self.tls.root = Some(pem.into());
        self.tls.reset_cache();
        self
    }

    /// Presents this client certificate chain and its private key (PEM,
    /// PKCS#8, PKCS#1 or SEC1) to servers that ask for one (mutual TLS).
    pub fn with_tls_client_cert(
        mut self,
        cert: impl Into<PemSource>,
        key: impl Into<PemSource>,
    ) -> ConnectionConfig {
        self.tls.client_cert = Some((cert.into(), key.into()));
        self.tls.reset_cache();
        self
    }

    /// Verifies the server certificate against this name (and sends it as
    /// SNI) instead of the host of the address.
    pub fn with_tls_server_name(mut self, name: impl Into<String>) -> ConnectionConfig {
        self.tls.server_name = Some(name.into());
        self
    }

    /// Uses this rustls configuration as it is, instead of building one from
    /// the roots and client certificate given.
    #[cfg(feature = "tls")]
    pub fn with_tls_client_config(
        mut self,
        config: std::sync::Arc<rustls::ClientConfig>,
    ) -> ConnectionConfig {
        self.tls.custom = Some(config);
        self.tls.reset_cache();
        self
    }

    /// The address to connect to.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The database selected at connect time.
    pub fn db(&self) -> u32 {
        self.db
    }

    /// The ACL user name, if any.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// Whether a password is set (the password itself is never shown).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The credentials provider, if one is set.
    pub fn credentials_provider(&self) -> Option<&Arc<dyn CredentialsProvider>> {
        self.credentials_provider.as_ref().map(|p| &p.0)
    }

    /// The client name, if any.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// Whether the handshake sends the library's name and version.
    pub fn client_info(&self) -> bool {
        self.client_info
    }

    /// The suffix of the library name, if one is set.
    pub fn lib_name_suffix(&self) -> Option<&str> {
        self.lib_name_suffix.as_deref()
    }

    /// The credentials of the sentinels, when they want others than the
    /// data nodes' (the sentinels of [`Address::Sentinel`]).
    pub fn with_sentinel_credentials(
        mut self,
        username: Option<String>,
        password: impl Into<String>,
    ) -> ConnectionConfig {
        self.sentinel_username = username;
        self.sentinel_password = Some(Secret(password.into()));
        self
    }

    /// With a [`Sentinel`](Address::Sentinel) address: connect to one of the
    /// master's replicas the sentinels know and consider healthy, for reads
    /// (`?sentinel_role=replica` in a URL), instead of the master. Each
    /// reconnect picks again.
    pub fn with_sentinel_replica(mut self, replica: bool) -> ConnectionConfig {
        self.sentinel_replica = replica;
        self
    }

    /// Whether a Sentinel address leads to a replica instead of the master.
    pub fn sentinel_replica(&self) -> bool {
        self.sentinel_replica
    }

    /// The sentinels' user name, if one is set.
    pub fn sentinel_username(&self) -> Option<&str> {
        self.sentinel_username.as_deref()
    }

    /// The sentinels' password, if one is set.
    pub fn sentinel_password(&self) -> Option<&str> {
        self.sentinel_password.as_ref().map(|s| s.0.as_str())
    }

    /// Whether the handshake ends with `READONLY`.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The protocol version asked for.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The TCP keepalive idle time, or `None` when keepalive is off.
    pub fn tcp_keepalive(&self) -> Option<Duration> {
        self.tcp_keepalive
    }

    /// The decoder limits.
    pub fn decoder_config(&self) -> DecoderConfig {
        self.decoder_config
    }

    /// The reconnect policy.
    pub fn reconnect(&self) -> ReconnectPolicy {
        self.reconnect
    }

    /// Whether TLS is on.
    pub fn is_tls(&self) -> bool {
        self.tls.enabled
    }

    /// The name the server certificate is verified against: the override, or
    /// the host of a TCP address.
    pub fn tls_server_name(&self) -> Option<&str> {
        match (&self.tls.server_name, &self.address) {
            (Some(name), _) => Some(name),
            (None, Address::Tcp { host, .. }) => Some(host),
            (None, Address::Unix(_) | Address::Sentinel { .. }) => None,
        }
    }

    /// The password, for the handshake only.
    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|s| s.0.as_str())
    }

    /// Checks what the builders cannot: combinations that cannot connect.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.username.is_some() && self.password.is_none() && self.credentials_provider.is_none()
        {
            return Err(ConfigError::UsernameWithoutPassword);
        }
        if let Some(suffix) = &self.lib_name_suffix {
            check_lib_name_suffix(suffix)?;
        }
        if self.tls.enabled {
            if !cfg!(feature = "tls") {
                return Err(ConfigError::TlsNotEnabled);
            }
            if matches!(self.address, Address::Unix(_)) {
                return Err(ConfigError::TlsOverUnix);
            }
        }
        Ok(())
    }
}

impl FromStr for ConnectionConfig {
    type Err = Error;

    /// The same as [`ConnectionConfig::from_url`].
    fn from_str(url: &str) -> Result<ConnectionConfig> {
        ConnectionConfig::from_url(url)
    }
}

impl fmt::Display for ConnectionConfig {
    /// The configuration as a URL that [`from_url`](Self::from_url) reads
    /// back, except that the password is replaced by `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut query = Vec::new();
        match &self.address {
            Address::Tcp { .. } => {
                let scheme = if self.tls.enabled { "rediss" } else { "redis" };
                write!(f, "{scheme}://")?;
                match (&self.username, &self.password) {
                    (Some(user), Some(_)) => write!(f, "{}:<redacted>@", escape(user, b""))?,
                    (Some(user), None) => write!(f, "{}@", escape(user, b""))?,
                    (None, Some(_)) => write!(f, ":<redacted>@")?,
                    (None, None) => {}
                }
                write!(f, "{}", self.address)?;
                if self.db != 0 {
                    write!(f, "/{}", self.db)?;
                }
            }
            Address::Sentinel { sentinels, master } => {
                write!(f, "redis+sentinel://")?;
                match (&self.username, &self.password) {
                    (Some(user), Some(_)) => write!(f, "{}:<redacted>@", escape(user, b""))?,
                    (None, Some(_)) => write!(f, ":<redacted>@")?,
                    _ => {}
                }
                for (i, (host, port)) in sentinels.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    write!(f, "{sep}{}", Address::tcp(host.clone(), *port))?;
                }
                write!(f, "/{}", escape(master, b""))?;
                if self.db != 0 {
                    write!(f, "/{}", self.db)?;
                }
                if self.sentinel_password.is_some() {
                    query.push("sentinel_password=<redacted>".to_owned());
                }
                if self.sentinel_replica {
                    query.push("sentinel_role=replica".to_owned());
                }
            }
            Address::Unix(path) => {
                let path = path.to_string_lossy();
                write!(f, "redis+unix://{}", escape(&path, b"/"))?;
                if self.db != 0 {
                    query.push(format!("db={}", self.db));
                }
                if let Some(user) = &self.username {
                    query.push(format!("user={}", escape(user, b"")));
                }
                if self.password.is_some() {
                    query.push("password=<redacted>".to_owned());
                }
            }
        }
        if self.protocol == Protocol::Resp2 {
            query.push("protocol=resp2".to_owned());
        }
        if let Some(name) = &self.client_name {
            query.push(format!("client_name={}", escape(name, b"")));
        }
        if let Some(suffix) = &self.lib_name_suffix {
            query.push(format!("lib_name_suffix={}", escape(suffix, b"")));
        }
        if !self.client_info {
            query.push("client_info=false".to_owned());
        }
        for (i, param) in query.iter().enumerate() {
            f.write_str(if i == 0 { "?" } else { "&" })?;
            f.write_str(param)?;
        }
        Ok(())
    }
}

impl Address {
    /// A TCP address.
    pub fn tcp(host: impl Into<String>, port: u16) -> Address {
        Address::Tcp {
            host: host.into(),
            port,
        }
    }

    /// A Unix socket address.
    pub fn unix(path: impl Into<PathBuf>) -> Address {
        Address::Unix(path.into())
    }
}

impl fmt::Display for Address {
    /// `host:port` (`[::1]:6379` for IPv6) or the socket path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(path) => write!(f, "{}", path.display()),
            Address::Sentinel { master, .. } => write!(f, "sentinel master {master}"),
        }
    }
}

impl FromStr for Protocol {
    type Err = ConfigError;

    /// `resp2` or `resp3` (any case), or `2` or `3`.
    fn from_str(s: &str) -> Result<Protocol, ConfigError> {
        match s.to_ascii_lowercase().as_str() {
            "resp2" | "2" => Ok(Protocol::Resp2),
            "resp3" | "3" => Ok(Protocol::Resp3),
            _ => Err(ConfigError::InvalidProtocol(s.to_owned())),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Resp2 => "RESP2",
            Protocol::Resp3 => "RESP3",
        })
    }
}

impl PemSource {
    /// The PEM bytes, read from the file if need be.
    #[cfg(feature = "tls")]
    pub(crate) fn load(&self, what: &'static str) -> Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            PemSource::Bytes(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
            PemSource::File(path) => match std::fs::read(path) {
                Ok(bytes) => Ok(std::borrow::Cow::Owned(bytes)),
                Err(e) => Err(Error::Config(ConfigError::PemFile {
                    what,
                    path: path.clone(),
                    source: std::sync::Arc::new(e),
                })),
            },
        }
    }
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(path) => f.debug_tuple("File").field(path).finish(),
            PemSource::Bytes(bytes) => write!(f, "Bytes(<{} bytes>)", bytes.len()),
        }
    }
}

impl From<PathBuf> for PemSource {
    fn from(path: PathBuf) -> PemSource {
        PemSource::File(path)
    }
}

impl From<&Path> for PemSource {
    fn from(path: &Path) -> PemSource {
        PemSource::File(path.to_owned())
    }
}

impl From<Vec<u8>> for PemSource {
    fn from(pem: Vec<u8>) -> PemSource {
        PemSource::Bytes(pem)
    }
}

impl From<&[u8]> for PemSource {
    fn from(pem: &[u8]) -> PemSource {
        PemSource::Bytes(pem.to_vec())
    }
}

/// A credentials provider: its `Debug` says only that there is one.
#[derive(Clone)]
struct Provider(Arc<dyn CredentialsProvider>);

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialsProvider")
    }
}

/// A password: its `Debug` never shows it.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// TLS settings, and the rustls configuration built from them once.
#[derive(Clone, Default)]
pub(crate) struct TlsOptions {
    pub(crate) enabled: bool,
    pub(crate) root: Option<PemSource>,
    pub(crate) client_cert: Option<(PemSource, PemSource)>,
    pub(crate) server_name: Option<String>,
    #[cfg(feature = "tls")]
    pub(crate) custom: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Built at the first TLS connection and shared by clones, so that
    /// reconnecting does not reload the system's root store.
    #[cfg(feature = "tls")]
    pub(crate) cache: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>>>,
}

impl TlsOptions {
    fn reset_cache(&mut self) {
        #[cfg(feature = "tls")]
        {
            self.cache = Default::default();
        }
    }
}

impl fmt::Debug for TlsOptions {
    /// Shows what is configured, never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("TlsOptions");
        s.field("enabled", &self.enabled)
            .field("root", &self.root)
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|(cert, _)| cert),
            )
            .field("server_name", &self.server_name);
        #[cfg(feature = "tls")]
        s.field("custom_client_config", &self.custom.is_some());
        s.finish()
    }
}

/// The URL parser behind [`ConnectionConfig::from_url`].
/// `redis+sentinel://[user:password@]host1[:port1],host2[:port2]/master[/db][?query]`:
/// the data nodes' credentials, the sentinels (port 26379 by default), the
/// master's name, the database; the query takes `sentinel_username` and
/// `sentinel_password` besides the options of a `redis://` URL.
fn parse_sentinel_url(rest: &str) -> Result<ConnectionConfig, ConfigError> {
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), authority),
    };
    let mut sentinels = Vec::new();
    for host in hosts.split(',').filter(|h| !h.is_empty()) {
        // `host`, `[::1]`: no port given.
        let host = if host.ends_with(']') || !host.contains(':') {
            format!("{host}:{}", ConnectionConfig::DEFAULT_SENTINEL_PORT)
        } else {
            host.to_string()
        };
        match parse_url(&format!("redis://{host}"))?.address {
            Address::Tcp { host, port } => sentinels.push((host, port)),
            _ => return Err(ConfigError::MissingHost),
        }
    }
    if sentinels.is_empty() {
        return Err(ConfigError::MissingHost);
    }
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let master = segments
        .next()
        .filter(|m| !m.is_empty())
        .ok_or(ConfigError::MissingMasterName)?;
    let master = percent_decode(master, "master name")?;
    let db = segments.next().unwrap_or("");
    let mut sentinel_username = None;
    let mut sentinel_password = None;
    let mut sentinel_replica = false;
    let mut others = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sentinel_username" => {
                sentinel_username = Some(percent_decode(value, "sentinel user name")?)
            }
            "sentinel_password" => {
                sentinel_password = Some(Secret(percent_decode(value, "sentinel password")?))
            }
            "sentinel_role" => match value {
                "master" => sentinel_replica = false,
                "replica" => sentinel_replica = true,
                other => return Err(ConfigError::InvalidSentinelRole(other.to_string())),
            },
            _ => others.push(pair),
        }
    }
    let (first_host, first_port) = &sentinels[0];
    let single = format!(
        "redis://{userinfo}{}/{db}?{}",
        Address::tcp(first_host.clone(), *first_port),
        others.join("&")
    );
    let mut config = parse_url(&single)?;
    config.address = Address::Sentinel { sentinels, master };
    config.sentinel_username = sentinel_username;
    config.sentinel_password = sentinel_password;
    config.sentinel_replica = sentinel_replica;
    Ok(config)
}

fn parse_url(input: &str) -> Result<ConnectionConfig, ConfigError> {
    // The scheme decides how the rest reads: checked first, so that a
    // cluster's `host1:port1,host2:port2` is not misread as a bad port.
    if let Some((scheme, rest)) = input.split_once("://") {
        match scheme.to_ascii_lowercase().as_str() {
            "redis" | "rediss" | "redis+unix" | "unix" => {}
            "redis+sentinel" => return parse_sentinel_url(rest),
            "redis+cluster" | "rediss+cluster" => {
                return Err(ConfigError::OtherEntryPoint {
                    scheme: scheme.to_owned(),
                    names: "a cluster",
                    entry: "Client::open or cluster_connect (redis-facade), \
                            or ClusterConfig (redis-cluster)",
                });
            }
            other => return Err(ConfigError::UnsupportedScheme(other.to_owned())),
        }
    }
    let url = match url::Url::parse(input) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => return Err(ConfigError::MissingScheme),
        Err(e) => return Err(e.into()),
    };
    let tls = match url.scheme() {
        "redis" | "redis+unix" | "unix" => false,
        "rediss" => true,
        // `localhost:6379` reads as the scheme `localhost`.
        _ if !input.contains("://") => return Err(ConfigError::MissingScheme),
        other => return Err(ConfigError::UnsupportedScheme(other.to_owned())),
    };
    if tls && !cfg!(feature = "tls") {
        return Err(ConfigError::TlsNotEnabled);
    }
    let unix = matches!(url.scheme(), "redis+unix" | "unix");

    let mut config = if unix {
        if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
            return Err(ConfigError::UnexpectedHost(host.to_owned()));
        }
        let path = percent_decode(url.path(), "socket path")?;
        if path.is_empty() {
            return Err(ConfigError::MissingPath);
        }
        ConnectionConfig::new(Address::Unix(PathBuf::from(path)))
    } else {
        let host = match url.host() {
            None => return Err(ConfigError::MissingHost),
            Some(url::Host::Domain("")) => return Err(ConfigError::MissingHost),
            Some(url::Host::Domain(name)) => percent_decode(name, "host")?,
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
        };
        let port = match url.port() {
            None => ConnectionConfig::DEFAULT_PORT,
            Some(0) => return Err(ConfigError::InvalidPort),
            Some(port) => port,
        };
        ConnectionConfig::new(Address::Tcp { host, port }).with_tls(tls)
    };

    if !url.username().is_empty() {
        config.username = Some(percent_decode(url.username(), "user name")?);
    }
    if let Some(password) = url.password() {
        config.password = Some(Secret(percent_decode(password, "password")?));
    }

    // "redis://host:port/db": the path holds the database, if anything.
    let mut path_db = None;
    if !unix {
        let db = url.path().strip_prefix('/').unwrap_or(url.path());
        if !db.is_empty() {
            path_db = Some(parse_db(&percent_decode(db, "db")?)?);
        }
    }
    let mut query_db = None;
    for (key, value) in url.query_pairs() {
        match &*key {
            "db" => query_db = Some(parse_db(&value)?),
            "protocol" => config.protocol = value.parse()?,
            "client_name" => config.client_name = Some(value.into_owned()),
            "lib_name_suffix" => {
                check_lib_name_suffix(&value)?;
                config.lib_name_suffix = Some(value.into_owned());
            }
            "client_info" => {
                config.client_info = match &*value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => return Err(ConfigError::InvalidClientInfo(other.to_owned())),
                }
            }
            "user" | "username" => config.username = Some(value.into_owned()),
            "password" => config.password = Some(Secret(value.into_owned())),
            other => return Err(ConfigError::UnknownQueryParameter(other.to_owned())),
        }
    }
    config.db = match (path_db, query_db) {
        (Some(_), Some(_)) => return Err(ConfigError::DuplicateDb),
        (Some(db), None) | (None, Some(db)) => db,
        (None, None) => 0,
    };
    if config.username.is_some() && config.password.is_none() {
        return Err(ConfigError::UsernameWithoutPassword);
    }
    Ok(config)
}

/// Refuses a library name suffix the server would refuse, or that would
/// blur where the suffix ends: "it is not possible to use spaces, newlines,
/// or other non-printable characters that would violate the format of the
/// CLIENT LIST reply", and "brace characters are used to delimit the custom
/// suffix and should be avoided in the suffix itself" (CLIENT SETINFO).
fn check_lib_name_suffix(suffix: &str) -> Result<(), ConfigError> {
    let allowed = |b: u8| b.is_ascii_graphic() && b != b'(' && b != b')';
    if suffix.is_empty() || !suffix.bytes().all(allowed) {
        return Err(ConfigError::InvalidLibNameSuffix(suffix.to_owned()));
    }
    Ok(())
}

fn parse_db(s: &str) -> Result<u32, ConfigError> {
    // `u32::from_str` accepts a leading `+`; a database index is digits only.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigError::InvalidDb(s.to_owned()));
    }
    s.parse().map_err(|_| ConfigError::InvalidDb(s.to_owned()))
}

/// Decodes `%XX` escapes (RFC 3986, section 2.1); a `%` not followed by two
/// hex digits stays as it is.
fn percent_decode(s: &str, what: &'static str) -> Result<String, ConfigError> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ConfigError::InvalidUtf8(what))
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986, section
/// 2.3) and those in `keep`.
fn escape<'s>(s: &'s str, keep: &[u8]) -> std::borrow::Cow<'s, str> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b);
    if s.bytes().all(plain) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if plain(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    std::borrow::Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a URL should parse into.
    struct Want {
        address: Address,
        tls: bool,
        db: u32,
        user: Option<&'static str>,
        password: Option<&'static str>,
        protocol: Protocol,
        name: Option<&'static str>,
    }

    fn tcp(host: &str, port: u16) -> Want {
        Want {
            address: Address::tcp(host, port),
            tls: false,
            db: 0,
            user: None,
            password: None,
            protocol: Protocol::Resp3,
            name: None,
        }
    }

    fn unix(path: &str) -> Want {
        Want {
            address: Address::unix(path),
            ..tcp("", 0)
        }
    }

    impl Want {
        fn db(mut self, db: u32) -> Want {
            self.db = db;
            self
        }
        #[cfg_attr(not(feature = "tls"), allow(dead_code))]
        fn tls(mut self) -> Want {
            self.tls = true;
            self
        }
        fn user(mut self, user: &'static str) -> Want {
            self.user = Some(user);
            self
        }
        fn password(mut self, password: &'static str) -> Want {
            self.password = Some(password);
            self
        }
        fn resp2(mut self) -> Want {
            self.protocol = Protocol::Resp2;
            self
        }
        fn name(mut self, name: &'static str) -> Want {
            self.name = Some(name);
            self
        }
    }

    fn check(url: &str, want: Want) {
        let c = ConnectionConfig::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(c.address(), &want.address, "{url}");
        assert_eq!(c.is_tls(), want.tls, "{url}");
        assert_eq!(c.db(), want.db, "{url}");
        assert_eq!(c.username(), want.user, "{url}");
        assert_eq!(c.password(), want.password, "{url}");
        assert_eq!(c.protocol(), want.protocol, "{url}");
        assert_eq!(c.client_name(), want.name, "{url}");
        // Defaults a URL cannot change.
        assert_eq!(c.connect_timeout(), Duration::from_secs(5));
        assert_eq!(c.tcp_keepalive(), Some(Duration::from_secs(60)));
        assert_eq!(c.reconnect(), ReconnectPolicy::default());
        assert_eq!(c.decoder_config(), DecoderConfig::default());
        // Both entry points agree.
        assert_eq!(
            url.parse::<ConnectionConfig>().unwrap().address(),
            c.address()
        );
    }

    #[test]
    fn accepted_urls() {
        check("redis://127.0.0.1", tcp("127.0.0.1", 6379));
        check("redis://localhost:6380", tcp("localhost", 6380));
        check("redis://localhost:6380/", tcp("localhost", 6380));
        check("redis://localhost/3", tcp("localhost", 6379).db(3));
        check("redis://h:1/15", tcp("h", 1).db(15));
        check("redis://h:65535/4294967295", tcp("h", 65535).db(u32::MAX));
        check("redis://h?db=7", tcp("h", 6379).db(7));
        check(
            "REDIS://Cache.Internal/1",
            tcp("Cache.Internal", 6379).db(1),
        );
        check("redis://[::1]:6380/2", tcp("::1", 6380).db(2));
        check("redis://[::1]", tcp("::1", 6379));
        check("redis://[fe80::1]:7000", tcp("fe80::1", 7000));
        check("redis://:secret@h", tcp("h", 6379).password("secret"));
        check(
            "redis://alice:secret@h:6390/2",
            tcp("h", 6390).db(2).user("alice").password("secret"),
        );
        check(
            "redis://us%40er:p%3Ass%2Fw%25rd@h",
            tcp("h", 6379).user("us@er").password("p:ss/w%rd"),
        );
        check(
            "redis://:%F0%9F%94%91@h",
            tcp("h", 6379).password("\u{1F511}"),
        );
        check("redis://:p%zz@h", tcp("h", 6379).password("p%zz"));
        check("redis://h/?protocol=resp2", tcp("h", 6379).resp2());
        check("redis://h/?protocol=RESP2", tcp("h", 6379).resp2());
        check("redis://h/?protocol=2", tcp("h", 6379).resp2());
        check("redis://h/?protocol=resp3", tcp("h", 6379));
        check(
            "redis://h/5?client_name=web%2D1&protocol=resp2",
            tcp("h", 6379).db(5).name("web-1").resp2(),
        );
        check(
            "redis://h?user=bob&password=a%2Bb+c",
            tcp("h", 6379).user("bob").password("a+b c"),
        );
        check(
            "redis://h?username=bob&password=x",
            tcp("h", 6379).user("bob").password("x"),
        );
        check("redis+unix:///tmp/redis.sock", unix("/tmp/redis.sock"));
        check(
            "redis+unix:///tmp/redis.sock?db=3",
            unix("/tmp/redis.sock").db(3),
        );
        check(
            "unix:///var/run/redis/redis.sock",
            unix("/var/run/redis/redis.sock"),
        );
        check("unix:/tmp/r.sock", unix("/tmp/r.sock"));
        check("unix:///tmp/a%20b.sock", unix("/tmp/a b.sock"));
        check(
            "unix:///tmp/r.sock?db=1&user=u&password=p&protocol=resp2&client_name=n",
            unix("/tmp/r.sock")
                .db(1)
                .user("u")
                .password("p")
                .resp2()
                .name("n"),
        );
    }

    #[test]
    #[cfg(feature = "tls")]
    fn accepted_tls_urls() {
        check("rediss://h", tcp("h", 6379).tls());
        check(
            "rediss://u:p@[::1]:6390/1",
            tcp("::1", 6390).tls().db(1).user("u").password("p"),
        );
        let c = ConnectionConfig::from_url("rediss://cache.example.com:6390").unwrap();
        assert_eq!(c.tls_server_name(), Some("cache.example.com"));
        let c = c.with_tls_server_name("other.example.com");
        assert_eq!(c.tls_server_name(), Some("other.example.com"));
    }

    #[test]
    #[cfg(not(feature = "tls"))]
    fn tls_urls_need_the_feature() {
        let e = ConnectionConfig::from_url("rediss://h").unwrap_err();
        assert!(
            matches!(e, Error::Config(ConfigError::TlsNotEnabled)),
            "{e}"
        );
        assert!(e.to_string().contains("`tls` feature"));
    }

    /// A URL, a check of the error it gives, and a part of its message.
    type Rejected = (&'static str, fn(&ConfigError) -> bool, &'static str);

    #[test]
    fn sentinel_urls() {
        let config = ConnectionConfig::from_url(
            "redis+sentinel://:hunter2@h1:26380,h2,[::1]:26381/my%20master/2?sentinel_password=swordfish&protocol=resp2",
        )
        .unwrap();
        assert_eq!(
            config.address(),
            &Address::Sentinel {
                sentinels: vec![
                    ("h1".into(), 26380),
                    ("h2".into(), 26379),
                    ("::1".into(), 26381)
                ],
                master: "my master".into(),
            }
        );
        assert_eq!(config.db(), 2);
        assert_eq!(config.password(), Some("hunter2"));
        assert_eq!(config.sentinel_password(), Some("swordfish"));
        assert_eq!(config.protocol(), Protocol::Resp2);
        let shown = config.to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("swordfish"),
            "{shown}"
        );
        assert!(
            shown.starts_with("redis+sentinel://:<redacted>@h1:26380,h2:26379,[::1]:26381/my"),
            "{shown}"
        );

        let replica =
            ConnectionConfig::from_url("redis+sentinel://h/m?sentinel_role=replica").unwrap();
        assert!(replica.sentinel_replica());
        assert!(
            replica.to_string().ends_with("?sentinel_role=replica"),
            "{replica}"
        );
        for (url, part) in [
            (
                "redis+sentinel://h/m?sentinel_role=boss",
                "unknown sentinel_role",
            ),
            ("redis+sentinel://h1:26379", "names no master"),
            ("redis+sentinel://h1:26379/", "names no master"),
            ("redis+sentinel:///mymaster", "url has no host"),
            ("redis+sentinel://h1:port/mymaster", "port out of range"),
            (
                "redis+sentinel://h1/mymaster?nope=1",
                "unknown query parameter",
            ),
        ] {
            let err = ConnectionConfig::from_url(url).unwrap_err();
            assert!(err.to_string().contains(part), "{url}: {err}");
        }
    }

    #[test]
    fn rejected_urls() {
        use ConfigError::*;
        #[rustfmt::skip]
        let cases: &[Rejected] = &[
            ("", |e| matches!(e, MissingScheme), "no url scheme: expected a url such as redis://host:port/db, rediss://host:port or redis+unix:///path"),
            ("localhost:6379", |e| matches!(e, MissingScheme), "no url scheme"),
            ("127.0.0.1:6379", |e| matches!(e, MissingScheme), "no url scheme"),
            ("redis-host", |e| matches!(e, MissingScheme), "no url scheme"),
            ("http://h", |e| matches!(e, UnsupportedScheme(s) if s == "http"), "unsupported url scheme \"http\""),
            ("http://a:1,b:2", |e| matches!(e, UnsupportedScheme(s) if s == "http"), "redis+sentinel (one server), or redis+cluster"),
            ("redis+cluster://a:7000,b:7001", |e| matches!(e, OtherEntryPoint { scheme, .. } if scheme == "redis+cluster"), "url scheme \"redis+cluster\" names a cluster: open it with Client::open or cluster_connect"),
            ("rediss+cluster://a:7000", |e| matches!(e, OtherEntryPoint { names: "a cluster", .. }), "names a cluster"),
            ("redis://", |e| matches!(e, MissingHost), "url has no host"),
            ("redis:///3", |e| matches!(e, MissingHost), "url has no host"),
            ("redis://:6379", |e| matches!(e, MissingHost), "url has no host"),
            ("redis:h", |e| matches!(e, MissingHost), "url has no host"),
            ("redis://h:70000", |e| matches!(e, InvalidPort), "port out of range: expected 1 to 65535"),
            ("redis://h:0", |e| matches!(e, InvalidPort), "port out of range"),
            ("redis://h:port", |e| matches!(e, InvalidPort), "port out of range"),
            ("redis://[::1", |e| matches!(e, Url(url::ParseError::InvalidIpv6Address)), "invalid url: invalid IPv6 address"),
            ("redis://h/abc", |e| matches!(e, InvalidDb(s) if s == "abc"), "db \"abc\" is not a non-negative integer"),
            ("redis://h/-1", |e| matches!(e, InvalidDb(s) if s == "-1"), "db \"-1\""),
            ("redis://h/+1", |e| matches!(e, InvalidDb(s) if s == "+1"), "db \"+1\""),
            ("redis://h/1/2", |e| matches!(e, InvalidDb(s) if s == "1/2"), "db \"1/2\""),
            ("redis://h/4294967296", |e| matches!(e, InvalidDb(_)), "db \"4294967296\""),
            ("redis://h?db=x", |e| matches!(e, InvalidDb(s) if s == "x"), "db \"x\""),
            ("redis://h?db=", |e| matches!(e, InvalidDb(s) if s.is_empty()), "db \"\""),
            ("redis://h/1?db=1", |e| matches!(e, DuplicateDb), "db given both in the path and in the query"),
            ("redis://h?protocol=resp4", |e| matches!(e, InvalidProtocol(s) if s == "resp4"), "unknown protocol \"resp4\": expected resp2 or resp3"),
            ("redis://h?timeout=3", |e| matches!(e, UnknownQueryParameter(s) if s == "timeout"), "unknown query parameter \"timeout\""),
            ("redis://alice@h", |e| matches!(e, UsernameWithoutPassword), "a user name was given without a password"),
            ("redis://:%FF@h", |e| matches!(e, InvalidUtf8("password")), "password is not valid utf-8 once percent-decoded"),
            ("redis+unix://", |e| matches!(e, MissingPath), "unix socket url has no path"),
            ("unix://localhost/tmp/r.sock", |e| matches!(e, UnexpectedHost(h) if h == "localhost"), "unix socket url has a host \"localhost\""),
            ("unix:///tmp/r.sock?dbx=1", |e| matches!(e, UnknownQueryParameter(s) if s == "dbx"), "unknown query parameter"),
        ];
        for (url, is_expected, message) in cases {
            match ConnectionConfig::from_url(url) {
                Err(Error::Config(e)) => {
                    assert!(is_expected(&e), "{url:?}: unexpected {e:?}");
                    let text = Error::Config(e).to_string();
                    assert!(text.starts_with("invalid configuration: "), "{text}");
                    assert!(
                        text.contains(message),
                        "{url:?}: {text:?} lacks {message:?}"
                    );
                }
                other => panic!("{url:?}: expected a config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn password_never_shows() {
        let configs = [
            ConnectionConfig::from_url("redis://alice:hunter2@h/3").unwrap(),
            ConnectionConfig::from_url("redis://:hunter2@h").unwrap(),
            ConnectionConfig::from_url("unix:///tmp/r.sock?password=hunter2").unwrap(),
            ConnectionConfig::new(Address::tcp("h", 1)).with_password("hunter2"),
        ];
        for c in configs {
            assert!(c.has_password());
            let shown = format!("{c:?} {c:#?} {c}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        let c = ConnectionConfig::new(Address::tcp("h", 1))
            .with_tls_client_cert(&b"CERT"[..], &b"-----BEGIN PRIVATE KEY-----hunter2"[..]);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn display_is_a_url() {
        let c = ConnectionConfig::from_url("redis://alice:pw@[::1]:6390/3?client_name=w").unwrap();
        assert_eq!(
            c.to_string(),
            "redis://alice:<redacted>@[::1]:6390/3?client_name=w"
        );
        let c = ConnectionConfig::from_url("unix:///tmp/r.sock?db=2&protocol=resp2").unwrap();
        assert_eq!(
            c.to_string(),
            "redis+unix:///tmp/r.sock?db=2&protocol=resp2"
        );
        let plain = ConnectionConfig::from_url("redis://h").unwrap();
        assert_eq!(plain.to_string(), "redis://h:6379");
        // Display reads back, the password aside.
        let odd = ConnectionConfig::new(Address::tcp("h", 7))
            .with_username("us@er:x")
            .with_password("pw")
            .with_client_name("a b&c=d+e")
            .with_db(4);
        assert_eq!(
            odd.to_string(),
            "redis://us%40er%3Ax:<redacted>@h:7/4?client_name=a%20b%26c%3Dd%2Be"
        );
        let unix = ConnectionConfig::new(Address::unix("/tmp/my dir/r.sock"))
            .with_username("u&v")
            .with_password("pw")
            .with_client_name("n");
        for c in [plain, odd, unix] {
            let again = ConnectionConfig::from_url(&c.to_string()).unwrap();
            assert_eq!(again.address(), c.address());
            assert_eq!(again.username(), c.username());
            assert_eq!(again.client_name(), c.client_name());
            assert_eq!(again.db(), c.db());
            assert_eq!(again.has_password(), c.has_password());
        }
    }

    #[test]
    fn builders_set_everything() {
        let reconnect = ReconnectPolicy::disabled();
        let decoder = DecoderConfig::new().with_max_bulk_len(1024);
        let c = ConnectionConfig::new(Address::unix("/tmp/x.sock"))
            .with_address(Address::tcp("db.local", 7000))
            .with_db(9)
            .with_username("u")
            .with_password("p")
            .with_client_name("n")
            .with_protocol(Protocol::Resp2)
            .with_connect_timeout(Duration::from_millis(250))
            .with_tcp_keepalive(None)
            .with_decoder_config(decoder)
            .with_reconnect(reconnect)
            .with_tls_root_pem(PathBuf::from("/etc/ca.pem"));
        assert_eq!(c.address(), &Address::tcp("db.local", 7000));
        assert_eq!(c.db(), 9);
        assert_eq!(c.username(), Some("u"));
        assert_eq!(c.password(), Some("p"));
        assert_eq!(c.client_name(), Some("n"));
        assert_eq!(c.protocol(), Protocol::Resp2);
        assert_eq!(c.connect_timeout(), Duration::from_millis(250));
        assert_eq!(c.tcp_keepalive(), None);
        assert_eq!(c.decoder_config(), decoder);
        assert_eq!(c.reconnect(), reconnect);
        assert!(!c.is_tls());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validate_rejects_what_cannot_connect() {
        let c = ConnectionConfig::new(Address::tcp("h", 1)).with_username("u");
        assert!(matches!(
            c.validate(),
            Err(ConfigError::UsernameWithoutPassword)
        ));
        let c = ConnectionConfig::new(Address::unix("/tmp/x.sock")).with_tls(true);
        let want_tls_over_unix = cfg!(feature = "tls");
        match c.validate() {
            Err(ConfigError::TlsOverUnix) => assert!(want_tls_over_unix),
            Err(ConfigError::TlsNotEnabled) => assert!(!want_tls_over_unix),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lib_name_suffixes_the_server_would_refuse_are_refused_early() {
        let c = ConnectionConfig::new(Address::tcp("h", 1));
        assert!(c.client_info());
        assert_eq!(c.lib_name_suffix(), None);
        for good in ["myorm_v1", "a;b_v2.0", "x-y.z/1:2", "~!"] {
            let c = c.clone().with_lib_name_suffix(good);
            assert!(c.validate().is_ok(), "{good}");
            assert_eq!(c.lib_name_suffix(), Some(good));
        }
        for bad in [
            "",
            "my orm",
            "a\nb",
            "(x)",
            "v)",
            "caf\u{e9}",
            "tab\t",
            "nul\0",
        ] {
            let c = c.clone().with_lib_name_suffix(bad);
            match c.validate() {
                Err(ConfigError::InvalidLibNameSuffix(s)) => assert_eq!(s, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let e = ConnectionConfig::from_url("redis://h?lib_name_suffix=my+orm").unwrap_err();
        assert!(
            matches!(&e, Error::Config(ConfigError::InvalidLibNameSuffix(s)) if s == "my orm"),
            "{e:?}"
        );
        assert!(e.to_string().contains("lib name suffix \"my orm\""), "{e}");

        let c = ConnectionConfig::from_url("redis://h?lib_name_suffix=orm_v1&client_info=false")
            .unwrap();
        assert_eq!(c.lib_name_suffix(), Some("orm_v1"));
        assert!(!c.client_info());
        assert_eq!(
            c.to_string(),
            "redis://h:6379?lib_name_suffix=orm_v1&client_info=false"
        );
        let again = ConnectionConfig::from_url(&c.to_string()).unwrap();
        assert_eq!(again.lib_name_suffix(), Some("orm_v1"));
        assert!(!again.client_info());
        assert!(ConnectionConfig::from_url("redis://h?client_info=1")
            .unwrap()
            .client_info());
        let e = ConnectionConfig::from_url("redis://h?client_info=maybe").unwrap_err();
        assert!(
            matches!(&e, Error::Config(ConfigError::InvalidClientInfo(s)) if s == "maybe"),
            "{e:?}"
        );
        // A sentinel URL takes them too.
        let c = ConnectionConfig::from_url("redis+sentinel://h/m?client_info=false").unwrap();
        assert!(!c.client_info());
    }

    #[test]
    fn protocol_and_address_text() {
        assert_eq!("resp3".parse::<Protocol>().unwrap(), Protocol::Resp3);
        assert_eq!("Resp2".parse::<Protocol>().unwrap(), Protocol::Resp2);
        assert!("4".parse::<Protocol>().is_err());
        assert_eq!(Protocol::default(), Protocol::Resp3);
        assert_eq!(Protocol::Resp2.to_string(), "RESP2");
        assert_eq!(Address::tcp("::1", 1).to_string(), "[::1]:1");
        assert_eq!(Address::tcp("h", 1).to_string(), "h:1");
        assert_eq!(Address::unix("/a/b").to_string(), "/a/b");
    }

    #[test]
    fn config_is_send_sync() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<ConnectionConfig>();
    }
}
