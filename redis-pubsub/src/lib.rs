//! Redis publish/subscribe: `SUBSCRIBE`, `PSUBSCRIBE` and `SSUBSCRIBE` as
//! streams that survive reconnects.
//!
//! A [`PubsubConnection`] is one connection in subscriber mode, shared by
//! every task that holds a clone. Each subscribe call resolves, once the
//! server has confirmed it, into a [`Subscription`]: a
//! [`Stream`](futures_util::Stream) of [`Event`]s, mostly
//! [`Message`]s that carry the channel, the pattern (for pattern
//! subscriptions) and the payload as binary-safe [`Bytes`](bytes::Bytes).
//! Several streams may want the same channel; each gets every message, and
//! the server is subscribed once. When the connection breaks, the streams
//! are told ([`Event::Disconnected`]), the connection is re-established in
//! the background, every channel still wanted is subscribed again, and the
//! streams are told again ([`Event::Resubscribed`]).
//!
//! It speaks RESP3 (subscriptions arrive as push frames) and RESP2 (the
//! connection is then dedicated to subscriptions, as RESP2 requires), as
//! the [`ConnectionConfig`] asks.
//!
//! This crate is the subscribing half of the client. It does not publish,
//! and runs no other commands: publish with `redis-paired` (`PUBLISH`,
//! `SPUBLISH`), which also serves every request/response command. For the
//! raw frames of a connection, use `redis_conn::Connection`. Applications
//! usually depend on `redis-facade`, which re-exports all of them.
//!
//! # Slow readers
//!
//! Every stream has a bounded buffer ([`PubsubOptions::with_buffer_capacity`],
//! 1024 messages by default). The connection never waits for a reader: when
//! a stream's buffer is full, new messages for that stream (and that stream
//! only) are dropped and counted. Once the reader has made room, the stream
//! yields [`Event::Lagged`] with the count, after the messages it already
//! had and before newer ones. Other streams, even on the same channel, are
//! not affected.
//!
//! # Reconnecting
//!
//! When the connection is lost, every stream yields
//! [`Event::Disconnected`], and the connection is re-established in the
//! background: at once, then, while the server stays away, trying again
//! after waits that are a small fraction of the outage so far, as the
//! config's [`ReconnectPolicy`](redis_conn::ReconnectPolicy) says (by
//! default a thousandth of it, from 10 ms to 1 s). Every channel a stream
//! still wants is then subscribed again (channels and patterns in batches,
//! shard channels one per command), and each stream yields
//! [`Event::Resubscribed`] once all of its channels are confirmed. Messages
//! published in the gap are lost: Redis keeps none.
//!
//! While the connection is down, subscribe calls fail at once with
//! [`Error::Connection`], which says why; so does a call still waiting for
//! its confirmation when the connection goes. They are not queued for
//! later: whether and when to retry is the caller's decision. A silent
//! server is detected with `PING`s ([`PubsubOptions::with_ping_interval`],
//! [`PubsubOptions::with_response_timeout`]).
//!
//! # Credentials that expire
//!
//! Every reconnect asks the config's
//! [`CredentialsProvider`](redis_conn::CredentialsProvider), if it has one.
//! When the credentials expire, a RESP3 connection renews them before they
//! do with an `AUTH` sent in turn with the (un)subscribe commands, which a
//! subscribed RESP3 connection may send: no stream notices. A subscribed
//! RESP2 connection may send only `(P|S)SUBSCRIBE`, `(P|S)UNSUBSCRIBE`,
//! `PING`, `QUIT` and `RESET`, so there the credentials are renewed at the
//! next reconnect only (Redis keeps a connection authenticated after its
//! password changes; a service that ends it makes a reconnect, and the
//! streams are told as for any). A renewal the server refuses is logged and
//! retried; no stream is told.
//!
//! # Layout
//!
//! - [`PubsubConnection`], [`IntoChannels`], [`IntoChannel`]
//!   (`connection.rs`): the handle and what it subscribes to.
//! - [`Subscription`], [`Subscribing`], [`Messages`] (`subscription.rs`):
//!   the streams and the future of a subscribe call.
//! - [`Event`], [`Message`], [`Kind`] (`event.rs`): what the streams yield.
//! - [`PubsubOptions`] (`options.rs`): buffer size, ping interval, response
//!   timeout.
//! - `table.rs`: the pure subscription table (which streams want which
//!   channels, what the server confirmed, what to send, where each message
//!   goes); `buffer.rs`: the bounded queue of one stream; `frame.rs`: the
//!   frames read and the commands written; `driver.rs`: the task that moves
//!   bytes and reconnects; `shared.rs`: what they share.
//!
//! # Example
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use redis_conn::ConnectionConfig;
//! use redis_pubsub::PubsubConnection;
//!
//! # async fn run() -> Result<(), redis_conn::Error> {
//! let config: ConnectionConfig = "redis://127.0.0.1:6379".parse()?;
//! let conn = PubsubConnection::connect(&config).await?;
//! let mut orders = conn.psubscribe("orders.*").await?.into_messages();
//! while let Some(message) = orders.next().await {
//!     let channel = String::from_utf8_lossy(message.channel());
//!     println!("{channel}: {} bytes", message.payload().len());
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod buffer;
mod connection;
mod driver;
mod event;
mod frame;
mod options;
#[cfg(feature = "otel")]
pub mod otel;
mod shared;
mod subscription;
mod table;

pub use redis_conn::{ConnectionConfig, Error};

pub use crate::connection::{IntoChannel, IntoChannels, PubsubConnection};
pub use crate::event::{Event, Kind, Message};
pub use crate::options::PubsubOptions;
pub use crate::shared::PubsubStats;
pub use crate::subscription::{Messages, Subscribing, Subscription};
