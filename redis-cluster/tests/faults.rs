//! Live fault tests on a cluster each test starts for itself: a primary is
//! killed or frozen under load, the whole cluster restarts. The client must
//! follow the cluster: no reply handed to the wrong caller, no call left
//! hanging, no error beyond the commands on the failed node's socket, and
//! service back within a bounded time. The two tests under load print what
//! they measured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis_cluster::{key_slot, ClusterConfig, ClusterConnection, Error};
use redis_paired::{Commands, Options, PairedConnection};
use resp::{cmd, Value};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use xtask::RedisCluster;

/// One test at a time: six nodes each, and the tests under load measure
/// latencies that a neighbour's cluster starting would distort.
static SERIAL: Mutex<()> = Mutex::const_new(());

fn config(cluster: &RedisCluster) -> ClusterConfig {
    let options = Options::default().with_response_timeout(Duration::from_secs(10));
    ClusterConfig::from_urls(cluster.seed_urls())
        .unwrap()
        .with_options(options)
}

/// Longer than any command may take: the response timeout (30 s by
/// default) and some room.
const HUNG: Duration = Duration::from_secs(40);

/// What one task of a [`Load`] saw.
#[derive(Debug, Default)]
struct Tally {
    /// When each command succeeded.
    successes: Vec<Instant>,
    /// The last value the cluster acknowledged for each key.
    acked: HashMap<String, String>,
    /// Reads that did not return the value just written: a write the
    /// failover lost (replication is asynchronous), not the client's doing.
    lost: usize,
    /// Commands that failed with a connection error: they were on the
    /// socket of the node that failed, and may have run.
    in_flight: usize,
    /// The first of those errors.
    in_flight_error: Option<String>,
    /// Replies that belonged to someone else: another task's value, or a
    /// reply of the wrong kind.
    wrong: Vec<String>,
    /// Any other error.
    other: Vec<String>,
}

impl Tally {
    fn failed(&mut self, error: Error) {
        match error {
            Error::Conversion { .. } => self.wrong.push(error.to_string()),
            e if e.is_connection() => {
                self.in_flight += 1;
                self.in_flight_error.get_or_insert(e.to_string());
            }
            e => self.other.push(e.to_string()),
        }
    }

    /// The longest this task went without a success, over the gaps that
    /// end after `from` (the one still open at `until` included).
    fn max_stall(&self, from: Instant, until: Instant) -> Duration {
        let mut longest = Duration::ZERO;
        for pair in self.successes.windows(2) {
            if pair[1] > from {
                longest = longest.max(pair[1] - pair[0]);
            }
        }
        if let Some(&last) = self.successes.last() {
            longest = longest.max(until.saturating_duration_since(last));
        }
        longest
    }

    /// The first success after `from`.
    fn first_after(&self, from: Instant) -> Option<Instant> {
        self.successes.iter().copied().find(|&t| t > from)
    }
}

/// How many of the writes the cluster acknowledged last for each key of
/// `tallies` are not what the key holds now.
async fn missing_writes<'a>(
    conn: &ClusterConnection,
    tallies: impl IntoIterator<Item = &'a Tally>,
) -> usize {
    let mut missing = 0;
    for tally in tallies {
        for (key, value) in &tally.acked {
            let now: Option<String> = conn.get(key).await.unwrap();
            if now.as_ref() != Some(value) {
                missing += 1;
            }
        }
    }
    missing
}

/// Tasks that each SET then GET keys of their own, checking that every
/// read returns the task's own value.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<Tally>>,
}

impl Load {
    /// One task for each set of keys.
    fn start(conn: &ClusterConnection, keys: Vec<Vec<String>>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = keys
            .into_iter()
            .enumerate()
            .map(|(task, keys)| {
                let (conn, stop) = (conn.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    let own = format!("{task}:");
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let key = &keys[n % keys.len()];
                        let value = format!("{task}:{n}");
                        let set = timeout(HUNG, conn.set(key, &value)).await;
                        match set.unwrap_or_else(|_| panic!("task {task}: a SET hung")) {
                            Ok(()) => {
                                tally.successes.push(Instant::now());
                                tally.acked.insert(key.clone(), value.clone());
                            }
                            Err(e) => {
                                tally.failed(e);
                                continue;
                            }
                        }
                        let get = timeout(HUNG, conn.get::<String>(key)).await;
                        match get.unwrap_or_else(|_| panic!("task {task}: a GET hung")) {
                            Ok(got) => {
                                tally.successes.push(Instant::now());
                                match got {
                                    Some(got) if got == value => {}
                                    Some(got) if !got.starts_with(&own) => tally.wrong.push(got),
                                    _ => tally.lost += 1,
                                }
                            }
                            Err(e) => tally.failed(e),
                        }
                    }
                    tally
                })
            })
            .collect();
        Load { stop, tasks }
    }

    async fn stop(self) -> Vec<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        let mut tallies = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            tallies.push(task.await.expect("no task panicked"));
        }
        tallies
    }
}

/// Writes every key once, so that every node's connection is open before
/// the load is measured.
async fn warm_up(conn: &ClusterConnection, keys: &[Vec<String>]) {
    for key in keys.iter().flatten() {
        let () = conn.set(key, "warm").await.unwrap();
    }
}

/// Polls `ROLE` of the replica at `port` until it says `master`; when.
fn watch_promotion(port: u16) -> JoinHandle<Instant> {
    tokio::spawn(async move {
        let node = PairedConnection::connect(&format!("redis://127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
        loop {
            if let Ok(Value::Array(role)) = node.send::<Value>(cmd!("ROLE")).await {
                if role.first().and_then(Value::as_bytes) == Some(&b"master"[..]) {
                    return Instant::now();
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

/// Polls `CLUSTER INFO` of the nodes at `ports` every few milliseconds
/// until `stop`: the time from the first `cluster_state:fail` any of them
/// reported to the first `ok` after the last one, when there was one.
fn watch_cluster_down(
    ports: Vec<u16>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Option<(Instant, Instant)>> {
    tokio::spawn(async move {
        let mut nodes = Vec::new();
        for port in ports {
            let url = format!("redis://127.0.0.1:{port}");
            nodes.push(
                PairedConnection::connect(&url.parse().unwrap())
                    .await
                    .unwrap(),
            );
        }
        let mut first_down = None;
        let mut last_down = vec![None; nodes.len()];
        let mut back = None;
        while !stop.load(Ordering::Relaxed) {
            for (i, node) in nodes.iter().enumerate() {
                let Ok(info) = node.send::<String>(cmd!("CLUSTER", "INFO")).await else {
                    continue;
                };
                let now = Instant::now();
                if info.contains("cluster_state:fail") {
                    first_down.get_or_insert(now);
                    last_down[i] = Some(now);
                    back = None;
                } else if last_down[i].is_some() && back.is_none() {
                    back = Some(now);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Some((first_down?, back?))
    })
}

/// `count` keys whose slots the primary at `port` serves, named `prefix:i`.
fn keys_on(conn: &ClusterConnection, port: u16, prefix: &str, count: usize) -> Vec<String> {
    let topology = conn.topology();
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| {
            topology
                .shard(key_slot(k.as_bytes()))
                .is_some_and(|s| s.primary.port == port)
        })
        .take(count)
        .collect()
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_is_followed_to_its_promoted_replica() {
    let _serial = SERIAL.lock().await;
    let mut cluster = RedisCluster::start().expect("the cluster starts");
    // The default options: a command waits out a failover within its 30 s.
    let config = ClusterConfig::from_urls(cluster.seed_urls()).unwrap();
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let victim = cluster.primaries()[0];
    let (victim_index, victim_port) = (victim.index(), victim.port());
    let replica_port = cluster
        .replicas()
        .iter()
        .find(|r| r.primary_id() == Some(victim.id()))
        .expect("the victim has a replica")
        .port();
    let healthy: Vec<u16> = cluster
        .primaries()
        .iter()
        .map(|n| n.port())
        .filter(|&p| p != victim_port)
        .collect();
    // 64 tasks, each with 32 keys spread over every slot.
    let keys: Vec<Vec<String>> = (0..64)
        .map(|t| (0..32).map(|i| format!("kill:{t}:{i}")).collect())
        .collect();
    warm_up(&conn, &keys).await;
    let load = Load::start(&conn, keys);
    let watching = Arc::new(AtomicBool::new(false));
    let down = watch_cluster_down(healthy, watching.clone());
    let promotion = watch_promotion(replica_port);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The cluster decides on its own: after the node timeout the others
    // mark the node failed, and its replica wins an election.
    let killed = Instant::now();
    cluster.node_mut(victim_index).kill();
    let promoted = timeout(Duration::from_secs(30), promotion)
        .await
        .expect("a replica takes over")
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let end = Instant::now();
    let tallies = load.stop().await;
    watching.store(true, Ordering::Relaxed);
    let window = down.await.unwrap();

    let in_flight: usize = tallies.iter().map(|t| t.in_flight).sum();
    let in_flight_error = tallies.iter().find_map(|t| t.in_flight_error.clone());
    // Replication is asynchronous: what the dead primary acknowledged in
    // its last instant may not have reached its replica.
    let missing = missing_writes(&conn, &tallies).await;
    let lost: usize = tallies.iter().map(|t| t.lost).sum();
    let ok: usize = tallies.iter().map(|t| t.successes.len()).sum();
    let other: Vec<&String> = tallies.iter().flat_map(|t| &t.other).collect();
    let wrong: Vec<&String> = tallies.iter().flat_map(|t| &t.wrong).collect();
    let stall = tallies
        .iter()
        .map(|t| t.max_stall(killed, end))
        .max()
        .unwrap_or_default();
    let back = tallies
        .iter()
        .map(|t| {
            t.first_after(promoted)
                .map_or(end - promoted, |at| at - promoted)
        })
        .max()
        .unwrap_or_default();
    let down_for = window.map_or(Duration::ZERO, |(from, to)| to - from);
    eprintln!(
        "kill -9 of a primary under 64 tasks: promoted {} ms after the kill, CLUSTERDOWN for {} ms; \
         {} commands in flight failed ({}), {} other errors, {} wrong replies; {} reads missed the \
         write before them, {} acknowledged writes missing afterwards; longest stall {} ms, every \
         task served {} ms after the promotion; {ok} commands ok",
        ms(promoted - killed),
        ms(down_for),
        in_flight,
        in_flight_error.as_deref().unwrap_or("-"),
        other.len(),
        wrong.len(),
        lost,
        missing,
        ms(stall),
        ms(back),
    );
    assert!(
        wrong.is_empty(),
        "replies handed to the wrong caller: {wrong:?}"
    );
    assert!(
        other.is_empty(),
        "errors beyond the commands in flight: {other:?}"
    );
    // A task has one command at a time on the dead node's socket; at
    // most one more if it sent it in the instant between the socket's
    // death and its connection marking itself down.
    assert!(in_flight <= 2 * 64, "{in_flight} commands failed");
    assert!(
        back < Duration::from_secs(1),
        "tasks served {back:?} after the promotion"
    );
    // Replication is asynchronous: at most what the dead primary
    // acknowledged in its last instant.
    assert!(missing <= 3, "{missing} acknowledged writes missing");
    let topology = conn.topology();
    assert!(
        topology
            .shards()
            .iter()
            .all(|s| s.primary.port != victim_port),
        "the client still routes to the dead node: {topology:?}"
    );

    // The restarted node rejoins as a replica; nothing changes for the client.
    cluster.node_mut(victim_index).restart().unwrap();
    cluster.wait_for_ok().unwrap();
    for i in 0..100 {
        let key = format!("after:{i}");
        conn.set(&key, i).await.unwrap();
        assert_eq!(conn.get::<i64>(&key).await.unwrap(), Some(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_primary_stalls_only_its_own_keys() {
    let _serial = SERIAL.lock().await;
    let mut cluster = RedisCluster::start().expect("the cluster starts");
    // The default options: 30 s before a command on the frozen node's
    // socket times out.
    let config = ClusterConfig::from_urls(cluster.seed_urls()).unwrap();
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let primaries: Vec<u16> = cluster.primaries().iter().map(|n| n.port()).collect();
    let victim = cluster.primaries()[0];
    let (victim_index, victim_port) = (victim.index(), victim.port());
    let replica_port = cluster
        .replicas()
        .iter()
        .find(|r| r.primary_id() == Some(victim.id()))
        .expect("the victim has a replica")
        .port();
    // 64 tasks, a third on the keys of each primary; task 0, 3, 6, ...
    // on the victim's.
    let on_victim = |task: usize| task % primaries.len() == 0;
    let keys: Vec<Vec<String>> = (0..64)
        .map(|t| {
            keys_on(
                &conn,
                primaries[t % primaries.len()],
                &format!("pause:{t}"),
                16,
            )
        })
        .collect();
    let victim_slot = key_slot(keys[0][0].as_bytes());
    warm_up(&conn, &keys).await;
    let load = Load::start(&conn, keys);
    let watching = Arc::new(AtomicBool::new(false));
    let down = watch_cluster_down(primaries[1..].to_vec(), watching.clone());
    let promotion = watch_promotion(replica_port);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Frozen longer than the node timeout: the cluster fails it over.
    let paused = Instant::now();
    cluster.node_mut(victim_index).pause();
    let promoted = timeout(Duration::from_secs(30), promotion)
        .await
        .expect("a replica takes over")
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Resumed, the old primary believes it still is one until it hears
    // from the others: its view of the slots must not win.
    cluster.node_mut(victim_index).resume();
    let resumed = Instant::now();
    while resumed.elapsed() < Duration::from_secs(1) {
        let _ = timeout(Duration::from_secs(5), conn.refresh()).await;
        let owner = conn.topology().shard(victim_slot).map(|s| s.primary.port);
        assert_ne!(
            owner,
            Some(victim_port),
            "the resumed old primary's view won"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end = Instant::now();
    let tallies = load.stop().await;
    watching.store(true, Ordering::Relaxed);
    let window = down.await.unwrap();

    let group = |frozen: bool| -> Vec<&Tally> {
        (tallies.iter().enumerate())
            .filter(|(t, _)| on_victim(*t) == frozen)
            .map(|(_, tally)| tally)
            .collect()
    };
    let (frozen, healthy) = (group(true), group(false));
    let healthy_errors: Vec<String> = healthy
        .iter()
        .flat_map(|t| {
            t.other
                .iter()
                .cloned()
                .chain((0..t.in_flight).map(|_| "connection".into()))
        })
        .collect();
    let frozen_in_flight: usize = frozen.iter().map(|t| t.in_flight).sum();
    let in_flight_error = frozen.iter().find_map(|t| t.in_flight_error.clone());
    cluster.wait_for_ok().unwrap();
    let healthy_missing = missing_writes(&conn, healthy.iter().copied()).await;
    let frozen_missing = missing_writes(&conn, frozen.iter().copied()).await;
    let frozen_other: Vec<&String> = frozen.iter().flat_map(|t| &t.other).collect();
    let wrong: Vec<&String> = tallies.iter().flat_map(|t| &t.wrong).collect();
    let lost: usize = tallies.iter().map(|t| t.lost).sum();
    let stall = healthy
        .iter()
        .map(|t| t.max_stall(paused, end))
        .max()
        .unwrap_or_default();
    let moved = frozen
        .iter()
        .filter_map(|t| t.first_after(promoted))
        .min()
        .map(|at| at - promoted);
    let down_for = window.map_or(Duration::ZERO, |(from, to)| to - from);
    eprintln!(
        "SIGSTOP of a primary under 64 tasks: promoted {} ms after the pause, CLUSTERDOWN for {} ms; \
         tasks on healthy primaries: longest stall {} ms, {} errors; the frozen node's keys served \
         {} ms after the promotion; {} commands on its socket failed ({}), {} other errors; {} \
         wrong replies; {} reads missed the write before them, acknowledged writes missing \
         afterwards: {} on the frozen node's keys, {} on the others",
        ms(promoted - paused),
        ms(down_for),
        ms(stall),
        healthy_errors.len(),
        moved.map_or("never".into(), |d| ms(d).to_string()),
        frozen_in_flight,
        in_flight_error.as_deref().unwrap_or("-"),
        frozen_other.len(),
        wrong.len(),
        lost,
        frozen_missing,
        healthy_missing,
    );
    assert!(
        wrong.is_empty(),
        "replies handed to the wrong caller: {wrong:?}"
    );
    assert!(healthy_errors.is_empty(), "{healthy_errors:?}");
    assert!(frozen_other.is_empty(), "{frozen_other:?}");
    assert!(frozen_in_flight <= frozen.len(), "{frozen_in_flight}");
    assert!(
        stall < down_for + Duration::from_secs(1),
        "tasks on healthy primaries stalled {stall:?}, the cluster was down {down_for:?}"
    );
    let moved = moved.expect("the frozen node's keys were never served again");
    assert!(moved < Duration::from_millis(1500), "{moved:?}");
    // No write the old primary acknowledges once replaced: what it took in
    // before it froze may only miss its replica by an instant's worth.
    assert_eq!(healthy_missing, 0);
    assert!(
        frozen_missing <= 3,
        "{frozen_missing} acknowledged writes missing"
    );

    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_times_out_then_the_cluster_recovers() {
    let _serial = SERIAL.lock().await;
    let mut cluster = RedisCluster::start().expect("the cluster starts");
    let options = Options::default().with_response_timeout(Duration::from_millis(500));
    let config = ClusterConfig::from_urls(cluster.seed_urls())
        .unwrap()
        .with_options(options);
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let victim = cluster.primaries()[0].index();
    let victim_port = cluster.node(victim).port();
    // A key the paused node serves.
    let key = (0..)
        .map(|i| format!("paused:{i}"))
        .find(|k| {
            conn.topology()
                .shard(key_slot(k.as_bytes()))
                .is_some_and(|s| s.primary.port == victim_port)
        })
        .unwrap();
    // Written on the node itself and waited for at its replica: Redis
    // replicates asynchronously, and a failover may lose what the replica
    // had not received yet.
    let node =
        redis_paired::PairedConnection::connect(&cluster.node(victim).url().parse().unwrap())
            .await
            .unwrap();
    let _: () = node.send(cmd!("SET", &key, "v")).await.unwrap();
    let acked: i64 = node.send(cmd!("WAIT", 1, 5000)).await.unwrap();
    assert_eq!(acked, 1);

    cluster.node_mut(victim).pause();
    let start = Instant::now();
    let err = timeout(Duration::from_secs(5), conn.get::<String>(&key))
        .await
        .expect("a call to a paused node hung")
        .unwrap_err();
    assert!(err.is_timeout() || err.is_connection(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    // The cluster fails the paused primary over; the client follows.
    cluster.wait_for_ok().expect("a replica takes over");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match timeout(Duration::from_secs(5), conn.get::<String>(&key)).await {
            Ok(Ok(value)) => {
                assert_eq!(value.as_deref(), Some("v"));
                break;
            }
            Ok(Err(_)) | Err(_) => {
                assert!(Instant::now() < deadline, "never recovered");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    cluster.node_mut(victim).resume();
    cluster.wait_for_ok().unwrap();
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_cluster_restart_is_survived() {
    let _serial = SERIAL.lock().await;
    let mut cluster = RedisCluster::start().expect("the cluster starts");
    let options = Options::default().with_response_timeout(Duration::from_secs(2));
    let config = config(&cluster).with_options(options);
    let conn = ClusterConnection::connect(&config).await.unwrap();
    for i in 0..50 {
        conn.set(format!("restart:{i}"), i).await.unwrap();
    }
    let nodes = cluster.nodes().len();
    for i in 0..nodes {
        cluster.node_mut(i).kill();
    }
    // Every node is gone: a command fails (bounded), it does not hang.
    let down = timeout(Duration::from_secs(5), conn.get::<i64>("restart:1"))
        .await
        .expect("a call hung with the cluster down");
    assert!(down.is_err(), "{down:?}");
    for i in 0..nodes {
        cluster.node_mut(i).restart().expect("the node restarts");
    }
    cluster.wait_for_ok().expect("the cluster is ok again");
    // The data did not survive (the nodes persist nothing); the client did.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match timeout(Duration::from_secs(5), conn.set("restart:after", 1)).await {
            Ok(Ok(())) => break,
            _ => {
                assert!(Instant::now() < deadline, "never recovered");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    for i in 0..50 {
        let key = format!("restart:again:{i}");
        conn.set(&key, i).await.unwrap();
        assert_eq!(conn.get::<i64>(&key).await.unwrap(), Some(i));
    }
}

/// How many GETs the node at `port` has served.
async fn gets_served(port: u16) -> u64 {
    let node = redis_paired::PairedConnection::connect(
        &format!("redis://127.0.0.1:{port}").parse().unwrap(),
    )
    .await
    .unwrap();
    let stats: String = node.send(cmd!("INFO", "commandstats")).await.unwrap();
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_replicas_when_asked_and_to_the_primary_without_them() {
    let _serial = SERIAL.lock().await;
    let mut cluster = RedisCluster::start().expect("the cluster starts");
    let config = config(&cluster).with_read_from_replicas(true);
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let keys: Vec<String> = (0..60).map(|i| format!("replicated:{i}")).collect();
    for key in &keys {
        conn.set(key, "v").await.unwrap();
    }
    let replica_ports: Vec<u16> = cluster.replicas().iter().map(|n| n.port()).collect();
    let before: u64 = {
        let mut total = 0;
        for &port in &replica_ports {
            total += gets_served(port).await;
        }
        total
    };
    // Replicas catch up asynchronously, and their connections open in the
    // background: read until every key has been seen from a replica.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for key in &keys {
            let value: Option<String> = conn.get(key).await.unwrap();
            assert!(matches!(value.as_deref(), Some("v") | None), "{value:?}");
        }
        let mut total = 0;
        for &port in &replica_ports {
            total += gets_served(port).await;
        }
        if total >= before + keys.len() as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "no read reached a replica");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Writes still go to the primaries.
    conn.set("replicated:write", "w").await.unwrap();

    // Without its replica, a shard's reads go to its primary.
    let replica = cluster.replicas()[0].index();
    cluster.node_mut(replica).kill();
    for key in &keys {
        let value = timeout(Duration::from_secs(5), conn.get::<String>(key))
            .await
            .expect("a read hung");
        match value {
            Ok(value) => assert!(matches!(value.as_deref(), Some("v") | None)),
            // A read on the replica's socket when it died.
            Err(e) => assert!(e.is_connection(), "{e:?}"),
        }
    }
    // Every read is answered, and once the replicas have caught up, with
    // the value.
    let deadline = Instant::now() + Duration::from_secs(10);
    for key in &keys {
        loop {
            match conn.get::<String>(key).await.unwrap().as_deref() {
                Some("v") => break,
                other => {
                    assert!(Instant::now() < deadline, "{key}: {other:?}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_subscription_follows_its_slot_through_a_failover() {
    use futures_util::StreamExt;
    use redis_pubsub::Event;
    let _serial = SERIAL.lock().await;
    let mut cluster = RedisCluster::start().expect("the cluster starts");
    let conn = ClusterConnection::connect(&config(&cluster)).await.unwrap();
    let channel = "{shard}:events";
    let owner_port = conn
        .topology()
        .shard(key_slot(b"shard"))
        .unwrap()
        .primary
        .port;
    let mut sub = conn.ssubscribe(channel).await.unwrap();
    let mut global = conn.subscribe("everyone").await.unwrap();
    let _: i64 = conn
        .send(cmd!("SPUBLISH", channel, "before"))
        .await
        .unwrap();
    let first = timeout(Duration::from_secs(5), sub.next()).await.unwrap();
    assert!(
        matches!(&first, Some(Event::Message(m)) if m.payload_str() == Ok("before")),
        "{first:?}"
    );

    let victim = cluster
        .nodes()
        .iter()
        .position(|n| n.port() == owner_port)
        .unwrap();
    cluster.node_mut(victim).kill();
    cluster.wait_for_ok().expect("a replica takes over");
    let mut events = Vec::new();
    loop {
        let event = timeout(Duration::from_secs(15), sub.next())
            .await
            .expect("the subscription never moved")
            .expect("the stream ended");
        let resubscribed = matches!(event, Event::Resubscribed);
        events.push(format!("{event:?}"));
        if resubscribed {
            break;
        }
    }
    assert!(events[0].starts_with("Disconnected"), "{events:?}");
    // The new owner serves the channel.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match conn.send::<i64>(cmd!("SPUBLISH", channel, "after")).await {
            Ok(1) => break,
            other => {
                assert!(Instant::now() < deadline, "never published: {other:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let after = timeout(Duration::from_secs(5), sub.next()).await.unwrap();
    assert!(
        matches!(&after, Some(Event::Message(m)) if m.payload_str() == Ok("after")),
        "{after:?}"
    );
    // A global subscription keeps working whichever node it was on.
    let _: i64 = conn
        .send(cmd!("PUBLISH", "everyone", "still"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match timeout(Duration::from_secs(10), global.next()).await {
            Ok(Some(Event::Message(m))) => {
                assert_eq!(m.payload_str(), Ok("still"));
                break;
            }
            Ok(Some(_)) => {
                // Disconnected / Resubscribed if it lived on the dead node;
                // publish again once it is back.
                let _: Result<i64, _> = conn.send(cmd!("PUBLISH", "everyone", "still")).await;
            }
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline);
    }
}
