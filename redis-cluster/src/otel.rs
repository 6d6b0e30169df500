//! OpenTelemetry metrics (the `otel` feature): the counters of
//! [`ClusterStats`], read from their snapshots when the meter collects.
//! Exporting another counter is one line of [`STATS`]. Each node's
//! connection exports its own metrics (`redis_paired::otel`).

use std::sync::{Arc, OnceLock};

use redis_conn::otel::{CounterSet, Row};

use crate::ClusterStats;

/// The counters of [`ClusterStats`] exported, one line each: the metric,
/// what it counts, and how to read it. Each is an observable counter with
/// the attributes of the cluster's first seed, summed over the cluster
/// connections with that seed, those closed included.
pub const STATS: &[Row<ClusterStats>] = &[
    (
        "redis.client.cluster.moved",
        "MOVED redirects followed",
        |s| s.moved,
    ),
    (
        "redis.client.cluster.asked",
        "ASK redirects followed",
        |s| s.asked,
    ),
    (
        "redis.client.cluster.retries",
        "Commands sent again after TRYAGAIN, CLUSTERDOWN or LOADING",
        |s| s.retried,
    ),
    (
        "redis.client.cluster.refreshes",
        "Topology refreshes",
        |s| s.refreshes,
    ),
];

/// The set that exports them, made at first use.
pub(crate) fn counters() -> &'static Arc<CounterSet> {
    static SET: OnceLock<Arc<CounterSet>> = OnceLock::new();
    SET.get_or_init(|| CounterSet::new(redis_conn::otel::meter(), STATS))
}
