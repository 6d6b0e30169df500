//! Live tests against a real cluster: `REDIS_CLUSTER_URLS` when
//! `cargo xtask test` set it, or one started for the test.

use redis_cluster::{key_slot, ClusterConfig, ClusterConnection, Error};
use redis_paired::{Commands, ScanCommands};
use resp::{cmd, Value};

mod support;
use support::Cluster;

async fn connect(cluster: &Cluster) -> ClusterConnection {
    ClusterConnection::connect(&cluster.config()).await.unwrap()
}

#[tokio::test]
async fn typed_commands_reach_every_slot() {
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    assert_eq!(conn.topology().slots_served(), 16384);
    // Keys spread over every shard.
    let mut shards_seen = std::collections::HashSet::new();
    for i in 0..200 {
        let key = format!("typed:{i}");
        conn.set(&key, i).await.unwrap();
        let shard = conn
            .topology()
            .shard(key_slot(key.as_bytes()))
            .unwrap()
            .primary
            .clone();
        shards_seen.insert(shard);
    }
    assert_eq!(shards_seen.len(), 3);
    for i in 0..200 {
        let got: Option<i64> = conn.get(format!("typed:{i}")).await.unwrap();
        assert_eq!(got, Some(i));
    }
    let missing: Option<String> = conn.get("typed:missing").await.unwrap();
    assert_eq!(missing, None);
    let _: i64 = conn.send(cmd!("DEL", "typed:counter")).await.unwrap();
    assert_eq!(conn.incr("typed:counter").await.unwrap(), 1);
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn scripts_run_where_their_keys_are() {
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    let script = redis_paired::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    // Each key's node learns the script on first use (NOSCRIPT, then EVAL).
    for key in ["script:a", "script:b", "script:c", "script:d"] {
        let _: i64 = conn.send(cmd!("DEL", key)).await.unwrap();
        let n: i64 = script.invoke(&conn, key, 5).await.unwrap();
        assert_eq!(n, 5);
        let n: i64 = script.invoke(&conn, key, 2).await.unwrap();
        assert_eq!(n, 7);
    }
}

#[tokio::test]
async fn the_server_agrees_on_every_slot() {
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    for key in ["foo", "bar", "{user1000}.following", "", "a{b}c", "ünïcode"] {
        let slot: i64 = conn.send(cmd!("CLUSTER", "KEYSLOT", key)).await.unwrap();
        assert_eq!(slot, i64::from(key_slot(key.as_bytes())), "{key}");
    }
}

#[tokio::test]
async fn multi_key_commands_are_split_by_slot_and_merged_in_order() {
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    let keys: Vec<String> = (0..50).map(|i| format!("split:{i}")).collect();
    let slots: std::collections::HashSet<u16> =
        keys.iter().map(|k| key_slot(k.as_bytes())).collect();
    assert!(slots.len() > 10);
    let pairs: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), format!("v-{k}"))).collect();
    let _: () = conn.send(cmd!("MSET", pairs.clone())).await.unwrap();
    let mut asked = keys.clone();
    asked.insert(7, "split:missing".into());
    let values: Vec<Option<String>> = conn.send(cmd!("MGET", asked.clone())).await.unwrap();
    for (key, value) in asked.iter().zip(&values) {
        let expected = (key != "split:missing").then(|| format!("v-{key}"));
        assert_eq!(value, &expected, "{key}");
    }
    let exists: i64 = conn.send(cmd!("EXISTS", asked.clone())).await.unwrap();
    assert_eq!(exists, 50);
    let deleted: i64 = conn.send(cmd!("DEL", asked)).await.unwrap();
    assert_eq!(deleted, 50);
    // Other commands across slots are the server's to refuse.
    let err = conn
        .send::<Value>(cmd!("SUNIONSTORE", "split:a", "split:b", "split:c"))
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some("CROSSSLOT"), "{err}");
    // With a hash tag they share a node.
    let _: i64 = conn.send(cmd!("SADD", "{tag}:a", "x")).await.unwrap();
    let _: i64 = conn.send(cmd!("SADD", "{tag}:b", "y")).await.unwrap();
    let union: i64 = conn
        .send(cmd!("SUNIONSTORE", "{tag}:c", "{tag}:a", "{tag}:b"))
        .await
        .unwrap();
    assert_eq!(union, 2);
}

#[tokio::test]
async fn fan_out_commands_reach_every_primary() {
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    for i in 0..30 {
        conn.set(format!("fan:{i}"), i).await.unwrap();
    }
    let keys: Vec<String> = conn.send(cmd!("KEYS", "fan:*")).await.unwrap();
    assert_eq!(keys.len(), 30);
    let size: i64 = conn.send(cmd!("DBSIZE")).await.unwrap();
    assert!(size >= 30, "{size}");
    let pongs: Vec<(redis_cluster::NodeAddr, String)> =
        conn.send_to_all_primaries(cmd!("PING")).await.unwrap();
    assert_eq!(pongs.len(), 3);
    assert!(pongs.iter().all(|(_, pong)| pong == "PONG"));
    let sha: String = conn.send(cmd!("SCRIPT", "LOAD", "return 7")).await.unwrap();
    // Loaded on every primary: EVALSHA works whichever node a key picks.
    for key in ["a", "b", "c", "d", "e", "f"] {
        let n: i64 = conn.send(cmd!("EVALSHA", &sha, 1, key)).await.unwrap();
        assert_eq!(n, 7);
    }
}

#[tokio::test]
async fn a_moved_slot_is_followed() {
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    conn.set("moved:k", "v").await.unwrap();
    let slot = key_slot(b"moved:k");
    // Make the client believe the slot lives elsewhere: the server answers
    // MOVED, and the client follows and learns.
    let topology = conn.topology();
    let owner = topology.shard(slot).unwrap().primary.clone();
    let other = topology
        .shards()
        .iter()
        .map(|s| s.primary.clone())
        .find(|p| *p != owner)
        .unwrap();
    let other_conn =
        redis_paired::PairedConnection::connect(&format!("redis://{other}").parse().unwrap())
            .await
            .unwrap();
    let err = other_conn
        .send::<Value>(cmd!("GET", "moved:k"))
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some("MOVED"), "{err}");
    let got: Option<String> = conn.get("moved:k").await.unwrap();
    assert_eq!(got.as_deref(), Some("v"));
}

#[tokio::test]
async fn cluster_urls_connect() {
    let cluster = Cluster::get();
    let urls = cluster.urls();
    let hosts: Vec<&str> = urls
        .iter()
        .map(|u| u.trim_start_matches("redis://").trim_end_matches('/'))
        .collect();
    let url = format!("redis+cluster://{}", hosts.join(","));
    let config: ClusterConfig = url.parse().unwrap();
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
    let bad = ClusterConfig::from_urls(["redis://127.0.0.1:1"]).unwrap();
    let err = ClusterConnection::connect(&bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io(_) | Error::Connection(_) | Error::Connect { .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_pipeline_over_many_slots_answers_in_the_callers_order() {
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    let mut sets = conn.pipeline();
    for i in 0..1000 {
        sets.push(cmd!("SET", format!("pipe:{i}"), i));
    }
    let done: Vec<String> = sets.query().await.unwrap();
    assert_eq!(done.len(), 1000);
    let mut gets = conn.pipeline();
    for i in (0..1000).rev() {
        gets.push(cmd!("GET", format!("pipe:{i}")));
    }
    let values: Vec<i64> = gets.query().await.unwrap();
    assert_eq!(values, (0..1000).rev().collect::<Vec<i64>>());

    // Commands that span nodes run as they would alone; an error reply is
    // kept in its place when the caller asks for raw values.
    let _: () = conn.send(cmd!("SET", "pipe:text", "x")).await.unwrap();
    let replies = conn
        .pipeline()
        .add(cmd!("MGET", "pipe:1", "pipe:2", "pipe:3"))
        .add(cmd!("INCR", "pipe:text"))
        .add(cmd!("DBSIZE"))
        .add(cmd!("GET", "pipe:999"))
        .query::<Value>()
        .await
        .unwrap();
    let Value::Array(replies) = replies else {
        panic!("not an array: {replies:?}")
    };
    assert_eq!(
        replies[0],
        Value::Array(vec![Value::bulk("1"), Value::bulk("2"), Value::bulk("3")])
    );
    assert!(
        matches!(&replies[1], Value::Error(e) if e.starts_with(b"ERR")),
        "{replies:?}"
    );
    assert!(matches!(replies[2], Value::Integer(n) if n >= 1000));
    assert_eq!(replies[3], Value::bulk("999"));
    // Typed, the error fails the whole.
    let err = conn
        .pipeline()
        .add(cmd!("GET", "pipe:1"))
        .add(cmd!("INCR", "pipe:text"))
        .query::<(i64, i64)>()
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some("ERR"), "{err}");

    // The typed methods build cluster pipelines too, keys on any slot.
    let (set, n, missing, got): ((), i64, Option<String>, Option<i64>) = conn
        .pipeline()
        .set("pipe:typed:a", 7)
        .incr_by("pipe:typed:n", 0)
        .get::<String>("pipe:typed:missing")
        .get::<i64>("pipe:typed:a")
        .query()
        .await
        .unwrap();
    assert_eq!((set, missing, got), ((), None, Some(7)));
    assert!(n >= 0);
    // They record their reply types: nothing to name, `mget` over several
    // slots included.
    let ((), values, got) = conn
        .pipeline()
        .set("pipe:typed:b", 8)
        .mget::<i64>(["pipe:typed:a", "pipe:typed:b", "pipe:typed:missing"])
        .get::<String>("pipe:typed:a")
        .query()
        .await
        .unwrap();
    assert_eq!(values, [Some(7), Some(8), None]);
    assert_eq!(got.as_deref(), Some("7"));
    let mut batch = conn.pipeline();
    let more = &mut batch;
    for i in 0..10 {
        more.set(format!("pipe:typed:{i}"), i);
    }
    let done: Vec<()> = batch.query().await.unwrap();
    assert_eq!(done.len(), 10);
}

#[tokio::test]
async fn transactions_stay_in_one_slot() {
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    let _: i64 = conn
        .send(cmd!("DEL", "{cart:1}:n", "{cart:1}:items"))
        .await
        .unwrap();
    let (n, len): (i64, i64) = conn
        .transaction()
        .add(cmd!("INCR", "{cart:1}:n"))
        .add(cmd!("RPUSH", "{cart:1}:items", "apple"))
        .query()
        .await
        .unwrap();
    assert_eq!((n, len), (1, 1));
    // Keys of two slots: refused before anything is sent.
    let err = conn
        .transaction()
        .add(cmd!("SET", "tx:a", 1))
        .add(cmd!("SET", "tx:b", 1))
        .query::<Value>()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Cluster(redis_cluster::ClusterError::CrossSlotTransaction)
        ),
        "{err:?}"
    );
    assert_eq!(conn.get::<String>("tx:a").await.unwrap(), None);

    // WATCH on the owner of the slot, through a connection of one's own.
    let watcher = conn.exclusive("{cart:1}:n").await.unwrap();
    let _: () = watcher.send(cmd!("WATCH", "{cart:1}:n")).await.unwrap();
    conn.incr("{cart:1}:n").await.unwrap();
    let aborted = watcher
        .transaction()
        .add(cmd!("INCR", "{cart:1}:n"))
        .query::<Value>()
        .await
        .unwrap_err();
    assert!(matches!(aborted, Error::TransactionAborted), "{aborted:?}");
    assert_eq!(conn.get::<i64>("{cart:1}:n").await.unwrap(), Some(2));
}

#[tokio::test]
async fn scan_walks_every_primary() {
    use futures_util::TryStreamExt;
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    for i in 0..300 {
        conn.set(format!("scanned:{i}"), i).await.unwrap();
    }
    let mut keys: Vec<String> = conn
        .scan()
        .match_pattern("scanned:*")
        .count(50)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 300);
    // A SCAN sent as a plain command would mix the nodes' cursors.
    let err = conn.send::<Value>(cmd!("SCAN", 0)).await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    // Scans of one key's collection go to that key's node.
    let _: i64 = conn
        .send(cmd!("HSET", "scanned:hash", "a", 1, "b", 2))
        .await
        .unwrap();
    let fields: Vec<(String, i64)> = conn
        .hscan("scanned:hash")
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(fields.len(), 2);
}

/// The next event of `sub`, which must be a message.
async fn next_message(sub: &mut redis_cluster::ClusterSubscription) -> redis_pubsub::Message {
    use futures_util::StreamExt;
    match tokio::time::timeout(std::time::Duration::from_secs(5), sub.next()).await {
        Ok(Some(redis_pubsub::Event::Message(m))) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn subscriptions_hear_what_is_published_anywhere() {
    let cluster = Cluster::get();
    let conn = connect(&cluster).await;
    let mut news = conn.subscribe("cluster-news").await.unwrap();
    let mut sport = conn.psubscribe("cluster-sport.*").await.unwrap();
    let mut orders = conn.ssubscribe("{orders}:eu").await.unwrap();
    // PUBLISH goes to any node; the cluster passes it on to every node.
    for _ in 0..3 {
        let _: i64 = conn
            .send(cmd!("PUBLISH", "cluster-news", "hello"))
            .await
            .unwrap();
    }
    let _: i64 = conn
        .send(cmd!("PUBLISH", "cluster-sport.tennis", "ace"))
        .await
        .unwrap();
    // SPUBLISH goes to the channel's slot, where the subscription is.
    let heard: i64 = conn
        .send(cmd!("SPUBLISH", "{orders}:eu", "42"))
        .await
        .unwrap();
    assert_eq!(heard, 1);
    for _ in 0..3 {
        assert_eq!(next_message(&mut news).await.payload_str(), Ok("hello"));
    }
    let m = next_message(&mut sport).await;
    assert_eq!(
        (m.channel_str(), m.payload_str()),
        (Ok("cluster-sport.tennis"), Ok("ace"))
    );
    assert_eq!(next_message(&mut orders).await.payload_str(), Ok("42"));
    // Sharded channels of two slots cannot share a subscription.
    assert!(conn.ssubscribe(["{a}x", "{b}y"]).await.is_err());
}
