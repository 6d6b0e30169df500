//! `Pipeline`: explicit batches, and transactions as one contiguous block.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use redis_commands::{ReadAs, Replies, Target, Untyped};
use redis_conn::{CommandName, Error};
use resp::{Command, FromValue, ServerError, Value};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cache::Writes;
use crate::connection::{IntoCommand, Timeout};
use crate::lanes::Exchange;
use crate::queue::Request;
use crate::shared::Encoded;
use crate::{PairedConnection, Reply};

/// A batch of commands sent together, whose replies come back together.
///
/// Made by [`PairedConnection::pipeline`] or, as a `MULTI ... EXEC`
/// transaction, by [`PairedConnection::transaction`]. The whole batch is
/// queued as one block, so in a transaction no other clone's command can
/// land between `MULTI` and `EXEC`. A connection of another kind, such as a
/// test double, makes its pipelines with [`Pipeline::over`] and
/// [`Pipeline::transaction_over`] and runs their batches itself
/// ([`SendBatch`]).
///
/// The typed methods of [`Commands`](crate::Commands) record their reply
/// types in `R` as they add their commands, so the replies come back as the
/// tuple of them with nothing named, and a method's type parameter
/// (`get::<String>`) says what its element is. Naming the tuple works too.
///
/// ```no_run
/// # async fn demo(conn: redis_paired::PairedConnection) -> Result<(), redis_conn::Error> {
/// use redis_paired::Commands;
///
/// let ((), n, text) = conn
///     .pipeline()
///     .set("a", 1)
///     .incr("a")
///     .get::<String>("a")
///     .query()
///     .await?;
/// let _: (i64, Option<String>) = (n, text);
/// let (n, old): (i64, Option<String>) = conn
///     .transaction()
///     .incr("visits")
///     .getset("last", "now")
///     .query()
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// Raw commands ([`add`](Pipeline::add), [`push`](Pipeline::push)) record
/// no type: a pipeline holding one ([`Untyped`]) reads as the tuple or
/// `Vec` the caller names, as do typed ones of more than eight commands,
/// and those given commands through `&mut` (as in a loop) read as the
/// caller names when they hold only such commands:
///
/// ```no_run
/// # async fn demo(conn: redis_paired::PairedConnection) -> Result<(), redis_conn::Error> {
/// use redis_paired::Commands;
/// use resp::cmd;
///
/// let (n, old): (i64, Option<String>) = conn
///     .transaction()
///     .add(cmd!("INCR", "visits"))
///     .add(cmd!("GETSET", "last", "now"))
///     .query()
///     .await?;
/// let mut pipeline = conn.pipeline();
/// let batch = &mut pipeline;
/// for key in ["a", "b", "c"] {
///     batch.incr(key);
/// }
/// let counts: Vec<i64> = pipeline.query().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a pipeline does nothing until queried"]
pub struct Pipeline<'a, R = ()> {
    conn: Via<'a>,
    buf: BytesMut,
    /// The commands themselves, for a [`SendBatch`] (the paired connection
    /// takes the encoded `buf`).
    batch: Vec<Command>,
    commands: usize,
    transaction: bool,
    timeout: Option<Duration>,
    /// A plain pipeline holds a blocking command: it runs on a connection of
    /// its own, as the command would alone.
    blocks: bool,
    /// The first command that could not be added, reported by `query`.
    error: Option<Error>,
    /// The first command's name, for a timeout's error.
    first: Option<CommandName>,
    /// The reply types recorded by the typed methods (see [`Replies`]).
    replies: PhantomData<fn() -> R>,
    /// With a client-side cache: the keys the commands write, dropped
    /// from it as each is added and again once the batch is queued.
    writes: Writes,
}

/// A connection that runs a [`Pipeline`]'s batch itself: for connections
/// built on this crate's types, such as a test double.
pub trait SendBatch: Sync {
    /// Sends `commands` at once, as one batch (a transaction's begins with
    /// `MULTI` and ends with `EXEC`), and gives their replies as one
    /// [`Value::Array`], one element per command, error replies included as
    /// [`Value::Error`] elements. An `Err` fails the whole batch, as a lost
    /// connection does.
    fn send_batch(&self, commands: Vec<Command>) -> Reply<Value>;

    /// What [`Pipeline::query_wait`] waits with, running the runtime the
    /// batch's replies need on the waiting thread (see
    /// [`Runner`](crate::Runner)); by default none, and the thread sleeps
    /// while the runtime's own threads do the work.
    fn runner(&self) -> Option<Arc<dyn crate::Runner>> {
        None
    }
}

impl<'a> Pipeline<'a> {
    pub(crate) fn new(conn: &'a PairedConnection, transaction: bool) -> Pipeline<'a> {
        let mut pipeline = Pipeline::empty(
            Via::Paired(conn),
            transaction,
            Some(conn.options().response_timeout()),
        );
        if transaction {
            Command::new("MULTI").encode(&mut pipeline.buf);
        }
        pipeline
    }

    /// A pipeline whose batch `sender` runs.
    pub fn over(sender: &'a dyn SendBatch) -> Pipeline<'a> {
        Pipeline::empty(Via::Batch(sender), false, None)
    }

    /// A transaction whose batch, `MULTI` first and `EXEC` last, `sender`
    /// runs.
    pub fn transaction_over(sender: &'a dyn SendBatch) -> Pipeline<'a> {
        let mut pipeline = Pipeline::empty(Via::Batch(sender), true, None);
        pipeline.batch.push(Command::new("MULTI"));
        pipeline
    }

    fn empty(conn: Via<'a>, transaction: bool, timeout: Option<Duration>) -> Pipeline<'a> {
        Pipeline {
            conn,
            buf: BytesMut::new(),
            batch: Vec::new(),
            commands: 0,
            transaction,
            timeout,
            blocks: false,
            error: None,
            first: None,
            replies: PhantomData,
            writes: Writes::default(),
        }
    }
}

impl<'a, R> Pipeline<'a, R> {
    /// Adds a command, whose reply type is not known: the pipeline's
    /// replies then read as the type the caller names ([`Untyped`]).
    // `add` reads best in a chain; a pipeline is no number to `+`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, cmd: impl IntoCommand) -> Pipeline<'a, Untyped> {
        self.push(cmd);
        self.recorded()
    }

    /// Adds a command in place. Its reply type is not recorded: a pipeline
    /// whose other commands recorded theirs cannot then be read as their
    /// tuple ([`query`](Pipeline::query) refuses it before sending).
    pub fn push(&mut self, cmd: impl IntoCommand) -> &mut Pipeline<'a, R> {
        if self.error.is_some() {
            return self;
        }
        let mut cmd = match cmd.into_command() {
            Ok(cmd) => cmd,
            Err(e) => {
                self.error = Some(e.into());
                return self;
            }
        };
        let conn = match self.conn {
            Via::Paired(conn) => conn,
            Via::Batch(_) => {
                self.batch.push(cmd);
                self.commands += 1;
                return self;
            }
        };
        let timing = match conn.prepare(&cmd, Timeout::Default, self.transaction) {
            Ok(timing) => timing,
            Err(e) => {
                self.error = Some(e);
                return self;
            }
        };
        // Inside MULTI nothing blocks, so only a plain pipeline waits for its
        // slowest blocking command.
        if !self.transaction {
            self.timeout = match (self.timeout, timing.timeout) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            self.blocks |= timing.movable;
        }
        if self.first.is_none() {
            self.first = Some(CommandName::new(cmd.name()));
        }
        if conn.shared().cache.is_some() {
            let writes = Writes::of(&cmd);
            conn.shared().forget(&writes);
            self.writes.keys.extend(writes.keys);
            self.writes.all |= writes.all;
        }
        // One copy: the command's header goes into the room kept for it.
        self.buf.extend_from_slice(cmd.encoded());
        self.commands += 1;
        self
    }

    /// How many commands were added.
    pub fn len(&self) -> usize {
        self.commands
    }

    /// True when no command was added.
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    /// Sends the batch (now, before the future is awaited) and returns its
    /// replies converted into `T`: the tuple of the reply types the typed
    /// methods recorded, with nothing named, or for a pipeline that records
    /// none ([`Untyped`], or commands added only through `&mut`) a tuple or
    /// `Vec` the caller names, with one element per command.
    ///
    /// A plain pipeline fails with the first error reply among its commands
    /// unless `T` reads it in its place: a `Result<_, ServerError>` element
    /// of the tuple or `Vec` (`(Result<i64, ServerError>, Option<String>)`),
    /// or a raw [`Value`]; to read a typed pipeline so, name `T` with
    /// [`query_as`](Self::query_as). A transaction fails with the error of
    /// a command the server refused to queue, with
    /// [`Error::TransactionAborted`] when a watched key changed, and
    /// otherwise converts EXEC's results.
    pub fn query<T: FromValue>(mut self) -> impl Future<Output = Result<T, Error>> + Send + 'static
    where
        R: ReadAs<T>,
    {
        if <R as ReadAs<T>>::RECORDED.is_some_and(|recorded| recorded != self.commands) {
            self.error.get_or_insert(Error::Conversion {
                target: "the tuple of the pipeline's reply types",
                found: "commands added in place, which record none",
                value: resp::Preview::none(),
            });
        }
        self.recorded::<Untyped>().query_as()
    }

    /// As [`query`](Self::query), but the replies convert into the `T` the
    /// caller names, whatever the typed methods recorded: a `Vec`, a raw
    /// [`Value`], or a tuple that reads some replies otherwise, such as an
    /// error reply in its place (`Result<i64, ServerError>`).
    ///
    /// ```no_run
    /// # async fn demo(conn: redis_paired::PairedConnection) -> Result<(), redis_paired::Error> {
    /// use redis_paired::Commands;
    /// use resp::ServerError;
    ///
    /// let (_, refused, text): ((), Result<i64, ServerError>, Option<String>) = conn
    ///     .pipeline()
    ///     .set("n", "text")
    ///     .incr("n") // not an integer: an error reply, read in its place
    ///     .get::<String>("n")
    ///     .query_as()
    ///     .await?;
    /// assert!(refused.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn query_as<T: FromValue>(
        mut self,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'static {
        let reply = self.send();
        let transaction = self.transaction;
        async move {
            // A batch's replies always come together as one array.
            let all = match reply.await? {
                Value::Array(all) => all,
                other => vec![other],
            };
            let results = if transaction { exec_results(all)? } else { all };
            T::from_value(Value::Array(results)).map_err(Error::from)
        }
    }

    /// Sends the batch and returns each command's own outcome, in order: its
    /// reply, or the error the server answered it with, so that one refused
    /// command does not hide the others' replies. (Of a transaction, the
    /// outcomes of its commands as `EXEC` ran them.)
    ///
    /// ```no_run
    /// # async fn demo(conn: redis_paired::PairedConnection) -> Result<(), redis_paired::Error> {
    /// use resp::cmd;
    ///
    /// let outcomes = conn
    ///     .pipeline()
    ///     .add(cmd!("SET", "n", "text"))
    ///     .add(cmd!("INCR", "n"))
    ///     .add(cmd!("GET", "n"))
    ///     .query_each()
    ///     .await?;
    /// assert!(outcomes[1].is_err()); // not an integer
    /// assert!(outcomes[2].is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn query_each(
        self,
    ) -> impl Future<Output = Result<Vec<Result<Value, Error>>, Error>> + Send + 'static {
        let all = self.query_as::<Value>();
        async move {
            let Value::Array(replies) = all.await? else {
                return Err(Error::Protocol(resp::Error::InvalidFrame("batch reply")));
            };
            Ok(replies
                .into_iter()
                .map(|reply| match reply {
                    Value::Error(text) | Value::BlobError(text) => {
                        Err(Error::Server(ServerError::new(text)))
                    }
                    other => Ok(other),
                })
                .collect())
        }
    }

    /// As [`query`](Self::query), waited for on this thread, for a
    /// synchronous program (see [`wait`](crate::wait), and
    /// [`PairedConnection::wait_through`]).
    pub fn query_wait<T: FromValue>(self) -> Result<T, Error>
    where
        R: ReadAs<T>,
    {
        let runner = match self.conn {
            Via::Paired(conn) => conn.shared().runner.get().cloned(),
            Via::Batch(sender) => sender.runner(),
        };
        crate::wait::wait_with(runner.as_deref(), self.query())
    }

    /// The same pipeline, with `S` as its recorded reply types.
    fn recorded<S>(self) -> Pipeline<'a, S> {
        Pipeline {
            conn: self.conn,
            buf: self.buf,
            batch: self.batch,
            commands: self.commands,
            transaction: self.transaction,
            timeout: self.timeout,
            blocks: self.blocks,
            error: self.error,
            first: self.first,
            replies: PhantomData,
            writes: self.writes,
        }
    }

    fn send(&mut self) -> Reply<Value> {
        if let Some(error) = self.error.take() {
            return Reply::failed(error);
        }
        let conn = match self.conn {
            Via::Paired(conn) => conn,
            Via::Batch(sender) => {
                if self.transaction {
                    self.batch.push(Command::new("EXEC"));
                }
                if self.batch.is_empty() {
                    return Reply::failed(Error::Protocol(resp::Error::EmptyCommand));
                }
                return sender.send_batch(std::mem::take(&mut self.batch));
            }
        };
        let mut replies = self.commands;
        if self.transaction {
            Command::new("EXEC").encode(&mut self.buf);
            replies += 2;
        }
        if replies == 0 {
            return Reply::failed(Error::Protocol(resp::Error::EmptyCommand));
        }
        let called = Instant::now();
        let command = match self.first {
            Some(first) if !self.transaction => first,
            _ => CommandName::new(b"MULTI"),
        };
        let (tx, rx) = oneshot::channel();
        let span = conn.shared().peer.batch(self.transaction, self.commands);
        if let Some(lanes) = self.blocks.then(|| conn.shared().lanes.as_ref()).flatten() {
            if let Err(e) = conn.shared().status_for_lanes() {
                return Reply::failed(e).traced(span);
            }
            let exchange = Exchange {
                bytes: self.buf.split().freeze(),
                replies,
                batch: true,
                timeout: self.timeout,
                called,
            };
            lanes.send(exchange, Some(tx));
            conn.shared().forget(&self.writes);
            return Reply::waiting(rx, called, command).traced(span);
        }
        let request = Request {
            tx: Some(tx),
            replies,
            batch: true,
            timeout: self.timeout,
            from_front: false,
            called,
            len: 0,
            command,
            resend: None,
            fill: None,
        };
        let queued = conn
            .shared()
            .enqueue(Encoded::Buffer(&mut self.buf), replies, request);
        conn.shared().forget(&self.writes);
        match queued {
            Ok(()) => Reply::waiting(rx, called, command),
            Err(e) => Reply::failed(e),
        }
        .traced(span)
    }
}

/// Where a pipeline's batch goes.
#[derive(Clone, Copy)]
enum Via<'a> {
    Paired(&'a PairedConnection),
    Batch(&'a dyn SendBatch),
}

impl std::fmt::Debug for Via<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Paired(conn) => f.debug_tuple("Paired").field(conn).finish(),
            Via::Batch(_) => f.write_str("Batch"),
        }
    }
}

/// The results of `MULTI`, `QUEUED`..., `EXEC` replies, or why there are none.
fn exec_results(mut all: Vec<Value>) -> Result<Vec<Value>, Error> {
    let exec = all.pop().ok_or(Error::Protocol(resp::Error::InvalidFrame(
        "transaction reply",
    )))?;
    match exec {
        // EXEC ran the transaction: its results are the answer, whatever was
        // said while queueing.
        Value::Array(results) => Ok(results),
        Value::Null | Value::NullArray | Value::NullBulkString => Err(Error::TransactionAborted),
        Value::Error(text) | Value::BlobError(text) => {
            // EXECABORT only says a command was refused while queueing (wrong
            // arity, unknown command): that refusal is the error worth
            // reporting.
            let refusal = all.into_iter().find_map(|reply| match reply {
                Value::Error(text) | Value::BlobError(text) => Some(text),
                _ => None,
            });
            Err(Error::Server(ServerError::new(refusal.unwrap_or(text))))
        }
        other => Err(Error::Conversion {
            target: "transaction results",
            found: other.kind(),
            value: resp::Preview::none(),
        }),
    }
}

/// The typed commands of [`Commands`](crate::Commands) add to the pipeline
/// and record their reply types.
impl<'a, R: Replies> Target for Pipeline<'a, R> {
    type Output<T: FromValue> = Pipeline<'a, R::Push<T>>;

    fn queue_command<T: FromValue>(mut self, cmd: Command) -> Pipeline<'a, R::Push<T>> {
        self.push(cmd);
        self.recorded()
    }
}

/// The typed commands of [`Commands`](crate::Commands) add to the pipeline
/// in place, recording no reply type.
impl<'p, 'a, R> Target for &'p mut Pipeline<'a, R> {
    type Output<T: FromValue> = &'p mut Pipeline<'a, R>;

    fn queue_command<T: FromValue>(self, cmd: Command) -> &'p mut Pipeline<'a, R> {
        self.push(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_results_unpack_or_explain() {
        let ok = |s: &'static str| Value::SimpleString(s.into());
        let exec = vec![
            ok("OK"),
            ok("QUEUED"),
            ok("QUEUED"),
            Value::Array(vec![Value::Integer(1), ok("OK")]),
        ];
        assert_eq!(
            exec_results(exec).unwrap(),
            vec![Value::Integer(1), ok("OK")]
        );

        let watched = vec![ok("OK"), ok("QUEUED"), Value::NullArray];
        assert!(matches!(
            exec_results(watched),
            Err(Error::TransactionAborted)
        ));

        let refused = vec![
            ok("OK"),
            Value::Error("ERR wrong number of arguments for 'get' command".into()),
            Value::Error("EXECABORT Transaction discarded because of previous errors.".into()),
        ];
        match exec_results(refused) {
            Err(Error::Server(e)) => assert!(e.message().contains("wrong number")),
            other => panic!("unexpected {other:?}"),
        }

        // EXEC ran: an error said while queueing did not stop it.
        let ran = vec![
            ok("OK"),
            Value::Error("ERR something refused but not fatal".into()),
            ok("QUEUED"),
            Value::Array(vec![Value::Integer(1)]),
        ];
        assert_eq!(exec_results(ran).unwrap(), vec![Value::Integer(1)]);
    }
}
