//! Test support for the whole workspace: a throwaway `redis-server` per
//! test, a throwaway Redis Cluster, or a throwaway Sentinel setup.
//!
//! Every crate's tests use this library as a dev-dependency
//! (`xtask = { workspace = true }`) instead of writing their own process
//! management. The API is synchronous `std`, so it works the same from plain
//! `#[test]` functions and from `#[tokio::test]` ones.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! let server = xtask::RedisServer::start()?;
//! let mut stream = TcpStream::connect(("127.0.0.1", server.port()))?;
//! stream.write_all(b"PING\r\n")?;
//! let mut reply = [0; 7];
//! stream.read_exact(&mut reply)?;
//! assert_eq!(&reply, b"+PONG\r\n");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Each server listens on free loopback ports, keeps its files in a private
//! temporary directory and is killed (and the directory removed) when the
//! [`RedisServer`] is dropped. The binary `redis-server` is taken from the
//! `REDIS_SERVER_BIN` environment variable, or else from `PATH`.
//!
//! A [`RedisCluster`] is six such servers run as cluster nodes (three
//! primaries, one replica each), created with `redis-cli --cluster create`;
//! its nodes can be killed, restarted, paused and resumed to test failover.
//!
//! A [`RedisSentinel`] is a master, its replica and three sentinels
//! monitoring it, all such servers; a failover can be asked for, or caused
//! by killing the master.
//!
//! This crate does not depend on any other crate of the workspace, so a
//! broken client crate never keeps the test harness from building.
//!
//! # Layout
//!
//! - [`server`]: [`RedisServer`], the running process, and [`ServerBuilder`],
//!   its options (password, ACL users, Unix socket, TLS, cluster node,
//!   sentinel, extra arguments).
//! - `server/certs.rs`: the CA, server and client certificates generated for
//!   TLS servers at run time.
//! - [`cluster`]: [`RedisCluster`], six cluster nodes made one cluster, and
//!   [`ClusterNode`], one of them with its role and slots.
//! - [`sentinel`]: [`RedisSentinel`], a master and replica watched by three
//!   sentinels.
//! - [`TestServer`], [`shared_url`] and [`TestCluster`] (`shared.rs`): the
//!   server or cluster a plain test talks to, `REDIS_URL`'s and
//!   `REDIS_CLUSTER_URLS`'s or throwaway ones.
//! - [`catalogue`]: the snapshot of the server's command docs and the table
//!   generated from it (`cargo xtask gen-commands`).
//! - `telemetry` (feature `telemetry`): an in-memory meter provider and a
//!   span recorder, with which the client crates' tests read the client's
//!   metrics and spans.
//!
//! The `xtask` binary of this package (`cargo xtask test`) is built on the
//! same library.

#![deny(missing_docs)]

pub mod catalogue;
pub mod cluster;
pub mod methods;
mod probe;
pub mod sentinel;
pub mod server;
mod shared;
#[cfg(feature = "telemetry")]
pub mod telemetry;

pub use cluster::{ClusterNode, RedisCluster, Role};
pub use sentinel::RedisSentinel;
pub use server::{RedisServer, ServerBuilder};
pub use shared::{shared_url, TestCluster, TestServer};
