//! Live tests against the server `cargo xtask test` provides (`REDIS_URL`),
//! or one started here when it is not set.

use std::time::Duration;

use redis_conn::{ConnectionConfig, Error};
use redis_paired::{ExclusiveConnection, PairedConnection};
use resp::{cmd, resp_array, Value};
use xtask::TestServer;

/// The server under test: `REDIS_URL` when `cargo xtask test` set it, or
/// one started for this test alone (and stopped when the test ends).
struct Server(TestServer);

impl Server {
    fn get() -> Server {
        Server(TestServer::get().expect("redis-server starts"))
    }

    fn config(&self) -> ConnectionConfig {
        self.0.url().parse().unwrap()
    }

    async fn connect(&self) -> PairedConnection {
        PairedConnection::connect(&self.config()).await.unwrap()
    }

    async fn connect_resp2(&self) -> PairedConnection {
        let config = self.config().with_protocol(redis_conn::Protocol::Resp2);
        PairedConnection::connect(&config).await.unwrap()
    }
}

#[tokio::test]
async fn wire_order_is_call_order_however_replies_are_awaited() {
    let server = Server::get();
    let conn = server.connect().await;
    let _: i64 = conn.send(cmd!("DEL", "order:n")).await.unwrap();
    let replies: Vec<_> = (0..100)
        .map(|_| conn.send::<i64>(cmd!("INCR", "order:n")))
        .collect();
    // Await them backwards: each still gets the count of its own call.
    for (i, reply) in replies.into_iter().enumerate().rev() {
        assert_eq!(reply.await.unwrap(), i as i64 + 1);
    }
}

#[tokio::test]
async fn typed_replies_and_server_errors() {
    let server = Server::get();
    for conn in [server.connect().await, server.connect_resp2().await] {
        let missing: Option<String> = conn.send(cmd!("GET", "typed:missing")).await.unwrap();
        assert_eq!(missing, None);
        conn.send_and_forget(cmd!("SET", "typed:s", "text"))
            .unwrap();
        let err = conn.send::<i64>(cmd!("INCR", "typed:s")).await.unwrap_err();
        assert_eq!(err.server_code(), Some("ERR"), "{err}");
        let err = conn
            .send::<i64>(cmd!("LPUSH", "typed:s", "x"))
            .await
            .unwrap_err();
        assert_eq!(err.server_code(), Some("WRONGTYPE"), "{err}");
        let err = conn.send::<i64>(cmd!("GET", "typed:s")).await.unwrap_err();
        assert!(
            matches!(err, Error::Conversion { target: "i64", .. }),
            "{err:?}"
        );
        // The connection is fine after all of that.
        let s: String = conn.send(resp_array!["GET", "typed:s"]).await.unwrap();
        assert_eq!(s, "text");
    }
}

#[tokio::test]
async fn a_dropped_reply_does_not_shift_the_next() {
    let server = Server::get();
    let conn = server.connect().await;
    conn.send_and_forget(cmd!("SET", "drop:a", "a")).unwrap();
    conn.send_and_forget(cmd!("SET", "drop:b", "b")).unwrap();
    for _ in 0..50 {
        drop(conn.send::<String>(cmd!("GET", "drop:a")));
        let b: String = conn.send(cmd!("GET", "drop:b")).await.unwrap();
        assert_eq!(b, "b");
    }
}

#[tokio::test]
async fn pipelines_return_their_replies_together() {
    let server = Server::get();
    let conn = server.connect().await;
    let (set, n, missing): ((), i64, Option<String>) = conn
        .pipeline()
        .add(cmd!("SET", "pipe:n", 41))
        .add(cmd!("INCR", "pipe:n"))
        .add(cmd!("GET", "pipe:missing"))
        .query()
        .await
        .unwrap();
    assert_eq!((set, n, missing), ((), 42, None));
    let mut pipeline = conn.pipeline();
    for i in 0..1_000 {
        pipeline.push(cmd!("SET", format!("pipe:{i}"), i));
    }
    let all: Vec<Value> = pipeline.query().await.unwrap();
    assert_eq!(all.len(), 1_000);
    let err = conn.pipeline().query::<Vec<Value>>().await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol(resp::Error::EmptyCommand)),
        "{err:?}"
    );
}

#[tokio::test]
async fn transactions_report_queueing_errors_and_watch_aborts() {
    let server = Server::get();
    let conn = server.connect().await;
    let err = conn
        .transaction()
        .add(cmd!("SET", "tx:a", 1))
        .add(cmd!("GET"))
        .query::<Vec<Value>>()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("wrong number of arguments"),
        "{err}"
    );

    let watcher = ExclusiveConnection::connect(&server.config())
        .await
        .unwrap();
    let _: () = watcher.send(cmd!("WATCH", "tx:watched")).await.unwrap();
    let _: () = conn
        .send(cmd!("SET", "tx:watched", "changed"))
        .await
        .unwrap();
    let err = watcher
        .transaction()
        .add(cmd!("SET", "tx:watched", "mine"))
        .query::<Vec<Value>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TransactionAborted), "{err:?}");
    let ok: ((),) = watcher
        .transaction()
        .add(cmd!("SET", "tx:watched", "mine"))
        .query()
        .await
        .unwrap();
    assert_eq!(ok, ((),));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_keep_their_own_results() {
    let server = Server::get();
    let conn = server.connect().await;
    let mut tasks = Vec::new();
    for t in 0..50 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..40 {
                let value = format!("tx{t}:{n}");
                let (set, got, len): ((), String, i64) = conn
                    .transaction()
                    .add(cmd!("SET", format!("mx:{t}"), &value))
                    .add(cmd!("GET", format!("mx:{t}")))
                    .add(cmd!("STRLEN", format!("mx:{t}")))
                    .query()
                    .await
                    .unwrap();
                assert_eq!(
                    (set, got.as_str(), len),
                    ((), value.as_str(), value.len() as i64)
                );
            }
        }));
    }
    for p in 0..50 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..40 {
                let value = format!("plain{p}:{n}");
                conn.send_and_forget(cmd!("SET", format!("mp:{p}"), &value))
                    .unwrap();
                let got: String = conn.send(cmd!("GET", format!("mp:{p}"))).await.unwrap();
                assert_eq!(got, value);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn blocking_commands_wait_their_own_timeout_not_the_default() {
    let server = Server::get();
    let config = server.config();
    let options = redis_paired::Options::default()
        .with_response_timeout(Duration::from_millis(100))
        .with_blocking_margin(Duration::from_secs(2));
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    // BLPOP on an empty list for 0.5 s: longer than the 100 ms response
    // timeout, but within its own timeout plus margin.
    let popped: Option<(String, String)> = conn
        .send(cmd!("BLPOP", "blocking:empty", 0.5))
        .await
        .unwrap();
    assert_eq!(popped, None);
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn commands_that_break_pairing_are_refused() {
    let server = Server::get();
    let conn = server.connect().await;
    for refused in [
        cmd!("SUBSCRIBE", "x"),
        cmd!("monitor"),
        cmd!("CLIENT", "REPLY", "OFF"),
    ] {
        let err = conn.send::<Value>(refused).await.unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    }
    // The refusal says where the database goes instead.
    let err = conn.send::<Value>(cmd!("SELECT", 1)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("redis://host/1") && text.contains("with_db"),
        "{text}"
    );
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn implicit_pipelining_batches_commands_from_many_tasks() {
    let server = Server::get();
    let conn = server.connect().await;
    let before = conn.stats();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.send::<i64>(cmd!("INCR", format!("batch:{i}"))).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let after = conn.stats();
    let commands = after.commands - before.commands;
    let writes = after.writes - before.writes;
    assert_eq!(commands, 200);
    assert!(writes < commands, "{commands} commands in {writes} writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gathering_writes_answers_every_caller_in_order_and_a_lone_one_at_once() {
    let server = Server::get();
    let options = redis_paired::Options::new().with_write_gathering(true);
    let conn = PairedConnection::connect_with(&server.config(), options)
        .await
        .unwrap();
    // A lone command, nothing in flight: written without waiting for more.
    let _: () = conn.send(cmd!("SET", "gather:lone", 1)).await.unwrap();
    // Many callers, each sending again as soon as it is answered, so that
    // batches are small beside what is in flight and wait for one another.
    let tasks: Vec<_> = (0..128)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let key = format!("gather:{i}");
                let _: i64 = conn.send(cmd!("DEL", &key)).await?;
                for n in 1..=50i64 {
                    let got: i64 = conn.send(cmd!("INCR", &key)).await?;
                    assert_eq!(got, n, "{key}");
                }
                Ok::<(), Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let last: i64 = conn.send(cmd!("GET", "gather:lone")).await.unwrap();
    assert_eq!(last, 1);
}

#[tokio::test]
async fn the_last_handle_dropped_still_delivers_what_was_queued() {
    let server = Server::get();
    let conn = server.connect().await;
    let key = "forget:last";
    let _: i64 = conn.send(cmd!("DEL", key)).await.unwrap();
    let other = server.connect().await;
    for _ in 0..100 {
        conn.send_and_forget(cmd!("INCR", key)).unwrap();
    }
    drop(conn);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n: Option<i64> = other.send(cmd!("GET", key)).await.unwrap();
        if n == Some(100) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {n:?} arrived");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn transaction_commands_by_hand_are_for_exclusive_connections_only() {
    let server = Server::get();
    let conn = server.connect().await;
    for refused in [
        cmd!("MULTI"),
        cmd!("EXEC"),
        cmd!("WATCH", "k"),
        cmd!("DISCARD"),
        cmd!("UNWATCH"),
    ] {
        let err = conn.send::<Value>(refused).await.unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    }
    let err = conn
        .transaction()
        .add(cmd!("WATCH", "tx:w"))
        .add(cmd!("INCR", "tx:n"))
        .query::<Vec<Value>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported("WATCH")), "{err:?}");

    let exclusive = ExclusiveConnection::connect(&server.config())
        .await
        .unwrap();
    let _: () = exclusive.send(cmd!("MULTI")).await.unwrap();
    let queued: String = exclusive.send(cmd!("INCR", "tx:byhand")).await.unwrap();
    assert_eq!(queued, "QUEUED");
    let results: Vec<i64> = exclusive.send(cmd!("EXEC")).await.unwrap();
    assert_eq!(results.len(), 1);
}

#[tokio::test]
async fn a_pipeline_of_one_keeps_its_array_reply_whole() {
    let server = Server::get();
    let conn = server.connect().await;
    let _: i64 = conn.send(cmd!("DEL", "one:list")).await.unwrap();
    let _: i64 = conn
        .send(cmd!("RPUSH", "one:list", "a", "b", "c"))
        .await
        .unwrap();
    let (list,): (Vec<String>,) = conn
        .pipeline()
        .add(cmd!("LRANGE", "one:list", 0, -1))
        .query()
        .await
        .unwrap();
    assert_eq!(list, ["a", "b", "c"]);
}

#[tokio::test]
async fn one_callers_short_timeout_does_not_condemn_the_connection() {
    let server = Server::get();
    let conn = server.connect().await;
    let pauser = server.connect().await;
    let _: () = pauser.send(cmd!("CLIENT", "PAUSE", 300)).await.unwrap();
    let short = conn.send_with_timeout::<String>(cmd!("PING"), Some(Duration::from_millis(50)));
    let patient = conn.send::<String>(cmd!("PING"));
    assert!(matches!(short.await, Err(Error::Timeout { .. })));
    assert_eq!(patient.await.unwrap(), "PONG");
    assert_eq!(conn.stats().reconnects, 0);
}

#[tokio::test]
async fn endless_timeouts_are_fine() {
    let server = Server::get();
    let conn = server.connect().await;
    let pong: String = conn
        .send_with_timeout(cmd!("PING"), Some(Duration::MAX))
        .await
        .unwrap();
    assert_eq!(pong, "PONG");
    let options = redis_paired::Options::default().with_response_timeout(Duration::MAX);
    let conn = PairedConnection::connect_with(&server.config(), options)
        .await
        .unwrap();
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
    // A blocking timeout too large for any clock: the server refuses it, the
    // client does not fall over.
    let err = conn
        .send::<Value>(cmd!("BLPOP", "endless:list", "1e19"))
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some("ERR"), "{err}");
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn a_forever_blocked_connection_closes_when_its_last_handle_goes() {
    let server = Server::get();
    let config = server.config().with_client_name("forever-blocked");
    let conn = PairedConnection::connect(&config).await.unwrap();
    conn.send_and_forget(cmd!("BLPOP", "forever:empty", 0))
        .unwrap();
    let observer = server.connect().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let clients: String = observer.send(cmd!("CLIENT", "LIST")).await.unwrap();
        if clients
            .lines()
            .any(|c| c.contains("name=forever-blocked") && c.contains("cmd=blpop"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never blocked:\n{clients}"
        );
        tokio::task::yield_now().await;
    }
    drop(conn);
    loop {
        let clients: String = observer.send(cmd!("CLIENT", "LIST")).await.unwrap();
        if !clients.contains("name=forever-blocked") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still connected:\n{clients}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_retries_until_no_one_else_got_in_between() {
    use redis_paired::Commands;
    let server = Server::get();
    let config = server.config();
    let setup = server.connect().await;
    let _: i64 = setup.send(cmd!("DEL", "watch:n")).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let config = config.clone();
        tasks.push(tokio::spawn(async move {
            let conn = ExclusiveConnection::connect(&config).await.unwrap();
            for _ in 0..25 {
                // GET then SET: a lost update without WATCH.
                conn.watch("watch:n", 1_000, |conn| async move {
                    let n: i64 = conn.get("watch:n").await?.unwrap_or(0);
                    let _: ((),) = conn
                        .transaction()
                        .add(cmd!("SET", "watch:n", n + 1))
                        .query()
                        .await?;
                    Ok(())
                })
                .await
                .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let n: Option<i64> = setup.get("watch:n").await.unwrap();
    assert_eq!(n, Some(200));

    // Every try aborted: the error says so after the bound.
    let conn = ExclusiveConnection::connect(&config).await.unwrap();
    let mut tries = 0;
    let err = conn
        .watch("watch:n", 3, |conn| {
            tries += 1;
            let setup = setup.clone();
            async move {
                setup.incr("watch:n").await?;
                let _: ((),) = conn
                    .transaction()
                    .add(cmd!("SET", "watch:n", 0))
                    .query()
                    .await?;
                Ok(())
            }
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TransactionAborted), "{err:?}");
    assert_eq!(tries, 3);
    // Any other error ends the loop at once, and the watch with it.
    let err = conn
        .watch("watch:n", 3, |conn| async move {
            conn.send::<i64>(cmd!("LPUSH", "watch:n", "x")).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some("WRONGTYPE"), "{err}");
}

#[tokio::test]
async fn each_command_of_a_batch_has_its_own_outcome() {
    let server = Server::get();
    let conn = server.connect().await;
    let outcomes = conn
        .pipeline()
        .add(cmd!("SET", "each:n", "text"))
        .add(cmd!("INCR", "each:n"))
        .add(cmd!("GET", "each:n"))
        .query_each()
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes[0].is_ok());
    assert_eq!(outcomes[1].as_ref().unwrap_err().server_code(), Some("ERR"));
    assert_eq!(outcomes[2].as_ref().unwrap(), &Value::bulk("text"));
    // In a transaction, the outcomes of the commands as EXEC ran them.
    let outcomes = conn
        .transaction()
        .add(cmd!("INCR", "each:n"))
        .add(cmd!("SET", "each:m", 1))
        .query_each()
        .await
        .unwrap();
    assert!(outcomes[0].is_err() && outcomes[1].is_ok(), "{outcomes:?}");
}

/// Values from a few bytes to a few MiB, read by many tasks at once: every
/// caller gets its own value whole, however the replies share the reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_small_values_mixed_reach_their_callers_whole() {
    let server = Server::get();
    let conn = server.connect().await;
    let sizes = [10, 20 * 1024, 100 * 1024, 3 * 1024 * 1024, 64, 300 * 1024];
    let value = |size: usize, i: usize| -> Vec<u8> {
        (0..size).map(|j| (i * 31 + j % 251) as u8).collect()
    };
    for (i, size) in sizes.iter().enumerate() {
        let _: () = conn
            .send(cmd!("SET", format!("mixed:{i}"), value(*size, i)))
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..48)
        .map(|t| {
            let conn = conn.clone();
            tokio::spawn(async move {
                for round in 0..10 {
                    let i = (t + round) % 6;
                    let got: Vec<u8> = conn.send(cmd!("GET", format!("mixed:{i}"))).await.unwrap();
                    assert_eq!(got.len(), sizes[i], "task {t} round {round}");
                    assert!(got == value(sizes[i], i), "task {t} got another value");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}
