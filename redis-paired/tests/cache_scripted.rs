//! The client-side cache against a fake server in the test process, which
//! writes replies and invalidations in exactly the order and grouping a
//! test asks for: a reply and its invalidation in one write, in every order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_conn::{ConfigError, ConnectionConfig, Error, Protocol, ReconnectPolicy};
use redis_paired::{CacheOptions, Commands, Options, PairedConnection};
use resp::{cmd, Value};

use support::Answer;

mod support;

/// What the fake server does with one command.
type Act = Answer;

fn write(bytes: impl Into<Vec<u8>>) -> Act {
    Answer::write(bytes)
}

type Script = dyn Fn(&Served) -> Act + Send + Sync;

/// What the script is told of the command it answers.
struct Served {
    /// The connection's number, from 0.
    connection: usize,
    /// The command's name, upper case, and its arguments.
    name: String,
    args: Vec<Vec<u8>>,
    /// How many commands of this name the server saw before, on every
    /// connection.
    before: usize,
}

struct Fake {
    config: ConnectionConfig,
    received: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    /// How many times the server was sent `name`.
    fn count(&self, name: &str) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|n| *n == name)
            .count()
    }
}

/// A fake RESP3 server: it answers the handshake (`HELLO 3`, `CLIENT ...`
/// with `+OK`, `CLIENT TRACKING` included) itself, and everything else as
/// `script` says.
async fn fake_server(script: impl Fn(&Served) -> Act + Send + Sync + 'static) -> Fake {
    let script: Arc<Script> = Arc::new(script);
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let (port, _) = support::serve(move |connection, cmd| {
        let Value::Array(items) = cmd else {
            return Answer::hang_up();
        };
        let args: Vec<Vec<u8>> = items
            .iter()
            .map(|v| v.as_bytes().unwrap_or_default().to_vec())
            .collect();
        let name = String::from_utf8_lossy(&args[0]).to_uppercase();
        match name.as_str() {
            "HELLO" => write(&b"%1\r\n$5\r\nproto\r\n:3\r\n"[..]),
            "CLIENT" => write(&b"+OK\r\n"[..]),
            _ => {
                let before = {
                    let mut log = log.lock().unwrap();
                    let before = log.iter().filter(|n| **n == name).count();
                    log.push(name.clone());
                    before
                };
                script(&Served {
                    connection,
                    name: name.clone(),
                    args,
                    before,
                })
            }
        }
    })
    .await;
    let config: ConnectionConfig = format!("redis://127.0.0.1:{port}/").parse().unwrap();
    let config = config
        .with_connect_timeout(Duration::from_secs(2))
        .with_reconnect(ReconnectPolicy::default().with_max(Duration::from_millis(50)));
    Fake { config, received }
}

fn bulk(text: &str) -> Vec<u8> {
    format!("${}\r\n{text}\r\n", text.len()).into_bytes()
}

fn invalidate(key: &str) -> Vec<u8> {
    let mut frame = b">2\r\n$10\r\ninvalidate\r\n*1\r\n".to_vec();
    frame.extend(bulk(key));
    frame
}

const INVALIDATE_ALL: &[u8] = b">2\r\n$10\r\ninvalidate\r\n_\r\n";

async fn cached(config: &ConnectionConfig) -> PairedConnection {
    PairedConnection::connect_with(
        config,
        Options::new().with_cache(CacheOptions::new(1 << 20)),
    )
    .await
    .unwrap()
}

/// How the reply to a read and an invalidation of its key share one write.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// The reply alone: it is stored.
    ReplyAlone,
    /// The reply, then the invalidation: stored, then dropped.
    ReplyThenInvalidation,
    /// The invalidation, then the reply: the key changed after the read was
    /// asked for, so the reply is not stored.
    InvalidationThenReply,
}

// One thread: the driver reads the whole write before the caller runs
// again, as it would have read it before the caller's next read had the
// two been a moment apart.
#[tokio::test]
async fn a_reply_and_its_invalidation_in_one_write_in_every_order() {
    for order in [
        Order::ReplyAlone,
        Order::ReplyThenInvalidation,
        Order::InvalidationThenReply,
    ] {
        let fake = fake_server(move |served| {
            let value = bulk(&format!("v{}", served.before));
            match (served.name.as_str(), served.before, order) {
                ("GET", 0, Order::ReplyThenInvalidation) => {
                    write([value, invalidate("k")].concat())
                }
                ("GET", 0, Order::InvalidationThenReply) => {
                    write([invalidate("k"), value].concat())
                }
                ("GET", _, _) => write(value),
                _ => write(&b"+OK\r\n"[..]),
            }
        })
        .await;
        let conn = cached(&fake.config).await;
        let first: Option<String> = conn.get("k").await.unwrap();
        assert_eq!(first.as_deref(), Some("v0"), "{order:?}");
        let second: Option<String> = conn.get("k").await.unwrap();
        match order {
            Order::ReplyAlone => {
                assert_eq!(second.as_deref(), Some("v0"), "{order:?}");
                assert_eq!(fake.count("GET"), 1, "{order:?}: the second read is a hit");
                assert_eq!(conn.stats().cache_hits, 1);
            }
            Order::ReplyThenInvalidation | Order::InvalidationThenReply => {
                assert_eq!(second.as_deref(), Some("v1"), "{order:?}");
                assert_eq!(fake.count("GET"), 2, "{order:?}: the second read goes out");
            }
        }
        let stats = conn.stats();
        assert_eq!(stats.cache_entries, 1, "{order:?}: {stats:?}");
        assert!(stats.cache_bytes > 0, "{order:?}");
    }
}

#[tokio::test]
async fn concurrent_misses_of_one_key_share_one_request() {
    let fake = fake_server(|served| Act {
        delay: Duration::from_millis(50),
        ..write(bulk(&format!("v{}", served.before)))
    })
    .await;
    let conn = cached(&fake.config).await;
    let reads: Vec<_> = (0..10).map(|_| conn.get::<String>("k")).collect();
    for read in reads {
        assert_eq!(read.await.unwrap().as_deref(), Some("v0"));
    }
    assert_eq!(fake.count("GET"), 1);
    assert_eq!(conn.stats().cache_misses, 1);
}

#[tokio::test]
async fn a_null_invalidation_forgets_everything() {
    let fake = fake_server(|served| match served.name.as_str() {
        "GET" => write(bulk(&format!("{}{}", served.args[1].len(), served.before))),
        _ => write([b"+PONG\r\n".to_vec(), INVALIDATE_ALL.to_vec()].concat()),
    })
    .await;
    let conn = cached(&fake.config).await;
    let _: Option<String> = conn.get("a").await.unwrap();
    let _: Option<String> = conn.get("bb").await.unwrap();
    assert_eq!(conn.stats().cache_entries, 2);
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(conn.stats().cache_entries, 0);
    let _: Option<String> = conn.get("a").await.unwrap();
    assert_eq!(fake.count("GET"), 3);
    assert_eq!(conn.stats().cache_invalidations, 2);
}

#[tokio::test]
async fn a_read_in_flight_when_the_client_writes_its_key_is_not_stored() {
    // The fake server never sends invalidations: only the client's own
    // write keeps the old value out.
    let fake = fake_server(|served| match served.name.as_str() {
        "GET" => Act {
            delay: Duration::from_millis(20),
            ..write(bulk(&format!("v{}", served.before)))
        },
        "DEL" => write(&b":1\r\n"[..]),
        _ => write(&b"+OK\r\n"[..]),
    })
    .await;
    let conn = cached(&fake.config).await;
    let read = conn.get::<String>("k");
    let written = conn.set("k", "new");
    assert_eq!(read.await.unwrap().as_deref(), Some("v0"));
    written.await.unwrap();
    let again: Option<String> = conn.get("k").await.unwrap();
    assert_eq!(again.as_deref(), Some("v1"));
    assert_eq!(fake.count("GET"), 2);
    // And a stored entry goes when the client writes its key.
    let _: Option<String> = conn.get("k").await.unwrap();
    assert_eq!(fake.count("GET"), 2, "stored, then a hit");
    conn.del("k").await.unwrap();
    let _: Option<String> = conn.get("k").await.unwrap();
    assert_eq!(fake.count("GET"), 3);
}

#[tokio::test]
async fn a_reconnect_forgets_everything() {
    let fake = fake_server(|served| match served.name.as_str() {
        "GET" => write(bulk(&format!("c{}", served.connection))),
        _ => Act {
            // A reconnect may PING too: only the first connection hangs up.
            close: served.connection == 0,
            ..write(&b"+PONG\r\n"[..])
        },
    })
    .await;
    let conn = cached(&fake.config).await;
    let first: Option<String> = conn.get("k").await.unwrap();
    assert_eq!(conn.get::<String>("k").await.unwrap(), first);
    assert_eq!(fake.count("GET"), 1);
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    // The next read waits for the new connection, and goes to it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match conn.get::<String>("k").await {
            Ok(value) => {
                assert_eq!(value.as_deref(), Some("c1"));
                break;
            }
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    assert!(fake.count("GET") >= 2);
    // A read queued while the connection was down was not marked for the
    // cache (nothing was tracked then); the next one fills it.
    let _: Option<String> = conn.get("k").await.unwrap();
    let sent = fake.count("GET");
    assert_eq!(
        conn.get::<String>("k").await.unwrap().as_deref(),
        Some("c1")
    );
    assert_eq!(
        fake.count("GET"),
        sent,
        "cached again on the new connection"
    );
}

#[tokio::test]
async fn pushes_that_are_not_invalidations_reach_the_stream_or_are_counted() {
    const MESSAGE: &[u8] = b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
    let fake = fake_server(|_| write([b"+PONG\r\n".to_vec(), MESSAGE.to_vec()].concat())).await;
    let options = Options::new()
        .with_cache(CacheOptions::new(1 << 20))
        .with_max_pushes(2);
    let conn = PairedConnection::connect_with(&fake.config, options)
        .await
        .unwrap();
    // Not taken yet: two wait, the third is dropped and counted.
    for _ in 0..3 {
        let _: String = conn.send(cmd!("PING")).await.unwrap();
    }
    let stats = conn.stats();
    assert_eq!((stats.pushes, stats.pushes_dropped), (2, 1));
    let mut pushes = conn.pushes().expect("the stream is there to take");
    assert!(conn.pushes().is_none(), "taken once");
    for _ in 0..2 {
        let Some(Value::Push(items)) = pushes.next().await else {
            panic!("expected a push");
        };
        assert_eq!(items[0].as_bytes(), Some(&b"message"[..]));
        assert_eq!(items[2].as_bytes(), Some(&b"hi"[..]));
    }
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    assert!(matches!(pushes.next().await, Some(Value::Push(_))));
    drop(pushes);
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    let stats = conn.stats();
    assert_eq!((stats.pushes, stats.pushes_dropped), (3, 2));
}

#[tokio::test]
async fn the_stream_of_pushes_ends_when_the_connection_closes() {
    const MESSAGE: &[u8] = b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
    let fake = fake_server(|_| write([b"+PONG\r\n".to_vec(), MESSAGE.to_vec()].concat())).await;
    let conn = PairedConnection::connect(&fake.config).await.unwrap();
    let mut pushes = conn.pushes().unwrap();
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    conn.close().await;
    // What was read before the close is still there, then the end, while
    // the handle lives on.
    assert!(matches!(pushes.next().await, Some(Value::Push(_))));
    let end = tokio::time::timeout(Duration::from_secs(5), pushes.next()).await;
    assert!(matches!(end, Ok(None)), "{end:?}");
    drop(conn);
}

#[tokio::test]
async fn without_a_cache_an_invalidation_is_a_push_like_any() {
    let fake = fake_server(|_| write([b"+PONG\r\n".to_vec(), invalidate("k")].concat())).await;
    let conn = PairedConnection::connect(&fake.config).await.unwrap();
    let mut pushes = conn.pushes().unwrap();
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    let Some(Value::Push(items)) = pushes.next().await else {
        panic!("expected a push");
    };
    assert_eq!(items[0].as_bytes(), Some(&b"invalidate"[..]));
}

#[tokio::test]
async fn a_cache_on_resp2_is_refused_with_what_to_change() {
    let fake = fake_server(|_| write(&b"+OK\r\n"[..])).await;
    let config = fake.config.clone().with_protocol(Protocol::Resp2);
    let options = Options::new().with_cache(CacheOptions::new(1 << 20));
    let error = PairedConnection::connect_with(&config, options)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Config(ConfigError::CacheNeedsResp3)),
        "{error:?}"
    );
    assert!(error.to_string().contains("RESP3"), "{error}");
}

#[tokio::test]
async fn a_listed_command_that_cannot_be_cached_is_refused() {
    let fake = fake_server(|_| write(&b"+OK\r\n"[..])).await;
    let options = Options::new().with_cache(
        CacheOptions::new(1 << 20).with_commands(redis_paired::Cached::Commands(&["GET", "TTL"])),
    );
    let error = PairedConnection::connect_with(&fake.config, options)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Config(ConfigError::NotCacheable(name)) if name == "TTL"),
        "{error:?}"
    );
}

#[tokio::test]
async fn client_tracking_by_hand_is_still_refused() {
    let fake = fake_server(|_| write(&b"+OK\r\n"[..])).await;
    let conn = cached(&fake.config).await;
    let error = conn
        .send::<()>(cmd!("CLIENT", "TRACKING", "OFF"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unsupported(_)), "{error:?}");
}
