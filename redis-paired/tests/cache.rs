//! The client-side cache against a live server (`REDIS_URL`, RESP3), or
//! servers these tests start themselves where they flush, kill or
//! reconfigure them: writers on other connections, `FLUSHALL`, `CLIENT
//! KILL`, kill -9, and a tracking table too small for what is read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis_conn::ConnectionConfig;
use redis_paired::{CacheOptions, Cached, Commands, Options, PairedConnection};
use resp::cmd;
use tokio::time::Instant;
use xtask::{RedisServer, TestServer};

fn cache_options() -> Options {
    Options::new().with_cache(CacheOptions::new(16 << 20))
}

async fn cached(config: &ConnectionConfig) -> PairedConnection {
    PairedConnection::connect_with(config, cache_options())
        .await
        .unwrap()
}

/// A key no other test uses.
fn key(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "cache:{name}:{}:{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits until the connection has reconnected `n` times in all.
async fn reconnected(conn: &PairedConnection, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while conn.stats().reconnects < n {
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads through the cache until one succeeds (the connection may be
/// coming back).
async fn get_eventually(conn: &PairedConnection, key: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match conn.get::<String>(key).await {
            Ok(value) => return value,
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_writers_on_other_connections_no_read_is_stale_once_the_client_could_know() {
    let server = TestServer::get().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let conn = cached(&config).await;
    let writer = PairedConnection::connect(&config).await.unwrap();
    let counter = key("counter");
    let () = writer.set(&counter, 0).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stale = Arc::new(AtomicU64::new(0));
    let backwards = Arc::new(AtomicU64::new(0));
    // Readers: their values never go back, read after read.
    let mut readers = Vec::new();
    for _ in 0..16 {
        let (conn, counter, stop, backwards) = (
            conn.clone(),
            counter.clone(),
            stop.clone(),
            backwards.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut last = 0;
            while !stop.load(Ordering::Relaxed) {
                let value: i64 = conn.get(&counter).await.unwrap().unwrap_or(0);
                if value < last {
                    backwards.fetch_add(1, Ordering::Relaxed);
                }
                last = value;
                tokio::task::yield_now().await;
            }
        }));
    }
    // A second writer, so that writes race with reads and each other.
    let other = {
        let (counter, stop) = (counter.clone(), stop.clone());
        let writer = PairedConnection::connect(&config).await.unwrap();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                writer.incr(&counter).await.unwrap();
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    // The checker: once a write is acknowledged and a round trip of the
    // cached connection followed it, that connection has read the
    // invalidation, and no read may return less.
    for _ in 0..300 {
        let written: i64 = writer.incr(&counter).await.unwrap();
        let _: String = conn.send(cmd!("PING")).await.unwrap();
        let read: i64 = conn.get(&counter).await.unwrap().unwrap_or(0);
        if read < written {
            stale.fetch_add(1, Ordering::Relaxed);
        }
    }
    stop.store(true, Ordering::Relaxed);
    other.await.unwrap();
    for reader in readers {
        reader.await.unwrap();
    }
    let stats = conn.stats();
    assert_eq!(stale.load(Ordering::Relaxed), 0, "stale reads: {stats:?}");
    assert_eq!(backwards.load(Ordering::Relaxed), 0, "reads went back");
    assert!(stats.cache_hits > 0, "the cache served nothing: {stats:?}");
    assert!(stats.cache_invalidations > 0, "no invalidation: {stats:?}");
}

#[tokio::test]
async fn reads_of_every_cached_command_answer_as_the_server_does_and_see_their_own_writes() {
    let server = TestServer::get().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let options = Options::new()
        .with_cache(CacheOptions::new(1 << 20).with_commands(Cached::ReadOnlySingleKey));
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    let plain = PairedConnection::connect(&config).await.unwrap();
    let (s, h, l) = (key("s"), key("h"), key("l"));
    let () = conn.set(&s, "one").await.unwrap();
    let _: bool = conn.hset(&h, "f", "x").await.unwrap();
    let _: i64 = conn.rpush(&l, ["a", "b", "c"]).await.unwrap();
    for round in 0..2 {
        let value: Option<String> = conn.get(&s).await.unwrap();
        assert_eq!(value.as_deref(), Some("one"), "round {round}");
        let field: Option<String> = conn.hget(&h, "f").await.unwrap();
        assert_eq!(field.as_deref(), Some("x"));
        let all: std::collections::HashMap<String, String> = conn.hgetall(&h).await.unwrap();
        assert_eq!(all.get("f").map(String::as_str), Some("x"));
        let many: Vec<Option<String>> = conn
            .send(cmd!("MGET", &s, "cache:absent", &s))
            .await
            .unwrap();
        assert_eq!(many, vec![Some("one".into()), None, Some("one".into())]);
        let range: Vec<String> = conn.lrange(&l, 0, -1).await.unwrap();
        assert_eq!(range, ["a", "b", "c"]);
        let len: i64 = conn.strlen(&s).await.unwrap();
        assert_eq!(len, 3);
    }
    let hits = conn.stats().cache_hits;
    assert!(hits >= 6, "the second round was served: {:?}", conn.stats());
    // The client's own writes are read back at once.
    let () = conn.set(&s, "two").await.unwrap();
    assert_eq!(
        conn.get::<String>(&s).await.unwrap().as_deref(),
        Some("two")
    );
    let _: bool = conn.hset(&h, "f", "y").await.unwrap();
    assert_eq!(
        conn.hget::<String>(&h, "f").await.unwrap().as_deref(),
        Some("y")
    );
    let _: i64 = conn.rpush(&l, "d").await.unwrap();
    let range: Vec<String> = conn.lrange(&l, 0, -1).await.unwrap();
    assert_eq!(range, ["a", "b", "c", "d"]);
    // Another connection's write, once a round trip has followed it.
    let () = plain.set(&s, "three").await.unwrap();
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(
        conn.get::<String>(&s).await.unwrap().as_deref(),
        Some("three")
    );
    let many: Vec<Option<String>> = conn.send(cmd!("MGET", &s)).await.unwrap();
    assert_eq!(many, vec![Some("three".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_each_read_their_own_writes() {
    let server = TestServer::get().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let conn = cached(&config).await;
    let mut tasks = Vec::new();
    for task in 0..32 {
        let conn = conn.clone();
        let key = key(&format!("own{task}"));
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let _: Option<String> = conn.get(&key).await.unwrap();
                let () = conn.set(&key, i).await.unwrap();
                let read: Option<i64> = conn.get(&key).await.unwrap();
                assert_eq!(read, Some(i), "task {task} did not read its write");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(conn.stats().cache_hits > 0);
}

#[tokio::test]
async fn flushall_forgets_everything() {
    let server = RedisServer::start().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let conn = cached(&config).await;
    let other = PairedConnection::connect(&config).await.unwrap();
    for name in ["a", "b", "c"] {
        let () = other.set(name, name).await.unwrap();
        let _: Option<String> = conn.get(name).await.unwrap();
    }
    assert_eq!(conn.stats().cache_entries, 3);
    let () = other.send(cmd!("FLUSHALL")).await.unwrap();
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(conn.stats().cache_entries, 0, "{:?}", conn.stats());
    for name in ["a", "b", "c"] {
        assert_eq!(conn.get::<String>(name).await.unwrap(), None);
    }
    // And the client's own FLUSHDB, before it is even answered.
    let _: Option<String> = conn.get("a").await.unwrap();
    let () = other.set("a", "again").await.unwrap();
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(
        conn.get::<String>("a").await.unwrap().as_deref(),
        Some("again")
    );
    // `a`, and the absence of `b` and `c`.
    assert_eq!(conn.stats().cache_entries, 3);
    let flushed = conn.send::<()>(cmd!("FLUSHDB"));
    assert_eq!(conn.stats().cache_entries, 0);
    flushed.await.unwrap();
    assert_eq!(conn.get::<String>("a").await.unwrap(), None);
}

#[tokio::test]
async fn client_kill_forgets_everything() {
    let server = TestServer::get().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let conn = cached(&config).await;
    let other = PairedConnection::connect(&config).await.unwrap();
    let k = key("killed");
    let () = other.set(&k, "old").await.unwrap();
    assert_eq!(
        conn.get::<String>(&k).await.unwrap().as_deref(),
        Some("old")
    );
    assert_eq!(
        conn.get::<String>(&k).await.unwrap().as_deref(),
        Some("old")
    );
    let id: i64 = conn.send(cmd!("CLIENT", "ID")).await.unwrap();
    let () = other.send(cmd!("CLIENT", "KILL", "ID", id)).await.unwrap();
    // Written after the kill: no invalidation can reach the dead
    // connection, and the new one never tracked the key.
    let () = other.set(&k, "new").await.unwrap();
    reconnected(&conn, 1).await;
    assert_eq!(get_eventually(&conn, &k).await.as_deref(), Some("new"));
}

#[tokio::test]
async fn a_killed_server_takes_the_cache_with_it() {
    let mut server = RedisServer::start().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let config = config.with_connect_timeout(Duration::from_millis(500));
    let conn = cached(&config).await;
    let () = conn.set("k", "before").await.unwrap();
    assert_eq!(
        conn.get::<String>("k").await.unwrap().as_deref(),
        Some("before")
    );
    assert_eq!(
        conn.get::<String>("k").await.unwrap().as_deref(),
        Some("before")
    );
    assert_eq!(conn.stats().cache_entries, 1);
    server.kill();
    server.restart().expect("redis-server restarts");
    // The restarted server has no data: a cache that outlived the
    // connection would still say "before".
    reconnected(&conn, 1).await;
    assert_eq!(get_eventually(&conn, "k").await, None);
    let () = conn.set("k", "after").await.unwrap();
    assert_eq!(
        conn.get::<String>("k").await.unwrap().as_deref(),
        Some("after")
    );
    assert_eq!(
        conn.get::<String>("k").await.unwrap().as_deref(),
        Some("after")
    );
}

#[tokio::test]
async fn a_tracking_table_too_small_evicts_and_the_cache_follows() {
    let server = RedisServer::start().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let other = PairedConnection::connect(&config).await.unwrap();
    let () = other
        .send(cmd!("CONFIG", "SET", "tracking-table-max-keys", 10))
        .await
        .unwrap();
    let conn = cached(&config).await;
    let keys: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    for k in &keys {
        let () = other.set(k, "old").await.unwrap();
        let _: Option<String> = conn.get(k).await.unwrap();
    }
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    let stats = conn.stats();
    // The server forgot most of what it tracked, and said so.
    assert!(stats.cache_entries <= 20, "{stats:?}");
    assert!(stats.cache_invalidations >= 80, "{stats:?}");
    for k in &keys {
        let () = other.set(k, "new").await.unwrap();
    }
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    for k in &keys {
        assert_eq!(
            conn.get::<String>(k).await.unwrap().as_deref(),
            Some("new"),
            "{k}"
        );
    }
}

#[tokio::test]
async fn a_cache_bounded_in_entries_stays_within_them() {
    let server = TestServer::get().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let options = Options::new().with_cache(CacheOptions::new(1 << 20).with_max_entries(5));
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    for i in 0..20 {
        let _: Option<String> = conn.get(key(&format!("bound{i}"))).await.unwrap();
    }
    let stats = conn.stats();
    assert_eq!(stats.cache_entries, 5, "{stats:?}");
    assert_eq!(stats.cache_evictions, 15, "{stats:?}");
}
