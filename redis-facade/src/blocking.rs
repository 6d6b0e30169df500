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

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Waker;
use std::time::Duration;

use redis_cluster::ClusterConfig;
use redis_conn::{ConnectionConfig, Error};
use redis_paired::{Options, PairedConnection, Runner};
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
    /// cluster (as [`crate::Client::open`]), with a runtime of its own,
    /// which the threads that wait for replies run themselves, and one
    /// thread of its own runs while none does.
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
        Ok(Client {
            client,
            runtime: Arc::new(OwnRuntime::new()?),
        })
    }

    /// What the client's connections wait for replies with.
    fn runner(&self) -> Arc<dyn Runner> {
        Arc::new(Runs(Arc::downgrade(&self.runtime.driven)))
    }

    /// Opens a shared connection to whatever the configuration names (see
    /// [`AnyConnection`](crate::AnyConnection)): clone it into threads
    /// freely.
    pub fn connection(&self) -> Result<AnyConnection, Error> {
        self.connection_with(Options::default())
    }

    /// As [`connection`](Self::connection), with the given options.
    pub fn connection_with(&self, options: Options) -> Result<AnyConnection, Error> {
        let mut conn = self.block_on(self.client.connection_with(options))?;
        if let Some(paired) = conn.as_paired() {
            paired.wait_through(self.runner());
        }
        if let Some(cluster) = conn.as_cluster() {
            cluster.wait_through(self.runner());
            conn.wait_through(self.runner());
        }
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
        conn.wait_through(self.runner());
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
            client: self.clone(),
        }
    }

    /// Runs `future` on the client's runtime, on this thread.
    fn block_on<T>(&self, future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        self.runtime.driven.block_on(future)?
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
        let subscription = self.client.block_on(subscribing)?;
        Ok(self.client.events(subscription.into()))
    }
}

/// The events of a subscription, waited for one by one: an [`Iterator`]
/// that ends when the subscription does. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Events {
    subscription: AnySubscription,
    client: Client,
}

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        use futures_util::StreamExt;
        // The subscription's buffer is filled by the client's runtime, which
        // this thread runs while it waits.
        self.client
            .block_on(async { Ok(self.subscription.next().await) })
            .ok()
            .flatten()
    }
}

/// The client's runtime: tokio's current-thread runtime, run by whichever
/// thread waits for a reply ([`Driven::block_on`]), so that a thread
/// waiting alone writes and reads the socket itself, and by a thread of its
/// own whenever none has waited for a while ([`IDLE`]), so that
/// reconnects, timers and subscriptions still make progress between
/// waits. Threads that wait while another runs the runtime sleep until it
/// hands them their reply (or leaves the runtime to them).
///
/// Stopped when the last owner is dropped: its thread is told to end, and
/// the runtime is shut down without blocking inside an async context
/// (dropping a runtime there would panic).
#[derive(Debug)]
struct OwnRuntime {
    driven: Arc<Driven>,
    background: Option<std::thread::JoinHandle<()>>,
}

/// How long the runtime's own thread leaves it to the waiting threads
/// after the last of them waited: shorter, it would take the runtime
/// back between the waits of a busy thread; longer, subscriptions and
/// reconnects would stall longer once the threads stop waiting.
const IDLE: Duration = Duration::from_millis(2);

/// The runtime and who runs it.
#[derive(Debug)]
struct Driven {
    runtime: Option<tokio::runtime::Runtime>,
    /// Threads inside [`Driven::block_on`].
    inside: AtomicUsize,
    /// Waits started, so that the runtime's own thread sees activity
    /// between its looks.
    waits: AtomicU64,
    /// The runtime's own thread is running the runtime.
    background: AtomicBool,
    /// Tells the runtime's own thread to leave the runtime (to a waiting
    /// thread, or to stop).
    leave: tokio::sync::Notify,
    stop: AtomicBool,
    /// Wake-ups of connections' drivers for commands sent while no thread
    /// ran the runtime, given by the next thread that runs it (see
    /// [`Runner::defer`]). Bounded by the connections: a driver's wake-up
    /// is taken once until it runs again.
    deferred: Mutex<Vec<Waker>>,
}

impl OwnRuntime {
    fn new() -> Result<OwnRuntime, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .thread_name("redis-blocking")
            .enable_all()
            .build()?;
        let driven = Arc::new(Driven {
            runtime: Some(runtime),
            inside: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
            background: AtomicBool::new(false),
            leave: tokio::sync::Notify::new(),
            stop: AtomicBool::new(false),
            deferred: Mutex::new(Vec::new()),
        });
        let background = std::thread::Builder::new()
            .name("redis-blocking".into())
            .spawn({
                let driven = driven.clone();
                move || driven.run_when_idle()
            })?;
        Ok(OwnRuntime {
            driven,
            background: Some(background),
        })
    }
}

impl Driven {
    /// Runs `future` on this thread, running the runtime (or, while
    /// another thread runs it, sleeping until the future is done or the
    /// runtime is free).
    fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> Result<T, Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Unsupported(
                "the blocking client inside an async runtime (use the async Client)",
            ));
        }
        let Some(runtime) = &self.runtime else {
            return Err(Error::Closed);
        };
        // Counted before the look at `background`, which the runtime's own
        // thread sets before it looks at `inside`: one of the two sees the
        // other.
        self.inside.fetch_add(1, Ordering::SeqCst);
        let _inside = Inside(&self.inside);
        self.waits.fetch_add(1, Ordering::Relaxed);
        if self.background.load(Ordering::SeqCst) {
            self.leave.notify_one();
        }
        Ok(runtime.block_on(async {
            self.wake_deferred();
            future.await
        }))
    }

    /// Takes a driver's wake-up for the next thread that runs the runtime,
    /// when none runs it now: one that does may be waiting for I/O (a
    /// subscriber for its next message) that would not come, and must be
    /// woken.
    fn defer(&self, waker: &Waker) -> bool {
        let mut deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock: a thread counts itself in `inside` (or, the
        // runtime's own, sets `background`) before it takes the list, so
        // either it finds this wake-up or this sees it running.
        if self.inside.load(Ordering::SeqCst) > 0
            || self.background.load(Ordering::SeqCst)
            || self.stop.load(Ordering::Acquire)
        {
            return false;
        }
        if !deferred.iter().any(|w| w.will_wake(waker)) {
            deferred.push(waker.clone());
        }
        true
    }

    /// Gives the wake-ups taken by [`defer`](Self::defer); inside the
    /// runtime, on the thread that runs it, they cost no system call.
    fn wake_deferred(&self) {
        let wakers = std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in wakers {
            waker.wake();
        }
    }

    /// The runtime's own thread: runs the runtime while no other thread
    /// has waited for [`IDLE`], and leaves it as soon as one does.
    fn run_when_idle(&self) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        let mut seen = u64::MAX;
        while !self.stop.load(Ordering::Acquire) {
            let waits = self.waits.load(Ordering::Relaxed);
            if self.inside.load(Ordering::SeqCst) > 0 || waits != seen {
                seen = waits;
                std::thread::park_timeout(IDLE);
                continue;
            }
            self.background.store(true, Ordering::SeqCst);
            runtime.block_on(async {
                self.wake_deferred();
                loop {
                    let notified = self.leave.notified();
                    let mut notified = std::pin::pin!(notified);
                    // Registered before the look: a notification after it
                    // is not lost.
                    notified.as_mut().enable();
                    if self.inside.load(Ordering::SeqCst) > 0 || self.stop.load(Ordering::Acquire) {
                        return;
                    }
                    notified.await;
                }
            });
            self.background.store(false, Ordering::SeqCst);
        }
    }
}

/// Counts a thread out of [`Driven::block_on`], however it leaves.
struct Inside<'a>(&'a AtomicUsize);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The [`Runner`] connections are given: it runs the client's runtime on
/// the waiting thread. It holds the runtime weakly: the runtime owns the
/// connections' drivers, which hold it.
struct Runs(Weak<Driven>);

impl Runner for Runs {
    fn run(&self, future: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        match self.0.upgrade() {
            Some(driven) => driven.block_on(future),
            None => Err(Error::Closed),
        }
    }

    fn defer(&self, driver: &Waker) -> bool {
        self.0.upgrade().is_some_and(|driven| driven.defer(driver))
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        self.driven.stop.store(true, Ordering::Release);
        self.driven.leave.notify_one();
        if let Some(background) = self.background.take() {
            background.thread().unpark();
            // Inside an async context the thread is left to end on its own
            // rather than waited for there.
            if tokio::runtime::Handle::try_current().is_err() {
                let _ = background.join();
            }
        }
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            }
        }
    }
}
