//! Against a real redis-server: the transports, credentials, databases,
//! client names and protocols as the server sees them.
//!
//! Tests that need nothing special use `REDIS_URL` when it is set (`cargo
//! xtask test` sets it) and start a throwaway server otherwise; tests that
//! need a password, ACL users, a Unix socket or TLS start their own.

use std::time::{Duration, Instant};

use redis_conn::{Connection, ConnectionConfig, Error, Protocol, Stream};
use resp::{cmd, Command, FromValue, Value};
use xtask::{RedisServer, TestServer};

/// The plain server of this test: the one at `REDIS_URL`, or a new one
/// (kept alive by the returned handle).
fn plain_server() -> (TestServer, String) {
    let server = TestServer::get().expect("start redis-server");
    let url = server.url().to_string();
    (server, url)
}

/// `base` with extra query parameters.
fn with_query(base: &str, query: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{query}")
}

async fn open(url: &str) -> Connection {
    let config: ConnectionConfig = url.parse().unwrap();
    redis_conn::connect(&config).await.unwrap()
}

async fn query<T: FromValue>(conn: &mut Connection, cmd: Command) -> T {
    let reply = conn.send(cmd).await.unwrap();
    T::from_value(reply).unwrap()
}

/// A key no other test uses, so tests can share one server.
fn unique_key(what: &str) -> String {
    format!("redis-conn:{what}:{}", redis_conn::jitter_seed())
}

/// A field of `CLIENT INFO` (`name=... resp=3 ...`).
async fn client_info(conn: &mut Connection, field: &str) -> String {
    let info: String = query(conn, cmd!("CLIENT", "INFO")).await;
    info.split_whitespace()
        .find_map(|kv| kv.strip_prefix(field)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_owned()
}

#[tokio::test]
async fn tcp_resp3_in_one_round_trip() {
    let (_server, url) = plain_server();
    let mut conn = open(&url).await;
    let info = conn.handshake().clone();
    assert_eq!(info.protocol(), Protocol::Resp3);
    assert_eq!(info.round_trips(), 1);
    assert!(info.server_version().is_some());
    assert!(info.connection_id().is_some());
    assert_eq!(client_info(&mut conn, "resp").await, "3");
    assert_eq!(
        info.connection_id(),
        Some(query::<i64>(&mut conn, cmd!("CLIENT", "ID")).await)
    );
    // RESP3 replies: a map for HGETALL.
    let key = unique_key("hash");
    let _: i64 = query(&mut conn, cmd!("HSET", &key, "f", "v")).await;
    let reply = conn.send(cmd!("HGETALL", &key)).await.unwrap();
    assert!(matches!(reply, Value::Map(_)), "{reply:?}");
}

#[tokio::test]
async fn resp2_forced_by_the_url() {
    let (_server, url) = plain_server();
    let mut conn = open(&with_query(&url, "protocol=resp2")).await;
    assert_eq!(conn.protocol(), Protocol::Resp2);
    // Nothing to authenticate, select or name: no handshake at all.
    assert_eq!(conn.handshake().round_trips(), 0);
    assert_eq!(conn.handshake().server_version(), None);
    assert_eq!(client_info(&mut conn, "resp").await, "2");
    let key = unique_key("hash");
    let _: i64 = query(&mut conn, cmd!("HSET", &key, "f", "v")).await;
    let reply = conn.send(cmd!("HGETALL", &key)).await.unwrap();
    assert!(matches!(reply, Value::Array(_)), "{reply:?}");
}

#[tokio::test]
async fn client_name_in_both_protocols() {
    let (_server, url) = plain_server();
    for (protocol, round_trips) in [("resp3", 1), ("resp2", 1)] {
        let name = format!("conn-test-{protocol}");
        let mut conn = open(&with_query(
            &url,
            &format!("client_name={name}&protocol={protocol}"),
        ))
        .await;
        assert_eq!(conn.handshake().round_trips(), round_trips);
        let got: String = query(&mut conn, cmd!("CLIENT", "GETNAME")).await;
        assert_eq!(got, name);
        assert_eq!(client_info(&mut conn, "name").await, name);
    }
}

/// Which server `conn` is on and whether it knows `CLIENT SETINFO`: Valkey
/// (`server_name:valkey`, all versions) and Redis from 7.2.
async fn server_with_setinfo(conn: &mut Connection) -> (String, bool) {
    let info: String = query(conn, cmd!("INFO", "server")).await;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
            .unwrap_or("")
            .to_owned()
    };
    if field("server_name") == "valkey" {
        return (format!("valkey {}", field("valkey_version")), true);
    }
    let version = field("redis_version");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (format!("redis {version}"), (major, minor) >= (7, 2))
}

#[tokio::test]
async fn the_server_learns_the_library_name_and_version() {
    let (_server, url) = plain_server();
    let version = env!("CARGO_PKG_VERSION");
    let mut conn = open(&url).await;
    // One round trip whether the server knows CLIENT SETINFO or refuses it.
    assert_eq!(conn.handshake().round_trips(), 1);
    let (server, knows_setinfo) = server_with_setinfo(&mut conn).await;
    let pong: String = query(&mut conn, cmd!("PING")).await;
    assert_eq!(pong, "PONG", "every handshake reply was read");
    let info: String = query(&mut conn, cmd!("CLIENT", "INFO")).await;
    if !knows_setinfo {
        // Redis 7.0 refused both commands, and CLIENT INFO has no such field.
        eprintln!("{server}: no CLIENT SETINFO; the handshake took one round trip");
        assert!(!info.contains("lib-name="), "{server}: {info}");
        return;
    }
    eprintln!("{server}: checking lib-name and lib-ver in CLIENT INFO");
    assert_eq!(client_info(&mut conn, "lib-name").await, "redis-facade");
    assert_eq!(client_info(&mut conn, "lib-ver").await, version);
    let list: String = query(&mut conn, cmd!("CLIENT", "LIST")).await;
    let ours = format!("lib-name=redis-facade lib-ver={version}");
    assert!(list.contains(&ours), "{server}: {list}");

    // A suffix; RESP2 beside a client name; RESP2 with nothing else to
    // send, and turned off: none.
    for (query_params, lib_name, round_trips) in [
        ("lib_name_suffix=myorm_v1", "redis-facade(myorm_v1)", 1),
        ("protocol=resp2&client_name=n", "redis-facade", 1),
        ("protocol=resp2", "", 0),
        ("client_info=false", "", 1),
    ] {
        let mut conn = open(&with_query(&url, query_params)).await;
        assert_eq!(
            conn.handshake().round_trips(),
            round_trips,
            "{query_params}"
        );
        assert_eq!(
            client_info(&mut conn, "lib-name").await,
            lib_name,
            "{server}: {query_params}"
        );
        let expected_version = if lib_name.is_empty() { "" } else { version };
        assert_eq!(
            client_info(&mut conn, "lib-ver").await,
            expected_version,
            "{server}: {query_params}"
        );
    }
}

#[tokio::test]
async fn select_puts_keys_in_their_database() {
    let (_server, url) = plain_server();
    let key = unique_key("db");
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let config = ConnectionConfig::from_url(&url)
            .unwrap()
            .with_db(3)
            .with_protocol(protocol);
        let mut db3 = redis_conn::connect(&config).await.unwrap();
        assert_eq!(db3.handshake().round_trips(), 1);
        assert_eq!(client_info(&mut db3, "db").await, "3");
        let _: () = query(&mut db3, cmd!("SET", &key, protocol.to_string())).await;

        let mut db0 = open(&url).await;
        let missing: Option<String> = query(&mut db0, cmd!("GET", &key)).await;
        assert_eq!(missing, None);

        let mut again = redis_conn::connect(&config.clone().with_protocol(Protocol::Resp3))
            .await
            .unwrap();
        let found: Option<String> = query(&mut again, cmd!("GET", &key)).await;
        assert_eq!(found, Some(protocol.to_string()));
    }
}

#[tokio::test]
async fn password() {
    let server = RedisServer::builder().password("s3cr:t").start().unwrap();
    let port = server.port();
    for protocol in ["resp3", "resp2"] {
        let url =
            format!("redis://:s3cr%3At@127.0.0.1:{port}/2?protocol={protocol}&client_name=pw");
        let mut conn = open(&url).await;
        assert_eq!(conn.handshake().round_trips(), 1, "{protocol}");
        let pong: String = query(&mut conn, cmd!("PING")).await;
        assert_eq!(pong, "PONG");
        assert_eq!(client_info(&mut conn, "db").await, "2");

        let wrong = format!("redis://:nope@127.0.0.1:{port}?protocol={protocol}");
        let e = redis_conn::connect(&wrong.parse().unwrap())
            .await
            .unwrap_err();
        assert!(e.is_auth(), "{protocol}: {e:?}");
        assert_eq!(e.server_code(), Some("WRONGPASS"), "{protocol}");
        let text = e.to_string();
        assert!(text.contains("refused the user name or password"), "{text}");
        assert!(!text.contains("nope"), "{text}");
    }
    // No password at all: HELLO says NOAUTH, about a command the user never
    // sent; the error says what to do instead.
    let e = redis_conn::connect(&server.url().parse().unwrap())
        .await
        .unwrap_err();
    assert!(e.is_auth(), "{e:?}");
    assert_eq!(e.server_code(), Some("NOAUTH"));
    let text = e.to_string();
    assert!(!text.contains("HELLO"), "{text}");
    assert!(
        text.starts_with(
            "authentication failed: the server wants a password and none was given (NOAUTH): \
             put it in the url"
        ),
        "{text}"
    );
    // RESP2 without a password sends nothing; the first command finds out.
    let mut conn = open(&format!("{}?protocol=resp2", server.url())).await;
    let e = conn.send(cmd!("PING")).await.unwrap_err();
    assert_eq!(e.server_code(), Some("NOAUTH"));
}

#[tokio::test]
async fn acl_user() {
    let server = RedisServer::builder()
        .password("admin")
        .acl_user("alice on >wonderland ~* &* +@all")
        .start()
        .unwrap();
    let port = server.port();
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let config = ConnectionConfig::from_url(&format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .with_username("alice")
            .with_password("wonderland")
            .with_protocol(protocol);
        let mut conn = redis_conn::connect(&config).await.unwrap();
        assert_eq!(conn.handshake().round_trips(), 1);
        let who: String = query(&mut conn, cmd!("ACL", "WHOAMI")).await;
        assert_eq!(who, "alice");
        assert_eq!(client_info(&mut conn, "user").await, "alice");

        let e = redis_conn::connect(&config.clone().with_password("rabbit"))
            .await
            .unwrap_err();
        assert!(e.is_auth(), "{protocol}: {e:?}");
    }
    // The default user keeps its password.
    let mut conn = open(&format!("redis://:admin@127.0.0.1:{port}")).await;
    let who: String = query(&mut conn, cmd!("ACL", "WHOAMI")).await;
    assert_eq!(who, "default");
}

#[tokio::test]
async fn a_credentials_provider_is_asked_at_every_handshake() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use redis_conn::Credentials;

    let server = RedisServer::builder()
        .password("admin")
        .acl_user("app on >first ~* &* +@all")
        .start()
        .unwrap();
    let password = Arc::new(Mutex::new("first".to_string()));
    let asked = Arc::new(AtomicUsize::new(0));
    let provider = {
        let (password, asked) = (password.clone(), asked.clone());
        move || {
            asked.fetch_add(1, Ordering::SeqCst);
            let password = password.lock().unwrap().clone();
            async move { Ok(Credentials::new("app", password).with_lifetime(Duration::from_secs(60))) }
        }
    };
    // The URL's password is not used once a provider is set.
    let url = format!("redis://:admin@127.0.0.1:{}", server.port());
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let config = ConnectionConfig::from_url(&url)
            .unwrap()
            .with_protocol(protocol)
            .with_credentials_provider(Arc::new(provider.clone()));
        *password.lock().unwrap() = "first".into();
        let mut conn = redis_conn::connect(&config).await.unwrap();
        assert_eq!(client_info(&mut conn, "user").await, "app", "{protocol}");
        assert!(conn.handshake().credentials_expire_at().is_some());
        // Rotated on the server: the next handshake asks again.
        let mut admin = open(&url).await;
        let _: Value = query(
            &mut admin,
            cmd!("ACL", "SETUSER", "app", "resetpass", ">second"),
        )
        .await;
        let e = redis_conn::connect(&config).await.unwrap_err();
        assert!(e.is_auth(), "{e:?}");
        assert!(!e.to_string().contains("first"), "{e}");
        *password.lock().unwrap() = "second".into();
        let mut conn = redis_conn::connect(&config).await.unwrap();
        assert_eq!(client_info(&mut conn, "user").await, "app");
        let _: Value = query(
            &mut admin,
            cmd!("ACL", "SETUSER", "app", "resetpass", ">first"),
        )
        .await;
    }
    assert_eq!(asked.load(Ordering::SeqCst), 6);
    // A provider that fails: an auth error that says so, sent nothing.
    let failing = || async { Err(redis_conn::Error::credentials("the token service is down")) };
    let config = ConnectionConfig::from_url(&url)
        .unwrap()
        .with_credentials_provider(Arc::new(failing));
    let e = redis_conn::connect(&config).await.unwrap_err();
    assert!(e.is_auth(), "{e:?}");
    assert_eq!(
        e.to_string(),
        "cannot get credentials: the token service is down"
    );
}

#[tokio::test]
async fn unix_socket() {
    let server = RedisServer::builder()
        .unix_socket()
        .password("pw")
        .start()
        .unwrap();
    let path = server.unix_socket().unwrap().display().to_string();
    let url = format!("redis+unix://{path}?db=4&password=pw&client_name=local");
    let mut conn = open(&url).await;
    assert_eq!(conn.handshake().round_trips(), 1);
    assert!(format!("{:?}", conn.stream()).starts_with("Unix"));
    assert_eq!(client_info(&mut conn, "db").await, "4");
    assert_eq!(client_info(&mut conn, "name").await, "local");
    let mut conn = open(&format!("unix://{path}?password=pw&protocol=resp2")).await;
    let pong: String = query(&mut conn, cmd!("PING")).await;
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn falls_back_to_resp2_when_hello_is_unknown() {
    // A server without HELLO, like Redis before 6.
    let server = RedisServer::builder()
        .password("pw")
        .arg("--rename-command")
        .arg("HELLO")
        .arg("")
        .start()
        .unwrap();
    let url = format!(
        "redis://:pw@127.0.0.1:{}/5?client_name=old-school",
        server.port()
    );
    let mut conn = open(&url).await;
    let info = conn.handshake().clone();
    assert_eq!(info.protocol(), Protocol::Resp2);
    assert_eq!(info.round_trips(), 2);
    assert_eq!(info.server_version(), None);
    assert_eq!(client_info(&mut conn, "resp").await, "2");
    assert_eq!(client_info(&mut conn, "db").await, "5");
    assert_eq!(client_info(&mut conn, "name").await, "old-school");
    // Every handshake reply was read: the next reply is PING's.
    let pong: String = query(&mut conn, cmd!("PING")).await;
    assert_eq!(pong, "PONG");

    let wrong = format!("redis://:nope@127.0.0.1:{}", server.port());
    let e = redis_conn::connect(&wrong.parse().unwrap())
        .await
        .unwrap_err();
    assert!(e.is_auth(), "{e:?}");
}

#[tokio::test]
async fn connect_times_out_on_a_paused_server() {
    let server = RedisServer::start().unwrap();
    let timeout = Duration::from_millis(300);
    let config = ConnectionConfig::from_url(&server.url())
        .unwrap()
        .with_connect_timeout(timeout);
    server.pause();
    let start = Instant::now();
    let e = redis_conn::connect(&config).await.unwrap_err();
    let elapsed = start.elapsed();
    server.resume();
    assert!(
        matches!(
            e.root(),
            Error::Timeout {
                what: "handshake",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "cannot connect to 127.0.0.1:{}: handshake timed out after 300ms",
            server.port()
        )
    );
    assert!(elapsed >= timeout && elapsed < timeout * 5, "{elapsed:?}");
    // Once resumed, the server answers.
    redis_conn::connect(&config).await.unwrap();
}

#[tokio::test]
async fn monitor_sees_other_connections() {
    let (_server, url) = plain_server();
    let mut monitor = open(&url).await;
    let ok: String = query(&mut monitor, cmd!("MONITOR")).await;
    assert_eq!(ok, "OK");
    let key = unique_key("monitored");
    let mut other = open(&url).await;
    let _: Option<String> = query(&mut other, cmd!("GET", &key)).await;
    use futures_util::StreamExt;
    loop {
        let line = monitor.next().await.unwrap().unwrap();
        let line = String::from_value(line).unwrap();
        if line.contains(&key) {
            assert!(line.contains("\"GET\""), "{line}");
            break;
        }
    }
}

#[test]
fn stream_is_send() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Stream>();
    assert_send::<Connection<Stream>>();
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;

    fn tls_server(extra: &[&str]) -> RedisServer {
        let mut builder = RedisServer::builder().tls().password("pw");
        for arg in extra {
            builder = builder.arg(arg);
        }
        builder.start().unwrap()
    }

    fn config(server: &RedisServer, host: &str) -> ConnectionConfig {
        let url = format!("rediss://:pw@{host}:{}/1", server.tls_port().unwrap());
        ConnectionConfig::from_url(&url)
            .unwrap()
            .with_tls_root_pem(server.tls_ca_cert_pem().unwrap())
    }

    #[tokio::test]
    async fn tls_with_the_test_ca() {
        let server = tls_server(&[]);
        for host in ["127.0.0.1", "localhost"] {
            let mut conn = redis_conn::connect(&config(&server, host)).await.unwrap();
            assert!(conn.stream().is_tls());
            assert_eq!(conn.handshake().round_trips(), 1);
            assert_eq!(client_info(&mut conn, "db").await, "1");
        }
        // The CA as bytes, and a server name other than the host.
        let ca = std::fs::read(server.tls_ca_cert_pem().unwrap()).unwrap();
        let by_name = config(&server, "127.0.0.1")
            .with_tls_root_pem(ca)
            .with_tls_server_name("localhost");
        redis_conn::connect(&by_name).await.unwrap();
    }

    #[tokio::test]
    async fn tls_refuses_what_it_cannot_verify() {
        let server = tls_server(&[]);
        // A name the certificate does not hold.
        let wrong_name = config(&server, "127.0.0.1").with_tls_server_name("example.com");
        let e = redis_conn::connect(&wrong_name).await.unwrap_err();
        assert!(matches!(e.root(), Error::Io(_)), "{e:?}");
        assert!(e.to_string().contains("certificate"), "{e}");
        // The system roots do not know the test CA.
        let url = format!("rediss://:pw@127.0.0.1:{}", server.tls_port().unwrap());
        match redis_conn::connect(&url.parse().unwrap())
            .await
            .as_ref()
            .map_err(Error::root)
        {
            Err(Error::Io(e)) => assert!(e.to_string().contains("certificate"), "{e}"),
            Err(Error::Config(redis_conn::ConfigError::NoRootCertificates)) => {}
            other => panic!("{other:?}"),
        }
        // Plain text to the TLS port is not an answer.
        let plain = ConnectionConfig::from_url(&format!(
            "redis://:pw@127.0.0.1:{}",
            server.tls_port().unwrap()
        ))
        .unwrap()
        .with_connect_timeout(Duration::from_secs(2));
        assert!(redis_conn::connect(&plain).await.is_err());
    }

    #[tokio::test]
    async fn mutual_tls() {
        let server = tls_server(&["--tls-auth-clients", "yes"]);
        let with_cert = config(&server, "localhost").with_tls_client_cert(
            server.tls_client_cert_pem().unwrap(),
            server.tls_client_key_pem().unwrap(),
        );
        let mut conn = redis_conn::connect(&with_cert).await.unwrap();
        let pong: String = query(&mut conn, cmd!("PING")).await;
        assert_eq!(pong, "PONG");
        // Without the certificate, the server hangs up.
        let e = redis_conn::connect(&config(&server, "localhost"))
            .await
            .unwrap_err();
        assert!(matches!(e.root(), Error::Io(_)), "{e:?}");
    }
}
