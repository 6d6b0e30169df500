//! `ClusterPipeline`: a batch over any keys, split per node and sent in
//! parallel, its replies given back in the caller's order; and
//! transactions, which must stay in one slot.

use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::future::join_all;
use redis_commands::{catalogue, ReadAs, Replies, Target, Untyped};
use redis_conn::{ClusterError, Error};
use redis_paired::trace;
use redis_paired::{IntoCommand, Reply};
use resp::{Command, FromValue, Value};

use crate::connection::{Inner, Retries};
use crate::redirect::Redirect;
use crate::route::{self, Route};
use crate::slot::key_slot;
use crate::topology::NodeAddr;

/// A batch of commands sent together, whose replies come back together, in
/// the order they were added, wherever their keys live.
///
/// Made by [`ClusterConnection::pipeline`](crate::ClusterConnection::pipeline)
/// or, as a `MULTI ... EXEC` transaction, by
/// [`ClusterConnection::transaction`](crate::ClusterConnection::transaction).
///
/// A plain pipeline is split by node: each node gets its commands as one
/// pipeline of its own, in order, and the nodes are sent to in parallel.
/// A command a node redirects (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`:
/// it did not run) is sent again alone to where it belongs. Commands that go
/// to every node or are split by slot (`KEYS`, `MGET` over several slots)
/// run as they would alone.
///
/// A transaction runs on one node, so its keys must all be in one slot (use
/// a hash tag: `{user:1}:a`, `{user:1}:b`); otherwise it fails with
/// [`ClusterError::CrossSlotTransaction`] before anything is sent.
///
/// As on a single server, the typed methods of
/// [`Commands`](redis_commands::Commands) record their reply types in `R`,
/// so the replies come back as the tuple of them with nothing named; a
/// tuple named by the caller works too, and raw commands
/// ([`add`](ClusterPipeline::add)) make the pipeline [`Untyped`], read as
/// the caller names:
///
/// ```no_run
/// # async fn demo(conn: redis_cluster::ClusterConnection) -> Result<(), redis_conn::Error> {
/// use redis_paired::Commands;
///
/// let ((), values) = conn
///     .pipeline()
///     .set("{user:1}:a", 1)
///     .mget::<i64>(["{user:1}:a", "{user:1}:b"])
///     .query()
///     .await?;
/// let _: Vec<Option<i64>> = values;
/// let (n, old): (i64, Option<String>) = conn
///     .transaction()
///     .incr("{user:1}:visits")
///     .getset("{user:1}:last", "now")
///     .query()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a pipeline does nothing until queried"]
pub struct ClusterPipeline<R = ()> {
    inner: Arc<Inner>,
    commands: Vec<Command>,
    transaction: bool,
    /// The first command that could not be added, reported by `query`.
    error: Option<Error>,
    /// The reply types recorded by the typed methods (see [`Replies`]).
    replies: PhantomData<fn() -> R>,
}

impl ClusterPipeline {
    pub(crate) fn new(inner: Arc<Inner>, transaction: bool) -> ClusterPipeline {
        ClusterPipeline {
            inner,
            commands: Vec::new(),
            transaction,
            error: None,
            replies: PhantomData,
        }
    }
}

impl<R> ClusterPipeline<R> {
    /// Adds a command, whose reply type is not known: the pipeline's
    /// replies then read as the type the caller names ([`Untyped`]).
    // `add` reads best in a chain; a pipeline is no number to `+`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, cmd: impl IntoCommand) -> ClusterPipeline<Untyped> {
        self.push(cmd);
        self.recorded()
    }

    /// Adds a command in place. Its reply type is not recorded: a pipeline
    /// whose other commands recorded theirs cannot then be read as their
    /// tuple ([`query`](ClusterPipeline::query) refuses it before sending).
    pub fn push(&mut self, cmd: impl IntoCommand) -> &mut ClusterPipeline<R> {
        if self.error.is_none() {
            match cmd.into_command() {
                Ok(cmd) => self.commands.push(cmd),
                Err(e) => self.error = Some(e.into()),
            }
        }
        self
    }

    /// How many commands were added.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// True when no command was added.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Sends the batch and returns its replies converted into `T`: the
    /// tuple of the reply types the typed methods recorded, with nothing
    /// named, or for a pipeline that records none ([`Untyped`], or commands
    /// added only through `&mut`) a tuple or `Vec` the caller names, with
    /// one element per command. As for a single server's pipeline, the
    /// first error reply fails the whole unless `T` keeps raw [`Value`]s
    /// (`Value` itself does), which a typed pipeline names with
    /// [`query_as`](Self::query_as).
    pub fn query<T: FromValue>(mut self) -> Reply<T>
    where
        R: ReadAs<T>,
    {
        if <R as ReadAs<T>>::RECORDED.is_some_and(|recorded| recorded != self.commands.len()) {
            self.error.get_or_insert(Error::Conversion {
                target: "the tuple of the pipeline's reply types",
                found: "commands added in place, which record none",
                value: resp::Preview::none(),
            });
        }
        self.query_as()
    }

    /// As [`query`](Self::query), but the replies convert into the `T` the
    /// caller names, whatever the typed methods recorded: a `Vec`, a raw
    /// [`Value`], or a tuple that reads an error reply in its place
    /// (`Result<i64, ServerError>`).
    pub fn query_as<T: FromValue>(self) -> Reply<T> {
        if let Some(error) = self.error {
            Reply::from_error(error)
        } else {
            let name = if self.transaction {
                "MULTI"
            } else {
                "PIPELINE"
            };
            let span = if trace::wanted() {
                trace::span(name, "0", None, None, Some(self.commands.len()))
            } else {
                tracing::Span::none()
            };
            if self.transaction {
                Reply::from_future(transaction(self.inner, self.commands))
            } else {
                Reply::from_future(pipeline(self.inner, self.commands))
            }
            .in_span(span)
        }
    }

    /// The same pipeline, with `S` as its recorded reply types.
    fn recorded<S>(self) -> ClusterPipeline<S> {
        ClusterPipeline {
            inner: self.inner,
            commands: self.commands,
            transaction: self.transaction,
            error: self.error,
            replies: PhantomData,
        }
    }
}

/// A plain pipeline: one sub-pipeline a node, in parallel; redirected
/// commands again alone.
async fn pipeline(inner: Arc<Inner>, commands: Vec<Command>) -> Result<Value, Error> {
    if commands.is_empty() {
        return Err(Error::Protocol(resp::Error::EmptyCommand));
    }
    // Which node each command goes to; commands that span nodes run alone.
    let mut groups: Vec<(NodeAddr, Option<u16>, Vec<usize>)> = Vec::new();
    let mut alone = Vec::new();
    for (i, cmd) in commands.iter().enumerate() {
        let slot = match inner.route(cmd).await {
            Route::Slot(slot) => Some(slot),
            Route::Any => None,
            Route::All(_) | Route::Split(_) => {
                alone.push(i);
                continue;
            }
        };
        let addr = inner.owner(slot)?;
        match groups.iter_mut().find(|(a, _, _)| *a == addr) {
            Some((_, _, members)) => members.push(i),
            None => groups.push((addr, slot, vec![i])),
        }
    }
    let mut results: Vec<Option<Result<Value, Error>>> = vec![None; commands.len()];
    let sent = join_all(groups.iter().map(|(_, slot, members)| {
        let inner = &inner;
        let commands = &commands;
        async move {
            let (_, conn) = inner.live_owner(*slot, inner.deadline()).await?;
            let mut batch = conn.pipeline();
            for &i in members {
                batch.push(&commands[i]);
            }
            let replies = match batch.query::<Value>().await? {
                Value::Array(replies) => replies,
                other => vec![other],
            };
            Ok::<_, Error>(replies)
        }
    }))
    .await;
    for ((_, _, members), outcome) in groups.iter().zip(sent) {
        match outcome {
            Ok(replies) if replies.len() == members.len() => {
                for (&i, reply) in members.iter().zip(replies) {
                    results[i] = Some(Ok(reply));
                }
            }
            Ok(_) => {
                let error = Error::Protocol(resp::Error::InvalidFrame("pipeline reply"));
                for &i in members {
                    results[i] = Some(Err(error.clone()));
                }
            }
            Err(error) => {
                for &i in members {
                    results[i] = Some(Err(error.clone()));
                }
            }
        }
    }
    // Redirected commands did not run: each goes again alone, following the
    // cluster as a single command does. So do the ones that span nodes.
    let again: Vec<usize> = (0..commands.len())
        .filter(|&i| {
            alone.contains(&i)
                || matches!(&results[i], Some(Ok(reply)) if redirect_of(reply).is_some())
        })
        .collect();
    let resent = join_all(again.iter().map(|&i| {
        let reply: Reply<Value> = inner.clone().send_value(commands[i].clone());
        reply
    }))
    .await;
    for (&i, reply) in again.iter().zip(resent) {
        results[i] = Some(reply.or_else(|e| match e {
            // Keep a server's refusal as the reply of its command, as the
            // other replies are kept.
            Error::Server(e) => Ok(Value::Error(bytes::Bytes::copy_from_slice(e.text_bytes()))),
            other => Err(other),
        }));
    }
    let mut all = Vec::with_capacity(results.len());
    for result in results {
        all.push(result.unwrap_or(Err(Error::Closed))?);
    }
    Ok(Value::Array(all))
}

/// A transaction: every key in one slot, sent as one `MULTI ... EXEC` to
/// its owner; sent again after a redirect, since an aborted `EXEC` ran
/// nothing.
async fn transaction(inner: Arc<Inner>, commands: Vec<Command>) -> Result<Value, Error> {
    let mut slot = None;
    for cmd in &commands {
        let keys = match catalogue::lookup(cmd) {
            Some(info) => info.keys(cmd).keys,
            None => {
                let learned = inner.learned(cmd.name()).await;
                route::keys_learned(cmd, learned.as_deref())
            }
        };
        for key in keys {
            let s = key_slot(key);
            if slot.is_some_and(|known| known != s) {
                return Err(Error::Cluster(ClusterError::CrossSlotTransaction));
            }
            slot = Some(s);
        }
    }
    let mut retries = Retries::new();
    loop {
        let deadline = retries.deadline(&inner);
        let (_, conn) = inner.live_owner(slot, deadline).await?;
        let mut batch = conn.transaction();
        for cmd in &commands {
            batch.push(cmd);
        }
        let error = match batch.query::<Value>().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Some(redirect) = Redirect::of(&error) else {
            return Err(error);
        };
        retries.follow(&inner, &redirect, error).await?;
    }
}

/// The redirect an error reply kept in a pipeline's replies asks for.
fn redirect_of(reply: &Value) -> Option<Redirect> {
    match reply {
        Value::Error(text) | Value::BlobError(text) => {
            Redirect::of(&Error::Server(resp::ServerError::new(text.clone())))
        }
        _ => None,
    }
}

/// The typed commands of [`Commands`](redis_commands::Commands) add to the
/// pipeline and record their reply types:
/// `conn.pipeline().set("a", 1).incr("b")`.
impl<R: Replies> Target for ClusterPipeline<R> {
    type Output<T: FromValue> = ClusterPipeline<R::Push<T>>;

    fn queue_command<T: FromValue>(mut self, cmd: Command) -> ClusterPipeline<R::Push<T>> {
        self.push(cmd);
        self.recorded()
    }
}

/// The typed commands of [`Commands`](redis_commands::Commands) add to the
/// pipeline in place, recording no reply type.
impl<'p, R> Target for &'p mut ClusterPipeline<R> {
    type Output<T: FromValue> = &'p mut ClusterPipeline<R>;

    fn queue_command<T: FromValue>(self, cmd: Command) -> &'p mut ClusterPipeline<R> {
        self.push(cmd)
    }
}
