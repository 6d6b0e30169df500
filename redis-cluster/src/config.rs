//! `ClusterConfig`: the seed nodes, how to talk to every node, and the
//! cluster's own settings; from several URLs or one `redis+cluster://` URL.

use std::str::FromStr;
use std::time::Duration;

use redis_conn::{Address, ConfigError, ConnectionConfig, Error};
use redis_paired::Options;

/// How to reach a cluster: seed nodes to learn its topology from, and the
/// settings every node connection shares (credentials, protocol, TLS and
/// timeouts come from the seeds' [`ConnectionConfig`]).
///
/// ```
/// use redis_cluster::ClusterConfig;
///
/// let config: ClusterConfig = "redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7000".parse()?;
/// assert_eq!(config.seeds().len(), 2);
/// let config = ClusterConfig::from_urls(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?;
/// # Ok::<(), redis_conn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    seeds: Vec<ConnectionConfig>,
    options: Options,
    max_redirects: usize,
    refresh_interval: Duration,
    retry_delay: Duration,
    read_from_replicas: bool,
}

impl ClusterConfig {
    /// The default number of redirects (`MOVED`, `ASK`) a command may
    /// follow: 5.
    pub const DEFAULT_MAX_REDIRECTS: usize = 5;
    /// The default time between topology refreshes when nothing asks for
    /// one sooner: 30 s.
    pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
    /// The default first wait before a command told `TRYAGAIN`,
    /// `CLUSTERDOWN` or `LOADING` is sent again: 20 ms, doubling with each
    /// try up to 50 ms.
    pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(20);

    /// A cluster reached through `seeds` (at least one).
    pub fn new(seeds: impl IntoIterator<Item = ConnectionConfig>) -> ClusterConfig {
        ClusterConfig {
            seeds: seeds.into_iter().collect(),
            options: Options::default(),
            max_redirects: Self::DEFAULT_MAX_REDIRECTS,
            refresh_interval: Self::DEFAULT_REFRESH_INTERVAL,
            retry_delay: Self::DEFAULT_RETRY_DELAY,
            read_from_replicas: false,
        }
    }

    /// A cluster reached through the nodes of these `redis://` (or
    /// `rediss://`) URLs.
    pub fn from_urls<S: AsRef<str>>(
        urls: impl IntoIterator<Item = S>,
    ) -> Result<ClusterConfig, Error> {
        let seeds = urls
            .into_iter()
            .map(|url| url.as_ref().parse())
            .collect::<Result<Vec<ConnectionConfig>, Error>>()?;
        if seeds.is_empty() {
            return Err(ConfigError::MissingHost.into());
        }
        Ok(ClusterConfig::new(seeds))
    }

    /// Settings of every node connection (response timeout, queue bounds,
    /// blocking connections). Node connections fail fast while down
    /// whatever this says: the cluster waits for a failover itself.
    pub fn with_options(mut self, options: Options) -> ClusterConfig {
        self.options = options;
        self
    }

    /// How many redirects (`MOVED`, `ASK`) a command may follow before it
    /// fails with
    /// [`ClusterError::TooManyRedirects`](redis_conn::ClusterError::TooManyRedirects):
    /// more is a loop. Waits for `TRYAGAIN`, `CLUSTERDOWN` and `LOADING` do
    /// not count; they go on until the command's response timeout, since a
    /// failover takes as long as it takes.
    pub fn with_max_redirects(mut self, max: usize) -> ClusterConfig {
        self.max_redirects = max;
        self
    }

    /// How often the topology is refreshed when nothing (a `MOVED`, a lost
    /// node) asks for it sooner.
    pub fn with_refresh_interval(mut self, interval: Duration) -> ClusterConfig {
        self.refresh_interval = interval;
        self
    }

    /// The first wait before a command told `TRYAGAIN`, `CLUSTERDOWN` or
    /// `LOADING` is sent again; it doubles with each try, up to 50 ms (or
    /// this delay, if longer), until the command's response timeout, when
    /// the command fails with the cluster's last reply.
    pub fn with_retry_delay(mut self, delay: Duration) -> ClusterConfig {
        self.retry_delay = delay;
        self
    }

    /// Sends read-only commands (the server's `readonly` flag: `GET`,
    /// `MGET`, `HGETALL`, `ZRANGE`, ...) to the replicas of their slot,
    /// taking turns, instead of the primary; the primary serves them while
    /// no replica is up. Off by default: a replica may be a little behind
    /// its primary, so a read may not see a write that just succeeded.
    /// Every node connection then ends its handshake with `READONLY`.
    pub fn with_read_from_replicas(mut self, read_from_replicas: bool) -> ClusterConfig {
        self.read_from_replicas = read_from_replicas;
        self
    }

    /// Whether read-only commands go to replicas.
    pub fn read_from_replicas(&self) -> bool {
        self.read_from_replicas
    }

    /// The seed nodes.
    pub fn seeds(&self) -> &[ConnectionConfig] {
        &self.seeds
    }

    /// Settings of every node connection.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The redirect limit.
    pub fn max_redirects(&self) -> usize {
        self.max_redirects
    }

    /// The refresh interval.
    pub fn refresh_interval(&self) -> Duration {
        self.refresh_interval
    }

    /// The retry delay.
    pub fn retry_delay(&self) -> Duration {
        self.retry_delay
    }

    /// The configuration of the node at `host:port`: a seed's, with the
    /// address replaced.
    pub(crate) fn node(&self, host: &str, port: u16) -> ConnectionConfig {
        let base = self
            .seeds
            .first()
            .cloned()
            .unwrap_or_else(|| ConnectionConfig::new(Address::tcp(host, port)));
        base.with_address(Address::tcp(host, port))
            .with_read_only(self.read_from_replicas)
    }
}

impl FromStr for ClusterConfig {
    type Err = Error;

    /// `redis+cluster://[user:password@]host1:port1,host2:port2[/?query]`
    /// (`rediss+cluster://` for TLS): the seeds share the credentials and
    /// query options of the URL, as `redis://` URLs of their own. A plain
    /// `redis://host:port` (or `rediss://`) URL is one seed.
    ///
    /// The scheme is checked first: a Sentinel or Unix socket URL is
    /// refused with [`ConfigError::OtherEntryPoint`], naming what opens it.
    fn from_str(url: &str) -> Result<ClusterConfig, Error> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or(Error::Config(ConfigError::MissingScheme))?;
        let single = match scheme.to_ascii_lowercase().as_str() {
            "redis+cluster" => "redis",
            "rediss+cluster" => "rediss",
            "redis" | "rediss" => return ClusterConfig::from_urls([url]),
            "redis+sentinel" => return Err(not_a_cluster(scheme, "a sentinel group")),
            "redis+unix" | "unix" => return Err(not_a_cluster(scheme, "a unix socket")),
            other => {
                return Err(ConfigError::UnsupportedScheme(other.to_string()).into());
            }
        };
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
            None => (String::new(), authority),
        };
        let urls: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|host| format!("{single}://{userinfo}{host}{tail}"))
            .collect();
        ClusterConfig::from_urls(urls)
    }
}

/// The error for a URL of one server: a cluster's nodes are reached over
/// TCP, each at its own address.
fn not_a_cluster(scheme: &str, names: &'static str) -> Error {
    ConfigError::OtherEntryPoint {
        scheme: scheme.to_owned(),
        names,
        entry: "Client::open or paired_connect (redis-facade), \
                or ConnectionConfig::from_url (redis-conn)",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_give_one_seed_a_host() {
        let config: ClusterConfig = "redis+cluster://u:p@a:7000,b:7001,[::1]:7002/?protocol=resp2"
            .parse()
            .unwrap();
        let seeds: Vec<String> = config
            .seeds()
            .iter()
            .map(|s| s.address().to_string())
            .collect();
        assert_eq!(seeds, ["a:7000", "b:7001", "[::1]:7002"]);
        for seed in config.seeds() {
            assert_eq!(seed.protocol(), redis_conn::Protocol::Resp2);
            assert!(seed.to_string().contains("u:<redacted>@"), "{seed}");
        }
        let single: ClusterConfig = "redis+cluster://h:1".parse().unwrap();
        assert_eq!(single.seeds().len(), 1);
    }

    #[test]
    fn a_plain_url_is_one_seed() {
        let config: ClusterConfig = "redis://:pw@h:7000/?protocol=resp2".parse().unwrap();
        assert_eq!(config.seeds().len(), 1);
        let seed = &config.seeds()[0];
        assert_eq!(seed.address().to_string(), "h:7000");
        assert!(seed.has_password());
        assert_eq!(seed.protocol(), redis_conn::Protocol::Resp2);
        let upper: ClusterConfig = "REDIS+CLUSTER://a:1,b:2".parse().unwrap();
        assert_eq!(upper.seeds().len(), 2);
    }

    #[test]
    fn bad_cluster_urls_say_why() {
        for (url, part) in [
            ("h:1,h:2", "no url scheme"),
            ("http+cluster://h:1", "unsupported url scheme"),
            (
                "http://h:1,h:2",
                "expected redis, rediss, redis+unix, unix or redis+sentinel",
            ),
            (
                "redis+sentinel://h:26379/mymaster",
                "url scheme \"redis+sentinel\" names a sentinel group: open it with Client::open",
            ),
            ("redis+unix:///tmp/redis.sock", "names a unix socket"),
            ("redis://h:port", "port out of range"),
            ("redis+cluster://", "url has no host"),
            ("redis+cluster://h:port", "port out of range"),
        ] {
            let err = url.parse::<ClusterConfig>().unwrap_err();
            assert!(err.to_string().contains(part), "{url}: {err}");
        }
    }
}
