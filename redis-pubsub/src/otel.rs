//! OpenTelemetry metrics (the `otel` feature): the counters of
//! [`PubsubStats`], read from their snapshots when the meter collects.
//! Exporting another counter is one line of [`STATS`].

use std::sync::{Arc, OnceLock};

use redis_conn::otel::{CounterSet, Row};

use crate::PubsubStats;

/// The counters of [`PubsubStats`] exported, one line each: the metric,
/// what it counts, and how to read it. Each is an observable counter with
/// the server's attributes, summed over the connections to that server,
/// those closed included.
pub const STATS: &[Row<PubsubStats>] = &[
    (
        "redis.client.pubsub.messages",
        "Messages received and handed to a stream",
        |s| s.messages,
    ),
    (
        "redis.client.pubsub.lagged",
        "Messages dropped for readers too far behind",
        |s| s.lagged,
    ),
    (
        "redis.client.pubsub.reconnects",
        "Pub/sub connections made after the first one",
        |s| s.reconnects,
    ),
];

/// The set that exports them, made at first use.
pub(crate) fn counters() -> &'static Arc<CounterSet> {
    static SET: OnceLock<Arc<CounterSet>> = OnceLock::new();
    SET.get_or_init(|| CounterSet::new(redis_conn::otel::meter(), STATS))
}
