//! What the generated smoke test (`generated.rs`) checks of each outcome.

use std::collections::BTreeMap;

use redis_conn::{ConnectionConfig, Error, Protocol};
use redis_paired::PairedConnection;
use xtask::RedisServer;

/// A server of the test's own: the smoke test flushes, swaps databases and
/// reconfigures, which no other test should see.
pub fn server() -> RedisServer {
    RedisServer::start().expect("redis-server starts")
}

pub async fn connect(server: &RedisServer, protocol: Protocol) -> PairedConnection {
    connect_url(&server.url(), protocol).await
}

pub async fn connect_url(url: &str, protocol: Protocol) -> PairedConnection {
    let config = ConnectionConfig::from_url(url)
        .unwrap()
        .with_protocol(protocol);
    PairedConnection::connect(&config).await.unwrap()
}

/// The outcomes of every command on every protocol.
#[derive(Debug, Default)]
pub struct Report {
    /// Commands the server answered, and the reply fit.
    fitted: usize,
    /// Commands the server refused for what the placeholder arguments say
    /// (no such key, not an integer, ...): the command line was understood.
    refused: BTreeMap<String, String>,
    /// What is wrong: a command line the server did not understand, a reply
    /// that did not fit, a connection error.
    wrong: Vec<String>,
}

impl Report {
    pub fn add(&mut self, protocol: Protocol, command: &str, outcome: Result<(), Error>) {
        let message = match outcome {
            Ok(()) => {
                self.fitted += 1;
                return;
            }
            Err(Error::Server(e)) => e.to_string(),
            Err(e) => {
                self.wrong.push(format!("{command} ({protocol:?}): {e}"));
                return;
            }
        };
        let lower = message.to_ascii_lowercase();
        let misunderstood = [
            "wrong number of arguments",
            "syntax error",
            "unknown command",
            "unknown subcommand",
        ]
        .iter()
        .any(|m| lower.contains(m));
        if misunderstood {
            self.wrong
                .push(format!("{command} ({protocol:?}): {message}"));
        } else {
            self.refused.insert(command.to_string(), message);
        }
    }

    /// As [`check`](Self::check), and every command was answered: each
    /// reply's type is checked.
    pub fn check_all_answered(self) {
        assert!(self.refused.is_empty(), "refused: {:?}", self.refused);
        self.check();
    }

    /// Fails with every wrong outcome; prints how many replies fit.
    pub fn check(self) {
        eprintln!(
            "{} replies fitted their types; {} commands refused their placeholder arguments",
            self.fitted,
            self.refused.len()
        );
        for (command, message) in &self.refused {
            eprintln!("  {command}: {message}");
        }
        assert!(self.wrong.is_empty(), "{}", self.wrong.join("\n"));
        assert!(self.fitted > 0);
    }
}
