//! The throwaway server against a real `redis-server`: options, kill, restart, pause.

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use xtask::RedisServer;

mod common;
use common::{read_line, request};

#[test]
fn default_server_answers_ping() {
    let server = RedisServer::start().unwrap();
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert!(server.pid().is_some());
    assert_eq!(server.unix_socket(), None);
    assert_eq!(server.tls_port(), None);

    let mut stream = connect(&server);
    assert_eq!(request(&mut stream, "PING").unwrap(), "+PONG");
    // No persistence: a test server must never write a dump behind a test's back.
    assert_eq!(
        request(&mut stream, "CONFIG GET save").unwrap(),
        "*2\r\n$4\r\nsave\r\n$0\r\n"
    );
}

#[test]
fn password_server_wants_auth() {
    let server = RedisServer::builder().password("s3cret").start().unwrap();
    let mut stream = connect(&server);
    assert!(request(&mut stream, "PING").unwrap().starts_with("-NOAUTH"));
    assert!(request(&mut stream, "AUTH wrong")
        .unwrap()
        .starts_with("-WRONGPASS"));
    assert_eq!(request(&mut stream, "AUTH s3cret").unwrap(), "+OK");
    assert_eq!(request(&mut stream, "PING").unwrap(), "+PONG");
}

#[test]
fn acl_user_and_password_both_work() {
    let server = RedisServer::builder()
        .password("s3cret")
        .acl_user("alice on >wonderland ~* &* +@all")
        .start()
        .unwrap();
    let mut stream = connect(&server);
    assert!(request(&mut stream, "PING").unwrap().starts_with("-NOAUTH"));
    assert_eq!(
        request(&mut stream, "AUTH alice wonderland").unwrap(),
        "+OK"
    );
    assert_eq!(request(&mut stream, "ACL WHOAMI").unwrap(), "$5\r\nalice");

    let mut stream = connect(&server);
    assert_eq!(request(&mut stream, "AUTH s3cret").unwrap(), "+OK");
    assert_eq!(request(&mut stream, "ACL WHOAMI").unwrap(), "$7\r\ndefault");
}

#[test]
fn unix_socket_server_answers_on_the_socket() {
    let server = RedisServer::builder().unix_socket().start().unwrap();
    let path = server.unix_socket().unwrap().to_path_buf();
    let mut stream = UnixStream::connect(&path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_line(&mut stream).unwrap(), "+PONG");

    // Dropping the server removes its directory, socket included.
    drop(server);
    assert!(!path.exists());
    assert!(!path.parent().unwrap().exists());
}

#[test]
fn tls_server_has_certificates_and_listens() {
    let server = RedisServer::builder().tls().start().unwrap();
    let tls_port = server.tls_port().unwrap();
    assert_ne!(tls_port, server.port());
    for (path, marker) in [
        (server.tls_ca_cert_pem(), "BEGIN CERTIFICATE"),
        (server.tls_client_cert_pem(), "BEGIN CERTIFICATE"),
        (server.tls_client_key_pem(), "BEGIN PRIVATE KEY"),
    ] {
        let pem = std::fs::read_to_string(path.unwrap()).unwrap();
        assert!(pem.contains(marker), "{pem}");
    }
    TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    // The plain port keeps working beside the TLS one.
    assert_eq!(request(&mut connect(&server), "PING").unwrap(), "+PONG");
}

#[test]
fn restart_after_kill_uses_the_same_port() {
    let mut server = RedisServer::start().unwrap();
    let port = server.port();
    let first_pid = server.pid().unwrap();

    server.kill();
    assert_eq!(server.pid(), None);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    server.kill(); // Idempotent.

    server.restart().unwrap();
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), Some(first_pid));
    assert_eq!(request(&mut connect(&server), "PING").unwrap(), "+PONG");
    assert!(!server.log().is_empty());
}

#[test]
fn restart_keeps_the_options() {
    let mut server = RedisServer::builder()
        .password("s3cret")
        .unix_socket()
        .start()
        .unwrap();
    server.restart().unwrap();
    let mut stream = connect(&server);
    assert!(request(&mut stream, "PING").unwrap().starts_with("-NOAUTH"));
    assert!(UnixStream::connect(server.unix_socket().unwrap()).is_ok());
}

#[test]
fn paused_server_times_out_and_resumed_server_answers() {
    let server = RedisServer::start().unwrap();
    let mut stream = connect(&server);
    assert_eq!(request(&mut stream, "PING").unwrap(), "+PONG");

    server.pause();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let error = request(&mut stream, "PING").unwrap_err();
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{error:?}"
    );

    server.resume();
    // The PING sent while paused is answered now, then new ones are too.
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(read_line(&mut stream).unwrap(), "+PONG");
    assert_eq!(request(&mut stream, "PING").unwrap(), "+PONG");
}

#[test]
fn extra_arguments_reach_the_server() {
    let server = RedisServer::builder()
        .arg("--maxmemory")
        .arg("12345678")
        .start()
        .unwrap();
    assert_eq!(
        request(&mut connect(&server), "CONFIG GET maxmemory").unwrap(),
        "*2\r\n$9\r\nmaxmemory\r\n$8\r\n12345678"
    );
}

#[test]
fn bad_arguments_fail_with_the_server_output() {
    let error = RedisServer::builder()
        .arg("--no-such-option")
        .arg("1")
        .start()
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("exited"), "{message}");
    assert!(message.contains("no-such-option"), "{message}");
}

/// A connection to the plain port that gives up after 5 s instead of hanging.
fn connect(server: &RedisServer) -> TcpStream {
    common::connect(server.port())
}
