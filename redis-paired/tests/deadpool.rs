//! The deadpool manager against a live server: connections are shared by
//! many tasks within the pool's size, and come back clean or not at all.
#![cfg(feature = "deadpool")]

use std::time::Duration;

use deadpool::managed::Pool;
use redis_conn::ConnectionConfig;
use redis_paired::{Commands, DeadpoolManager, Options};
use resp::{cmd, Value};
use xtask::TestServer;

fn pool(server: &TestServer, name: &str, size: usize) -> Pool<DeadpoolManager> {
    let config = server
        .url()
        .parse::<ConnectionConfig>()
        .unwrap()
        .with_client_name(name);
    Pool::builder(DeadpoolManager::new(&config, Options::default()))
        .max_size(size)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_share_the_pools_connections() {
    let server = TestServer::get().expect("redis-server starts");
    let pool = pool(&server, "deadpool-share", 2);
    let conn = pool.get().await.unwrap();
    let _: i64 = conn.send(cmd!("DEL", "deadpool:n")).await.unwrap();
    drop(conn);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await.unwrap();
                conn.incr("deadpool:n").await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.get::<i64>("deadpool:n").await.unwrap(), Some(100));
    assert!(pool.status().size <= 2, "{:?}", pool.status());
}

#[tokio::test]
async fn connections_come_back_clean_or_not_at_all() {
    let server = TestServer::get().expect("redis-server starts");
    let pool = pool(&server, "deadpool-clean", 1);
    let conn = pool.get().await.unwrap();
    let () = conn.send(cmd!("MULTI")).await.unwrap();
    let queued: String = conn
        .send(cmd!("SET", "deadpool:dirty", "never"))
        .await
        .unwrap();
    assert_eq!(queued, "QUEUED");
    drop(conn);
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.get::<String>("deadpool:dirty").await.unwrap(), None);

    // A reply still owed: the connection is replaced, not lent.
    let blocked = conn.send::<Value>(cmd!("BLPOP", "deadpool:empty", 0));
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(blocked);
    drop(conn);
    let conn = pool.get().await.unwrap();
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
}
