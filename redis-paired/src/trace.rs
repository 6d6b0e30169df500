//! The span of each command, through `tracing`: target `redis::command`,
//! level DEBUG, with the attributes OpenTelemetry's conventions for Redis
//! name, so that `tracing-opentelemetry` exports them as they are. When no
//! subscriber wants them, making one costs a check of the callsite's cached
//! interest and nothing else: no field is evaluated, nothing is allocated.

use redis_conn::{Address, CommandName, ConnectionConfig, Error};
use resp::Command;
use tracing::field::Empty;
use tracing::Span;

/// The target of the command spans.
pub const TARGET: &str = "redis::command";

/// What the spans of a connection's commands say about its server.
#[derive(Debug)]
pub(crate) struct Peer {
    /// The host name, socket path or Sentinel master name.
    address: String,
    /// The port, for TCP.
    port: Option<u16>,
    /// The database index, as text (`db.namespace`).
    db: String,
    /// Whether spans carry `db.query.text`.
    query_text: bool,
}

impl Peer {
    pub(crate) fn new(config: &ConnectionConfig, query_text: bool) -> Peer {
        let (address, port) = match config.address() {
            Address::Tcp { host, port } => (host.clone(), Some(*port)),
            Address::Unix(path) => (path.to_string_lossy().into_owned(), None),
            Address::Sentinel { master, .. } => (master.clone(), None),
        };
        Peer {
            address,
            port,
            db: config.db().to_string(),
            query_text,
        }
    }

    /// The span of one command, `None` when no subscriber wants it.
    #[inline]
    pub(crate) fn command(&self, name: &CommandName, cmd: &Command) -> Option<Span> {
        if !wanted() {
            return None;
        }
        let span = self.span(name.as_str(), None);
        if span.is_disabled() {
            return None;
        }
        if self.query_text {
            span.record("db.query.text", query_text(cmd).as_str());
        }
        Some(span)
    }

    /// The span of a pipeline (`PIPELINE`) or a transaction (`MULTI`) of
    /// `size` commands, `None` when no subscriber wants it.
    #[inline]
    pub(crate) fn batch(&self, transaction: bool, size: usize) -> Option<Span> {
        if !wanted() {
            return None;
        }
        let name = if transaction { "MULTI" } else { "PIPELINE" };
        let span = self.span(name, Some(size));
        (!span.is_disabled()).then_some(span)
    }

    fn span(&self, name: &str, batch: Option<usize>) -> Span {
        span(name, &self.db, Some(&self.address), self.port, batch)
    }
}

/// Whether a subscriber may want the command spans: what is checked
/// before anything is done for them (the name of a command, its span). The
/// callsite's interest is cached, so with no subscriber that wants the
/// target at DEBUG this is a load and a branch.
#[inline(always)]
pub fn wanted() -> bool {
    tracing::enabled!(target: "redis::command", tracing::Level::DEBUG)
}

/// The span of one operation named `name` (a command's name, `PIPELINE` or
/// `MULTI`) on database `db`, at `address` and `port` when they are known
/// (a cluster's command is the parent of the spans of its tries on each
/// node, which carry theirs), with the size of a batch. It is disabled
/// (see [`Span::is_disabled`]) when no subscriber wants it: what a
/// connection built on this crate checks before it does anything more.
pub fn span(
    name: &str,
    db: &str,
    address: Option<&str>,
    port: Option<u16>,
    batch: Option<usize>,
) -> Span {
    tracing::debug_span!(
        target: TARGET,
        "redis.command",
        otel.name = name,
        otel.kind = "client",
        otel.status_code = Empty,
        db.system.name = "redis",
        db.operation.name = name,
        db.namespace = db,
        server.address = address,
        server.port = port,
        db.operation.batch.size = batch,
        db.query.text = Empty,
        db.response.status_code = Empty,
        error.type = Empty,
    )
}

/// The command's name and a `?` for each argument: what it did, without
/// the values, which may be secrets.
pub fn query_text(cmd: &Command) -> String {
    let name = String::from_utf8_lossy(cmd.name()).to_ascii_uppercase();
    let mut text = String::with_capacity(name.len() + 2 * cmd.len());
    text.push_str(&name);
    for _ in 1..cmd.len() {
        text.push_str(" ?");
    }
    text
}

/// Records how the command that `span` stands for ended, when it failed:
/// `error.type`, the server's error code as `db.response.status_code`, and
/// the span's status.
pub fn record_error(span: &Span, error: &Error) {
    if let Some(code) = error.server_code() {
        span.record("db.response.status_code", code);
    }
    span.record("error.type", error.error_type());
    span.record("otel.status_code", "ERROR");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_text_hides_every_argument() {
        let cmd = resp::cmd!("set", "user:7", "secret", "EX", 10);
        assert_eq!(query_text(&cmd), "SET ? ? ? ?");
        assert_eq!(query_text(&resp::cmd!("PING")), "PING");
    }
}
