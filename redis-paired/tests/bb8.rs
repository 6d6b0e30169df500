//! The bb8 manager against a live server: connections are shared by many
//! tasks within the pool's size, and come back clean or not at all.
#![cfg(feature = "bb8")]

use std::time::Duration;

use bb8::Pool;
use redis_conn::ConnectionConfig;
use redis_paired::{Bb8Manager, Commands, Options};
use resp::{cmd, Value};
use xtask::TestServer;

async fn pool(server: &TestServer, name: &str, size: u32) -> Pool<Bb8Manager> {
    let config = server
        .url()
        .parse::<ConnectionConfig>()
        .unwrap()
        .with_client_name(name);
    Pool::builder()
        .max_size(size)
        .build(Bb8Manager::new(&config, Options::default()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_share_the_pools_connections() {
    let server = TestServer::get().expect("redis-server starts");
    let pool = pool(&server, "bb8-share", 2).await;
    let conn = pool.get().await.unwrap();
    let _: i64 = conn.send(cmd!("DEL", "bb8:n")).await.unwrap();
    drop(conn);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await.unwrap();
                conn.incr("bb8:n").await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.get::<i64>("bb8:n").await.unwrap(), Some(100));
    assert!(pool.state().connections <= 2, "{:?}", pool.state());
}

#[tokio::test]
async fn connections_come_back_clean_or_not_at_all() {
    let server = TestServer::get().expect("redis-server starts");
    let pool = pool(&server, "bb8-clean", 1).await;
    let conn = pool.get().await.unwrap();
    let () = conn.send(cmd!("MULTI")).await.unwrap();
    let queued: String = conn.send(cmd!("SET", "bb8:dirty", "never")).await.unwrap();
    assert_eq!(queued, "QUEUED");
    drop(conn);
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.get::<String>("bb8:dirty").await.unwrap(), None);

    // A reply still owed: the connection is replaced, not lent.
    let blocked = conn.send::<Value>(cmd!("BLPOP", "bb8:empty", 0));
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(blocked);
    let before = pool.state().statistics.connections_closed_broken;
    drop(conn);
    let conn = pool.get().await.unwrap();
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(
        pool.state().statistics.connections_closed_broken,
        before + 1,
        "the connection that owed a reply was dropped"
    );
}
