//! The Redis transport: connection settings and URLs, TCP, Unix and TLS
//! streams, the handshake, and a framed low-level connection.
//!
//! This crate opens one connection and frames it: [`connect`] turns a
//! [`ConnectionConfig`] (from a `redis://`, `rediss://` or `redis+unix://`
//! URL, or built with `with_*` methods) into a [`Connection`], a [`Sink`](futures_util::Sink) of
//! [`resp::Command`]s and a [`Stream`](futures_util::Stream) of
//! [`resp::Value`]s, after a handshake that authenticates, selects the
//! database, names the client and negotiates RESP3 in a single round trip.
//! It also holds what the crates above share: the client [`Error`] and the
//! [`ReconnectPolicy`].
//!
//! It is not a client. A [`Connection`] does not pair replies with requests,
//! does not pipeline for you, has no per-command timeout and never
//! reconnects: when the stream ends, it is spent. Use it for `MONITOR`, a
//! proxy or a test double, or to hand a socket to your own driver
//! ([`Connection::into_parts`]). For an application, use `redis-facade`, or
//! `redis-paired` (a shared, pipelined connection that heals itself) and
//! `redis-pubsub` (subscriptions that survive reconnects) directly.
//!
//! # Layout
//!
//! - [`Error`], [`ConfigError`], [`CommandName`] and [`Result`]
//!   (`error.rs`): the client error of every crate above `resp`.
//! - [`ConnectionConfig`], [`Address`], [`Protocol`], [`PemSource`]
//!   (`config.rs`): where and how to connect, URL parsing included.
//! - [`Credentials`], [`CredentialsProvider`] and [`Reauth`]
//!   (`credentials.rs`): credentials that change, asked for at every
//!   handshake and renewed on live connections before they expire.
//! - [`ReconnectPolicy`], [`Jitter`], [`jitter_seed`] (`reconnect.rs`):
//!   waits that grow with the outage, with jitter, as a pure function.
//! - [`Stream`] (`transport.rs`): TCP, Unix socket or TLS; `tls.rs` builds
//!   the rustls configuration (feature `tls`).
//! - [`HandshakeInfo`] (`handshake.rs`): the handshake as a state machine fed
//!   replies, and what it learned.
//! - [`connect`], [`reconnect`], [`Connection`], [`Parts`] (`connection.rs`):
//!   the framed connection.
//! - [`MasterWatch`] (`watch.rs`): a Sentinel-managed master's failovers,
//!   followed live from the sentinels' announcements (`sentinel.rs` finds
//!   the master at connect).
//! - [`io`]: moving bytes between a socket and buffers, for `Connection` and
//!   for the drivers that take its socket over.
//!
//! # Features
//!
//! - `tls`: `rediss://` URLs and [`ConnectionConfig::with_tls`], through
//!   rustls (ring), trusting the system's root certificates unless given
//!   others.
//!
//! # Example
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use redis_conn::{ConnectionConfig, Protocol};
//!
//! # async fn run() -> redis_conn::Result<()> {
//! let config: ConnectionConfig = "redis://:secret@127.0.0.1:6380/2".parse()?;
//! let mut conn = redis_conn::connect(&config).await?;
//! assert_eq!(conn.protocol(), Protocol::Resp3);
//!
//! // Pipelined by hand: two commands in one write, then two replies.
//! conn.feed(resp::cmd!("INCR", "visits")).await?;
//! conn.feed(resp::cmd!("GET", "visits")).await?;
//! conn.flush().await?;
//! let incr = conn.next().await.transpose()?;
//! let get = conn.next().await.transpose()?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod config;
mod connection;
mod credentials;
mod error;
mod handshake;
pub mod io;
#[cfg(feature = "otel")]
pub mod otel;
mod reconnect;
mod sentinel;
#[cfg(feature = "tls")]
mod tls;
mod transport;
mod watch;

pub use crate::config::{Address, ConnectionConfig, PemSource, Protocol};
pub use crate::connection::{connect, reconnect, Connection, Parts};
pub use crate::credentials::{Credentials, CredentialsFuture, CredentialsProvider, Reauth};
pub use crate::error::{ClusterError, CommandName, ConfigError, Error, Result};
pub use crate::handshake::HandshakeInfo;
pub use crate::reconnect::{jitter_seed, Jitter, ReconnectPolicy};
pub use crate::transport::Stream;
pub use crate::watch::MasterWatch;
