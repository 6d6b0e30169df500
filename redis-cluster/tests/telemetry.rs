//! A command whose node answers `MOVED`, then `ASK`, then `TRYAGAIN`,
//! before it runs, on a fake node in the test process: one span for the
//! command (target `redis::command`), the redirects and the retry as its
//! events and its tries on the node as its children; the counters of
//! `ClusterStats`; and with the `otel` feature, their export.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use redis_cluster::{ClusterConfig, ClusterConnection};
use redis_conn::{ConnectionConfig, Protocol};
use resp::{cmd, Decoder, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use xtask::telemetry::{Seen, Spans};

/// The `GET`s the fake node got so far.
static GETS: AtomicUsize = AtomicUsize::new(0);

/// A node serving every slot that answers the first `GET` with `MOVED` to
/// itself, the second with `ASK` to itself, the third with `TRYAGAIN`, and
/// the fourth with the value.
async fn fake_node() -> ClusterConfig {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
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
                        ("CLUSTER", "SHARDS") => all_slots(port),
                        ("CLUSTER", "NODES") => "-ERR unknown subcommand\r\n".into(),
                        ("GET", _) => match GETS.fetch_add(1, Ordering::SeqCst) {
                            0 => format!("-MOVED 12182 127.0.0.1:{port}\r\n"),
                            1 => format!("-ASK 12182 127.0.0.1:{port}\r\n"),
                            2 => "-TRYAGAIN a migration is under way\r\n".into(),
                            _ => "$1\r\nv\r\n".into(),
                        },
                        _ => "+OK\r\n".into(),
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
        .with_protocol(Protocol::Resp2);
    ClusterConfig::new([seed]).with_retry_delay(Duration::from_millis(1))
}

/// One shard, this node, serving every slot.
fn all_slots(port: u16) -> String {
    format!(
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n\
         *8\r\n$4\r\nport\r\n:{port}\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    )
}

fn field<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.fields.get(name).map(String::as_str)
}

#[tokio::test]
async fn redirects_and_retries_are_events_of_the_commands_span_and_counted() {
    #[cfg(feature = "otel")]
    let exported = exported();
    let config = fake_node().await;
    let recorder = Spans::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let conn = ClusterConnection::connect(&config).await.unwrap();
    let value: String = conn.send(cmd!("GET", "k")).await.unwrap();
    assert_eq!(value, "v");
    let stats = conn.stats();
    assert_eq!(
        (stats.moved, stats.asked, stats.retried),
        (1, 1, 1),
        "{stats:?}"
    );

    let spans = recorder.spans();
    let (id, command) = spans
        .iter()
        .find(|(_, s)| field(s, "otel.name") == Some("GET") && s.parent.is_none())
        .expect("a span for the command");
    assert_eq!(field(command, "db.system.name"), Some("redis"));
    let happened: Vec<_> = command
        .events
        .iter()
        .map(|e| {
            e.get("redirect")
                .or_else(|| e.get("retry"))
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(happened, ["MOVED", "ASK", "TRYAGAIN"], "{command:?}");
    // Its tries on the node are its children, each naming the node.
    let tries: Vec<_> = spans
        .iter()
        .filter(|(_, s)| s.parent == Some(*id))
        .map(|(_, s)| field(s, "otel.name").unwrap_or_default())
        .collect();
    assert_eq!(tries, ["GET", "GET", "PIPELINE", "GET"], "{spans:?}");
    assert!(spans
        .iter()
        .filter(|(_, s)| s.parent == Some(*id))
        .all(|(_, s)| field(s, "server.port").is_some()));

    #[cfg(feature = "otel")]
    {
        assert_eq!(exported.total("redis.client.cluster.moved"), 1.0);
        assert_eq!(exported.total("redis.client.cluster.asked"), 1.0);
        assert_eq!(exported.total("redis.client.cluster.retries"), 1.0);
        // Each node's connection records its operations: four tries of
        // the GET, one of them inside ASKING's pipeline.
        assert!(exported.total("db.client.operation.duration") >= 4.0);
    }
}

/// Makes the client record to an in-memory exporter: before any connection
/// opens, as there is one test in this file.
#[cfg(feature = "otel")]
fn exported() -> xtask::telemetry::Metrics {
    let metrics = xtask::telemetry::Metrics::new();
    assert!(redis_conn::otel::set_meter(metrics.meter()).is_ok());
    metrics
}
