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
//!   runtime, for synchronous programs.
//! - `queue.rs`: the pure in-flight queue that pairs replies with requests;
//!   `driver.rs`: the task that moves bytes; `shared.rs`: what they share;
//!   `blocking.rs`: reply timeouts of blocking commands; `lanes.rs`: the
//!   connections blocking commands run on.
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
//!   reconnect would undo (`CLIENT SETNAME`, `READONLY`, ...) or whose pushes
//!   would have nowhere to go (`CLIENT TRACKING`) are refused. Commands sent
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
mod pipeline;
mod pool;
mod pushes;
mod queue;
mod reply;
mod scan;
mod script;
mod shared;
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
pub use crate::reply::Reply;
pub use crate::scan::{Scan, ScanCommands, ScanStream};
pub use crate::script::Script;
pub use crate::shared::Stats;
pub use crate::wait::wait;
