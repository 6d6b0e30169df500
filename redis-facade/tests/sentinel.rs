//! Live tests against a real Sentinel setup of their own (a master, a
//! replica, three sentinels): connections find the master through the
//! sentinels and follow it through failovers under load.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis_facade::{
    cmd, Commands, ConnectionConfig, Error, Event, Options, PairedConnection, Pool, PoolOptions,
    PubsubConnection,
};
use tokio::time::{timeout, Instant};
use xtask::RedisSentinel;

fn config(setup: &RedisSentinel) -> ConnectionConfig {
    let hosts: Vec<String> = setup
        .sentinel_ports()
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    format!(
        "redis+sentinel://{}/{}",
        hosts.join(","),
        setup.master_name()
    )
    .parse::<ConnectionConfig>()
    .unwrap()
    .with_connect_timeout(Duration::from_millis(500))
}

/// The port of the node a connection is on.
async fn port_of(conn: &PairedConnection) -> u16 {
    let info: String = conn.send(cmd!("INFO", "server")).await.unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("tcp_port:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap()
}

/// What one writing task saw: the values the server acknowledged, in
/// order, when each was acknowledged, and the errors.
#[derive(Default)]
struct Written {
    acked: Vec<(u64, Instant)>,
    errors: Vec<Error>,
}

/// 64 tasks, each appending 1, 2, 3, ... to a list of its own (`RPUSH`),
/// one command at a time, as a caller that awaits each write would; each
/// returns what it saw once `stop` is set.
fn write_load(
    conn: &PairedConnection,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    Vec<tokio::task::JoinHandle<Written>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicUsize::new(0));
    let tasks = (0..TASKS)
        .map(|task| {
            let (conn, stop, successes) = (conn.clone(), stop.clone(), successes.clone());
            tokio::spawn(async move {
                let key = list(task);
                let mut written = Written::default();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    match timeout(Duration::from_secs(30), conn.rpush(&key, n)).await {
                        Err(_) => panic!("task {task}: a call hung"),
                        Ok(Ok(_)) => {
                            written.acked.push((n, Instant::now()));
                            successes.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Err(e)) => {
                            written.errors.push(e);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                written
            })
        })
        .collect();
    (stop, successes, tasks)
}

const TASKS: usize = 64;

async fn wait_for_successes(successes: &AtomicUsize, more: usize) -> Duration {
    let start = Instant::now();
    let target = successes.load(Ordering::Relaxed) + more;
    while successes.load(Ordering::Relaxed) < target {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the load never recovered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

fn list(task: usize) -> String {
    format!("sentinel:list:{task}")
}

/// Stops the load and counts, on the node on `port` (the master that
/// survives), the acknowledged values that are not there.
async fn lost_writes(
    port: u16,
    stop: &AtomicBool,
    tasks: Vec<tokio::task::JoinHandle<Written>>,
) -> (usize, usize, Vec<Written>) {
    stop.store(true, Ordering::Relaxed);
    let mut written = Vec::new();
    for task in tasks {
        written.push(task.await.expect("no task panicked"));
    }
    let survivor = PairedConnection::connect(
        &format!("redis://127.0.0.1:{port}")
            .parse::<ConnectionConfig>()
            .unwrap(),
    )
    .await
    .unwrap();
    let (mut acked, mut lost) = (0, 0);
    for (task, seen) in written.iter().enumerate() {
        let present: Vec<u64> = survivor.lrange(list(task), 0, -1).await.unwrap();
        let present: std::collections::HashSet<u64> = present.into_iter().collect();
        acked += seen.acked.len();
        lost += seen
            .acked
            .iter()
            .filter(|(n, _)| !present.contains(n))
            .count();
    }
    (acked, lost, written)
}

/// Subscribes to a sentinel's `+switch-master` announcements and says when
/// the first arrives, as a client of the sentinel sees it.
async fn switch_announced(setup: &RedisSentinel) -> tokio::task::JoinHandle<Instant> {
    announced(setup, "+switch-master").await
}

/// Subscribes to `channel` on the first sentinel and says when the first
/// message arrives.
async fn announced(setup: &RedisSentinel, channel: &str) -> tokio::task::JoinHandle<Instant> {
    use futures_util::StreamExt;
    let sentinel = format!("redis://127.0.0.1:{}", setup.sentinel_ports()[0]);
    let pubsub = PubsubConnection::connect(&sentinel.parse().unwrap())
        .await
        .unwrap();
    let mut messages = pubsub.subscribe(channel).await.unwrap();
    tokio::spawn(async move {
        let _keep = pubsub;
        loop {
            match messages.next().await {
                Some(Event::Message(_)) => return Instant::now(),
                Some(_) => {}
                None => panic!("the sentinel subscription ended"),
            }
        }
    })
}

/// How long after `at` each task's first acknowledged write came: the
/// median and the longest, in milliseconds.
fn first_success_after(written: &[Written], at: Instant) -> (f64, f64) {
    let mut after: Vec<f64> = written
        .iter()
        .filter_map(|w| w.acked.iter().find(|(_, when)| *when >= at))
        .map(|(_, when)| (*when - at).as_secs_f64() * 1000.0)
        .collect();
    assert_eq!(
        after.len(),
        written.len(),
        "every task wrote after the switch"
    );
    after.sort_by(f64::total_cmp);
    (after[after.len() / 2], after[after.len() - 1])
}

/// A planned failover (`SENTINEL FAILOVER`) as the sentinels carry it out,
/// with nothing done by hand: the old master goes on as a writable master
/// for seconds after the promotion, until the sentinels make it a replica
/// and its resync throws away what it took. Writes held back from the
/// failover's first step and moved at `+switch-master` are never sent to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_failover_loses_no_acknowledged_write() {
    use futures_util::StreamExt;
    let mut setup = RedisSentinel::start().expect("the sentinel setup starts");
    let config = config(&setup);
    let options = Options::default().with_response_timeout(Duration::from_secs(20));
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    let pool = Pool::new(&config, PoolOptions::new());
    drop(pool.get().await.unwrap()); // one idle connection to the old master
    let pubsub = PubsubConnection::connect(&config).await.unwrap();
    let mut news = pubsub.subscribe("sentinel-news").await.unwrap();
    // When the subscription is made again, on the new master.
    let resubscribed = tokio::spawn(async move {
        loop {
            match news.next().await {
                Some(Event::Resubscribed) => return (Instant::now(), news),
                Some(_) => {}
                None => panic!("the subscription ended"),
            }
        }
    });
    let first = setup.master().port();
    let switch = switch_announced(&setup).await;
    let (stop, successes, tasks) = write_load(&conn);
    wait_for_successes(&successes, 1_000).await;
    setup.failover().expect("the sentinels fail over");
    let second = setup.master().port();
    assert_ne!(second, first);
    let switched = timeout(Duration::from_secs(20), switch)
        .await
        .unwrap()
        .unwrap();
    wait_for_successes(&successes, 1_000).await;
    // Writes go on to the new master while the old one still takes them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (acked, lost, written) = lost_writes(second, &stop, tasks).await;
    let (median, max) = first_success_after(&written, switched);
    let errors: Vec<&Error> = written.iter().flat_map(|w| &w.errors).collect();
    let (resubscribed, mut news) = timeout(Duration::from_secs(5), resubscribed)
        .await
        .expect("the subscription moved")
        .unwrap();
    eprintln!(
        "planned failover: {acked} writes acknowledged, {lost} lost, {} errors; \
         after +switch-master the tasks wrote again in {median:.1} ms (median), {max:.1} ms (max), \
         the subscription was made again in {:.1} ms",
        errors.len(),
        (resubscribed - switched).as_secs_f64() * 1000.0
    );
    assert!(
        errors.is_empty(),
        "nothing was on a dead socket: {errors:?}"
    );
    assert_eq!(lost, 0, "acknowledged writes the new master never got");
    assert_eq!(port_of(&conn).await, second, "the connection moved");
    let pooled = pool.get().await.unwrap();
    let info: String = pooled.send(cmd!("INFO", "server")).await.unwrap();
    assert!(
        info.contains(&format!("tcp_port:{second}")),
        "the pool moved"
    );

    // The subscription moved: a message published on the new master
    // reaches it.
    let heard: i64 = conn
        .send(cmd!("PUBLISH", "sentinel-news", "moved"))
        .await
        .unwrap();
    assert_eq!(heard, 1);
    match timeout(Duration::from_secs(5), news.next()).await {
        Ok(Some(Event::Message(m))) => assert_eq!(m.payload_str(), Ok("moved")),
        other => panic!("{other:?}"),
    }
}

/// The master killed (`kill -9`) under load: the sentinels take seconds to
/// agree it is down and promote its replica. Only the writes on its socket
/// fail; the rest wait and go to the new master as soon as it is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_is_replaced_losing_only_what_was_in_flight() {
    let mut setup = RedisSentinel::start().expect("the sentinel setup starts");
    let options = Options::default().with_response_timeout(Duration::from_secs(20));
    let conn = PairedConnection::connect_with(&config(&setup), options)
        .await
        .unwrap();
    let switch = switch_announced(&setup).await;
    let (stop, successes, tasks) = write_load(&conn);
    wait_for_successes(&successes, 1_000).await;

    let replica = setup.replica().port();
    setup.master_mut().kill();
    setup
        .wait_for_master(replica)
        .expect("the replica takes over");
    let switched = timeout(Duration::from_secs(20), switch)
        .await
        .unwrap()
        .unwrap();
    wait_for_successes(&successes, 1_000).await;
    let (acked, lost, written) = lost_writes(replica, &stop, tasks).await;
    let (median, max) = first_success_after(&written, switched);
    let errors: Vec<&Error> = written.iter().flat_map(|w| &w.errors).collect();
    eprintln!(
        "kill -9 of the master: {acked} writes acknowledged, {lost} lost, {} errors; \
         after +switch-master the tasks wrote again in {median:.1} ms (median), {max:.1} ms (max)",
        errors.len()
    );
    for error in &errors {
        assert!(
            error.is_connection(),
            "only what was in flight fails: {error:?}"
        );
    }
    assert!(errors.len() <= TASKS, "one write in flight a task at most");
    // What the master acknowledged in its last moment may not have reached
    // its replica: asynchronous replication. A few at most.
    assert!(lost <= TASKS, "{lost} acknowledged writes lost");
    assert_eq!(port_of(&conn).await, replica);
}

/// A failover the sentinels give up: the replica they picked froze
/// (`SIGSTOP`) and never took the promotion, so the leader aborts after
/// its failover timeout. What was held back meanwhile goes to the master
/// that stays: nothing fails, nothing is lost, and the connection stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_failover_releases_what_was_held_to_the_master() {
    let setup = RedisSentinel::start().expect("the sentinel setup starts");
    let options = Options::default().with_response_timeout(Duration::from_secs(20));
    let conn = PairedConnection::connect_with(&config(&setup), options)
        .await
        .unwrap();
    let master = setup.master().port();
    let aborted = announced(&setup, "-failover-abort-slave-timeout").await;
    let (stop, successes, tasks) = write_load(&conn);
    wait_for_successes(&successes, 1_000).await;

    setup.replica().pause();
    let sentinel = format!("redis://127.0.0.1:{}", setup.sentinel_ports()[0]);
    let sentinel = PairedConnection::connect(&sentinel.parse().unwrap())
        .await
        .unwrap();
    let () = sentinel
        .send(cmd!("SENTINEL", "FAILOVER", setup.master_name()))
        .await
        .expect("the sentinel starts a failover");
    let aborted = timeout(Duration::from_secs(20), aborted)
        .await
        .expect("the sentinel gives up")
        .unwrap();
    wait_for_successes(&successes, 1_000).await;
    let (acked, lost, written) = lost_writes(master, &stop, tasks).await;
    let (median, max) = first_success_after(&written, aborted);
    let errors: Vec<&Error> = written.iter().flat_map(|w| &w.errors).collect();
    eprintln!(
        "aborted failover: {acked} writes acknowledged, {lost} lost, {} errors; \
         after -failover-abort-slave-timeout the tasks wrote again in {median:.1} ms (median), {max:.1} ms (max)",
        errors.len()
    );
    setup.replica().resume();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(lost, 0);
    assert_eq!(port_of(&conn).await, master, "the connection stayed");
}

#[tokio::test]
async fn a_pool_and_subscriptions_follow_the_master() {
    use futures_util::StreamExt;
    let mut setup = RedisSentinel::start().expect("the sentinel setup starts");
    let config = config(&setup);
    let pool = Pool::new(
        &config,
        PoolOptions::new().with_check_after_idle(Duration::ZERO),
    );
    let pubsub = PubsubConnection::connect(&config).await.unwrap();
    let mut news = pubsub.subscribe("sentinel-news").await.unwrap();
    let publisher = PairedConnection::connect(&config).await.unwrap();

    let first = setup.master().port();
    setup.master_mut().kill();
    let second = setup.replica().port();
    setup
        .wait_for_master(second)
        .expect("the replica takes over");

    // A pooled connection found dead is replaced by one to the new master.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = async {
            let conn = pool.get().await?;
            conn.set("sentinel:pool", "v").await
        };
        match attempt.await {
            Ok(()) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "the pool never recovered: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // The subscription was made again at the new master.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match timeout(Duration::from_secs(20), news.next()).await {
            Ok(Some(Event::Resubscribed)) => break,
            Ok(Some(_)) => {}
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline);
    }
    let heard: i64 = loop {
        match publisher
            .send(cmd!("PUBLISH", "sentinel-news", "moved"))
            .await
        {
            Ok(n) => break n,
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(heard, 1);
    match timeout(Duration::from_secs(5), news.next()).await {
        Ok(Some(Event::Message(m))) => assert_eq!(m.payload_str(), Ok("moved")),
        other => panic!("{other:?}"),
    }
    assert_ne!(first, second);
}

#[tokio::test]
async fn an_unknown_master_name_is_a_clear_error() {
    let setup = RedisSentinel::start().expect("the sentinel setup starts");
    let hosts: Vec<String> = setup
        .sentinel_ports()
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let url = format!("redis+sentinel://{}/nosuchmaster", hosts.join(","));
    let err = PairedConnection::connect(&url.parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("no sentinel monitors"), "{err}");
}

#[tokio::test]
async fn reads_can_go_to_a_replica() {
    let setup = RedisSentinel::start().expect("the sentinel setup starts");
    let master = PairedConnection::connect(&config(&setup)).await.unwrap();
    master.set("sentinel:replicated", "v").await.unwrap();
    let acked: i64 = master.send(cmd!("WAIT", 1, 5000)).await.unwrap();
    assert_eq!(acked, 1);
    let replica_config = config(&setup).with_sentinel_replica(true);
    let replica = PairedConnection::connect(&replica_config).await.unwrap();
    assert_eq!(port_of(&replica).await, setup.replica().port());
    let value: Option<String> = replica.get("sentinel:replicated").await.unwrap();
    assert_eq!(value.as_deref(), Some("v"));
    // A replica refuses writes; that is no failover, and the connection
    // stays where it is.
    let err = replica.set("sentinel:nope", "x").await.unwrap_err();
    assert_eq!(err.server_code(), Some("READONLY"), "{err}");
    assert_eq!(port_of(&replica).await, setup.replica().port());
    let url = format!(
        "{}?sentinel_role=replica",
        replica_config.to_string().split('?').next().unwrap()
    );
    let parsed: ConnectionConfig = url.parse().unwrap();
    assert!(parsed.sentinel_replica());
}

/// The blocking client behind sentinels, from plain threads: it follows a
/// planned failover like the async connections, losing no acknowledged
/// write and failing none.
#[cfg(feature = "blocking")]
#[test]
fn the_blocking_client_follows_a_failover_losing_nothing() {
    use std::sync::atomic::AtomicU64;

    let mut setup = RedisSentinel::start().expect("the sentinel setup starts");
    let client = redis_facade::blocking::Client::open(config(&setup).to_string()).unwrap();
    let conn = client.paired().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writer = {
        let (conn, stop, acked) = (conn.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut errors = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                match conn.rpush("sentinel:blocking", n).wait() {
                    Ok(_) => acked.store(n, Ordering::Relaxed),
                    Err(e) => errors.push(e),
                }
            }
            errors
        })
    };
    let wait_for = |more: u64| {
        let target = acked.load(Ordering::Relaxed) + more;
        let start = std::time::Instant::now();
        while acked.load(Ordering::Relaxed) < target {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the writer stalled"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(200);
    setup.failover().expect("the sentinels fail over");
    let second = setup.master().port();
    wait_for(200);
    stop.store(true, Ordering::Relaxed);
    let errors = writer.join().expect("the writer did not panic");
    assert!(errors.is_empty(), "{errors:?}");
    let last = acked.load(Ordering::Relaxed);
    let survivor = redis_facade::blocking::Client::open(format!("redis://127.0.0.1:{second}"))
        .unwrap()
        .paired()
        .unwrap();
    let present: Vec<u64> = survivor.lrange("sentinel:blocking", 0, -1).wait().unwrap();
    assert_eq!(
        present,
        (1..=last).collect::<Vec<_>>(),
        "every acknowledged write, once, in order"
    );
    let info: String = conn.send(cmd!("INFO", "server")).wait().unwrap();
    assert!(
        info.contains(&format!("tcp_port:{second}")),
        "the connection moved"
    );
}
