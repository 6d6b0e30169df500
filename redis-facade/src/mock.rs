//! `MockConnection`: a test double that answers expected commands with
//! scripted replies, for testing code that talks to Redis without a server
//! (feature `mock`).
//!
//! A [`MockConnection`] is a [`Sender`](redis_paired::Sender), so the typed [`Commands`] work on
//! it as on a [`PairedConnection`](crate::PairedConnection), and it makes
//! [`Pipeline`]s and transactions of its own. Code under test that takes any
//! sender (`&impl Sender`, or a type parameter `C: Sender`) runs unchanged
//! against it.
//!
//! Each expected command comes with what it gets: a reply
//! ([`expect`](MockConnection::expect)), an error reply of the server
//! ([`expect_server_error`](MockConnection::expect_server_error),
//! `-WRONGTYPE ...`), a client error such as a lost connection or a timeout
//! ([`expect_error`](MockConnection::expect_error), [`connection_lost`],
//! [`timeout`]), or no reply at all
//! ([`expect_no_reply`](MockConnection::expect_no_reply)).
//!
//! The test fails when the code sends a command that was not expected (its
//! reply is an error naming the command expected and the one that came,
//! and the mock remembers it), or leaves an expected command unsent:
//! [`assert_done`](MockConnection::assert_done) panics with both lists, and
//! so does dropping the last clone of the mock unless the thread is
//! panicking already.
//!
//! ```
//! use redis_facade::mock::{self, MockConnection};
//! use redis_facade::prelude::*;
//!
//! /// The code under test: counts a visit and returns the visitor's name.
//! async fn visit(conn: &impl Sender, user: u64) -> Result<Option<String>, Error> {
//!     conn.incr(format!("visits:{user}")).await?;
//!     conn.hget(format!("user:{user}"), "name").await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let conn = MockConnection::new();
//! conn.expect(cmd!("INCR", "visits:7"), 1)
//!     .expect(cmd!("HGET", "user:7", "name"), "Ada")
//!     .expect_server_error(cmd!("INCR", "visits:8"), "WRONGTYPE Operation against a key holding the wrong kind of value")
//!     .expect_error(cmd!("INCR", "visits:9"), mock::connection_lost());
//!
//! assert_eq!(visit(&conn, 7).await.unwrap().as_deref(), Some("Ada"));
//! let wrong = visit(&conn, 8).await.unwrap_err();
//! assert_eq!(wrong.server_code(), Some("WRONGTYPE"));
//! assert!(matches!(visit(&conn, 9).await, Err(Error::Connection(_))));
//! conn.assert_done();
//! # }
//! ```
//!
//! By default the commands must come in the order they were expected;
//! [`MockConnection::unordered`] accepts them in any order, for code whose
//! tasks run concurrently.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis_conn::{CommandName, Error};
use redis_paired::{IntoCommand, Pipeline, Reply, ReplyFuture, SendBatch, SendCommand};
use resp::{Command, FromValue, ServerError, Value};

#[cfg(doc)]
use redis_paired::Commands;

/// A connection that answers the commands it expects with scripted replies,
/// and fails the test on any other.
///
/// Clones share the expectations, as clones of a real connection share
/// its socket. Expectations can be added at any time, also while the code
/// under test holds a clone.
///
/// See the [module documentation](self) for an example.
#[derive(Clone)]
pub struct MockConnection {
    state: Arc<Mutex<State>>,
}

impl MockConnection {
    /// A mock that expects no command yet, and then its expected commands
    /// in the order they were added.
    pub fn new() -> MockConnection {
        MockConnection::with_order(true)
    }

    /// A mock that takes its expected commands in any order: each command
    /// that comes is matched with the earliest expectation equal to it.
    pub fn unordered() -> MockConnection {
        MockConnection::with_order(false)
    }

    /// Expects `cmd`, to be answered with `reply`: a [`Value`] or anything
    /// that converts into one (`1`, `"text"`, `vec![...]`, [`ok`], [`nil`]).
    /// A [`Value::Error`] reply is an error reply of the server, as
    /// [`expect_server_error`](Self::expect_server_error) makes it.
    ///
    /// # Panics
    ///
    /// When `cmd` is no command (an empty array).
    pub fn expect(&self, cmd: impl IntoCommand, reply: impl Into<Value>) -> &MockConnection {
        self.push(cmd, Outcome::Reply(reply.into()))
    }

    /// Expects `cmd`, to be answered with the server error reply `text`,
    /// its code first: `"WRONGTYPE Operation against a key holding the
    /// wrong kind of value"`. The caller gets [`Error::Server`], whose
    /// [`server_code`](Error::server_code) is the code.
    ///
    /// # Panics
    ///
    /// When `cmd` is no command (an empty array).
    pub fn expect_server_error(&self, cmd: impl IntoCommand, text: &str) -> &MockConnection {
        let text = text.strip_prefix('-').unwrap_or(text);
        self.push(cmd, Outcome::Reply(Value::Error(text.to_owned().into())))
    }

    /// Expects `cmd`, to fail with `error` as the client would report it:
    /// a lost connection ([`connection_lost`]), a timeout ([`timeout`]),
    /// backpressure. In a pipeline, the whole batch fails with it, as a
    /// batch does when its connection breaks.
    ///
    /// # Panics
    ///
    /// When `cmd` is no command (an empty array).
    pub fn expect_error(&self, cmd: impl IntoCommand, error: Error) -> &MockConnection {
        self.push(cmd, Outcome::Fail(error))
    }

    /// Expects `cmd`, whose reply never comes: for code that puts a
    /// deadline of its own on a command (`tokio::time::timeout`).
    ///
    /// # Panics
    ///
    /// When `cmd` is no command (an empty array).
    pub fn expect_no_reply(&self, cmd: impl IntoCommand) -> &MockConnection {
        self.push(cmd, Outcome::Silence)
    }

    /// Expects a transaction as [`transaction`](Self::transaction) sends
    /// it: `MULTI`, each command (answered `QUEUED`), then `EXEC`, answered
    /// with the commands' replies (a [`Value::Error`] among them is that
    /// command's error).
    ///
    /// # Panics
    ///
    /// When a command is no command (an empty array).
    pub fn expect_transaction<C, R>(
        &self,
        commands: impl IntoIterator<Item = (C, R)>,
    ) -> &MockConnection
    where
        C: IntoCommand,
        R: Into<Value>,
    {
        self.expect(Command::new("MULTI"), ok());
        let mut replies = Vec::new();
        for (cmd, reply) in commands {
            self.expect(cmd, Value::SimpleString("QUEUED".into()));
            replies.push(reply.into());
        }
        self.expect(Command::new("EXEC"), Value::Array(replies))
    }

    /// Starts a pipeline, as [`PairedConnection::pipeline`] does: its
    /// commands are matched with the expectations one by one, in order,
    /// when it is queried.
    ///
    /// [`PairedConnection::pipeline`]: crate::PairedConnection::pipeline
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline::over(self)
    }

    /// Starts a transaction, as [`PairedConnection::transaction`] does: when
    /// it is queried, `MULTI`, its commands and `EXEC` are matched with the
    /// expectations ([`expect_transaction`](Self::expect_transaction)
    /// expects them all at once).
    ///
    /// [`PairedConnection::transaction`]: crate::PairedConnection::transaction
    pub fn transaction(&self) -> Pipeline<'_> {
        Pipeline::transaction_over(self)
    }

    /// Checks that every expected command came and no other did.
    ///
    /// # Panics
    ///
    /// With the list of commands that were not expected and of those
    /// expected that never came, when either is not empty.
    #[track_caller]
    pub fn assert_done(&self) {
        if let Err(report) = self.verify() {
            panic!("{report}");
        }
    }

    /// As [`assert_done`](Self::assert_done), without the panic: what went
    /// wrong, if anything did.
    pub fn verify(&self) -> Result<(), String> {
        self.lock().report().map_or(Ok(()), Err)
    }

    /// How many expected commands have not come yet.
    pub fn remaining(&self) -> usize {
        self.lock().expected.len()
    }

    fn with_order(ordered: bool) -> MockConnection {
        MockConnection {
            state: Arc::new(Mutex::new(State {
                expected: VecDeque::new(),
                unexpected: Vec::new(),
                ordered,
            })),
        }
    }

    #[track_caller]
    fn push(&self, cmd: impl IntoCommand, outcome: Outcome) -> &MockConnection {
        let command = match cmd.into_command() {
            Ok(command) => command,
            Err(error) => panic!("an expected command must be a command: {error}"),
        };
        self.lock()
            .expected
            .push_back(Expected { command, outcome });
        self
    }

    /// The state, also after a test thread panicked while holding it: the
    /// lists stay consistent between statements.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for MockConnection {
    fn default() -> MockConnection {
        MockConnection::new()
    }
}

impl fmt::Debug for MockConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MockConnection")
            .field("ordered", &state.ordered)
            .field("expected", &state.expected.len())
            .field("unexpected", &state.unexpected.len())
            .finish()
    }
}

impl SendCommand for MockConnection {
    type Replies = ReplyFuture;

    fn send_command<T: FromValue>(&self, cmd: Command) -> Reply<T> {
        match self.lock().answer(&cmd) {
            Outcome::Reply(Value::Error(text) | Value::BlobError(text)) => {
                Reply::from_error(Error::Server(ServerError::new(text)))
            }
            Outcome::Reply(value) => Reply::from_future(std::future::ready(Ok(value))),
            Outcome::Fail(error) => Reply::from_error(error),
            Outcome::Silence => Reply::from_future(std::future::pending()),
        }
    }
}

impl SendBatch for MockConnection {
    fn send_batch(&self, commands: Vec<Command>) -> Reply<Value> {
        let mut state = self.lock();
        let mut replies = Vec::with_capacity(commands.len());
        for cmd in &commands {
            match state.answer(cmd) {
                Outcome::Reply(value) => replies.push(value),
                Outcome::Fail(error) => return Reply::from_error(error),
                Outcome::Silence => return Reply::from_future(std::future::pending()),
            }
        }
        Reply::from_future(std::future::ready(Ok(Value::Array(replies))))
    }
}

/// The reply `+OK`, as `SET` and most commands that change something
/// give it.
pub fn ok() -> Value {
    Value::SimpleString("OK".into())
}

/// The null reply, as `GET` gives it for a missing key.
pub fn nil() -> Value {
    Value::Null
}

/// The error of a command whose connection broke before its reply came, as
/// a [`PairedConnection`](crate::PairedConnection) reports it.
pub fn connection_lost() -> Error {
    let reset = io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer");
    Error::Connection(Arc::new(Error::Io(Arc::new(reset))))
}

/// The error of a command of `name` whose reply did not come within
/// `limit`, as a [`PairedConnection`](crate::PairedConnection) reports it:
/// "response to GET timed out after 1s".
pub fn timeout(name: &str, limit: Duration) -> Error {
    Error::Timeout {
        what: "response",
        command: Some(CommandName::new(name.as_bytes())),
        limit: Some(limit),
    }
}

/// What the mock knows, shared by its clones.
struct State {
    expected: VecDeque<Expected>,
    /// What was wrong with each command that was not expected.
    unexpected: Vec<String>,
    ordered: bool,
}

struct Expected {
    command: Command,
    outcome: Outcome,
}

/// What an expected command gets.
enum Outcome {
    Reply(Value),
    Fail(Error),
    Silence,
}

impl State {
    /// The outcome of `cmd`: the expected one's, or, when `cmd` was not
    /// expected, an error that says so (and is remembered).
    fn answer(&mut self, cmd: &Command) -> Outcome {
        let found = if self.ordered {
            self.expected
                .front()
                .is_some_and(|e| same(&e.command, cmd))
                .then_some(0)
        } else {
            self.expected.iter().position(|e| same(&e.command, cmd))
        };
        if let Some(expected) = found.and_then(|at| self.expected.remove(at)) {
            return expected.outcome;
        }
        let wanted = match (self.ordered, self.expected.front()) {
            (_, None) => "no more commands".to_owned(),
            (true, Some(next)) => show(&next.command),
            (false, Some(_)) => format!(
                "one of {}",
                self.expected
                    .iter()
                    .map(|e| show(&e.command))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let problem = format!("expected {wanted}, got {}", show(cmd));
        self.unexpected.push(problem.clone());
        // An error reply with a code no server uses: what a real server
        // answers has codes such as ERR or WRONGTYPE.
        Outcome::Fail(Error::Server(ServerError::new(format!(
            "MOCK unexpected command: {problem}"
        ))))
    }

    /// What went wrong, if anything did.
    fn report(&self) -> Option<String> {
        if self.unexpected.is_empty() && self.expected.is_empty() {
            return None;
        }
        let mut report = String::from("the mock connection was not used as expected");
        if !self.unexpected.is_empty() {
            report.push_str("\n  commands not expected:");
            for problem in &self.unexpected {
                report.push_str("\n    ");
                report.push_str(problem);
            }
        }
        if !self.expected.is_empty() {
            report.push_str("\n  expected commands that never came:");
            for expected in &self.expected {
                report.push_str("\n    ");
                report.push_str(&show(&expected.command));
            }
        }
        Some(report)
    }
}

impl Drop for State {
    /// Fails the test that dropped the last clone of the mock with expected
    /// commands unsent or unexpected ones received, unless it is failing
    /// already (a second panic would abort the test run).
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(report) = self.report() {
            panic!("{report}");
        }
    }
}

/// Whether two commands are the same: the names in any case, the
/// arguments byte for byte.
fn same(a: &Command, b: &Command) -> bool {
    a.name().eq_ignore_ascii_case(b.name()) && a.args().skip(1).eq(b.args().skip(1))
}

/// A command as a test failure shows it: `SET "k" "v"`.
fn show(cmd: &Command) -> String {
    let mut text = String::from_utf8_lossy(cmd.name()).into_owned();
    for arg in cmd.args().skip(1) {
        text.push(' ');
        text.push_str(&format!("{:?}", String::from_utf8_lossy(arg)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use resp::cmd;

    fn expect_panic(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(f).expect_err("it panics");
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn typed_commands_get_their_scripted_replies() {
        let conn = MockConnection::new();
        conn.expect(cmd!("SET", "k", "v"), ok())
            .expect(cmd!("get", "k"), "v")
            .expect(cmd!("GET", "missing"), nil())
            .expect(cmd!("INCR", "n"), 7);
        conn.set("k", "v").await.unwrap();
        assert_eq!(conn.get::<String>("k").await.unwrap().as_deref(), Some("v"));
        assert_eq!(conn.get::<String>("missing").await.unwrap(), None);
        assert_eq!(conn.incr("n").await.unwrap(), 7);
        assert_eq!(conn.remaining(), 0);
        conn.assert_done();
    }

    #[tokio::test]
    async fn errors_come_as_scripted() {
        let conn = MockConnection::new();
        conn.expect_server_error(cmd!("INCR", "name"), "-WRONGTYPE Operation against a key")
            .expect_error(cmd!("GET", "a"), connection_lost())
            .expect_error(cmd!("GET", "b"), timeout("GET", Duration::from_secs(1)));
        let wrong = conn.incr("name").await.unwrap_err();
        assert_eq!(wrong.server_code(), Some("WRONGTYPE"));
        let lost = conn.get::<String>("a").await.unwrap_err();
        assert!(matches!(lost, Error::Connection(_)), "{lost:?}");
        let late = conn.get::<String>("b").await.unwrap_err();
        assert_eq!(late.to_string(), "response to GET timed out after 1s");
        conn.assert_done();
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_that_never_comes_leaves_the_deadline_to_the_caller() {
        let conn = MockConnection::new();
        conn.expect_no_reply(cmd!("GET", "k"));
        let waited = tokio::time::timeout(Duration::from_secs(1), conn.get::<String>("k")).await;
        assert!(waited.is_err());
        conn.assert_done();
    }

    #[tokio::test]
    async fn an_unexpected_command_is_answered_with_what_was_expected_and_remembered() {
        let conn = MockConnection::new();
        conn.expect(cmd!("GET", "k"), "v");
        let error = conn.set("k", "other").await.unwrap_err();
        assert_eq!(error.server_code(), Some("MOCK"));
        let text = error.to_string();
        assert!(
            text.contains(r#"expected GET "k", got SET "k" "other""#),
            "{text}"
        );
        // The expected command is still expected.
        assert_eq!(conn.get::<String>("k").await.unwrap().as_deref(), Some("v"));
        let report = conn.verify().unwrap_err();
        assert!(report.contains("commands not expected"), "{report}");
        assert!(report.contains(r#"got SET "k" "other""#), "{report}");
        let panic = expect_panic(|| conn.assert_done());
        assert_eq!(panic, report);
        // The test already failed once: the drop check would fail it again.
        expect_panic(move || drop(conn));
    }

    #[tokio::test]
    async fn a_command_past_the_script_is_unexpected() {
        let conn = MockConnection::new();
        let error = conn.get::<String>("k").await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains(r#"expected no more commands, got GET "k""#),
            "{error}"
        );
        expect_panic(move || drop(conn));
    }

    #[test]
    fn dropping_the_last_clone_checks_what_never_came() {
        let conn = MockConnection::new();
        conn.expect(cmd!("GET", "k"), "v")
            .expect(cmd!("DEL", "k"), 1);
        let clone = conn.clone();
        drop(conn);
        let panic = expect_panic(move || drop(clone));
        assert!(
            panic.contains("expected commands that never came"),
            "{panic}"
        );
        assert!(
            panic.contains(r#"GET "k""#) && panic.contains(r#"DEL "k""#),
            "{panic}"
        );

        // Used as expected, it drops quietly.
        let conn = MockConnection::new();
        conn.expect(cmd!("PING"), "PONG");
        let pong: String = conn.send(cmd!("PING")).wait_in_test();
        assert_eq!(pong, "PONG");
        drop(conn);
    }

    #[test]
    fn a_failing_test_is_not_failed_twice() {
        // The drop check stays quiet while the thread panics already: a
        // second panic would abort the whole test run.
        let panic = expect_panic(|| {
            let conn = MockConnection::new();
            conn.expect(cmd!("GET", "k"), "v");
            panic!("the test's own failure");
        });
        assert_eq!(panic, "the test's own failure");
    }

    #[tokio::test]
    async fn pipelines_and_transactions_match_command_by_command() {
        let conn = MockConnection::new();
        conn.expect(cmd!("INCR", "a"), 1)
            .expect_server_error(cmd!("INCR", "text"), "ERR value is not an integer")
            .expect(cmd!("GET", "b"), "x")
            .expect_transaction([
                (cmd!("SET", "k", "v"), ok()),
                (cmd!("INCR", "n"), Value::Integer(2)),
            ]);
        let (a, text, b): (i64, Result<i64, ServerError>, String) = conn
            .pipeline()
            .incr("a")
            .incr("text")
            .get::<String>("b")
            .query_as()
            .await
            .unwrap();
        assert_eq!((a, b.as_str()), (1, "x"));
        assert_eq!(text.unwrap_err().code(), "ERR");
        let ((), n): ((), i64) = conn
            .transaction()
            .set("k", "v")
            .incr("n")
            .query()
            .await
            .unwrap();
        assert_eq!(n, 2);
        conn.assert_done();
    }

    #[tokio::test]
    async fn a_broken_batch_fails_whole() {
        let conn = MockConnection::new();
        conn.expect(cmd!("INCR", "a"), 1)
            .expect_error(cmd!("INCR", "b"), connection_lost());
        let result: Result<(i64, i64), Error> = conn.pipeline().incr("a").incr("b").query().await;
        assert!(matches!(result, Err(Error::Connection(_))), "{result:?}");

        // A watched key changed: EXEC answers null.
        conn.expect(cmd!("MULTI"), ok())
            .expect(cmd!("INCR", "n"), "QUEUED")
            .expect(cmd!("EXEC"), Value::NullArray);
        let aborted: Result<(i64,), Error> = conn.transaction().incr("n").query().await;
        assert!(
            matches!(aborted, Err(Error::TransactionAborted)),
            "{aborted:?}"
        );
        conn.assert_done();
    }

    #[tokio::test]
    async fn unordered_mocks_take_commands_in_any_order() {
        let conn = MockConnection::unordered();
        conn.expect(cmd!("GET", "a"), "1")
            .expect(cmd!("GET", "b"), "2");
        assert_eq!(conn.get::<String>("b").await.unwrap().as_deref(), Some("2"));
        assert_eq!(conn.get::<String>("a").await.unwrap().as_deref(), Some("1"));
        conn.expect(cmd!("GET", "a"), "1");
        let error = conn.get::<String>("c").await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains(r#"expected one of GET "a", got GET "c""#),
            "{error}"
        );
        assert_eq!(conn.get::<String>("a").await.unwrap().as_deref(), Some("1"));
        assert!(conn.verify().is_err());
        expect_panic(move || drop(conn));
    }

    #[tokio::test]
    async fn scripts_and_scans_run_on_the_mock() {
        let script = Script::new("return 1");
        let conn = MockConnection::new();
        conn.expect_server_error(
            cmd!("EVALSHA", script.hash(), 0),
            "NOSCRIPT No matching script",
        )
        .expect(cmd!("EVAL", "return 1", 0), 1)
        .expect(
            cmd!("SCAN", 0),
            Value::Array(vec!["0".into(), Value::Array(vec!["k".into()])]),
        );
        let one: i64 = script.invoke(&conn, (), ()).await.unwrap();
        assert_eq!(one, 1);
        let keys: Vec<String> = conn
            .scan()
            .into_stream::<String>()
            .map(|k| k.unwrap())
            .collect()
            .await;
        assert_eq!(keys, ["k"]);
        conn.assert_done();
    }

    /// A reply that is ready at once, outside a runtime.
    trait WaitInTest<T> {
        fn wait_in_test(self) -> T;
    }

    impl<T: FromValue> WaitInTest<T> for Reply<T> {
        fn wait_in_test(self) -> T {
            futures_util::FutureExt::now_or_never(self)
                .expect("a mock's reply is ready at once")
                .unwrap()
        }
    }
}
