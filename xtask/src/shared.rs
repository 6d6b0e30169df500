//! The server or cluster a plain test talks to: `REDIS_URL`'s and
//! `REDIS_CLUSTER_URLS`'s, or throwaway ones.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::{RedisCluster, RedisServer};

/// The server of one test: the one at `REDIS_URL` (`cargo xtask test` starts
/// one for the whole run), or else a throwaway server of its own that stops
/// when this value is dropped.
///
/// ```no_run
/// let server = xtask::TestServer::get()?;
/// let url = server.url(); // hand it to the client under test
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TestServer {
    url: String,
    _own: Option<RedisServer>,
}

impl TestServer {
    /// `REDIS_URL`'s server, or a new one.
    pub fn get() -> io::Result<TestServer> {
        Ok(match std::env::var("REDIS_URL") {
            Ok(url) => TestServer { url, _own: None },
            Err(_) => {
                let own = RedisServer::start()?;
                TestServer {
                    url: own.url(),
                    _own: Some(own),
                }
            }
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The Redis Cluster of one test: the one whose nodes `REDIS_CLUSTER_URLS`
/// lists (`cargo xtask test` starts one for the whole run), or else a
/// throwaway [`RedisCluster`] of its own that stops when this value is
/// dropped.
///
/// A shared cluster is for tests that only send commands; a test that kills
/// or pauses nodes starts a [`RedisCluster`] of its own.
///
/// ```no_run
/// let cluster = xtask::TestCluster::get()?;
/// let seeds = cluster.seed_urls(); // hand them to the client under test
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TestCluster {
    seed_urls: Vec<String>,
    _own: Option<RedisCluster>,
}

impl TestCluster {
    /// `REDIS_CLUSTER_URLS`'s cluster, or a new one.
    ///
    /// The variable holds `redis://` URLs separated by commas, as
    /// [`RedisCluster::urls_env`] makes them. If it is set but names no
    /// URL, or is not Unicode, that is an error rather than a reason to
    /// start a cluster the caller did not ask for.
    pub fn get() -> io::Result<TestCluster> {
        let Some(urls) = std::env::var_os("REDIS_CLUSTER_URLS") else {
            let own = RedisCluster::start()?;
            return Ok(TestCluster {
                seed_urls: own.seed_urls(),
                _own: Some(own),
            });
        };
        let seed_urls = urls
            .to_str()
            .map(split_urls)
            .filter(|urls| !urls.is_empty())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "REDIS_CLUSTER_URLS={} holds no comma-separated redis:// URLs",
                        urls.to_string_lossy()
                    ),
                )
            })?;
        Ok(TestCluster {
            seed_urls,
            _own: None,
        })
    }

    /// The `redis://` URLs of the cluster's nodes, to seed a cluster client.
    pub fn seed_urls(&self) -> &[String] {
        &self.seed_urls
    }
}

/// The URL of a server shared by every test of this process: `REDIS_URL`,
/// or a throwaway server started on first use.
///
/// A static is never dropped, so that server is watched by a small shell
/// process that kills it once this process has exited: running a test
/// binary on its own leaves no `redis-server` behind.
pub fn shared_url() -> String {
    static SHARED: OnceLock<String> = OnceLock::new();
    SHARED
        .get_or_init(|| match std::env::var("REDIS_URL") {
            Ok(url) => url,
            Err(_) => {
                let server = RedisServer::start().expect("redis-server starts");
                let url = server.url();
                if let Some(pid) = server.pid() {
                    watch(pid, server.dir());
                }
                // Dropping it would stop it: the watcher does that instead.
                std::mem::forget(server);
                url
            }
        })
        .clone()
}

/// The URLs of a comma-separated list, without blanks around them.
fn split_urls(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Kills `server` and removes its directory once this process is gone.
fn watch(server: u32, dir: &Path) {
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.2; done; kill -9 {server} 2>/dev/null; rm -rf \"$0\""
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_are_split_on_commas() {
        assert_eq!(
            split_urls("redis://127.0.0.1:7000, redis://127.0.0.1:7001,,"),
            ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]
        );
        assert!(split_urls(" , ").is_empty());
    }
}
