//! A raw inline-command client for the harness tests: the harness must be
//! checked without the client it exists to test.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A connection to a local port that gives up after 5 s instead of hanging.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Sends an inline command and returns the reply without its final CRLF;
/// bulk strings are read whole, array elements one line each.
pub fn request(stream: &mut TcpStream, command: &str) -> io::Result<String> {
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let first = read_line(stream)?;
    let mut reply = first.clone();
    match first.as_bytes().first() {
        Some(b'$') => {
            let len: usize = first[1..].parse().unwrap_or(0);
            let mut bulk = vec![0; len + 2];
            stream.read_exact(&mut bulk)?;
            reply.push_str("\r\n");
            reply.push_str(&String::from_utf8_lossy(&bulk[..len]));
        }
        Some(b'*') => {
            for _ in 0..first[1..].parse::<usize>().unwrap_or(0) * 2 {
                reply.push_str("\r\n");
                reply.push_str(&read_line(stream)?);
            }
        }
        _ => {}
    }
    Ok(reply)
}

/// Reads one CRLF-terminated line, a byte at a time so nothing after it is lost.
pub fn read_line(stream: &mut impl Read) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0];
    while !line.ends_with(b"\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}
