//! A fake cluster node in the test process answers with redirect loops,
//! redirects to nowhere, `CLUSTERDOWN` forever and unusable topologies, or
//! never answers at all: the client must fail with a clear error, never
//! hang, never panic, and never let a silent node hold up the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use redis_cluster::{ClusterConfig, ClusterConnection, ClusterError, Error};
use redis_conn::{ConnectionConfig, Protocol};
use redis_paired::Options;
use resp::{cmd, Decoder, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::{timeout, Instant};

/// A node that answers `CLUSTER SHARDS` with `shards(port)` and every other
/// command with `answer(port, name)`; counts the commands it gets.
async fn fake_node(
    shards: fn(u16) -> String,
    answer: fn(u16, &str) -> String,
) -> (ClusterConfig, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let commands = Arc::new(AtomicUsize::new(0));
    let counter = commands.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut decoder = Decoder::new();
                let mut buf = BytesMut::new();
                loop {
                    let cmd = match decoder.decode(&mut buf) {
                        Ok(Some(cmd)) => cmd,
                        Ok(None) => match socket.read_buf(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => continue,
                        },
                        Err(_) => return,
                    };
                    let Value::Array(args) = cmd else { return };
                    let word = |i: usize| {
                        args.get(i)
                            .and_then(Value::as_bytes)
                            .map(|b| String::from_utf8_lossy(b).to_uppercase())
                            .unwrap_or_default()
                    };
                    let reply = match (word(0).as_str(), word(1).as_str()) {
                        ("CLUSTER", "SHARDS") => shards(port),
                        // No config epochs: the newest view wins.
                        ("CLUSTER", "NODES") => "-ERR unknown subcommand\r\n".into(),
                        (name, _) => {
                            counter.fetch_add(1, Ordering::SeqCst);
                            answer(port, name)
                        }
                    };
                    if socket.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let seed = ConnectionConfig::from_url(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .with_protocol(Protocol::Resp2)
        .with_connect_timeout(Duration::from_millis(500));
    let config = ClusterConfig::new([seed]).with_retry_delay(Duration::from_millis(1));
    (config, commands)
}

/// What a fake node answers to `CLUSTER SHARDS`, given its port.
type Shards = fn(u16) -> String;

/// One shard, this node, serving every slot.
fn all_slots(port: u16) -> String {
    format!(
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n\
         *8\r\n$4\r\nport\r\n:{port}\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    )
}

#[tokio::test]
async fn a_redirect_loop_ends_with_a_clear_error() {
    let (config, commands) = fake_node(all_slots, |port, _| {
        format!("-MOVED 12182 127.0.0.1:{port}\r\n")
    })
    .await;
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let result = timeout(
        Duration::from_secs(5),
        conn.send::<Value>(cmd!("GET", "foo")),
    )
    .await
    .expect("a redirect loop hung");
    let err = result.unwrap_err();
    assert!(
        matches!(err, Error::Cluster(ClusterError::TooManyRedirects(5))),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "cluster: no answer after 5 redirects");
    // The first try and five redirects: the command never ran, so each was
    // safe to send, and no more were sent.
    assert_eq!(commands.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_redirect_to_a_closed_port_is_a_connection_error() {
    let (config, _) = fake_node(all_slots, |_, _| "-MOVED 12182 127.0.0.1:1\r\n".into()).await;
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let result = timeout(
        Duration::from_secs(5),
        conn.send::<Value>(cmd!("GET", "foo")),
    )
    .await
    .expect("a redirect to nowhere hung");
    let err = result.unwrap_err();
    assert!(
        err.is_connection() || matches!(err, Error::Io(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_cluster_that_stays_down_fails_the_command_at_its_deadline() {
    let (config, commands) = fake_node(all_slots, |_, _| {
        "-CLUSTERDOWN The cluster is down\r\n".into()
    })
    .await;
    let response_timeout = Duration::from_millis(500);
    let config = config.with_options(Options::default().with_response_timeout(response_timeout));
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let start = Instant::now();
    let err = timeout(
        Duration::from_secs(5),
        conn.send::<Value>(cmd!("GET", "foo")),
    )
    .await
    .expect("hung")
    .unwrap_err();
    // A failover takes what it takes: the command waits it out until its
    // own timeout, then fails with the cluster's last word.
    assert_eq!(err.server_code(), Some("CLUSTERDOWN"), "{err:?}");
    let waited = start.elapsed();
    assert!(waited >= response_timeout / 2, "{waited:?}");
    // Waits that grow to 50 ms: a bounded number of tries, more than the
    // redirect limit.
    let tries = commands.load(Ordering::SeqCst);
    assert!((6..=30).contains(&tries), "{tries} tries");
}

#[tokio::test]
async fn unusable_topologies_are_refused_with_the_reason() {
    let cases: [(Shards, &str); 4] = [
        (|_| "*0\r\n".into(), "no slot is served"),
        (|_| ":42\r\n".into(), "not an array"),
        (
            |port| {
                // Two shards claiming the same slots.
                let one = all_slots(port);
                let body = one.strip_prefix("*1\r\n").unwrap();
                format!("*2\r\n{body}{}", body.replace(&port.to_string(), "1"))
            },
            "claimed by two shards",
        ),
        // Before Redis 7 there is no CLUSTER SHARDS: CLUSTER SLOTS is asked.
        (
            |_| "-ERR unknown subcommand\r\n".into(),
            "the CLUSTER SLOTS reply is not an array",
        ),
    ];
    for (shards, reason) in cases {
        let (config, _) = fake_node(shards, |_, _| "+OK\r\n".into()).await;
        let err = timeout(Duration::from_secs(5), ClusterConnection::connect(&config))
            .await
            .expect("connect hung")
            .unwrap_err();
        assert!(err.to_string().contains(reason), "{err} / {reason}");
    }
}

#[tokio::test]
async fn a_seed_that_never_answers_holds_up_nothing() {
    // A node that takes connections and never says a word, like one
    // stopped with SIGSTOP.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (config, _) = fake_node(all_slots, |_, _| "+OK\r\n".into()).await;
    let good = config.seeds()[0]
        .clone()
        .with_connect_timeout(Duration::from_secs(10));
    let frozen = good
        .clone()
        .with_address(redis_conn::Address::tcp("127.0.0.1", silent_port));
    // The silent seed first: it is asked at the same time as the other,
    // not before it.
    let config = ClusterConfig::new([frozen, good])
        .with_options(Options::default().with_response_timeout(Duration::from_secs(10)));
    let start = Instant::now();
    let conn = timeout(Duration::from_secs(5), ClusterConnection::connect(&config))
        .await
        .expect("connect waited for the silent seed")
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    for _ in 0..3 {
        let start = Instant::now();
        conn.refresh().await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        let () = conn.send(cmd!("SET", "k", "v")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

/// How many `COMMAND` the fake node of
/// `an_unreadable_command_info_is_asked_once_and_routes_by_the_first_argument`
/// got.
static COMMAND_INFO_ASKED: AtomicUsize = AtomicUsize::new(0);

#[tokio::test]
async fn an_unreadable_command_info_is_asked_once_and_routes_by_the_first_argument() {
    let (config, _) = fake_node(all_slots, |_, name| match name {
        "COMMAND" => {
            COMMAND_INFO_ASKED.fetch_add(1, Ordering::SeqCst);
            // Not the array of entries the server documents.
            ":1\r\n".into()
        }
        _ => "+OK\r\n".into(),
    })
    .await;
    let conn = ClusterConnection::connect(&config).await.unwrap();
    for _ in 0..3 {
        let reply = timeout(
            Duration::from_secs(5),
            conn.send::<String>(cmd!("MODULE.CMD", "k", "v")),
        )
        .await
        .expect("a command the server described unreadably hung");
        assert_eq!(reply.unwrap(), "OK");
    }
    let (a, b) = (
        conn.send::<String>(cmd!("other.cmd", "k")),
        conn.send::<String>(cmd!("OTHER.CMD", "k")),
    );
    assert_eq!(
        (a.await.unwrap(), b.await.unwrap()),
        ("OK".into(), "OK".into())
    );
    // One question a name, whatever its case, none again after an answer
    // that could not be read.
    assert_eq!(COMMAND_INFO_ASKED.load(Ordering::SeqCst), 2);
}
