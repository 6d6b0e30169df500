//! `ClusterConnection`: the handle; node connections, the topology and its
//! refreshes, and the futures that follow redirects.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};
use std::time::Duration;

use futures_util::future::{join, join_all};
use futures_util::stream::{FuturesUnordered, StreamExt};
use redis_commands::catalogue::LearnedCommand;
use redis_commands::SendCommand;
use redis_conn::{ClusterError, Error};
use redis_paired::trace;
use redis_paired::{
    BoxedReply, ExclusiveConnection, IntoCommand, PairedConnection, Recover, Reply, ReplyFuture,
    Runner,
};
use redis_pubsub::{IntoChannels, Kind, PubsubConnection};
use resp::{cmd, Command, FromValue, Value};
use tokio::sync::{watch, OnceCell};
use tokio::time::Instant;

use crate::pubsub::{self, ClusterSubscription};
use crate::redirect::Redirect;
use crate::route::{self, Merge, Route, Split};
use crate::slot::key_slot;
use crate::topology::{NodeAddr, Topology};
use crate::{ClusterConfig, ClusterPipeline, ClusterScan};

/// One handle on a whole Redis Cluster, shared by every task that holds a
/// clone.
///
/// Each command goes to the node that serves the slot of its keys, on one
/// [`PairedConnection`] per node (opened when first needed, then reused),
/// so commands to a node are pipelined as on a single server. The typed
/// [`Commands`](redis_paired::Commands) work on it as on a
/// `PairedConnection`.
///
/// - `MOVED` updates the slot and sends the command to its new owner; `ASK`
///   sends `ASKING` and the command together to the importing node: after
///   [`max_redirects`](ClusterConfig::with_max_redirects) of them the
///   command fails with [`ClusterError::TooManyRedirects`]. `TRYAGAIN`,
///   `CLUSTERDOWN` (a failover under way) and `LOADING` wait, a little
///   longer each time (at most 50 ms), and try again until the command's
///   response timeout, when it fails with that last reply. Each means the
///   command did not run.
/// - `MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS` and `TOUCH` over keys of
///   several slots are split by slot, sent in parallel and merged in the
///   caller's order (counts added up). Other commands over several slots go
///   to the first key's node, which refuses them with `CROSSSLOT`.
/// - Commands without keys go to any primary; `FLUSHALL`, `FLUSHDB`,
///   `SCRIPT LOAD`, `SCRIPT FLUSH` and `FUNCTION LOAD`/`DELETE`/`FLUSH`/
///   `RESTORE` go to every primary (the first reply is the answer once all
///   succeed), `DBSIZE` is summed over the primaries and `KEYS` gathered
///   from them.
/// - A command the catalogue does not know (a module's, such as `JSON.SET`,
///   one newer than the catalogue, one renamed by the servers'
///   `rename-command`) is asked about on its first use, `COMMAND INFO name`
///   to a primary, once a name however many tasks use it at once (they wait
///   for that answer), and goes by the key specifications the server gives.
///   Where the server does not know the name, does not answer within 1 s,
///   or gives no key specifications that tell, the first argument is taken
///   for the key, as other clients do. At most 1024 names are kept; a name
///   beyond them is not asked about and goes by its first argument.
/// - The topology is refreshed after a `MOVED` or a `CLUSTERDOWN`, when a
///   node's connection is lost, while a node leaves a command unanswered,
///   and every [`refresh_interval`](ClusterConfig::with_refresh_interval).
///   A refresh asks every known node at once, each with a timeout of its
///   own (at most 1 s), and takes each answer in as it comes: per slot, the
///   owner with the highest config epoch wins, so a node that missed a
///   failover (frozen, cut off) cannot bring its old primary back. No
///   command whose node is up waits for a refresh.
/// - A command whose node is down waits for the topology to name a new
///   owner (a failover), at most its response timeout; a command that was
///   on the socket when the node went down fails with [`Error::Connection`]
///   and is never sent again. So does one left unanswered on the socket of
///   a node the cluster then replaces (a frozen primary whose replica took
///   over): it may have run, or may still run if the node wakes up.
#[derive(Debug, Clone)]
pub struct ClusterConnection {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    config: ClusterConfig,
    topology: RwLock<Snapshot>,
    nodes: RwLock<HashMap<NodeAddr, Arc<OnceCell<PairedConnection>>>>,
    /// Subscription connections, one a node, opened when first needed.
    pubsub: tokio::sync::Mutex<HashMap<NodeAddr, PubsubConnection>>,
    /// When the last refresh started.
    last_refresh: Mutex<Option<Instant>>,
    /// A refresh started by [`Inner::refresh_soon`] runs.
    refreshing: AtomicBool,
    /// The nodes being asked for their topology: one question a node at a
    /// time, however many refreshes want it.
    asking: Mutex<HashSet<NodeAddr>>,
    /// Counts topology changes; commands waiting for one watch it.
    changed: watch::Sender<u64>,
    /// Spreads keyless commands over the primaries.
    next_any: AtomicUsize,
    /// The commands the catalogue does not know, each as a server described
    /// it: one question a name, at most [`LEARNED_LIMIT`] names.
    learned: Mutex<HashMap<Box<[u8]>, LearnedCell>>,
    moved: AtomicU64,
    asked: AtomicU64,
    retried: AtomicU64,
    refreshes: AtomicU64,
    runtime: tokio::runtime::Handle,
    /// What runs the runtime on a thread that waits for a reply, given to
    /// every node's connection ([`ClusterConnection::wait_through`]).
    runner: Runs,
    /// The cluster, as the metrics name it: by its first seed.
    #[cfg(feature = "otel")]
    attributes: Arc<[opentelemetry::KeyValue]>,
}

/// The runner of [`ClusterConnection::wait_through`], once given.
struct Runs(OnceLock<Arc<dyn Runner>>);

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Runs")
            .field(&self.0.get().is_some())
            .finish()
    }
}

/// The topology in use, and beside it the open connection to each shard's
/// primary (in the order of [`Topology::shards`]; `None` until the node's
/// connection is made): a command finds its node's connection under one
/// read lock, without hashing an address. Made anew whenever the topology
/// changes or a node's connection is made.
#[derive(Debug)]
struct Snapshot {
    topology: Arc<Topology>,
    primaries: Vec<Option<PairedConnection>>,
}

/// Counters a cluster connection keeps about the redirects it followed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// `MOVED` replies followed.
    pub moved: u64,
    /// `ASK` replies followed.
    pub asked: u64,
    /// Commands sent again after `TRYAGAIN` or `CLUSTERDOWN`.
    pub retried: u64,
    /// Topology refreshes.
    pub refreshes: u64,
}

/// Refreshes closer together than this are one refresh: a burst of
/// `MOVED`s during a migration asks once. It is also how often a command
/// waiting on an unresponsive node asks for one.
const MIN_REFRESH_GAP: Duration = Duration::from_millis(50);

/// The longest one node may take to give its topology during a refresh (or
/// the response timeout, if shorter). A node that takes longer is left out
/// of that refresh and asked again by a later one: a frozen node must not
/// hold up the others' answers.
const TOPOLOGY_TIMEOUT: Duration = Duration::from_secs(1);

/// Once one node's topology is in, how long a refresh waits for the
/// others' before it returns (they are still taken in when they come).
const REFRESH_GRACE: Duration = Duration::from_millis(50);

/// How long a command waits for its reply before its node is suspected of
/// being frozen, and the topology is refreshed while it waits on.
const SUSPECT_AFTER: Duration = Duration::from_millis(100);

/// How many names of commands the catalogue does not know are learned
/// from the servers and kept. Beyond them, a new name is not asked about:
/// its first argument is taken for its key.
pub(crate) const LEARNED_LIMIT: usize = 1024;

/// The answer about one name, shared by the uses that wait for it.
type LearnedCell = Arc<OnceCell<Learned>>;

/// What a server said of a command the catalogue does not know.
#[derive(Debug)]
enum Learned {
    /// Its key specifications, and the rest of its `COMMAND INFO` entry.
    Known(Arc<LearnedCommand>),
    /// The server does not know the name, or will not say (an error reply,
    /// a reply not as documented): not asked again.
    Unknown,
    /// No answer (the node down, or slower than [`TOPOLOGY_TIMEOUT`]):
    /// asked again on the next use.
    Failed,
}

/// The longest wait between two tries of a command told `TRYAGAIN`,
/// `CLUSTERDOWN` or `LOADING`, or waiting for its slot's owner: short, so
/// that a command follows within that much once the cluster is back.
const MAX_RETRY_DELAY: Duration = Duration::from_millis(50);

impl ClusterConnection {
    /// Learns the topology from the seeds, all asked at once: the first
    /// usable answer, and any that come within 50 ms of it, merged by
    /// config epoch. Node connections are opened when first needed.
    pub async fn connect(config: &ClusterConfig) -> Result<ClusterConnection, Error> {
        let seeds: Vec<NodeAddr> = config
            .seeds()
            .iter()
            .filter_map(|s| match s.address() {
                redis_conn::Address::Tcp { host, port } => Some(NodeAddr {
                    host: host.clone(),
                    port: *port,
                }),
                _ => None,
            })
            .collect();
        if seeds.is_empty() {
            return Err(Error::Config(redis_conn::ConfigError::MissingHost));
        }
        let inner = Arc::new(Inner {
            config: config.clone(),
            topology: RwLock::new(Snapshot {
                topology: Arc::new(Topology::empty()),
                primaries: Vec::new(),
            }),
            nodes: RwLock::new(HashMap::new()),
            pubsub: tokio::sync::Mutex::new(HashMap::new()),
            last_refresh: Mutex::new(None),
            refreshing: AtomicBool::new(false),
            asking: Mutex::new(HashSet::new()),
            changed: watch::Sender::new(0),
            next_any: AtomicUsize::new(0),
            learned: Mutex::new(HashMap::new()),
            moved: AtomicU64::new(0),
            asked: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            runtime: tokio::runtime::Handle::current(),
            runner: Runs(OnceLock::new()),
            // `seeds` is not empty (checked above).
            #[cfg(feature = "otel")]
            attributes: redis_conn::otel::server_attributes(&redis_conn::Address::Tcp {
                host: seeds[0].host.clone(),
                port: seeds[0].port,
            })
            .into(),
        });
        #[cfg(feature = "otel")]
        crate::otel::counters().register(
            inner.attributes.clone(),
            Arc::downgrade(&inner) as Weak<dyn redis_conn::otel::Counted>,
        );
        let patience = config.options().response_timeout();
        inner.ask_for_topology(seeds, patience).await?;
        tokio::spawn(refresh_periodically(Arc::downgrade(&inner)));
        tokio::spawn(look_after_silent_nodes(Arc::downgrade(&inner)));
        Ok(ClusterConnection { inner })
    }

    /// Sends a command to the node its keys say and returns its reply,
    /// converted into `T`, once any redirects are followed.
    pub fn send<T: FromValue>(&self, cmd: impl IntoCommand) -> Reply<T> {
        let cmd = match cmd.into_command() {
            Ok(cmd) => cmd,
            Err(e) => return Reply::from_error(e.into()),
        };
        if !trace::wanted() {
            return Arc::clone(&self.inner).send_value(cmd);
        }
        let name = redis_conn::CommandName::new(cmd.name());
        let span = trace::span(name.as_str(), "0", None, None, None);
        if span.is_disabled() {
            return Arc::clone(&self.inner).send_value(cmd);
        }
        if self.inner.config.options().query_text() {
            span.record("db.query.text", trace::query_text(&cmd).as_str());
        }
        // Entered while the first try is sent, which it is at once when
        // the node is up: its span is this one's child.
        let reply = span.in_scope(|| Arc::clone(&self.inner).send_value(cmd));
        reply.in_span(span)
    }

    /// `SUBSCRIBE`: messages `PUBLISH`ed to these channels on any node (the
    /// cluster passes them to all), received at one primary; the
    /// subscription moves to another if that one goes away.
    pub async fn subscribe(
        &self,
        channels: impl IntoChannels,
    ) -> Result<ClusterSubscription, Error> {
        pubsub::subscribe(
            Arc::clone(&self.inner),
            Kind::Channel,
            channels.into_channels(),
        )
        .await
    }

    /// `PSUBSCRIBE`: as [`subscribe`](Self::subscribe), for patterns.
    pub async fn psubscribe(
        &self,
        patterns: impl IntoChannels,
    ) -> Result<ClusterSubscription, Error> {
        pubsub::subscribe(
            Arc::clone(&self.inner),
            Kind::Pattern,
            patterns.into_channels(),
        )
        .await
    }

    /// `SSUBSCRIBE`: sharded channels, received at the primary that owns
    /// their slot (they must share one), where `SPUBLISH` sends them; after
    /// a failover the subscription follows the slot to its new owner.
    pub async fn ssubscribe(
        &self,
        channels: impl IntoChannels,
    ) -> Result<ClusterSubscription, Error> {
        pubsub::subscribe(
            Arc::clone(&self.inner),
            Kind::Shard,
            channels.into_channels(),
        )
        .await
    }

    /// Sends `cmd` to every primary and returns each one's reply, converted
    /// into `T`, with the primary's address, in the topology's order: for
    /// `PING` on every node, `INFO`, `CONFIG SET` and whatever else one
    /// asks of each node rather than of a slot. The first error fails the
    /// whole, once every node has answered.
    pub async fn send_to_all_primaries<T: FromValue>(
        &self,
        cmd: impl IntoCommand,
    ) -> Result<Vec<(NodeAddr, T)>, Error> {
        let cmd = cmd.into_command()?;
        self.inner
            .on_every_primary::<T>(&cmd)
            .await
            .into_iter()
            .map(|(addr, reply)| reply.map(|value| (addr, value)))
            .collect()
    }

    /// `SCAN` over the whole cluster: every primary in turn (see
    /// [`ClusterScan`]). A plain `SCAN` sent as a command is refused, since
    /// its cursor would go to a different node each page.
    pub fn scan(&self) -> ClusterScan {
        ClusterScan::new(Arc::clone(&self.inner))
    }

    /// Starts a pipeline over any keys: split per node, sent in parallel,
    /// the replies in the caller's order (see [`ClusterPipeline`]).
    pub fn pipeline(&self) -> ClusterPipeline {
        ClusterPipeline::new(Arc::clone(&self.inner), false)
    }

    /// Starts a transaction: one `MULTI ... EXEC` block on the node that
    /// owns its keys, which must all be in one slot.
    pub fn transaction(&self) -> ClusterPipeline {
        ClusterPipeline::new(Arc::clone(&self.inner), true)
    }

    /// A connection of one's own to the primary that owns `key`'s slot: for
    /// `WATCH` on keys of that slot, and `MULTI` by hand. It does not follow
    /// redirects; a slot that moves makes its commands fail with `MOVED`.
    pub async fn exclusive(&self, key: impl AsRef<[u8]>) -> Result<ExclusiveConnection, Error> {
        let addr = self.inner.owner(Some(key_slot(key.as_ref())))?;
        let config = self.inner.config.node(&addr.host, addr.port);
        ExclusiveConnection::connect_with(&config, *self.inner.config.options()).await
    }

    /// Sends a command whose reply nobody waits for; it still follows
    /// redirects. Fails only when the command cannot be built.
    pub fn send_and_forget(&self, cmd: impl IntoCommand) -> Result<(), Error> {
        let cmd = cmd.into_command()?;
        let reply: Reply<()> = self.send(cmd);
        self.inner.runtime.spawn(async move {
            if let Err(error) = reply.await {
                tracing::debug!(%error, "a command sent without waiting failed");
            }
        });
        Ok(())
    }

    /// Counters of the redirects followed and topology refreshes.
    pub fn stats(&self) -> ClusterStats {
        self.inner.stats()
    }

    /// Makes [`Reply::wait`] on this thread run the runtime of every node's
    /// connection with `runner`, as [`PairedConnection::wait_through`]
    /// does for one connection: for the blocking client of the facade
    /// crate. The first runner given stays; false when one was given
    /// before.
    pub fn wait_through(&self, runner: Arc<dyn Runner>) -> bool {
        if self.inner.runner.0.set(Arc::clone(&runner)).is_err() {
            return false;
        }
        let nodes: Vec<PairedConnection> = {
            let nodes = self.inner.nodes.read().unwrap_or_else(|e| e.into_inner());
            nodes
                .values()
                .filter_map(|cell| cell.get().cloned())
                .collect()
        };
        for node in nodes {
            node.wait_through(Arc::clone(&runner));
        }
        true
    }

    /// The counters of each node's connection opened so far (see
    /// [`PairedConnection::stats`]), by the node's address: among them,
    /// what its client-side cache holds.
    pub fn node_stats(&self) -> Vec<(NodeAddr, redis_paired::Stats)> {
        let nodes = self.inner.nodes.read().unwrap_or_else(|e| e.into_inner());
        nodes
            .iter()
            .filter_map(|(addr, cell)| Some((addr.clone(), cell.get()?.stats())))
            .collect()
    }

    /// The topology as last learned.
    pub fn topology(&self) -> Arc<Topology> {
        self.inner.topology()
    }

    /// Asks every known node for its topology now, and returns once one
    /// answer is in and the others had a moment (later ones are still taken
    /// in). A refresh started less than 50 ms ago counts.
    pub async fn refresh(&self) -> Result<(), Error> {
        self.inner.refresh().await
    }
}

impl SendCommand for ClusterConnection {
    type Replies = ReplyFuture;

    fn send_command<T: FromValue>(&self, cmd: Command) -> Reply<T> {
        ClusterConnection::send(self, cmd)
    }
}

impl Inner {
    /// The counters now.
    fn stats(&self) -> ClusterStats {
        ClusterStats {
            moved: self.moved.load(Ordering::Relaxed),
            asked: self.asked.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
        }
    }

    /// Sends `cmd` where its route says.
    pub(crate) fn send_value<T: FromValue>(self: Arc<Self>, cmd: Command) -> Reply<T> {
        if let Some(route) = route::route_known(&cmd) {
            return self.send_routed(cmd, route);
        }
        // A name the servers described already routes at once, as a known
        // one does; only a first use waits for the question, in a future.
        if let Some(learned) = self.learned_now(cmd.name()) {
            let route = route::route_learned(&cmd, learned.as_deref());
            return self.send_routed(cmd, route);
        }
        Reply::from_future(async move {
            let route = self.route_unknown(&cmd).await;
            self.send_routed::<Value>(cmd, route).await
        })
    }

    /// What the servers said of the command `name`, if they said it
    /// already (`Some(None)`: that they do not know it): without waiting,
    /// and without allocating for a name of up to 64 bytes. `None` when
    /// [`learned`](Self::learned) must ask, or wait for an answer.
    fn learned_now(&self, name: &[u8]) -> Option<Option<Arc<LearnedCommand>>> {
        let mut folded = [0u8; 64];
        let folded = folded.get_mut(..name.len())?;
        for (to, from) in folded.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        match lock(&self.learned).get(&*folded)?.get()? {
            Learned::Known(command) => Some(Some(Arc::clone(command))),
            Learned::Unknown => Some(None),
            Learned::Failed => None,
        }
    }

    /// Sends `cmd` by `route`.
    fn send_routed<T: FromValue>(self: Arc<Self>, cmd: Command, route: Route) -> Reply<T> {
        match route {
            Route::Slot(slot) => self.send_to(cmd, Some(slot)),
            // `SCAN` has no keys: only a command without any can be it.
            Route::Any if cmd.name().eq_ignore_ascii_case(b"SCAN") => {
                Reply::from_error(Error::Unsupported(
                    "SCAN sent as a command to a cluster (each node has its own cursor): \
                     use ClusterConnection::scan",
                ))
            }
            Route::Any => self.send_to(cmd, None),
            Route::All(merge) => Reply::from_future(fan_out(self, cmd, merge)),
            Route::Split(split) => Reply::from_future(split_send(self, cmd, split)),
        }
    }

    /// Where `cmd` goes: by the catalogue, or for a command it does not
    /// know, by what the servers said of it.
    pub(crate) async fn route(self: &Arc<Self>, cmd: &Command) -> Route {
        match route::route_known(cmd) {
            Some(route) => route,
            None => self.route_unknown(cmd).await,
        }
    }

    /// Where `cmd`, a command the catalogue does not know, goes.
    async fn route_unknown(self: &Arc<Self>, cmd: &Command) -> Route {
        let learned = self.learned(cmd.name()).await;
        route::route_learned(cmd, learned.as_deref())
    }

    /// What the servers said of the command `name`, which the catalogue
    /// does not know: asked of a primary on its first use (the uses that
    /// come meanwhile wait for the same answer rather than guess, since a
    /// wrong guess costs a `MOVED` and a topology refresh), then kept.
    /// `None` when no server says (the name is unknown, the question
    /// failed, or [`LEARNED_LIMIT`] names are kept already).
    ///
    /// The nodes of a cluster are taken to run the same server: one
    /// primary's answer holds for all.
    pub(crate) async fn learned(self: &Arc<Self>, name: &[u8]) -> Option<Arc<LearnedCommand>> {
        let cell = {
            let mut learned = lock(&self.learned);
            let lower: Box<[u8]> = name.to_ascii_lowercase().into();
            let kept = learned.get(&lower);
            if let Some(cell) = kept.filter(|c| !matches!(c.get(), Some(Learned::Failed))) {
                Arc::clone(cell)
            } else if kept.is_none() && learned.len() >= LEARNED_LIMIT {
                return None;
            } else {
                // A first use, or one after a question that got no answer.
                let cell = Arc::new(OnceCell::new());
                learned.insert(lower, Arc::clone(&cell));
                cell
            }
        };
        match cell.get_or_init(|| self.ask_command_info(name)).await {
            Learned::Known(command) => Some(Arc::clone(command)),
            Learned::Unknown | Learned::Failed => None,
        }
    }

    /// Asks a primary `COMMAND INFO name`.
    async fn ask_command_info(self: &Arc<Self>, name: &[u8]) -> Learned {
        let patience = TOPOLOGY_TIMEOUT.min(self.config.options().response_timeout());
        let ask = async {
            let (_, conn) = self.live_owner(None, Instant::now() + patience).await?;
            conn.send::<Value>(cmd!("COMMAND", "INFO", name)).await
        };
        let reply = match tokio::time::timeout(patience, ask).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(Error::Server(error))) => {
                tracing::debug!(%error, "a server would not describe a command");
                return Learned::Unknown;
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "no server described a command");
                return Learned::Failed;
            }
            Err(_) => return Learned::Failed,
        };
        match LearnedCommand::from_info(&reply) {
            Ok(Some(command)) => Learned::Known(Arc::new(command)),
            Ok(None) => Learned::Unknown,
            Err(error) => {
                tracing::debug!(%error, "a server described a command unreadably");
                Learned::Unknown
            }
        }
    }

    /// The subscription connection to `addr`, opened if it is not yet.
    pub(crate) async fn pubsub_node(&self, addr: &NodeAddr) -> Result<PubsubConnection, Error> {
        let mut nodes = self.pubsub.lock().await;
        if let Some(conn) = nodes.get(addr).filter(|c| c.status().is_ok()) {
            return Ok(conn.clone());
        }
        let config = self.config.node(&addr.host, addr.port);
        let conn = PubsubConnection::connect(&config).await?;
        nodes.insert(addr.clone(), conn.clone());
        Ok(conn)
    }

    /// Whether `addr` is a primary that serves slots.
    pub(crate) fn is_primary(&self, addr: &NodeAddr) -> bool {
        self.topology().shards().iter().any(|s| s.primary == *addr)
    }

    pub(crate) fn topology(&self) -> Arc<Topology> {
        Arc::clone(&self.snapshot().topology)
    }

    fn snapshot(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.topology.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `topology` in use, with the connections already open to its
    /// primaries.
    fn put_snapshot(&self, snapshot: &mut Snapshot, topology: Arc<Topology>) {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        snapshot.primaries = topology
            .shards()
            .iter()
            .map(|shard| nodes.get(&shard.primary)?.get().cloned())
            .collect();
        snapshot.topology = topology;
    }

    /// Sends `cmd` on the open connection to the primary serving `slot`
    /// (any primary, taking turns, for `None`), if there is one and it is
    /// up: the common case of [`send_to`](Self::send_to), under one read
    /// lock, the connection borrowed from the snapshot rather than cloned.
    /// Queueing a command is quick and never waits, so the lock is held no
    /// longer than a clone would take.
    fn send_to_ready_primary<T: FromValue>(
        &self,
        cmd: &mut Command,
        slot: Option<u16>,
    ) -> Option<Reply<T>> {
        let snapshot = self.snapshot();
        let index = match slot {
            Some(slot) => snapshot.topology.shard_index(slot)?,
            None => {
                let n = self.next_any.fetch_add(1, Ordering::Relaxed);
                n % snapshot.primaries.len().max(1)
            }
        };
        let conn = snapshot.primaries.get(index)?.as_ref()?;
        conn.is_connected().then(|| conn.send_ref::<T>(cmd))
    }

    /// The primary that serves `slot`, or any primary for `None`.
    pub(crate) fn owner(&self, slot: Option<u16>) -> Result<NodeAddr, Error> {
        self.primary_in(&self.topology(), slot).cloned()
    }

    /// The primary serving `slot` in `topology`, or any primary (taking
    /// turns) for `None`.
    fn primary_in<'t>(
        &self,
        topology: &'t Topology,
        slot: Option<u16>,
    ) -> Result<&'t NodeAddr, Error> {
        let shard = match slot {
            Some(slot) => topology
                .shard(slot)
                .ok_or(Error::Cluster(ClusterError::SlotUnserved(slot)))?,
            None => {
                let shards = topology.shards();
                let n = self.next_any.fetch_add(1, Ordering::Relaxed);
                shards
                    .get(n % shards.len().max(1))
                    .ok_or(Error::Cluster(ClusterError::SlotUnserved(0)))?
            }
        };
        Ok(&shard.primary)
    }

    /// `cmd` sent to every primary at once; each one's address and reply.
    async fn on_every_primary<T: FromValue>(
        &self,
        cmd: &Command,
    ) -> Vec<(NodeAddr, Result<T, Error>)> {
        let primaries: Vec<NodeAddr> = self
            .topology()
            .shards()
            .iter()
            .map(|s| s.primary.clone())
            .collect();
        let replies = join_all(primaries.iter().map(|addr| {
            let mut cmd = cmd.clone();
            async move { self.node(addr).await?.send_ref::<T>(&mut cmd).await }
        }))
        .await;
        primaries.into_iter().zip(replies).collect()
    }

    /// The open connection to `addr`, without waiting.
    fn ready_node(&self, addr: &NodeAddr) -> Option<PairedConnection> {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        nodes.get(addr)?.get().cloned()
    }

    /// The connection to `addr`, opened if it is not yet.
    pub(crate) async fn node(&self, addr: &NodeAddr) -> Result<PairedConnection, Error> {
        let cell = {
            let mut nodes = self.nodes.write().unwrap_or_else(|e| e.into_inner());
            nodes.entry(addr.clone()).or_default().clone()
        };
        let config = self.config.node(&addr.host, addr.port);
        // A node that is down must not hold commands back: the cluster
        // reroutes them once the topology names another owner. The callers
        // of a node are woken by every node's replies: its small batches
        // wait a turn for more (see `Options::with_write_gathering`).
        let options = self
            .config
            .options()
            .with_fail_fast(true)
            .with_write_gathering(true);
        let made = cell.initialized();
        let conn = cell
            .get_or_try_init(|| PairedConnection::connect_with(&config, options))
            .await
            .cloned()?;
        if !made {
            if let Some(runner) = self.runner.0.get() {
                conn.wait_through(Arc::clone(runner));
            }
            // A command to this node may now find its connection at once.
            let mut snapshot = self.topology.write().unwrap_or_else(|e| e.into_inner());
            let topology = Arc::clone(&snapshot.topology);
            self.put_snapshot(&mut snapshot, topology);
        }
        Ok(conn)
    }

    /// Sends `cmd` to the owner of `slot` (any primary for `None`): at once
    /// when its connection is up, else once the topology names an owner
    /// that is.
    fn send_to<T: FromValue>(self: Arc<Self>, mut cmd: Command, slot: Option<u16>) -> Reply<T> {
        let sent = match self.replica_for(&cmd, slot) {
            Some(conn) => Some(conn.send_ref::<T>(&mut cmd)),
            None => self.send_to_ready_primary::<T>(&mut cmd, slot),
        };
        match sent {
            // The common case costs no future of its own: only a reply that
            // is an error makes one, in `recover`, to follow it.
            Some(reply) => reply.with_recovery(cmd, slot_tag(slot), self),
            None => Reply::from_future(follow(self, cmd, slot, None)),
        }
    }

    /// With reads from replicas on, a replica's connection for a read-only
    /// command of `slot`, if one is up; the replicas take turns. A replica
    /// not connected yet is connected in the background, and the primary
    /// serves meanwhile.
    fn replica_for(self: &Arc<Self>, cmd: &Command, slot: Option<u16>) -> Option<PairedConnection> {
        if !self.config.read_from_replicas() {
            return None;
        }
        let slot = slot?;
        if !redis_paired::catalogue::lookup(cmd).is_some_and(|c| c.is_read_only()) {
            return None;
        }
        let topology = self.topology();
        let replicas = &topology.shard(slot)?.replicas;
        if replicas.is_empty() {
            return None;
        }
        let n = self.next_any.fetch_add(1, Ordering::Relaxed);
        let addr = &replicas[n % replicas.len()];
        if let Some(conn) = self.ready_node(addr).filter(PairedConnection::is_connected) {
            return Some(conn);
        }
        let inner = Arc::clone(self);
        let addr = addr.clone();
        self.runtime.spawn(async move {
            if let Err(error) = inner.node(&addr).await {
                tracing::debug!(replica = %addr, %error, "cannot reach a replica; reading from the primary");
            }
        });
        None
    }

    /// A connection that is up to the owner of `slot`, and the owner's
    /// address, waiting while the owner is down (for the topology to name
    /// another, or for its connection to come back), at most until
    /// `deadline`.
    pub(crate) async fn live_owner(
        self: &Arc<Self>,
        slot: Option<u16>,
        deadline: Instant,
    ) -> Result<(NodeAddr, PairedConnection), Error> {
        let mut changed = self.changed.subscribe();
        let mut delay = self.config.retry_delay();
        loop {
            changed.borrow_and_update();
            let outcome = match self.owner(slot) {
                Ok(addr) => match tokio::time::timeout_at(deadline, self.node(&addr)).await {
                    Ok(Ok(conn)) if conn.is_connected() => return Ok((addr, conn)),
                    Ok(Ok(conn)) => conn.status().err().unwrap_or(Error::Closed),
                    Ok(Err(e)) => e,
                    Err(_) => Error::Timeout {
                        what: "connect",
                        command: None,
                        limit: None,
                    },
                },
                Err(e) => e,
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(outcome);
            }
            tracing::debug!(error = %outcome, "the owner is unavailable; refreshing the topology");
            self.refresh_soon();
            // A retry delay configured past the end of time waits until the
            // deadline.
            let wake = now
                .checked_add(delay)
                .map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                _ = changed.changed() => {}
                () = tokio::time::sleep_until(wake) => {}
            }
            delay = delay
                .saturating_mul(2)
                .min(MAX_RETRY_DELAY.max(self.config.retry_delay()));
        }
    }

    /// Sends `cmd` to the owner of `slot` once it is up (see
    /// [`live_owner`](Self::live_owner)) and awaits the reply.
    async fn send_to_owner(
        self: &Arc<Self>,
        slot: Option<u16>,
        cmd: &mut Command,
        deadline: Instant,
    ) -> Result<Value, Error> {
        let (_, conn) = self.live_owner(slot, deadline).await?;
        conn.send_ref::<Value>(cmd).await
    }

    /// Looks after the nodes that owe replies and send none: one silent
    /// for [`SUSPECT_AFTER`] may be frozen, so the topology is refreshed
    /// (at most every [`MIN_REFRESH_GAP`]); once the cluster no longer lists
    /// such a node (a replica took over), its commands in flight fail at
    /// once with [`Error::Connection`] rather than at their timeout. They
    /// were on the node's socket and may have run, so they are not sent
    /// again. Blocking commands wait on connections of their own and are
    /// expected to wait: they are not counted here.
    ///
    /// One check of every node a [`MIN_REFRESH_GAP`], rather than a timer
    /// a command, so that a healthy cluster pays nothing a command for it.
    fn look_after_silent_nodes(self: &Arc<Self>) {
        let nodes: Vec<(NodeAddr, PairedConnection)> = self
            .nodes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(addr, cell)| Some((addr.clone(), cell.get()?.clone())))
            .collect();
        let topology = self.topology();
        let mut suspect = false;
        for (addr, conn) in nodes {
            if conn
                .unanswered_for()
                .is_none_or(|silent| silent < SUSPECT_AFTER)
            {
                continue;
            }
            if topology.contains(&addr) {
                suspect = true;
            } else {
                tracing::warn!(node = %addr, "the cluster replaced a node that left commands unanswered");
                conn.abandon(Error::Timeout {
                    what: "reply from a node the cluster replaced",
                    command: None,
                    limit: Some(SUSPECT_AFTER),
                });
            }
        }
        if suspect {
            self.refresh_soon();
        }
    }

    /// Learns the topology from every known node and the seeds (see
    /// [`ask_for_topology`](Self::ask_for_topology)), unless a refresh
    /// started less than [`MIN_REFRESH_GAP`] ago.
    pub(crate) async fn refresh(self: &Arc<Self>) -> Result<(), Error> {
        {
            let mut last = lock(&self.last_refresh);
            if last.is_some_and(|at| at.elapsed() < MIN_REFRESH_GAP) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let mut candidates: Vec<NodeAddr> = self
            .topology()
            .shards()
            .iter()
            .flat_map(|s| std::iter::once(s.primary.clone()).chain(s.replicas.iter().cloned()))
            .collect();
        for seed in self.config.seeds() {
            if let redis_conn::Address::Tcp { host, port } = seed.address() {
                let addr = NodeAddr {
                    host: host.clone(),
                    port: *port,
                };
                if !candidates.contains(&addr) {
                    candidates.push(addr);
                }
            }
        }
        let patience = self
            .config
            .options()
            .response_timeout()
            .min(TOPOLOGY_TIMEOUT);
        self.ask_for_topology(candidates, patience).await
    }

    /// Starts a refresh unless one is running or started less than
    /// [`MIN_REFRESH_GAP`] ago.
    fn refresh_soon(self: &Arc<Self>) {
        if lock(&self.last_refresh).is_some_and(|at| at.elapsed() < MIN_REFRESH_GAP) {
            return;
        }
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(self);
        self.runtime.spawn(async move {
            if let Err(error) = inner.refresh().await {
                tracing::warn!(%error, "refreshing the cluster topology failed");
            }
            inner.refreshing.store(false, Ordering::Release);
        });
    }

    /// Asks each of `candidates` for its topology, all at once, each for at
    /// most `patience`, and takes each answer in as it comes (see
    /// [`Topology::merge`]). A node already being asked is not asked twice.
    /// Returns when every node asked has answered or given up, or
    /// [`REFRESH_GRACE`] after the first usable answer; the error of the
    /// last node if none gave one.
    async fn ask_for_topology(
        self: &Arc<Self>,
        candidates: Vec<NodeAddr>,
        patience: Duration,
    ) -> Result<(), Error> {
        let mut answers = FuturesUnordered::new();
        for addr in candidates {
            let Some(asking) = Asking::start(self, addr) else {
                continue;
            };
            let inner = Arc::clone(self);
            answers.push(self.runtime.spawn(async move {
                let addr = &asking.addr;
                let view = match tokio::time::timeout(patience, inner.ask_topology(addr)).await {
                    Ok(view) => view,
                    Err(_) => Err(Error::Timeout {
                        what: "cluster topology",
                        command: None,
                        limit: Some(patience),
                    }),
                };
                match view {
                    Ok(view) => {
                        inner.learn(&view, addr);
                        Ok(())
                    }
                    Err(error) => {
                        tracing::debug!(node = %addr, %error, "no topology from this node");
                        Err(error)
                    }
                }
            }));
        }
        if answers.is_empty() {
            // Every node is being asked already; their answers are coming.
            return Ok(());
        }
        let mut learned = None;
        let mut last_error = None;
        loop {
            let next = match learned {
                Some(at) => match tokio::time::timeout_at(at, answers.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
                None => answers.next().await,
            };
            match next {
                None => break,
                Some(Ok(Ok(()))) => {
                    learned.get_or_insert(Instant::now() + REFRESH_GRACE);
                }
                Some(Ok(Err(error))) => last_error = Some(error),
                Some(Err(_)) => last_error = Some(Error::Closed),
            }
        }
        match (learned, last_error) {
            (Some(_), _) => Ok(()),
            (None, Some(error)) => Err(error),
            (None, None) => Err(Error::Cluster(ClusterError::Topology(
                "no node to ask for the topology".into(),
            ))),
        }
    }

    /// One node's topology: `CLUSTER SHARDS` (`CLUSTER SLOTS` before Redis
    /// 7) with the config epochs of `CLUSTER NODES`, both sent in one write.
    async fn ask_topology(&self, addr: &NodeAddr) -> Result<Topology, Error> {
        let conn = self.node(addr).await?;
        let (shards, nodes) = join(
            conn.send::<Value>(cmd!("CLUSTER", "SHARDS")),
            conn.send::<String>(cmd!("CLUSTER", "NODES")),
        )
        .await;
        let topology = match shards {
            Ok(reply) => Topology::from_shards(&reply, addr),
            // Before Redis 7: CLUSTER SLOTS.
            Err(Error::Server(_)) => {
                let reply: Value = conn.send(cmd!("CLUSTER", "SLOTS")).await?;
                Topology::from_slots(&reply, addr)
            }
            Err(e) => return Err(e),
        };
        let topology = topology.map_err(|e| Error::Cluster(ClusterError::Topology(e.0)))?;
        Ok(match nodes {
            Ok(nodes) => topology.with_config_epochs(&nodes),
            // Without epochs (a server or proxy that refuses CLUSTER NODES),
            // the newest answer wins, as the views come in.
            Err(_) => topology,
        })
    }

    /// Merges `view`, the topology `from` gave, into the one in use.
    fn learn(&self, view: &Topology, from: &NodeAddr) {
        let mut snapshot = self.topology.write().unwrap_or_else(|e| e.into_inner());
        let mut merged = Topology::clone(&snapshot.topology);
        merged.merge(view);
        if merged != *snapshot.topology {
            tracing::debug!(%from, shards = merged.shards().len(), "cluster topology");
            let owners_changed = !merged.same_owners(&snapshot.topology);
            self.put_snapshot(&mut snapshot, Arc::new(merged));
            drop(snapshot);
            if owners_changed {
                self.forget_cached();
            }
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Empties the client-side cache of every node's connection: a slot
    /// moved or a primary changed, so what a node's connection cached may
    /// no longer be the value its owner holds, and no invalidation need
    /// come for it.
    fn forget_cached(&self) {
        if self.config.options().cache().is_none() {
            return;
        }
        let nodes: Vec<PairedConnection> = {
            let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
            nodes
                .values()
                .filter_map(|cell| cell.get().cloned())
                .collect()
        };
        for node in nodes {
            node.forget_cached();
        }
    }

    /// After `MOVED`: the slot's new owner, at once, and a refresh soon.
    pub(crate) fn moved(self: &Arc<Self>, slot: u16, addr: &NodeAddr) {
        {
            let mut snapshot = self.topology.write().unwrap_or_else(|e| e.into_inner());
            let mut updated = Topology::clone(&snapshot.topology);
            updated.moved(slot, addr.clone());
            self.put_snapshot(&mut snapshot, Arc::new(updated));
        }
        self.forget_cached();
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        self.refresh_soon();
    }

    pub(crate) fn deadline(&self) -> Instant {
        let timeout = self.config.options().response_timeout();
        Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
    }
}

/// What a command may still do after the cluster answered it with a
/// redirect. `MOVED` and `ASK` count against `max_redirects`: more of them
/// is a loop. `TRYAGAIN`, `CLUSTERDOWN` and `LOADING` say the cluster is
/// busy (a migration, a failover, a replica loading): they wait, twice as
/// long each time up to [`MAX_RETRY_DELAY`], until the command's deadline,
/// so that a failover of any length is waited out within the response
/// timeout.
pub(crate) struct Retries {
    redirects: usize,
    waits: u32,
    /// When the command gives up waiting: the response timeout after the
    /// first wait (or the first send, for a command that waited for its
    /// node), read from the clock only then.
    deadline: Option<Instant>,
}

impl Retries {
    pub(crate) fn new() -> Retries {
        Retries {
            redirects: 0,
            waits: 0,
            deadline: None,
        }
    }

    /// When the command gives up waiting.
    pub(crate) fn deadline(&mut self, inner: &Inner) -> Instant {
        *self.deadline.get_or_insert_with(|| inner.deadline())
    }

    /// Does what `redirect` asks before the command is sent again: learns
    /// a moved slot, or waits. Fails with `error`, the reply that asked,
    /// when the wait would pass the deadline, and with
    /// [`ClusterError::TooManyRedirects`] after too many redirects.
    pub(crate) async fn follow(
        &mut self,
        inner: &Arc<Inner>,
        redirect: &Redirect,
        error: Error,
    ) -> Result<(), Error> {
        match redirect {
            Redirect::Moved { slot, addr } => {
                self.redirect(inner)?;
                tracing::debug!(target: "redis::command", redirect = "MOVED", slot = *slot, server.address = %addr.host, server.port = addr.port, "redirected");
                inner.moved.fetch_add(1, Ordering::Relaxed);
                inner.moved(*slot, addr);
            }
            Redirect::Ask { slot, addr } => {
                self.redirect(inner)?;
                tracing::debug!(target: "redis::command", redirect = "ASK", slot = *slot, server.address = %addr.host, server.port = addr.port, "redirected");
            }
            Redirect::TryAgain | Redirect::ClusterDown | Redirect::Loading => {
                let base = inner.config.retry_delay();
                let delay = base
                    .saturating_mul(1 << self.waits.min(16))
                    .min(MAX_RETRY_DELAY.max(base));
                let deadline = self.deadline(inner);
                if Instant::now()
                    .checked_add(delay)
                    .is_none_or(|at| at >= deadline)
                {
                    return Err(error);
                }
                self.waits += 1;
                tracing::debug!(target: "redis::command", retry = redirect.code(), delay = ?delay, "retried");
                inner.retried.fetch_add(1, Ordering::Relaxed);
                if matches!(redirect, Redirect::ClusterDown) {
                    // The cluster may be failing a primary over: learn of the
                    // promotion as soon as it happens.
                    inner.refresh_soon();
                }
                tokio::time::sleep(delay).await;
            }
        }
        Ok(())
    }

    fn redirect(&mut self, inner: &Inner) -> Result<(), Error> {
        self.redirects += 1;
        let max = inner.config.max_redirects();
        if self.redirects > max {
            return Err(Error::Cluster(ClusterError::TooManyRedirects(max)));
        }
        Ok(())
    }
}

/// A node being asked for its topology, in [`Inner::asking`] until dropped.
struct Asking {
    inner: Arc<Inner>,
    addr: NodeAddr,
}

impl Asking {
    /// `None` if the node is being asked already.
    fn start(inner: &Arc<Inner>, addr: NodeAddr) -> Option<Asking> {
        lock(&inner.asking).insert(addr.clone()).then(|| Asking {
            inner: Arc::clone(inner),
            addr,
        })
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        lock(&self.inner.asking).remove(&self.addr);
    }
}

/// `mutex`, locked; a panic elsewhere while it was held left nothing half
/// done that matters here.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `cmd` (already sent once if `first` is its reply) and follows
/// what the cluster answers until a reply that is no redirect.
async fn follow(
    inner: Arc<Inner>,
    mut cmd: Command,
    slot: Option<u16>,
    first: Option<Result<Value, Error>>,
) -> Result<Value, Error> {
    let mut retries = Retries::new();
    let mut result = match first {
        Some(result) => result,
        None => {
            let deadline = retries.deadline(&inner);
            inner.send_to_owner(slot, &mut cmd, deadline).await
        }
    };
    loop {
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Some(redirect) = Redirect::of(&error) else {
            if error.is_connection() {
                // The node went away: its replica may be taking over.
                inner.refresh_soon();
            }
            return Err(error);
        };
        retries.follow(&inner, &redirect, error).await?;
        result = match &redirect {
            // One command at the importing node, after ASKING; the slot
            // still belongs to the node that sent it there. That node may
            // serve no slot yet, so the topology not listing it says
            // nothing: the reply is only awaited.
            Redirect::Ask { addr, .. } => match inner.node(addr).await {
                Ok(conn) => {
                    inner.asked.fetch_add(1, Ordering::Relaxed);
                    asking(&conn, &cmd).await
                }
                Err(e) => Err(e),
            },
            Redirect::Moved { addr, .. } => match inner.node(addr).await {
                Ok(conn) => conn.send_ref::<Value>(&mut cmd).await,
                Err(e) => Err(e),
            },
            Redirect::TryAgain | Redirect::ClusterDown | Redirect::Loading => {
                let deadline = retries.deadline(&inner);
                inner.send_to_owner(slot, &mut cmd, deadline).await
            }
        };
    }
}

impl Recover for Inner {
    /// The first reply of a command sent by [`Inner::send_to`] was an
    /// error: a redirect is followed in a future of its own; any other
    /// error is the answer (after asking for a refresh, when the node went
    /// away).
    fn recover(self: Arc<Self>, cmd: Command, tag: u32, error: Error) -> Result<BoxedReply, Error> {
        if Redirect::of(&error).is_none() {
            if error.is_connection() {
                // The node went away: its replica may be taking over.
                self.refresh_soon();
            }
            return Err(error);
        }
        let slot = u16::try_from(tag).ok();
        Ok(Box::pin(follow(self, cmd, slot, Some(Err(error)))))
    }
}

/// A slot as a [`Recover`] tag: `u32::MAX` for none.
fn slot_tag(slot: Option<u16>) -> u32 {
    slot.map_or(u32::MAX, u32::from)
}

/// `ASKING` and `cmd` in one write, so that nothing comes between them; the
/// reply of `cmd`.
async fn asking(conn: &PairedConnection, cmd: &Command) -> Result<Value, Error> {
    // An error reply to the command fails the conversion with that error,
    // which is what the caller follows next.
    let ((), reply): ((), Value) = conn.pipeline().add(cmd!("ASKING")).add(cmd).query().await?;
    Ok(reply)
}

/// `cmd` on every primary, the replies merged.
async fn fan_out(inner: Arc<Inner>, cmd: Command, merge: Merge) -> Result<Value, Error> {
    let replies = inner.on_every_primary::<Value>(&cmd).await;
    let mut values = Vec::with_capacity(replies.len());
    for (_, reply) in replies {
        values.push(reply?);
    }
    match merge {
        Merge::AllSucceed => values
            .into_iter()
            .next()
            .ok_or(Error::Cluster(ClusterError::SlotUnserved(0))),
        Merge::Sum => {
            let mut total: i64 = 0;
            for value in values {
                total = total.saturating_add(i64::from_value(value)?);
            }
            Ok(Value::Integer(total))
        }
        Merge::Concat => {
            let mut all = Vec::new();
            for value in values {
                all.extend(Vec::<Value>::from_value(value)?);
            }
            Ok(Value::Array(all))
        }
    }
}

/// A multi-key command over several slots: one part a slot, in parallel,
/// merged in the caller's order.
async fn split_send(inner: Arc<Inner>, cmd: Command, split: Split) -> Result<Value, Error> {
    let parts = route::split_by_slot(&cmd, split);
    let replies = join_all(parts.iter().map(|(slot, positions)| {
        let part = route::part(&cmd, split, positions);
        let reply: Reply<Value> = Arc::clone(&inner).send_to(part, Some(*slot));
        reply
    }))
    .await;
    match split {
        Split::MGet => {
            let total = parts.iter().map(|(_, p)| p.len()).sum();
            let mut values = vec![Value::Null; total];
            for ((_, positions), reply) in parts.iter().zip(replies) {
                let got = Vec::<Value>::from_value(reply?)?;
                for (&position, value) in positions.iter().zip(got) {
                    if let Some(slot) = values.get_mut(position) {
                        *slot = value;
                    }
                }
            }
            Ok(Value::Array(values))
        }
        Split::MSet => {
            for reply in replies {
                reply?;
            }
            Ok(Value::SimpleString("OK".into()))
        }
        Split::Count => {
            let mut total: i64 = 0;
            for reply in replies {
                total = total.saturating_add(i64::from_value(reply?)?);
            }
            Ok(Value::Integer(total))
        }
    }
}

/// Refreshes the topology every interval while the connection lives.
/// Runs [`Inner::look_after_silent_nodes`] every [`MIN_REFRESH_GAP`] for
/// as long as the connection lives.
async fn look_after_silent_nodes(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(MIN_REFRESH_GAP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.look_after_silent_nodes();
    }
}

async fn refresh_periodically(inner: Weak<Inner>) {
    let Some(interval) = inner.upgrade().map(|i| i.config.refresh_interval()) else {
        return;
    };
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if let Err(error) = inner.refresh().await {
            tracing::warn!(%error, "refreshing the cluster topology failed");
        }
    }
}

#[cfg(feature = "otel")]
impl redis_conn::otel::Counted for Inner {
    fn counters(&self) -> Vec<u64> {
        redis_conn::otel::read(crate::otel::STATS, &self.stats())
    }
}

#[cfg(feature = "otel")]
impl Drop for Inner {
    fn drop(&mut self) {
        // What this cluster connection counted stays in the exported totals.
        let counters = redis_conn::otel::Counted::counters(self);
        crate::otel::counters().retire(&self.attributes, counters);
    }
}
