//! Redis Cluster: one cloneable handle for a whole cluster, with the same
//! typed commands as a single server's.
//!
//! [`ClusterConnection`] learns which node serves which of the 16384 slots
//! (`CLUSTER SHARDS`, or `CLUSTER SLOTS` before Redis 7), sends each command
//! to the node that owns the slot of its keys over one pipelined
//! `PairedConnection` per node, and follows the cluster as it changes:
//! `MOVED` and `ASK` redirects, `TRYAGAIN` and `CLUSTERDOWN` waits,
//! failovers. Which arguments are keys comes from the server's own key
//! specifications (`redis_commands::catalogue`), not from a list kept here.
//!
//! A service written against `PairedConnection` moves to a cluster by
//! changing how it connects: [`Commands`](redis_commands::Commands) works on
//! both. For one server use `redis-paired`; applications usually depend on
//! `redis-facade`, which re-exports this crate.
//!
//! # Layout
//!
//! - [`ClusterConnection`] (`connection.rs`): the handle, node connections,
//!   topology refreshes, and the futures that follow redirects.
//! - [`ClusterPipeline`] (`pipeline.rs`): batches split per node and
//!   merged in order; transactions kept to one slot.
//! - [`ClusterScan`] and [`ClusterScanStream`] (`scan.rs`): `SCAN` over
//!   every primary, as a named `Unpin` stream like a single server's.
//! - [`ClusterSubscription`] (`pubsub.rs`): `SUBSCRIBE`, `PSUBSCRIBE` and
//!   `SSUBSCRIBE` on the right node, following failovers.
//! - [`ClusterConfig`] (`config.rs`): seeds (several URLs, or one
//!   `redis+cluster://host1:port1,host2:port2` URL) and settings.
//! - The pure core, unit-tested without sockets: [`key_slot`] (`slot.rs`,
//!   CRC16 and hash tags), [`Topology`] (`topology.rs`, parsed from
//!   `CLUSTER SHARDS` and `CLUSTER SLOTS`, views merged by config epoch),
//!   [`Redirect`] (`redirect.rs`) and
//!   [`Route`] (`route.rs`: where a command goes, how split and fanned-out
//!   replies merge).
//!
//! # Guarantees
//!
//! - Per node, everything `redis-paired` promises: replies in order, never a
//!   silent resend, bounded queues, every reply resolves.
//! - A redirect never sends a command twice: `MOVED`, `ASK`, `TRYAGAIN` and
//!   `CLUSTERDOWN` all mean it did not run. A command that was on the socket
//!   when a node went down fails with `Error::Connection`.
//! - Redirects are bounded ([`ClusterConfig::with_max_redirects`]); a loop
//!   ends with [`ClusterError::TooManyRedirects`](redis_conn::ClusterError).
//!   `TRYAGAIN`, `CLUSTERDOWN` and `LOADING` are waited out until the
//!   command's response timeout.
//! - A command whose node is up never waits for a topology refresh. A
//!   refresh asks every node at once, each with a short timeout of its
//!   own, and keeps, for each slot, the owner with the highest config
//!   epoch: a node that missed a failover cannot route commands back to
//!   the old primary.
//! - A command left unanswered on the socket of a node the cluster then
//!   replaces (a frozen primary whose replica took over) fails with
//!   `Error::Connection` as soon as the client learns of the promotion,
//!   not at its timeout; it is not sent again, since it may have run.
#![deny(missing_docs)]

mod config;
mod connection;
#[cfg(feature = "otel")]
pub mod otel;
mod pipeline;
mod pubsub;
mod redirect;
mod route;
mod scan;
mod slot;
mod topology;

pub use redis_conn::{ClusterError, ConnectionConfig, Error};

pub use crate::config::ClusterConfig;
pub use crate::connection::{ClusterConnection, ClusterStats};
pub use crate::pipeline::ClusterPipeline;
pub use crate::pubsub::ClusterSubscription;
pub use crate::redirect::Redirect;
pub use crate::route::{route, route_learned, Merge, Route, Split};
pub use crate::scan::{ClusterScan, ClusterScanStream};
pub use crate::slot::{key_slot, SLOTS};
pub use crate::topology::{NodeAddr, Shard, Topology, TopologyError};
