//! The pub/sub counters (`PubsubStats`) and, with the `otel` feature, their
//! export, read back through the SDK's in-memory exporter after messages
//! that must move them. Live: `REDIS_URL`, or a server started here.

mod support;

use std::time::Duration;

use redis_conn::Protocol;
use redis_pubsub::PubsubConnection;
use support::{config, next_message, unique, url, Client};

/// Polls `done` every 10 ms for up to 10 s.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn messages_and_drops_for_slow_readers_are_counted() {
    #[cfg(feature = "otel")]
    let exported = exported();
    let mut client = Client::connect(&url()).await;
    let conn = PubsubConnection::connect(&config(&url(), Protocol::Resp3))
        .await
        .expect("connects");
    // A reader with room for one message, which reads one, late.
    let slow = conn.with_buffer_capacity(1);
    let channel = unique("otel");
    let mut sub = slow.subscribe(channel.as_str()).await.unwrap();
    for i in 0..10 {
        assert_eq!(client.publish(&channel, &i.to_string()).await, 1);
    }
    assert!(
        eventually(|| conn.stats().messages == 10).await,
        "{:?}",
        conn.stats()
    );
    let stats = conn.stats();
    assert_eq!((stats.messages, stats.lagged), (10, 9), "{stats:?}");
    let first = next_message(&mut sub).await;
    assert_eq!(first.payload_str(), Ok("0"));
    #[cfg(feature = "otel")]
    {
        // Summed over every connection of this process to the server.
        assert!(exported.total("redis.client.pubsub.messages") >= 10.0);
        assert!(exported.total("redis.client.pubsub.lagged") >= 9.0);
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
