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
//! - [`Pipeline`] (`pipeline.rs`): explicit batches and transactions.
//! - [`Options`] (`options.rs`): timeouts and queue bounds.
//! - [`Commands`] (`commands.rs`): typed methods for the common commands, on
//!   every [`Sender`]; [`Scan`] (`scan.rs`): SCAN, HSCAN, SSCAN and ZSCAN as
//!   streams; [`Script`] (`script.rs`): EVALSHA with a fallback to EVAL.
//! - `queue.rs`: the pure in-flight queue that pairs replies with requests;
//!   `driver.rs`: the task that moves bytes; `shared.rs`: what they share;
//!   `blocking.rs`: reply timeouts of blocking commands; `lanes.rs`: the
//!   connections blocking commands run on.
//!
//! # Guarantees
//!
//! - Replies are matched to requests strictly in order. A caller that gives
//!   up (drops its [`Reply`], or times out) keeps its slot until its reply
//!   arrives and is discarded.
//! - A command is never sent twice: when the connection breaks, commands
//!   awaiting replies fail with [`Error::Connection`].
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
//!   fail at once with [`Options::with_fail_fast`].
#![deny(missing_docs)]

mod blocking;
mod commands;
mod connection;
mod driver;
mod lanes;
mod options;
mod pipeline;
mod queue;
mod reply;
mod scan;
mod script;
mod shared;

pub use redis_conn::{ConnectionConfig, Error};

pub use crate::commands::{Commands, Direction, Expiry, SetOptions};
pub use crate::connection::{ExclusiveConnection, IntoCommand, PairedConnection, Sender};
pub use crate::options::Options;
pub use crate::pipeline::Pipeline;
pub use crate::reply::Reply;
pub use crate::scan::{Scan, ScanStream};
pub use crate::script::Script;
pub use crate::shared::Stats;
