//! `PairedConnection`, the shared handle, and `ExclusiveConnection`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis_commands::{ReplyKind, SendCommand};
use redis_conn::{CommandName, ConfigError, ConnectionConfig, Error, ReconnectPolicy};
use resp::{Command, FromValue, ToArgs, Value};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::blocking::{timing, Timing};
use crate::cache::{self, Cache, Class, Fill, Lookup, Writes};
use crate::catalogue::{self, CommandInfo};
use crate::lanes::{Exchange, Lanes};
use crate::pipeline::Pipeline;
use crate::queue::Request;
use crate::shared::{Encoded, Shared, Stats};
use crate::{driver, Options, Pushes, Reply};

/// One Redis connection shared by every task that holds a clone.
///
/// Cloning is cheap (a reference count); every clone sends on the same
/// socket. [`send`](PairedConnection::send) queues the command when it is
/// called, so the order on the wire is the order of the calls however the
/// replies are awaited; commands queued while the previous batch was being
/// written go out together in one write (implicit pipelining).
///
/// A background task owns the socket. When the connection breaks, commands
/// awaiting replies fail with [`Error::Connection`] (they are never sent
/// again, except reads when [`Options::with_retry_reads`] asks for it), and
/// the task reconnects at once and then, while the server stays away, as
/// the config's [`ReconnectPolicy`] says, replaying the handshake. Commands sent
/// meanwhile wait for the connection to be back, within their timeout (or,
/// with [`Options::with_fail_fast`], fail at once with the reason). When the
/// last clone is dropped, the task writes what is queued, waits for those
/// replies, and closes the socket; [`close`](PairedConnection::close) does
/// so at once for every clone, and waits for it. With
/// [`Options::with_lazy_connect`], the first connection too is made by the
/// task, and commands wait for it as for a reconnect.
///
/// Blocking commands (BLPOP, BRPOP, BLMOVE, BZPOPMIN, BLMPOP, XREAD and
/// XREADGROUP with BLOCK, ...) would hold up every caller behind them, so
/// each runs on a connection of its own that this handle keeps for them
/// ([`Options::with_max_blocking_connections`]): a `BLPOP k 0` waits forever
/// for its own caller only. Dropping its [`Reply`] closes that connection,
/// which ends the wait on the server too. Such a command is not ordered with
/// the commands of the shared socket. `WAIT` and `WAITAOF` stay on the
/// shared socket, since they wait for its writes to replicate; there they
/// need a timeout other than 0.
///
/// ```no_run
/// # async fn demo() -> Result<(), redis_conn::Error> {
/// use redis_conn::ConnectionConfig;
/// use redis_paired::PairedConnection;
/// use resp::cmd;
///
/// let config: ConnectionConfig = "redis://127.0.0.1/".parse()?;
/// let conn = PairedConnection::connect(&config).await?;
/// conn.send_and_forget(cmd!("SET", "greeting", "hello"))?;
/// let greeting: Option<String> = conn.send(cmd!("GET", "greeting")).await?;
/// assert_eq!(greeting.as_deref(), Some("hello"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PairedConnection {
    handle: Arc<Handle>,
}

/// The last clone's drop tells the driver to finish.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PairedConnection {
    /// Connects (the first connection must succeed) with default [`Options`].
    pub async fn connect(config: &ConnectionConfig) -> Result<PairedConnection, Error> {
        PairedConnection::connect_with(config, Options::default()).await
    }

    /// Connects (the first connection must succeed) with the given options;
    /// with [`Options::with_lazy_connect`], returns at once and connects in
    /// the background.
    pub async fn connect_with(
        config: &ConnectionConfig,
        options: Options,
    ) -> Result<PairedConnection, Error> {
        PairedConnection::open(config, options, false).await
    }

    async fn open(
        config: &ConnectionConfig,
        options: Options,
        exclusive: bool,
    ) -> Result<PairedConnection, Error> {
        let lazy = options.lazy_connect();
        // An exclusive connection may run transactions by hand, where a
        // read answers `QUEUED`: it caches nothing.
        let cache = match options.cache().filter(|_| !exclusive) {
            Some(cache) => {
                if config.protocol() != redis_conn::Protocol::Resp3 {
                    return Err(Error::Config(ConfigError::CacheNeedsResp3));
                }
                Some(Cache::new(&cache)?)
            }
            None => None,
        };
        let (mut conn, not_yet) = if lazy {
            let not_yet = std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "not connected yet (a lazy connect)",
            );
            (None, Some(Error::from(not_yet)))
        } else {
            let conn = redis_conn::connect(config).await?;
            if cache.is_some() && conn.protocol() != redis_conn::Protocol::Resp3 {
                return Err(Error::Config(ConfigError::CacheNeedsResp3));
            }
            (Some(conn), None)
        };
        let lanes = (!exclusive && options.max_blocking_connections() > 0)
            .then(|| Lanes::new(config, &options, tokio::runtime::Handle::current()));
        let shared = Arc::new(Shared::new(
            config, options, exclusive, lanes, not_yet, cache,
        ));
        #[cfg(feature = "otel")]
        crate::otel::registry().register(&shared);
        if let (Some(cache), Some(conn)) = (&shared.cache, &mut conn) {
            // Before the handle is returned: its first read may be cached.
            driver::track(&shared, conn).await?;
            cache.restart(true, &Error::Closed);
        }
        driver::spawn(shared.clone(), config.clone(), conn);
        if lazy {
            tracing::info!(address = %config.address(), "connecting in the background");
        } else {
            tracing::info!(address = %config.address(), "connected");
        }
        Ok(PairedConnection {
            handle: Arc::new(Handle { shared }),
        })
    }

    /// Sends a command and returns its reply, converted into `T`.
    ///
    /// The command is queued before this returns. Blocking commands (BLPOP,
    /// XREAD BLOCK, WAIT, ...) wait their own timeout plus the blocking
    /// margin instead of the response timeout.
    pub fn send<T: FromValue>(&self, cmd: impl IntoCommand) -> Reply<T> {
        match cmd.into_command() {
            Ok(mut cmd) => self.send_command(&mut cmd, Timeout::Default),
            Err(e) => Reply::failed(e.into()),
        }
    }

    /// As [`send`](Self::send), without taking the command, so that it can
    /// be sent again (a cluster connection follows a redirect with it).
    pub fn send_ref<T: FromValue>(&self, cmd: &mut Command) -> Reply<T> {
        self.send_command(cmd, Timeout::Default)
    }

    /// Sends a command with its own reply timeout (`None` waits as long as
    /// the server takes).
    pub fn send_with_timeout<T: FromValue>(
        &self,
        cmd: impl IntoCommand,
        timeout: Option<Duration>,
    ) -> Reply<T> {
        match cmd.into_command() {
            Ok(mut cmd) => self.send_command(&mut cmd, Timeout::Given(timeout)),
            Err(e) => Reply::failed(e.into()),
        }
    }

    /// Sends a command whose reply nobody waits for. It is queued in order
    /// like any other; its reply, even an error, is read and discarded.
    /// Fails only when the command cannot be queued.
    pub fn send_and_forget(&self, cmd: impl IntoCommand) -> Result<(), Error> {
        let cmd = cmd.into_command()?;
        if self.shared().cache.is_some() {
            let writes = Writes::of(&cmd);
            self.shared().forget(&writes);
            let sent = self.send_and_forget_now(cmd);
            self.shared().forget(&writes);
            return sent;
        }
        self.send_and_forget_now(cmd)
    }

    fn send_and_forget_now(&self, mut cmd: Command) -> Result<(), Error> {
        let called = Instant::now();
        let timing = self.prepare(&cmd, Timeout::Default, false)?;
        if let Some(lanes) = self.lanes_for(&timing) {
            self.shared().status_for_lanes()?;
            lanes.send(Exchange::one(cmd, timing, called), None);
            return Ok(());
        }
        let request = Request {
            tx: None,
            replies: 1,
            batch: false,
            timeout: timing.timeout,
            from_front: timing.blocks,
            called,
            len: 0,
            command: CommandName::new(cmd.name()),
            resend: None,
            fill: None,
        };
        self.shared()
            .enqueue(Encoded::Slice(cmd.encoded()), 1, request)
    }

    /// Starts a pipeline: commands sent together, their replies returned
    /// together. Other clones' commands may run between them; use
    /// [`transaction`](PairedConnection::transaction) when they must not.
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline::new(self, false)
    }

    /// Starts a transaction: the commands go out as one contiguous
    /// `MULTI ... EXEC` block that no other clone's command can enter.
    pub fn transaction(&self) -> Pipeline<'_> {
        Pipeline::new(self, true)
    }

    /// Whether the connection is up now; if not, the error says why (while
    /// it is being re-established, commands sent wait for it, unless
    /// [`Options::with_fail_fast`] is set).
    pub fn status(&self) -> Result<(), Error> {
        self.shared().status()
    }

    /// How long the connection has owed replies with none arriving (since
    /// the last reply, or since work came after an idle spell); `None` when
    /// nothing is owed. A long wait with commands owed and no reply says
    /// the server may be frozen, before the response timeout says so.
    pub fn unanswered_for(&self) -> Option<Duration> {
        self.shared().unanswered_for(Instant::now())
    }

    /// Gives up on the server: every command in flight fails at once with
    /// [`Error::Connection`] wrapping `reason`, and the socket is dropped;
    /// commands not written yet wait for the reconnect, as after any loss.
    /// For a caller that knows the server will not answer, such as a
    /// cluster whose node was replaced while frozen. The commands in flight
    /// may still run if the server wakes: they are never sent again.
    pub fn abandon(&self, reason: Error) {
        self.shared().abandon(Arc::new(reason));
    }

    /// Closes the connection gracefully, for every clone: new commands fail
    /// with [`Error::Closed`] from now on; the commands queued before are
    /// still written and their replies awaited, each within its own
    /// timeout; then the socket is closed and the background task ends.
    /// Returns once it has.
    ///
    /// While the connection is down, a reconnect under way goes on as long
    /// as queued commands wait for it (each until its timeout, as always);
    /// with none left, it stops. A command that waits as long as the
    /// server takes (a timeout of `None`) at the front of the socket does
    /// not hold the close: the socket is closed under it and it fails.
    /// Blocking commands on connections of their own (see above) are not
    /// waited for: those without a timeout fail with [`Error::Closed`],
    /// the others end within their timeouts. Calling it again, from any
    /// clone, waits for the same end.
    ///
    /// ```no_run
    /// # async fn demo(conn: redis_paired::PairedConnection) -> Result<(), redis_paired::Error> {
    /// use redis_paired::Commands;
    ///
    /// let written = conn.set("last-words", "goodbye");
    /// conn.close().await;
    /// written.await?; // sent before the close: answered
    /// assert!(matches!(conn.get::<String>("k").await, Err(redis_paired::Error::Closed)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close(&self) {
        let shared = self.shared();
        shared.shut();
        shared.ended().await;
    }

    /// Whether the connection is up now: a cheap check, without the reason
    /// [`status`](Self::status) gives.
    pub fn is_connected(&self) -> bool {
        self.shared().is_up()
    }

    /// Makes [`Reply::wait`] and
    /// [`Pipeline::query_wait`](crate::Pipeline::query_wait) on this
    /// connection (every clone) run its runtime on the waiting thread with
    /// `runner`, instead of parking that thread until the runtime's own
    /// threads hand it the reply: the thread then writes and reads the
    /// socket itself, with no hand-over to another thread and back. For a
    /// runtime that any thread may run, such as tokio's current-thread
    /// runtime, which the blocking client of the facade crate drives this
    /// way. The first runner given stays; false when one was given before.
    pub fn wait_through(&self, runner: Arc<dyn crate::Runner>) -> bool {
        self.shared().runner.set(runner).is_ok()
    }

    /// Drops every entry of the client-side cache
    /// ([`Options::with_cache`]), if there is one: for a connection built on
    /// this one that learns, by its own means, that the server's data may
    /// have changed without an invalidation (a cluster whose slots moved, or
    /// whose primary changed). Reads already on their way are not stored.
    pub fn forget_cached(&self) {
        if let Some(cache) = &self.shared().cache {
            cache.lock().clear();
        }
    }

    /// Counters: commands, writes (their ratio shows the pipelining),
    /// reconnects.
    pub fn stats(&self) -> Stats {
        self.shared().stats()
    }

    /// The push frames the server sends this connection that answer no
    /// request and are not the cache's invalidations: the first call takes
    /// the stream, later calls (from any clone) get `None`.
    ///
    /// Until it is taken, and while it is full, pushes wait in it up to
    /// [`Options::with_max_pushes`]; beyond that, and once it is dropped,
    /// they are dropped and counted ([`Stats::pushes_dropped`]).
    pub fn pushes(&self) -> Option<Pushes> {
        self.shared().take_pushes().map(Pushes::new)
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.shared().options
    }

    fn send_command<T: FromValue>(&self, cmd: &mut Command, timeout: Timeout) -> Reply<T> {
        if let Some(cache) = &self.shared().cache {
            return self.send_cached(cache, cmd, timeout);
        }
        self.send_now(cmd, timeout, Instant::now(), None)
    }

    /// Sends `cmd` on a connection with a cache: a read it caches is
    /// answered from it, or joins the same read on its way, or goes out
    /// marked pending so that its reply fills the cache; any other command
    /// first drops what it writes. A hit reads no clock (unless entries
    /// expire) and never reaches the driver.
    fn send_cached<T: FromValue>(
        &self,
        cache: &Cache,
        cmd: &mut Command,
        timeout: Timeout,
    ) -> Reply<T> {
        let line = cmd.encoded();
        let fill = match cache.policy.class(line) {
            Class::Single(key) => {
                let mut core = cache.lock();
                match core.lookup(line, key, std::time::Instant::now) {
                    None => None,
                    Some(Lookup::Hit(value)) => {
                        drop(core);
                        return Reply::ready(value, self.shared().epoch());
                    }
                    Some(Lookup::Pending(id)) => {
                        let (tx, rx) = oneshot::channel();
                        core.follow(id, tx);
                        drop(core);
                        let command = CommandName::new(cmd.name());
                        // The read it follows is answered by the driver:
                        // on the blocking client, this thread runs it.
                        return Reply::waiting(rx, Instant::now(), command)
                            .run_by(self.shared().runner.get());
                    }
                    Some(Lookup::Miss(part)) => Some(Box::new(Fill::One(part))),
                }
            }
            Class::Mget => {
                let keys = cache::args(line).skip(1);
                let looked = cache.lock().lookup_many(keys, std::time::Instant::now);
                match looked {
                    None => None,
                    Some(Ok(values)) => return Reply::ready(values, self.shared().epoch()),
                    Some(Err(fill)) if fill.parts().is_empty() => None,
                    Some(Err(fill)) => Some(Box::new(fill)),
                }
            }
            Class::Other => {
                let writes = Writes::of(cmd);
                // Before it is queued, and again once it is: a read of
                // these keys queued in between is not stored either.
                cache.forget(&writes);
                let reply = self.send_now(cmd, timeout, Instant::now(), None);
                cache.forget(&writes);
                return reply;
            }
        };
        self.send_now(cmd, timeout, Instant::now(), fill)
    }

    fn send_now<T: FromValue>(
        &self,
        cmd: &mut Command,
        timeout: Timeout,
        called: Instant,
        fill: Option<Box<Fill>>,
    ) -> Reply<T> {
        let timing = match self.prepare(cmd, timeout, false) {
            Ok(timing) => timing,
            Err(e) => return self.abandoned(fill, e),
        };
        let (tx, rx) = oneshot::channel();
        let command = CommandName::new(cmd.name());
        let span = self.shared().peer.command(&command, cmd);
        if let Some(lanes) = self.lanes_for(&timing) {
            if let Err(e) = self.shared().status_for_lanes() {
                return Reply::failed(e).traced(span);
            }
            lanes.send(Exchange::one(cmd.clone(), timing, called), Some(tx));
            return Reply::waiting(rx, called, command)
                .run_by(self.shared().runner.get())
                .traced(span);
        }
        let request = Request {
            tx: Some(tx),
            replies: 1,
            batch: false,
            timeout: timing.timeout,
            from_front: timing.blocks,
            called,
            len: 0,
            command,
            resend: self.resend(cmd),
            fill,
        };
        match self
            .shared()
            .enqueue_or_return(Encoded::Slice(cmd.encoded()), 1, request)
        {
            Ok(()) => Reply::waiting(rx, called, command).run_by(self.shared().runner.get()),
            Err((e, fill)) => self.abandoned(fill, e),
        }
        .traced(span)
    }

    /// A cached read that could not be queued: its markers go, and the
    /// callers that joined it hear why.
    fn abandoned<T>(&self, fill: Option<Box<Fill>>, error: Error) -> Reply<T> {
        if let (Some(cache), Some(fill)) = (&self.shared().cache, fill) {
            cache.abandon(&fill, &error);
        }
        Reply::failed(error)
    }

    /// The bytes to keep for sending `cmd` again on the next connection,
    /// when the options let reads be retried and the catalogue says it only
    /// reads.
    fn resend(&self, cmd: &mut Command) -> Option<Box<Bytes>> {
        if !self.shared().options.retry_reads()
            || !catalogue::lookup(cmd).is_some_and(CommandInfo::is_read_only)
        {
            return None;
        }
        Some(Box::new(Bytes::copy_from_slice(cmd.encoded())))
    }

    /// The lanes a command with `timing` goes to instead of the shared
    /// socket, if it goes to any.
    pub(crate) fn lanes_for(&self, timing: &Timing) -> Option<&Arc<Lanes>> {
        if timing.movable {
            self.shared().lanes.as_ref()
        } else {
            None
        }
    }

    /// Checks that `cmd` may be sent here and works out its reply timeout.
    pub(crate) fn prepare(
        &self,
        cmd: &Command,
        timeout: Timeout,
        in_transaction: bool,
    ) -> Result<Timing, Error> {
        let name = cmd.name();
        let place = if in_transaction {
            Place::Transaction
        } else if self.shared().exclusive {
            Place::Exclusive
        } else {
            Place::Shared
        };
        check_pairable(name, cmd, place, !self.shared().exclusive)?;
        // The name only: arguments may be secrets.
        tracing::trace!(command = %String::from_utf8_lossy(name), "send");
        let options = &self.shared().options;
        let mut timing = timing(
            name,
            cmd,
            options.response_timeout(),
            options.blocking_margin(),
        );
        let forever = timing.blocks && timing.timeout.is_none();
        if let Timeout::Given(timeout) = timeout {
            timing.timeout = timeout;
        }
        if forever && !timing.movable && place == Place::Shared {
            // WAIT 0 for a replica that never answers would hold up every
            // caller of the connection for good.
            return Err(Error::Unsupported(
                "WAIT or WAITAOF without a timeout (every caller would wait behind it)",
            ));
        }
        Ok(timing)
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.handle.shared
    }
}

/// Which reply timeout a command gets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Timeout {
    /// The response timeout, or a blocking command's own plus the margin.
    Default,
    /// This one (`None`: as long as the server takes).
    Given(Option<Duration>),
}

/// A connection of its own, for what must not share a socket: `WATCH` (its
/// state belongs to the connection) and long blocking commands.
///
/// It is not `Clone`, and it never reconnects: a reconnect would silently
/// drop the keys watched. After the connection breaks every command fails;
/// open a new one.
#[derive(Debug)]
pub struct ExclusiveConnection {
    conn: PairedConnection,
}

impl ExclusiveConnection {
    /// Connects with default [`Options`].
    pub async fn connect(config: &ConnectionConfig) -> Result<ExclusiveConnection, Error> {
        ExclusiveConnection::connect_with(config, Options::default()).await
    }

    /// Connects with the given options.
    pub async fn connect_with(
        config: &ConnectionConfig,
        options: Options,
    ) -> Result<ExclusiveConnection, Error> {
        let config = config.clone().with_reconnect(ReconnectPolicy::disabled());
        let conn = PairedConnection::open(&config, options, true).await?;
        Ok(ExclusiveConnection { conn })
    }

    /// As [`PairedConnection::send`].
    pub fn send<T: FromValue>(&self, cmd: impl IntoCommand) -> Reply<T> {
        self.conn.send(cmd)
    }

    /// As [`PairedConnection::send_with_timeout`].
    pub fn send_with_timeout<T: FromValue>(
        &self,
        cmd: impl IntoCommand,
        timeout: Option<Duration>,
    ) -> Reply<T> {
        self.conn.send_with_timeout(cmd, timeout)
    }

    /// As [`PairedConnection::send_and_forget`].
    pub fn send_and_forget(&self, cmd: impl IntoCommand) -> Result<(), Error> {
        self.conn.send_and_forget(cmd)
    }

    /// As [`PairedConnection::pipeline`].
    pub fn pipeline(&self) -> Pipeline<'_> {
        self.conn.pipeline()
    }

    /// As [`PairedConnection::transaction`]; after `WATCH` on this
    /// connection, a change to a watched key makes it fail with
    /// [`Error::TransactionAborted`].
    pub fn transaction(&self) -> Pipeline<'_> {
        self.conn.transaction()
    }

    /// Optimistic locking: `WATCH keys`, then `attempt`, again from the
    /// `WATCH` each time the transaction `attempt` ends with is aborted
    /// because a watched key changed, at most `max_tries` times in all.
    ///
    /// `attempt` reads what it needs through the connection it is given and
    /// finishes with [`transaction`](Self::transaction)`()...query()`; its
    /// other errors end the loop at once (after `UNWATCH`). When every try
    /// was aborted, the result is [`Error::TransactionAborted`].
    ///
    /// ```no_run
    /// # async fn demo(conn: redis_paired::ExclusiveConnection) -> Result<(), redis_paired::Error> {
    /// use redis_paired::Commands;
    ///
    /// // Double a counter, whatever other clients do meanwhile.
    /// let doubled: i64 = conn
    ///     .watch("counter", 10, |conn| async move {
    ///         let n: i64 = conn.get("counter").await?.unwrap_or(0);
    ///         let _: ((),) = conn.transaction().set("counter", n * 2).query().await?;
    ///         Ok(n * 2)
    ///     })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn watch<'a, T, F, Fut>(
        &'a self,
        keys: impl ToArgs,
        max_tries: usize,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut(&'a ExclusiveConnection) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let watch = Command::new("WATCH").arg(keys);
        for _ in 0..max_tries {
            let () = self.send(&watch).await?;
            match attempt(self).await {
                Err(Error::TransactionAborted) => continue,
                Err(error) => {
                    // The transaction never ran: drop the watch before the
                    // connection is used for anything else.
                    let _: Result<(), Error> = self.send(Command::new("UNWATCH")).await;
                    return Err(error);
                }
                Ok(value) => return Ok(value),
            }
        }
        Err(Error::TransactionAborted)
    }

    /// As [`PairedConnection::status`].
    pub fn status(&self) -> Result<(), Error> {
        self.conn.status()
    }

    /// As [`PairedConnection::close`]: what was sent before is answered,
    /// then the connection closes.
    pub async fn close(&self) {
        self.conn.close().await;
    }

    /// Whether the connection can be lent to another user: up, and owing
    /// no reply (none dropped unawaited, no blocking command still waiting).
    pub(crate) fn is_reusable(&self) -> bool {
        self.conn.shared().pending() == 0 && self.status().is_ok()
    }

    /// Ends any transaction or `WATCH` a user left behind, so that the next
    /// user starts clean. `DISCARD` fails harmlessly outside `MULTI`; the
    /// raw replies keep that from failing the whole. The reply is bounded
    /// by the response timeout, as any.
    pub(crate) async fn reset(&self) -> Result<(), Error> {
        self.pipeline()
            .add(Command::new("DISCARD"))
            .add(Command::new("UNWATCH"))
            .query::<Value>()
            .await
            .map(drop)
    }
}

/// What can be sent as a command: a [`Command`] (see [`resp::cmd!`]), or a
/// [`Value`] array as [`resp::resp_array!`] builds it.
pub trait IntoCommand {
    /// The command, or why this is not one (an empty array, say).
    fn into_command(self) -> Result<Command, resp::Error>;
}

impl IntoCommand for Command {
    fn into_command(self) -> Result<Command, resp::Error> {
        Ok(self)
    }
}

impl IntoCommand for &Command {
    fn into_command(self) -> Result<Command, resp::Error> {
        Ok(self.clone())
    }
}

impl IntoCommand for Value {
    fn into_command(self) -> Result<Command, resp::Error> {
        Command::try_from(self)
    }
}

/// The reply family of this crate's connections: a command read as a `T`
/// gives a [`Reply<T>`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyFuture {}

impl ReplyKind for ReplyFuture {
    type Reply<T: FromValue> = Reply<T>;
}

/// Anything commands can be sent through, each giving a [`Reply`]: the
/// connections of this crate and of `redis-cluster`, and a test double.
///
/// A reference to a `Sender` has the typed commands of
/// [`Commands`](crate::Commands), and so does code generic over one:
///
/// ```no_run
/// use redis_paired::{Commands, Error, Sender};
///
/// async fn visit(conn: &impl Sender, page: &str) -> Result<i64, Error> {
///     conn.incr(format!("visits:{page}")).await
/// }
/// ```
///
/// It is what [`Scan`](crate::Scan) and [`Script`](crate::Script) need of
/// a connection. A connection of one's own becomes one by implementing
/// [`SendCommand`] with `type Replies = ReplyFuture`.
pub trait Sender: SendCommand<Replies = ReplyFuture> {
    /// Sends a command and returns its reply converted into `T`.
    fn send<T: FromValue>(&self, cmd: impl IntoCommand) -> Reply<T> {
        match cmd.into_command() {
            Ok(cmd) => self.send_command(cmd),
            Err(e) => Reply::failed(e.into()),
        }
    }
}

impl<S: SendCommand<Replies = ReplyFuture> + ?Sized> Sender for S {}

impl SendCommand for PairedConnection {
    type Replies = ReplyFuture;

    fn send_command<T: FromValue>(&self, cmd: Command) -> Reply<T> {
        PairedConnection::send(self, cmd)
    }
}

impl SendCommand for ExclusiveConnection {
    type Replies = ReplyFuture;

    fn send_command<T: FromValue>(&self, cmd: Command) -> Reply<T> {
        ExclusiveConnection::send(self, cmd)
    }
}

/// Refuses commands that would break the connection for everyone on it.
///
/// Subscriptions and MONITOR push an unbounded stream of frames, and
/// `CLIENT REPLY` switches replies off: either would shift every later reply
/// onto the wrong caller; SYNC, PSYNC and REPLCONF turn the connection into a
/// replication stream. SELECT, AUTH, HELLO and RESET change the state of the
/// connection for every clone at once, and a reconnect would silently undo
/// them: the database, credentials and protocol belong in the
/// [`ConnectionConfig`]. QUIT would close it under everyone. On a shared
/// connection MULTI, EXEC, DISCARD, WATCH and UNWATCH would pull every other
/// clone's commands into one caller's transaction: use
/// [`PairedConnection::transaction`], or an [`ExclusiveConnection`] for WATCH.
fn check_pairable(name: &[u8], cmd: &Command, place: Place, shared: bool) -> Result<(), Error> {
    // The names refused have four to twelve letters; most commands stop
    // here or at the match, without a loop over names.
    if name.len() < 4 {
        return Ok(());
    }
    let mut upper = [0u8; 12];
    let Some(upper) = upper.get_mut(..name.len()) else {
        return Ok(());
    };
    upper.copy_from_slice(name);
    upper.make_ascii_uppercase();
    let transaction_control = match place {
        Place::Shared | Place::Transaction => Err(()),
        Place::Exclusive => Ok(()),
    };
    let refused = match &*upper {
        b"SUBSCRIBE" => "SUBSCRIBE",
        b"PSUBSCRIBE" => "PSUBSCRIBE",
        b"SSUBSCRIBE" => "SSUBSCRIBE",
        b"UNSUBSCRIBE" => "UNSUBSCRIBE",
        b"PUNSUBSCRIBE" => "PUNSUBSCRIBE",
        b"SUNSUBSCRIBE" => "SUNSUBSCRIBE",
        b"MONITOR" => "MONITOR",
        b"SYNC" => "SYNC",
        b"PSYNC" => "PSYNC",
        b"REPLCONF" => "REPLCONF",
        b"SELECT" => {
            "SELECT (a reconnect would undo it; put the database in the URL, \
             redis://host/1, or use ConnectionConfig::with_db)"
        }
        b"AUTH" => "AUTH",
        b"HELLO" => "HELLO",
        b"RESET" => "RESET",
        b"QUIT" => "QUIT",
        b"MULTI" => return transaction_control.map_err(|()| Error::Unsupported("MULTI")),
        b"EXEC" => return transaction_control.map_err(|()| Error::Unsupported("EXEC")),
        b"DISCARD" => return transaction_control.map_err(|()| Error::Unsupported("DISCARD")),
        b"WATCH" => return transaction_control.map_err(|()| Error::Unsupported("WATCH")),
        b"UNWATCH" => return transaction_control.map_err(|()| Error::Unsupported("UNWATCH")),
        b"CLIENT" => return check_client(cmd, shared),
        b"READONLY" | b"READWRITE" if shared => {
            "READONLY and READWRITE (a reconnect would undo them)"
        }
        _ => return Ok(()),
    };
    Err(Error::Unsupported(refused))
}

/// The `CLIENT` subcommands a paired connection refuses.
///
/// `CLIENT REPLY` switches replies off. `CLIENT TRACKING` belongs to the
/// client-side cache ([`Options::with_cache`]), which turns it on for every
/// connection it makes; turned on or off by hand, a reconnect would undo it. On a shared
/// connection, the subcommands that set state of the connection (its name,
/// its library, `NO-EVICT`, `NO-TOUCH`) would be undone by a reconnect
/// without anyone knowing: name a connection in its [`ConnectionConfig`].
fn check_client(cmd: &Command, shared: bool) -> Result<(), Error> {
    let Some(sub) = cmd.args().nth(1) else {
        return Ok(());
    };
    let is = |name: &str| sub.eq_ignore_ascii_case(name.as_bytes());
    if is("REPLY") {
        return Err(Error::Unsupported("CLIENT REPLY"));
    }
    if is("TRACKING") {
        return Err(Error::Unsupported(
            "CLIENT TRACKING (a reconnect would undo it; Options::with_cache turns tracking on \
             for the client-side cache, on every connection)",
        ));
    }
    if shared {
        if is("SETNAME") {
            return Err(Error::Unsupported(
                "CLIENT SETNAME (a reconnect would undo it; name the connection in its config)",
            ));
        }
        for (name, refused) in [
            ("SETINFO", "CLIENT SETINFO (a reconnect would undo it)"),
            ("NO-EVICT", "CLIENT NO-EVICT (a reconnect would undo it)"),
            ("NO-TOUCH", "CLIENT NO-TOUCH (a reconnect would undo it)"),
            ("CAPA", "CLIENT CAPA (a reconnect would undo it)"),
        ] {
            if is(name) {
                return Err(Error::Unsupported(refused));
            }
        }
    }
    Ok(())
}

/// Where a command is about to go, for [`check_pairable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// A connection every clone shares.
    Shared,
    /// A connection of one user: transactions may be run by hand.
    Exclusive,
    /// Inside a `MULTI ... EXEC` block that is built already.
    Transaction,
}
