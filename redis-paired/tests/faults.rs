//! Live fault tests: a server this test starts itself is killed, restarted,
//! paused and resumed under load.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis_conn::{ConnectionConfig, Error, ReconnectPolicy};
use redis_paired::{Options, PairedConnection};
use resp::cmd;
use tokio::time::{timeout, Instant};
use xtask::RedisServer;

fn config(server: &RedisServer) -> ConnectionConfig {
    let url = server.url();
    let config: ConnectionConfig = url.parse().expect("server url parses");
    // The default reconnect policy: recovery within a second is the default
    // behaviour, not a tuned one.
    config.with_connect_timeout(Duration::from_millis(500))
}

/// Polls until a PING succeeds; returns how long that took.
async fn time_to_recover(conn: &PairedConnection) -> Duration {
    let start = Instant::now();
    loop {
        if conn.send::<String>(cmd!("PING")).await.is_ok() {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never recovered");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_load_never_hands_anyone_a_foreign_reply() {
    let mut server = RedisServer::start().expect("server starts");
    let options = Options::default().with_response_timeout(Duration::from_secs(2));
    let conn = PairedConnection::connect_with(&config(&server), options)
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..64 {
        let (conn, stop) = (conn.clone(), stop.clone());
        let (successes, failures) = (successes.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("fault:{task}");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let value = format!("{task}:{n}");
                let set = conn.send::<()>(cmd!("SET", &key, &value));
                let get = conn.send::<Option<String>>(cmd!("GET", &key));
                // Every future resolves within its response timeout (2 s)
                // plus the time a reconnect may take.
                let (set, get) = timeout(Duration::from_secs(5), async { (set.await, get.await) })
                    .await
                    .expect("a reply future hung");
                match (set, get) {
                    (Ok(()), Ok(got)) => {
                        assert_eq!(
                            got.as_deref(),
                            Some(value.as_str()),
                            "task {task} got a foreign value"
                        );
                        successes.fetch_add(1, Ordering::Relaxed);
                    }
                    (_, Err(e)) | (Err(e), _) => {
                        assert!(
                            matches!(e, Error::Connection(_) | Error::Timeout(_)),
                            "unexpected error kind: {e:?}"
                        );
                        failures.fetch_add(1, Ordering::Relaxed);
                        tokio::task::yield_now().await;
                    }
                }
            }
        }));
    }

    // Let the load run, then kill the server under it.
    while successes.load(Ordering::Relaxed) < 2_000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    let failed_before = failures.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(5);
    while failures.load(Ordering::Relaxed) == failed_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        failures.load(Ordering::Relaxed) > failed_before,
        "no task noticed the kill"
    );
    let err = conn.send::<String>(cmd!("PING")).await.unwrap_err();
    assert!(
        matches!(err, Error::Connection(_)),
        "while down, commands fail fast: {err:?}"
    );

    server.restart().expect("server restarts");
    let recovery = time_to_recover(&conn).await;
    assert!(
        recovery < Duration::from_secs(1),
        "took {recovery:?} to recover"
    );

    let after = successes.load(Ordering::Relaxed);
    while successes.load(Ordering::Relaxed) < after + 2_000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("no task panicked");
    }
    assert!(conn.stats().reconnects >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_server_times_out_bounded_and_recovers() {
    let server = RedisServer::start().expect("server starts");
    let options = Options::default()
        .with_response_timeout(Duration::from_millis(300))
        .with_max_pending(1_000);
    let conn = PairedConnection::connect_with(&config(&server), options)
        .await
        .unwrap();
    let _: () = conn.send(cmd!("SET", "pause:k", "v")).await.unwrap();

    server.pause();
    let start = Instant::now();
    let mut replies = Vec::new();
    let mut refused = 0;
    for _ in 0..5_000 {
        match conn.send_and_forget(cmd!("GET", "pause:k")) {
            Ok(()) => {}
            Err(Error::Backpressure { .. }) | Err(Error::Connection(_)) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    for _ in 0..10 {
        replies.push(conn.send::<Option<String>>(cmd!("GET", "pause:k")));
    }
    assert!(
        refused >= 4_000,
        "the queue is bounded: {refused} of 5000 refused"
    );
    for reply in replies {
        let result = timeout(Duration::from_secs(3), reply)
            .await
            .expect("a reply hung");
        assert!(
            matches!(
                result,
                Err(Error::Timeout(_))
                    | Err(Error::Connection(_))
                    | Err(Error::Backpressure { .. })
            ),
            "{result:?}"
        );
    }
    assert!(start.elapsed() < Duration::from_secs(3));

    server.resume();
    let recovery = time_to_recover(&conn).await;
    assert!(
        recovery < Duration::from_secs(2),
        "took {recovery:?} to recover"
    );
    let v: Option<String> = conn.send(cmd!("GET", "pause:k")).await.unwrap();
    assert_eq!(v.as_deref(), Some("v"));
}

#[tokio::test]
async fn without_reconnect_a_lost_connection_stays_closed() {
    let mut server = RedisServer::start().expect("server starts");
    let config = config(&server).with_reconnect(ReconnectPolicy::disabled());
    let conn = PairedConnection::connect(&config).await.unwrap();
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    server.kill();
    let err = conn.send::<String>(cmd!("PING")).await.unwrap_err();
    assert!(
        matches!(err, Error::Connection(_) | Error::Closed),
        "{err:?}"
    );
    server.restart().unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        assert!(conn.send::<String>(cmd!("PING")).await.is_err());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_connection_whose_runtime_is_gone_refuses_commands_instead_of_hanging() {
    let server = RedisServer::start().expect("server starts");
    let first = tokio::runtime::Runtime::new().unwrap();
    let conn = first
        .block_on(PairedConnection::connect(&config(&server)))
        .unwrap();
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = second.block_on(async {
        timeout(Duration::from_secs(2), conn.send::<String>(cmd!("PING"))).await
    });
    assert!(matches!(result, Ok(Err(Error::Closed))), "{result:?}");
}
