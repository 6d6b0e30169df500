//! The OpenTelemetry metrics (the `otel` feature), read back through the
//! SDK's in-memory exporter after a workload that must move each one.
//! Live: the server `cargo xtask test` provides (`REDIS_URL`), or one
//! started here; the reconnect test starts, kills and restarts its own.
//!
//! The meter is the process's, shared by the tests of this file, which may
//! run at once: each reads the counters of its own server (by port) or
//! checks that a figure moved by at least what it did.
#![cfg(feature = "otel")]

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::Value as AttributeValue;
use redis_conn::{ConnectionConfig, Error};
use redis_paired::{Options, PairedConnection, Pool, PoolOptions};
use resp::cmd;
use xtask::telemetry::{Metrics, Point};
use xtask::{RedisServer, TestServer};

/// The provider every test of this process records to.
fn telemetry() -> &'static Metrics {
    static TELEMETRY: OnceLock<Metrics> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let metrics = Metrics::new();
        assert!(
            redis_conn::otel::set_meter(metrics.meter()).is_ok(),
            "no connection was opened before the meter was set"
        );
        metrics
    })
}

/// Exports now, and returns the points of the metric `name`.
fn points(name: &str) -> Vec<Point> {
    telemetry().points(name)
}

/// The sum of the points of `name` that have every attribute of `with`.
fn total(name: &str, with: &[(&str, AttributeValue)]) -> f64 {
    points(name)
        .iter()
        .filter(|p| with.iter().all(|(k, v)| p.has(k, v.clone())))
        .map(|p| p.value)
        .sum()
}

fn port(port: u16) -> (&'static str, AttributeValue) {
    ("server.port", AttributeValue::I64(i64::from(port)))
}

fn server() -> TestServer {
    TestServer::get().expect("redis-server starts")
}

fn config(server: &TestServer) -> ConnectionConfig {
    server.url().parse().unwrap()
}

fn port_of(config: &ConnectionConfig) -> u16 {
    match config.address() {
        redis_conn::Address::Tcp { port, .. } => *port,
        other => panic!("a TCP server, not {other}"),
    }
}

/// Polls `done` every 10 ms for up to 10 s.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn operation_durations_are_recorded_by_name_and_error() {
    telemetry();
    let server = server();
    let config = config(&server);
    let at = port(port_of(&config));
    let conn = PairedConnection::connect(&config).await.unwrap();
    let get = ("db.operation.name", AttributeValue::from("GET"));
    let lpush = ("db.operation.name", AttributeValue::from("LPUSH"));
    let wrongtype = ("error.type", AttributeValue::from("WRONGTYPE"));
    let gets_before = total("db.client.operation.duration", &[at.clone(), get.clone()]);
    let refused_before = total(
        "db.client.operation.duration",
        &[at.clone(), lpush.clone(), wrongtype.clone()],
    );
    let () = conn.send(cmd!("SET", "otel:s", "text")).await.unwrap();
    for _ in 0..10 {
        let _: Option<String> = conn.send(cmd!("GET", "otel:s")).await.unwrap();
    }
    for _ in 0..3 {
        let error = conn
            .send::<i64>(cmd!("LPUSH", "otel:s", "x"))
            .await
            .unwrap_err();
        assert_eq!(error.server_code(), Some("WRONGTYPE"));
    }
    let gets = total("db.client.operation.duration", &[at.clone(), get]);
    let refused = total(
        "db.client.operation.duration",
        &[at.clone(), lpush, wrongtype],
    );
    assert!(
        gets >= gets_before + 10.0,
        "{gets_before} GETs, then {gets}"
    );
    assert!(
        refused >= refused_before + 3.0,
        "{refused_before} then {refused}"
    );
    // The successful ones carry no error, and every point names the
    // server and the system.
    let points = points("db.client.operation.duration");
    assert!(points
        .iter()
        .filter(|p| p.has("db.operation.name", "GET") && p.has("server.port", at.1.clone()))
        .all(|p| p.lacks("error.type") && p.has("db.system.name", "redis")));
    // A batch is one operation.
    let pipelines_before = total(
        "db.client.operation.duration",
        &[at.clone(), ("db.operation.name", "PIPELINE".into())],
    );
    let _: (Option<String>, Option<String>) = conn
        .pipeline()
        .add(cmd!("GET", "otel:s"))
        .add(cmd!("GET", "otel:s"))
        .query()
        .await
        .unwrap();
    let pipelines = total(
        "db.client.operation.duration",
        &[at, ("db.operation.name", "PIPELINE".into())],
    );
    assert!(pipelines >= pipelines_before + 1.0);
}

#[tokio::test]
async fn connections_are_counted_while_open_and_their_creation_timed() {
    telemetry();
    // A server of this test's own, so that the counts are its alone.
    let server = RedisServer::start().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let at = port(server.port());
    let conn = PairedConnection::connect(&config).await.unwrap();
    let other = PairedConnection::connect(&config).await.unwrap();
    assert_eq!(
        total(
            "db.client.connection.create_time",
            std::slice::from_ref(&at)
        ),
        2.0
    );
    let used = ("db.client.connection.state", AttributeValue::from("used"));
    assert_eq!(
        total("db.client.connection.count", &[at.clone(), used.clone()]),
        2.0
    );

    // Requests held up by a paused server are pending until it answers.
    let () = other
        .send(cmd!("CLIENT", "PAUSE", 1000, "ALL"))
        .await
        .unwrap();
    let replies: Vec<_> = (0..20)
        .map(|_| conn.send::<Option<String>>(cmd!("GET", "otel:pending")))
        .collect();
    assert_eq!(
        total(
            "db.client.connection.pending_requests",
            std::slice::from_ref(&at)
        ),
        20.0
    );
    for reply in replies {
        reply.await.unwrap();
    }
    assert_eq!(
        total(
            "db.client.connection.pending_requests",
            std::slice::from_ref(&at)
        ),
        0.0
    );

    // Closed connections are no longer counted.
    conn.close().await;
    other.close().await;
    drop((conn, other));
    assert_eq!(total("db.client.connection.count", &[at, used]), 0.0);
}

#[tokio::test]
async fn timeouts_and_refusals_are_counted() {
    telemetry();
    let server = server();
    let config = config(&server);
    let at = port(port_of(&config));
    let options = Options::default()
        .with_response_timeout(Duration::from_millis(100))
        .with_max_pending(4);
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    let pauser = PairedConnection::connect(&config).await.unwrap();
    let timeout = ("error.type", AttributeValue::from("timeout"));
    let timeouts_before = total(
        "db.client.operation.duration",
        &[at.clone(), timeout.clone()],
    );
    let refused_before = total("redis.client.backpressure", std::slice::from_ref(&at));

    let () = pauser
        .send(cmd!("CLIENT", "PAUSE", 500, "ALL"))
        .await
        .unwrap();
    let replies: Vec<_> = (0..6)
        .map(|_| conn.send::<Option<String>>(cmd!("GET", "otel:timeout")))
        .collect();
    let mut refused = 0;
    let mut timed_out = 0;
    for reply in replies {
        match reply.await {
            Err(Error::Backpressure { .. }) => refused += 1,
            Err(e) if e.is_timeout() => timed_out += 1,
            other => panic!("a paused server answered {other:?}"),
        }
    }
    assert_eq!((refused, timed_out), (2, 4));
    let timeouts = total("db.client.operation.duration", &[at.clone(), timeout]);
    assert!(
        timeouts >= timeouts_before + 4.0,
        "{timeouts_before} then {timeouts}"
    );
    let refusals = total("redis.client.backpressure", &[at]);
    assert!(
        refusals >= refused_before + 2.0,
        "{refused_before} then {refusals}"
    );
}

#[tokio::test]
async fn reconnects_are_counted_and_kept_after_the_connection_closes() {
    telemetry();
    // A server of this test's own: it is killed and restarted.
    let mut server = RedisServer::start().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let at = port(server.port());
    let conn = PairedConnection::connect(&config).await.unwrap();
    assert_eq!(
        total("redis.client.reconnects", std::slice::from_ref(&at)),
        0.0
    );
    server.restart().expect("the server restarts");
    assert!(
        eventually(|| conn.stats().reconnects >= 1).await,
        "no reconnect"
    );
    let _: Option<String> = conn.send(cmd!("GET", "otel:back")).await.unwrap();
    assert_eq!(
        total("redis.client.reconnects", std::slice::from_ref(&at)),
        1.0
    );
    assert!(total("redis.client.commands", std::slice::from_ref(&at)) >= 1.0);
    // Counters are totals: they stay when the connection is gone.
    conn.close().await;
    drop(conn);
    assert_eq!(total("redis.client.reconnects", &[at]), 1.0);
}

#[tokio::test]
async fn blocking_connections_are_counted() {
    telemetry();
    let mut server = RedisServer::start().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let at = port(server.port());
    let conn = PairedConnection::connect(&config).await.unwrap();
    let popped: Option<(String, String)> =
        conn.send(cmd!("BLPOP", "otel:list", "0.05")).await.unwrap();
    assert_eq!(popped, None);
    assert_eq!(total("redis.client.blocking_connections", &[at]), 1.0);
    conn.close().await;
    server.kill();
}

#[tokio::test]
async fn a_pools_waits_uses_idle_connections_and_timeouts_are_measured() {
    telemetry();
    let server = server();
    let config = config(&server);
    let at = port(port_of(&config));
    let waited_before = total("db.client.connection.wait_time", std::slice::from_ref(&at));
    let used_before = total("db.client.connection.use_time", std::slice::from_ref(&at));
    let timeouts_before = total("db.client.connection.timeouts", std::slice::from_ref(&at));
    let options = PoolOptions::default()
        .with_max_size(1)
        .with_checkout_timeout(Duration::from_millis(50));
    let pool = Pool::new(&config, options);
    let lent = pool.get().await.unwrap();
    let error = pool.get().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    drop(lent);
    assert!(eventually(|| pool.stats().idle == 1).await, "not returned");
    let idle = ("db.client.connection.state", AttributeValue::from("idle"));
    assert!(total("db.client.connection.count", &[at.clone(), idle]) >= 1.0);
    assert!(
        total("db.client.connection.wait_time", std::slice::from_ref(&at)) >= waited_before + 2.0
    );
    assert!(total("db.client.connection.use_time", std::slice::from_ref(&at)) >= used_before + 1.0);
    assert!(
        total("db.client.connection.timeouts", std::slice::from_ref(&at)) >= timeouts_before + 1.0
    );
    assert!(total("redis.client.pool.waits", &[at]) >= 1.0);
}

#[tokio::test]
async fn the_caches_hits_misses_invalidations_and_bytes_are_exported() {
    telemetry();
    // A server of this test's own, so that its port names this cache only.
    let server = RedisServer::start().expect("redis-server starts");
    let config: ConnectionConfig = server.url().parse().unwrap();
    let at = port(server.port());
    let options = Options::new().with_cache(redis_paired::CacheOptions::new(1 << 20));
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    let writer = PairedConnection::connect(&config).await.unwrap();
    let _: () = writer.send(cmd!("SET", "otel:cached", "1")).await.unwrap();
    for _ in 0..3 {
        let value: Option<String> = conn.send(cmd!("GET", "otel:cached")).await.unwrap();
        assert_eq!(value.as_deref(), Some("1"));
    }
    let held = |name: &str| total(name, std::slice::from_ref(&at));
    assert_eq!(held("redis.client.cache.misses"), 1.0);
    assert_eq!(held("redis.client.cache.hits"), 2.0);
    assert!(held("redis.client.cache.bytes") > 0.0);
    // Another connection's write: the server's invalidation drops the entry.
    let _: () = writer.send(cmd!("SET", "otel:cached", "2")).await.unwrap();
    assert!(
        eventually(|| conn.stats().cache_invalidations >= 1).await,
        "no invalidation"
    );
    assert_eq!(held("redis.client.cache.invalidations"), 1.0);
    assert_eq!(held("redis.client.cache.bytes"), 0.0);
}
