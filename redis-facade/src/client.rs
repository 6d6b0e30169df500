//! `Client`, the cheap handle that opens connections, and the
//! `paired_connect` / `pubsub_connect` / `cluster_connect` shortcuts.

use redis_cluster::{ClusterConfig, ClusterConnection};
use redis_conn::{Address, ConfigError, Connection, ConnectionConfig, Error, Result, Stream};
use redis_paired::{ExclusiveConnection, Options, PairedConnection, Pool, PoolOptions};
use redis_pubsub::{PubsubConnection, PubsubOptions};

use crate::AnyConnection;

/// Where and how to reach Redis (one server, a Sentinel group or a
/// cluster), and the constructors of every kind of connection to it.
///
/// A `Client` is only a configuration: creating one opens nothing and
/// cloning one is cheap, so build it once at start-up and hand clones to
/// whatever needs a connection. The URL picks the topology; each method
/// below opens a new connection:
///
/// | method | gives | for |
/// |---|---|---|
/// | [`connection`](Client::connection) | [`AnyConnection`] | code that runs on whatever the URL names: one server, Sentinel, a cluster |
/// | [`paired`](Client::paired) | [`PairedConnection`] | almost everything on one server: one per service, cloned into every task |
/// | [`cluster`](Client::cluster) | [`ClusterConnection`] | a cluster (a `redis://` URL is then one seed) |
/// | [`exclusive`](Client::exclusive) | [`ExclusiveConnection`] | `WATCH` ... `EXEC`, long blocking commands |
/// | [`pubsub`](Client::pubsub) | [`PubsubConnection`] | `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` |
/// | [`connect`](Client::connect) | [`Connection`] | the raw frames: `MONITOR`, a proxy |
///
/// The single-server methods (`paired`, `exclusive`, `pubsub`, `connect`)
/// refuse a cluster URL with [`Error::Unsupported`]: a connection to one
/// node would answer keys it does not serve with `MOVED`.
///
/// ```no_run
/// use redis_facade::{Client, Commands};
///
/// # async fn run() -> redis_facade::Result<()> {
/// let client = Client::open("redis://127.0.0.1:6379/0")?;
/// let conn = client.paired().await?;
/// conn.set("greeting", "hello").await?;
/// let greeting: Option<String> = conn.get("greeting").await?;
///
/// // The same code on a cluster: only the URL changes.
/// let conn = Client::open("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")?
///     .connection()
///     .await?;
/// conn.set("greeting", "hello").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    /// A single server's configuration, or a cluster's first seed's (whose
    /// settings every node shares).
    config: ConnectionConfig,
    /// Set when the configuration names a cluster.
    cluster: Option<ClusterConfig>,
}

impl Client {
    /// A client for what a URL names:
    ///
    /// - one server: `redis://[user[:password]@]host[:port][/db]`,
    ///   `rediss://...` (TLS, feature `tls`), `redis+unix:///path` or
    ///   `unix:///path`;
    /// - a Sentinel group: `redis+sentinel://host1[:port1],host2/master[/db]`;
    /// - a cluster: `redis+cluster://host1:port1,host2:port2`
    ///   (`rediss+cluster://` for TLS), the seeds to learn the topology from.
    ///
    /// See [`ConnectionConfig::from_url`] and [`ClusterConfig`] for the
    /// query parameters.
    ///
    /// Only parses: a malformed URL is an [`Error::Config`](crate::Error::Config),
    /// an unreachable server is not an error until a connection is opened.
    pub fn open(url: impl AsRef<str>) -> Result<Client> {
        let url = url.as_ref();
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        if scheme.is_some_and(|s| {
            s.eq_ignore_ascii_case("redis+cluster") || s.eq_ignore_ascii_case("rediss+cluster")
        }) {
            return Client::new_cluster(url.parse()?);
        }
        ConnectionConfig::from_url(url).map(Client::new)
    }

    /// A client for a configuration built with the `with_*` methods of
    /// [`ConnectionConfig`].
    pub fn new(config: ConnectionConfig) -> Client {
        Client {
            config,
            cluster: None,
        }
    }

    /// A client for a cluster configuration. Fails when it has no seed.
    pub fn new_cluster(config: ClusterConfig) -> Result<Client> {
        let first = config
            .seeds()
            .first()
            .cloned()
            .ok_or(Error::Config(ConfigError::MissingHost))?;
        Ok(Client {
            config: first,
            cluster: Some(config),
        })
    }

    /// The configuration every connection of this client uses: on a
    /// cluster, the first seed's.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The cluster's configuration, when the client's names a cluster.
    pub fn cluster_config(&self) -> Option<&ClusterConfig> {
        self.cluster.as_ref()
    }

    /// True when the client's configuration names a cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// Opens a shared connection to whatever the configuration names, with
    /// default [`Options`]: a [`PairedConnection`] to one server (directly
    /// or through Sentinel) or a [`ClusterConnection`], behind the one face
    /// of [`AnyConnection`].
    pub async fn connection(&self) -> Result<AnyConnection> {
        self.connection_with(Options::default()).await
    }

    /// As [`connection`](Client::connection), with the given timeouts and
    /// queue bounds (of every node's connection, on a cluster).
    pub async fn connection_with(&self, options: Options) -> Result<AnyConnection> {
        match &self.cluster {
            Some(cluster) => {
                let config = cluster.clone().with_options(options);
                ClusterConnection::connect(&config)
                    .await
                    .map(AnyConnection::cluster)
            }
            None => PairedConnection::connect_with(&self.config, options)
                .await
                .map(|conn| AnyConnection::server(conn, self.config.clone())),
        }
    }

    /// Opens a connection to a cluster (see [`ClusterConnection::connect`]).
    /// A single server's `redis://` or `rediss://` configuration is taken as
    /// the one seed to learn the cluster from.
    pub async fn cluster(&self) -> Result<ClusterConnection> {
        match &self.cluster {
            Some(cluster) => ClusterConnection::connect(cluster).await,
            None => match self.config.address() {
                Address::Tcp { .. } => {
                    ClusterConnection::connect(&ClusterConfig::new([self.config.clone()])).await
                }
                _ => Err(Error::Unsupported(
                    "a cluster reached through a unix socket or sentinel \
                     (give its nodes' redis:// or redis+cluster:// urls)",
                )),
            },
        }
    }

    /// Opens a shared, pipelined connection with default [`Options`]
    /// (see [`PairedConnection::connect`]).
    pub async fn paired(&self) -> Result<PairedConnection> {
        self.single_server()?;
        PairedConnection::connect(&self.config).await
    }

    /// Opens a shared, pipelined connection with the given timeouts and
    /// queue bounds (see [`PairedConnection::connect_with`]).
    pub async fn paired_with(&self, options: Options) -> Result<PairedConnection> {
        self.single_server()?;
        PairedConnection::connect_with(&self.config, options).await
    }

    /// A bounded pool of exclusive connections (see [`Pool`]); opens
    /// nothing until the first checkout. On a cluster client it pools
    /// connections to the first seed node alone.
    pub fn pool(&self, options: PoolOptions) -> Pool {
        Pool::new(&self.config, options)
    }

    /// Opens a connection of one's own, which never reconnects: for
    /// `WATCH` and blocking commands (see [`ExclusiveConnection::connect`]).
    /// On a cluster, use [`ClusterConnection::exclusive`], which picks the
    /// node of a key.
    pub async fn exclusive(&self) -> Result<ExclusiveConnection> {
        self.single_server()?;
        ExclusiveConnection::connect(&self.config).await
    }

    /// As [`exclusive`](Client::exclusive), with the given [`Options`].
    pub async fn exclusive_with(&self, options: Options) -> Result<ExclusiveConnection> {
        self.single_server()?;
        ExclusiveConnection::connect_with(&self.config, options).await
    }

    /// Opens a connection for subscriptions, which resubscribes after a
    /// reconnect (see [`PubsubConnection::connect`]). On a cluster, use
    /// [`AnyConnection::subscribe`] or [`ClusterConnection::subscribe`].
    pub async fn pubsub(&self) -> Result<PubsubConnection> {
        self.single_server()?;
        PubsubConnection::connect(&self.config).await
    }

    /// As [`pubsub`](Client::pubsub), with the given [`PubsubOptions`].
    pub async fn pubsub_with(&self, options: PubsubOptions) -> Result<PubsubConnection> {
        self.single_server()?;
        PubsubConnection::connect_with(&self.config, options).await
    }

    /// Opens the low-level connection: a `Sink` of commands and a `Stream`
    /// of replies after the handshake, which never reconnects (see
    /// [`redis_conn::connect`]).
    pub async fn connect(&self) -> Result<Connection<Stream>> {
        self.single_server()?;
        redis_conn::connect(&self.config).await
    }

    /// Refuses a single server's connection on a cluster client.
    pub(crate) fn single_server(&self) -> Result<()> {
        match self.cluster {
            Some(_) => Err(Error::Unsupported(
                "a single-server connection from a cluster url \
                 (use Client::connection or Client::cluster)",
            )),
            None => Ok(()),
        }
    }
}

impl From<ConnectionConfig> for Client {
    fn from(config: ConnectionConfig) -> Client {
        Client::new(config)
    }
}

impl std::str::FromStr for Client {
    type Err = crate::Error;

    /// As [`Client::open`].
    fn from_str(url: &str) -> Result<Client> {
        Client::open(url)
    }
}

/// Opens a [`PairedConnection`] to the server a URL names: the shortcut for
/// `Client::open(url)?.paired().await`.
///
/// It has the name and the role of `redis_async::client::paired_connect`,
/// which takes a host and a port instead of a URL.
pub async fn paired_connect(url: impl AsRef<str>) -> Result<PairedConnection> {
    Client::open(url)?.paired().await
}

/// Opens a [`PubsubConnection`] to the server a URL names: the shortcut for
/// `Client::open(url)?.pubsub().await`.
///
/// It has the name and the role of `redis_async::client::pubsub_connect`,
/// which takes a host and a port instead of a URL.
pub async fn pubsub_connect(url: impl AsRef<str>) -> Result<PubsubConnection> {
    Client::open(url)?.pubsub().await
}

/// Opens a [`ClusterConnection`] to the cluster a
/// `redis+cluster://host1:port1,host2:port2` URL (or `rediss+cluster://`)
/// names: the seeds it learns the topology from. A `redis://host:port` (or
/// `rediss://`) URL is one seed.
pub async fn cluster_connect(url: impl AsRef<str>) -> Result<ClusterConnection> {
    let config: ClusterConfig = url.as_ref().parse()?;
    ClusterConnection::connect(&config).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_parses_and_opens_nothing() {
        // Nothing listens on port 1: parsing succeeds all the same.
        let client = Client::open("redis://:secret@127.0.0.1:1/3").unwrap();
        assert_eq!(client.config().db(), 3);
        assert!(client.config().has_password());
        let copy = client.clone();
        assert_eq!(copy.config().address(), client.config().address());
    }

    #[test]
    fn malformed_urls_are_config_errors() {
        let err = Client::open("http://127.0.0.1").unwrap_err();
        assert!(matches!(err, crate::Error::Config(_)), "{err:?}");
        assert!("redis://127.0.0.1:99999".parse::<Client>().is_err());
    }

    #[test]
    fn the_url_picks_the_topology() {
        let cluster = Client::open("redis+cluster://:pw@a:7000,b:7001").unwrap();
        assert!(cluster.is_cluster());
        let seeds = cluster.cluster_config().unwrap().seeds();
        assert_eq!(seeds.len(), 2);
        assert_eq!(cluster.config().address().to_string(), "a:7000");
        assert!(cluster.config().has_password());
        for url in [
            "redis://h:1",
            "redis+unix:///tmp/r.sock",
            "redis+sentinel://s1,s2:26380/mymaster",
        ] {
            let client = Client::open(url).unwrap();
            assert!(!client.is_cluster(), "{url}");
        }
        assert!(Client::new_cluster(ClusterConfig::new([])).is_err());
    }

    #[tokio::test]
    async fn single_server_methods_refuse_a_cluster_url() {
        let client = Client::open("redis+cluster://127.0.0.1:1").unwrap();
        let err = client.paired().await.unwrap_err();
        assert!(err.to_string().contains("Client::connection"), "{err}");
        assert!(matches!(client.pubsub().await, Err(Error::Unsupported(_))));
        assert!(matches!(
            client.exclusive().await,
            Err(Error::Unsupported(_))
        ));
    }

    #[tokio::test]
    async fn cluster_connect_checks_the_scheme_first() {
        for (url, part) in [
            (
                "redis+sentinel://h:26379/mymaster",
                "names a sentinel group: open it with Client::open",
            ),
            (
                "http://h:1,h:2",
                "redis+sentinel (one server), or redis+cluster",
            ),
            ("h:7000", "no url scheme"),
        ] {
            let err = cluster_connect(url).await.unwrap_err();
            assert!(err.to_string().contains(part), "{url}: {err}");
        }
        // A plain URL is one seed: the error is about reaching it.
        let err = cluster_connect("redis://127.0.0.1:1").await.unwrap_err();
        assert!(!matches!(err, Error::Config(_)), "{err}");
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let client = Client::open("redis://user:hunter2@127.0.0.1").unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
