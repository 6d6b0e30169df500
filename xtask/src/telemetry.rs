//! What the client crates' tests read the client's telemetry with (the
//! `telemetry` feature): [`Metrics`], a meter provider that exports to
//! memory, and [`Spans`], a `tracing` subscriber that keeps the spans and
//! events of the target `redis::command`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::{KeyValue, Value as AttributeValue};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A meter provider whose metrics are exported to memory, on demand.
#[derive(Debug)]
pub struct Metrics {
    provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

/// One data point as exported: its attributes, and its value (a
/// histogram's count).
#[derive(Debug)]
pub struct Point {
    /// The point's attributes.
    pub attributes: Vec<KeyValue>,
    /// Its value; for a histogram, how many values it counted.
    pub value: f64,
}

impl Point {
    /// Whether the point has the attribute `key` with `value`.
    pub fn has(&self, key: &str, value: impl Into<AttributeValue>) -> bool {
        let value = value.into();
        self.attributes
            .iter()
            .any(|kv| kv.key.as_str() == key && kv.value == value)
    }

    /// Whether the point has no attribute `key`.
    pub fn lacks(&self, key: &str) -> bool {
        self.attributes.iter().all(|kv| kv.key.as_str() != key)
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A provider exporting to memory; the client records to it once given
    /// [`meter`](Metrics::meter).
    pub fn new() -> Metrics {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        Metrics { provider, exporter }
    }

    /// The meter for the client (`redis_conn::otel::set_meter`).
    pub fn meter(&self) -> Meter {
        self.provider.meter("tests")
    }

    /// Exports now, and returns the points of the metric `name`.
    pub fn points(&self, name: &str) -> Vec<Point> {
        self.provider.force_flush().expect("the export works");
        let exported = self.exporter.get_finished_metrics().expect("exported");
        let mut points = Vec::new();
        for scope in exported.last().iter().flat_map(|r| r.scope_metrics()) {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                match metric.data() {
                    AggregatedMetrics::F64(data) => collect(data, &mut points, |v| v),
                    AggregatedMetrics::U64(data) => collect(data, &mut points, |v| v as f64),
                    AggregatedMetrics::I64(data) => collect(data, &mut points, |v| v as f64),
                }
            }
        }
        points
    }

    /// Exports now; the sum of the points of `name` (a histogram's counts).
    pub fn total(&self, name: &str) -> f64 {
        self.points(name).iter().map(|p| p.value).sum()
    }
}

fn collect<T: Copy>(data: &MetricData<T>, points: &mut Vec<Point>, float: impl Fn(T) -> f64) {
    let mut push = |attributes: Vec<KeyValue>, value: f64| points.push(Point { attributes, value });
    match data {
        MetricData::Sum(sum) => {
            for p in sum.data_points() {
                push(p.attributes().cloned().collect(), float(p.value()));
            }
        }
        MetricData::Gauge(gauge) => {
            for p in gauge.data_points() {
                push(p.attributes().cloned().collect(), float(p.value()));
            }
        }
        MetricData::Histogram(histogram) => {
            for p in histogram.data_points() {
                push(p.attributes().cloned().collect(), p.count() as f64);
            }
        }
        MetricData::ExponentialHistogram(_) => {}
    }
}

/// A span as [`Spans`] saw it.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Its fields as text, and its name as `name`.
    pub fields: HashMap<String, String>,
    /// Whether it closed.
    pub closed: bool,
    /// The fields of the events inside it.
    pub events: Vec<HashMap<String, String>>,
    /// The span it was made in.
    pub parent: Option<u64>,
}

/// A subscriber that keeps every span and event of the target
/// `redis::command`; clones share what they saw.
#[derive(Debug, Clone, Default)]
pub struct Spans {
    spans: Arc<Mutex<HashMap<u64, Seen>>>,
    next: Arc<AtomicU64>,
    current: Arc<Mutex<Vec<u64>>>,
}

impl Spans {
    /// The spans, with their ids, in the order they were made.
    pub fn spans(&self) -> Vec<(u64, Seen)> {
        let spans = self.spans.lock().unwrap();
        let mut ids: Vec<_> = spans.keys().copied().collect();
        ids.sort_unstable();
        ids.iter().map(|id| (*id, spans[id].clone())).collect()
    }
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Spans {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "redis::command"
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut seen = Seen {
            parent: span
                .parent()
                .map(Id::into_u64)
                .or_else(|| self.current.lock().unwrap().last().copied()),
            ..Seen::default()
        };
        span.record(&mut Fields(&mut seen.fields));
        seen.fields
            .insert("name".into(), span.metadata().name().to_string());
        self.spans.lock().unwrap().insert(id, seen);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(seen) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let Some(id) = self.current.lock().unwrap().last().copied() else {
            return;
        };
        if let Some(seen) = self.spans.lock().unwrap().get_mut(&id) {
            seen.events.push(fields);
        }
    }

    fn enter(&self, span: &Id) {
        self.current.lock().unwrap().push(span.into_u64());
    }

    fn exit(&self, _: &Id) {
        self.current.lock().unwrap().pop();
    }

    fn try_close(&self, id: Id) -> bool {
        if let Some(seen) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            seen.closed = true;
        }
        true
    }
}
