//! The client-side cache on a cluster of the test's own: what a node's
//! connection cached goes when the slots' owners change, even when no
//! invalidation comes for it.

use std::time::Duration;

use redis_cluster::{key_slot, ClusterConfig, ClusterConnection, NodeAddr};
use redis_paired::{CacheOptions, Options, PairedConnection};
use resp::cmd;
use tokio::time::Instant;
use xtask::RedisCluster;

/// The entries the cache of `addr`'s connection holds.
fn cached(conn: &ClusterConnection, addr: &NodeAddr) -> u64 {
    conn.node_stats()
        .into_iter()
        .find(|(node, _)| node == addr)
        .map_or(0, |(_, stats)| stats.cache_entries)
}

#[tokio::test]
async fn a_failover_empties_what_the_nodes_cached() {
    let cluster = RedisCluster::start().expect("the cluster starts");
    let options = Options::default().with_cache(CacheOptions::new(1 << 20));
    let config = ClusterConfig::from_urls(cluster.seed_urls())
        .unwrap()
        .with_options(options);
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let key = "cache:failover";
    let slot = key_slot(key.as_bytes());
    let _: () = conn.send(cmd!("SET", key, "1")).await.unwrap();
    for _ in 0..3 {
        let value: Option<String> = conn.send(cmd!("GET", key)).await.unwrap();
        assert_eq!(value.as_deref(), Some("1"));
    }
    let shard = conn
        .topology()
        .shard(slot)
        .cloned()
        .expect("the slot is served");
    assert_eq!(cached(&conn, &shard.primary), 1, "{:?}", conn.node_stats());
    let replica = shard
        .replicas
        .first()
        .expect("the shard has a replica")
        .clone();

    // An operator's failover: the replica takes over in agreement with its
    // primary, which stays up and serves on as a replica. No write touches
    // the key, so no invalidation comes for what the old primary's
    // connection cached.
    let url = format!("redis://{}:{}", replica.host, replica.port);
    let to_replica = PairedConnection::connect(&url.parse().unwrap())
        .await
        .unwrap();
    let _: () = to_replica.send(cmd!("CLUSTER", "FAILOVER")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = conn.refresh().await;
        if conn.topology().shard(slot).map(|s| &s.primary) == Some(&replica) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not take over:\n{}",
            cluster.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        cached(&conn, &shard.primary),
        0,
        "the old primary's connection still caches: {:?}",
        conn.node_stats()
    );
    let value: Option<String> = conn.send(cmd!("GET", key)).await.unwrap();
    assert_eq!(value.as_deref(), Some("1"));
}
