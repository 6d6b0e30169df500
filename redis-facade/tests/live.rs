//! Live tests of the facade against the server `cargo xtask test` provides
//! (`REDIS_URL`), or one started for each test when it is not set.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use redis_facade::prelude::*;
use redis_facade::{paired_connect, pubsub_connect};
use xtask::TestServer;

/// The server under test: `REDIS_URL` when set, or one started for this
/// test alone (and stopped when the test ends).
struct Server(TestServer);

impl Server {
    fn get() -> Server {
        Server(TestServer::get().expect("redis-server starts"))
    }

    fn client(&self) -> Client {
        Client::open(self.0.url()).unwrap()
    }
}

/// Waits for a stream's next item, for at most a few seconds.
async fn next<S: futures_util::Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item within 5 s")
        .expect("the stream goes on")
}

#[tokio::test]
async fn every_kind_of_connection_opens_from_one_client() {
    let server = Server::get();
    let client = server.client();

    let paired = client.paired().await.unwrap();
    paired.set("facade:kinds", "paired").await.unwrap();
    let value: Option<String> = paired.get("facade:kinds").await.unwrap();
    assert_eq!(value.as_deref(), Some("paired"));

    let options = redis_facade::Options::new().with_response_timeout(Duration::from_secs(2));
    let with_options = client.clone().paired_with(options).await.unwrap();
    assert_eq!(
        with_options.options().response_timeout(),
        Duration::from_secs(2)
    );

    // WATCH needs a connection of its own.
    let exclusive = client.exclusive().await.unwrap();
    let _: () = exclusive.send(cmd!("WATCH", "facade:kinds")).await.unwrap();
    let (n,): (i64,) = exclusive
        .transaction()
        .add(cmd!("INCR", "facade:kinds:n"))
        .query()
        .await
        .unwrap();
    assert!(n >= 1);

    // The raw connection: one exchange, then the Sink and Stream by hand.
    let mut raw = client.connect().await.unwrap();
    let pong = raw.send(cmd!("PING")).await.unwrap();
    assert_eq!(pong, Value::SimpleString("PONG".into()));
    SinkExt::send(&mut raw, cmd!("ECHO", "raw")).await.unwrap();
    let echo = next(&mut raw).await.unwrap();
    assert_eq!(echo, Value::BulkString("raw".into()));
}

#[tokio::test]
async fn subscriptions_receive_what_the_paired_connection_publishes() {
    let server = Server::get();
    let client = server.client();
    let subscriber = client.pubsub().await.unwrap();
    let mut news = subscriber.subscribe("facade:news").await.unwrap();
    let publisher = client.paired().await.unwrap();
    let receivers = publisher.publish("facade:news", "hello").await.unwrap();
    assert_eq!(receivers, 1);
    match next(&mut news).await {
        Event::Message(message) => {
            assert_eq!(&message.channel()[..], b"facade:news");
            assert_eq!(&message.payload()[..], b"hello");
        }
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn the_shortcuts_connect_from_a_url() {
    let server = Server::get();
    let conn = paired_connect(server.0.url()).await.unwrap();
    let pubsub = pubsub_connect(server.0.url()).await.unwrap();
    let mut messages = pubsub
        .psubscribe("facade:short:*")
        .await
        .unwrap()
        .into_messages();
    // The redis-async way of building a command still works.
    let n: i64 = conn
        .send(resp_array!["PUBLISH", "facade:short:1", "hi"])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let message = next(&mut messages).await;
    assert_eq!(
        message.pattern().map(|p| &p[..]),
        Some(&b"facade:short:*"[..])
    );

    let err = paired_connect("redis://127.0.0.1:0").await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

#[tokio::test]
async fn many_tasks_share_one_socket() {
    let server = Server::get();
    let conn = server.client().paired().await.unwrap();
    conn.del("facade:shared").await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    conn.incr("facade:shared").await?;
                }
                Ok::<_, Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let total: i64 = conn.send(cmd!("GET", "facade:shared")).await.unwrap();
    assert_eq!(total, 1000);
    let stats = conn.stats();
    assert!(
        stats.commands >= 1001 && stats.writes <= stats.commands,
        "{stats:?}"
    );
}

#[cfg(feature = "serde")]
mod serde_values {
    use std::collections::HashMap;

    use redis_facade::{from_hash, to_hash_fields};
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct User {
        name: String,
        visits: u32,
        email: Option<String>,
    }

    fn ada() -> User {
        User {
            name: "Ada".into(),
            visits: 3,
            email: Some("ada@example.com".into()),
        }
    }

    #[tokio::test]
    async fn json_values_are_stored_and_read_with_one_call_each() {
        let server = Server::get();
        let conn = server.client().paired().await.unwrap();

        conn.set("facade:json:user", Json(&ada())).await.unwrap();
        let user: Option<Json<User>> = conn.get("facade:json:user").await.unwrap();
        assert_eq!(user, Some(Json(ada())));
        let stored: String = conn.send(cmd!("GET", "facade:json:user")).await.unwrap();
        assert_eq!(
            stored,
            r#"{"name":"Ada","visits":3,"email":"ada@example.com"}"#
        );

        conn.del("facade:json:missing").await.unwrap();
        let missing: Option<Json<User>> = conn.get("facade:json:missing").await.unwrap();
        assert_eq!(missing, None);

        // A stored value that is not JSON of the type is a conversion error
        // naming the type; the connection goes on.
        conn.set("facade:json:bad", "not json").await.unwrap();
        let err = conn.get::<Json<User>>("facade:json:bad").await.unwrap_err();
        match &err {
            Error::Conversion { target, found, .. } => {
                assert!(target.ends_with("User"), "{err}");
                assert_eq!(*found, "bulk string that is not valid JSON");
                assert!(err.to_string().ends_with(": \"not json\""), "{err}");
            }
            other => panic!("expected a conversion error, got {other:?}"),
        }
        let Json(user): Json<User> = conn.send(cmd!("GET", "facade:json:user")).await.unwrap();
        assert_eq!(user, ada());
    }

    #[tokio::test]
    async fn structs_are_stored_as_hashes_and_read_back() {
        let server = Server::get();
        let conn = server.client().paired().await.unwrap();
        conn.del("facade:hash:user").await.unwrap();

        let fields = to_hash_fields(&ada()).unwrap();
        assert_eq!(
            conn.hset_multiple("facade:hash:user", &fields)
                .await
                .unwrap(),
            3
        );
        // The fields are plain text, so the server can work on them.
        assert_eq!(
            conn.hincr_by("facade:hash:user", "visits", 1)
                .await
                .unwrap(),
            4
        );

        let user: User = from_hash(conn.hgetall("facade:hash:user").await.unwrap()).unwrap();
        assert_eq!(user, User { visits: 4, ..ada() });

        // None is left out, and read back as None.
        conn.del("facade:hash:user").await.unwrap();
        let anonymous = User {
            email: None,
            ..ada()
        };
        conn.hset_multiple("facade:hash:user", to_hash_fields(&anonymous).unwrap())
            .await
            .unwrap();
        let fields: HashMap<String, String> = conn.hgetall("facade:hash:user").await.unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(from_hash::<User>(fields).unwrap(), anonymous);

        // A field the server changed into something else is a conversion error.
        let _: bool = conn
            .hset("facade:hash:user", "visits", "lots")
            .await
            .unwrap();
        let err = from_hash::<User>(conn.hgetall("facade:hash:user").await.unwrap()).unwrap_err();
        assert!(matches!(err, Error::Conversion { .. }), "{err:?}");
    }
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;

    #[tokio::test]
    async fn rediss_urls_connect_over_tls() {
        let server = xtask::RedisServer::builder().tls().start().unwrap();
        let url = format!("rediss://127.0.0.1:{}", server.tls_port().unwrap());
        let config = redis_facade::ConnectionConfig::from_url(&url)
            .unwrap()
            .with_tls_root_pem(server.tls_ca_cert_pem().unwrap());
        let client = Client::new(config);
        assert!(client.config().is_tls());

        let conn = client.paired().await.unwrap();
        let mut sub = client
            .pubsub()
            .await
            .unwrap()
            .subscribe("tls")
            .await
            .unwrap();
        assert_eq!(conn.publish("tls", "secret").await.unwrap(), 1);
        match next(&mut sub).await {
            Event::Message(message) => assert_eq!(&message.payload()[..], b"secret"),
            other => panic!("expected a message, got {other:?}"),
        }
        let raw = client.connect().await.unwrap();
        assert!(raw.stream().is_tls());
    }
}
