//! Live fault tests on a cluster each test starts for itself: a primary is
//! killed under load, a node stops answering. The client must follow the
//! cluster: no reply handed to the wrong caller, no call left hanging, and
//! service back within a bounded time.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis_cluster::{key_slot, ClusterConfig, ClusterConnection, Error};
use redis_paired::{Commands, Options};
use resp::cmd;
use tokio::time::{timeout, Instant};
use xtask::RedisCluster;

fn config(cluster: &RedisCluster) -> ClusterConfig {
    let options = Options::default().with_response_timeout(Duration::from_secs(10));
    ClusterConfig::from_urls(cluster.seed_urls())
        .unwrap()
        .with_options(options)
}

/// Tasks that SET then GET keys of their own, spread over every slot,
/// checking that each reads back its own value.
struct Load {
    stop: Arc<AtomicBool>,
    successes: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(conn: &ClusterConnection, tasks: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let successes = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(AtomicUsize::new(0));
        let tasks = (0..tasks)
            .map(|task| {
                let (conn, stop) = (conn.clone(), stop.clone());
                let (successes, failures) = (successes.clone(), failures.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let key = format!("load:{task}:{}", n % 16);
                        let value = format!("{task}:{n}");
                        let round = async {
                            conn.set(&key, &value).await?;
                            conn.get::<String>(&key).await
                        };
                        match timeout(Duration::from_secs(15), round).await {
                            Err(_) => panic!("task {task}: a call hung"),
                            Ok(Ok(got)) => {
                                // Replication is asynchronous: a failover
                                // between the SET and the GET may lose the
                                // write (an older value, or none). Another
                                // task's value would be a misrouted reply.
                                if let Some(got) = &got {
                                    assert!(
                                        got.starts_with(&format!("{task}:")),
                                        "task {task} got a foreign value {got}"
                                    );
                                }
                                successes.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Err(e)) => {
                                assert!(
                                    e.is_connection()
                                        || e.is_timeout()
                                        || matches!(e, Error::Io(_)),
                                    "task {task}: unexpected error {e:?}"
                                );
                                failures.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            successes,
            failures,
            tasks,
        }
    }

    async fn wait_for(&self, successes: usize) {
        let target = self.successes.load(Ordering::Relaxed) + successes;
        let start = Instant::now();
        while self.successes.load(Ordering::Relaxed) < target {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the load stalled"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("no task panicked");
        }
        (
            self.successes.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_is_followed_to_its_promoted_replica() {
    let mut cluster = RedisCluster::start().expect("the cluster starts");
    let conn = ClusterConnection::connect(&config(&cluster)).await.unwrap();
    let load = Load::start(&conn, 64);
    load.wait_for(2_000).await;

    let victim = cluster.primaries()[0].index();
    let victim_port = cluster.node(victim).port();
    cluster.node_mut(victim).kill();
    let killed = Instant::now();
    cluster.wait_for_ok().expect("a replica takes over");
    let promoted = killed.elapsed();

    // Every key is served again, the dead node's included.
    load.wait_for(2_000).await;
    let recovered = killed.elapsed();
    let topology = conn.topology();
    assert!(
        topology
            .shards()
            .iter()
            .all(|s| s.primary.port != victim_port),
        "the client still routes to the dead node: {topology:?}"
    );
    let (successes, failures) = load.stop().await;
    println!(
        "failover: promoted after {promoted:?}, all keys served again after {recovered:?}; \
         {successes} rounds ok, {failures} failed"
    );
    assert!(recovered < Duration::from_secs(30));
    // The restarted node rejoins as a replica; nothing changes for the client.
    cluster.node_mut(victim).restart().unwrap();
    cluster.wait_for_ok().unwrap();
    for i in 0..100 {
        let key = format!("after:{i}");
        conn.set(&key, i).await.unwrap();
        assert_eq!(conn.get::<i64>(&key).await.unwrap(), Some(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_times_out_then_the_cluster_recovers() {
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
