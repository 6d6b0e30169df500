//! Live tests against the server `cargo xtask test` provides (`REDIS_URL`),
//! or one started here when it is not set. Each runs on RESP3 and RESP2
//! where the protocol matters.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis_conn::{Error, Protocol};
use redis_pubsub::{Event, Kind, PubsubConnection, PubsubOptions};
use resp::cmd;
use support::{config, next_event, next_message, unique, url, Client, PATIENCE};
use tokio::time::timeout;

const PROTOCOLS: [Protocol; 2] = [Protocol::Resp3, Protocol::Resp2];

async fn connect(protocol: Protocol) -> PubsubConnection {
    PubsubConnection::connect(&config(&url(), protocol))
        .await
        .expect("connects")
}

#[tokio::test]
async fn subscribe_and_receive() {
    let mut client = Client::connect(&url()).await;
    for protocol in PROTOCOLS {
        let conn = connect(protocol).await;
        let channel = unique("basic");
        let mut sub = conn.subscribe(channel.as_str()).await.unwrap();
        assert_eq!(sub.kind(), Kind::Channel);
        assert_eq!(sub.channels(), &[Bytes::from(channel.clone())]);
        assert_eq!(client.publish(&channel, "hello").await, 1, "{protocol:?}");
        let m = next_message(&mut sub).await;
        assert_eq!(m.kind(), Kind::Channel);
        assert_eq!(m.channel_str(), Ok(channel.as_str()));
        assert_eq!(m.pattern(), None);
        assert_eq!(m.payload_str(), Ok("hello"));
    }
}

#[tokio::test]
async fn psubscribe_sees_the_real_channel_and_the_pattern() {
    let mut client = Client::connect(&url()).await;
    for protocol in PROTOCOLS {
        let conn = connect(protocol).await;
        let prefix = unique("pattern");
        let pattern = format!("{prefix}.*");
        let mut sub = conn.psubscribe(pattern.as_str()).await.unwrap();
        assert_eq!(sub.kind(), Kind::Pattern);
        let channel = format!("{prefix}.eu");
        assert_eq!(client.publish(&channel, "p").await, 1, "{protocol:?}");
        let m = next_message(&mut sub).await;
        assert_eq!(m.kind(), Kind::Pattern);
        assert_eq!(m.channel_str(), Ok(channel.as_str()));
        assert_eq!(m.pattern().map(|p| &p[..]), Some(pattern.as_bytes()));
        assert_eq!(m.payload_str(), Ok("p"));
    }
}

#[tokio::test]
async fn ssubscribe_receives_spublish() {
    let mut client = Client::connect(&url()).await;
    for protocol in PROTOCOLS {
        let conn = connect(protocol).await;
        let a = unique("shard");
        let b = unique("shard");
        let mut sub = conn.ssubscribe([a.as_str(), b.as_str()]).await.unwrap();
        assert_eq!(sub.kind(), Kind::Shard);
        client.wait_numsub(a.as_bytes(), true, 1).await;
        assert_eq!(client.spublish(&b, "s").await, 1, "{protocol:?}");
        let m = next_message(&mut sub).await;
        assert_eq!(
            (m.kind(), m.channel_str(), m.payload_str()),
            (Kind::Shard, Ok(b.as_str()), Ok("s"))
        );
        drop(sub);
        client.wait_numsub(a.as_bytes(), true, 0).await;
        client.wait_numsub(b.as_bytes(), true, 0).await;
    }
}

#[tokio::test]
async fn local_subscribers_share_one_server_subscription() {
    let mut client = Client::connect(&url()).await;
    for protocol in PROTOCOLS {
        let conn = connect(protocol).await;
        let channel = unique("shared");
        let mut first = conn.subscribe(channel.as_str()).await.unwrap();
        let mut second = conn.clone().subscribe(channel.as_str()).await.unwrap();
        assert_eq!(client.numsub(channel.as_bytes(), false).await, 1);
        assert_eq!(
            client.publish(&channel, "both").await,
            1,
            "one server subscriber"
        );
        assert_eq!(next_message(&mut first).await.payload_str(), Ok("both"));
        assert_eq!(next_message(&mut second).await.payload_str(), Ok("both"));

        drop(first);
        client.publish(&channel, "second only").await;
        assert_eq!(
            next_message(&mut second).await.payload_str(),
            Ok("second only")
        );
        assert_eq!(client.numsub(channel.as_bytes(), false).await, 1);

        second.unsubscribe();
        client.wait_numsub(channel.as_bytes(), false, 0).await;
    }
}

#[tokio::test]
async fn binary_channels_and_payloads_arrive_intact() {
    let mut client = Client::connect(&url()).await;
    let every_byte: Vec<u8> = (0..=255u8).collect();
    for protocol in PROTOCOLS {
        let conn = connect(protocol).await;
        let mut channel = unique("binary").into_bytes();
        channel.extend_from_slice(b":\xff\x00\r\n");
        let mut sub = conn.subscribe(channel.clone()).await.unwrap();
        let mut psub = conn.psubscribe(&b"binary:*\xff*"[..]).await.unwrap();
        client.publish(&channel, &every_byte).await;
        client.publish(&channel, b"\xc3\x28 invalid utf-8").await;
        for sub in [&mut sub, &mut psub] {
            let m = next_message(sub).await;
            assert_eq!(&m.channel()[..], &channel[..]);
            assert_eq!(&m.payload()[..], &every_byte[..]);
            assert!(m.payload_str().is_err());
            assert!(m.channel_str().is_err());
            let m = next_message(sub).await;
            assert_eq!(&m.payload()[..], b"\xc3\x28 invalid utf-8");
            assert!(m.payload_str().is_err());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_messages_arrive_in_order() {
    const N: usize = 100_000;
    let mut client = Client::connect(&url()).await;
    for protocol in PROTOCOLS {
        let conn = connect(protocol).await;
        let channel = unique("flood");
        // One stream big enough to hold everything, one with the default
        // buffer: the first must see every message, the second whatever it
        // kept up with, in order, with exact counts of the rest.
        let all = conn
            .with_buffer_capacity(N)
            .subscribe(channel.as_str())
            .await
            .unwrap();
        let default = conn.subscribe(channel.as_str()).await.unwrap();
        let read_all = tokio::spawn(async move {
            let mut all = all;
            for i in 0..N {
                let m = support::next_message(&mut all).await;
                assert_eq!(m.payload_str(), Ok(i.to_string().as_str()), "message {i}");
            }
        });
        let read_default = tokio::spawn(async move {
            let mut default = default;
            let (mut seen, mut lagged, mut last) = (0, 0, None::<usize>);
            while seen + lagged < N as u64 {
                match support::next_event(&mut default).await {
                    Event::Message(m) => {
                        let i: usize = m.payload_str().unwrap().parse().unwrap();
                        assert!(
                            last.is_none_or(|l| i > l),
                            "out of order: {i} after {last:?}"
                        );
                        last = Some(i);
                        seen += 1;
                    }
                    Event::Lagged(n) => lagged += n,
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(seen + lagged, N as u64);
            (seen, lagged)
        });
        let publishes = (0..N).map(|i| cmd!("PUBLISH", channel.as_str(), i));
        let replies = client.pipeline(publishes).await;
        assert_eq!(replies.len(), N);
        timeout(PATIENCE * 3, read_all)
            .await
            .expect("in time")
            .expect("in order");
        let (seen, lagged) = timeout(PATIENCE, read_default)
            .await
            .expect("in time")
            .expect("in order");
        assert!(
            seen >= PubsubOptions::DEFAULT_BUFFER_CAPACITY as u64,
            "{seen} seen, {lagged} lagged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_keeps_its_oldest_messages_then_learns_the_lag() {
    const N: usize = 10_000;
    const CAPACITY: usize = 100;
    let mut client = Client::connect(&url()).await;
    for protocol in PROTOCOLS {
        let options = PubsubOptions::default().with_buffer_capacity(CAPACITY);
        let conn = PubsubConnection::connect_with(&config(&url(), protocol), options)
            .await
            .unwrap();
        let channel = unique("slow");
        let mut slow = conn.subscribe(channel.as_str()).await.unwrap();
        let fast = conn
            .with_buffer_capacity(2 * N)
            .subscribe(channel.as_str())
            .await
            .unwrap();
        let fast = tokio::spawn(async move {
            let mut fast = fast;
            for i in 0..N {
                let m = support::next_message(&mut fast).await;
                assert_eq!(m.payload_str(), Ok(i.to_string().as_str()));
            }
            fast
        });
        client
            .pipeline((0..N).map(|i| cmd!("PUBLISH", channel.as_str(), i)))
            .await;
        // The fast stream has all of them: the driver has offered every one
        // to the slow stream too, which read nothing meanwhile.
        let _fast = timeout(PATIENCE, fast)
            .await
            .expect("in time")
            .expect("all in order");

        for i in 0..CAPACITY {
            let m = next_message(&mut slow).await;
            assert_eq!(m.payload_str(), Ok(i.to_string().as_str()));
        }
        match next_event(&mut slow).await {
            Event::Lagged(n) => assert_eq!(n, (N - CAPACITY) as u64, "{protocol:?}"),
            other => panic!("expected the lag, got {other:?}"),
        }
        client.publish(&channel, "newer").await;
        assert_eq!(next_message(&mut slow).await.payload_str(), Ok("newer"));
    }
}

#[tokio::test]
async fn a_refused_subscribe_fails_the_call_and_nothing_else() {
    let mut admin = Client::connect(&url()).await;
    let user = unique("limited").replace(':', "-");
    let allowed = format!("{user}:allowed");
    let rule = format!("&{allowed}*");
    let _: () = admin
        .query(cmd!(
            "ACL",
            "SETUSER",
            user.as_str(),
            "on",
            ">pw",
            "~*",
            "resetchannels",
            rule.as_str(),
            "+@all"
        ))
        .await;
    let base = url();
    let limited_url = base.replacen("://", &format!("://{user}:pw@"), 1);
    for protocol in PROTOCOLS {
        let conn = PubsubConnection::connect(&config(&limited_url, protocol))
            .await
            .unwrap();
        let err = conn
            .subscribe([allowed.as_str(), "forbidden"])
            .await
            .unwrap_err();
        assert_eq!(err.server_code(), Some("NOPERM"), "{err:?}");
        let err = conn.psubscribe("*").await.unwrap_err();
        assert_eq!(err.server_code(), Some("NOPERM"), "{err:?}");
        // The connection is fine.
        let mut sub = conn.subscribe(allowed.as_str()).await.unwrap();
        admin.publish(&allowed, "ok").await;
        assert_eq!(next_message(&mut sub).await.payload_str(), Ok("ok"));
    }
    let _: i64 = admin.query(cmd!("ACL", "DELUSER", user.as_str())).await;
}

#[tokio::test]
async fn resubscribing_while_the_unsubscribe_is_in_flight_keeps_the_channel() {
    let mut client = Client::connect(&url()).await;
    for protocol in PROTOCOLS {
        let conn = connect(protocol).await;
        let channel = unique("flap");
        for round in 0..50 {
            let sub = conn.subscribe(channel.as_str()).await.unwrap();
            drop(sub);
            let mut sub = conn.subscribe(channel.as_str()).await.unwrap();
            let payload = format!("round {round}");
            client.wait_numsub(channel.as_bytes(), false, 1).await;
            assert_eq!(client.publish(&channel, &payload).await, 1);
            assert_eq!(
                next_message(&mut sub).await.payload_str(),
                Ok(payload.as_str())
            );
        }
        // Unsubscribing twice, or a subscription future dropped unresolved.
        let sub = conn.subscribe(channel.as_str()).await.unwrap();
        sub.unsubscribe();
        drop(conn.subscribe(channel.as_str()));
        client.wait_numsub(channel.as_bytes(), false, 0).await;
    }
}

#[tokio::test]
async fn messages_alone_and_many_channels_per_stream() {
    let mut client = Client::connect(&url()).await;
    let conn = connect(Protocol::Resp3).await;
    let names: Vec<String> = (0..3000).map(|_| unique("many")).collect();
    let mut messages = conn.subscribe(names.clone()).await.unwrap().into_messages();
    assert_eq!(messages.get_ref().channels().len(), 3000);
    for name in [&names[0], &names[1500], &names[2999]] {
        client.publish(name, name).await;
        let m = timeout(PATIENCE, messages.next()).await.unwrap().unwrap();
        assert_eq!(m.channel(), m.payload());
    }
    // Already confirmed: resolves without another round trip.
    let again = timeout(
        Duration::from_millis(100),
        conn.subscribe(names[7].as_str()),
    )
    .await
    .expect("ready at once")
    .unwrap();
    drop(messages);
    client.wait_numsub(names[7].as_bytes(), false, 1).await;
    client.wait_numsub(names[8].as_bytes(), false, 0).await;
    drop(again);
    client.wait_numsub(names[7].as_bytes(), false, 0).await;
}

#[tokio::test]
async fn an_empty_list_is_refused() {
    let conn = connect(Protocol::Resp3).await;
    let none: Vec<String> = Vec::new();
    let err = conn.subscribe(none).await.unwrap_err();
    assert!(
        matches!(err, Error::Protocol(resp::Error::EmptyCommand)),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_connection_closes_when_the_last_handle_and_stream_go() {
    let mut client = Client::connect(&url()).await;
    let name = unique("closing").replace(':', "-");
    let config = config(&url(), Protocol::Resp3).with_client_name(name.as_str());
    let conn = PubsubConnection::connect(&config).await.unwrap();
    let sub = conn.subscribe(unique("closing")).await.unwrap();
    let is_connected = |list: String| list.contains(&format!("name={name} "));
    drop(conn);
    // The stream keeps the connection open.
    let list: String = client.query(cmd!("CLIENT", "LIST")).await;
    assert!(is_connected(list));
    drop(sub);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let list: String = client.query(cmd!("CLIENT", "LIST")).await;
        if !is_connected(list) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still connected");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn extreme_timeouts_neither_panic_nor_spin() {
    let mut client = Client::connect(&url()).await;
    for options in [
        PubsubOptions::default()
            .with_ping_interval(Duration::MAX)
            .with_response_timeout(Duration::MAX),
        PubsubOptions::default().with_ping_interval(Duration::ZERO),
    ] {
        let conn = PubsubConnection::connect_with(&config(&url(), Protocol::Resp3), options)
            .await
            .unwrap();
        let channel = unique("extreme");
        let mut sub = conn.subscribe(channel.as_str()).await.unwrap();
        assert_eq!(client.publish(&channel, "still here").await, 1);
        assert_eq!(next_message(&mut sub).await.payload_str(), Ok("still here"));
    }
}

#[tokio::test]
async fn close_ends_every_stream_and_the_connection_for_every_clone() {
    let mut client = Client::connect(&url()).await;
    for protocol in PROTOCOLS {
        let conn = connect(protocol).await;
        let clone = conn.clone();
        let channel = unique("close");
        let mut sub = conn.subscribe(channel.as_str()).await.unwrap();
        assert_eq!(client.publish(&channel, "before").await, 1, "{protocol:?}");
        let m = next_message(&mut sub).await;
        assert_eq!(m.payload_str(), Ok("before"));

        timeout(PATIENCE, conn.close())
            .await
            .expect("close returns");
        // The stream ends; the server dropped the subscription with the socket.
        assert!(timeout(PATIENCE, sub.next()).await.unwrap().is_none());
        let err = clone.subscribe("after").await.unwrap_err();
        assert!(matches!(err, Error::Closed), "{err:?}");
        assert!(clone.status().is_err());
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while client.publish(&channel, "after").await != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server kept the subscription"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Closing again, from any clone, returns too.
        timeout(PATIENCE, clone.close())
            .await
            .expect("a second close returns");
    }
}
