//! A fake server in the test process answers with garbage, oversized headers,
//! unsolicited frames, or hangs up mid-reply. The connection must report a
//! clear error to the callers concerned, never panic, never misroute, and
//! reconnect.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use redis_conn::{ConnectionConfig, Error, ReconnectPolicy};
use redis_paired::PairedConnection;
use resp::{cmd, Decoder, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use support::Answer;

mod support;

/// What the fake server does with the command it was sent.
enum Act {
    Reply(&'static [u8]),
    /// Writes these bytes and hangs up.
    ReplyAndClose(&'static [u8]),
}

/// A fake server: how to reach it, how many connections it took, and every
/// command it received.
struct Fake {
    config: ConnectionConfig,
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Value>>>,
}

/// Starts a fake server; `script(connection_number, command_name)` decides
/// each answer. Connection numbers start at 0. The client speaks RESP2 with
/// no credentials, so it sends no handshake.
async fn fake_server(script: fn(usize, &str) -> Act) -> Fake {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let (port, connections) = support::serve(move |n, cmd| {
        log.lock().unwrap().push(cmd.clone());
        let name = match cmd {
            Value::Array(args) => match args.first().and_then(Value::as_bytes) {
                Some(name) => String::from_utf8_lossy(name).to_uppercase(),
                None => return Answer::hang_up(),
            },
            _ => return Answer::hang_up(),
        };
        match script(n, &name) {
            Act::Reply(bytes) => Answer::write(bytes),
            Act::ReplyAndClose(bytes) => Answer {
                close: true,
                ..Answer::write(bytes)
            },
        }
    })
    .await;
    let config: ConnectionConfig = format!("redis://127.0.0.1:{port}/?protocol=resp2")
        .parse()
        .unwrap();
    let config = config
        .with_connect_timeout(Duration::from_secs(2))
        .with_reconnect(ReconnectPolicy::default().with_max(Duration::from_millis(50)));
    Fake {
        config,
        connections,
        received,
    }
}

/// Sends PING until it succeeds (after the reconnect), within a deadline.
async fn recovers(conn: &PairedConnection) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match conn.send::<String>(cmd!("PING")).await {
            Ok(pong) => return pong,
            Err(e) => assert!(
                tokio::time::Instant::now() < deadline,
                "never recovered: {e}"
            ),
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn garbage_is_a_protocol_error_then_the_connection_heals() {
    let Fake {
        config,
        connections,
        ..
    } = fake_server(|n, name| match (n, name) {
        (0, "GET") => Act::Reply(b"?what is this\r\n"),
        _ => Act::Reply(b"+PONG\r\n"),
    })
    .await;
    let conn = PairedConnection::connect(&config).await.unwrap();
    let err = conn
        .send::<Option<String>>(cmd!("GET", "k"))
        .await
        .unwrap_err();
    match &err {
        Error::Connection(reason) => assert!(
            matches!(**reason, Error::Protocol(resp::Error::InvalidType(b'?'))),
            "{reason:?}"
        ),
        other => panic!("expected a connection error, got {other:?}"),
    }
    assert_eq!(recovers(&conn).await, "PONG");
    assert!(connections.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn an_oversized_length_header_is_refused_before_anything_is_reserved() {
    let Fake { config, .. } = fake_server(|n, name| match (n, name) {
        (0, "GET") => Act::Reply(b"$99999999999\r\n"),
        _ => Act::Reply(b"+PONG\r\n"),
    })
    .await;
    let conn = PairedConnection::connect(&config).await.unwrap();
    let err = conn
        .send::<Option<String>>(cmd!("GET", "k"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
    assert_eq!(recovers(&conn).await, "PONG");
}

#[tokio::test]
async fn an_unsolicited_frame_breaks_the_connection_not_the_pairing() {
    // The first connection answers PING twice: the extra reply has no
    // request to go to.
    let Fake { config, .. } = fake_server(|n, name| match (n, name) {
        (0, "PING") => Act::Reply(b"+PONG\r\n+EXTRA\r\n"),
        _ => Act::Reply(b"+PONG\r\n"),
    })
    .await;
    let conn = PairedConnection::connect(&config).await.unwrap();
    let first: String = conn.send(cmd!("PING")).await.unwrap();
    assert_eq!(first, "PONG");
    // Whatever comes next must never be the stray "EXTRA".
    for _ in 0..20 {
        if let Ok(pong) = conn.send::<String>(cmd!("PING")).await {
            assert_eq!(pong, "PONG");
        }
    }
    assert_eq!(recovers(&conn).await, "PONG");
}

#[tokio::test]
async fn a_hang_up_mid_reply_fails_the_callers_concerned() {
    let Fake { config, .. } = fake_server(|n, name| match (n, name) {
        (0, "GET") => Act::ReplyAndClose(b"$10\r\nabc"),
        _ => Act::Reply(b"+PONG\r\n"),
    })
    .await;
    let conn = PairedConnection::connect(&config).await.unwrap();
    let get = conn.send::<Option<String>>(cmd!("GET", "k"));
    let err = get.await.unwrap_err();
    assert!(matches!(err, Error::Connection(_)), "{err:?}");
    assert!(
        err.to_string().contains("closed"),
        "the reason says the server closed: {err}"
    );
    assert_eq!(recovers(&conn).await, "PONG");
}

#[tokio::test]
async fn a_silent_server_is_detected_and_replaced() {
    // The first connection never answers GET.
    let Fake {
        config,
        connections,
        ..
    } = fake_server(|n, name| match (n, name) {
        (0, "GET") => Act::Reply(b""),
        _ => Act::Reply(b"+PONG\r\n"),
    })
    .await;
    let options =
        redis_paired::Options::default().with_response_timeout(Duration::from_millis(200));
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    let err = conn
        .send::<Option<String>>(cmd!("GET", "k"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                what: "response",
                ..
            }
        ),
        "{err:?}"
    );
    // It names the command and the limit.
    assert_eq!(err.to_string(), "response to GET timed out after 200ms");
    assert_eq!(recovers(&conn).await, "PONG");
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the silent connection was replaced"
    );
}

#[tokio::test]
async fn commands_in_flight_when_the_server_hangs_up_are_never_sent_again() {
    // The first connection takes commands and hangs up without answering.
    let Fake {
        config, received, ..
    } = fake_server(|n, name| match (n, name) {
        (0, "INCR") => Act::ReplyAndClose(b""),
        (_, "INCR") => Act::Reply(b":1\r\n"),
        _ => Act::Reply(b"+PONG\r\n"),
    })
    .await;
    let conn = PairedConnection::connect(&config).await.unwrap();
    let replies: Vec<_> = (0..20)
        .map(|i| conn.send::<i64>(cmd!("INCR", format!("once:{i}"))))
        .collect();
    for reply in replies {
        let err = reply.await.unwrap_err();
        assert!(matches!(err, Error::Connection(_)), "{err:?}");
    }
    assert_eq!(recovers(&conn).await, "PONG");
    let _: i64 = conn.send(cmd!("INCR", "after")).await.unwrap();
    let received = received.lock().unwrap();
    for i in 0..20 {
        let key = Value::bulk(format!("once:{i}"));
        let times = received
            .iter()
            .filter(|cmd| matches!(cmd, Value::Array(args) if args.get(1) == Some(&key)))
            .count();
        assert!(times <= 1, "INCR once:{i} arrived {times} times");
    }
}

/// Replies are handed out a share at a time; those still in the read buffer
/// must reach their callers even when the server sends nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_replies_arriving_at_once_all_reach_their_callers() {
    const CALLERS: usize = 300;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::new();
        let mut replies = Vec::new();
        let mut answered = 0;
        // Answers nothing until every caller's GET is in, then all of them
        // in one write, and then stays silent with the socket open.
        while answered < CALLERS {
            match decoder.decode(&mut buf).unwrap() {
                Some(Value::Array(args)) => {
                    let key = args[1].as_bytes().unwrap().to_vec();
                    replies.extend_from_slice(format!("${}\r\n", key.len()).as_bytes());
                    replies.extend_from_slice(&key);
                    replies.extend_from_slice(b"\r\n");
                    answered += 1;
                }
                Some(other) => panic!("not a command: {other:?}"),
                None => {
                    if socket.read_buf(&mut buf).await.unwrap() == 0 {
                        return;
                    }
                }
            }
        }
        socket.write_all(&replies).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let config: ConnectionConfig = format!("redis://127.0.0.1:{port}/?protocol=resp2")
        .parse()
        .unwrap();
    let conn = PairedConnection::connect(&config).await.unwrap();
    let replies: Vec<_> = (0..CALLERS)
        .map(|i| conn.send::<String>(cmd!("GET", format!("key:{i}"))))
        .collect();
    let answers = tokio::time::timeout(
        Duration::from_secs(5),
        futures_util::future::join_all(replies),
    )
    .await
    .expect("every reply arrives though the server sends nothing more");
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.unwrap(), format!("key:{i}"));
    }
}

#[tokio::test]
async fn a_server_still_loading_its_data_is_not_back_yet() {
    // After the hang-up, the next connections are accepted by a server
    // still loading its data, as a restarted one with persistence is.
    let Fake {
        config,
        connections,
        ..
    } = fake_server(|n, name| match (n, name) {
        (0, "GET") => Act::ReplyAndClose(b""),
        (1..=3, _) => Act::Reply(b"-LOADING Redis is loading the dataset in memory\r\n"),
        (_, "GET") => Act::Reply(b"$6\r\nloaded\r\n"),
        _ => Act::Reply(b"+PONG\r\n"),
    })
    .await;
    let conn = PairedConnection::connect(&config).await.unwrap();
    let err = conn.send::<Option<String>>(cmd!("GET", "k")).await;
    assert!(err.is_err_and(|e| e.is_connection()));
    while conn.status().is_ok() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Sent while the connection is down: it waits for a server that
    // answers, instead of going out to one that refuses it.
    let got: Option<String> = conn.send(cmd!("GET", "k")).await.unwrap();
    assert_eq!(got.as_deref(), Some("loaded"));
    assert_eq!(connections.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn with_retry_reads_the_reads_in_flight_go_out_again_first_and_writes_never() {
    let Fake {
        config, received, ..
    } = fake_server(|n, name| match (n, name) {
        (0, "GET") => Act::ReplyAndClose(b""),
        (_, "GET") => Act::Reply(b"$5\r\nagain\r\n"),
        (_, "SET") => Act::Reply(b"+OK\r\n"),
        _ => Act::Reply(b"+PONG\r\n"),
    })
    .await;
    let options = redis_paired::Options::default().with_retry_reads(true);
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    let first = conn.send::<Option<String>>(cmd!("GET", "first"));
    let incr = conn.send::<i64>(cmd!("INCR", "n"));
    let second = conn.send::<Option<String>>(cmd!("GET", "second"));
    let err = incr.await.unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    let set = conn.send::<()>(cmd!("SET", "later", "v"));
    assert_eq!(first.await.unwrap().as_deref(), Some("again"));
    assert_eq!(second.await.unwrap().as_deref(), Some("again"));
    set.await.unwrap();
    assert_eq!(conn.stats().retried_reads, 2);

    let words = |v: &Value| -> String {
        let Value::Array(args) = v else {
            panic!("a command is an array")
        };
        let args: Vec<_> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a.as_bytes().unwrap_or_default()).into_owned())
            .collect();
        args.join(" ")
    };
    let received: Vec<String> = received.lock().unwrap().iter().map(words).collect();
    // On the new connection: the check that the server is ready, the reads
    // in their order, then what was sent later. The INCR went out once.
    let after = received.iter().rposition(|c| c == "PING").unwrap();
    assert_eq!(
        received[after..],
        ["PING", "GET first", "GET second", "SET later v"],
        "{received:?}"
    );
    assert!(received[..after].iter().filter(|c| *c == "INCR n").count() <= 1);
}
