//! An asynchronous Redis client: the crate applications depend on.
//!
//! A [`Client`] holds where and how to reach a server and opens the
//! connections; everything else is re-exported from the crates that
//! implement it, so one dependency and one import path serve a whole
//! service:
//!
//! - [`PairedConnection`] (from `redis-paired`): one shared socket, cloned
//!   into every task, with each task's commands pipelined onto it without
//!   anyone writing a pipeline; typed [`Commands`], explicit
//!   [`pipeline`](PairedConnection::pipeline)s and
//!   [`transaction`](PairedConnection::transaction)s; reconnects by itself.
//!   [`ExclusiveConnection`] is its unshared sibling for `WATCH` and
//!   blocking work.
//! - [`PubsubConnection`] (from `redis-pubsub`): subscriptions as streams
//!   of [`Event`]s that survive reconnects.
//! - [`AnyConnection`]: the one handle whatever the URL names (one server,
//!   a Sentinel group, a cluster), from [`Client::connection`]: the same
//!   commands, pipelines, transactions, scans and subscriptions on each.
//!   The one type here that wraps rather than re-exports: see `any.rs`.
//! - [`ClusterConnection`] (from `redis-cluster`): the same typed commands
//!   on a Redis Cluster, each routed to the node that owns its keys, with
//!   redirects and failovers followed; connect with [`cluster_connect`]
//!   (`redis+cluster://host1:port1,host2:port2`) or a [`ClusterConfig`].
//! - [`Connection`] (from `redis-conn`): the raw framed connection, for
//!   `MONITOR` and other streams of replies. Also the configuration
//!   ([`ConnectionConfig`]) and the one client [`Error`].
//! - [`Value`], [`Command`], [`cmd!`], [`resp_array!`], [`FromValue`] and
//!   [`ToArgs`] (from `resp`): the protocol and the conversions between
//!   replies and Rust types.
//!
//! This crate adds nothing but the [`Client`] constructors,
//! [`AnyConnection`], the [`paired_connect`], [`pubsub_connect`] and
//! [`cluster_connect`] shortcuts, and, with the
//! `serde` feature, JSON values and struct-to-hash mapping. It is the place
//! to start; depend on the crates below it only to leave the others out
//! (a proxy that needs the protocol alone wants `resp`, which has no
//! runtime at all).
//!
//! # Example
//!
//! ```no_run
//! use redis_facade::prelude::*;
//!
//! # async fn run() -> Result<(), Error> {
//! let client = Client::open("redis://127.0.0.1:6379")?;
//! let conn = client.paired().await?;
//!
//! // Clones share the socket; the three INCRs go out in one write.
//! let replies: Vec<_> = (0..3).map(|_| conn.incr("visits")).collect();
//! for reply in replies {
//!     println!("visit number {}", reply.await?);
//! }
//! let missing: Option<String> = conn.get("no such key").await?;
//! assert_eq!(missing, None);
//!
//! // Any command, typed by the caller.
//! let length: i64 = conn.send(cmd!("RPUSH", "queue", "job-1", "job-2")).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `tls`: `rediss://` URLs, through rustls (ring) and the system's root
//!   certificates unless the [`ConnectionConfig`] names others.
//! - `blocking`: `blocking::Client`, for programs without an async
//!   runtime (`conn.get("k").wait()?`).
//! - `deadpool`: `DeadpoolManager`, exclusive
//!   connections pooled by the `deadpool` crate, which is re-exported as
//!   `redis_facade::deadpool` so that the pool's version is the manager's.
//! - `bb8`: `Bb8Manager`, the same for the `bb8` crate (re-exported as
//!   `redis_facade::bb8`).
//! - `mock`: `mock::MockConnection`, a test double that answers expected
//!   commands with scripted replies, for testing code that uses the client
//!   without a server.
//! - `serde`: `Json<T>`, a value stored as one JSON string
//!   (`conn.set("user:1", Json(&user))`), and `to_hash_fields` /
//!   `from_hash`, a struct stored as a hash of its fields.
//!
//! # Layout
//!
//! - [`Client`], [`paired_connect`], [`pubsub_connect`], [`cluster_connect`]
//!   (`client.rs`).
//! - [`AnyConnection`], [`AnyScan`], [`AnyScanStream`], [`AnySubscription`]
//!   (`any.rs`).
//! - `Json` (`json.rs`), `to_hash_fields` and `from_hash` (`hash.rs`),
//!   with the `serde` feature.
//! - `mock` (`mock.rs`): the test double, with the `mock` feature.
//! - [`prelude`]: the names nearly every user imports.
//! - [`resp`], [`conn`], [`paired`], [`pubsub`], [`cluster`]: the crates
//!   below, whole.
#![deny(missing_docs)]

mod any;
#[cfg(feature = "blocking")]
pub mod blocking;
mod client;
#[cfg(feature = "serde")]
mod hash;
#[cfg(feature = "serde")]
mod json;
#[cfg(feature = "mock")]
pub mod mock;

/// The `bb8` crate, at the version [`Bb8Manager`] implements its manager
/// for: build the pool with it (`redis_facade::bb8::Pool`).
#[cfg(feature = "bb8")]
pub use bb8;

/// The `deadpool` crate, at the version [`DeadpoolManager`] implements its
/// manager for: build the pool with it
/// (`redis_facade::deadpool::managed::Pool`).
#[cfg(feature = "deadpool")]
pub use deadpool;

/// The protocol: values, the decoder, commands and conversions (the `resp`
/// crate).
pub use resp;

/// The transport: configuration, the client error, the low-level
/// connection (the `redis-conn` crate).
pub use redis_conn as conn;

/// The shared pipelined connection and typed commands (the `redis-paired`
/// crate).
pub use redis_paired as paired;

/// Publish/subscribe streams (the `redis-pubsub` crate).
pub use redis_pubsub as pubsub;

/// Redis Cluster: routing by slot, redirects, failovers (the
/// `redis-cluster` crate).
pub use redis_cluster as cluster;

pub use redis_cluster::{
    ClusterConfig, ClusterConnection, ClusterError, ClusterPipeline, ClusterScan,
    ClusterScanStream, ClusterStats, ClusterSubscription,
};
pub use redis_conn::{
    Address, CommandName, ConfigError, Connection, ConnectionConfig, Credentials,
    CredentialsFuture, CredentialsProvider, Error, HandshakeInfo, PemSource, Protocol,
    ReconnectPolicy, Result,
};
#[cfg(feature = "bb8")]
pub use redis_paired::Bb8Manager;
#[cfg(feature = "deadpool")]
pub use redis_paired::DeadpoolManager;
pub use redis_paired::{
    args, AutoClaimed, CacheOptions, Cached, Commands, ConsumerInfo, Direction, Eviction,
    ExclusiveConnection, Expiry, GeoMatch, GeoPosition, GeoUnit, GroupInfo, IntoCommand, Options,
    PairedConnection, PendingEntry, PendingSummary, Pipeline, Pool, PoolOptions, PoolStats, Pooled,
    Pushes, Reply, Scan, ScanCommands, ScanStream, Script, SendBatch, Sender, SetOptions, Stats,
    StreamEntry, StreamInfo, StreamRead, StreamReads, Target,
};
pub use redis_pubsub::{
    Event, IntoChannel, IntoChannels, Kind, Message, Messages, PubsubConnection, PubsubOptions,
    PubsubStats, Subscribing, Subscription,
};
pub use resp::{bytes, cmd, resp_array, Command, FromValue, ServerError, ToArgs, Value};

pub use crate::any::{AnyConnection, AnyScan, AnyScanStream, AnySubscription};
pub use crate::client::{cluster_connect, paired_connect, pubsub_connect, Client};
#[cfg(feature = "serde")]
pub use crate::hash::{from_hash, to_hash_fields};
#[cfg(feature = "serde")]
pub use crate::json::Json;

/// OpenTelemetry metrics (the `otel` feature): [`set_meter`](otel::set_meter)
/// to choose the meter (by default the global meter provider's, taken when
/// the first connection opens), and the tables of the counters exported
/// from [`Stats`], [`PoolStats`], [`PubsubStats`] and [`ClusterStats`].
/// The command spans need no feature: see [`paired::trace`].
#[cfg(feature = "otel")]
pub mod otel {
    pub use redis_cluster::otel::STATS as CLUSTER_STATS;
    pub use redis_conn::otel::{meter, server_attributes, set_meter, DURATION_BOUNDARIES, SCOPE};
    pub use redis_paired::otel::{POOL_STATS, STATS};
    pub use redis_pubsub::otel::STATS as PUBSUB_STATS;
}

/// The names nearly every user of the client needs, for a glob import:
/// `use redis_facade::prelude::*;`.
///
/// It holds the [`Client`] and the connections, the [`Commands`],
/// [`ScanCommands`] and [`Sender`] traits (whose methods are otherwise out of scope), the
/// conversion traits, the command macros, the client [`Error`], the options
/// of `SET`, of connections ([`Options`]) and of the pool ([`PoolOptions`]),
/// [`Script`], the pub/sub [`Event`]s and `StreamExt` (to read a
/// subscription with `.next()`); with the `serde` feature `Json`,
/// `to_hash_fields` and `from_hash`; with the `deadpool` and `bb8`
/// features their managers. It leaves `Result` out, so as not to shadow
/// the standard one.
pub mod prelude {
    pub use futures_util::StreamExt;

    #[cfg(feature = "bb8")]
    pub use crate::Bb8Manager;
    #[cfg(feature = "deadpool")]
    pub use crate::DeadpoolManager;
    pub use crate::{
        cmd, resp_array, AnyConnection, Client, ClusterConnection, Commands, Error, Event,
        ExclusiveConnection, Expiry, FromValue, Message, Options, PairedConnection, PoolOptions,
        PubsubConnection, ScanCommands, Script, Sender, SetOptions, ToArgs, Value,
    };
    #[cfg(feature = "serde")]
    pub use crate::{from_hash, to_hash_fields, Json};
}
