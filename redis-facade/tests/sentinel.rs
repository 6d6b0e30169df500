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

/// 64 tasks that SET then GET their own keys, checking every value.
fn load(
    conn: &PairedConnection,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicUsize::new(0));
    let tasks = (0..64)
        .map(|task| {
            let (conn, stop, successes) = (conn.clone(), stop.clone(), successes.clone());
            tokio::spawn(async move {
                let key = format!("sentinel:{task}");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let value = format!("{task}:{n}");
                    let round = async {
                        conn.set(&key, &value).await?;
                        conn.get::<String>(&key).await
                    };
                    match timeout(Duration::from_secs(15), round).await {
                        Err(_) => panic!("task {task}: a call hung"),
                        Ok(Ok(got)) => {
                            // Replication is asynchronous: a failover
                            // between the SET and the GET may lose the write
                            // (an older value, or none). Another task's
                            // value would be a misrouted reply.
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
                                    || e.server_code() == Some("READONLY"),
                                "task {task}: {e:?}"
                            );
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            })
        })
        .collect();
    (stop, successes, tasks)
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_is_followed_under_load() {
    let mut setup = RedisSentinel::start().expect("the sentinel setup starts");
    let options = Options::default().with_response_timeout(Duration::from_secs(5));
    let conn = PairedConnection::connect_with(&config(&setup), options)
        .await
        .unwrap();
    let first = setup.master().port();
    assert_eq!(port_of(&conn).await, first);
    let (stop, successes, tasks) = load(&conn);
    wait_for_successes(&successes, 1_000).await;

    setup.failover().expect("the sentinels fail over");
    let second = setup.current_master_port().unwrap();
    assert_ne!(second, first);
    let recovered = wait_for_successes(&successes, 1_000).await;
    assert_eq!(
        port_of(&conn).await,
        second,
        "the connection follows the master"
    );

    // The new master dies: the old one is promoted back.
    setup.master_mut().kill();
    setup
        .wait_for_master(first)
        .expect("the replica takes over");
    let after_kill = wait_for_successes(&successes, 1_000).await;
    assert_eq!(port_of(&conn).await, first);
    println!("served again {recovered:?} after a failover, {after_kill:?} after a promotion");
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("no task panicked");
    }
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
