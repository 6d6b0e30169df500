//! Spans and metrics of the client, printed on stdout: each command's span
//! (target `redis::command`) by a `tracing` fmt layer as it closes, and the
//! metrics by OpenTelemetry's stdout exporter once the work is done.
//!
//! ```text
//! cargo run -p examples --example telemetry
//! ```
//!
//! It sets the meter before the first connection opens (the client takes
//! its instruments from it then), opens a connection, runs a few commands,
//! one of them refused by the server (`WRONGTYPE`), and a pipeline, then
//! exports the metrics. To send them elsewhere, swap the exporters:
//! `tracing-opentelemetry` turns the spans into OpenTelemetry spans with
//! the same attributes, and an OTLP exporter takes the place of stdout.
//!
//! The server is `REDIS_URL` (default `redis://127.0.0.1:6379`). The key
//! (`telemetry:*`) expires after a minute.

use std::io::IsTerminal;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use redis_facade::prelude::*;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());

    // Spans: one line each as it closes, with its fields and how long it
    // took. `RUST_LOG` may ask for more (`redis_paired=info` adds the
    // connection's events).
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("redis::command=debug"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_target(true)
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    // Metrics: to stdout when the provider flushes (here, at the end).
    let provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default()).build(),
        )
        .build();
    if redis_facade::otel::set_meter(provider.meter("telemetry-example")).is_err() {
        return Err("the meter was fixed before it was set".into());
    }

    let conn = Client::open(url)?.paired().await?;
    let () = conn
        .set_with(
            "telemetry:greeting",
            "hello",
            SetOptions::new().expiry(Expiry::Ex(60)),
        )
        .await?;
    let greeting: Option<String> = conn.get("telemetry:greeting").await?;
    println!("read back: {greeting:?}");
    // Not a list: the server refuses, and the span says WRONGTYPE.
    let refused = conn.lpush("telemetry:greeting", "x").await;
    println!(
        "LPUSH on a string: {}",
        refused.map_or_else(|e| e.to_string(), |n| n.to_string())
    );
    let (len, ttl): (i64, i64) = conn
        .pipeline()
        .strlen("telemetry:greeting")
        .ttl("telemetry:greeting")
        .query()
        .await?;
    println!("length {len}, expires in {ttl} s");
    println!("connection counters: {:?}", conn.stats());

    provider.force_flush()?;
    provider.shutdown()?;
    Ok(())
}
