//! The handshake and the framed connection against scripted servers: an
//! in-memory duplex stream or a loopback listener that says exactly what the
//! test wants, including things a real server would not.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use redis_conn::{Address, Connection, ConnectionConfig, Error, Protocol};
use resp::{cmd, Command, DecoderConfig, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// A stream that counts the writes made to it.
struct Counted {
    inner: DuplexStream,
    writes: Arc<AtomicUsize>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if poll.is_ready() {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One exchange of a script: the exact bytes the client must send, then the
/// bytes the server answers with.
struct Exchange {
    expect: Vec<u8>,
    reply: Vec<u8>,
}

fn exchange(expect: &[Command], reply: &str) -> Exchange {
    let mut bytes = Vec::new();
    for cmd in expect {
        cmd.encode(&mut bytes);
    }
    Exchange {
        expect: bytes,
        reply: reply.as_bytes().to_vec(),
    }
}

/// Runs `script` as the server end of a duplex stream, then closes it.
/// Returns the client end (counting its writes) and the server task.
fn scripted(
    script: Vec<Exchange>,
) -> (
    Counted,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<DuplexStream>,
) {
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        for step in script {
            let mut got = vec![0; step.expect.len()];
            server.read_exact(&mut got).await.unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&step.expect)
            );
            server.write_all(&step.reply).await.unwrap();
        }
        server
    });
    let writes = Arc::new(AtomicUsize::new(0));
    let counted = Counted {
        inner: client,
        writes: writes.clone(),
    };
    (counted, writes, task)
}

fn config() -> ConnectionConfig {
    ConnectionConfig::new(Address::tcp("scripted", 1))
}

const HELLO_REPLY: &str =
    "%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n";

/// `hello` and the `CLIENT SETINFO` commands that follow it in one write.
fn with_set_info(hello: Command) -> [Command; 3] {
    [
        hello,
        cmd!("CLIENT", "SETINFO", "LIB-NAME", "redis-facade"),
        cmd!("CLIENT", "SETINFO", "LIB-VER", env!("CARGO_PKG_VERSION")),
    ]
}

/// The replies of a server that accepts both `CLIENT SETINFO` commands.
const SET_INFO_OK: &str = "+OK\r\n+OK\r\n";

/// What Redis 7.0 answers to each `CLIENT SETINFO`.
const SET_INFO_UNKNOWN: &str = "-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n\
                                -ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n";

#[tokio::test]
async fn hello_accepted_in_one_round_trip_and_one_write() {
    let config = config()
        .with_username("alice")
        .with_password("pw")
        .with_client_name("app")
        .with_db(3);
    // Redis 7.0 refuses CLIENT SETINFO; the handshake goes on.
    let [hello, name, version] =
        with_set_info(cmd!("HELLO", 3, "AUTH", "alice", "pw", "SETNAME", "app"));
    let (stream, writes, server) = scripted(vec![exchange(
        &[hello, name, version, cmd!("SELECT", 3)],
        &format!("{HELLO_REPLY}{SET_INFO_UNKNOWN}+OK\r\n"),
    )]);
    let conn = Connection::establish(stream, &config).await.unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    let info = conn.handshake();
    assert_eq!(info.round_trips(), 1);
    assert_eq!(info.protocol(), Protocol::Resp3);
    assert_eq!(conn.protocol(), Protocol::Resp3);
    assert_eq!(info.server_version(), Some("7.0.15"));
    server.await.unwrap();
}

#[tokio::test]
async fn the_exact_bytes_of_a_full_hello() {
    let config = config().with_password("p@ss").with_db(1);
    let version = env!("CARGO_PKG_VERSION");
    let wire = format!(
        "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$4\r\np@ss\r\n\
         *4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$8\r\nLIB-NAME\r\n$12\r\nredis-facade\r\n\
         *4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$7\r\nLIB-VER\r\n${}\r\n{version}\r\n\
         *2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n",
        version.len()
    );
    let (stream, writes, server) = scripted(vec![Exchange {
        expect: wire.into_bytes(),
        reply: format!("{HELLO_REPLY}{SET_INFO_OK}+OK\r\n").into_bytes(),
    }]);
    let conn = Connection::establish(stream, &config).await.unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    assert_eq!(conn.handshake().round_trips(), 1);
    server.await.unwrap();
}

#[tokio::test]
async fn hello_rejected_falls_back_to_resp2() {
    let config = config()
        .with_password("pw")
        .with_client_name("app")
        .with_db(2);
    let [hello, name, version] =
        with_set_info(cmd!("HELLO", 3, "AUTH", "default", "pw", "SETNAME", "app"));
    let (stream, writes, server) = scripted(vec![
        // Everything after the refused HELLO wants AUTH first; CLIENT
        // SETINFO is not sent again.
        exchange(
            &[hello, name, version, cmd!("SELECT", 2)],
            "-ERR unknown command `HELLO`, with args beginning with: `3`, \r\n\
             -NOAUTH Authentication required.\r\n\
             -NOAUTH Authentication required.\r\n\
             -NOAUTH Authentication required.\r\n",
        ),
        exchange(
            &[
                cmd!("AUTH", "pw"),
                cmd!("SELECT", 2),
                cmd!("CLIENT", "SETNAME", "app"),
            ],
            "+OK\r\n+OK\r\n+OK\r\n",
        ),
        // The connection is usable afterwards, in RESP2.
        exchange(&[cmd!("GET", "k")], "$-1\r\n"),
    ]);
    let mut conn = Connection::establish(stream, &config).await.unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 2);
    assert_eq!(conn.handshake().round_trips(), 2);
    assert_eq!(conn.protocol(), Protocol::Resp2);
    assert_eq!(conn.handshake().server_version(), None);
    assert_eq!(
        conn.send(cmd!("GET", "k")).await.unwrap(),
        Value::NullBulkString
    );
    server.await.unwrap();
}

#[tokio::test]
async fn wrong_password_is_an_auth_error() {
    let config = config().with_username("alice").with_password("wrong");
    let (stream, _, server) = scripted(vec![exchange(
        &with_set_info(cmd!("HELLO", 3, "AUTH", "alice", "wrong")),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    )]);
    let e = Connection::establish(stream, &config).await.unwrap_err();
    assert!(matches!(&e, Error::Auth(_)), "{e:?}");
    assert_eq!(e.server_code(), Some("WRONGPASS"));
    assert_eq!(
        e.to_string(),
        "authentication failed: the server refused the user name or password: \
         WRONGPASS invalid username-password pair or user is disabled. \
         (check the user and password in the url, or the credentials provider)"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn server_closing_mid_handshake_is_a_clear_error() {
    // Closed before answering anything.
    let (stream, _, server) = scripted(vec![exchange(&with_set_info(cmd!("HELLO", 3)), "")]);
    let closer = tokio::spawn(async move { drop(server.await.unwrap()) });
    let e = Connection::establish(stream, &config()).await.unwrap_err();
    closer.await.unwrap();
    match &e {
        Error::Io(io) => assert_eq!(io.kind(), io::ErrorKind::UnexpectedEof),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "i/o error: the server closed the connection during the handshake"
    );

    // Closed in the middle of the HELLO reply.
    let (stream, _, server) = scripted(vec![exchange(
        &with_set_info(cmd!("HELLO", 3)),
        "%3\r\n$6\r\nser",
    )]);
    let closer = tokio::spawn(async move { drop(server.await.unwrap()) });
    let e = Connection::establish(stream, &config()).await.unwrap_err();
    closer.await.unwrap();
    assert!(e.to_string().contains("in the middle of a reply"), "{e}");

    // Garbage instead of a reply.
    let (stream, _, server) = scripted(vec![exchange(
        &with_set_info(cmd!("HELLO", 3)),
        "HTTP/1.1 400\r\n",
    )]);
    let e = Connection::establish(stream, &config()).await.unwrap_err();
    assert!(
        matches!(e, Error::Protocol(resp::Error::InvalidType(b'H'))),
        "{e:?}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn replies_after_the_handshake_stay_buffered() {
    // The server sends the HELLO reply and, in the same write, a push and
    // the start of another frame.
    let (stream, _, server) = scripted(vec![exchange(
        &with_set_info(cmd!("HELLO", 3)),
        &format!("{HELLO_REPLY}{SET_INFO_OK}>2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n:4"),
    )]);
    let mut conn = Connection::establish(stream, &config()).await.unwrap();
    let push = conn.next().await.unwrap().unwrap();
    assert_eq!(
        push,
        Value::Push(vec![Value::bulk("message"), Value::bulk("hi")])
    );
    let parts = conn.into_parts();
    assert_eq!(&parts.read_buf[..], b":4");
    assert_eq!(parts.protocol, Protocol::Resp3);
    // Put back together, the connection finishes the frame.
    let mut server = server.await.unwrap();
    let mut conn = Connection::from_parts(parts);
    server.write_all(b"2\r\n").await.unwrap();
    assert_eq!(conn.next().await.unwrap().unwrap(), Value::Integer(42));
}

#[tokio::test]
async fn the_stream_yields_a_decode_error_once_then_ends() {
    let (client, mut server) = tokio::io::duplex(1024);
    let mut conn = Connection::new(client, DecoderConfig::new().with_max_bulk_len(4));
    server
        .write_all(b"+OK\r\n$5\r\nhello\r\n+NEVER\r\n")
        .await
        .unwrap();
    assert_eq!(
        conn.next().await.unwrap().unwrap(),
        Value::SimpleString("OK".into())
    );
    let e = conn.next().await.unwrap().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Protocol(resp::Error::TooLarge {
                what: "bulk",
                len: 5,
                limit: 4
            })
        ),
        "{e:?}"
    );
    assert!(conn.next().await.is_none());
    assert!(conn.next().await.is_none());
}

#[tokio::test]
async fn eof_between_replies_ends_the_stream() {
    let (client, mut server) = tokio::io::duplex(1024);
    let conn = Connection::new(client, DecoderConfig::default());
    assert_eq!(conn.protocol(), Protocol::Resp2);
    assert_eq!(conn.handshake().round_trips(), 0);
    server.write_all(b":1\r\n:2\r\n").await.unwrap();
    drop(server);
    let values: Vec<_> = conn.map(Result::unwrap).collect().await;
    assert_eq!(values, vec![Value::Integer(1), Value::Integer(2)]);
}

#[tokio::test]
async fn sink_and_stream_pipeline() {
    let (client, mut server) = tokio::io::duplex(1 << 20);
    let mut conn = Connection::new(client, DecoderConfig::default());
    // Nothing is written before the flush.
    conn.feed(cmd!("INCR", "a")).await.unwrap();
    conn.feed(cmd!("GET", "b")).await.unwrap();
    let mut want = Vec::new();
    cmd!("INCR", "a").encode(&mut want);
    cmd!("GET", "b").encode(&mut want);
    let mut probe = [0u8; 1];
    let early = server.read(&mut probe).now_or_never();
    assert!(early.is_none(), "bytes were written before the flush");
    conn.flush().await.unwrap();
    let mut got = vec![0; want.len()];
    server.read_exact(&mut got).await.unwrap();
    assert_eq!(got, want);
    server.write_all(b":1\r\n$1\r\nx\r\n").await.unwrap();
    assert_eq!(conn.next().await.unwrap().unwrap(), Value::Integer(1));
    assert_eq!(conn.next().await.unwrap().unwrap(), Value::bulk("x"));

    // A big batch is written out as it grows, not only on flush.
    let big = "v".repeat(1024);
    for _ in 0..100 {
        conn.feed(cmd!("SET", "k", big.as_str())).await.unwrap();
    }
    let mut first = [0u8; 4];
    server.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"*3\r\n");

    // Close flushes and shuts the stream down.
    conn.close().await.unwrap();
    let mut rest = Vec::new();
    server.read_to_end(&mut rest).await.unwrap();
    assert_eq!(
        rest.len() + 4,
        100 * cmd!("SET", "k", big.as_str()).encoded_len()
    );
}

#[tokio::test]
async fn send_turns_error_replies_into_errors() {
    let (client, mut server) = tokio::io::duplex(1024);
    let mut conn = Connection::new(client, DecoderConfig::default());
    server
        .write_all(b"-WRONGTYPE Operation against a key\r\n")
        .await
        .unwrap();
    let e = conn.send(cmd!("INCR", "list")).await.unwrap_err();
    assert_eq!(e.server_code(), Some("WRONGTYPE"));
    drop(server);
    let e = conn.send(cmd!("PING")).await.unwrap_err();
    assert!(e.is_connection(), "{e:?}");
}

#[tokio::test]
async fn connect_times_out_on_a_server_that_never_answers() {
    // The kernel completes the TCP handshake for a listening socket even if
    // nobody accepts, so the timeout has to fire on the Redis handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let timeout = Duration::from_millis(300);
    let config =
        ConnectionConfig::new(Address::tcp("127.0.0.1", port)).with_connect_timeout(timeout);
    let start = Instant::now();
    let e = redis_conn::connect(&config).await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(
            e.root(),
            Error::Timeout {
                what: "handshake",
                command: None,
                limit: Some(limit)
            } if *limit == timeout
        ),
        "{e:?}"
    );
    assert!(matches!(&e, Error::Connect { address, .. } if *address == *config.address()));
    assert_eq!(
        e.to_string(),
        format!("cannot connect to 127.0.0.1:{port}: handshake timed out after 300ms")
    );
    assert!(e.is_timeout());
    assert!(elapsed >= timeout, "{elapsed:?}");
    assert!(elapsed < timeout * 5, "{elapsed:?}");
    drop(listener);
}

#[tokio::test]
async fn a_refused_connection_is_an_io_error_at_once() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = ConnectionConfig::new(Address::tcp("127.0.0.1", port))
        .with_connect_timeout(Duration::from_secs(10));
    let start = Instant::now();
    let e = redis_conn::connect(&config).await.unwrap_err();
    match e.root() {
        Error::Io(io) => assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
    // The message names the address.
    assert!(e.is_connection());
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("cannot connect to 127.0.0.1:{port}: i/o error: ")),
        "{text}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn connect_over_tcp_to_a_fake_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut want = Vec::new();
        for cmd in with_set_info(cmd!("HELLO", 3, "SETNAME", "fake")) {
            cmd.encode(&mut want);
        }
        let mut got = vec![0; want.len()];
        socket.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);
        let replies = format!("{HELLO_REPLY}{SET_INFO_OK}");
        socket.write_all(replies.as_bytes()).await.unwrap();
        socket.write_all(b"+MONITOR LINE\r\n").await.unwrap();
    });
    let config: ConnectionConfig = format!("redis://127.0.0.1:{port}?client_name=fake")
        .parse()
        .unwrap();
    let mut conn = redis_conn::connect(&config).await.unwrap();
    assert_eq!(conn.handshake().round_trips(), 1);
    assert!(!conn.stream().is_tls());
    assert_eq!(
        conn.next().await.unwrap().unwrap(),
        Value::SimpleString("MONITOR LINE".into())
    );
    server.await.unwrap();
    assert!(conn.next().await.is_none());
}

#[tokio::test]
async fn invalid_configs_fail_before_connecting() {
    let config = config().with_username("nopass");
    let e = redis_conn::connect(&config).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Config(redis_conn::ConfigError::UsernameWithoutPassword)
        ),
        "{e:?}"
    ); // A library name suffix the server would refuse.
    let config = self::config().with_lib_name_suffix("my orm");
    let e = redis_conn::connect(&config).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Config(redis_conn::ConfigError::InvalidLibNameSuffix(_))
        ),
        "{e:?}"
    );
}
