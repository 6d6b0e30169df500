//! The pool of exclusive connections against a live server: bounded,
//! refilled after a restart, and never lending a connection in the state
//! its last user left it.

use std::time::Duration;

use redis_conn::{ConnectionConfig, Error};
use redis_paired::{Commands, Pool, PoolOptions};
use resp::{cmd, Value};
use xtask::{RedisServer, TestServer};

fn config(url: &str, name: &str) -> ConnectionConfig {
    url.parse::<ConnectionConfig>()
        .unwrap()
        .with_client_name(name)
        .with_connect_timeout(Duration::from_millis(500))
}

/// How many clients named `name` the server has.
async fn clients_named(pool: &Pool, name: &str) -> usize {
    let conn = pool.get().await.unwrap();
    let list: String = conn.send(cmd!("CLIENT", "LIST")).await.unwrap();
    list.lines()
        .filter(|l| l.contains(&format!("name={name} ")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_share_eight_connections() {
    let server = TestServer::get().expect("redis-server starts");
    let pool = Pool::new(&config(server.url(), "pool-1000"), PoolOptions::new());
    let setup = pool.get().await.unwrap();
    let _: i64 = setup.send(cmd!("DEL", "pool:n")).await.unwrap();
    drop(setup);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.get().await.unwrap();
                conn.incr("pool:n").await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stats = pool.stats();
    assert!(stats.opened <= 8, "{stats:?}");
    assert!(stats.waits > 0, "{stats:?}");
    assert!(clients_named(&pool, "pool-1000").await <= 8);
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.get::<i64>("pool:n").await.unwrap(), Some(1000));
}

#[tokio::test]
async fn a_connection_left_in_multi_or_watch_is_clean_for_the_next_user() {
    let server = TestServer::get().expect("redis-server starts");
    let pool = Pool::new(
        &config(server.url(), "pool-dirty"),
        PoolOptions::new().with_max_size(1),
    );
    let conn = pool.get().await.unwrap();
    let _: i64 = conn.send(cmd!("DEL", "pool:dirty")).await.unwrap();
    let () = conn.send(cmd!("WATCH", "pool:dirty")).await.unwrap();
    let () = conn.send(cmd!("MULTI")).await.unwrap();
    let queued: String = conn.send(cmd!("SET", "pool:dirty", "never")).await.unwrap();
    assert_eq!(queued, "QUEUED");
    drop(conn);

    // The same connection (the pool has one), answering at once, not
    // queueing; nothing of the abandoned transaction ran.
    let conn = pool.get().await.unwrap();
    let value: Option<String> = conn.get("pool:dirty").await.unwrap();
    assert_eq!(value, None);
    assert_eq!(pool.stats().opened, 1);
    // And no WATCH left: a transaction after a change goes through.
    let _: ((),) = conn
        .transaction()
        .add(cmd!("SET", "pool:dirty", "ok"))
        .query()
        .await
        .unwrap();
    assert_eq!(
        conn.get::<String>("pool:dirty").await.unwrap().as_deref(),
        Some("ok")
    );
}

#[tokio::test]
async fn a_connection_that_still_owes_a_reply_is_closed_not_returned() {
    let server = TestServer::get().expect("redis-server starts");
    let pool = Pool::new(
        &config(server.url(), "pool-blocked"),
        PoolOptions::new().with_max_size(1),
    );
    let conn = pool.get().await.unwrap();
    // A blocking pop on an exclusive connection holds that connection.
    let blocked = conn.send::<Value>(cmd!("BLPOP", "pool:empty", 0));
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(blocked);
    drop(conn);
    let conn = pool.get().await.unwrap();
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
    let stats = pool.stats();
    assert_eq!((stats.opened, stats.discarded), (2, 1), "{stats:?}");
}

#[tokio::test]
async fn a_full_pool_times_out_a_checkout() {
    let server = TestServer::get().expect("redis-server starts");
    let pool = Pool::new(
        &config(server.url(), "pool-full"),
        PoolOptions::new()
            .with_max_size(1)
            .with_checkout_timeout(Duration::from_millis(200)),
    );
    let held = pool.get().await.unwrap();
    let err = pool.get().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                what: "pool checkout",
                ..
            }
        ),
        "{err:?}"
    );
    drop(held);
    pool.get().await.unwrap();
}

#[tokio::test]
async fn a_restarted_server_empties_the_pool_and_it_refills() {
    let mut server = RedisServer::start().expect("redis-server starts");
    let pool = Pool::new(
        &config(&server.url(), "pool-restart"),
        PoolOptions::new()
            .with_max_size(4)
            .with_check_after_idle(Duration::ZERO),
    );
    let conns: Vec<_> = futures_util::future::join_all((0..4).map(|_| pool.get())).await;
    drop(conns);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.stats().idle, 4);
    server.restart().expect("the server restarts");
    // Every idle connection is found dead at checkout and replaced.
    for _ in 0..4 {
        let conn = pool.get().await.unwrap();
        let pong: String = conn.send(cmd!("PING")).await.unwrap();
        assert_eq!(pong, "PONG");
    }
    let stats = pool.stats();
    assert!(stats.discarded >= 1, "{stats:?}");
    assert!(stats.size <= 4, "{stats:?}");
}
