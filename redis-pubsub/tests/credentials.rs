//! Live tests of credentials that expire on a subscribed connection: on
//! RESP3 they are renewed with `AUTH` on the live connection, messages
//! flowing; on RESP2, where a subscribed connection may not send `AUTH`,
//! at the next reconnect. Each test starts its own server.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_conn::{ConnectionConfig, Credentials, Protocol};
use redis_pubsub::{Event, PubsubConnection};
use resp::cmd;
use support::{next_event, Client, PATIENCE};
use tokio::time::Instant;
use xtask::RedisServer;

fn server() -> RedisServer {
    RedisServer::builder()
        .password("admin")
        .acl_user("app on >first ~* &* +@all")
        .start()
        .expect("server starts")
}

/// A config whose provider gives `app` and the password in `password`,
/// valid for 600 ms.
fn config(
    server: &RedisServer,
    protocol: Protocol,
    password: &Arc<Mutex<String>>,
) -> ConnectionConfig {
    let password = password.clone();
    let provider = move || {
        let credentials = Credentials::new("app", password.lock().unwrap().clone())
            .with_lifetime(Duration::from_millis(600));
        async move { Ok(credentials) }
    };
    format!("redis://127.0.0.1:{}", server.port())
        .parse::<ConnectionConfig>()
        .unwrap()
        .with_protocol(protocol)
        .with_credentials_provider(Arc::new(provider))
}

/// Successful `AUTH` commands the server ran.
async fn auths(admin: &mut Client) -> u64 {
    let info: String = admin.query(cmd!("INFO", "commandstats")).await;
    let line = info
        .lines()
        .find(|l| l.starts_with("cmdstat_auth:"))
        .unwrap_or("");
    let field = |name: &str| -> u64 {
        line.split([':', ','])
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    field("calls") - field("failed_calls")
}

/// The `id` and `user` of the only pub/sub connection the server has.
async fn subscriber(admin: &mut Client) -> (String, String) {
    let list: String = admin.query(cmd!("CLIENT", "LIST", "TYPE", "pubsub")).await;
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 1, "{list}");
    let field = |name: &str| {
        lines[0]
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_default()
            .to_owned()
    };
    (field("id"), field("user"))
}

#[tokio::test]
async fn resp3_renews_expiring_credentials_on_the_live_subscription() {
    let server = server();
    let mut admin = Client::connect(&format!("redis://:admin@127.0.0.1:{}", server.port())).await;
    let password = Arc::new(Mutex::new("first".to_string()));
    let conn = PubsubConnection::connect(&config(&server, Protocol::Resp3, &password))
        .await
        .unwrap();
    let mut sub = conn.subscribe("news").await.unwrap();
    let (id, user) = subscriber(&mut admin).await;
    assert_eq!(user, "app");
    let before = auths(&mut admin).await;
    // Rotated meanwhile: later renewals use the new password.
    let () = admin
        .query(cmd!("ACL", "SETUSER", "app", "resetpass", ">second"))
        .await;
    *password.lock().unwrap() = "second".into();
    let start = Instant::now();
    let mut n = 0u64;
    while auths(&mut admin).await < before + 3 {
        assert!(start.elapsed() < PATIENCE, "no renewal");
        n += 1;
        let _: i64 = admin.query(cmd!("PUBLISH", "news", n.to_string())).await;
        match next_event(&mut sub).await {
            Event::Message(m) => assert_eq!(m.payload_str(), Ok(n.to_string().as_str())),
            other => panic!("a renewal disturbed the subscription: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The same connection, still the right user, still subscribed.
    assert_eq!(subscriber(&mut admin).await, (id, "app".to_string()));
    let _: i64 = admin.query(cmd!("PUBLISH", "news", "last")).await;
    match next_event(&mut sub).await {
        Event::Message(m) => assert_eq!(m.payload_str(), Ok("last")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn resp2_keeps_a_subscription_and_renews_at_the_next_reconnect() {
    let server = server();
    let mut admin = Client::connect(&format!("redis://:admin@127.0.0.1:{}", server.port())).await;
    let password = Arc::new(Mutex::new("first".to_string()));
    let conn = PubsubConnection::connect(&config(&server, Protocol::Resp2, &password))
        .await
        .unwrap();
    let mut sub = conn.subscribe("news").await.unwrap();
    let (id, _) = subscriber(&mut admin).await;
    // Well past the renewal time: no AUTH was sent (the server would have
    // refused it), and the subscription is whole.
    let before = auths(&mut admin).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(auths(&mut admin).await, before);
    let _: i64 = admin.query(cmd!("PUBLISH", "news", "still here")).await;
    match next_event(&mut sub).await {
        Event::Message(m) => assert_eq!(m.payload_str(), Ok("still here")),
        other => panic!("{other:?}"),
    }
    // A reconnect authenticates with what the provider gives then.
    let () = admin
        .query(cmd!("ACL", "SETUSER", "app", "resetpass", ">second"))
        .await;
    *password.lock().unwrap() = "second".into();
    let _: i64 = admin.query(cmd!("CLIENT", "KILL", "ID", id.as_str())).await;
    assert!(matches!(next_event(&mut sub).await, Event::Disconnected(_)));
    assert!(matches!(next_event(&mut sub).await, Event::Resubscribed));
    let (new_id, user) = subscriber(&mut admin).await;
    assert_ne!(new_id, id);
    assert_eq!(user, "app");
}
