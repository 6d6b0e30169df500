//! One shared, implicitly pipelined Redis connection that heals itself.
//!
//! [`PairedConnection`] is the handle every task of a service shares: clone
//! it freely, call [`send`](PairedConnection::send) from anywhere, and the
//! commands of all tasks go out on one socket, several per write, with each
//! reply handed to the caller that asked for it. The connection reconnects
//! by itself, bounds its queues, and times out replies that never come.
//!
//! This crate is the request/response half of the client. For
//! subscriptions use `redis-pubsub`; for the raw frames (MONITOR, a proxy)
//! use `redis_conn::Connection`; applications usually depend on
//! `redis-facade`, which re-exports all of them.
//!
//! # Layout
//!
//! - [`PairedConnection`], [`ExclusiveConnection`] (`connection.rs`): the
//!   handles; [`Sender`] and [`IntoCommand`].
//! - [`Reply`] (`reply.rs`): the future of one answer.
//! - [`Pipeline`] (`pipeline.rs`): explicit batches and transactions,
//!   which record the reply types of their typed commands; [`SendBatch`],
//!   for other connections to run a pipeline's batch.
//! - [`Options`] (`options.rs`): timeouts and queue bounds.
//! - [`CacheOptions`] (`cache.rs`): client-side caching kept true by the
//!   server's invalidations; the pure core that stores replies in wire
//!   order and drops what changed. [`Pushes`] (`pushes.rs`): the push
//!   frames that are not the cache's.
//! - [`Pool`] (`pool.rs`): a bounded pool of exclusive connections, cleaned
//!   when they come back; `DeadpoolManager` (`deadpool.rs`) and
//!   `Bb8Manager` (`bb8.rs`) do the same for the deadpool and bb8 pools,
//!   under the features of those names.
//! - [`Scan`] (`scan.rs`, [`ScanCommands`]): SCAN, HSCAN, SSCAN and ZSCAN
//!   as streams; [`Script`] (`script.rs`): EVALSHA with a fallback to EVAL.
//! - The command surface, from `redis-commands` and re-exported here at
//!   the same paths: [`Commands`], a typed method for every command on
//!   every [`Target`] (`&PairedConnection`, `&ExclusiveConnection` and
//!   pipelines, whose `Target` impls are in `connection.rs` and
//!   `pipeline.rs`), the builders of optional arguments in [`args`], the
//!   [`catalogue`] (what the server says about each command, and where a
//!   command line's keys are), and the reply types of the stream and geo
//!   commands ([`StreamEntry`], [`StreamReads`], [`GeoPosition`], ...).
//! - [`wait`] (`wait.rs`): a reply waited for on a thread without a
//!   runtime, for synchronous programs, and the [`Runner`] that lets that
//!   thread drive the connection's runtime itself.
//! - `queue.rs`: the pure in-flight queue that pairs replies with requests;
//!   `driver.rs`: the task that moves bytes; `shared.rs`: what they share;
//!   `blocking.rs`: reply timeouts of blocking commands; `lanes.rs`: the
//!   connections blocking commands run on.
//! - [`trace`] (`trace.rs`): the span of each command, through `tracing`;
//!   `otel` (`otel.rs`, the `otel` feature): OpenTelemetry metrics.
//!
//! # Typed commands
//!
//! On a connection each method of [`Commands`] sends its command at once
//! and returns the [`Reply`] to await; on a pipeline or transaction it adds
//! its command and returns the pipeline.
//!
//! ```no_run
//! # async fn demo(conn: redis_paired::PairedConnection) -> Result<(), redis_paired::Error> {
//! use redis_paired::args::LposOptions;
//! use redis_paired::{Commands, Expiry, SetOptions};
//!
//! conn.set("greeting", "hello").await?;
//! let greeting: Option<String> = conn.get("greeting").await?;
//! let visits = conn.incr("visits").await?;
//! let fresh: bool = conn
//!     .set_with("lock", "me", SetOptions::new().nx().expiry(Expiry::Ex(30)))
//!     .await?;
//! // Optional arguments: the `_with` variant and a builder.
//! let at: Vec<i64> = conn
//!     .lpos_with("queue", "job-7", LposOptions::new().count(0))
//!     .await?;
//! // The same methods build pipelines and transactions.
//! let (n, old): (i64, Option<String>) = conn
//!     .transaction()
//!     .incr("visits")
//!     .getset::<String>("last", "now")
//!     .query()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! - Replies are matched to requests strictly in order. A caller that gives
//!   up (drops its [`Reply`], or times out) keeps its slot until its reply
//!   arrives and is discarded.
//! - A command is never silently sent twice: when the connection breaks,
//!   commands awaiting replies fail with [`Error::Connection`]. The one
//!   exception is explicit and off by default: with
//!   [`Options::with_retry_reads`], a single read-only command in flight
//!   (by the [`catalogue`]'s flags) is sent once more on the next
//!   connection, ahead of every command sent after it; writes never are.
//! - Every queue is bounded ([`Options::with_max_pending`],
//!   [`Options::with_max_unwritten_bytes`]); at the bound, sending fails at
//!   once with [`Error::Backpressure`].
//! - Every reply resolves: a caller waits at most its timeout, counted from
//!   its call (the response timeout, [`Options::with_response_timeout`], or
//!   for a blocking command its own plus a margin, counted from when the
//!   server gets to it). A caller that times out alone fails alone; when the
//!   oldest request has gone unanswered for the whole response timeout since
//!   it was written, the server is presumed gone and the connection is
//!   replaced.
//! - Blocking commands stall no one: on a [`PairedConnection`] each runs on a
//!   connection of its own (`lanes.rs`), bounded in number
//!   ([`Options::with_max_blocking_connections`]); a caller who drops its
//!   [`Reply`] closes that connection.
//! - Nothing accepted is lost on a reconnect: commands whose effect a
//!   reconnect would undo (`CLIENT SETNAME`, `READONLY`, `CLIENT TRACKING`,
//!   which the cache turns on for every connection itself, ...) are
//!   refused. Commands sent
//!   while the connection is down wait for it (they were never written), or
//!   fail at once with [`Options::with_fail_fast`]; when the server refuses
//!   a reconnect for its credentials, they fail at once with that
//!   ([`Error::is_auth`]), as do those sent until a reconnect succeeds.
//! - A call may bound its own wait more tightly: [`Reply::timeout`] gives
//!   up after its limit, counted from the call, keeping the request's slot
//!   like any caller that gives up.
//! - [`PairedConnection::close`] closes for every clone: new commands fail
//!   with [`Error::Closed`], what was sent before is still written and
//!   answered (within its timeouts), then the socket closes.
//! - [`Options::with_lazy_connect`] returns a connection at once and makes
//!   it in the background; commands sent meanwhile wait for it as they
//!   wait for a reconnect.
//! - Credentials that expire (from a
//!   [`CredentialsProvider`](redis_conn::CredentialsProvider)) are renewed
//!   on the live connection before they do: an `AUTH` of the driver's own,
//!   queued in order like any request, whose reply it takes itself. A
//!   renewal that fails fails no command; it is logged and retried. An
//!   [`ExclusiveConnection`] does not renew live (the `AUTH` could land
//!   inside its user's `MULTI`).
//! - Push frames never vanish without a trace: the cache's invalidations
//!   are applied, and every other push goes to [`PairedConnection::pushes`],
//!   a bounded stream, or is counted in [`Stats::pushes_dropped`].
//!
//! # Client-side caching
//!
//! With [`Options::with_cache`], reads of the commands chosen
//! ([`Cached`]: `GET`, `HGET`, `HGETALL` and `MGET` by default) are
//! answered from memory when the connection has read them before and
//! nothing said they changed. A hit is looked up by the caller before
//! anything is queued: it costs a lock and a hash lookup, and never
//! reaches the connection's task or the server.
//!
//! ```no_run
//! # async fn demo(config: redis_paired::ConnectionConfig) -> Result<(), redis_paired::Error> {
//! use redis_paired::{CacheOptions, Commands, Options, PairedConnection};
//!
//! let options = Options::new().with_cache(CacheOptions::new(64 << 20));
//! let conn = PairedConnection::connect_with(&config, options).await?;
//! let name: Option<String> = conn.get("user:7:name").await?; // from the server
//! let again: Option<String> = conn.get("user:7:name").await?; // from memory
//! conn.set("user:7:name", "Ada").await?; // dropped from the cache first
//! let fresh: Option<String> = conn.get("user:7:name").await?; // from the server
//! assert_eq!(conn.stats().cache_hits, 1);
//! # Ok(())
//! # }
//! ```
//!
//! The server keeps the cache true: the connection turns on `CLIENT
//! TRACKING ON` in its default mode, on itself, before its first command
//! and on every connection after a reconnect, and the server pushes an
//! invalidation when a key it read changes. The default mode, rather than
//! `OPTIN` or `BCAST`: it needs no `CLIENT CACHING YES` before each read
//! (no second command per miss), the server tells it of exactly the keys
//! it read (`BCAST` sends every change under a prefix, whoever reads it),
//! and the invalidations come on the same socket as the replies, so the
//! order between the two is the order on the wire: the property the
//! guarantees below rest on. Its cost is the server's tracking table; when
//! that is full (`tracking-table-max-keys`), the server forgets keys and
//! says so with an invalidation, which the cache follows. It needs RESP3;
//! on RESP2, connecting refuses the option
//! ([`ConfigError::CacheNeedsResp3`](redis_conn::ConfigError::CacheNeedsResp3))
//! rather than redirect invalidations to a second connection, whose order
//! with the replies no one could know.
//!
//! What is guaranteed:
//!
//! - Stored in wire order. The reply of a read is stored when the
//!   connection's task pairs it with its request, and only if no
//!   invalidation of its key (or flush, or write by this client) was read
//!   between the request and the reply. Reads of the same command line
//!   while one is on its way share it: one request, one reply for all.
//! - Nothing survives what can no longer be known: a reconnect (or a
//!   connection lost for any reason, `CLIENT KILL` included: the tracking
//!   went with it) drops everything, and so does an invalidation of every
//!   key (`FLUSHALL`, `FLUSHDB`). `RESET`, which would turn tracking off,
//!   is refused on a paired connection.
//! - Read your writes. A command this client sends that writes keys (by
//!   the [`catalogue`]'s key specifications; a flush, a write whose keys
//!   the catalogue cannot tell, or a command it does not know, such as a
//!   module's, drops everything) drops them before it is queued and again
//!   once it is, so a read of them already on its way is
//!   not stored, and a read sent after the write is answered after it.
//!   Keys a script writes without naming them are dropped by the server's
//!   invalidation, a round trip later.
//! - Bounded: by bytes (keys, command lines and replies, which are copied
//!   out of the read buffer, plus a fixed cost an entry), and optionally by
//!   entries and age ([`CacheOptions::with_ttl`]), evicting as
//!   [`Eviction`] says. [`Stats`] counts hits, misses, invalidations and
//!   evictions, and the bytes and entries held.
//!
//! So a read returns what the server held at some moment between its call
//! and its return, as the connection orders events: no older than the
//! last frame read before the call. A write acknowledged to another
//! connection is seen by this one after any round trip that follows it
//! (its invalidation comes first on the wire). Only the commands of
//! [`send`](PairedConnection::send) and the typed methods are served from
//! the cache; pipelines, transactions and `send_and_forget` always go to
//! the server (their writes still drop what they write). An
//! [`ExclusiveConnection`] caches nothing: its reads may be inside its
//! user's `MULTI`.
#![deny(missing_docs)]

#[cfg(feature = "bb8")]
mod bb8;
mod blocking;
mod cache;
mod connection;
#[cfg(feature = "deadpool")]
mod deadpool;
mod driver;
mod lanes;
mod options;
#[cfg(feature = "otel")]
pub mod otel;
mod pipeline;
mod pool;
mod pushes;
mod queue;
mod reply;
mod scan;
mod script;
mod shared;
pub mod trace;
mod wait;

pub use redis_commands::{
    args, catalogue, AutoClaimed, Commands, ConsumerInfo, Direction, Expiry, GeoMatch, GeoPosition,
    GeoUnit, GroupInfo, PendingEntry, PendingSummary, ReplyKind, SendCommand, SetOptions,
    StreamEntry, StreamInfo, StreamRead, StreamReads, Target,
};
pub use redis_conn::{ConnectionConfig, Error};

#[cfg(feature = "bb8")]
pub use crate::bb8::Bb8Manager;
pub use crate::cache::{CacheOptions, Cached, Eviction};
pub use crate::connection::{
    ExclusiveConnection, IntoCommand, PairedConnection, ReplyFuture, Sender,
};
#[cfg(feature = "deadpool")]
pub use crate::deadpool::DeadpoolManager;
pub use crate::options::Options;
pub use crate::pipeline::{Pipeline, SendBatch};
pub use crate::pool::{Pool, PoolOptions, PoolStats, Pooled};
pub use crate::pushes::Pushes;
pub use crate::reply::{BoxedReply, Recover, Reply};
pub use crate::scan::{Scan, ScanCommands, ScanStream};
pub use crate::script::Script;
pub use crate::shared::Stats;
pub use crate::wait::{wait, Runner};
