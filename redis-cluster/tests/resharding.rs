//! Live resharding under load: a slot moves from one primary to another
//! (`CLUSTER SETSLOT ... IMPORTING/MIGRATING`, `MIGRATE`, `SETSLOT ... NODE`)
//! while tasks increment their counters in it. Every increment must land
//! exactly once: `ASK` and `MOVED` are followed, nothing is lost or sent
//! twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis_cluster::{key_slot, ClusterConnection, NodeAddr};
use redis_paired::{Commands, PairedConnection};
use resp::cmd;
use tokio::time::timeout;

mod support;
use support::Cluster;

async fn node(addr: &NodeAddr) -> PairedConnection {
    PairedConnection::connect(&format!("redis://{addr}").parse().unwrap())
        .await
        .unwrap()
}

/// The two primaries of a slot's migration: its owner and another.
struct Migration {
    source: PairedConnection,
    target: PairedConnection,
    source_addr: NodeAddr,
    target_addr: NodeAddr,
    source_id: String,
    target_id: String,
}

impl Migration {
    /// The slot is migrating from the source to the target.
    async fn begin(&self, slot: u16) {
        let _: () = self
            .target
            .send(cmd!(
                "CLUSTER",
                "SETSLOT",
                slot,
                "IMPORTING",
                &self.source_id
            ))
            .await
            .unwrap();
        let _: () = self
            .source
            .send(cmd!(
                "CLUSTER",
                "SETSLOT",
                slot,
                "MIGRATING",
                &self.target_id
            ))
            .await
            .unwrap();
    }

    async fn of(conn: &ClusterConnection, slot: u16) -> Migration {
        let topology = conn.topology();
        let source_addr = topology.shard(slot).unwrap().primary.clone();
        let target_addr = topology
            .shards()
            .iter()
            .map(|s| s.primary.clone())
            .find(|p| *p != source_addr)
            .unwrap();
        let (source, target) = (node(&source_addr).await, node(&target_addr).await);
        let source_id: String = source.send(cmd!("CLUSTER", "MYID")).await.unwrap();
        let target_id: String = target.send(cmd!("CLUSTER", "MYID")).await.unwrap();
        Migration {
            source,
            target,
            source_addr,
            target_addr,
            source_id,
            target_id,
        }
    }
}

/// Ends a migration: every primary learns that `slot` is `target_id`'s.
async fn settle(conn: &ClusterConnection, slot: u16, target_id: &str) {
    for primary in conn.topology().shards().iter().map(|s| s.primary.clone()) {
        let _: () = node(&primary)
            .await
            .send(cmd!("CLUSTER", "SETSLOT", slot, "NODE", target_id))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_under_load_loses_and_repeats_nothing() {
    let cluster = Cluster::get();
    let conn = ClusterConnection::connect(&cluster.config()).await.unwrap();
    let tag = "{reshard}";
    let slot = key_slot(b"reshard");
    let migration = Migration::of(&conn, slot).await;
    let Migration {
        source,
        target_addr,
        target_id,
        ..
    } = &migration;

    // Tasks count on keys of the slot, each checking that every INCR is
    // exactly one more than the last.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..64 {
        let (conn, stop) = (conn.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("{tag}:counter:{task}");
            let _: i64 = conn.send(cmd!("DEL", &key)).await.unwrap();
            let mut count = 0;
            while !stop.load(Ordering::Relaxed) {
                let n = timeout(Duration::from_secs(10), conn.incr(&key))
                    .await
                    .expect("an INCR hung")
                    .unwrap_or_else(|e| panic!("task {task}: INCR failed: {e}"));
                count += 1;
                assert_eq!(n, count, "task {task}: an increment was lost or repeated");
            }
            (key, count)
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Move the slot, a few keys at a time, while the tasks run.
    migration.begin(slot).await;
    loop {
        let keys: Vec<String> = source
            .send(cmd!("CLUSTER", "GETKEYSINSLOT", slot, 3))
            .await
            .unwrap();
        if keys.is_empty() {
            break;
        }
        let _: String = source
            .send(cmd!(
                "MIGRATE",
                &target_addr.host,
                target_addr.port,
                "",
                0,
                5000,
                "KEYS",
                keys
            ))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    settle(&conn, slot, target_id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let (key, count) = task.await.expect("no task panicked");
        let stored: Option<i64> = conn.get(&key).await.unwrap();
        assert_eq!(stored, Some(count), "{key}");
    }
    assert_eq!(
        conn.topology().shard(slot).unwrap().primary,
        *target_addr,
        "the client learned the new owner"
    );
    let stats = conn.stats();
    println!("{stats:?}");
    assert!(stats.moved > 0, "{stats:?}");
}

#[tokio::test]
async fn a_key_of_a_migrating_slot_is_asked_for_at_the_importing_node() {
    let cluster = Cluster::get();
    let conn = ClusterConnection::connect(&cluster.config()).await.unwrap();
    let slot = key_slot(b"asking");
    let migration = Migration::of(&conn, slot).await;
    let Migration {
        target,
        source_addr,
        target_id,
        ..
    } = &migration;
    let _: i64 = conn.send(cmd!("DEL", "{asking}:new")).await.unwrap();
    migration.begin(slot).await;
    // The key is on neither node: the source sends the client to the
    // target with ASK, where it is created, and read back the same way.
    let before = conn.stats().asked;
    conn.set("{asking}:new", "here").await.unwrap();
    let got: Option<String> = conn.get("{asking}:new").await.unwrap();
    assert_eq!(got.as_deref(), Some("here"));
    assert!(conn.stats().asked >= before + 2, "{:?}", conn.stats());
    let on_target: i64 = target
        .send(cmd!("CLUSTER", "COUNTKEYSINSLOT", slot))
        .await
        .unwrap();
    assert_eq!(on_target, 1);
    // ASK is for one command: the client still sends the slot's commands to
    // the source first.
    assert_eq!(conn.topology().shard(slot).unwrap().primary, *source_addr);
    settle(&conn, slot, target_id).await;
    // The client still takes the source for the owner: in a pipeline, the
    // source's MOVED sends the command again, alone, to the target.
    let moved_before = conn.stats().moved;
    let (got, other): (Option<String>, Option<String>) = conn
        .pipeline()
        .add(cmd!("GET", "{asking}:new"))
        .add(cmd!("GET", "{elsewhere}:none"))
        .query()
        .await
        .unwrap();
    assert_eq!((got.as_deref(), other), (Some("here"), None));
    assert!(conn.stats().moved > moved_before, "{:?}", conn.stats());
    let got: Option<String> = conn.get("{asking}:new").await.unwrap();
    assert_eq!(got.as_deref(), Some("here"));
}

#[tokio::test]
async fn a_sharded_subscription_follows_its_slot_to_a_new_owner() {
    use futures_util::StreamExt;
    use redis_pubsub::Event;
    let cluster = Cluster::get();
    let conn = ClusterConnection::connect(&cluster.config()).await.unwrap();
    let channel = "{moving}:events";
    let slot = key_slot(b"moving");
    let migration = Migration::of(&conn, slot).await;
    let mut sub = conn.ssubscribe(channel).await.unwrap();
    // The slot moves; its old owner ends the subscription, and the client
    // subscribes at the new one.
    migration.begin(slot).await;
    settle(&conn, slot, &migration.target_id).await;
    let mut events = Vec::new();
    loop {
        let event = timeout(Duration::from_secs(10), sub.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the subscription never moved: {events:?}, topology {:?}",
                    conn.topology().shard(slot)
                )
            })
            .expect("the stream ended");
        let done = matches!(event, Event::Resubscribed);
        events.push(format!("{event:?}"));
        if done {
            break;
        }
    }
    assert!(events[0].contains("its slot moved"), "{events:?}");
    let heard: i64 = conn.send(cmd!("SPUBLISH", channel, "moved")).await.unwrap();
    assert_eq!(heard, 1);
    match timeout(Duration::from_secs(5), sub.next()).await {
        Ok(Some(Event::Message(m))) => assert_eq!(m.payload_str(), Ok("moved")),
        other => panic!("{other:?}"),
    }
}
