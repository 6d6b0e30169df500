//! Live tests of the typed commands, the scan streams and scripts, against
//! the server `cargo xtask test` provides (`REDIS_URL`), or one started per
//! test when it is not set.
//!
//! Every test uses keys under a prefix of its own, so they can share one
//! server and run in parallel.

use std::collections::{HashMap, HashSet};

use futures_util::{Stream, StreamExt, TryStreamExt};
use redis_conn::{ConnectionConfig, Error, Protocol};
use redis_paired::{
    Commands, Direction, ExclusiveConnection, Expiry, PairedConnection, ScanCommands, Script,
    SetOptions,
};
use resp::{cmd, Value};
use xtask::TestServer;

/// The server of one test: `REDIS_URL`'s, or a server of its own that lives
/// as long as this value.
struct Redis(TestServer);

impl Redis {
    fn new() -> Redis {
        Redis(TestServer::get().expect("redis-server starts"))
    }

    fn config(&self, protocol: Protocol) -> ConnectionConfig {
        ConnectionConfig::from_url(self.0.url())
            .unwrap()
            .with_protocol(protocol)
    }

    async fn connect(&self) -> PairedConnection {
        self.connect_with(Protocol::Resp3).await
    }

    async fn connect_with(&self, protocol: Protocol) -> PairedConnection {
        PairedConnection::connect(&self.config(protocol))
            .await
            .unwrap()
    }
}

/// Keys of the test `test`: distinct from every other test's.
fn key(test: &str, name: impl std::fmt::Display) -> String {
    format!("commands:{test}:{name}")
}

#[tokio::test]
async fn strings() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let k = |name: &str| key("strings", name);
    conn.del([k("s"), k("n"), k("f"), k("a"), k("b"), k("gone")])
        .await
        .unwrap();

    conn.set(k("s"), "hello").await.unwrap();
    assert_eq!(
        conn.get::<String>(k("s")).await.unwrap().as_deref(),
        Some("hello")
    );
    assert_eq!(
        conn.get::<Vec<u8>>(k("s")).await.unwrap(),
        Some(b"hello".to_vec())
    );
    assert_eq!(conn.get::<String>(k("missing")).await.unwrap(), None);
    assert_eq!(conn.append(k("s"), " world").await.unwrap(), 11);
    assert_eq!(conn.strlen(k("s")).await.unwrap(), 11);
    assert_eq!(conn.strlen(k("missing")).await.unwrap(), 0);

    assert_eq!(conn.incr(k("n")).await.unwrap(), 1);
    assert_eq!(conn.incr_by(k("n"), 10).await.unwrap(), 11);
    assert_eq!(conn.decr(k("n")).await.unwrap(), 10);
    assert_eq!(conn.decr_by(k("n"), 15).await.unwrap(), -5);
    assert_eq!(conn.get::<i64>(k("n")).await.unwrap(), Some(-5));
    assert_eq!(conn.incr_by_float(k("f"), 1.5).await.unwrap(), 1.5);
    assert_eq!(conn.incr_by_float(k("f"), -0.25).await.unwrap(), 1.25);

    conn.mset(&[(k("a"), "1"), (k("b"), "2")]).await.unwrap();
    let values: Vec<Option<i64>> = conn.mget([k("a"), k("missing"), k("b")]).await.unwrap();
    assert_eq!(values, [Some(1), None, Some(2)]);

    assert_eq!(
        conn.getex::<String>(k("a"), Expiry::Ex(100))
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
    assert!((1..=100).contains(&conn.ttl(k("a")).await.unwrap()));
    assert_eq!(
        conn.getex::<String>(k("a"), Expiry::Persist)
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
    assert_eq!(conn.ttl(k("a")).await.unwrap(), -1);
    assert_eq!(
        conn.getex::<String>(k("missing"), Expiry::Px(100))
            .await
            .unwrap(),
        None
    );

    assert_eq!(conn.getdel::<i64>(k("b")).await.unwrap(), Some(2));
    assert_eq!(conn.getdel::<i64>(k("b")).await.unwrap(), None);
    assert_eq!(conn.exists(k("b")).await.unwrap(), 0);
}

#[tokio::test]
async fn set_options() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let k = |name: &str| key("set_options", name);
    conn.del([k("a"), k("b"), k("c")]).await.unwrap();

    // NX sets only a missing key; XX only an existing one.
    let nx = SetOptions::new().nx();
    assert!(conn.set_with::<bool>(k("a"), "v1", nx).await.unwrap());
    assert!(!conn.set_with::<bool>(k("a"), "v2", nx).await.unwrap());
    assert!(!conn
        .set_with::<bool>(k("b"), "v1", SetOptions::new().xx())
        .await
        .unwrap());
    assert_eq!(conn.exists(k("b")).await.unwrap(), 0);
    assert!(conn
        .set_with::<bool>(k("a"), "v3", SetOptions::new().xx())
        .await
        .unwrap());

    // GET answers the old value, or None.
    let old: Option<String> = conn
        .set_with(k("a"), "v4", SetOptions::new().get())
        .await
        .unwrap();
    assert_eq!(old.as_deref(), Some("v3"));
    let old: Option<String> = conn
        .set_with(k("b"), "v1", SetOptions::new().get())
        .await
        .unwrap();
    assert_eq!(old, None);
    // NX with GET: nothing set, the current value answered.
    let old: Option<String> = conn
        .set_with(k("a"), "v5", SetOptions::new().nx().get())
        .await
        .unwrap();
    assert_eq!(old.as_deref(), Some("v4"));
    assert_eq!(
        conn.get::<String>(k("a")).await.unwrap().as_deref(),
        Some("v4")
    );

    // Times to live: set, kept, and discarded by a plain SET.
    conn.set_with::<()>(k("c"), "x", SetOptions::new().expiry(Expiry::Ex(100)))
        .await
        .unwrap();
    assert!((1..=100).contains(&conn.ttl(k("c")).await.unwrap()));
    conn.set_with::<()>(k("c"), "y", SetOptions::new().keep_ttl())
        .await
        .unwrap();
    assert!((1..=100).contains(&conn.ttl(k("c")).await.unwrap()));
    conn.set(k("c"), "z").await.unwrap();
    assert_eq!(conn.ttl(k("c")).await.unwrap(), -1);
    conn.set_with::<()>(k("c"), "x", SetOptions::new().expiry(Expiry::Px(100_000)))
        .await
        .unwrap();
    assert!((1..=100_000).contains(&conn.pttl(k("c")).await.unwrap()));
    let in_an_hour = unix_now() + 3600;
    conn.set_with::<()>(
        k("c"),
        "x",
        SetOptions::new().expiry(Expiry::ExAt(in_an_hour)),
    )
    .await
    .unwrap();
    assert!((3500..=3600).contains(&conn.ttl(k("c")).await.unwrap()));
    let options = SetOptions::new()
        .xx()
        .expiry(Expiry::PxAt(in_an_hour * 1000));
    assert!(conn.set_with::<bool>(k("c"), "x", options).await.unwrap());
    assert!((3500..=3600).contains(&conn.ttl(k("c")).await.unwrap()));

    // The common cases need no type named.
    conn.set_ex(k("d"), "x", 100).await.unwrap();
    assert!((1..=100).contains(&conn.ttl(k("d")).await.unwrap()));
    conn.set_px(k("d"), "y", 100_000).await.unwrap();
    assert!((1..=100_000).contains(&conn.pttl(k("d")).await.unwrap()));
    assert!(!conn.set_nx(k("d"), "z").await.unwrap());
    assert!(conn.set_nx(k("e"), "z").await.unwrap());
    assert_eq!(
        conn.get::<String>(k("d")).await.unwrap().as_deref(),
        Some("y")
    );
}

#[tokio::test]
async fn keys() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let k = |name: &str| key("keys", name);
    conn.del([k("a"), k("b"), k("c"), k("h"), k("renamed"), k("copy")])
        .await
        .unwrap();

    conn.mset(&[(k("a"), "1"), (k("b"), "2"), (k("c"), "3")])
        .await
        .unwrap();
    assert_eq!(
        conn.exists([k("a"), k("b"), k("missing"), k("a")])
            .await
            .unwrap(),
        3
    );
    assert_eq!(conn.key_type(k("a")).await.unwrap(), "string");
    assert_eq!(conn.key_type(k("missing")).await.unwrap(), "none");
    conn.hset(k("h"), "f", "v").await.unwrap();
    assert_eq!(conn.key_type(k("h")).await.unwrap(), "hash");

    assert!(conn.expire(k("a"), 100).await.unwrap());
    assert!(!conn.expire(k("missing"), 100).await.unwrap());
    assert!((1..=100).contains(&conn.ttl(k("a")).await.unwrap()));
    assert!(conn.pexpire(k("a"), 50_000).await.unwrap());
    assert!((1..=50_000).contains(&conn.pttl(k("a")).await.unwrap()));
    assert!(conn.persist(k("a")).await.unwrap());
    assert!(!conn.persist(k("a")).await.unwrap());
    assert_eq!(conn.ttl(k("a")).await.unwrap(), -1);
    assert_eq!(conn.ttl(k("missing")).await.unwrap(), -2);
    assert_eq!(conn.pttl(k("missing")).await.unwrap(), -2);
    assert!(conn
        .expire_at(k("b"), (unix_now() + 100) as i64)
        .await
        .unwrap());
    assert!((1..=100).contains(&conn.ttl(k("b")).await.unwrap()));
    // A time in the past deletes the key.
    assert!(conn.expire_at(k("b"), 1).await.unwrap());
    assert_eq!(conn.exists(k("b")).await.unwrap(), 0);

    conn.rename(k("c"), k("renamed")).await.unwrap();
    assert_eq!(conn.get::<i64>(k("renamed")).await.unwrap(), Some(3));
    let err = conn.rename(k("missing"), k("other")).await.unwrap_err();
    assert_eq!(err.server_code(), Some("ERR"), "{err}");

    assert!(conn.copy(k("renamed"), k("copy"), false).await.unwrap());
    assert!(!conn.copy(k("a"), k("copy"), false).await.unwrap());
    assert!(!conn.copy(k("missing"), k("copy"), true).await.unwrap());
    assert!(conn.copy(k("a"), k("copy"), true).await.unwrap());
    assert_eq!(conn.get::<i64>(k("copy")).await.unwrap(), Some(1));

    assert_eq!(conn.unlink([k("copy"), k("missing")]).await.unwrap(), 1);
    assert_eq!(
        conn.del([k("a"), k("renamed"), k("h"), k("missing")])
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn hashes() {
    let redis = Redis::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let conn = redis.connect_with(protocol).await;
        let h = key("hashes", format!("{protocol:?}"));
        conn.del(&h).await.unwrap();

        assert!(conn.hset(&h, "name", "Ada").await.unwrap());
        assert!(!conn.hset(&h, "name", "Ada L.").await.unwrap());
        assert_eq!(
            conn.hset_multiple(&h, [("visits", "3"), ("lang", "en"), ("name", "Ada")])
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            conn.hget::<String>(&h, "name").await.unwrap().as_deref(),
            Some("Ada")
        );
        assert_eq!(conn.hget::<i64>(&h, "visits").await.unwrap(), Some(3));
        assert_eq!(conn.hget::<String>(&h, "missing").await.unwrap(), None);
        assert_eq!(
            conn.hget::<String>(key("hashes", "missing"), "name")
                .await
                .unwrap(),
            None
        );

        let all: HashMap<String, String> = conn.hgetall(&h).await.unwrap();
        let want: HashMap<String, String> = [("name", "Ada"), ("visits", "3"), ("lang", "en")]
            .map(|(f, v)| (f.into(), v.into()))
            .into();
        assert_eq!(all, want);
        let none: HashMap<String, String> = conn.hgetall(key("hashes", "missing")).await.unwrap();
        assert!(none.is_empty());

        assert_eq!(conn.hincr_by(&h, "visits", 4).await.unwrap(), 7);
        assert_eq!(conn.hincr_by(&h, "new", -1).await.unwrap(), -1);
        assert!(conn.hexists(&h, "new").await.unwrap());
        assert!(!conn.hexists(&h, "missing").await.unwrap());
        assert_eq!(conn.hdel(&h, ["new", "missing"]).await.unwrap(), 1);
        assert_eq!(conn.hlen(&h).await.unwrap(), 3);

        let mut fields: Vec<String> = conn.hkeys(&h).await.unwrap();
        fields.sort();
        assert_eq!(fields, ["lang", "name", "visits"]);
        let mut values: Vec<String> = conn.hvals(&h).await.unwrap();
        values.sort();
        assert_eq!(values, ["7", "Ada", "en"]);
        let picked: Vec<Option<String>> =
            conn.hmget(&h, ["lang", "missing", "name"]).await.unwrap();
        assert_eq!(picked, [Some("en".into()), None, Some("Ada".into())]);
    }
}

#[tokio::test]
async fn lists() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let k = |name: &str| key("lists", name);
    conn.del([k("l"), k("src"), k("dst"), k("empty")])
        .await
        .unwrap();

    assert_eq!(conn.rpush(k("l"), ["b", "c"]).await.unwrap(), 2);
    assert_eq!(conn.lpush(k("l"), "a").await.unwrap(), 3);
    assert_eq!(conn.rpush(k("l"), ["x", "d", "x"]).await.unwrap(), 6);
    assert_eq!(
        conn.lrange::<String>(k("l"), 0, -1).await.unwrap(),
        ["a", "b", "c", "x", "d", "x"]
    );
    assert_eq!(conn.llen(k("l")).await.unwrap(), 6);
    assert_eq!(conn.lrem(k("l"), 0, "x").await.unwrap(), 2);
    assert_eq!(
        conn.lindex::<String>(k("l"), -1).await.unwrap().as_deref(),
        Some("d")
    );
    assert_eq!(conn.lindex::<String>(k("l"), 10).await.unwrap(), None);
    conn.ltrim(k("l"), 0, 2).await.unwrap();
    assert_eq!(
        conn.lrange::<String>(k("l"), 0, -1).await.unwrap(),
        ["a", "b", "c"]
    );
    assert_eq!(
        conn.lrange::<String>(k("missing"), 0, -1).await.unwrap(),
        Vec::<String>::new()
    );

    assert_eq!(
        conn.lpop::<String>(k("l")).await.unwrap().as_deref(),
        Some("a")
    );
    assert_eq!(
        conn.rpop::<String>(k("l")).await.unwrap().as_deref(),
        Some("c")
    );
    assert_eq!(conn.lpop::<String>(k("missing")).await.unwrap(), None);
    assert_eq!(conn.rpop::<String>(k("missing")).await.unwrap(), None);
    conn.rpush(k("l"), ["c", "d", "e"]).await.unwrap();
    assert_eq!(
        conn.lpop_count::<String>(k("l"), 2).await.unwrap(),
        ["b", "c"]
    );
    assert_eq!(
        conn.rpop_count::<String>(k("l"), 5).await.unwrap(),
        ["e", "d"]
    );
    assert_eq!(
        conn.lpop_count::<String>(k("missing"), 2).await.unwrap(),
        Vec::<String>::new()
    );

    // Blocking pops: at once when there is an element, None on timeout.
    conn.rpush(k("l"), [1, 2]).await.unwrap();
    let popped: Option<(String, i64)> = conn.blpop([k("empty"), k("l")], 1.0).await.unwrap();
    assert_eq!(popped, Some((k("l"), 1)));
    let popped: Option<(String, i64)> = conn.brpop(k("l"), 1.0).await.unwrap();
    assert_eq!(popped, Some((k("l"), 2)));
    let popped: Option<(String, i64)> = conn.blpop(k("empty"), 0.05).await.unwrap();
    assert_eq!(popped, None);

    conn.rpush(k("src"), ["1", "2"]).await.unwrap();
    let moved: Option<String> = conn
        .blmove(k("src"), k("dst"), Direction::Right, Direction::Left, 1.0)
        .await
        .unwrap();
    assert_eq!(moved.as_deref(), Some("2"));
    let moved: Option<String> = conn
        .blmove(k("src"), k("dst"), Direction::Left, Direction::Left, 1.0)
        .await
        .unwrap();
    assert_eq!(moved.as_deref(), Some("1"));
    assert_eq!(
        conn.lrange::<String>(k("dst"), 0, -1).await.unwrap(),
        ["1", "2"]
    );
    let moved: Option<String> = conn
        .blmove(k("src"), k("dst"), Direction::Left, Direction::Left, 0.05)
        .await
        .unwrap();
    assert_eq!(moved, None);

    // A pop waiting on an empty list gets what another connection pushes
    // (or finds it there, if the push reaches the server first).
    let other = redis.connect().await;
    let waiting = conn.blpop::<String, String>(k("empty"), 10.0);
    assert_eq!(other.rpush(k("empty"), "late").await.unwrap(), 1);
    assert_eq!(
        waiting.await.unwrap(),
        Some((k("empty"), "late".to_string()))
    );
}

#[tokio::test]
async fn sets() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let k = |name: &str| key("sets", name);
    conn.del([k("a"), k("b")]).await.unwrap();
    let set = |items: &[&str]| {
        items
            .iter()
            .map(|s| s.to_string())
            .collect::<HashSet<String>>()
    };

    assert_eq!(conn.sadd(k("a"), ["x", "y", "z", "x"]).await.unwrap(), 3);
    assert_eq!(conn.sadd(k("b"), ["y", "z", "w"]).await.unwrap(), 3);
    assert_eq!(conn.srem(k("b"), ["w", "missing"]).await.unwrap(), 1);
    assert_eq!(
        conn.smembers::<String>(k("a")).await.unwrap(),
        set(&["x", "y", "z"])
    );
    assert!(conn
        .smembers::<String>(k("missing"))
        .await
        .unwrap()
        .is_empty());
    assert!(conn.sismember(k("a"), "x").await.unwrap());
    assert!(!conn.sismember(k("a"), "w").await.unwrap());
    assert_eq!(conn.scard(k("a")).await.unwrap(), 3);
    assert_eq!(
        conn.sinter::<String>([k("a"), k("b")]).await.unwrap(),
        set(&["y", "z"])
    );
    assert_eq!(
        conn.sunion::<String>([k("a"), k("b"), k("missing")])
            .await
            .unwrap(),
        set(&["x", "y", "z"])
    );

    let popped = conn.spop::<String>(k("b")).await.unwrap().unwrap();
    assert!(popped == "y" || popped == "z", "{popped}");
    conn.spop::<String>(k("b")).await.unwrap().unwrap();
    assert_eq!(conn.spop::<String>(k("b")).await.unwrap(), None);
}

#[tokio::test]
async fn sorted_sets() {
    let redis = Redis::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let conn = redis.connect_with(protocol).await;
        let k = |name: &str| key("sorted_sets", format!("{protocol:?}:{name}"));
        conn.del([k("z"), k("empty")]).await.unwrap();

        assert!(conn.zadd(k("z"), "a", 1.0).await.unwrap());
        assert!(!conn.zadd(k("z"), "a", 1.5).await.unwrap());
        assert_eq!(
            conn.zadd_multiple(k("z"), &[("b", 2.0), ("c", 3.0), ("a", 1.5), ("d", 4.0)])
                .await
                .unwrap(),
            3
        );
        assert_eq!(conn.zscore(k("z"), "a").await.unwrap(), Some(1.5));
        assert_eq!(conn.zscore(k("z"), "missing").await.unwrap(), None);
        assert_eq!(conn.zincr_by(k("z"), "d", 0.5).await.unwrap(), 4.5);
        assert_eq!(conn.zrem(k("z"), ["d", "missing"]).await.unwrap(), 1);
        assert_eq!(conn.zcard(k("z")).await.unwrap(), 3);
        assert_eq!(conn.zrank(k("z"), "c").await.unwrap(), Some(2));
        assert_eq!(conn.zrank(k("z"), "missing").await.unwrap(), None);
        assert_eq!(conn.zcount(k("z"), "(1.5", "+inf").await.unwrap(), 2);
        assert_eq!(conn.zcount(k("z"), 0, 2).await.unwrap(), 2);

        assert_eq!(
            conn.zrange::<String>(k("z"), 0, -1).await.unwrap(),
            ["a", "b", "c"]
        );
        assert_eq!(
            conn.zrangebyscore::<String>(k("z"), "(1.5", 3.0)
                .await
                .unwrap(),
            ["b", "c"]
        );
        // RESP2 answers WITHSCORES with a flat array, RESP3 with pairs: both
        // convert into the same pairs.
        let raw: Vec<Value> = conn
            .send(cmd!("ZRANGE", k("z"), 0, -1, "WITHSCORES"))
            .await
            .unwrap();
        let nested = matches!(raw[0], Value::Array(_));
        assert_eq!(nested, protocol == Protocol::Resp3, "{raw:?}");
        let scored: Vec<(String, f64)> = conn.zrange_with_scores(k("z"), 0, -1).await.unwrap();
        assert_eq!(
            scored,
            [("a".into(), 1.5), ("b".into(), 2.0), ("c".into(), 3.0)]
        );
        let scored: Vec<(String, f64)> =
            conn.zrange_with_scores(k("missing"), 0, -1).await.unwrap();
        assert!(scored.is_empty());

        conn.zadd_multiple(k("z"), &[("d", 4.0), ("e", 5.0)])
            .await
            .unwrap();
        assert_eq!(
            conn.zpopmin::<String>(k("z"), 1).await.unwrap(),
            [("a".to_string(), 1.5)]
        );
        let top: Vec<(String, f64)> = conn.zpopmax(k("z"), 2).await.unwrap();
        assert_eq!(top, [("e".into(), 5.0), ("d".into(), 4.0)]);
        assert!(conn
            .zpopmin::<String>(k("missing"), 1)
            .await
            .unwrap()
            .is_empty());

        let popped: Option<(String, String, f64)> =
            conn.bzpopmin([k("empty"), k("z")], 1.0).await.unwrap();
        assert_eq!(popped, Some((k("z"), "b".into(), 2.0)));
        let popped: Option<(String, String, f64)> = conn.bzpopmax(k("z"), 1.0).await.unwrap();
        assert_eq!(popped, Some((k("z"), "c".into(), 3.0)));
        let popped: Option<(String, String, f64)> = conn.bzpopmin(k("empty"), 0.05).await.unwrap();
        assert_eq!(popped, None);
    }
}

#[tokio::test]
async fn server_and_errors() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let k = |name: &str| key("server", name);

    assert_eq!(conn.ping().await.unwrap(), "PONG");
    assert_eq!(
        conn.publish(k("channel"), "nobody listens").await.unwrap(),
        0
    );
    assert!(conn.info().await.unwrap().contains("redis_version:"));
    let server = conn.info_sections("server").await.unwrap();
    assert!(
        server.contains("# Server") && !server.contains("# Keyspace"),
        "{server}"
    );

    // Errors keep their kind: a server error with its code, a reply that
    // does not fit the type asked for.
    conn.rpush(k("list"), "x").await.unwrap();
    let err = conn.get::<String>(k("list")).await.unwrap_err();
    assert_eq!(err.server_code(), Some("WRONGTYPE"), "{err}");
    conn.set(k("text"), "abc").await.unwrap();
    let err = conn.get::<i64>(k("text")).await.unwrap_err();
    assert!(
        matches!(err, Error::Conversion { target: "i64", .. }),
        "{err:?}"
    );
    conn.del([k("list"), k("text")]).await.unwrap();

    // The typed commands work on an exclusive connection too.
    let exclusive = ExclusiveConnection::connect(&redis.config(Protocol::Resp3))
        .await
        .unwrap();
    assert_eq!(exclusive.ping().await.unwrap(), "PONG");
    assert_eq!(exclusive.incr(k("n")).await.unwrap(), 1);
    assert_eq!(exclusive.del(k("n")).await.unwrap(), 1);

    // A database of its own, so that FLUSHDB touches no other test's keys.
    let config = redis.config(Protocol::Resp3).with_db(9);
    let db9 = PairedConnection::connect(&config).await.unwrap();
    db9.flushdb().await.unwrap();
    assert_eq!(db9.dbsize().await.unwrap(), 0);
    db9.mset([("a", 1), ("b", 2)]).await.unwrap();
    assert_eq!(db9.dbsize().await.unwrap(), 2);
    db9.flushdb().await.unwrap();
    assert_eq!(db9.dbsize().await.unwrap(), 0);
}

/// More elements than one page holds, and than any default limit of the
/// compact encodings (`*-max-listpack-entries`, `set-max-intset-entries`:
/// 512 at most), whose collections the server returns in one page.
const SCANNED: usize = 1000;
const PAGE: usize = 50;

/// Every element of a scan, and how many pages it took.
async fn scan_all<T: resp::FromValue>(
    conn: &PairedConnection,
    scan: redis_paired::Scan<PairedConnection>,
) -> (Vec<T>, u64) {
    let before = conn.stats().commands;
    let all = scan.count(PAGE).into_stream().try_collect().await.unwrap();
    (all, conn.stats().commands - before)
}

#[tokio::test]
async fn scan_returns_every_key_once_page_by_page() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let names: Vec<String> = (0..SCANNED).map(|i| key("scan", i)).collect();
    conn.del(&names).await.unwrap();
    let pairs: Vec<(&String, usize)> = names.iter().zip(0..).collect();
    conn.mset(&pairs).await.unwrap();
    let hashes: Vec<String> = (0..3).map(|i| key("scan", format!("hash{i}"))).collect();
    for h in &hashes {
        conn.hset(h, "f", "v").await.unwrap();
    }

    // Nothing is sent before the first poll, one page then, and the next
    // only when the page is used up.
    let before = conn.stats().commands;
    let pattern = key("scan", "*");
    let mut stream = conn
        .scan()
        .match_pattern(&pattern)
        .count(PAGE)
        .into_stream::<String>();
    assert_eq!(conn.stats().commands, before);
    let mut found = vec![stream.try_next().await.unwrap().unwrap()];
    let sent = conn.stats().commands;
    assert!(sent > before);
    let (left, _) = stream.size_hint();
    for _ in 0..left {
        found.push(stream.try_next().await.unwrap().unwrap());
    }
    assert_eq!(
        conn.stats().commands,
        sent,
        "nothing more until the page is used up"
    );
    while let Some(name) = stream.try_next().await.unwrap() {
        found.push(name);
    }
    let pages = conn.stats().commands - before;
    assert!(pages >= (SCANNED / PAGE / 2) as u64, "{pages} pages");

    let mut want = names.clone();
    want.extend(hashes.iter().cloned());
    want.sort();
    found.sort();
    assert_eq!(found, want, "each key exactly once");

    // TYPE narrows the keys to one kind of value.
    let mut found: Vec<String> = conn
        .scan()
        .match_pattern(&pattern)
        .count(PAGE)
        .key_type("hash")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    found.sort();
    assert_eq!(found, hashes);

    conn.del(&names).await.unwrap();
    conn.del(&hashes).await.unwrap();
}

#[tokio::test]
async fn hscan_sscan_zscan_return_every_element_once() {
    let redis = Redis::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let conn = redis.connect_with(protocol).await;
        let k = |name: &str| key("collection_scans", format!("{protocol:?}:{name}"));
        conn.del([k("h"), k("s"), k("z")]).await.unwrap();
        // Not integers, or the set would be an intset.
        let members: Vec<String> = (0..SCANNED).map(|i| format!("m{i}")).collect();
        let fields: Vec<(&String, usize)> = members.iter().zip(0..).collect();
        let scored: Vec<(&String, f64)> = members
            .iter()
            .zip(0..)
            .map(|(m, i)| (m, i as f64 / 2.0))
            .collect();
        conn.hset_multiple(k("h"), &fields).await.unwrap();
        conn.sadd(k("s"), &members).await.unwrap();
        conn.zadd_multiple(k("z"), &scored).await.unwrap();
        let few = (SCANNED / PAGE / 2) as u64;

        let (mut found, pages): (Vec<(String, usize)>, _) =
            scan_all(&conn, conn.hscan(k("h"))).await;
        assert!(pages >= few, "{pages} pages");
        found.sort();
        let mut want: Vec<(String, usize)> =
            fields.iter().map(|(m, i)| (m.to_string(), *i)).collect();
        want.sort();
        assert_eq!(found, want, "each field once");

        let (mut found, pages): (Vec<String>, _) = scan_all(&conn, conn.sscan(k("s"))).await;
        assert!(pages >= few, "{pages} pages");
        found.sort();
        let mut want = members.clone();
        want.sort();
        assert_eq!(found, want, "each member once");

        let (mut found, pages): (Vec<(String, f64)>, _) = scan_all(&conn, conn.zscan(k("z"))).await;
        assert!(pages >= few, "{pages} pages");
        found.sort_by(|a, b| a.1.total_cmp(&b.1));
        let want: Vec<(String, f64)> = scored.iter().map(|(m, s)| (m.to_string(), *s)).collect();
        assert_eq!(found, want, "each member once, with its score");

        // MATCH filters the elements; the pages still cover the collection.
        let mut found: Vec<String> = conn
            .sscan(k("s"))
            .match_pattern("m1?")
            .count(PAGE)
            .into_stream()
            .try_collect()
            .await
            .unwrap();
        found.sort();
        let want: Vec<String> = (10..20).map(|i| format!("m{i}")).collect();
        assert_eq!(found, want);

        conn.del([k("h"), k("s"), k("z")]).await.unwrap();
    }
}

#[tokio::test]
async fn scan_errors_end_the_stream() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let s = key("scan_errors", "s");
    conn.set(&s, "not a hash").await.unwrap();
    let mut stream = conn.hscan(&s).into_stream::<(String, String)>();
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.server_code(), Some("WRONGTYPE"), "{err}");
    assert!(stream.next().await.is_none());
    // A missing key is an empty collection.
    let none: Vec<String> = conn
        .sscan(key("scan_errors", "missing"))
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());
    conn.del(&s).await.unwrap();
}

#[tokio::test]
async fn scripts_survive_a_flushed_cache() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let k = key("scripts", "counter");
    conn.del(&k).await.unwrap();
    // A source no other test uses, so that the first call cannot find it cached.
    let script =
        Script::new("-- commands:scripts\nreturn redis.call('INCRBY', KEYS[1], ARGV[1]) * ARGV[2]");
    let cached = |conn: PairedConnection, hash: String| async move {
        let exists: Vec<bool> = conn.send(cmd!("SCRIPT", "EXISTS", hash)).await.unwrap();
        exists[0]
    };

    // Not cached: EVALSHA fails with NOSCRIPT, and EVAL runs and caches it.
    conn.send::<()>(cmd!("SCRIPT", "FLUSH")).await.unwrap();
    let before = conn.stats().commands;
    let n: i64 = script.invoke(&conn, &k, (5, 10)).await.unwrap();
    assert_eq!(n, 50);
    assert_eq!(conn.stats().commands - before, 2, "EVALSHA, then EVAL");
    assert!(cached(conn.clone(), script.hash().to_string()).await);

    // Cached: one EVALSHA.
    let before = conn.stats().commands;
    let n: i64 = script.invoke(&conn, [&k], [1, 1]).await.unwrap();
    assert_eq!(n, 6);
    assert_eq!(conn.stats().commands - before, 1, "EVALSHA only");

    // Flushed again, and loaded ahead of time.
    conn.send::<()>(cmd!("SCRIPT", "FLUSH")).await.unwrap();
    assert_eq!(script.load(&conn).await.unwrap(), script.hash());
    let before = conn.stats().commands;
    assert_eq!(
        script.invoke::<i64, _>(&conn, &k, (1, 2)).await.unwrap(),
        14
    );
    assert_eq!(conn.stats().commands - before, 1, "EVALSHA only");

    // An error raised by the script itself is not retried.
    conn.set(&k, "text").await.unwrap();
    let before = conn.stats().commands;
    let err = script
        .invoke::<i64, _>(&conn, &k, (1, 2))
        .await
        .unwrap_err();
    assert!(err.server_code().is_some(), "{err:?}");
    assert_ne!(err.server_code(), Some("NOSCRIPT"));
    assert_eq!(conn.stats().commands - before, 1);

    // No keys, several return values, and an exclusive connection.
    let exclusive = ExclusiveConnection::connect(&redis.config(Protocol::Resp3))
        .await
        .unwrap();
    let echo = Script::new("return {ARGV[1], ARGV[2]}");
    let pair: (String, i64) = echo
        .invoke(&exclusive, &[] as &[&str], ("x", 7))
        .await
        .unwrap();
    assert_eq!(pair, ("x".to_string(), 7));
    conn.del(&k).await.unwrap();
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn streams_on_both_protocols() {
    use std::time::Duration;
    let redis = Redis::new();
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let conn = redis.connect_with(protocol).await;
        let k = |name: &str| key("streams", format!("{protocol:?}:{name}"));
        conn.del([k("s"), k("t")]).await.unwrap();

        let first = conn
            .xadd(k("s"), [("temp", "21"), ("unit", "C")])
            .await
            .unwrap();
        let second = conn.xadd(k("s"), ("temp", 22)).await.unwrap();
        assert!(
            first < second || first.len() < second.len(),
            "{first} {second}"
        );
        assert_eq!(conn.xlen(k("s")).await.unwrap(), 2);
        let all = conn.xrange(k("s"), "-", "+", None).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, first);
        assert_eq!(all[0].get("unit").map(|v| &v[..]), Some(&b"C"[..]));
        assert_eq!(
            conn.xrevrange(k("s"), "+", "-", Some(1)).await.unwrap()[0].id,
            second
        );

        // XREAD: the entries after an ID, per stream; nothing new is empty.
        conn.xadd(k("t"), ("x", 1)).await.unwrap();
        let read = conn
            .xread(&[(&k("s"), "0"), (&k("t"), "0")], Some(10), None)
            .await
            .unwrap();
        assert_eq!(read.get(&k("s")).unwrap().len(), 2);
        assert_eq!(read.get(&k("t")).unwrap().len(), 1);
        assert_eq!(read.entries().count(), 3);
        let nothing = conn
            .xread(&[(&k("s"), &second)], None, Some(Duration::from_millis(50)))
            .await
            .unwrap();
        assert!(nothing.0.is_empty());

        // A consumer group: read, pending, claim, acknowledge.
        conn.xgroup_create(k("s"), "g", "0", false).await.unwrap();
        let got = conn
            .xreadgroup("g", "alice", &[(&k("s"), ">")], Some(10), None, false)
            .await
            .unwrap();
        assert_eq!(got.entries().count(), 2);
        let pending = conn.xpending(k("s"), "g").await.unwrap();
        assert_eq!(pending.count, 2);
        assert_eq!(pending.first.as_deref(), Some(first.as_str()));
        assert_eq!(pending.consumers, vec![("alice".to_string(), 2)]);
        let entries = conn
            .xpending_range(k("s"), "g", "-", "+", 10)
            .await
            .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].consumer.as_str(), entries[0].deliveries),
            ("alice", 1)
        );
        let claimed = conn
            .xclaim(k("s"), "g", "bob", Duration::ZERO, &first)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].id, first);
        let auto = conn
            .xautoclaim(k("s"), "g", "carol", Duration::ZERO, "0-0", 10)
            .await
            .unwrap();
        assert_eq!(auto.entries.len(), 2);
        assert_eq!(auto.next, "0-0");
        assert_eq!(conn.xack(k("s"), "g", [&first, &second]).await.unwrap(), 2);
        assert_eq!(conn.xpending(k("s"), "g").await.unwrap().count, 0);

        // A blocking group read waits on a connection of its own, and sees
        // a new entry.
        let waiting = conn.xreadgroup(
            "g",
            "alice",
            &[(&k("s"), ">")],
            None,
            Some(Duration::from_secs(5)),
            true,
        );
        let third = conn.xadd(k("s"), ("temp", 23)).await.unwrap();
        let got = waiting.await.unwrap();
        assert_eq!(got.get(&k("s")).unwrap()[0].id, third);

        assert_eq!(conn.xdel(k("s"), &first).await.unwrap(), 1);
        assert_eq!(conn.xtrim(k("s"), 1, false).await.unwrap(), 1);
        assert_eq!(conn.xlen(k("s")).await.unwrap(), 1);
        conn.xadd_capped(k("s"), 1000, ("temp", 24)).await.unwrap();
        // A group on a missing stream needs MKSTREAM.
        let err = conn
            .xgroup_create(k("none"), "g", "$", false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("MKSTREAM"), "{err}");
        conn.xgroup_create(k("none"), "g", "$", true).await.unwrap();
        conn.del(k("none")).await.unwrap();
    }
}

#[tokio::test]
async fn geo_on_both_protocols() {
    use redis_paired::{GeoPosition, GeoUnit};
    let redis = Redis::new();
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let conn = redis.connect_with(protocol).await;
        let k = key("geo", format!("{protocol:?}"));
        conn.del(&k).await.unwrap();
        let added = conn
            .geoadd(
                &k,
                &[
                    (13.361389, 38.115556, "Palermo"),
                    (15.087269, 37.502669, "Catania"),
                ],
            )
            .await
            .unwrap();
        assert_eq!(added, 2);
        let positions = conn.geopos(&k, ["Palermo", "Nowhere"]).await.unwrap();
        let palermo = positions[0].expect("Palermo is there");
        assert!((palermo.longitude - 13.361389).abs() < 1e-4, "{palermo:?}");
        assert!((palermo.latitude - 38.115556).abs() < 1e-4, "{palermo:?}");
        assert_eq!(positions[1], None);
        let km = conn
            .geodist(&k, "Palermo", "Catania", GeoUnit::Kilometers)
            .await
            .unwrap()
            .unwrap();
        assert!((km - 166.2742).abs() < 0.01, "{km}");
        assert_eq!(
            conn.geodist(&k, "Palermo", "Nowhere", GeoUnit::Meters)
                .await
                .unwrap(),
            None
        );
        let centre = GeoPosition {
            longitude: 15.0,
            latitude: 37.0,
        };
        let found = conn
            .geosearch_radius(&k, centre, 200.0, GeoUnit::Kilometers, Some(10))
            .await
            .unwrap();
        let names: Vec<&str> = found.iter().map(|m| m.member.as_str()).collect();
        assert_eq!(names, ["Catania", "Palermo"], "nearest first");
        assert!((found[0].distance - 56.4413).abs() < 0.01, "{found:?}");
        assert!((found[0].position.longitude - 15.087269).abs() < 1e-4);
    }
}

#[tokio::test]
async fn generated_commands_with_their_options_on_both_protocols() {
    use redis_paired::args::{BeforeAfter, IndexUnit, LposOptions, SortOptions, ZinterOptions};

    let redis = Redis::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let conn = redis.connect_with(protocol).await;
        let k = |name: &str| key("generated", format!("{protocol:?}:{name}"));
        conn.del([k("bits"), k("list"), k("a"), k("b"), k("nums"), k("lex")])
            .await
            .unwrap();

        // Bitmaps: the optional range and its unit.
        conn.set(k("bits"), "foobar").await.unwrap();
        assert_eq!(conn.bitcount(k("bits")).await.unwrap(), 26);
        let first_byte = redis_paired::args::BitcountOptions::new().index(1, 1, None);
        assert_eq!(conn.bitcount_with(k("bits"), first_byte).await.unwrap(), 6);
        let bits = redis_paired::args::BitcountOptions::new().index(5, 30, Some(IndexUnit::Bit));
        assert_eq!(conn.bitcount_with(k("bits"), bits).await.unwrap(), 17);

        // Lists: a choice between words as an enum, options as a builder.
        conn.rpush(k("list"), ["a", "c", "a"]).await.unwrap();
        assert_eq!(
            conn.linsert(k("list"), BeforeAfter::After, "a", "b")
                .await
                .unwrap(),
            4
        );
        let all: Vec<i64> = conn
            .lpos_with(k("list"), "a", LposOptions::new().count(0))
            .await
            .unwrap();
        assert_eq!(all, [0, 3]);
        let none: Option<i64> = conn.lpos(k("list"), "zzz").await.unwrap();
        assert_eq!(none, None);

        // SORT with several options, in the order the server wants them
        // whatever the order they were given in.
        conn.rpush(k("nums"), [3, 1, 2]).await.unwrap();
        let sorted: Vec<i64> = conn
            .sort_with(k("nums"), SortOptions::new().desc().limit(0, 2))
            .await
            .unwrap();
        assert_eq!(sorted, [3, 2]);

        // numkeys is counted from the keys given.
        conn.zadd_multiple(k("a"), &[("x", 1.0), ("y", 2.0)])
            .await
            .unwrap();
        conn.zadd_multiple(k("b"), &[("y", 10.0), ("z", 20.0)])
            .await
            .unwrap();
        let inter: Vec<(String, f64)> = conn
            .zinter_with(
                [k("a"), k("b")],
                ZinterOptions::new().weights([2, 1]).max().withscores(),
            )
            .await
            .unwrap();
        assert_eq!(inter, [("y".to_string(), 10.0)]);
        assert_eq!(conn.zintercard([k("a"), k("b")]).await.unwrap(), 1);
        assert_eq!(
            conn.zmscore(k("a"), ["x", "missing"]).await.unwrap(),
            [Some(1.0), None]
        );
        conn.zadd_multiple(k("lex"), &[("a", 0.0), ("b", 0.0), ("c", 0.0)])
            .await
            .unwrap();
        let lex: Vec<String> = conn.zrangebylex(k("lex"), "[b", "+").await.unwrap();
        assert_eq!(lex, ["b", "c"]);

        // HyperLogLog, with the optional elements.
        let hll = k("hll");
        conn.del(&hll).await.unwrap();
        let elements = redis_paired::args::PfaddOptions::new().element(["a", "b", "c"]);
        assert!(conn.pfadd_with(&hll, elements).await.unwrap());
        assert_eq!(conn.pfcount(&hll).await.unwrap(), 3);
        assert_eq!(
            conn.object_encoding(k("bits")).await.unwrap().as_deref(),
            Some("embstr")
        );
    }
}

#[tokio::test]
async fn typed_commands_build_pipelines_and_transactions() {
    let redis = Redis::new();
    let conn = redis.connect().await;
    let k = |name: &str| key("typed_pipelines", name);
    conn.del([k("a"), k("b"), k("c"), k("n"), k("h")])
        .await
        .unwrap();

    let (set, n, missing, c): ((), i64, Option<String>, Option<String>) = conn
        .pipeline()
        .set(k("a"), 1)
        .incr(k("b"))
        .get::<String>(k("missing"))
        .getset::<String>(k("c"), "new")
        .query()
        .await
        .unwrap();
    assert_eq!((set, n, missing, c), ((), 1, None, None));

    // The typed methods record their reply types: nothing to name.
    let ((), n, c) = conn
        .pipeline()
        .set(k("a"), 2)
        .incr(k("b"))
        .get::<String>(k("c"))
        .query()
        .await
        .unwrap();
    assert_eq!((n, c.as_deref()), (2, Some("new")));

    let (n, len, c): (i64, i64, Option<String>) = conn
        .transaction()
        .incr_by(k("n"), 5)
        .strlen(k("c"))
        .getdel::<String>(k("c"))
        .query()
        .await
        .unwrap();
    assert_eq!((n, len, c.as_deref()), (5, 3, Some("new")));

    // One command's error, read in its place.
    let (n, not_a_number, text): (i64, Result<i64, resp::ServerError>, Option<String>) = conn
        .pipeline()
        .incr(k("n"))
        .set(k("a"), "text")
        .incr(k("a"))
        .get::<String>(k("a"))
        .query_as::<(i64, (), Result<i64, resp::ServerError>, Option<String>)>()
        .await
        .map(|(n, (), e, t)| (n, e, t))
        .unwrap();
    assert_eq!(n, 6);
    assert_eq!(not_a_number.unwrap_err().code(), "ERR");
    assert_eq!(text.as_deref(), Some("text"));
    conn.set(k("n"), 5).await.unwrap();

    // Through `&mut`, a pipeline takes them in a loop; each reply reads
    // alone.
    let mut pipeline = conn.pipeline();
    let batch = &mut pipeline;
    for i in 0..3 {
        batch.incr_by(k("n"), i);
    }
    batch.hsetnx(k("h"), "f", "v");
    let replies = pipeline.query_each().await.unwrap();
    let values: Vec<Value> = replies.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        values,
        [
            Value::Integer(5),
            Value::Integer(6),
            Value::Integer(8),
            Value::Integer(1)
        ]
    );

    // A typed pipeline given a command in place no longer knows its
    // replies' types: refused before anything is sent.
    let mut pipeline = conn.pipeline().incr(k("n"));
    (&mut pipeline).incr(k("n"));
    let refused = pipeline.query().await.map(|(n,): (i64,)| n);
    assert!(
        matches!(refused, Err(Error::Conversion { .. })),
        "{refused:?}"
    );
    assert_eq!(conn.get::<i64>(k("n")).await.unwrap(), Some(8));
}

#[tokio::test]
async fn xinfo_replies_read_as_types_on_both_protocols() {
    let redis = Redis::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let conn = redis.connect_with(protocol).await;
        let s = key("xinfo", format!("{protocol:?}"));
        conn.del(&s).await.unwrap();

        let first = conn.xadd(&s, [("n", 1)]).await.unwrap();
        let last = conn.xadd(&s, [("n", 2)]).await.unwrap();
        conn.xgroup_create(&s, "workers", "0", false).await.unwrap();
        let read = conn
            .xreadgroup("workers", "alice", &[(&s, ">")], Some(1), None, false)
            .await
            .unwrap();
        assert_eq!(read.entries().count(), 1);

        let info = conn.xinfo_stream(&s).await.unwrap();
        assert_eq!((info.length, info.groups), (2, 1));
        assert_eq!(info.last_generated_id, last);
        assert_eq!(info.entries_added, Some(2));
        assert_eq!(info.first_entry.as_ref().map(|e| &e.id), Some(&first));
        assert_eq!(
            info.last_entry
                .as_ref()
                .and_then(|e| e.get("n"))
                .map(|v| &v[..]),
            Some(&b"2"[..])
        );

        let groups = conn.xinfo_groups(&s).await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(
            (
                groups[0].name.as_str(),
                groups[0].consumers,
                groups[0].pending
            ),
            ("workers", 1, 1)
        );
        assert_eq!(groups[0].last_delivered_id, first);
        assert_eq!(groups[0].lag, Some(1));

        let consumers = conn.xinfo_consumers(&s, "workers").await.unwrap();
        assert_eq!(consumers.len(), 1);
        assert_eq!(
            (consumers[0].name.as_str(), consumers[0].pending),
            ("alice", 1)
        );
    }
}
