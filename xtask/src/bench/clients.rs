//! The request/response clients of the `paired` section behind one trait:
//! `redis-paired` and the peers it is measured against, each on one
//! connection, each with its own defaults.
//!
//! Every method checks the reply it is given (a value, `OK`, an integer),
//! so a client that answers wrongly fails the run. Each client returns
//! replies in its own cheapest owned form (`Bytes` or `Vec<u8>`) and takes
//! values the way its API prefers; what that costs is part of its cost.

use std::future::Future;

use bytes::Bytes;
use redis_async::resp::RespValue;
use redis_async::resp_array;
use resp::cmd;

use crate::measure::Role;

/// Where the server is.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) port: u16,
}

/// One client connection, shared by cloning the handle. Methods take
/// `&mut self` because redis-rs needs it; every task has its own clone.
pub(crate) trait Client: Clone + Send + Sync + Sized + 'static {
    const NAME: &'static str;
    const ROLE: Role;
    /// How the client sends an explicit batch, for the tables.
    const PIPELINE: &'static str;
    /// A bulk string reply.
    type Data: AsRef<[u8]> + Send;

    fn connect(target: &Target) -> impl Future<Output = Result<Self, String>> + Send;

    /// `GET key`, which must exist.
    fn get(&mut self, key: &str) -> impl Future<Output = Result<Self::Data, String>> + Send;

    /// `SET key value`, answered `OK`.
    fn set(&mut self, key: &str, value: &Bytes) -> impl Future<Output = Result<(), String>> + Send;

    /// `INCR key`.
    fn incr(&mut self, key: &str) -> impl Future<Output = Result<i64, String>> + Send;

    /// `SET key n`, answered `OK`.
    fn set_int(&mut self, key: &str, n: i64) -> impl Future<Output = Result<(), String>> + Send;

    /// `SET key value` for every key as one explicit batch; how many were
    /// answered `OK`.
    fn pipeline_set(
        &mut self,
        keys: &[String],
        value: &Bytes,
    ) -> impl Future<Output = Result<usize, String>> + Send;

    /// Closes the connection the way the client asks to be closed.
    fn close(self) -> impl Future<Output = ()> + Send;

    /// Commands and socket writes so far, for a client that counts them.
    fn writes(&self) -> Option<(u64, u64)> {
        None
    }
}

/// `redis_paired::PairedConnection`, with default options (RESP3).
#[derive(Debug, Clone)]
pub(crate) struct Ours(redis_paired::PairedConnection);

impl Ours {
    /// The connection, for the publisher of the `pubsub` section.
    pub(crate) fn connection(&self) -> &redis_paired::PairedConnection {
        &self.0
    }
}

impl Client for Ours {
    const NAME: &'static str = "redis-paired";
    const ROLE: Role = Role::Ours;
    const PIPELINE: &'static str = "pipeline()";
    type Data = Bytes;

    async fn connect(target: &Target) -> Result<Ours, String> {
        let config = redis_conn::ConnectionConfig::from_url(&target.url)
            .map_err(|e| format!("bad url {}: {e}", target.url))?;
        let conn = redis_paired::PairedConnection::connect(&config)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        Ok(Ours(conn))
    }

    fn get(&mut self, key: &str) -> impl Future<Output = Result<Bytes, String>> + Send {
        let reply = self.0.send::<Bytes>(cmd!("GET", key));
        async move { reply.await.map_err(|e| e.to_string()) }
    }

    fn set(&mut self, key: &str, value: &Bytes) -> impl Future<Output = Result<(), String>> + Send {
        let reply = self.0.send::<resp::Value>(cmd!("SET", key, &value[..]));
        async move { ours_ok(&reply.await.map_err(|e| e.to_string())?) }
    }

    fn incr(&mut self, key: &str) -> impl Future<Output = Result<i64, String>> + Send {
        let reply = self.0.send::<i64>(cmd!("INCR", key));
        async move { reply.await.map_err(|e| e.to_string()) }
    }

    fn set_int(&mut self, key: &str, n: i64) -> impl Future<Output = Result<(), String>> + Send {
        let reply = self.0.send::<resp::Value>(cmd!("SET", key, n));
        async move { ours_ok(&reply.await.map_err(|e| e.to_string())?) }
    }

    fn pipeline_set(
        &mut self,
        keys: &[String],
        value: &Bytes,
    ) -> impl Future<Output = Result<usize, String>> + Send {
        let mut pipeline = self.0.pipeline();
        for key in keys {
            pipeline.push(cmd!("SET", key.as_str(), &value[..]));
        }
        let replies = pipeline.query::<Vec<resp::Value>>();
        async move {
            let replies = replies.await.map_err(|e| e.to_string())?;
            Ok(replies.iter().filter(|v| ours_ok(v).is_ok()).count())
        }
    }

    async fn close(self) {}

    fn writes(&self) -> Option<(u64, u64)> {
        let stats = self.0.stats();
        Some((stats.commands, stats.writes))
    }
}

pub(crate) fn ours_ok(value: &resp::Value) -> Result<(), String> {
    match value {
        resp::Value::SimpleString(s) if s == "OK" => Ok(()),
        other => Err(format!("expected OK, got {other:?}")),
    }
}

/// redis-rs 1.x: `redis::aio::MultiplexedConnection` from
/// `Client::get_multiplexed_async_connection`, with default settings
/// (RESP2, a 500 ms response timeout).
#[derive(Clone)]
pub(crate) struct RedisRs(redis::aio::MultiplexedConnection);

impl Client for RedisRs {
    const NAME: &'static str = "redis-rs";
    const ROLE: Role = Role::Peer;
    const PIPELINE: &'static str = "redis::pipe()";
    type Data = Vec<u8>;

    async fn connect(target: &Target) -> Result<RedisRs, String> {
        let client = redis::Client::open(target.url.as_str()).map_err(|e| e.to_string())?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        Ok(RedisRs(conn))
    }

    async fn get(&mut self, key: &str) -> Result<Vec<u8>, String> {
        redis_rs_get(&mut self.0, key).await
    }

    async fn set(&mut self, key: &str, value: &Bytes) -> Result<(), String> {
        redis_rs_set(&mut self.0, key, value).await
    }

    async fn incr(&mut self, key: &str) -> Result<i64, String> {
        let mut cmd = redis::cmd("INCR");
        cmd.arg(key);
        cmd.query_async(&mut self.0)
            .await
            .map_err(|e| e.to_string())
    }

    async fn set_int(&mut self, key: &str, n: i64) -> Result<(), String> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(n);
        let reply: redis::Value = cmd
            .query_async(&mut self.0)
            .await
            .map_err(|e| e.to_string())?;
        redis_rs_ok(&reply)
    }

    async fn pipeline_set(&mut self, keys: &[String], value: &Bytes) -> Result<usize, String> {
        redis_rs_pipeline_set(&mut self.0, keys, value).await
    }

    async fn close(self) {}
}

pub(crate) fn redis_rs_ok(value: &redis::Value) -> Result<(), String> {
    match value {
        redis::Value::Okay => Ok(()),
        other => Err(format!("expected OK, got {other:?}")),
    }
}

/// `GET` through any redis-rs connection, single-server or cluster.
pub(crate) async fn redis_rs_get(
    conn: &mut impl redis::aio::ConnectionLike,
    key: &str,
) -> Result<Vec<u8>, String> {
    let mut cmd = redis::cmd("GET");
    cmd.arg(key);
    cmd.query_async(conn).await.map_err(|e| e.to_string())
}

/// `SET` through any redis-rs connection, checked for `OK`.
pub(crate) async fn redis_rs_set(
    conn: &mut impl redis::aio::ConnectionLike,
    key: &str,
    value: &Bytes,
) -> Result<(), String> {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(&value[..]);
    let reply: redis::Value = cmd.query_async(conn).await.map_err(|e| e.to_string())?;
    redis_rs_ok(&reply)
}

/// One `redis::pipe()` of `SET`s; how many answered `OK`.
pub(crate) async fn redis_rs_pipeline_set(
    conn: &mut impl redis::aio::ConnectionLike,
    keys: &[String],
    value: &Bytes,
) -> Result<usize, String> {
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.cmd("SET").arg(key).arg(&value[..]);
    }
    let replies: Vec<redis::Value> = pipe.query_async(conn).await.map_err(|e| e.to_string())?;
    Ok(replies.iter().filter(|v| redis_rs_ok(v).is_ok()).count())
}

/// fred 10: one `fred::clients::Client` (one connection, no pool) with
/// fred's default config (RESP2), initialised and connected.
#[derive(Clone)]
pub(crate) struct Fred(fred::clients::Client);

impl Fred {
    /// A client with fred's defaults but for `broadcast_capacity`, the
    /// buffer of each pub/sub message receiver (fred's default is 32).
    pub(crate) async fn connect_with(
        target: &Target,
        broadcast_capacity: Option<usize>,
    ) -> Result<Fred, String> {
        use fred::prelude::{Builder, ClientLike, Config};
        let config = Config::from_url(&target.url).map_err(|e| e.to_string())?;
        let mut builder = Builder::from_config(config);
        if let Some(capacity) = broadcast_capacity {
            builder.with_performance_config(|perf| perf.broadcast_channel_capacity = capacity);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        // `init` connects and waits until the connection is ready; the
        // connection task it returns runs until `quit`.
        let _task = client
            .init()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        Ok(Fred(client))
    }

    /// The client.
    pub(crate) fn client(&self) -> &fred::clients::Client {
        &self.0
    }
}

impl Client for Fred {
    const NAME: &'static str = "fred";
    const ROLE: Role = Role::Peer;
    const PIPELINE: &'static str = "pipeline()";
    type Data = Bytes;

    async fn connect(target: &Target) -> Result<Fred, String> {
        Fred::connect_with(target, None).await
    }

    async fn get(&mut self, key: &str) -> Result<Bytes, String> {
        use fred::prelude::KeysInterface;
        self.0.get::<Bytes, _>(key).await.map_err(|e| e.to_string())
    }

    async fn set(&mut self, key: &str, value: &Bytes) -> Result<(), String> {
        use fred::prelude::KeysInterface;
        let reply: fred::types::Value = self
            .0
            .set(key, value.clone(), None, None, false)
            .await
            .map_err(|e| e.to_string())?;
        fred_ok(&reply)
    }

    async fn incr(&mut self, key: &str) -> Result<i64, String> {
        use fred::prelude::KeysInterface;
        self.0.incr::<i64, _>(key).await.map_err(|e| e.to_string())
    }

    async fn set_int(&mut self, key: &str, n: i64) -> Result<(), String> {
        use fred::prelude::KeysInterface;
        let reply: fred::types::Value = self
            .0
            .set(key, n, None, None, false)
            .await
            .map_err(|e| e.to_string())?;
        fred_ok(&reply)
    }

    async fn pipeline_set(&mut self, keys: &[String], value: &Bytes) -> Result<usize, String> {
        use fred::prelude::KeysInterface;
        let pipeline = self.0.pipeline();
        for key in keys {
            // Resolves as soon as the command is buffered.
            let () = pipeline
                .set(key.as_str(), value.clone(), None, None, false)
                .await
                .map_err(|e| e.to_string())?;
        }
        let replies: Vec<fred::types::Value> = pipeline.all().await.map_err(|e| e.to_string())?;
        Ok(replies.iter().filter(|v| fred_ok(v).is_ok()).count())
    }

    async fn close(self) {
        use fred::prelude::ClientLike;
        let _ = self.0.quit().await;
    }
}

fn fred_ok(value: &fred::types::Value) -> Result<(), String> {
    if value.is_ok() {
        Ok(())
    } else {
        Err(format!("expected OK, got {value:?}"))
    }
}

/// redis-async 0.18: `redis_async::client::PairedConnection` from
/// `paired_connect` (RESP2). It has no pipeline API: a batch is every
/// command sent, then every reply awaited.
#[derive(Clone)]
pub(crate) struct RedisAsync(redis_async::client::PairedConnection);

impl Client for RedisAsync {
    const NAME: &'static str = "redis-async";
    const ROLE: Role = Role::Peer;
    const PIPELINE: &'static str = "no pipeline API: 1000 sends, then 1000 awaits";
    type Data = Vec<u8>;

    async fn connect(target: &Target) -> Result<RedisAsync, String> {
        let conn = redis_async::client::paired_connect("127.0.0.1", target.port)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        Ok(RedisAsync(conn))
    }

    fn get(&mut self, key: &str) -> impl Future<Output = Result<Vec<u8>, String>> + Send {
        let reply = self.0.send::<Vec<u8>>(resp_array!["GET", key]);
        async move { reply.await.map_err(|e| e.to_string()) }
    }

    fn set(&mut self, key: &str, value: &Bytes) -> impl Future<Output = Result<(), String>> + Send {
        let reply = self
            .0
            .send::<RespValue>(resp_array!["SET", key, value.to_vec()]);
        async move { redis_async_ok(reply.await.map_err(|e| e.to_string())?) }
    }

    fn incr(&mut self, key: &str) -> impl Future<Output = Result<i64, String>> + Send {
        let reply = self.0.send::<i64>(resp_array!["INCR", key]);
        async move { reply.await.map_err(|e| e.to_string()) }
    }

    fn set_int(&mut self, key: &str, n: i64) -> impl Future<Output = Result<(), String>> + Send {
        // Redis wants every argument as a bulk string; an integer frame in a
        // command is a protocol error.
        let reply = self
            .0
            .send::<RespValue>(resp_array!["SET", key, n.to_string()]);
        async move { redis_async_ok(reply.await.map_err(|e| e.to_string())?) }
    }

    fn pipeline_set(
        &mut self,
        keys: &[String],
        value: &Bytes,
    ) -> impl Future<Output = Result<usize, String>> + Send {
        let replies: Vec<_> = keys
            .iter()
            .map(|key| {
                self.0
                    .send::<RespValue>(resp_array!["SET", key.as_str(), value.to_vec()])
            })
            .collect();
        async move {
            let mut ok = 0;
            for reply in replies {
                if redis_async_ok(reply.await.map_err(|e| e.to_string())?).is_ok() {
                    ok += 1;
                }
            }
            Ok(ok)
        }
    }

    async fn close(self) {}
}

fn redis_async_ok(value: RespValue) -> Result<(), String> {
    match value {
        RespValue::SimpleString(s) if s == "OK" => Ok(()),
        other => Err(format!("expected OK, got {other:?}")),
    }
}
