//! One function, written once against `AnyConnection`, run on a single
//! server (`REDIS_URL`) and on a cluster (`REDIS_CLUSTER_URLS`), both
//! opened by `Client::open` from their URLs alone; and the blocking client
//! on a cluster.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use redis_facade::prelude::*;
use redis_facade::AnyScanStream;
use xtask::{TestCluster, TestServer};

/// The cluster's seeds as one `redis+cluster://` URL.
fn cluster_url(cluster: &TestCluster) -> String {
    let hosts: Vec<&str> = cluster
        .seed_urls()
        .iter()
        .map(|url| url.trim_start_matches("redis://").trim_end_matches('/'))
        .collect();
    format!("redis+cluster://{}", hosts.join(","))
}

/// Waits for a stream's next item, for at most a few seconds.
async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item within 5 s")
        .expect("the stream goes on")
}

/// Every key a scan gives, read through the one stream type.
async fn keys(mut stream: AnyScanStream<String>) -> Vec<String> {
    let mut keys = Vec::new();
    while let Some(key) = stream.next().await {
        keys.push(key.unwrap());
    }
    keys.sort();
    keys
}

/// The same code for every topology: commands, a pipeline, a transaction
/// in one slot, a scan and a subscription.
async fn exercise(conn: &AnyConnection, name: &str) {
    let tag = format!("{{any:{name}:{}}}", std::process::id());
    let (a, b, n) = (format!("{tag}:a"), format!("{tag}:b"), format!("{tag}:n"));
    conn.del([&a, &b, &n]).await.unwrap();

    conn.set(&a, "one").await.unwrap();
    let got: Option<String> = conn.get(&a).await.unwrap();
    assert_eq!(got.as_deref(), Some("one"));

    // Keys outside the tag too: a cluster splits this pipeline per node.
    let other = format!("any:{name}:{}:elsewhere", std::process::id());
    let ((), first, (), second) = conn
        .pipeline()
        .set(&b, "two")
        .get::<String>(&a)
        .set(&other, "x")
        .get::<String>(&b)
        .query()
        .await
        .unwrap();
    assert_eq!(
        (first.as_deref(), second.as_deref()),
        (Some("one"), Some("two"))
    );

    let (count, expiring) = conn
        .transaction()
        .incr(&n)
        .expire(&n, 60)
        .query()
        .await
        .unwrap();
    assert_eq!((count, expiring), (1, true));

    let scanned = keys(
        conn.scan()
            .match_pattern(format!("{tag}:*"))
            .count(100)
            .into_stream(),
    )
    .await;
    let mut expected = vec![a.clone(), b.clone(), n.clone()];
    expected.sort();
    assert_eq!(scanned, expected);

    let channel = format!("{tag}:news");
    let mut news = conn.subscribe(&channel).await.unwrap();
    // On a cluster the count is of the publishing node's subscribers
    // alone, which may not be the subscription's node.
    let _receivers: i64 = conn.publish(&channel, "hello").await.unwrap();
    loop {
        match next(&mut news).await {
            Event::Message(message) => {
                assert_eq!(&message.payload()[..], b"hello");
                break;
            }
            _ => continue,
        }
    }
    conn.del([&a, &b, &n, &other]).await.unwrap();
}

#[tokio::test]
async fn the_same_function_runs_on_a_single_server() {
    let server = TestServer::get().expect("redis-server starts");
    let conn = Client::open(server.url())
        .unwrap()
        .connection()
        .await
        .unwrap();
    assert!(!conn.is_cluster());
    exercise(&conn, "server").await;
}

#[tokio::test]
async fn the_same_function_runs_on_a_cluster() {
    let cluster = TestCluster::get().expect("a cluster starts");
    let client = Client::open(cluster_url(&cluster)).unwrap();
    let conn = client.connection().await.unwrap();
    assert!(conn.is_cluster());
    exercise(&conn, "cluster").await;

    // A transaction over two slots is refused before anything is sent.
    let err = conn
        .transaction()
        .incr("any:one")
        .incr("any:two")
        .query::<(i64, i64)>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cluster(_)), "{err}");
}

#[tokio::test]
async fn a_plain_url_is_one_seed_of_a_cluster() {
    let cluster = TestCluster::get().expect("a cluster starts");
    let seed = &cluster.seed_urls()[0];
    let conn = redis_facade::cluster_connect(seed).await.unwrap();
    assert!(conn.topology().shards().len() >= 3);
    let client = Client::open(seed).unwrap();
    let conn = client.cluster().await.unwrap();
    let _: () = conn.set("any:seed", 1).await.unwrap();
}

#[cfg(feature = "blocking")]
#[test]
fn the_blocking_client_runs_on_a_cluster() {
    let cluster = TestCluster::get().expect("a cluster starts");
    let client = redis_facade::blocking::Client::open(cluster_url(&cluster)).unwrap();
    let conn = client.connection().unwrap();
    assert!(conn.is_cluster());
    let tag = format!("{{blocking:{}}}", std::process::id());
    let (a, n) = (format!("{tag}:a"), format!("{tag}:n"));
    conn.del([&a, &n]).wait().unwrap();
    conn.set(&a, "one").wait().unwrap();
    let got: Option<String> = conn.get(&a).wait().unwrap();
    assert_eq!(got.as_deref(), Some("one"));
    // Keys of many slots: split, sent to several nodes, merged in order.
    let keys: Vec<String> = (0..20).map(|i| format!("blocking:{i}")).collect();
    let mut pipeline = conn.pipeline();
    for key in &keys {
        pipeline.push(cmd!("SET", key, 1));
    }
    let done: Vec<()> = pipeline.query_wait().unwrap();
    assert_eq!(done.len(), 20);
    let (count, expiring) = conn
        .transaction()
        .incr(&n)
        .expire(&n, 60)
        .query_wait()
        .unwrap();
    assert_eq!((count, expiring), (1, true));

    let channel = format!("{tag}:news");
    let mut events = conn.subscribe(&channel).unwrap();
    let _receivers: i64 = conn.publish(&channel, "hi").wait().unwrap();
    let message = events
        .find_map(|event| match event {
            Event::Message(message) => Some(message),
            _ => None,
        })
        .unwrap();
    assert_eq!(&message.payload()[..], b"hi");
    conn.del(keys).wait().unwrap();
    conn.del([&a, &n]).wait().unwrap();
}

#[cfg(feature = "blocking")]
#[test]
fn threads_sharing_a_blocking_cluster_connection_each_get_their_own_replies() {
    let cluster = TestCluster::get().expect("a cluster starts");
    let client = redis_facade::blocking::Client::open(cluster_url(&cluster)).unwrap();
    let conn = client.connection().unwrap();
    let tag = std::process::id();
    // Commands and pipelines of several slots, whose replies are futures
    // of their own on the client's runtime, which the waiting threads run
    // in turn.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let conn = conn.clone();
            std::thread::spawn(move || {
                let (a, b) = (format!("shared:{tag}:{t}:a"), format!("shared:{tag}:{t}:b"));
                for i in 0..50 {
                    let value = format!("{t}:{i}");
                    conn.set(&a, &value).wait().unwrap();
                    let (got, ()): (Option<String>, ()) = conn
                        .pipeline()
                        .get(&a)
                        .set(&b, &value)
                        .query_wait()
                        .unwrap();
                    assert_eq!(got.as_deref(), Some(value.as_str()), "thread {t}");
                    let got: Option<String> = conn.get(&b).wait().unwrap();
                    assert_eq!(got.as_deref(), Some(value.as_str()), "thread {t}");
                }
                conn.del([&a, &b]).wait().unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
