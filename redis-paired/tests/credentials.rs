//! Live tests of credentials that change: a password rotated on the server
//! under load, short-lived credentials renewed on the live connection, and
//! a reconnect the server refuses for its credentials. Each test starts its
//! own server.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_conn::{ConnectionConfig, Credentials, Error, Protocol};
use redis_paired::{Options, PairedConnection};
use resp::{cmd, Value};
use tokio::time::Instant;
use xtask::RedisServer;

/// A server whose user `app` has the password `first`; the `default` user
/// has `admin`.
fn server() -> RedisServer {
    RedisServer::builder()
        .password("admin")
        .acl_user("app on >first ~* &* +@all")
        .start()
        .expect("server starts")
}

/// Gives `app` and whatever password it holds, valid for `lifetime`.
#[derive(Clone)]
struct Provider {
    password: Arc<Mutex<String>>,
    lifetime: Option<Duration>,
    asked: Arc<AtomicUsize>,
    /// How long it takes to answer, like a token service.
    delay: Arc<Mutex<Duration>>,
}

impl Provider {
    fn new(lifetime: Option<Duration>) -> Provider {
        Provider {
            password: Arc::new(Mutex::new("first".into())),
            lifetime,
            asked: Arc::new(AtomicUsize::new(0)),
            delay: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    fn set(&self, password: &str) {
        *self.password.lock().unwrap() = password.into();
    }

    fn config(&self, server: &RedisServer, protocol: Protocol) -> ConnectionConfig {
        let this = self.clone();
        let provider = move || {
            this.asked.fetch_add(1, Ordering::SeqCst);
            let credentials = Credentials::new("app", this.password.lock().unwrap().clone());
            let credentials = match this.lifetime {
                Some(lifetime) => credentials.with_lifetime(lifetime),
                None => credentials,
            };
            let delay = *this.delay.lock().unwrap();
            async move {
                tokio::time::sleep(delay).await;
                Ok(credentials)
            }
        };
        format!("redis://127.0.0.1:{}", server.port())
            .parse::<ConnectionConfig>()
            .unwrap()
            .with_protocol(protocol)
            .with_connect_timeout(Duration::from_secs(2))
            .with_credentials_provider(Arc::new(provider))
    }
}

async fn admin(server: &RedisServer) -> PairedConnection {
    let url = format!("redis://:admin@127.0.0.1:{}", server.port());
    PairedConnection::connect(&url.parse().unwrap())
        .await
        .unwrap()
}

/// How many `AUTH` commands the server ran, and how many of them failed.
async fn auth_calls(admin: &PairedConnection) -> (u64, u64) {
    let info: String = admin.send(cmd!("INFO", "commandstats")).await.unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with("cmdstat_auth:"))
        .unwrap_or("");
    let field = |name: &str| {
        line.split([':', ','])
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("calls"), field("failed_calls"))
}

/// The `user` field of the server's `CLIENT LIST` line for connection `id`.
async fn user_of(admin: &PairedConnection, id: i64) -> Option<String> {
    let list: String = admin.send(cmd!("CLIENT", "LIST", "ID", id)).await.unwrap();
    list.split_whitespace()
        .find_map(|f| f.strip_prefix("user="))
        .map(str::to_owned)
}

/// 64 tasks that each `INCR` a key of their own until told to stop,
/// counting what succeeded and keeping what failed.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<Mutex<Vec<Error>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(conn: &PairedConnection) -> Load {
        let load = Load {
            stop: Arc::new(AtomicBool::new(false)),
            ok: Arc::new(AtomicUsize::new(0)),
            failed: Arc::new(Mutex::new(Vec::new())),
            tasks: Vec::new(),
        };
        let tasks = (0..64)
            .map(|task| {
                let (conn, stop) = (conn.clone(), load.stop.clone());
                let (ok, failed) = (load.ok.clone(), load.failed.clone());
                tokio::spawn(async move {
                    let key = format!("rotate:{task}");
                    while !stop.load(Ordering::Relaxed) {
                        match conn.send::<i64>(cmd!("INCR", &key)).await {
                            Ok(_) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                failed.lock().unwrap().push(e);
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Load { tasks, ..load }
    }

    /// Waits until `n` more commands succeeded.
    async fn progress(&self, n: usize) {
        let target = self.ok.load(Ordering::Relaxed) + n;
        let start = Instant::now();
        while self.ok.load(Ordering::Relaxed) < target {
            assert!(start.elapsed() < Duration::from_secs(20), "no progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn failures(&self) -> Vec<Error> {
        std::mem::take(&mut self.failed.lock().unwrap())
    }

    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        self.ok.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_rotated_under_load_fails_no_command() {
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let server = server();
        let admin = admin(&server).await;
        // Credentials valid for a second: renewed live about every 800 ms.
        let provider = Provider::new(Some(Duration::from_secs(1)));
        let conn = PairedConnection::connect_with(
            &provider.config(&server, protocol),
            Options::default().with_response_timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap();
        let id: i64 = conn.send(cmd!("CLIENT", "ID")).await.unwrap();
        let load = Load::start(&conn);
        load.progress(1000).await;

        // The rotation as a secrets manager does it: the server first (an
        // `AUTH` with the old password may now be refused, and is retried),
        // the provider a moment later.
        let (auths_before, _) = auth_calls(&admin).await;
        let () = admin
            .send(cmd!("ACL", "SETUSER", "app", "resetpass", ">second"))
            .await
            .unwrap();
        load.progress(1000).await;
        provider.set("second");
        // Two renewals at least, on the same connection: no reconnect.
        let start = Instant::now();
        loop {
            let (auths, failed) = auth_calls(&admin).await;
            if auths - failed >= auths_before + 2 {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no renewal");
            load.progress(100).await;
        }
        assert_eq!(conn.stats().reconnects, 0, "{protocol}");
        let still: i64 = conn.send(cmd!("CLIENT", "ID")).await.unwrap();
        assert_eq!(still, id, "{protocol}: the same connection");
        assert_eq!(user_of(&admin, id).await.as_deref(), Some("app"));
        let failed = load.failures();
        assert!(failed.is_empty(), "{protocol}: {failed:?}");

        // A reconnect forced from outside: the handshake uses the new
        // password. Only the commands on the socket when it was killed
        // fail (one per task at most), and none for its credentials.
        let killed: i64 = admin.send(cmd!("CLIENT", "KILL", "ID", id)).await.unwrap();
        assert_eq!(killed, 1);
        load.progress(1000).await;
        let failed = load.failures();
        assert!(failed.len() <= 64, "{protocol}: {} failed", failed.len());
        assert!(
            failed.iter().all(|e| e.is_connection() && !e.is_auth()),
            "{protocol}: {failed:?}"
        );
        assert_eq!(conn.stats().reconnects, 1, "{protocol}");
        let new_id: i64 = conn.send(cmd!("CLIENT", "ID")).await.unwrap();
        assert_ne!(new_id, id);
        assert_eq!(user_of(&admin, new_id).await.as_deref(), Some("app"));
        let ok = load.stop().await;
        println!(
            "{protocol}: {ok} commands, {} lost to the kill, provider asked {} times",
            failed.len(),
            provider.asked.load(Ordering::SeqCst)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reconnect_fails_waiting_commands_at_once() {
    let server = server();
    let admin = admin(&server).await;
    let provider = Provider::new(None);
    let response_timeout = Duration::from_secs(10);
    let conn = PairedConnection::connect_with(
        &provider.config(&server, Protocol::Resp3),
        Options::default().with_response_timeout(response_timeout),
    )
    .await
    .unwrap();
    let id: i64 = conn.send(cmd!("CLIENT", "ID")).await.unwrap();
    // The password changes on the server, and the provider does not know;
    // it takes 300 ms to answer, so commands queue up during the handshake.
    let () = admin
        .send(cmd!("ACL", "SETUSER", "app", "resetpass", ">second"))
        .await
        .unwrap();
    *provider.delay.lock().unwrap() = Duration::from_millis(300);
    let _: i64 = admin.send(cmd!("CLIENT", "KILL", "ID", id)).await.unwrap();
    let start = Instant::now();
    while conn.is_connected() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the kill went unseen"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Commands sent now wait for the reconnect, which the server refuses:
    // they fail then, not after the response timeout.
    let start = Instant::now();
    let replies: Vec<_> = (0..64)
        .map(|_| conn.send::<Value>(cmd!("GET", "k")))
        .collect();
    for reply in replies {
        let err = reply.await.unwrap_err();
        assert!(err.is_auth(), "{err:?}");
        assert_eq!(err.server_code(), Some("WRONGPASS"));
        assert!(!err.to_string().contains("first"), "{err}");
    }
    let waited = start.elapsed();
    println!("commands waiting for the refused reconnect failed after {waited:?}");
    assert!(waited < response_timeout / 5, "{waited:?}");
    // While the server keeps refusing, commands fail at once.
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let err = conn.send::<Value>(cmd!("GET", "k")).await.unwrap_err();
        latencies.push(start.elapsed());
        assert!(err.is_auth(), "{err:?}");
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let worst = latencies[latencies.len() - 1];
    println!("while refused: median {median:?}, worst {worst:?}");
    assert!(worst < response_timeout / 5, "{latencies:?}");
    // The reconnect keeps trying; once the provider has the new password,
    // the connection is back.
    provider.set("second");
    let start = Instant::now();
    loop {
        match conn.send::<String>(cmd!("PING")).await {
            Ok(pong) => break assert_eq!(pong, "PONG"),
            Err(e) => assert!(e.is_auth(), "{e:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_refused_renewal_fails_no_command_and_is_retried() {
    let server = server();
    let admin = admin(&server).await;
    let provider = Provider::new(Some(Duration::from_millis(500)));
    let conn = PairedConnection::connect(&provider.config(&server, Protocol::Resp3))
        .await
        .unwrap();
    let id: i64 = conn.send(cmd!("CLIENT", "ID")).await.unwrap();
    // The provider gives a password the server does not know: every renewal
    // is refused, and the connection keeps the user it authenticated as.
    provider.set("wrong");
    let (_, failed_before) = auth_calls(&admin).await;
    let start = Instant::now();
    loop {
        let n: i64 = conn.send(cmd!("INCR", "counter")).await.unwrap();
        assert!(n > 0);
        let (_, failed) = auth_calls(&admin).await;
        if failed >= failed_before + 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no renewal tried"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let still: i64 = conn.send(cmd!("CLIENT", "ID")).await.unwrap();
    assert_eq!(still, id);
    assert_eq!(user_of(&admin, id).await.as_deref(), Some("app"));
    assert_eq!(conn.stats().reconnects, 0);
}
