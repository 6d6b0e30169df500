//! What the generated smoke test (`generated.rs`) checks of each outcome.

use std::collections::BTreeMap;

use redis_conn::{ConnectionConfig, Error, Protocol};
use redis_paired::catalogue::{self, Server};
use redis_paired::PairedConnection;
use resp::{cmd, Command};
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
#[derive(Debug)]
pub struct Report {
    /// The server the commands go to, and its version.
    server: (Server, String),
    /// Commands this server does not have (the catalogue says so), which it
    /// refused as unknown.
    missing: Vec<String>,
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
    /// A report on the commands sent to the server at `url`, which it asks
    /// what it is.
    pub async fn new(url: &str) -> Report {
        let conn = connect_url(url, Protocol::Resp2).await;
        let info: String = conn.send(cmd!("INFO", "server")).await.unwrap();
        let (server, version) = Server::from_info(&info).expect("INFO names the server's version");
        Report {
            server: (server, version.to_string()),
            missing: Vec::new(),
            fitted: 0,
            refused: BTreeMap::new(),
            wrong: Vec::new(),
        }
    }

    pub fn add(&mut self, protocol: Protocol, command: &str, outcome: Result<(), Error>) {
        let (server, version) = &self.server;
        let mut words = command.split('|');
        let line = Command::new(words.next().unwrap_or(command)).arg(words.collect::<Vec<_>>());
        let info = catalogue::lookup(&line).expect("every generated command is in the catalogue");
        if !info.is_on(*server, version) {
            // Not in this server: it must say so, not answer.
            match outcome {
                Err(Error::Server(e))
                    if ["unknown command", "unknown subcommand"]
                        .iter()
                        .any(|m| e.to_string().to_ascii_lowercase().contains(m)) =>
                {
                    self.missing.push(format!("{command} ({protocol:?})"));
                }
                other => self.wrong.push(format!(
                    "{command} ({protocol:?}) is not in {server:?} {version}, yet: {other:?}"
                )),
            }
            return;
        }
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
            "{:?} {}: {} replies fitted their types; {} commands refused their placeholder \
             arguments; {} not in this server and refused as unknown: {:?}",
            self.server.0,
            self.server.1,
            self.fitted,
            self.refused.len(),
            self.missing.len(),
            self.missing
        );
        for (command, message) in &self.refused {
            eprintln!("  {command}: {message}");
        }
        assert!(self.wrong.is_empty(), "{}", self.wrong.join("\n"));
        assert!(self.fitted > 0);
    }
}
