//! `Target`: where the typed commands go, supplied by the connection crates.

use resp::{Command, FromValue};

/// Where the typed commands of [`Commands`](crate::Commands) go. This crate
/// only builds command lines; what becomes of one is the target's choice,
/// and so is what a method gives back ([`Output`](Target::Output)).
///
/// The connection crates supply the targets: a reference to a connection
/// (`&redis_paired::PairedConnection`, `&ExclusiveConnection`, a cluster
/// connection), where each command is sent at once and gives its reply
/// future, and a pipeline (by value or `&mut`), where each command is added
/// to the batch and gives the pipeline back (by value, with the command's
/// reply type recorded: see [`Replies`](crate::Replies)). A pipeline variable takes the
/// methods by value (`pipeline = pipeline.incr("n")`), or through a `&mut`
/// borrow, as in a loop: `let batch = &mut pipeline; for k in keys {
/// batch.incr(k); }`.
///
/// A target of one's own, here one that keeps the command lines instead
/// of sending them:
///
/// ```
/// use redis_commands::{Commands, Target};
/// use resp::{Command, FromValue};
///
/// /// The command lines, in the order they were given.
/// #[derive(Default)]
/// struct Lines(Vec<Command>);
///
/// impl Target for &mut Lines {
///     // No reply comes back here; a connection would return a future.
///     type Output<T: FromValue> = ();
///
///     fn queue_command<T: FromValue>(self, cmd: Command) {
///         self.0.push(cmd);
///     }
/// }
///
/// let mut lines = Lines::default();
/// lines.set("greeting", "hello");
/// lines.incr_by("visits", 2);
/// let words: Vec<Vec<&[u8]>> = lines.0.iter().map(|cmd| cmd.args().collect()).collect();
/// assert_eq!(words[1], [&b"INCRBY"[..], b"visits", b"2"]);
/// ```
pub trait Target: Sized {
    /// What a typed command gives back here: its reply future on a
    /// connection, the pipeline on a pipeline.
    type Output<T: FromValue>;

    /// Takes `cmd`, whose reply is to be read as a `T`.
    fn queue_command<T: FromValue>(self, cmd: Command) -> Self::Output<T>;
}

/// What a connection gives back for a command: a family of reply types,
/// one for each type the reply is read as.
///
/// A connection crate names its own (`redis_paired::ReplyFuture`, whose
/// reply is a `redis_paired::Reply<T>`), so that code generic over its
/// connections knows what a typed command gives.
pub trait ReplyKind {
    /// The reply to a command read as a `T`.
    type Reply<T: FromValue>;
}

/// A connection that sends each command at once and gives its reply: a
/// reference to one is a [`Target`], so every connection of this kind,
/// a test double included, has the typed commands, and so does code
/// generic over them (`fn f(conn: &impl Sender)` in `redis-paired`).
pub trait SendCommand {
    /// What a command gives back.
    type Replies: ReplyKind;

    /// Sends `cmd` now and gives its reply, to be read as a `T`.
    fn send_command<T: FromValue>(&self, cmd: Command) -> <Self::Replies as ReplyKind>::Reply<T>;
}

impl<S: SendCommand + ?Sized> SendCommand for &S {
    type Replies = S::Replies;

    fn send_command<T: FromValue>(&self, cmd: Command) -> <S::Replies as ReplyKind>::Reply<T> {
        (**self).send_command(cmd)
    }
}

/// The typed commands of [`Commands`](crate::Commands) on a connection
/// send at once and give its reply.
impl<S: SendCommand + ?Sized> Target for &S {
    type Output<T: FromValue> = <S::Replies as ReplyKind>::Reply<T>;

    fn queue_command<T: FromValue>(self, cmd: Command) -> Self::Output<T> {
        self.send_command(cmd)
    }
}
