//! OpenTelemetry metrics (the `otel` feature): the duration of each
//! operation, recorded by the driver as it hands the reply over; the pool's
//! wait and use times; and the counters of [`Stats`] and [`PoolStats`],
//! read from their snapshots when the meter collects, which costs the
//! commands nothing. Exporting another counter of `Stats` or `PoolStats`
//! is one line of [`STATS`] or [`POOL_STATS`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use opentelemetry::metrics::{BoundHistogram, Histogram, Meter};
use opentelemetry::KeyValue;
use redis_conn::otel::{Attributes, CounterSet, Row, DURATION_BOUNDARIES};
use redis_conn::CommandName;
use resp::Value;

use crate::pool::{PoolInner, PoolStats};
use crate::shared::{Shared, Stats};

/// The counters of [`Stats`] exported, one line each: the metric, what it
/// counts, and how to read it. Each is an observable counter with the
/// server's attributes, summed over the connections to that server,
/// those closed included.
pub const STATS: &[Row<Stats>] = &[
    (
        "redis.client.requests",
        "Requests handed to the socket (a pipeline counts once)",
        |s| s.requests,
    ),
    (
        "redis.client.commands",
        "Commands handed to the socket (a pipeline counts each)",
        |s| s.commands,
    ),
    (
        "redis.client.writes",
        "Completed writes of a batch of commands",
        |s| s.writes,
    ),
    (
        "redis.client.reconnects",
        "Connections made after the first one",
        |s| s.reconnects,
    ),
    (
        "redis.client.retried_reads",
        "Reads sent again on a new connection",
        |s| s.retried_reads,
    ),
    (
        "redis.client.blocking_connections",
        "Connections opened for blocking commands",
        |s| s.blocking_connections,
    ),
    (
        "redis.client.backpressure",
        "Commands refused at once because a queue was full",
        |s| s.backpressure,
    ),
    (
        "redis.client.cache.hits",
        "Reads answered by the client-side cache, or by joining the same read on its way",
        |s| s.cache_hits,
    ),
    (
        "redis.client.cache.misses",
        "Cacheable reads sent to the server",
        |s| s.cache_misses,
    ),
    (
        "redis.client.cache.invalidations",
        "Cached entries dropped because their key changed, or could have",
        |s| s.cache_invalidations,
    ),
    (
        "redis.client.cache.evictions",
        "Cached entries dropped to stay within the bounds, or for their age",
        |s| s.cache_evictions,
    ),
    (
        "redis.client.pushes",
        "Push frames handed to the stream of pushes",
        |s| s.pushes,
    ),
    (
        "redis.client.pushes.dropped",
        "Push frames dropped: the stream of pushes was full or gone",
        |s| s.pushes_dropped,
    ),
];

/// The counters of [`PoolStats`] exported, as [`STATS`].
pub const POOL_STATS: &[Row<PoolStats>] = &[
    (
        "redis.client.pool.opened",
        "Connections a pool opened",
        |s| s.opened,
    ),
    (
        "redis.client.pool.waits",
        "Checkouts that had to wait for a connection to come back",
        |s| s.waits,
    ),
    (
        "redis.client.pool.discarded",
        "Connections closed instead of returned to a pool",
        |s| s.discarded,
    ),
    (
        "db.client.connection.timeouts",
        "Checkouts that timed out waiting for a connection",
        |s| s.timeouts,
    ),
];

/// The connections and pools alive, and what those closed counted.
pub(crate) struct Registry {
    connections: Mutex<Vec<Weak<Shared>>>,
    /// The [`STATS`] of the connections, alive and closed.
    counters: Arc<CounterSet>,
    pools: Mutex<Vec<Weak<PoolInner>>>,
    /// `db.client.operation.duration`.
    pub(crate) duration: Histogram<f64>,
    /// `db.client.connection.wait_time`.
    pub(crate) wait_time: Histogram<f64>,
    /// `db.client.connection.use_time`.
    pub(crate) use_time: Histogram<f64>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The registry, made (and its instruments with it) at first use.
pub(crate) fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| Registry::new(redis_conn::otel::meter()))
}

impl Registry {
    fn new(meter: &Meter) -> Registry {
        let histogram = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build()
        };
        let registry = Registry {
            connections: Mutex::new(Vec::new()),
            counters: CounterSet::new(meter, STATS),
            pools: Mutex::new(Vec::new()),
            duration: histogram(
                "db.client.operation.duration",
                "How long an operation took, from the call to the reply",
            ),
            wait_time: histogram(
                "db.client.connection.wait_time",
                "How long a checkout waited for a pool's connection",
            ),
            use_time: histogram(
                "db.client.connection.use_time",
                "How long a pool's connection was lent",
            ),
        };
        for (name, description, read) in POOL_STATS {
            meter
                .u64_observable_counter(*name)
                .with_description(*description)
                .with_callback(move |observer| {
                    for (attributes, stats) in live_pools() {
                        observer.observe(read(&stats), &attributes);
                    }
                })
                .build();
        }
        meter
            .i64_observable_up_down_counter("db.client.connection.count")
            .with_description("Connections open, by state: used, or idle in a pool")
            .with_callback(|observer| {
                for (attributes, used, idle) in connection_counts() {
                    let with_state = |state: &'static str| {
                        let mut all = attributes.to_vec();
                        all.push(KeyValue::new("db.client.connection.state", state));
                        all
                    };
                    observer.observe(used, &with_state("used"));
                    observer.observe(idle, &with_state("idle"));
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("redis.client.cache.bytes")
            .with_description("Bytes held by the client-side caches now")
            .with_unit("By")
            .with_callback(|observer| {
                for (attributes, bytes) in per_server(|shared| shared.stats().cache_bytes) {
                    observer.observe(bytes, &attributes);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("db.client.connection.pending_requests")
            .with_description("Requests queued or awaiting their replies")
            .with_callback(|observer| {
                for (attributes, pending) in pending_requests() {
                    observer.observe(pending, &attributes);
                }
            })
            .build();
        registry
    }

    /// A connection opened: counted from now on.
    pub(crate) fn register(&self, shared: &Arc<Shared>) {
        let mut connections = lock(&self.connections);
        connections.retain(|c| c.strong_count() > 0);
        connections.push(Arc::downgrade(shared));
        self.counters.register(
            shared.attributes.clone(),
            Arc::downgrade(shared) as Weak<dyn redis_conn::otel::Counted>,
        );
    }

    /// A pool made: counted from now on.
    pub(crate) fn register_pool(&self, pool: &Arc<PoolInner>) {
        let mut pools = lock(&self.pools);
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(pool));
    }

    /// A connection to the server `attributes` name closed: what it counted
    /// stays in the totals.
    pub(crate) fn retire(&self, attributes: &Arc<[KeyValue]>, stats: &Stats) {
        self.counters
            .retire(attributes, redis_conn::otel::read(STATS, stats));
    }
}

/// What the driver of one connection records of its operations: for each
/// command name, the histogram bound to its attributes, so that recording a
/// success costs no lookup of attributes (an error, rarer, records with
/// its own). The name of the last command is checked first: most
/// connections send one command over and over.
pub(crate) struct Recorder {
    server: Arc<[KeyValue]>,
    last: Option<(CommandName, BoundHistogram<f64>)>,
    by_name: HashMap<CommandName, BoundHistogram<f64>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    pub(crate) fn new(server: Arc<[KeyValue]>) -> Recorder {
        Recorder {
            server,
            last: None,
            by_name: HashMap::new(),
        }
    }

    /// An operation took `took` and ended with `last` (its reply; for a
    /// batch, the last one, `EXEC`'s in a transaction).
    pub(crate) fn record(
        &mut self,
        command: CommandName,
        batch: bool,
        last: &Value,
        took: Duration,
    ) {
        let name = match (batch, command.as_str()) {
            (true, "MULTI") => CommandName::new(b"MULTI"),
            (true, _) => CommandName::new(b"PIPELINE"),
            (false, _) => command,
        };
        let seconds = took.as_secs_f64();
        if let Value::Error(text) | Value::BlobError(text) = last {
            let code = resp::ServerError::new(text.clone()).code().to_owned();
            let mut all = self.attributes(name);
            all.push(KeyValue::new("db.response.status_code", code.clone()));
            all.push(KeyValue::new("error.type", code));
            registry().duration.record(seconds, &all);
            return;
        }
        match &self.last {
            Some((last, bound)) if *last == name => bound.record(seconds),
            _ => {
                let bound = match self.by_name.get(&name) {
                    Some(bound) => bound.clone(),
                    None => {
                        let bound = registry().duration.bind(&self.attributes(name));
                        self.by_name.insert(name, bound.clone());
                        bound
                    }
                };
                bound.record(seconds);
                self.last = Some((name, bound));
            }
        }
    }

    /// An operation gave up after `took`: `error.type` is `timeout`.
    pub(crate) fn record_timeout(&mut self, command: CommandName, took: Duration) {
        let mut all = self.attributes(command);
        all.push(KeyValue::new("error.type", "timeout"));
        registry().duration.record(took.as_secs_f64(), &all);
    }

    /// The server's attributes and the operation's name.
    fn attributes(&self, name: CommandName) -> Vec<KeyValue> {
        let mut all = self.server.to_vec();
        all.push(KeyValue::new("db.operation.name", name.as_str().to_owned()));
        all
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves the lists whole.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The live connections, each with its server's attributes.
fn live_connections() -> Vec<Arc<Shared>> {
    REGISTRY.get().map_or_else(Vec::new, |registry| {
        lock(&registry.connections)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    })
}

/// The live pools, each with its server's attributes and its counters.
fn live_pools() -> Vec<(Arc<[KeyValue]>, PoolStats)> {
    let Some(registry) = REGISTRY.get() else {
        return Vec::new();
    };
    let pools: Vec<_> = lock(&registry.pools)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    pools
        .iter()
        .map(|pool| (pool.attributes.clone(), pool.stats()))
        .collect()
}

/// Per server, the connections up and in use, and those idle in a pool.
fn connection_counts() -> Vec<(Attributes, i64, i64)> {
    let mut counts: Vec<(Attributes, i64, i64)> = Vec::new();
    let mut add = |attributes: &Arc<[KeyValue]>, used: i64, idle: i64| match counts
        .iter_mut()
        .find(|(a, _, _)| a == attributes)
    {
        Some((_, u, i)) => {
            *u += used;
            *i += idle;
        }
        None => counts.push((attributes.clone(), used, idle)),
    };
    for shared in live_connections() {
        add(&shared.attributes, i64::from(shared.is_up()), 0);
    }
    // A pool's idle connections are open and up too: they move from used
    // to idle.
    for (attributes, stats) in live_pools() {
        let idle = i64::try_from(stats.idle).unwrap_or(i64::MAX);
        add(&attributes, -idle, idle);
    }
    counts
}

/// Per server, the requests queued or awaiting replies.
fn pending_requests() -> Vec<(Arc<[KeyValue]>, i64)> {
    per_server(|shared| shared.pending() as u64)
}

/// Per server, the sum of `read` over its live connections.
fn per_server(read: impl Fn(&Shared) -> u64) -> Vec<(Arc<[KeyValue]>, i64)> {
    let mut sums: Vec<(Arc<[KeyValue]>, i64)> = Vec::new();
    for shared in live_connections() {
        let n = i64::try_from(read(&shared)).unwrap_or(i64::MAX);
        match sums.iter_mut().find(|(a, _)| *a == shared.attributes) {
            Some((_, sum)) => *sum += n,
            None => sums.push((shared.attributes.clone(), n)),
        }
    }
    sums
}
