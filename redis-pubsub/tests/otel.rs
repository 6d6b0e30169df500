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
    let exported = export::Exported::new();
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

#[cfg(feature = "otel")]
mod export {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    /// The metrics the client records in this process.
    pub(crate) struct Exported {
        provider: SdkMeterProvider,
        exporter: InMemoryMetricExporter,
    }

    impl Exported {
        /// Makes the client record to an in-memory exporter: before any
        /// connection opens, as there is one test in this file.
        pub(crate) fn new() -> Exported {
            let exporter = InMemoryMetricExporter::default();
            let provider = SdkMeterProvider::builder()
                .with_reader(PeriodicReader::builder(exporter.clone()).build())
                .build();
            assert!(redis_conn::otel::set_meter(provider.meter("tests")).is_ok());
            Exported { provider, exporter }
        }

        /// Exports now; the sum of the points of the counter `name`.
        pub(crate) fn total(&self, name: &str) -> f64 {
            self.provider.force_flush().expect("exported");
            let exported = self.exporter.get_finished_metrics().expect("exported");
            let mut total = 0.0;
            for scope in exported.last().iter().flat_map(|r| r.scope_metrics()) {
                for metric in scope.metrics().filter(|m| m.name() == name) {
                    if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
                        total += sum.data_points().map(|p| p.value() as f64).sum::<f64>();
                    }
                }
            }
            total
        }
    }
}
