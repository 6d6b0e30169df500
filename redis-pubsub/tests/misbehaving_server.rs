//! A fake server in the test process answers subscriptions with frames a
//! pub/sub connection does not expect, refuses them, sends garbage, or goes
//! silent. The connection must ignore what it can, report the rest, never
//! panic, and reconnect.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use redis_conn::{ConnectionConfig, Error, Protocol, ReconnectPolicy};
use redis_pubsub::{Event, PubsubConnection, PubsubOptions};
use resp::{Decoder, Value};
use support::{next_event, next_message, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// One accepted connection of the fake server.
struct Peer {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

impl Peer {
    async fn accept(listener: &TcpListener) -> Peer {
        let (stream, _) = timeout(PATIENCE, listener.accept())
            .await
            .expect("a connection in time")
            .expect("accepted");
        Peer {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(),
        }
    }

    /// Accepts a reconnect, and answers the `PING` that checks the server
    /// is not still loading its data.
    async fn reconnected(listener: &TcpListener) -> Peer {
        let mut peer = Peer::accept(listener).await;
        peer.expect(&["PING"]).await;
        peer.send(b"+PONG\r\n").await;
        peer
    }

    /// The next command, as its words.
    async fn command(&mut self) -> Vec<Bytes> {
        loop {
            if let Some(value) = self.decoder.decode(&mut self.buf).expect("a valid request") {
                let Value::Array(items) = value else {
                    panic!("a command is an array")
                };
                return items
                    .into_iter()
                    .map(|v| match v {
                        Value::BulkString(b) => b,
                        other => panic!("an argument is a bulk string: {other:?}"),
                    })
                    .collect();
            }
            let n = timeout(PATIENCE, self.stream.read_buf(&mut self.buf))
                .await
                .expect("a command in time")
                .expect("readable");
            assert!(n > 0, "the client hung up");
        }
    }

    /// Expects a command of exactly these words.
    async fn expect(&mut self, words: &[&str]) {
        let got = self.command().await;
        let got: Vec<String> = got
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        assert_eq!(got, words);
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("written");
    }

    /// Expects `SUBSCRIBE channel` and confirms it.
    async fn confirm_subscribe(&mut self, channel: &str) {
        self.expect(&["SUBSCRIBE", channel]).await;
        let mut confirmation = Vec::new();
        resp::resp_array!["subscribe", channel, 1].encode(&mut confirmation);
        self.send(&confirmation).await;
    }
}

/// A connection to a fake server, the server's side of it, and the listener
/// for the connections that follow.
async fn connected() -> (TcpListener, PubsubConnection, Peer) {
    let (listener, config) = listen().await;
    let (conn, peer) = tokio::join!(PubsubConnection::connect(&config), Peer::accept(&listener));
    (listener, conn.expect("connects"), peer)
}

async fn listen() -> (TcpListener, ConnectionConfig) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // RESP2 with no credentials, database or name: no handshake at all.
    let config = ConnectionConfig::from_url(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .with_protocol(Protocol::Resp2)
        .with_reconnect(ReconnectPolicy::default().with_max(Duration::from_millis(50)));
    (listener, config)
}

#[tokio::test]
async fn unexpected_frames_are_ignored() {
    let (_listener, conn, mut peer) = connected().await;
    let subscribing = conn.subscribe(["a", "b"]);
    peer.expect(&["SUBSCRIBE", "a", "b"]).await;
    #[rustfmt::skip]
    let junk: &[&[u8]] = &[
        b"+OK\r\n",                                         // a status for no command
        b":42\r\n",                                         // an integer
        b"$3\r\nfoo\r\n",                                   // a bulk string
        b"_\r\n",                                           // a null
        b"%1\r\n+k\r\n+v\r\n",                              // a map
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n",    // a push of another kind
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:1\r\n",      // b confirmed before a
        b"*3\r\n$10\r\npsubscribe\r\n$1\r\na\r\n:1\r\n",    // the wrong kind
        b"*3\r\n$7\r\nmessage\r\n$7\r\nunknown\r\n$1\r\nx\r\n", // a channel nobody wants
        b"*2\r\n$7\r\nmessage\r\n$1\r\na\r\n",              // a message missing its payload
        b"*4\r\n$8\r\npmessage\r\n$1\r\na\r\n:1\r\n$1\r\nx\r\n", // a malformed pmessage
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n",                  // a pong for no ping
        b"*0\r\n",                                          // an empty array
    ];
    for frame in junk {
        peer.send(frame).await;
    }
    peer.send(
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    )
    .await;
    let mut sub = timeout(PATIENCE, subscribing).await.unwrap().unwrap();
    peer.send(b"*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$5\r\nafter\r\n")
        .await;
    assert_eq!(next_message(&mut sub).await.payload_str(), Ok("after"));

    // An error reply to no command is ignored as well (the message behind
    // it shows it was read), and commands stay in step after all of that.
    peer.send(b"-ERR stray\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\nnext\r\n")
        .await;
    assert_eq!(next_message(&mut sub).await.payload_str(), Ok("next"));
    let subscribing = conn.subscribe("c");
    peer.expect(&["SUBSCRIBE", "c"]).await;
    peer.send(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:3\r\n")
        .await;
    let mut third = timeout(PATIENCE, subscribing).await.unwrap().unwrap();
    peer.send(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nz\r\n")
        .await;
    assert_eq!(next_message(&mut third).await.payload_str(), Ok("z"));
}

#[tokio::test]
async fn an_error_reply_fails_only_its_subscribe() {
    let (_listener, conn, mut peer) = connected().await;
    let refused = conn.subscribe("secret");
    let accepted = conn.psubscribe("open.*");
    peer.expect(&["SUBSCRIBE", "secret"]).await;
    peer.expect(&["PSUBSCRIBE", "open.*"]).await;
    peer.send(b"-NOPERM this user has no permissions to access the 'secret' channel\r\n")
        .await;
    peer.send(b"*3\r\n$10\r\npsubscribe\r\n$6\r\nopen.*\r\n:1\r\n")
        .await;
    let err = timeout(PATIENCE, refused).await.unwrap().unwrap_err();
    assert_eq!(err.server_code(), Some("NOPERM"), "{err:?}");
    let mut sub = timeout(PATIENCE, accepted).await.unwrap().unwrap();
    peer.send(b"*4\r\n$8\r\npmessage\r\n$6\r\nopen.*\r\n$6\r\nopen.x\r\n$2\r\nhi\r\n")
        .await;
    let m = next_message(&mut sub).await;
    assert_eq!((m.channel_str(), m.payload_str()), (Ok("open.x"), Ok("hi")));
}

#[tokio::test]
async fn garbage_drops_the_connection_and_the_subscriptions_come_back() {
    let (listener, conn, mut peer) = connected().await;
    let subscribing = conn.subscribe("a");
    peer.confirm_subscribe("a").await;
    let mut sub = timeout(PATIENCE, subscribing).await.unwrap().unwrap();

    // A message, then bytes that are not RESP: the message still arrives.
    peer.send(b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$6\r\nbefore\r\n?garbage\r\n")
        .await;
    assert_eq!(next_message(&mut sub).await.payload_str(), Ok("before"));
    match next_event(&mut sub).await {
        Event::Disconnected(Error::Protocol(_)) => {}
        other => panic!("expected a protocol error, got {other:?}"),
    }

    let mut peer = Peer::reconnected(&listener).await;
    peer.confirm_subscribe("a").await;
    assert!(matches!(next_event(&mut sub).await, Event::Resubscribed));
    peer.send(b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nagain\r\n")
        .await;
    assert_eq!(next_message(&mut sub).await.payload_str(), Ok("again"));
}

#[tokio::test]
async fn a_hang_up_mid_frame_is_a_disconnection() {
    let (listener, conn, mut peer) = connected().await;
    let subscribing = conn.subscribe("a");
    peer.expect(&["SUBSCRIBE", "a"]).await;
    peer.send(
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$100\r\npart",
    )
    .await;
    let mut sub = timeout(PATIENCE, subscribing).await.unwrap().unwrap();
    drop(peer);
    assert!(matches!(
        next_event(&mut sub).await,
        Event::Disconnected(Error::Io(_))
    ));
    // A subscribe call waiting when the connection goes fails.
    let mut peer = Peer::reconnected(&listener).await;
    peer.expect(&["SUBSCRIBE", "a"]).await;
    let waiting = conn.subscribe("b");
    peer.expect(&["SUBSCRIBE", "b"]).await;
    drop(peer);
    let err = timeout(PATIENCE, waiting).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Connection(_)), "{err:?}");
}

#[tokio::test]
async fn a_quiet_connection_is_pinged_and_a_silent_one_replaced() {
    let (listener, config) = listen().await;
    let options = PubsubOptions::default()
        .with_ping_interval(Duration::from_millis(50))
        .with_response_timeout(Duration::from_millis(200));
    let (conn, mut peer) = tokio::join!(
        PubsubConnection::connect_with(&config, options),
        Peer::accept(&listener)
    );
    let conn = conn.unwrap();
    let subscribing = conn.subscribe("a");
    peer.confirm_subscribe("a").await;
    let mut sub = timeout(PATIENCE, subscribing).await.unwrap().unwrap();
    // Answered pings keep it up.
    for _ in 0..3 {
        peer.expect(&["PING"]).await;
        peer.send(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n").await;
    }
    // An unanswered one brings it down.
    peer.expect(&["PING"]).await;
    match next_event(&mut sub).await {
        Event::Disconnected(Error::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    let mut peer = Peer::reconnected(&listener).await;
    peer.expect(&["SUBSCRIBE", "a"]).await;
}

#[tokio::test]
async fn resp3_pushes_and_attributes_are_read() {
    let (listener, config) = listen().await;
    let config = config.with_protocol(Protocol::Resp3);
    let server = async {
        let mut peer = Peer::accept(&listener).await;
        peer.expect(&["HELLO", "3"]).await;
        let version = env!("CARGO_PKG_VERSION");
        peer.expect(&["CLIENT", "SETINFO", "LIB-NAME", "redis-facade"])
            .await;
        peer.expect(&["CLIENT", "SETINFO", "LIB-VER", version])
            .await;
        // Redis 7.0 does not know CLIENT SETINFO; the handshake goes on.
        peer.send(b"%2\r\n$5\r\nproto\r\n:3\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n")
            .await;
        peer.send(b"-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n")
            .await;
        peer.send(b"-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n")
            .await;
        peer
    };
    let (conn, mut peer) = tokio::join!(PubsubConnection::connect(&config), server);
    let conn = conn.unwrap();
    let subscribing = conn.ssubscribe(["s1", "s2"]);
    peer.expect(&["SSUBSCRIBE", "s1"]).await;
    peer.expect(&["SSUBSCRIBE", "s2"]).await;
    peer.send(b">3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n|1\r\n+key\r\n+value\r\n>3\r\n$10\r\nssubscribe\r\n$2\r\ns2\r\n:1\r\n")
        .await;
    let mut sub = timeout(PATIENCE, subscribing).await.unwrap().unwrap();
    peer.send(b">3\r\n$8\r\nsmessage\r\n$2\r\ns2\r\n$2\r\nhi\r\n")
        .await;
    assert_eq!(next_message(&mut sub).await.payload_str(), Ok("hi"));
    drop(sub);
    peer.expect(&["SUNSUBSCRIBE", "s1"]).await;
    peer.expect(&["SUNSUBSCRIBE", "s2"]).await;
}

#[tokio::test]
async fn the_first_connection_must_succeed() {
    let (listener, config) = listen().await;
    drop(listener);
    let err = PubsubConnection::connect(&config).await.unwrap_err();
    assert!(err.is_connection(), "{err:?}");
}

#[tokio::test]
async fn an_answer_late_behind_a_flood_is_waited_for() {
    let (listener, config) = listen().await;
    let options = PubsubOptions::default().with_response_timeout(Duration::from_millis(300));
    let (conn, mut peer) = tokio::join!(
        PubsubConnection::connect_with(&config, options),
        Peer::accept(&listener)
    );
    let conn = conn.unwrap();
    let subscribing = conn.subscribe("a");
    peer.confirm_subscribe("a").await;
    let mut sub = timeout(PATIENCE, subscribing).await.unwrap().unwrap();

    // The answer to b comes after twice the response timeout, but messages
    // keep coming meanwhile: the server is alive.
    let subscribing = conn.subscribe("b");
    peer.expect(&["SUBSCRIBE", "b"]).await;
    let start = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    let mut sent = 0;
    while start.elapsed() < Duration::from_millis(600) {
        ticks.tick().await;
        peer.send(b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\nbusy\r\n")
            .await;
        sent += 1;
    }
    peer.send(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n")
        .await;
    timeout(PATIENCE, subscribing).await.unwrap().unwrap();
    for _ in 0..sent {
        assert_eq!(next_message(&mut sub).await.payload_str(), Ok("busy"));
    }
}
