//! The `otel` section (the `bench-otel` feature): what the client's
//! telemetry costs on `GET` of a 64-byte value from 512 tasks sharing one
//! `redis-paired` connection, with the telemetry off, metrics on, command
//! spans on, and both.
//!
//! The meter and the `tracing` subscriber are fixed for a process's life,
//! so each run is a process of its own: this binary started again with
//! `--otel-child MODE URL`, which sets the mode up, connects, prepares the
//! key, and then times its 512 tasks (wall clock and the process's CPU
//! clock) and prints what it measured. The modes take turns within each
//! round, in an order that rotates from round to round, so that load from
//! elsewhere meets them alike; ratios to `off` are taken within a round.
//!
//! - `off`: no meter set (the global provider is the no-op one) and no
//!   subscriber: what a program that turns nothing on pays.
//! - `metrics`: an SDK meter provider, its reader an in-memory exporter
//!   that exports once, after the run.
//! - `spans`: a `tracing` registry that wants the `redis::command` spans
//!   at DEBUG (no exporter: the cost of the spans themselves).
//! - `all`: both.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::clients::{Client, Ours, Target};
use crate::live;
use crate::measure::{median, range, Spread};
use crate::Options;

/// Every case of this section.
pub(crate) const CASES: &[&str] = &["otel/get/64B/512tasks"];

/// The modes, in the order of the table.
const MODES: &[&str] = &["off", "metrics", "spans", "all"];

const TASKS: usize = 512;
const OPS: u64 = 200_000;
const KEY: &str = "bench:get";

/// Runs the rounds, each mode once a round in a child process, and prints
/// the table.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let server =
        xtask::RedisServer::start().map_err(|e| format!("cannot start redis-server: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    println!(
        "GET of one 64 bytes value from {TASKS} tasks on one redis-paired connection, \
         {OPS} operations a run; each run a process of its own; {} rounds, the modes \
         rotating within each",
        options.runs
    );
    let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); MODES.len()];
    for round in 0..options.runs {
        for turn in 0..MODES.len() {
            let mode = (round + turn) % MODES.len();
            let output = Command::new(&exe)
                .args(["--otel-child", MODES[mode], &server.url()])
                .output()
                .map_err(|e| format!("cannot start a run: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "the {} run failed: {}",
                    MODES[mode],
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            samples[mode].push(parse(&text).ok_or(format!("unreadable run output {text:?}"))?);
        }
    }
    println!(
        "{:<9} {:>12} {:>22} {:>12} {:>22}",
        "mode", "ops/s", "min–max", "vs off", "min–max"
    );
    for (mode, runs) in samples.iter().enumerate() {
        let rate = Spread::of(runs.iter().map(|(rate, _)| *rate));
        let ratio = Spread::of(
            runs.iter()
                .zip(&samples[0])
                .map(|((rate, _), (off, _))| rate / off),
        );
        let cpu = Spread::of(runs.iter().map(|(_, cpu)| *cpu));
        println!(
            "{:<9} {:>12} {:>22} {:>12} {:>22}   cpu {} µs/op ({})",
            MODES[mode],
            median(rate, 0),
            range(rate, 0),
            median(ratio, 3),
            range(ratio, 3),
            median(cpu, 2),
            range(cpu, 2),
        );
    }
    Ok(())
}

/// `rate cpu_per_op` off a child's line `ops/s=R cpu-us/op=C`.
fn parse(text: &str) -> Option<(f64, f64)> {
    let line = text.lines().find(|l| l.starts_with("ops/s="))?;
    let mut fields = line.split_whitespace();
    let rate = fields.next()?.strip_prefix("ops/s=")?.parse().ok()?;
    let cpu = fields.next()?.strip_prefix("cpu-us/op=")?.parse().ok()?;
    Some((rate, cpu))
}

/// One run in this process, as `--otel-child MODE URL` asks: sets the mode
/// up, then times the tasks and prints what it measured.
pub(crate) fn child(mode: &str, url: &str) -> Result<(), String> {
    let metrics = matches!(mode, "metrics" | "all");
    let spans = matches!(mode, "spans" | "all");
    if !MODES.contains(&mode) {
        return Err(format!("unknown mode {mode}"));
    }
    let exporter = opentelemetry_sdk::metrics::InMemoryMetricExporter::default();
    let provider = metrics.then(|| {
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(
                opentelemetry_sdk::metrics::PeriodicReader::builder(exporter.clone()).build(),
            )
            .build();
        let meter = opentelemetry::metrics::MeterProvider::meter(&provider, "bench");
        redis_conn::otel::set_meter(meter).map_err(|_| "the meter was set already".to_string())?;
        Ok::<_, String>(provider)
    });
    let provider = provider.transpose()?;
    if spans {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("redis::command=debug"));
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|e| format!("cannot set the subscriber: {e}"))?;
    }
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .ok_or(format!("no port in {url}"))?;
    let target = Target {
        url: url.to_string(),
        port,
    };
    let value = crate::paired::payload(64);
    live::admin(port, &[b"SET", KEY.as_bytes(), &value])?;
    let runtime = live::runtime()?;
    let client = runtime.block_on(Ours::connect(&target))?;
    let cpu_before = live::process_cpu_time();
    let start = Instant::now();
    let ops = runtime.block_on(drive(client.clone(), value))?;
    let wall = start.elapsed();
    let cpu = live::process_cpu_time()
        .zip(cpu_before)
        .and_then(|(after, before)| after.checked_sub(before))
        .unwrap_or(Duration::ZERO);
    runtime.block_on(client.close());
    if ops != OPS {
        return Err(format!("{ops} GETs checked, not {OPS}"));
    }
    if let Some(provider) = provider {
        // What the run recorded is there: the meter measured something.
        provider
            .force_flush()
            .map_err(|e| format!("cannot export: {e}"))?;
        let exported = exporter
            .get_finished_metrics()
            .map_err(|e| format!("cannot read the export: {e}"))?;
        let recorded = recorded_operations(&exported);
        if recorded < OPS {
            return Err(format!(
                "metrics on, but {recorded} operation durations recorded for {OPS} GETs"
            ));
        }
    }
    println!(
        "ops/s={:.0} cpu-us/op={:.3}",
        ops as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / ops as f64
    );
    Ok(())
}

/// The timed part: `TASKS` tasks sharing the connection, `OPS` checked
/// `GET`s in all.
async fn drive(client: Ours, value: Bytes) -> Result<u64, String> {
    let value = Arc::new(value);
    let mut tasks = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let n = crate::paired::share(OPS, TASKS, task);
        let mut client = client.clone();
        let value = Arc::clone(&value);
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                let data = client.get(KEY).await?;
                if data != value[..] {
                    return Err(format!("GET returned {} bytes", data.len()));
                }
            }
            Ok::<u64, String>(n)
        }));
    }
    let mut ops = 0;
    for task in tasks {
        ops += task.await.map_err(|e| format!("task failed: {e}"))??;
    }
    Ok(ops)
}

/// How many operation durations the export holds.
fn recorded_operations(exported: &[opentelemetry_sdk::metrics::data::ResourceMetrics]) -> u64 {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    let mut count = 0;
    for scope in exported.iter().flat_map(|r| r.scope_metrics()) {
        for metric in scope
            .metrics()
            .filter(|m| m.name() == "db.client.operation.duration")
        {
            if let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() {
                count += histogram.data_points().map(|p| p.count()).sum::<u64>();
            }
        }
    }
    count
}
