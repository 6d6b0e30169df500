//! What the live tests share: the server to use, a plain connection that
//! publishes and asks `PUBSUB NUMSUB`, and waiting for stream events.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use redis_conn::{Connection, ConnectionConfig, Protocol};
use redis_pubsub::{Event, Message, Subscription};
use resp::{cmd, Command, FromValue, Value};
use tokio::time::{timeout, Instant};

/// How long anything in these tests may take before it counts as hung.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The server of `cargo xtask test` (`REDIS_URL`), or one started for this
/// test binary.
pub fn url() -> String {
    xtask::shared_url()
}

pub fn config(url: &str, protocol: Protocol) -> ConnectionConfig {
    ConnectionConfig::from_url(url)
        .expect("url parses")
        .with_protocol(protocol)
}

/// A plain connection that publishes and inspects the server.
pub struct Client {
    conn: Connection,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let config: ConnectionConfig = url.parse().expect("url parses");
        let conn = redis_conn::connect(&config)
            .await
            .expect("publisher connects");
        Client { conn }
    }

    pub async fn query<T: FromValue>(&mut self, cmd: Command) -> T {
        let reply = self.conn.send(cmd).await.expect("command succeeds");
        T::from_value(reply).expect("reply converts")
    }

    /// `PUBLISH`; returns how many subscribers got it.
    pub async fn publish(&mut self, channel: impl AsRef<[u8]>, payload: impl AsRef<[u8]>) -> i64 {
        self.query(cmd!("PUBLISH", channel.as_ref(), payload.as_ref()))
            .await
    }

    /// `SPUBLISH`; returns how many subscribers got it.
    pub async fn spublish(&mut self, channel: impl AsRef<[u8]>, payload: impl AsRef<[u8]>) -> i64 {
        self.query(cmd!("SPUBLISH", channel.as_ref(), payload.as_ref()))
            .await
    }

    /// Sends every command in one pipeline and reads all the replies.
    pub async fn pipeline(&mut self, commands: impl IntoIterator<Item = Command>) -> Vec<Value> {
        let mut n = 0;
        for command in commands {
            self.conn.feed(command).await.expect("queued");
            n += 1;
        }
        self.conn.flush().await.expect("flushed");
        let mut replies = Vec::with_capacity(n);
        for _ in 0..n {
            let reply = self
                .conn
                .next()
                .await
                .expect("a reply")
                .expect("not an error");
            replies.push(reply);
        }
        replies
    }

    /// The subscriber count of `channel` (`PUBSUB NUMSUB`, or `SHARDNUMSUB`
    /// for shard channels).
    pub async fn numsub(&mut self, channel: &[u8], shard: bool) -> i64 {
        let sub = if shard { "SHARDNUMSUB" } else { "NUMSUB" };
        let pairs: Vec<(Bytes, i64)> = self.query(cmd!("PUBSUB", sub, channel)).await;
        pairs.first().map_or(0, |(_, n)| *n)
    }

    /// Polls until `channel` has `want` subscribers.
    pub async fn wait_numsub(&mut self, channel: &[u8], shard: bool, want: i64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let n = self.numsub(channel, shard).await;
            if n == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} has {n} subscribers, want {want}",
                String::from_utf8_lossy(channel)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Polls until the server has `want` pattern subscriptions in all.
    pub async fn wait_numpat(&mut self, want: i64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let n: i64 = self.query(cmd!("PUBSUB", "NUMPAT")).await;
            if n == want {
                return;
            }
            assert!(Instant::now() < deadline, "{n} patterns, want {want}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The next event, failing the test if none comes in time.
pub async fn next_event(sub: &mut Subscription) -> Event {
    timeout(PATIENCE, sub.next())
        .await
        .expect("an event in time")
        .expect("the stream has not ended")
}

/// The next event, which must be a message.
pub async fn next_message(sub: &mut Subscription) -> Message {
    match next_event(sub).await {
        Event::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// A name no other test uses, so that tests can share a server.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}:{}:{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
