//! Live fault tests: a server this test starts itself is killed, restarted,
//! paused and resumed under load.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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

/// Tasks of the restart test: each loops SET then GET of its own key and
/// checks that it reads its own value back.
const TASKS: usize = 64;

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
    for task in 0..TASKS {
        let (conn, stop) = (conn.clone(), stop.clone());
        let (successes, failures) = (successes.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("fault:{task}");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let value = format!("{task}:{n}");
                let connections = conn.stats().reconnects;
                let set = conn.send::<()>(cmd!("SET", &key, &value));
                let get = conn.send::<Option<String>>(cmd!("GET", &key));
                // Every future resolves within its response timeout (2 s)
                // plus the time a reconnect may take.
                let (set, get) = timeout(Duration::from_secs(5), async { (set.await, get.await) })
                    .await
                    .expect("a reply future hung");
                match (set, get) {
                    // The old server acknowledged the SET and died before
                    // the GET was written; the GET went to the restarted
                    // server, which keeps nothing. Only then may it be empty.
                    (Ok(()), Ok(None)) => {
                        assert!(
                            conn.stats().reconnects > connections,
                            "task {task}: GET found nothing on the connection that stored it"
                        );
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
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
                            matches!(e, Error::Connection(_)),
                            "unexpected error kind: {e:?}"
                        );
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    let mut recoveries = Vec::new();
    for round in 0..5 {
        // Let the load run, then kill the server under it and start it
        // again at once, as a supervisor would.
        let target = successes.load(Ordering::Relaxed) + 2_000;
        while successes.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let failed_before = failures.load(Ordering::Relaxed);
        server.restart().expect("server restarts");
        let accepting = Instant::now();
        let succeeded = successes.load(Ordering::Relaxed);
        while successes.load(Ordering::Relaxed) == succeeded {
            assert!(
                accepting.elapsed() < Duration::from_secs(5),
                "never recovered"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let recovery = accepting.elapsed();
        // Only a task whose SET and GET were on the socket at the kill may
        // fail: commands sent while the server was away waited for it.
        let errors = failures.load(Ordering::Relaxed) - failed_before;
        println!("round {round}: {errors} errors, recovered {recovery:?} after the server accepted connections");
        assert!(
            errors <= TASKS,
            "round {round}: {errors} errors, more than the {TASKS} rounds in flight"
        );
        recoveries.push(recovery);
    }
    recoveries.sort();
    println!("median recovery {:?}", recoveries[recoveries.len() / 2]);
    assert!(
        recoveries[recoveries.len() / 2] < Duration::from_secs(1),
        "recoveries {recoveries:?}"
    );

    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("no task panicked");
    }
    assert!(conn.stats().reconnects >= 5);
}

/// The outages of the recovery tests: long enough that a backoff which
/// doubles would have grown far beyond the restart.
const OUTAGES: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(10),
];

/// Kills the server, keeps it down for `outage` and restarts it, on a
/// thread of its own; the handle gives back the server and the moment it
/// answered again.
fn outage(
    mut server: RedisServer,
    outage: Duration,
) -> tokio::task::JoinHandle<(RedisServer, Instant)> {
    tokio::task::spawn_blocking(move || {
        let ready = server.restart_after(outage).expect("server restarts");
        (server, Instant::from_std(ready))
    })
}

/// Waits until the tasks counting in `rounds` have done `n` more, failing
/// the test if they stop.
async fn more_rounds(rounds: &AtomicUsize, n: usize) {
    let target = rounds.load(Ordering::Relaxed) + n;
    let start = Instant::now();
    while rounds.load(Ordering::Relaxed) < target {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the load stopped"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The median and the largest of `values`.
fn median_and_max(mut values: Vec<Duration>) -> (Duration, Duration) {
    values.sort();
    (values[values.len() / 2], values[values.len() - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_flow_again_right_after_outages_of_half_a_second_to_ten() {
    let mut server = RedisServer::start().expect("server starts");
    let conn = PairedConnection::connect(&config(&server)).await.unwrap();
    let start = Instant::now();
    // When each task's first command succeeded since the slots were
    // cleared (nanoseconds from `start`), `u64::MAX` before.
    let first_ok: Arc<Vec<AtomicU64>> =
        Arc::new((0..TASKS).map(|_| AtomicU64::new(u64::MAX)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (conn, stop, first_ok) = (conn.clone(), stop.clone(), first_ok.clone());
        let (successes, failures) = (successes.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("outage:{task}");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let value = format!("{task}:{n}");
                let connections = conn.stats().reconnects;
                let set = conn.send::<()>(cmd!("SET", &key, &value));
                let get = conn.send::<Option<String>>(cmd!("GET", &key));
                let set = set.await;
                if set.is_ok() {
                    let at = start.elapsed().as_nanos() as u64;
                    let _ = first_ok[task].compare_exchange(
                        u64::MAX,
                        at,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
                match (set, get.await) {
                    // The old server acknowledged the SET and died before
                    // the GET was written; the GET went to the restarted
                    // server, which keeps nothing. Only then may it be empty.
                    (Ok(()), Ok(None)) => {
                        assert!(
                            conn.stats().reconnects > connections,
                            "task {task}: GET found nothing on the connection that stored it"
                        );
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    (Ok(()), Ok(got)) => {
                        assert_eq!(got.as_deref(), Some(value.as_str()), "task {task}");
                        successes.fetch_add(1, Ordering::Relaxed);
                    }
                    (_, Err(e)) | (Err(e), _) => {
                        assert!(e.is_connection(), "unexpected error kind: {e:?}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    for outage_length in OUTAGES {
        more_rounds(&successes, 2_000).await;
        let failed_before = failures.load(Ordering::Relaxed);
        // Nothing succeeds while the server is away: a slot cleared then
        // (once the tasks have taken the replies that came before the kill)
        // is filled only by a command answered after the restart.
        let restarted = outage(server, outage_length);
        while conn.status().is_ok() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(outage_length / 2).await;
        for slot in first_ok.iter() {
            slot.store(u64::MAX, Ordering::Relaxed);
        }
        let ready;
        (server, ready) = restarted.await.expect("the restart did not panic");
        while first_ok
            .iter()
            .any(|s| s.load(Ordering::Relaxed) == u64::MAX)
        {
            assert!(ready.elapsed() < Duration::from_secs(5), "never recovered");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let ready = ready.duration_since(start);
        let recoveries: Vec<Duration> = first_ok
            .iter()
            .map(|s| Duration::from_nanos(s.load(Ordering::Relaxed)).saturating_sub(ready))
            .collect();
        let (median, max) = median_and_max(recoveries);
        let errors = failures.load(Ordering::Relaxed) - failed_before;
        eprintln!(
            "outage {outage_length:?}: commands flowed again {median:?} (median over {TASKS} tasks, \
             max {max:?}) after the server answered; {errors} errors"
        );
        // Only the rounds on the socket at the kill may fail; commands sent
        // while the server was away waited for it.
        assert!(
            errors <= TASKS,
            "{errors} errors, more than the {TASKS} in flight"
        );
        // Generous: the policy notices a return within 10 ms, but the
        // machine is shared.
        assert!(median < Duration::from_millis(100), "median {median:?}");
        assert!(max < Duration::from_secs(1), "max {max:?}");
    }

    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("no task panicked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_retry_reads_reads_in_flight_survive_a_kill_and_writes_are_never_sent_twice() {
    // Every write is on disk before it is acknowledged, so the counters
    // survive a kill -9 and show whether an INCR was applied twice.
    let mut server = RedisServer::builder()
        .arg("--appendonly")
        .arg("yes")
        .arg("--appendfsync")
        .arg("always")
        .start()
        .expect("server starts");
    let options = Options::default().with_retry_reads(true);
    let conn = PairedConnection::connect_with(&config(&server), options)
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let failed_writes = Arc::new(AtomicUsize::new(0));
    let failed_reads = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (conn, stop, rounds) = (conn.clone(), stop.clone(), rounds.clone());
        let (failed_writes, failed_reads) = (failed_writes.clone(), failed_reads.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("retry:{task}");
            // The value the last acknowledged INCR returned, and how many
            // INCRs failed since (each applied at most once, or not at all).
            let (mut last, mut unknown) = (0i64, 0i64);
            while !stop.load(Ordering::Relaxed) {
                let incr = conn.send::<i64>(cmd!("INCR", &key));
                let get = conn.send::<Option<i64>>(cmd!("GET", &key));
                let (incr, get) = (incr.await, get.await);
                let got = match get {
                    Ok(got) => got.unwrap_or(0),
                    Err(e) => {
                        assert!(e.is_connection(), "{e:?}");
                        failed_reads.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                match incr {
                    Ok(n) => {
                        assert!(
                            n > last && n <= last + 1 + unknown,
                            "task {task}: INCR gave {n} after {last} and {unknown} failed"
                        );
                        assert_eq!(got, n, "task {task}: GET after INCR");
                        (last, unknown) = (n, 0);
                    }
                    Err(e) => {
                        assert!(e.is_connection(), "{e:?}");
                        failed_writes.fetch_add(1, Ordering::Relaxed);
                        unknown += 1;
                        assert!(
                            (last..=last + unknown).contains(&got),
                            "task {task}: read {got} after {last} and {unknown} failed"
                        );
                    }
                }
                rounds.fetch_add(1, Ordering::Relaxed);
            }
            (key, last, unknown)
        }));
    }

    for _ in 0..3 {
        more_rounds(&rounds, 2_000).await;
        (server, _) = outage(server, Duration::from_millis(500))
            .await
            .expect("the restart did not panic");
    }
    more_rounds(&rounds, 2_000).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let (key, last, unknown) = task.await.expect("no task panicked");
        let n: Option<i64> = conn.send(cmd!("GET", &key)).await.unwrap();
        let n = n.unwrap_or(0);
        assert!((last..=last + unknown).contains(&n), "{key}: {n}, {last}");
    }
    let writes = failed_writes.load(Ordering::Relaxed);
    let reads = failed_reads.load(Ordering::Relaxed);
    let retried = conn.stats().retried_reads;
    eprintln!("3 kills: {writes} INCRs failed, {retried} GETs sent again, {reads} failed");
    assert_eq!(reads, 0, "a read in flight failed");
    assert!(retried > 0, "no read was in flight at any kill");
    assert!(writes > 0, "no write was in flight at any kill");
    assert!(writes <= 3 * TASKS, "{writes} writes failed");
}

#[tokio::test]
async fn a_command_sent_while_the_server_is_away_waits_for_it() {
    let mut server = RedisServer::start().expect("server starts");
    let conn = PairedConnection::connect(&config(&server)).await.unwrap();
    let _: () = conn.send(cmd!("SET", "wait:k", "before")).await.unwrap();
    server.kill();
    // The loss is noticed at once: the socket is closed.
    while conn.status().is_ok() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let set = conn.send::<()>(cmd!("SET", "wait:k", "after"));
    let get = conn.send::<Option<String>>(cmd!("GET", "wait:k"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.restart().expect("server restarts");
    set.await.expect("the SET waited for the server");
    assert_eq!(get.await.unwrap().as_deref(), Some("after"));
}

#[tokio::test]
async fn with_fail_fast_commands_fail_at_once_while_the_server_is_away() {
    let mut server = RedisServer::start().expect("server starts");
    let options = Options::default().with_fail_fast(true);
    let conn = PairedConnection::connect_with(&config(&server), options)
        .await
        .unwrap();
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    server.kill();
    while conn.status().is_ok() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let start = Instant::now();
    let err = conn.send::<String>(cmd!("PING")).await.unwrap_err();
    assert!(matches!(err, Error::Connection(_)), "{err:?}");
    assert!(
        start.elapsed() < options.response_timeout() / 2,
        "failed only after {:?}",
        start.elapsed()
    );
    server.restart().expect("server restarts");
    let recovery = time_to_recover(&conn).await;
    assert!(recovery < Duration::from_secs(1), "took {recovery:?}");
}

#[tokio::test]
async fn a_command_whose_time_ran_out_waiting_is_never_sent() {
    let mut server = RedisServer::start().expect("server starts");
    let conn = PairedConnection::connect(&config(&server)).await.unwrap();
    let _: String = conn.send(cmd!("PING")).await.unwrap();
    server.kill();
    while conn.status().is_ok() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The caller's 200 ms count from its call, though nothing is written.
    let start = Instant::now();
    let err = conn
        .send_with_timeout::<i64>(cmd!("INCR", "expired:n"), Some(Duration::from_millis(200)))
        .await
        .unwrap_err();
    let waited = start.elapsed();
    assert!(err.is_connection(), "{err:?}");
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_secs(2),
        "gave up after {waited:?}"
    );
    server.restart().expect("server restarts");
    let _ = time_to_recover(&conn).await;
    let n: Option<i64> = conn.send(cmd!("GET", "expired:n")).await.unwrap();
    assert_eq!(n, None, "a command its caller gave up on was sent late");
}

#[tokio::test]
async fn a_refused_password_on_reconnect_is_an_auth_error() {
    let server = RedisServer::builder()
        .password("first")
        .start()
        .expect("server starts");
    let config = config(&server).with_password("first");
    let conn = PairedConnection::connect(&config).await.unwrap();
    let admin = PairedConnection::connect(&config).await.unwrap();
    let _: () = admin
        .send(cmd!("CONFIG", "SET", "requirepass", "second"))
        .await
        .unwrap();
    let id: i64 = conn.send(cmd!("CLIENT", "ID")).await.unwrap();
    let _: i64 = admin.send(cmd!("CLIENT", "KILL", "ID", id)).await.unwrap();
    let err = conn
        .send_with_timeout::<String>(cmd!("PING"), Some(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert!(err.is_connection(), "{err}");
    assert_eq!(err.server_code(), Some("WRONGPASS"), "{err}");
    let status = conn.status().unwrap_err();
    assert!(status.is_auth(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_server_is_detected_while_blocking_commands_wait() {
    let server = RedisServer::start().expect("server starts");
    let options = Options::default().with_response_timeout(Duration::from_millis(300));
    let conn = PairedConnection::connect_with(&config(&server), options)
        .await
        .unwrap();
    let blocked: Vec<_> = (0..8)
        .map(|i| conn.send::<Option<(String, String)>>(cmd!("BLPOP", format!("paused:{i}"), 0)))
        .collect();
    let observer = PairedConnection::connect(&config(&server)).await.unwrap();
    wait_for_blocked(&observer, 8).await;

    server.pause();
    let start = Instant::now();
    let err = conn
        .send::<Option<String>>(cmd!("GET", "paused:k"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // The shared connection gave up on the server, and with it the
    // commands blocked on their own connections: none hangs.
    for reply in blocked {
        let result = timeout(Duration::from_secs(3), reply)
            .await
            .expect("a blocked caller hung on a paused server");
        let err = result.unwrap_err();
        assert!(err.is_connection(), "{err:?}");
    }
    assert!(start.elapsed() < Duration::from_secs(3));

    server.resume();
    let recovery = time_to_recover(&conn).await;
    assert!(recovery < Duration::from_secs(2), "took {recovery:?}");
    let _: i64 = conn.send(cmd!("RPUSH", "paused:0", "v")).await.unwrap();
    let popped: Option<(String, String)> = conn.send(cmd!("BLPOP", "paused:0", 1)).await.unwrap();
    assert_eq!(popped, Some(("paused:0".into(), "v".into())));
}

/// Waits until `n` clients are blocked in BLPOP.
async fn wait_for_blocked(observer: &PairedConnection, n: usize) {
    let start = Instant::now();
    loop {
        let clients: String = observer.send(cmd!("CLIENT", "LIST")).await.unwrap();
        if clients.lines().filter(|c| c.contains("cmd=blpop")).count() >= n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not blocked:\n{clients}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
                Err(Error::Timeout { .. })
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
