//! Live tests of a connection's life around its commands: a call's own
//! timeout, a graceful close, and a lazy first connect. Each test starts
//! its own server, since some stop it.

use std::time::Duration;

use redis_conn::{CommandName, ConnectionConfig, Error};
use redis_paired::{Commands, ExclusiveConnection, Options, PairedConnection, Reply};
use resp::cmd;
use tokio::time::Instant;
use xtask::RedisServer;

fn config(server: &RedisServer) -> ConnectionConfig {
    let config: ConnectionConfig = server.url().parse().expect("server url parses");
    config.with_connect_timeout(Duration::from_millis(500))
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("has an address").port()
}

#[tokio::test]
async fn a_calls_own_timeout_gives_up_without_shifting_the_next_reply() {
    let server = RedisServer::start().expect("server starts");
    let conn = PairedConnection::connect(&config(&server)).await.unwrap();
    conn.set("a", "value of a").await.unwrap();
    conn.set("b", "value of b").await.unwrap();

    // The server stops answering, as a frozen one does.
    server.pause();
    let started = Instant::now();
    let late = conn.get::<String>("a").timeout(Duration::from_millis(100));
    let next = conn.get::<String>("b");
    let error = late.await.expect_err("no reply while paused");
    let waited = started.elapsed();
    match &error {
        Error::Timeout {
            what: "response",
            command,
            limit,
        } => {
            assert_eq!(*command, Some(CommandName::new(b"GET")));
            assert_eq!(*limit, Some(Duration::from_millis(100)));
        }
        other => panic!("expected a response timeout, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(100),
        "gave up early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "gave up late: {waited:?}");
    server.resume();

    // The reply to the call that gave up is read and discarded in its turn.
    assert_eq!(next.await.unwrap().as_deref(), Some("value of b"));
    let again: Option<String> = conn.get("a").await.unwrap();
    assert_eq!(again.as_deref(), Some("value of a"));

    // A limit that is not reached changes nothing.
    let n = conn
        .incr("n")
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_timeout_bounds_any_reply_even_one_from_a_future() {
    // A cluster's replies, say: no command name, the same deadline.
    let reply = Reply::<String>::from_future(std::future::pending());
    let error = reply
        .timeout(Duration::from_millis(20))
        .await
        .expect_err("never answered");
    assert!(
        matches!(
            error,
            Error::Timeout {
                what: "response",
                command: None,
                limit: Some(limit),
            } if limit == Duration::from_millis(20)
        ),
        "{error:?}"
    );
    // The earlier of two deadlines holds.
    let reply = Reply::<String>::from_future(std::future::pending())
        .timeout(Duration::from_millis(10))
        .timeout(Duration::from_secs(60));
    let error = tokio::time::timeout(Duration::from_secs(5), reply)
        .await
        .expect("the earlier deadline held")
        .expect_err("never answered");
    assert!(error.is_timeout(), "{error:?}");
}

#[test]
fn a_reply_with_a_timeout_is_still_send_and_sync() {
    fn shareable<T: Send + Sync + Unpin>(_: &T) {}
    shareable(&Reply::<String>::from_error(Error::Closed).timeout(Duration::from_secs(1)));
}

#[test]
fn a_timeout_holds_when_waited_for_without_a_runtime() {
    let reply = Reply::<String>::from_future(std::future::pending());
    let error = reply
        .timeout(Duration::from_millis(20))
        .wait()
        .expect_err("never answered");
    assert!(error.is_timeout(), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_answers_what_was_sent_then_refuses_everything() {
    let server = RedisServer::start().expect("server starts");
    let conn = PairedConnection::connect(&config(&server)).await.unwrap();
    let clone = conn.clone();
    let sent: Vec<_> = (0..500)
        .map(|_| conn.incr("counter").timeout(Duration::from_secs(30)))
        .map(|reply| tokio::spawn(reply))
        .collect();
    conn.send_and_forget(cmd!("SET", "forgotten", "written"))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), conn.close())
        .await
        .expect("close returns");
    let mut got = Vec::new();
    for reply in sent {
        got.push(
            reply
                .await
                .unwrap()
                .expect("sent before the close: answered"),
        );
    }
    got.sort_unstable();
    assert_eq!(got, (1..=500).collect::<Vec<i64>>());

    // Every clone sees it closed; closing again returns at once.
    assert!(matches!(conn.get::<String>("k").await, Err(Error::Closed)));
    assert!(matches!(clone.incr("k").await, Err(Error::Closed)));
    assert!(matches!(clone.status(), Err(Error::Closed)));
    assert!(!clone.is_connected());
    tokio::time::timeout(Duration::from_secs(1), clone.close())
        .await
        .expect("a second close returns");

    // What was queued reached the server.
    let other = PairedConnection::connect(&config(&server)).await.unwrap();
    let forgotten: Option<String> = other.get("forgotten").await.unwrap();
    assert_eq!(forgotten.as_deref(), Some("written"));
    assert_eq!(other.get::<i64>("counter").await.unwrap(), Some(500));
}

#[tokio::test]
async fn close_of_an_exclusive_connection_answers_first() {
    let server = RedisServer::start().expect("server starts");
    let conn = ExclusiveConnection::connect(&config(&server))
        .await
        .unwrap();
    let set = conn.send::<()>(cmd!("SET", "k", "v"));
    conn.close().await;
    set.await.expect("answered before the close");
    assert!(matches!(
        conn.send::<()>(cmd!("PING")).await,
        Err(Error::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_the_server_down_returns_once_the_queued_commands_fail() {
    let mut server = RedisServer::start().expect("server starts");
    let options = Options::default().with_response_timeout(Duration::from_millis(500));
    let conn = PairedConnection::connect_with(&config(&server), options)
        .await
        .unwrap();
    conn.set("k", "v").await.unwrap();
    server.kill();
    // Once the loss is seen, what is sent waits for a reconnect that does
    // not come.
    let seen = Instant::now();
    while conn.is_connected() {
        assert!(seen.elapsed() < Duration::from_secs(5), "the loss is seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent: Vec<_> = (0..20)
        .map(|_| tokio::spawn(conn.get::<String>("k")))
        .collect();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), conn.close())
        .await
        .expect("close returns while the server is down");
    let took = started.elapsed();
    for reply in sent {
        let error = reply.await.unwrap().expect_err("the server is down");
        assert!(
            matches!(&error, Error::Connection(reason) if reason.is_connection()),
            "a command waiting for the server fails with why: {error:?}"
        );
    }
    assert!(
        took >= Duration::from_millis(400),
        "the queued commands were given their time: {took:?}"
    );
    eprintln!("close with the server down took {took:?}");
    assert!(matches!(conn.get::<String>("k").await, Err(Error::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_connection_serves_once_its_server_starts() {
    let mut server = RedisServer::start().expect("server starts");
    // Down before the client exists: the client starts first.
    server.kill();
    let options = Options::default()
        .with_lazy_connect(true)
        .with_response_timeout(Duration::from_secs(20));
    let conn = tokio::time::timeout(
        Duration::from_secs(1),
        PairedConnection::connect_with(&config(&server), options),
    )
    .await
    .expect("a lazy connect returns at once")
    .expect("a lazy connect succeeds without a server");
    assert!(!conn.is_connected());
    assert!(conn.status().unwrap_err().is_connection());
    let waiting = tokio::spawn(conn.set("early", "bird"));

    let started = tokio::task::spawn_blocking(move || {
        server.restart().expect("server starts");
        server
    })
    .await
    .unwrap();
    let up = Instant::now();
    waiting
        .await
        .unwrap()
        .expect("a command sent before the server started is served");
    eprintln!("served {:?} after the server came up", up.elapsed());
    let early: Option<String> = conn.get("early").await.unwrap();
    assert_eq!(early.as_deref(), Some("bird"));
    assert!(conn.is_connected());
    assert_eq!(
        conn.stats().reconnects,
        0,
        "the first connection is no reconnect"
    );
    drop(started);
}

#[tokio::test]
async fn a_lazy_connection_to_nothing_fails_commands_with_why() {
    let config: ConnectionConfig = format!("redis://127.0.0.1:{}/", closed_port())
        .parse()
        .unwrap();
    let options = Options::default()
        .with_lazy_connect(true)
        .with_response_timeout(Duration::from_millis(300));
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .expect("a lazy connect returns at once");
    let started = Instant::now();
    let error = conn.get::<String>("k").await.expect_err("nothing listens");
    let waited = started.elapsed();
    assert!(
        matches!(&error, Error::Connection(reason) if reason.is_connection()),
        "a connection error with the reason: {error:?}"
    );
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // With fail_fast, at once.
    let conn = PairedConnection::connect_with(&config, options.with_fail_fast(true))
        .await
        .unwrap();
    let started = Instant::now();
    let error = conn.get::<String>("k").await.expect_err("nothing listens");
    assert!(matches!(error, Error::Connection(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(1));

    // Exclusive: one attempt, then closed for good.
    let conn = ExclusiveConnection::connect_with(&config, options)
        .await
        .expect("a lazy connect returns at once");
    let error = conn
        .send::<String>(cmd!("PING"))
        .await
        .expect_err("nothing listens");
    assert!(error.is_connection(), "{error:?}");
    assert!(conn.status().is_err());
}

#[tokio::test]
async fn a_lazy_connection_closed_before_it_connects_ends() {
    let config: ConnectionConfig = format!("redis://127.0.0.1:{}/", closed_port())
        .parse()
        .unwrap();
    let options = Options::default().with_lazy_connect(true);
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), conn.close())
        .await
        .expect("nothing waits: close returns");
    assert!(matches!(
        conn.send::<String>(cmd!("PING")).await,
        Err(Error::Closed)
    ));
}
