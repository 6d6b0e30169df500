//! Live tests of blocking commands on a shared connection: each waits on a
//! connection of its own, so that no other caller waits behind it, and a
//! caller who leaves takes that connection with it.

use std::time::Duration;

use redis_conn::{ConnectionConfig, Error, Protocol};
use redis_paired::{ExclusiveConnection, Options, PairedConnection};
use resp::{cmd, Command, Value};
use tokio::time::{timeout, Instant};
use xtask::{RedisServer, TestServer};

/// How long a test waits for the server to show what it expects: far more
/// than it takes, since a loaded machine's timing is noisy.
const PATIENCE: Duration = Duration::from_secs(10);

/// The server under test: `REDIS_URL` when `cargo xtask test` set it, or
/// one started for this test alone (and stopped when the test ends).
struct Server(TestServer);

impl Server {
    fn get() -> Server {
        Server(TestServer::get().expect("redis-server starts"))
    }

    fn config(&self) -> ConnectionConfig {
        self.0.url().parse().unwrap()
    }

    /// A connection of the given name: it and its blocking connections show
    /// up under that name in `CLIENT LIST`.
    async fn named(&self, name: &str) -> PairedConnection {
        let config = self.config().with_client_name(name);
        PairedConnection::connect(&config).await.unwrap()
    }

    /// A connection that watches the others through `CLIENT LIST`.
    async fn observer(&self) -> PairedConnection {
        PairedConnection::connect(&self.config()).await.unwrap()
    }
}

type Popped = Option<(String, String)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_callers_stall_no_one() {
    let server = Server::get();
    let name = "blocking-stall";
    let conn = server.named(name).await;
    let observer = server.observer().await;
    let keys: Vec<String> = (0..8).map(|i| format!("blocking:stall:{i}")).collect();
    let _: i64 = conn.send(cmd!("DEL", &keys)).await.unwrap();
    let _: () = conn
        .send(cmd!("SET", "blocking:stall:get", "v"))
        .await
        .unwrap();

    // The first run warms up the runtime's threads and the server; the
    // second is the baseline.
    get_latencies(&conn).await;
    let before = p99(get_latencies(&conn).await);

    let blocked: Vec<_> = keys
        .iter()
        .map(|key| tokio::spawn(conn.send::<Popped>(cmd!("BLPOP", key, 0))))
        .collect();
    wait_for(&observer, "8 callers blocked in BLPOP", |clients| {
        blocked_in(clients, name) == 8
    })
    .await;
    let during = p99(get_latencies(&conn).await);
    println!("GET p99 before the block: {before:?}; during it: {during:?}");
    assert!(
        during <= before * 2 + Duration::from_millis(20),
        "GETs slowed down by blocked callers: p99 {during:?}, was {before:?}"
    );
    assert!(
        blocked.iter().all(|task| !task.is_finished()),
        "a BLPOP on an empty list returned"
    );

    for (i, key) in keys.iter().enumerate() {
        let _: i64 = conn
            .send(cmd!("RPUSH", key, format!("value:{i}")))
            .await
            .unwrap();
    }
    for (i, (task, key)) in blocked.into_iter().zip(&keys).enumerate() {
        let popped = timeout(PATIENCE, task)
            .await
            .expect("a blocked caller never got its value")
            .unwrap()
            .unwrap();
        assert_eq!(popped, Some((key.clone(), format!("value:{i}"))));
    }
    assert_eq!(conn.stats().blocking_connections, 8);
}

#[tokio::test]
async fn a_dropped_blocking_caller_frees_its_connection() {
    let server = Server::get();
    let name = "blocking-dropped";
    let key = "blocking:dropped";
    let conn = server.named(name).await;
    let observer = server.observer().await;
    let _: i64 = conn.send(cmd!("DEL", key)).await.unwrap();

    let caller = tokio::spawn({
        let conn = conn.clone();
        async move { conn.send::<Popped>(cmd!("BLPOP", key, 0)).await }
    });
    wait_for(&observer, "the caller blocked in BLPOP", |clients| {
        blocked_in(clients, name) == 1
    })
    .await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    // Only the shared connection is left: the one the caller blocked on is
    // closed, not merely idle.
    wait_for(&observer, "the blocking connection closed", |clients| {
        blocked_in(clients, name) == 0 && named(clients, name) == 1
    })
    .await;

    // Nobody waits on the list any more, so what is pushed stays there.
    let _: i64 = conn.send(cmd!("RPUSH", key, "kept")).await.unwrap();
    let len: i64 = conn.send(cmd!("LLEN", key)).await.unwrap();
    assert_eq!(len, 1, "something popped the value for a caller who left");
    let popped: Popped = conn.send(cmd!("BLPOP", key, 1)).await.unwrap();
    assert_eq!(popped, Some((key.into(), "kept".into())));

    // A caller whose own reply timeout passes leaves in the same way.
    let started = Instant::now();
    let err = conn
        .send_with_timeout::<Popped>(cmd!("BLPOP", key, 0), Some(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    wait_for(&observer, "the timed-out connection closed", |clients| {
        blocked_in(clients, name) == 0 && named(clients, name) == 1
    })
    .await;
    let _: i64 = conn.send(cmd!("RPUSH", key, "kept")).await.unwrap();
    let len: i64 = conn.send(cmd!("LLEN", key)).await.unwrap();
    assert_eq!(len, 1, "something popped the value for a caller timed out");
}

#[tokio::test]
async fn blocking_connections_are_bounded_and_reused() {
    const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
    let server = Server::get();
    let name = "blocking-bounded";
    let key = "blocking:bounded";
    let other = "blocking:bounded:other";
    let options = Options::default()
        .with_max_blocking_connections(2)
        .with_response_timeout(RESPONSE_TIMEOUT);
    let config = server.config().with_client_name(name);
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    let observer = server.observer().await;
    let _: i64 = conn.send(cmd!("DEL", key, other)).await.unwrap();

    let first = tokio::spawn(conn.send::<Popped>(cmd!("BLPOP", key, 0)));
    let second = tokio::spawn(conn.send::<Popped>(cmd!("BLPOP", key, 0)));
    wait_for(&observer, "two callers blocked in BLPOP", |clients| {
        blocked_in(clients, name) == 2
    })
    .await;

    let started = Instant::now();
    let third = timeout(PATIENCE, conn.send::<Popped>(cmd!("BLPOP", other, 0)))
        .await
        .expect("a caller waiting for a blocking connection hung");
    let waited = started.elapsed();
    let err = third.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        matches!(
            err,
            Error::Timeout {
                what: "waiting for a blocking connection",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        waited >= RESPONSE_TIMEOUT - Duration::from_millis(20),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "gave up after {waited:?}");
    // The third caller never reached the server.
    let clients: String = observer.send(cmd!("CLIENT", "LIST")).await.unwrap();
    assert_eq!(blocked_in(&clients, name), 2, "{clients}");
    assert_eq!(named(&clients, name), 3, "{clients}");

    // A caller who waits while a connection comes free gets it.
    let fourth = tokio::spawn(conn.send::<Popped>(cmd!("BLPOP", other, 5)));
    let _: i64 = conn.send(cmd!("RPUSH", key, "a", "b")).await.unwrap();
    let mut popped = Vec::new();
    for task in [first, second] {
        let reply = timeout(PATIENCE, task).await.expect("never unblocked");
        let (list, value) = reply.unwrap().unwrap().expect("a value, not a timeout");
        assert_eq!(list, key);
        popped.push(value);
    }
    popped.sort();
    assert_eq!(popped, ["a", "b"]);
    wait_for(
        &observer,
        "the waiting caller blocked in BLPOP",
        |clients| blocked_in(clients, name) == 1,
    )
    .await;
    let _: i64 = conn.send(cmd!("RPUSH", other, "c")).await.unwrap();
    let reply = timeout(PATIENCE, fourth).await.expect("never unblocked");
    assert_eq!(reply.unwrap().unwrap(), Some((other.into(), "c".into())));

    let values: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    let _: i64 = conn.send(cmd!("RPUSH", key, &values)).await.unwrap();
    for value in &values {
        let popped: Popped = conn.send(cmd!("BLPOP", key, 1)).await.unwrap();
        assert_eq!(popped, Some((key.to_string(), value.clone())));
    }
    assert_eq!(
        conn.stats().blocking_connections,
        2,
        "idle blocking connections were not reused"
    );
    let clients: String = observer.send(cmd!("CLIENT", "LIST")).await.unwrap();
    assert_eq!(named(&clients, name), 3, "{clients}");
}

#[tokio::test]
async fn a_blocking_timeout_resolves_on_its_own_connection() {
    let server = Server::get();
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let config = server.config().with_protocol(protocol);
        let conn = PairedConnection::connect(&config).await.unwrap();
        let key = format!("blocking:timeout:{protocol:?}");
        let get = format!("blocking:timeout:{protocol:?}:get");
        let _: i64 = conn.send(cmd!("DEL", &key)).await.unwrap();
        let _: () = conn.send(cmd!("SET", &get, "v")).await.unwrap();

        let started = Instant::now();
        let blpop = tokio::spawn(conn.send::<Popped>(cmd!("BLPOP", &key, 1)));
        for _ in 0..20 {
            let v: Option<String> = timeout(PATIENCE, conn.send(cmd!("GET", &get)))
                .await
                .expect("a GET hung behind BLPOP")
                .unwrap();
            assert_eq!(v.as_deref(), Some("v"));
        }
        let gets_done = started.elapsed();
        assert!(
            !blpop.is_finished(),
            "{protocol:?}: BLPOP 1 returned within {gets_done:?}"
        );
        assert!(
            gets_done < Duration::from_millis(600),
            "{protocol:?}: GETs waited {gets_done:?} beside a BLPOP"
        );

        let popped = timeout(PATIENCE, blpop)
            .await
            .expect("BLPOP with a timeout hung")
            .unwrap()
            .unwrap();
        let blocked_for = started.elapsed();
        assert_eq!(popped, None, "{protocol:?}");
        assert!(
            blocked_for >= Duration::from_millis(900),
            "{protocol:?}: BLPOP 1 returned after {blocked_for:?}"
        );
        assert!(
            blocked_for < Duration::from_secs(5),
            "{protocol:?}: BLPOP 1 returned after {blocked_for:?}"
        );
        assert_eq!(conn.stats().blocking_connections, 1, "{protocol:?}");
    }
}

#[tokio::test]
async fn a_pipeline_with_a_blocking_command_does_not_stall_the_connection() {
    let server = Server::get();
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let name = format!("blocking-pipeline-{protocol:?}");
        let config = server
            .config()
            .with_client_name(&name)
            .with_protocol(protocol);
        let conn = PairedConnection::connect(&config).await.unwrap();
        let observer = server.observer().await;
        let pushed = format!("blocking:pipeline:{protocol:?}:pushed");
        let popped = format!("blocking:pipeline:{protocol:?}:popped");
        let get = format!("blocking:pipeline:{protocol:?}:get");
        let _: i64 = conn.send(cmd!("DEL", &pushed, &popped)).await.unwrap();
        let _: () = conn.send(cmd!("SET", &get, "v")).await.unwrap();

        let pipeline = tokio::spawn(
            conn.pipeline()
                .add(cmd!("RPUSH", &pushed, "a"))
                .add(cmd!("BLPOP", &popped, 0))
                .query::<Vec<Value>>(),
        );
        wait_for(&observer, "the pipeline blocked in BLPOP", |clients| {
            blocked_in(clients, &name) == 1
        })
        .await;
        for _ in 0..20 {
            let v: Option<String> = timeout(PATIENCE, conn.send(cmd!("GET", &get)))
                .await
                .expect("a GET hung behind a blocked pipeline")
                .unwrap();
            assert_eq!(v.as_deref(), Some("v"));
        }
        // The pipeline's first command ran before its second blocked.
        let len: i64 = conn.send(cmd!("LLEN", &pushed)).await.unwrap();
        assert_eq!(len, 1);
        assert!(!pipeline.is_finished());

        let _: i64 = conn.send(cmd!("RPUSH", &popped, "b")).await.unwrap();
        let replies = timeout(PATIENCE, pipeline)
            .await
            .expect("the pipeline never unblocked")
            .unwrap()
            .unwrap();
        assert_eq!(
            replies,
            [
                Value::Integer(1),
                Value::Array(vec![Value::bulk(popped.clone()), Value::bulk("b")]),
            ],
            "{protocol:?}"
        );
        assert_eq!(conn.stats().blocking_connections, 1, "{protocol:?}");

        // Inside MULTI nothing blocks: a transaction stays on the shared
        // connection and BLPOP answers at once.
        let (nothing,): (Popped,) = timeout(
            PATIENCE,
            conn.transaction().add(cmd!("BLPOP", &popped, 0)).query(),
        )
        .await
        .expect("a BLPOP inside MULTI blocked")
        .unwrap();
        assert_eq!(nothing, None, "{protocol:?}");
        assert_eq!(conn.stats().blocking_connections, 1, "{protocol:?}");
    }
}

#[tokio::test]
async fn commands_that_would_be_lost_on_reconnect_are_refused() {
    let server = Server::get();
    let refused = [
        cmd!("CLIENT", "TRACKING", "ON"),
        cmd!("client", "tracking", "on", "BCAST"),
        cmd!("CLIENT", "SETNAME", "x"),
        cmd!("CLIENT", "SETINFO", "LIB-NAME", "x"),
        cmd!("CLIENT", "NO-EVICT", "ON"),
        cmd!("CLIENT", "NO-TOUCH", "ON"),
        cmd!("CLIENT", "CAPA", "redirect"),
        cmd!("READONLY"),
        cmd!("readwrite"),
        cmd!("WAIT", 1, 0),
        cmd!("WAITAOF", 0, 1, 0),
    ];
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let config = server.config().with_protocol(protocol);
        let conn = PairedConnection::connect(&config).await.unwrap();
        for cmd in &refused {
            let result = timeout(PATIENCE, conn.send::<Value>(cmd))
                .await
                .expect("a refused command was sent, and blocked");
            assert!(
                matches!(result, Err(Error::Unsupported(_))),
                "{protocol:?} {cmd:?}: {result:?}"
            );
            // Nor does a batch carry them past the check.
            let pipeline = conn.pipeline().add(cmd!("PING")).add(cmd);
            let result = timeout(PATIENCE, pipeline.query::<Vec<Value>>())
                .await
                .expect("a refused command was sent in a pipeline, and blocked");
            assert!(
                matches!(result, Err(Error::Unsupported(_))),
                "{protocol:?} pipeline {cmd:?}: {result:?}"
            );
        }
        // Inside MULTI the server blocks on nothing, so WAIT may go there
        // without a timeout; the rest is refused there too.
        let (replicas,): (i64,) =
            timeout(PATIENCE, conn.transaction().add(cmd!("WAIT", 1, 0)).query())
                .await
                .expect("WAIT inside MULTI blocked")
                .unwrap();
        assert_eq!(replicas, 0);
        for cmd in &refused[..8] {
            let result = conn.transaction().add(cmd).query::<Vec<Value>>().await;
            assert!(
                matches!(result, Err(Error::Unsupported(_))),
                "{protocol:?} transaction {cmd:?}: {result:?}"
            );
        }
        // With a timeout WAIT cannot hold up the connection for good. It
        // waits for this connection's writes, so it stays on it.
        let replicas: i64 = conn.send(cmd!("WAIT", 0, 100)).await.unwrap();
        assert_eq!(replicas, 0);
        assert_eq!(conn.stats().blocking_connections, 0);
        // Nothing refused reached the server.
        let name: Option<String> = conn.send(cmd!("CLIENT", "GETNAME")).await.unwrap();
        assert_eq!(name, None, "{protocol:?}");
        let info: String = conn.send(cmd!("CLIENT", "INFO")).await.unwrap();
        let flags = field(info.trim(), "flags").unwrap_or_default();
        assert!(!flags.contains(['t', 'r']), "{protocol:?}: {info}");

        // An exclusive connection is not shared, and never reconnects: its
        // name stays as set. Tracking pushes would still be lost.
        let exclusive = ExclusiveConnection::connect(&config).await.unwrap();
        let _: () = exclusive
            .send(cmd!("CLIENT", "SETNAME", "blocking-exclusive"))
            .await
            .unwrap();
        let name: Option<String> = exclusive.send(cmd!("CLIENT", "GETNAME")).await.unwrap();
        assert_eq!(name.as_deref(), Some("blocking-exclusive"));
        let result = exclusive
            .send::<Value>(cmd!("CLIENT", "TRACKING", "ON"))
            .await;
        assert!(matches!(result, Err(Error::Unsupported(_))), "{result:?}");
    }
}

#[tokio::test]
async fn dropping_every_handle_ends_a_forever_blocked_lane() {
    let server = Server::get();
    let name = "blocking-orphaned";
    let forever = "blocking:orphaned:forever";
    let finite = "blocking:orphaned:finite";
    let conn = server.named(name).await;
    let observer = server.observer().await;
    let _: i64 = conn.send(cmd!("DEL", forever, finite)).await.unwrap();

    let clone = conn.clone();
    let endless = tokio::spawn(conn.send::<Popped>(cmd!("BLPOP", forever, 0)));
    let bounded = tokio::spawn(clone.send::<Popped>(cmd!("BLPOP", finite, 30)));
    wait_for(&observer, "two callers blocked in BLPOP", |clients| {
        blocked_in(clients, name) == 2
    })
    .await;
    drop(conn);
    drop(clone);

    let result = timeout(PATIENCE, endless)
        .await
        .expect("a forever blocked caller hung after every handle was dropped")
        .unwrap();
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    // A command with a timeout of its own is left to finish within it.
    wait_for(&observer, "one caller still blocked", |clients| {
        blocked_in(clients, name) == 1
    })
    .await;
    let _: i64 = observer.send(cmd!("RPUSH", forever, "kept")).await.unwrap();
    let len: i64 = observer.send(cmd!("LLEN", forever)).await.unwrap();
    assert_eq!(len, 1, "something popped the value for a closed caller");
    let _: i64 = observer.send(cmd!("RPUSH", finite, "v")).await.unwrap();
    let popped = timeout(PATIENCE, bounded)
        .await
        .expect("the caller with a timeout never got its value")
        .unwrap()
        .unwrap();
    assert_eq!(popped, Some((finite.into(), "v".into())));

    // With nothing left to run, every connection of the handle closes.
    wait_for(&observer, "every connection closed", |clients| {
        named(clients, name) == 0
    })
    .await;
}

#[tokio::test]
async fn every_blocking_command_waits_on_its_own_connection() {
    let server = Server::get();
    let name = "blocking-each";
    let conn = server.named(name).await;
    let observer = server.observer().await;
    let list = "blocking:each:list";
    let dest = "blocking:each:dest";
    let zset = "blocking:each:zset";
    let stream = "blocking:each:stream";
    let group = "blocking:each:group";
    let get = "blocking:each:get";
    let _: i64 = conn
        .send(cmd!("DEL", list, dest, zset, stream, group))
        .await
        .unwrap();
    let _: () = conn
        .send(cmd!("XGROUP", "CREATE", group, "g", "$", "MKSTREAM"))
        .await
        .unwrap();
    let _: () = conn.send(cmd!("SET", get, "v")).await.unwrap();

    let list_fed = cmd!("RPUSH", list, "x");
    let zset_fed = cmd!("ZADD", zset, 1, "x");
    let stream_fed = cmd!("XADD", stream, "*", "f", "x");
    let group_fed = cmd!("XADD", group, "*", "f", "x");
    let cases: [(Command, &Command); 10] = [
        (cmd!("BRPOP", list, 0), &list_fed),
        (cmd!("blpop", list, 0), &list_fed),
        (cmd!("BRPOPLPUSH", list, dest, 0), &list_fed),
        (cmd!("BLMOVE", list, dest, "LEFT", "RIGHT", 0), &list_fed),
        (cmd!("BLMPOP", 0, 1, list, "LEFT"), &list_fed),
        (cmd!("BZPOPMIN", zset, 0), &zset_fed),
        (cmd!("BZPOPMAX", zset, 0), &zset_fed),
        (cmd!("BZMPOP", 0, 1, zset, "MIN"), &zset_fed),
        (
            cmd!("XREAD", "BLOCK", 0, "STREAMS", stream, "$"),
            &stream_fed,
        ),
        (
            cmd!(
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                0,
                "STREAMS",
                group,
                ">"
            ),
            &group_fed,
        ),
    ];
    for (blocking, feed) in cases {
        let label = format!("{blocking:?}");
        let reply = tokio::spawn(conn.send::<Value>(blocking));
        wait_for(&observer, &format!("{label} blocked"), |clients| {
            clients.lines().any(|c| {
                field(c, "name") == Some(name) && field(c, "flags").is_some_and(|f| f.contains('b'))
            })
        })
        .await;
        let v: Option<String> = timeout(PATIENCE, conn.send(cmd!("GET", get)))
            .await
            .unwrap_or_else(|_| panic!("a GET hung behind {label}"))
            .unwrap();
        assert_eq!(v.as_deref(), Some("v"));
        assert!(!reply.is_finished(), "{label} returned on an empty key");
        let _: Value = conn.send(feed).await.unwrap();
        let value = timeout(PATIENCE, reply)
            .await
            .unwrap_or_else(|_| panic!("{label} never unblocked"))
            .unwrap()
            .unwrap();
        assert!(
            !matches!(value, Value::Null | Value::NullArray),
            "{label}: {value:?}"
        );
    }
    // One at a time: the same connection served them all.
    assert_eq!(conn.stats().blocking_connections, 1);
}

#[tokio::test]
async fn an_idle_blocking_connection_is_closed() {
    let server = Server::get();
    let name = "blocking-idle";
    let key = "blocking:idle";
    let options = Options::default().with_blocking_idle_timeout(Duration::from_millis(200));
    let config = server.config().with_client_name(name);
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    let observer = server.observer().await;
    let _: i64 = conn.send(cmd!("RPUSH", key, "a", "b")).await.unwrap();

    let popped: Popped = conn.send(cmd!("BLPOP", key, 1)).await.unwrap();
    assert_eq!(popped, Some((key.into(), "a".into())));
    let clients: String = observer.send(cmd!("CLIENT", "LIST")).await.unwrap();
    assert_eq!(named(&clients, name), 2, "{clients}");
    wait_for(
        &observer,
        "the idle blocking connection closed",
        |clients| named(clients, name) == 1,
    )
    .await;

    let popped: Popped = conn.send(cmd!("BLPOP", key, 1)).await.unwrap();
    assert_eq!(popped, Some((key.into(), "b".into())));
    assert_eq!(conn.stats().blocking_connections, 2);
}

#[tokio::test]
async fn a_blocking_connection_is_set_up_like_the_shared_one() {
    let server = RedisServer::builder()
        .password("blocking-secret")
        .start()
        .expect("server starts");
    let name = "blocking-setup";
    let key = "blocking:setup";
    let config = server
        .url()
        .parse::<ConnectionConfig>()
        .unwrap()
        .with_password("blocking-secret")
        .with_db(3)
        .with_client_name(name);
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let conn = PairedConnection::connect(&config.clone().with_protocol(protocol))
            .await
            .unwrap();
        let observer = PairedConnection::connect(&config.clone().with_client_name("observer"))
            .await
            .unwrap();
        let blpop = tokio::spawn(conn.send::<Popped>(cmd!("BLPOP", key, 5)));
        wait_for(&observer, "the caller blocked in BLPOP", |clients| {
            clients
                .lines()
                .any(|c| field(c, "db") == Some("3") && blocked_in(c, name) == 1)
        })
        .await;
        // Pushed on the shared connection, in its database.
        let _: i64 = conn.send(cmd!("RPUSH", key, "v")).await.unwrap();
        let popped = timeout(PATIENCE, blpop)
            .await
            .expect("BLPOP hung")
            .unwrap()
            .unwrap();
        assert_eq!(popped, Some((key.into(), "v".into())), "{protocol:?}");
    }
}

/// The latencies of 64 tasks sending 200 GETs each, one after the other,
/// sorted. Every GET must answer: one stuck behind a blocked caller fails
/// the test.
async fn get_latencies(conn: &PairedConnection) -> Vec<Duration> {
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(200);
                for _ in 0..200 {
                    let started = Instant::now();
                    let v: Option<String> =
                        timeout(PATIENCE, conn.send(cmd!("GET", "blocking:stall:get")))
                            .await
                            .expect("a GET hung")
                            .unwrap();
                    latencies.push(started.elapsed());
                    assert_eq!(v.as_deref(), Some("v"));
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    all
}

fn p99(sorted: Vec<Duration>) -> Duration {
    sorted[sorted.len() * 99 / 100]
}

/// Polls `CLIENT LIST` until `done` holds for it.
async fn wait_for(observer: &PairedConnection, what: &str, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let clients: String = observer.send(cmd!("CLIENT", "LIST")).await.unwrap();
        if done(&clients) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}:\n{clients}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How many clients called `name` are blocked in BLPOP now. The `cmd` field
/// alone is the last command, which a connection back from a BLPOP still
/// shows; the `b` flag is set only while it waits.
fn blocked_in(clients: &str, name: &str) -> usize {
    clients
        .lines()
        .filter(|c| {
            field(c, "name") == Some(name)
                && field(c, "cmd") == Some("blpop")
                && field(c, "flags").is_some_and(|f| f.contains('b'))
        })
        .count()
}

/// How many clients called `name` are connected.
fn named(clients: &str, name: &str) -> usize {
    clients
        .lines()
        .filter(|c| field(c, "name") == Some(name))
        .count()
}

/// A field of one line of `CLIENT LIST`.
fn field<'a>(client: &'a str, key: &str) -> Option<&'a str> {
    client
        .split(' ')
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
}
