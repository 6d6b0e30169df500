//! `Script`: a Lua script run by its SHA1 digest, sent again only when the
//! server does not have it.

use std::future::Future;
use std::sync::Arc;

use resp::{Command, FromValue, ToArgs};

use crate::{Error, Reply, Sender};

/// A Lua script, invoked with `EVALSHA` so that its source crosses the wire
/// only when the server's script cache lacks it.
///
/// The digest is computed once, when the script is made. Cloning is cheap.
///
/// ```no_run
/// # async fn demo(conn: redis_paired::PairedConnection) -> Result<(), redis_paired::Error> {
/// use redis_paired::Script;
///
/// let add = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
/// let total: i64 = add.invoke(&conn, "counter", 5).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Script {
    source: Arc<str>,
    hash: Arc<str>,
}

impl Script {
    /// A script from its Lua source.
    pub fn new(source: &str) -> Script {
        let hash = sha1_smol::Sha1::from(source).digest().to_string();
        Script {
            source: source.into(),
            hash: hash.into(),
        }
    }

    /// The SHA1 digest of the source in lowercase hex, as `SCRIPT LOAD`
    /// returns it and `EVALSHA` takes it.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The Lua source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `EVALSHA hash numkeys key... arg...`, and on a `NOSCRIPT` reply
    /// `EVAL source numkeys key... arg...`: the script's result converted
    /// into `T`.
    ///
    /// `keys` and `args` are anything [`ToArgs`]: one value, a tuple, or a
    /// slice of them (none is an empty slice, `&[] as &[&str]`). `EVALSHA`
    /// is queued when this is called. When
    /// the server does not know the script (it restarted, or its cache was
    /// flushed), `EVAL` sends the source and caches it again: two round
    /// trips, once.
    pub fn invoke<'a, T, S>(
        &self,
        sender: &'a S,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> impl Future<Output = Result<T, Error>> + 'a
    where
        T: FromValue + 'a,
        S: Sender + ?Sized,
    {
        let mut tail = Command::new("EVALSHA").arg(keys);
        let numkeys = tail.len() - 1;
        tail.push_arg(args);
        let first: Reply<T> = sender.send(call("EVALSHA", &self.hash, numkeys, &tail));
        let source = self.source.clone();
        async move {
            match first.await {
                Err(e) if e.server_code() == Some("NOSCRIPT") => {
                    sender.send(call("EVAL", &source, numkeys, &tail)).await
                }
                other => other,
            }
        }
    }

    /// `SCRIPT LOAD source`: caches the script on the server ahead of its
    /// first invocation; the reply is its digest, the same as
    /// [`hash`](Script::hash).
    pub fn load<S: Sender + ?Sized>(&self, sender: &S) -> Reply<String> {
        sender.send(Command::new("SCRIPT").arg("LOAD").arg(&*self.source))
    }
}

/// `name script numkeys` followed by the keys and arguments after the name
/// of `tail`.
fn call(name: &str, script: &str, numkeys: usize, tail: &Command) -> Command {
    let mut cmd = Command::with_capacity(name, script.len() + tail.encoded_len() + 16);
    cmd.push_bulk(script.as_bytes());
    cmd.push_int(numkeys);
    for arg in tail.args().skip(1) {
        cmd.push_bulk(arg);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_the_sha1_redis_computes() {
        // redis-cli SCRIPT LOAD "return 1"
        let script = Script::new("return 1");
        assert_eq!(script.hash(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        assert_eq!(script.source(), "return 1");
    }

    #[test]
    fn calls_count_the_keys_only() {
        let mut tail = Command::new("EVALSHA").arg(["k1", "k2"]);
        let numkeys = tail.len() - 1;
        tail.push_arg((7, "x"));
        let cmd = call("EVALSHA", "abc", numkeys, &tail);
        let args: Vec<&[u8]> = cmd.args().collect();
        assert_eq!(
            args,
            [&b"EVALSHA"[..], b"abc", b"2", b"k1", b"k2", b"7", b"x"]
        );
    }
}
