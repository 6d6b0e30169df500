//! The server a plain test talks to: `REDIS_URL`'s, or a throwaway one.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::RedisServer;

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
