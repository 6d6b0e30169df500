//! `Client`, the cheap handle that opens connections, and the
//! `paired_connect` / `pubsub_connect` shortcuts.

use redis_conn::{Connection, ConnectionConfig, Result, Stream};
use redis_paired::{ExclusiveConnection, Options, PairedConnection, Pool, PoolOptions};
use redis_pubsub::{PubsubConnection, PubsubOptions};

/// Where and how to reach a Redis server, and the constructors of every kind
/// of connection to it.
///
/// A `Client` is only a [`ConnectionConfig`]: creating one opens nothing and
/// cloning one is cheap, so build it once at start-up and hand clones to
/// whatever needs a connection. Each method below opens a new connection:
///
/// | method | gives | for |
/// |---|---|---|
/// | [`paired`](Client::paired) | [`PairedConnection`] | almost everything: one per service, cloned into every task |
/// | [`exclusive`](Client::exclusive) | [`ExclusiveConnection`] | `WATCH` ... `EXEC`, long blocking commands |
/// | [`pubsub`](Client::pubsub) | [`PubsubConnection`] | `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` |
/// | [`connect`](Client::connect) | [`Connection`] | the raw frames: `MONITOR`, a proxy |
///
/// ```no_run
/// use redis_facade::{Client, Commands};
///
/// # async fn run() -> redis_facade::Result<()> {
/// let client = Client::open("redis://127.0.0.1:6379/0")?;
/// let conn = client.paired().await?;
/// conn.set("greeting", "hello").await?;
/// let greeting: Option<String> = conn.get("greeting").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    config: ConnectionConfig,
}

impl Client {
    /// A client for the server a URL names: `redis://[user[:password]@]host[:port][/db]`,
    /// `rediss://...` (TLS, feature `tls`), `redis+unix:///path` or
    /// `unix:///path`. See [`ConnectionConfig::from_url`] for the query
    /// parameters.
    ///
    /// Only parses: a malformed URL is an [`Error::Config`](crate::Error::Config),
    /// an unreachable server is not an error until a connection is opened.
    pub fn open(url: impl AsRef<str>) -> Result<Client> {
        ConnectionConfig::from_url(url.as_ref()).map(Client::new)
    }

    /// A client for a configuration built with the `with_*` methods of
    /// [`ConnectionConfig`].
    pub fn new(config: ConnectionConfig) -> Client {
        Client { config }
    }

    /// The configuration every connection of this client uses.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Opens a shared, pipelined connection with default [`Options`]
    /// (see [`PairedConnection::connect`]).
    pub async fn paired(&self) -> Result<PairedConnection> {
        PairedConnection::connect(&self.config).await
    }

    /// Opens a shared, pipelined connection with the given timeouts and
    /// queue bounds (see [`PairedConnection::connect_with`]).
    pub async fn paired_with(&self, options: Options) -> Result<PairedConnection> {
        PairedConnection::connect_with(&self.config, options).await
    }

    /// A bounded pool of exclusive connections (see [`Pool`]); opens
    /// nothing until the first checkout.
    pub fn pool(&self, options: PoolOptions) -> Pool {
        Pool::new(&self.config, options)
    }

    /// Opens a connection of one's own, which never reconnects: for
    /// `WATCH` and blocking commands (see [`ExclusiveConnection::connect`]).
    pub async fn exclusive(&self) -> Result<ExclusiveConnection> {
        ExclusiveConnection::connect(&self.config).await
    }

    /// As [`exclusive`](Client::exclusive), with the given [`Options`].
    pub async fn exclusive_with(&self, options: Options) -> Result<ExclusiveConnection> {
        ExclusiveConnection::connect_with(&self.config, options).await
    }

    /// Opens a connection for subscriptions, which resubscribes after a
    /// reconnect (see [`PubsubConnection::connect`]).
    pub async fn pubsub(&self) -> Result<PubsubConnection> {
        PubsubConnection::connect(&self.config).await
    }

    /// As [`pubsub`](Client::pubsub), with the given [`PubsubOptions`].
    pub async fn pubsub_with(&self, options: PubsubOptions) -> Result<PubsubConnection> {
        PubsubConnection::connect_with(&self.config, options).await
    }

    /// Opens the low-level connection: a `Sink` of commands and a `Stream`
    /// of replies after the handshake, which never reconnects (see
    /// [`redis_conn::connect`]).
    pub async fn connect(&self) -> Result<Connection<Stream>> {
        redis_conn::connect(&self.config).await
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

/// Opens a [`ClusterConnection`](redis_cluster::ClusterConnection) to the
/// cluster a `redis+cluster://host1:port1,host2:port2` URL (or
/// `rediss+cluster://`) names: the seeds it learns the topology from.
pub async fn cluster_connect(url: impl AsRef<str>) -> Result<redis_cluster::ClusterConnection> {
    let config: redis_cluster::ClusterConfig = url.as_ref().parse()?;
    redis_cluster::ClusterConnection::connect(&config).await
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
    fn debug_does_not_show_the_password() {
        let client = Client::open("redis://user:hunter2@127.0.0.1").unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
