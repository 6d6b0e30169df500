//! OpenTelemetry metrics (the `otel` feature): the meter every crate of the
//! client takes its instruments from, the attributes that name a server,
//! and the time connections take to open.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::{InstrumentationScope, KeyValue};

use crate::Address;

/// The meter of the whole client, fixed at its first use.
static METER: OnceLock<Meter> = OnceLock::new();

/// The instruments of this crate, made from [`meter`] at first use.
static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

/// The name of the client's instrumentation scope.
pub const SCOPE: &str = "redis-client";

/// The bucket boundaries, in seconds, of the client's duration histograms:
/// from 100 µs to 10 s (those OpenTelemetry recommends for database
/// operations start at 1 ms, too coarse for a cache).
pub const DURATION_BOUNDARIES: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    10.0,
];

/// Makes the client take its instruments from `meter`, instead of from the
/// global meter provider's meter of scope [`SCOPE`]. The meter is fixed at
/// its first use (the first connection opened with the `otel` feature on):
/// after that this returns `Err` with `meter` back.
pub fn set_meter(meter: Meter) -> Result<(), Meter> {
    let mut meter = Some(meter);
    METER.get_or_init(|| meter.take().unwrap_or_else(global_meter));
    match meter {
        None => Ok(()),
        Some(meter) => Err(meter),
    }
}

/// The meter the client's instruments come from: the one given to
/// [`set_meter`], or else, from its first use on, the global meter
/// provider's (so set that provider before the first connection opens).
pub fn meter() -> &'static Meter {
    METER.get_or_init(global_meter)
}

/// The attributes that name a server, as OpenTelemetry's conventions for
/// Redis say: `db.system.name`, `server.address` and `server.port` (a Unix
/// socket: its path, no port; Sentinel: the master's name, no port).
pub fn server_attributes(address: &Address) -> Vec<KeyValue> {
    let mut attributes = vec![KeyValue::new("db.system.name", "redis")];
    match address {
        Address::Tcp { host, port } => {
            attributes.push(KeyValue::new("server.address", host.clone()));
            attributes.push(KeyValue::new("server.port", i64::from(*port)));
        }
        Address::Unix(path) => {
            attributes.push(KeyValue::new(
                "server.address",
                path.to_string_lossy().into_owned(),
            ));
        }
        Address::Sentinel { master, .. } => {
            attributes.push(KeyValue::new("server.address", master.clone()));
        }
    }
    attributes
}

/// Records that a connection to `address` took `took` to open (TCP, TLS and
/// the handshake): `db.client.connection.create_time`.
pub(crate) fn connected(address: &Address, took: Duration) {
    let instruments = INSTRUMENTS.get_or_init(|| Instruments::new(meter()));
    instruments
        .create_time
        .record(took.as_secs_f64(), &server_attributes(address));
}

struct Instruments {
    create_time: Histogram<f64>,
}

impl Instruments {
    fn new(meter: &Meter) -> Instruments {
        Instruments {
            create_time: meter
                .f64_histogram("db.client.connection.create_time")
                .with_unit("s")
                .with_description("The time it took to open a connection, handshake included")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
        }
    }
}

fn global_meter() -> Meter {
    opentelemetry::global::meter_with_scope(
        InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    )
}

/// What a [`CounterSet`] reads its counters from: a connection's shared
/// state, whose snapshot gives one value a row of the set's table.
pub trait Counted: Send + Sync {
    /// The counters now, one a row, in the order of the set's table.
    fn counters(&self) -> Vec<u64>;
}

/// Observable counters read from live sources when the meter collects,
/// summed per server, those of closed sources kept: a connection's counters
/// are exported without a cost to its commands, and a total never goes
/// down when a connection closes.
pub struct CounterSet {
    live: Mutex<Vec<(Attributes, Weak<dyn Counted>)>>,
    retired: Mutex<Totals>,
}

/// One counter exported from a snapshot of type `S`: the metric's name,
/// what it counts, and how to read it from the snapshot.
pub type Row<S> = (&'static str, &'static str, fn(&S) -> u64);

/// The values of `rows` read from `snapshot`, in their order: what a
/// [`Counted`] source gives its set.
pub fn read<S>(rows: &[Row<S>], snapshot: &S) -> Vec<u64> {
    rows.iter().map(|(_, _, read)| read(snapshot)).collect()
}

/// The attributes of one server, shared by what counts for it.
pub type Attributes = Arc<[KeyValue]>;

/// Per server, the counters of a [`CounterSet`], one a row.
pub type Totals = Vec<(Attributes, Vec<u64>)>;

impl std::fmt::Debug for CounterSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterSet").finish_non_exhaustive()
    }
}

impl CounterSet {
    /// A set of the counters of `rows`, registered on `meter`; its sources
    /// give their values in the order of `rows` ([`read`]).
    pub fn new<S>(meter: &Meter, rows: &'static [Row<S>]) -> Arc<CounterSet> {
        let set = Arc::new(CounterSet {
            live: Mutex::new(Vec::new()),
            retired: Mutex::new(Vec::new()),
        });
        for (index, (name, description, _)) in rows.iter().enumerate() {
            let weak = Arc::downgrade(&set);
            meter
                .u64_observable_counter(*name)
                .with_description(*description)
                .with_callback(move |observer| {
                    let Some(set) = weak.upgrade() else { return };
                    for (attributes, values) in set.totals() {
                        if let Some(value) = values.get(index) {
                            observer.observe(*value, &attributes);
                        }
                    }
                })
                .build();
        }
        set
    }

    /// Counts `source`, a connection to the server `attributes` name, from
    /// now on.
    pub fn register(&self, attributes: Arc<[KeyValue]>, source: Weak<dyn Counted>) {
        let mut live = lock(&self.live);
        live.retain(|(_, source)| source.strong_count() > 0);
        live.push((attributes, source));
    }

    /// A source closed with these last `values`: they stay in the totals.
    pub fn retire(&self, attributes: &Arc<[KeyValue]>, values: Vec<u64>) {
        add(&mut lock(&self.retired), attributes, values);
    }

    /// Per server, the counters of its sources, closed and alive.
    pub fn totals(&self) -> Totals {
        let mut totals = lock(&self.retired).clone();
        let live: Vec<_> = lock(&self.live)
            .iter()
            .filter_map(|(attributes, source)| Some((attributes.clone(), source.upgrade()?)))
            .collect();
        for (attributes, source) in live {
            add(&mut totals, &attributes, source.counters());
        }
        totals
    }
}

fn add(
    totals: &mut Vec<(Arc<[KeyValue]>, Vec<u64>)>,
    attributes: &Arc<[KeyValue]>,
    values: Vec<u64>,
) {
    match totals.iter_mut().find(|(a, _)| a == attributes) {
        Some((_, sums)) => {
            for (sum, value) in sums.iter_mut().zip(values) {
                *sum += value;
            }
        }
        None => totals.push((attributes.clone(), values)),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the lists whole.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
