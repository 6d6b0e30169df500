//! Live fault tests: a server each test starts itself is killed, restarted,
//! paused and resumed under the subscriptions.

mod support;

use std::time::Duration;

use redis_conn::{ConnectionConfig, Error, Protocol, ReconnectPolicy};
use redis_pubsub::{Event, PubsubConnection, PubsubOptions, Subscription};
use support::{next_event, next_message, Client, PATIENCE};
use tokio::time::{timeout, Instant};
use xtask::RedisServer;

fn config(server: &RedisServer, protocol: Protocol) -> ConnectionConfig {
    support::config(&server.url(), protocol)
        .with_connect_timeout(Duration::from_millis(500))
        .with_reconnect(ReconnectPolicy::default().with_max(Duration::from_millis(100)))
}

async fn expect_disconnected(sub: &mut Subscription) -> Error {
    match next_event(sub).await {
        Event::Disconnected(e) => e,
        other => panic!("expected the disconnection, got {other:?}"),
    }
}

async fn expect_resubscribed(sub: &mut Subscription) {
    match next_event(sub).await {
        Event::Resubscribed => {}
        other => panic!("expected the resubscription, got {other:?}"),
    }
}

async fn a_restart_is_survived_without_user_code(protocol: Protocol) {
    let mut server = RedisServer::start().expect("server starts");
    let conn = PubsubConnection::connect(&config(&server, protocol))
        .await
        .unwrap();
    let mut channel = conn.subscribe(["news", "weather"]).await.unwrap();
    let mut second = conn.subscribe("news").await.unwrap();
    let mut pattern = conn.psubscribe("sport.*").await.unwrap();
    let mut shard = conn.ssubscribe("orders").await.unwrap();

    server.kill();
    for sub in [&mut channel, &mut second, &mut pattern, &mut shard] {
        let error = expect_disconnected(sub).await;
        assert!(
            error.is_connection() || matches!(error, Error::Protocol(_)),
            "{error:?}"
        );
    }
    // Subscribing while down fails fast, saying why.
    let err = conn.subscribe("while-down").await.unwrap_err();
    assert!(matches!(err, Error::Connection(_)), "{err:?}");
    assert!(conn.status().is_err());

    server.restart().expect("server restarts");
    for sub in [&mut channel, &mut second, &mut pattern, &mut shard] {
        expect_resubscribed(sub).await;
    }
    assert!(conn.status().is_ok());
    let mut client = Client::connect(&server.url()).await;
    assert_eq!(client.numsub(b"news", false).await, 1);
    assert_eq!(client.numsub(b"weather", false).await, 1);
    assert_eq!(client.numsub(b"while-down", false).await, 0);
    client.wait_numpat(1).await;
    assert_eq!(client.numsub(b"orders", true).await, 1);

    client.publish("news", "after").await;
    client.publish("weather", "sunny").await;
    client.publish("sport.tennis", "ace").await;
    client.spublish("orders", "42").await;
    assert_eq!(next_message(&mut channel).await.payload_str(), Ok("after"));
    assert_eq!(next_message(&mut channel).await.payload_str(), Ok("sunny"));
    assert_eq!(next_message(&mut second).await.payload_str(), Ok("after"));
    let m = next_message(&mut pattern).await;
    assert_eq!(
        (m.channel_str(), m.payload_str()),
        (Ok("sport.tennis"), Ok("ace"))
    );
    assert_eq!(next_message(&mut shard).await.payload_str(), Ok("42"));

    // New subscriptions work too, and a second restart is survived the same way.
    let mut later = conn.subscribe("later").await.unwrap();
    server.restart().expect("server restarts");
    expect_disconnected(&mut later).await;
    expect_resubscribed(&mut later).await;
    let mut client = Client::connect(&server.url()).await;
    client.publish("later", "still").await;
    assert_eq!(next_message(&mut later).await.payload_str(), Ok("still"));
}

#[tokio::test]
async fn a_restart_is_survived_without_user_code_resp3() {
    a_restart_is_survived_without_user_code(Protocol::Resp3).await;
}

#[tokio::test]
async fn a_restart_is_survived_without_user_code_resp2() {
    a_restart_is_survived_without_user_code(Protocol::Resp2).await;
}

#[tokio::test]
async fn a_stream_dropped_while_down_is_not_resubscribed() {
    let mut server = RedisServer::start().expect("server starts");
    let conn = PubsubConnection::connect(&config(&server, Protocol::Resp3))
        .await
        .unwrap();
    let mut kept = conn.subscribe("kept").await.unwrap();
    let mut gone = conn.subscribe("gone").await.unwrap();
    server.kill();
    expect_disconnected(&mut kept).await;
    expect_disconnected(&mut gone).await;
    drop(gone);
    server.restart().expect("server restarts");
    expect_resubscribed(&mut kept).await;
    let mut client = Client::connect(&server.url()).await;
    assert_eq!(client.numsub(b"kept", false).await, 1);
    assert_eq!(client.numsub(b"gone", false).await, 0);
}

#[tokio::test]
async fn without_reconnecting_streams_end_and_subscribing_fails() {
    let mut server = RedisServer::start().expect("server starts");
    let config = config(&server, Protocol::Resp3).with_reconnect(ReconnectPolicy::disabled());
    let conn = PubsubConnection::connect(&config).await.unwrap();
    let mut sub = conn.subscribe("once").await.unwrap();
    server.kill();
    expect_disconnected(&mut sub).await;
    let end = tokio::time::timeout(PATIENCE, futures_util::StreamExt::next(&mut sub)).await;
    assert!(matches!(end, Ok(None)), "the stream ends");
    let err = conn.subscribe("once").await.unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
}

#[tokio::test]
async fn a_silent_server_is_given_up_and_recovered_from() {
    let server = RedisServer::start().expect("server starts");
    let options = PubsubOptions::default()
        .with_ping_interval(Duration::from_millis(100))
        .with_response_timeout(Duration::from_millis(300));
    let conn = PubsubConnection::connect_with(&config(&server, Protocol::Resp3), options)
        .await
        .unwrap();
    let mut sub = conn.subscribe("quiet").await.unwrap();
    server.pause();
    let error = expect_disconnected(&mut sub).await;
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    server.resume();
    expect_resubscribed(&mut sub).await;
    let mut client = Client::connect(&server.url()).await;
    client.publish("quiet", "awake").await;
    assert_eq!(next_message(&mut sub).await.payload_str(), Ok("awake"));
}

#[tokio::test]
async fn resubscribing_after_a_restart_follows_the_server_at_once() {
    let mut server = RedisServer::start().expect("server starts");
    // The default policy: the first attempt at once, then every 5 to 10 ms.
    let config = support::config(&server.url(), Protocol::Resp3);
    let conn = PubsubConnection::connect(&config).await.unwrap();
    let mut sub = conn.subscribe("restarts").await.unwrap();
    let mut delays = Vec::new();
    for _ in 0..5 {
        server.restart().expect("server restarts");
        let accepting = tokio::time::Instant::now();
        expect_disconnected(&mut sub).await;
        expect_resubscribed(&mut sub).await;
        delays.push(accepting.elapsed());
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    println!("resubscribed {median:?} (median) after the server accepted connections: {delays:?}");
    assert!(median < Duration::from_secs(1), "{delays:?}");
    let mut client = Client::connect(&server.url()).await;
    client.publish("restarts", "still here").await;
    assert_eq!(next_message(&mut sub).await.payload_str(), Ok("still here"));
}

/// Streams of the outage test: channels, and one pattern.
const STREAMS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_back_right_after_outages_of_half_a_second_to_ten() {
    let mut server = RedisServer::start().expect("server starts");
    // The default policy, as a user gets it.
    let config = support::config(&server.url(), Protocol::Resp3)
        .with_connect_timeout(Duration::from_millis(500));
    let conn = PubsubConnection::connect(&config).await.unwrap();
    // Each stream is read by a task of its own, which notes when each event
    // came: the test itself is busy restarting the server meanwhile.
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..STREAMS {
        let mut sub = if i == 0 {
            conn.psubscribe("outage.*").await.unwrap()
        } else {
            conn.subscribe(format!("outage.{i}")).await.unwrap()
        };
        let events_tx = events_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = futures_util::StreamExt::next(&mut sub).await {
                if events_tx.send((i, Instant::now(), event)).is_err() {
                    return;
                }
            }
        });
    }
    for (round, outage) in [
        Duration::from_millis(500),
        Duration::from_secs(2),
        Duration::from_secs(10),
    ]
    .into_iter()
    .enumerate()
    {
        let restarted = tokio::task::spawn_blocking(move || {
            let ready = server.restart_after(outage).expect("server restarts");
            (server, Instant::from_std(ready))
        });
        let mut resubscribed = vec![None; STREAMS];
        while resubscribed.iter().any(Option::is_none) {
            let (i, at, event) = timeout(PATIENCE + outage, events.recv())
                .await
                .expect("an event in time")
                .expect("the streams are alive");
            match event {
                Event::Disconnected(_) => assert!(resubscribed[i].is_none()),
                Event::Resubscribed => resubscribed[i] = Some(at),
                other => panic!("stream {i}: unexpected {other:?}"),
            }
        }
        let ready;
        (server, ready) = restarted.await.expect("the restart did not panic");
        let mut delays: Vec<Duration> = resubscribed
            .into_iter()
            .map(|at| at.map_or(Duration::MAX, |at| at.saturating_duration_since(ready)))
            .collect();
        delays.sort();
        let (median, max) = (delays[STREAMS / 2], delays[STREAMS - 1]);
        eprintln!(
            "outage {outage:?}: subscribed again {median:?} (median over {STREAMS} streams, \
             max {max:?}) after the server answered"
        );
        // Generous: the policy notices a return within 10 ms, but the
        // machine is shared.
        assert!(median < Duration::from_millis(100), "median {median:?}");
        assert!(max < Duration::from_secs(1), "max {max:?}");

        // Every stream hears what is published from now on.
        let mut client = Client::connect(&server.url()).await;
        for i in 1..STREAMS {
            client
                .publish(format!("outage.{i}"), format!("{round}"))
                .await;
        }
        let mut heard = vec![0; STREAMS];
        while heard.iter().sum::<usize>() < 2 * (STREAMS - 1) {
            let (i, _, event) = timeout(PATIENCE, events.recv())
                .await
                .expect("a message in time")
                .expect("the streams are alive");
            match event {
                Event::Message(m) => {
                    assert_eq!(m.payload_str(), Ok(format!("{round}").as_str()));
                    heard[i] += 1;
                }
                other => panic!("stream {i}: unexpected {other:?}"),
            }
        }
        // The pattern hears every channel; each channel its own message.
        assert_eq!(heard[0], STREAMS - 1);
        assert!(heard[1..].iter().all(|&n| n == 1), "{heard:?}");
    }
}
