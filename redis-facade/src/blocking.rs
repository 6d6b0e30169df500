//! A synchronous client, for programs without an async runtime: command-line
//! tools, build scripts, tests. It drives the same connections on a runtime
//! of its own, so its behaviour is the async client's.
//!
//! ```no_run
//! use redis_facade::blocking::Client;
//! use redis_facade::prelude::*;
//!
//! # fn main() -> Result<(), Error> {
//! let client = Client::open("redis://127.0.0.1/")?;
//! let conn = client.paired()?;
//! conn.set("greeting", "hello").wait()?;
//! let greeting: Option<String> = conn.get("greeting").wait()?;
//! let (n, list_len): (i64, i64) = conn
//!     .transaction()
//!     .add(cmd!("INCR", "visits"))
//!     .add(cmd!("RPUSH", "log", "visit"))
//!     .query_wait()?;
//!
//! let pubsub = client.pubsub()?;
//! for event in pubsub.subscribe("news")? {
//!     println!("{event:?}");
//!     # break;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A cluster (`redis+cluster://...`) is opened the same way, through
//! [`Client::connection`], which gives the one face of
//! [`AnyConnection`](crate::AnyConnection) on any topology:
//!
//! ```no_run
//! use redis_facade::blocking::Client;
//! use redis_facade::prelude::*;
//!
//! # fn main() -> Result<(), Error> {
//! let conn = Client::open("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")?.connection()?;
//! conn.set("{user:1}:name", "Ada").wait()?;
//! let (n, ()) = conn
//!     .transaction()
//!     .incr("{user:1}:visits")
//!     .set("{user:1}:seen", "now")
//!     .query_wait()?;
//! for event in conn.subscribe("news")? {
//!     println!("{event:?}");
//!     # break;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Every method that waits ([`Reply::wait`](crate::Reply::wait),
//! [`Pipeline::query_wait`](crate::Pipeline::query_wait), the methods
//! here) refuses, with [`Error::Unsupported`], to run on a thread that is
//! running an async runtime: there, use the async client and `.await`.

use std::ops::Deref;
use std::sync::Arc;

use redis_cluster::ClusterConfig;
use redis_conn::{ConnectionConfig, Error};
use redis_paired::{Options, PairedConnection};
use redis_pubsub::{Event, IntoChannels};

use crate::AnySubscription;

/// A synchronous client: a configuration and the runtime its connections
/// run on. Cheap to clone; the runtime stops when the client and every
/// connection it opened are gone.
#[derive(Debug, Clone)]
pub struct Client {
    client: crate::Client,
    runtime: Arc<OwnRuntime>,
}

impl Client {
    /// A client for what a URL names, one server, a Sentinel group or a
    /// cluster (as [`crate::Client::open`]), with a runtime of its own: one
    /// worker thread.
    pub fn open(url: impl AsRef<str>) -> Result<Client, Error> {
        Client::with(crate::Client::open(url)?)
    }

    /// A client for a configuration built with the `with_*` methods of
    /// [`ConnectionConfig`].
    pub fn new(config: ConnectionConfig) -> Result<Client, Error> {
        Client::with(crate::Client::new(config))
    }

    /// A client for a cluster configuration.
    pub fn new_cluster(config: ClusterConfig) -> Result<Client, Error> {
        Client::with(crate::Client::new_cluster(config)?)
    }

    fn with(client: crate::Client) -> Result<Client, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("redis-blocking")
            .enable_all()
            .build()?;
        Ok(Client {
            client,
            runtime: Arc::new(OwnRuntime(Some(runtime))),
        })
    }

    /// Opens a shared connection to whatever the configuration names (see
    /// [`AnyConnection`](crate::AnyConnection)): clone it into threads
    /// freely.
    pub fn connection(&self) -> Result<AnyConnection, Error> {
        self.connection_with(Options::default())
    }

    /// As [`connection`](Self::connection), with the given options.
    pub fn connection_with(&self, options: Options) -> Result<AnyConnection, Error> {
        let conn = self.block_on(self.client.connection_with(options))?;
        Ok(AnyConnection {
            conn,
            client: self.clone(),
        })
    }

    /// Opens a shared, pipelined connection (see [`PairedConnection`]):
    /// clone it into threads freely.
    pub fn paired(&self) -> Result<Connection, Error> {
        self.paired_with(Options::default())
    }

    /// Opens a shared connection with the given options.
    pub fn paired_with(&self, options: Options) -> Result<Connection, Error> {
        let conn = self.block_on(self.client.paired_with(options))?;
        Ok(Connection {
            conn,
            _runtime: self.runtime.clone(),
        })
    }

    /// Opens a subscription connection (see
    /// [`PubsubConnection`](redis_pubsub::PubsubConnection)).
    pub fn pubsub(&self) -> Result<PubsubConnection, Error> {
        let conn = self.block_on(self.client.pubsub())?;
        Ok(PubsubConnection {
            conn,
            client: self.clone(),
        })
    }

    /// The events of `subscription`, kept with the runtime that fills it.
    fn events(&self, subscription: AnySubscription) -> Events {
        Events {
            subscription,
            _client: self.clone(),
        }
    }

    /// Runs `future` on the client's runtime and waits for it here.
    fn block_on<T>(
        &self,
        future: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Unsupported(
                "the blocking client inside an async runtime (use the async Client)",
            ));
        }
        match &self.runtime.0 {
            Some(runtime) => runtime.block_on(future),
            None => Err(Error::Closed),
        }
    }
}

/// A shared connection of the blocking client. It derefs to the async
/// [`PairedConnection`], so every typed command is there; end each with
/// `.wait()` (or a pipeline with `.query_wait()`).
#[derive(Debug, Clone)]
pub struct Connection {
    conn: PairedConnection,
    /// The runtime the connection's driver runs on, kept as long as the
    /// connection.
    _runtime: Arc<OwnRuntime>,
}

impl Deref for Connection {
    type Target = PairedConnection;

    fn deref(&self) -> &PairedConnection {
        &self.conn
    }
}

/// A shared connection of the blocking client to one server or a
/// cluster. It derefs to the async [`AnyConnection`](crate::AnyConnection),
/// so every typed command, `pipeline()` and `transaction()` are there; end
/// each with `.wait()` (or a pipeline with `.query_wait()`). A cluster's
/// commands run on the client's runtime while this thread waits.
#[derive(Debug, Clone)]
pub struct AnyConnection {
    conn: crate::AnyConnection,
    client: Client,
}

impl Deref for AnyConnection {
    type Target = crate::AnyConnection;

    fn deref(&self) -> &crate::AnyConnection {
        &self.conn
    }
}

impl AnyConnection {
    /// `SUBSCRIBE`: once the server confirms, the events of the channels as
    /// an iterator.
    pub fn subscribe(&self, channels: impl IntoChannels) -> Result<Events, Error> {
        let conn = self.conn.clone();
        let subscription = self
            .client
            .block_on(async move { conn.subscribe(channels).await })?;
        Ok(self.client.events(subscription))
    }

    /// `PSUBSCRIBE`: as [`subscribe`](Self::subscribe), for patterns.
    pub fn psubscribe(&self, patterns: impl IntoChannels) -> Result<Events, Error> {
        let conn = self.conn.clone();
        let subscription = self
            .client
            .block_on(async move { conn.psubscribe(patterns).await })?;
        Ok(self.client.events(subscription))
    }

    /// `SSUBSCRIBE`: as [`subscribe`](Self::subscribe), for sharded
    /// channels.
    pub fn ssubscribe(&self, channels: impl IntoChannels) -> Result<Events, Error> {
        let conn = self.conn.clone();
        let subscription = self
            .client
            .block_on(async move { conn.ssubscribe(channels).await })?;
        Ok(self.client.events(subscription))
    }
}

/// A subscription connection of the blocking client.
#[derive(Debug, Clone)]
pub struct PubsubConnection {
    conn: redis_pubsub::PubsubConnection,
    client: Client,
}

impl PubsubConnection {
    /// `SUBSCRIBE`: once the server confirms, the events of the channels as
    /// an iterator.
    pub fn subscribe(&self, channels: impl IntoChannels) -> Result<Events, Error> {
        self.events(self.conn.subscribe(channels))
    }

    /// `PSUBSCRIBE`: as [`subscribe`](Self::subscribe), for patterns.
    pub fn psubscribe(&self, patterns: impl IntoChannels) -> Result<Events, Error> {
        self.events(self.conn.psubscribe(patterns))
    }

    /// `SSUBSCRIBE`: as [`subscribe`](Self::subscribe), for sharded
    /// channels.
    pub fn ssubscribe(&self, channels: impl IntoChannels) -> Result<Events, Error> {
        self.events(self.conn.ssubscribe(channels))
    }

    fn events(&self, subscribing: redis_pubsub::Subscribing) -> Result<Events, Error> {
        let subscription = redis_paired::wait(subscribing)?;
        Ok(self.client.events(subscription.into()))
    }
}

/// The events of a subscription, waited for one by one: an [`Iterator`]
/// that ends when the subscription does. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Events {
    subscription: AnySubscription,
    _client: Client,
}

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        use futures_util::StreamExt;
        // The subscription's buffer is filled by the client's runtime; only
        // the waiting happens here.
        redis_paired::wait(async { Ok(self.subscription.next().await) })
            .ok()
            .flatten()
    }
}

/// The client's runtime, shut down without blocking when the last owner is
/// dropped inside an async context (dropping a runtime there would panic).
#[derive(Debug)]
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            }
        }
    }
}
