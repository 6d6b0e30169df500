//! The blocking client, from plain threads with no async runtime, and its
//! refusal to run inside one.
#![cfg(feature = "blocking")]

use std::thread;

use redis_facade::blocking::Client;
use redis_facade::prelude::*;
use xtask::TestServer;

fn client(server: &TestServer) -> Client {
    Client::open(server.url()).unwrap()
}

#[test]
fn typed_commands_pipelines_and_transactions_without_a_runtime() {
    let server = TestServer::get().expect("redis-server starts");
    let conn = client(&server).paired().unwrap();
    conn.del(["blocking:s", "blocking:n", "blocking:l"])
        .wait()
        .unwrap();
    conn.set("blocking:s", "hello").wait().unwrap();
    let s: Option<String> = conn.get("blocking:s").wait().unwrap();
    assert_eq!(s.as_deref(), Some("hello"));
    let missing: Option<String> = conn.get("blocking:missing").wait().unwrap();
    assert_eq!(missing, None);

    let (a, b): (i64, i64) = conn
        .pipeline()
        .add(cmd!("INCR", "blocking:n"))
        .add(cmd!("INCR", "blocking:n"))
        .query_wait()
        .unwrap();
    assert_eq!((a, b), (1, 2));
    let (n, len): (i64, i64) = conn
        .transaction()
        .add(cmd!("INCR", "blocking:n"))
        .add(cmd!("RPUSH", "blocking:l", "x"))
        .query_wait()
        .unwrap();
    assert_eq!((n, len), (3, 1));
    let err = conn.incr("blocking:s").wait().unwrap_err();
    assert_eq!(err.server_code(), Some("ERR"), "{err}");

    // One connection, shared by threads.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let conn = conn.clone();
            thread::spawn(move || {
                for _ in 0..100 {
                    conn.incr("blocking:n").wait().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n: Option<i64> = conn.get("blocking:n").wait().unwrap();
    assert_eq!(n, Some(403));
}

#[test]
fn subscriptions_iterate() {
    let server = TestServer::get().expect("redis-server starts");
    let client = client(&server);
    let pubsub = client.pubsub().unwrap();
    let mut events = pubsub.subscribe("blocking:news").unwrap();
    let publisher = client.paired().unwrap();
    let heard: i64 = publisher
        .send(cmd!("PUBLISH", "blocking:news", "first"))
        .wait()
        .unwrap();
    assert_eq!(heard, 1);
    match events.next() {
        Some(Event::Message(m)) => assert_eq!(m.payload_str(), Ok("first")),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn the_connections_outlive_the_client_that_opened_them() {
    let server = TestServer::get().expect("redis-server starts");
    let conn = client(&server).paired().unwrap();
    let pong: String = conn.send(cmd!("PING")).wait().unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn inside_a_runtime_it_refuses_instead_of_deadlocking() {
    let server = TestServer::get().expect("redis-server starts");
    let url = server.url().to_string();
    // Made outside, then used inside.
    let (client, conn) = thread::spawn(move || {
        let client = Client::open(url).unwrap();
        let conn = client.paired().unwrap();
        (client, conn)
    })
    .join()
    .unwrap();
    let err = client.paired().unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("async Client"), "{err}");
    let err = conn.get::<String>("blocking:k").wait().unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    // The async way works on the same connection.
    let pong: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
    // Dropping the client's runtime here does not panic.
    drop(conn);
    drop(client);
}

#[test]
fn threads_sharing_a_connection_each_get_their_own_replies() {
    let server = TestServer::get().expect("redis-server starts");
    let conn = client(&server).paired().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let conn = conn.clone();
            thread::spawn(move || {
                let key = format!("blocking:own:{t}");
                for i in 0..200 {
                    let value = format!("{t}:{i}");
                    conn.set(&key, &value).wait().unwrap();
                    let got: Option<String> = conn.get(&key).wait().unwrap();
                    assert_eq!(got.as_deref(), Some(value.as_str()), "thread {t}");
                    let (a, b): (String, i64) = conn
                        .pipeline()
                        .add(cmd!("GET", &key))
                        .add(cmd!("STRLEN", &key))
                        .query_wait()
                        .unwrap();
                    assert_eq!((a.as_str(), b), (value.as_str(), value.len() as i64));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_reply_deadline_still_applies() {
    let server = TestServer::get().expect("redis-server starts");
    let client = client(&server);
    let conn = client.paired().unwrap();
    let admin = client.paired().unwrap();
    conn.set("blocking:deadline", "v").wait().unwrap();
    // Writes wait until the pause ends, well after the deadline.
    let () = admin
        .send(cmd!("CLIENT", "PAUSE", 1000, "WRITE"))
        .wait()
        .unwrap();
    let err = conn
        .set("blocking:deadline", "w")
        .timeout(std::time::Duration::from_millis(50))
        .wait()
        .unwrap_err();
    let () = admin.send(cmd!("CLIENT", "UNPAUSE")).wait().unwrap();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // The late reply was discarded in its turn: the next is the next's.
    let got: Option<String> = conn.get("blocking:deadline").wait().unwrap();
    assert_eq!(got.as_deref(), Some("w"));
}

#[test]
fn a_connection_the_server_dropped_comes_back() {
    let server = TestServer::get().expect("redis-server starts");
    let client = client(&server);
    let conn = client.paired().unwrap();
    let admin = client.paired().unwrap();
    let id: i64 = conn.send(cmd!("CLIENT", "ID")).wait().unwrap();
    let killed: i64 = admin.send(cmd!("CLIENT", "KILL", "ID", id)).wait().unwrap();
    assert_eq!(killed, 1);
    // The loss is noticed by whichever thread runs the runtime, this one
    // or the client's own; commands then fail or wait for the reconnect.
    let patience = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let new_id = loop {
        match conn.send::<i64>(cmd!("CLIENT", "ID")).wait() {
            Ok(new_id) => break new_id,
            Err(Error::Connection(_)) if std::time::Instant::now() < patience => {}
            Err(e) => panic!("no reconnect: {e}"),
        }
    };
    assert_ne!(new_id, id);
    assert!(conn.stats().reconnects >= 1, "{:?}", conn.stats());
}

#[test]
fn a_command_nobody_waits_for_goes_out_while_another_thread_waits() {
    let server = TestServer::get().expect("redis-server starts");
    let client = client(&server);
    let pubsub = client.pubsub().unwrap();
    let mut events = pubsub.subscribe("blocking:unwaited").unwrap();
    let conn = client.paired().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // This thread runs the client's runtime while it waits for a message.
    let listener = thread::spawn(move || {
        let _ = tx.send(events.next());
    });
    // Let the listener settle into its wait.
    thread::sleep(std::time::Duration::from_millis(50));
    conn.send_and_forget(cmd!("PUBLISH", "blocking:unwaited", "sent"))
        .unwrap();
    let heard = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the PUBLISH nobody waited for never went out");
    match heard {
        Some(Event::Message(m)) => assert_eq!(m.payload_str(), Ok("sent")),
        other => panic!("expected the message, got {other:?}"),
    }
    listener.join().unwrap();
}
