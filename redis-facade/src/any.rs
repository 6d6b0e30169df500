//! `AnyConnection`: one handle for whatever topology the configuration
//! names (one server, a Sentinel group, a cluster), with its scan stream
//! and subscription.
//!
//! This is the one place in the facade that wraps rather than re-exports:
//! code written once must run on a single server and on a cluster, and
//! only a type that picks the topology at run time lets it. Each method
//! passes straight to [`PairedConnection`] or [`ClusterConnection`]; the
//! behaviour, the guarantees and the errors are theirs.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::lock::Mutex;
use futures_util::stream::{FusedStream, Stream, StreamExt};
use redis_cluster::{ClusterConnection, ClusterScan, ClusterScanStream, ClusterSubscription};
use redis_conn::{ConnectionConfig, Error};
use redis_paired::{
    IntoCommand, PairedConnection, Pipeline, Reply, ReplyFuture, Runner, Scan, ScanCommands,
    ScanStream, SendBatch, SendCommand,
};
use redis_pubsub::{Event, IntoChannels, PubsubConnection, Subscribing, Subscription};
use resp::{Command, FromValue, Value};

/// A shared connection to a single server (directly or through Sentinel)
/// or to a cluster, as the configuration says: what
/// [`Client::connection`](crate::Client::connection) opens.
///
/// It has one face for both: the typed [`Commands`](crate::Commands) (on
/// `&conn`), [`pipeline`](Self::pipeline) and
/// [`transaction`](Self::transaction) (one [`Pipeline`] type),
/// [`scan`](Self::scan) (one [`AnyScanStream`] type) and
/// [`subscribe`](Self::subscribe) (one [`AnySubscription`] type), so a
/// function written against it runs on either. Clones share the
/// connections. [`as_paired`](Self::as_paired) and
/// [`as_cluster`](Self::as_cluster) reach what only one topology has
/// (`send_to_all_primaries`, `exclusive`, the topology).
///
/// On a cluster, what a cluster demands holds: a transaction's keys share a
/// slot, `SCAN` walks every primary (see [`ClusterConnection`]).
///
/// ```no_run
/// use redis_facade::prelude::*;
///
/// // Runs unchanged on `redis://`, `redis+sentinel://` and
/// // `redis+cluster://`.
/// async fn visit(conn: &AnyConnection, user: &str) -> Result<i64, Error> {
///     let key = format!("{{{user}}}:visits");
///     let (n, _) = conn
///         .transaction()
///         .incr(&key)
///         .expire(&key, 3600)
///         .query()
///         .await?;
///     Ok(n)
/// }
///
/// # async fn run() -> Result<(), Error> {
/// let conn = Client::open("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")?
///     .connection()
///     .await?;
/// visit(&conn, "ada").await?;
/// let mut keys = conn.scan().match_pattern("{*}:visits").into_stream::<String>();
/// while let Some(key) = keys.next().await {
///     println!("{}", key?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AnyConnection {
    topology: Topology,
    /// The runtime the cluster's futures run on when the caller waits for
    /// them outside any runtime (the blocking client, `Reply::wait`): they
    /// need its timers, which a single server's replies do not.
    runtime: Option<tokio::runtime::Handle>,
    /// What those futures are waited for with (the blocking client's): the
    /// waiting thread runs `runtime` itself instead of sleeping until
    /// another thread does.
    runner: Option<Waits>,
}

/// The [`Runner`] of [`AnyConnection::runner`].
#[derive(Clone)]
struct Waits(Arc<dyn Runner>);

impl std::fmt::Debug for Waits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runner")
    }
}

#[derive(Debug, Clone)]
enum Topology {
    Server {
        conn: PairedConnection,
        /// Where subscriptions go: the server's configuration, and the
        /// subscription connection, opened at the first subscription.
        config: Box<ConnectionConfig>,
        pubsub: Arc<Mutex<Option<PubsubConnection>>>,
    },
    Cluster(ClusterConnection),
}

impl AnyConnection {
    /// The handle on a single server's connection; subscriptions open a
    /// connection of their own to `config` when first asked for.
    pub fn server(conn: PairedConnection, config: ConnectionConfig) -> AnyConnection {
        AnyConnection {
            topology: Topology::Server {
                conn,
                config: Box::new(config),
                pubsub: Arc::new(Mutex::new(None)),
            },
            runtime: tokio::runtime::Handle::try_current().ok(),
            runner: None,
        }
    }

    /// The handle on a cluster's connection.
    pub fn cluster(conn: ClusterConnection) -> AnyConnection {
        AnyConnection {
            topology: Topology::Cluster(conn),
            runtime: tokio::runtime::Handle::try_current().ok(),
            runner: None,
        }
    }

    /// The single server's connection, unless this is a cluster.
    pub fn as_paired(&self) -> Option<&PairedConnection> {
        match &self.topology {
            Topology::Server { conn, .. } => Some(conn),
            Topology::Cluster(_) => None,
        }
    }

    /// The cluster's connection, if this is one.
    pub fn as_cluster(&self) -> Option<&ClusterConnection> {
        match &self.topology {
            Topology::Server { .. } => None,
            Topology::Cluster(conn) => Some(conn),
        }
    }

    /// True when the configuration named a cluster.
    pub fn is_cluster(&self) -> bool {
        self.as_cluster().is_some()
    }

    /// Sends any command and returns its reply converted into `T` (on a
    /// cluster, once redirects are followed).
    pub fn send<T: FromValue>(&self, cmd: impl IntoCommand) -> Reply<T> {
        match cmd.into_command() {
            Ok(cmd) => self.send_command(cmd),
            Err(e) => Reply::from_error(e.into()),
        }
    }

    /// Sends a command whose reply nobody waits for. Fails only when the
    /// command cannot be built or queued.
    pub fn send_and_forget(&self, cmd: impl IntoCommand) -> Result<(), Error> {
        match &self.topology {
            Topology::Server { conn, .. } => conn.send_and_forget(cmd),
            Topology::Cluster(conn) => conn.send_and_forget(cmd),
        }
    }

    /// Starts a pipeline (see [`Pipeline`]). On a cluster its commands are
    /// split per node and their replies merged in order, as
    /// [`ClusterConnection::pipeline`] does.
    pub fn pipeline(&self) -> Pipeline<'_> {
        match &self.topology {
            Topology::Server { conn, .. } => conn.pipeline(),
            Topology::Cluster(_) => Pipeline::over(self),
        }
    }

    /// Starts a `MULTI ... EXEC` transaction (see [`Pipeline`]). On a
    /// cluster its keys must all be in one slot (use a hash tag), as
    /// [`ClusterConnection::transaction`] requires.
    pub fn transaction(&self) -> Pipeline<'_> {
        match &self.topology {
            Topology::Server { conn, .. } => conn.transaction(),
            Topology::Cluster(_) => Pipeline::transaction_over(self),
        }
    }

    /// `SCAN` over every key: the server's, or every primary's of the
    /// cluster in turn. `HSCAN`, `SSCAN` and `ZSCAN` (one key, so one node)
    /// come from [`ScanCommands`] as on any connection.
    pub fn scan(&self) -> AnyScan {
        AnyScan {
            scan: match &self.topology {
                Topology::Server { conn, .. } => ScanOf::Server(ScanCommands::scan(conn)),
                Topology::Cluster(conn) => ScanOf::Cluster(conn.scan()),
            },
        }
    }

    /// `SUBSCRIBE`: once the server confirms, the events of the channels.
    /// On a single server this opens the subscription connection when first
    /// asked; on a cluster see [`ClusterConnection::subscribe`].
    pub async fn subscribe(&self, channels: impl IntoChannels) -> Result<AnySubscription, Error> {
        match &self.topology {
            Topology::Server { .. } => self.on_server(|p| p.subscribe(channels)).await,
            Topology::Cluster(conn) => conn.subscribe(channels).await.map(AnySubscription::from),
        }
    }

    /// `PSUBSCRIBE`: as [`subscribe`](Self::subscribe), for patterns.
    pub async fn psubscribe(&self, patterns: impl IntoChannels) -> Result<AnySubscription, Error> {
        match &self.topology {
            Topology::Server { .. } => self.on_server(|p| p.psubscribe(patterns)).await,
            Topology::Cluster(conn) => conn.psubscribe(patterns).await.map(AnySubscription::from),
        }
    }

    /// `SSUBSCRIBE`: as [`subscribe`](Self::subscribe), for sharded
    /// channels (on a cluster, at the primary of their slot).
    pub async fn ssubscribe(&self, channels: impl IntoChannels) -> Result<AnySubscription, Error> {
        match &self.topology {
            Topology::Server { .. } => self.on_server(|p| p.ssubscribe(channels)).await,
            Topology::Cluster(conn) => conn.ssubscribe(channels).await.map(AnySubscription::from),
        }
    }

    /// Subscribes on the single server's subscription connection, opened
    /// the first time.
    async fn on_server(
        &self,
        subscribe: impl FnOnce(&PubsubConnection) -> Subscribing,
    ) -> Result<AnySubscription, Error> {
        let Topology::Server { config, pubsub, .. } = &self.topology else {
            return Err(Error::Unsupported(
                "a single server's subscription on a cluster",
            ));
        };
        let conn = {
            let mut slot = pubsub.lock().await;
            match &*slot {
                Some(conn) => conn.clone(),
                None => {
                    let conn = PubsubConnection::connect(config).await?;
                    slot.insert(conn).clone()
                }
            }
        };
        subscribe(&conn).await.map(AnySubscription::from)
    }

    /// The cluster's runtime, when the caller is outside any: a cluster's
    /// replies need its timers, and are waited for there without them
    /// (the blocking client, `Reply::wait`), so they run on it.
    fn runtime_to_run_on(&self) -> Option<&tokio::runtime::Handle> {
        self.runtime
            .as_ref()
            .filter(|_| tokio::runtime::Handle::try_current().is_err())
    }

    /// Makes the cluster's replies (commands and pipelines) run on their
    /// runtime with `runner` on the thread that waits for them, as the
    /// blocking client's do.
    pub(crate) fn wait_through(&mut self, runner: Arc<dyn Runner>) {
        self.runner = Some(Waits(runner));
    }

    /// `reply`, waited for with the runner, if any.
    fn waited<T>(&self, reply: Reply<T>) -> Reply<T> {
        match &self.runner {
            Some(Waits(runner)) => reply.wait_through(Arc::clone(runner)),
            None => reply,
        }
    }
}

/// Runs a cluster's reply on `runtime`, giving it back to be awaited or
/// waited for anywhere.
fn run_on<T: FromValue>(runtime: &tokio::runtime::Handle, reply: Reply<Value>) -> Reply<T> {
    let task = runtime.spawn(reply);
    Reply::from_future(async move {
        task.await
            .unwrap_or_else(|_| Err(Error::Unsupported("a reply whose runtime is shut down")))
    })
}

/// The typed [`Commands`](crate::Commands) work on `&AnyConnection`, and
/// [`Sender`](crate::Sender) code takes it.
impl SendCommand for AnyConnection {
    type Replies = ReplyFuture;

    fn send_command<T: FromValue>(&self, cmd: Command) -> Reply<T> {
        match &self.topology {
            Topology::Server { conn, .. } => conn.send_command(cmd),
            Topology::Cluster(conn) => match self.runtime_to_run_on() {
                Some(runtime) => self.waited(run_on(runtime, conn.send_command(cmd))),
                None => conn.send_command(cmd),
            },
        }
    }
}

/// A [`Pipeline`] over a cluster runs its batch as a
/// [`ClusterPipeline`](redis_cluster::ClusterPipeline) would.
impl SendBatch for AnyConnection {
    fn send_batch(&self, mut commands: Vec<Command>) -> Reply<Value> {
        // A transaction's batch comes framed by MULTI and EXEC: the
        // pipelines below add their own.
        let transaction = commands.first().is_some_and(|c| is_named(c, b"MULTI"))
            && commands.last().is_some_and(|c| is_named(c, b"EXEC"));
        if transaction {
            commands.pop();
            commands.remove(0);
        }
        let reply: Reply<Value> = match &self.topology {
            Topology::Server { conn, .. } => {
                let mut batch = if transaction {
                    conn.transaction()
                } else {
                    conn.pipeline()
                };
                for cmd in commands {
                    batch.push(cmd);
                }
                Reply::from_future(batch.query_as::<Value>())
            }
            Topology::Cluster(conn) => {
                let mut batch = if transaction {
                    conn.transaction()
                } else {
                    conn.pipeline()
                };
                for cmd in commands {
                    batch.push(cmd);
                }
                match self.runtime_to_run_on() {
                    Some(runtime) => run_on(runtime, batch.query_as()),
                    None => batch.query_as(),
                }
            }
        };
        if !transaction {
            return reply;
        }
        // The pipeline reads a transaction's replies as `EXEC`'s last; the
        // ones before (`OK`, `QUEUED`) the pipelines below have checked.
        Reply::from_future(async move { Ok(Value::Array(vec![reply.await?])) })
    }

    fn runner(&self) -> Option<Arc<dyn Runner>> {
        self.runner.as_ref().map(|Waits(runner)| Arc::clone(runner))
    }
}

/// A `SCAN` not started yet, on a single server or a cluster: made by
/// [`AnyConnection::scan`], run by [`into_stream`](Self::into_stream).
#[derive(Debug, Clone)]
#[must_use = "a scan does nothing until its stream is polled"]
pub struct AnyScan {
    scan: ScanOf,
}

#[derive(Debug, Clone)]
enum ScanOf {
    Server(Scan<PairedConnection>),
    Cluster(ClusterScan),
}

impl AnyScan {
    /// `MATCH pattern`: only keys that match the glob-style pattern.
    pub fn match_pattern(self, pattern: impl AsRef<[u8]>) -> AnyScan {
        self.map(|s| s.match_pattern(&pattern), |s| s.match_pattern(&pattern))
    }

    /// `COUNT count`: about how many keys each page reads.
    pub fn count(self, count: usize) -> AnyScan {
        self.map(|s| s.count(count), |s| s.count(count))
    }

    /// `TYPE type`: only keys whose value has this type.
    pub fn key_type(self, key_type: impl AsRef<[u8]>) -> AnyScan {
        self.map(|s| s.key_type(&key_type), |s| s.key_type(&key_type))
    }

    /// The keys as a stream of `T`, page by page; an error is its last
    /// item. The same `Unpin` type on both topologies.
    pub fn into_stream<T: FromValue>(self) -> AnyScanStream<T> {
        AnyScanStream {
            stream: match self.scan {
                ScanOf::Server(scan) => StreamOf::Server(scan.into_stream()),
                ScanOf::Cluster(scan) => StreamOf::Cluster(scan.into_stream()),
            },
        }
    }

    fn map(
        self,
        server: impl FnOnce(Scan<PairedConnection>) -> Scan<PairedConnection>,
        cluster: impl FnOnce(ClusterScan) -> ClusterScan,
    ) -> AnyScan {
        AnyScan {
            scan: match self.scan {
                ScanOf::Server(scan) => ScanOf::Server(server(scan)),
                ScanOf::Cluster(scan) => ScanOf::Cluster(cluster(scan)),
            },
        }
    }
}

/// The keys of an [`AnyScan`]: a [`Stream`] of `Result<T, Error>`,
/// `Unpin`, `Send` and `'static` on both topologies (a single server's
/// [`ScanStream`] or a cluster's [`ClusterScanStream`] inside).
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct AnyScanStream<T> {
    stream: StreamOf<T>,
}

#[derive(Debug)]
enum StreamOf<T> {
    Server(ScanStream<PairedConnection, T>),
    Cluster(ClusterScanStream<T>),
}

impl<T: FromValue> Stream for AnyScanStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.stream {
            StreamOf::Server(stream) => stream.poll_next_unpin(cx),
            StreamOf::Cluster(stream) => stream.poll_next_unpin(cx),
        }
    }
}

impl<T: FromValue> FusedStream for AnyScanStream<T> {
    fn is_terminated(&self) -> bool {
        match &self.stream {
            StreamOf::Server(stream) => stream.is_terminated(),
            StreamOf::Cluster(stream) => stream.is_terminated(),
        }
    }
}

/// The [`Event`]s of a subscription on a single server or a cluster: made
/// by [`AnyConnection::subscribe`] and its siblings. Dropping it
/// unsubscribes.
#[derive(Debug)]
pub struct AnySubscription {
    events: EventsOf,
}

#[derive(Debug)]
enum EventsOf {
    Server(Subscription),
    Cluster(ClusterSubscription),
}

impl From<Subscription> for AnySubscription {
    fn from(subscription: Subscription) -> AnySubscription {
        AnySubscription {
            events: EventsOf::Server(subscription),
        }
    }
}

impl From<ClusterSubscription> for AnySubscription {
    fn from(subscription: ClusterSubscription) -> AnySubscription {
        AnySubscription {
            events: EventsOf::Cluster(subscription),
        }
    }
}

impl Stream for AnySubscription {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        match &mut self.events {
            EventsOf::Server(events) => events.poll_next_unpin(cx),
            EventsOf::Cluster(events) => events.poll_next_unpin(cx),
        }
    }
}

fn is_named(cmd: &Command, name: &[u8]) -> bool {
    cmd.args()
        .next()
        .is_some_and(|first| first.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_types_are_unpin_send_static() {
        fn movable<S: Stream + Unpin + Send + 'static>() {}
        movable::<AnyScanStream<String>>();
        movable::<AnySubscription>();
        fn shared<S: Send + Sync + Clone + 'static>() {}
        shared::<AnyConnection>();
    }

    #[test]
    fn transactions_are_told_by_their_frame() {
        assert!(is_named(&Command::new("multi"), b"MULTI"));
        assert!(!is_named(&Command::new("EXEC"), b"MULTI"));
    }
}
