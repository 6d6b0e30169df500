//! `Probe`: a small synchronous RESP client for polling a server while it
//! starts, fails over or rejoins, shared by the cluster and Sentinel setups.
//!
//! This crate depends on no other crate of the workspace (so a broken client
//! never breaks the harness), hence a RESP reader of its own.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long one probe may wait to connect, write or read.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest line or bulk string a probe accepts.
const MAX_REPLY: usize = 1 << 20;

/// A connection to one process for polling, opened on first use and again
/// after any error, so one round's failure does not poison the next.
#[derive(Debug)]
pub(crate) struct Probe {
    port: u16,
    stream: Option<BufReader<TcpStream>>,
}

/// A reply as far as the probes need it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Reply {
    /// A simple string, a bulk string or an integer.
    Text(String),
    /// A null bulk string or a null array.
    Nil,
    /// An array, at most two levels deep.
    Array(Vec<Reply>),
}

impl Probe {
    pub(crate) fn new(port: u16) -> Probe {
        Probe { port, stream: None }
    }

    /// The port probed.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Sends a command whose reply must be text, and returns it.
    pub(crate) fn text(&mut self, args: &[&str]) -> io::Result<String> {
        into_text(self.request(args)?)
    }

    /// Sends a command and returns its reply; an error reply is an error.
    pub(crate) fn request(&mut self, args: &[&str]) -> io::Result<Reply> {
        let reply = self.exchange(args);
        if reply.is_err() {
            self.stream = None;
        }
        reply
    }

    fn exchange(&mut self, args: &[&str]) -> io::Result<Reply> {
        let reader = match &mut self.stream {
            Some(reader) => reader,
            None => {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
                let stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
                stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
                stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
                self.stream.insert(BufReader::new(stream))
            }
        };
        reader.get_mut().write_all(&encode(args))?;
        read_reply(reader, 2)
    }
}

/// The text of a reply that must be text.
pub(crate) fn into_text(reply: Reply) -> io::Result<String> {
    match reply {
        Reply::Text(text) => Ok(text),
        other => Err(unexpected(&other)),
    }
}

/// The error for a reply of a shape the caller did not expect.
pub(crate) fn unexpected(reply: &Reply) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected reply {reply:?}"),
    )
}

/// A command as a RESP array of bulk strings.
pub(crate) fn encode(args: &[&str]) -> Vec<u8> {
    let mut frame = format!("*{}\r\n", args.len());
    for arg in args {
        let _ = write!(frame, "${}\r\n{arg}\r\n", arg.len());
    }
    frame.into_bytes()
}

/// Reads one reply: text, a null, or an array of replies with at most
/// `depth` levels of arrays; an error reply is an error.
pub(crate) fn read_reply(reader: &mut impl BufRead, depth: usize) -> io::Result<Reply> {
    let line = read_line(reader)?;
    let invalid =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {line:?}"));
    let length = || -> io::Result<Option<usize>> {
        match line[1..].parse::<i64>() {
            Ok(-1) => Ok(None),
            Ok(len) => usize::try_from(len)
                .ok()
                .filter(|len| *len <= MAX_REPLY)
                .map(Some)
                .ok_or_else(|| invalid("bad length")),
            Err(_) => Err(invalid("bad length")),
        }
    };
    match line.as_bytes().first() {
        Some(b'+' | b':') => Ok(Reply::Text(line[1..].to_owned())),
        Some(b'-') => Err(io::Error::other(format!(
            "the server replied {}",
            &line[1..]
        ))),
        Some(b'$') => {
            let Some(len) = length()? else {
                return Ok(Reply::Nil);
            };
            let mut bulk = vec![0; len + 2];
            reader.read_exact(&mut bulk)?;
            if !bulk.ends_with(b"\r\n") {
                return Err(invalid("bulk string without its CRLF"));
            }
            bulk.truncate(len);
            Ok(Reply::Text(String::from_utf8_lossy(&bulk).into_owned()))
        }
        Some(b'*') if depth > 0 => {
            let Some(len) = length()? else {
                return Ok(Reply::Nil);
            };
            let elements = (0..len)
                .map(|_| read_reply(reader, depth - 1))
                .collect::<io::Result<_>>()?;
            Ok(Reply::Array(elements))
        }
        _ => Err(invalid("unexpected reply")),
    }
}

/// Reads one CRLF-terminated line and returns it without the CRLF.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(MAX_REPLY as u64)
        .read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let read = |bytes: &[u8]| read_reply(&mut &bytes[..], 2).and_then(into_text);
        assert_eq!(read(b"+OK\r\n").unwrap(), "OK");
        assert_eq!(read(b":12182\r\n").unwrap(), "12182");
        assert_eq!(read(b"$5\r\na\r\nbc\r\n").unwrap(), "a\r\nbc");
        assert_eq!(read(b"$0\r\n\r\n").unwrap(), "");
        let error = read(b"-ERR This instance has cluster support disabled\r\n").unwrap_err();
        assert!(
            error.to_string().contains("cluster support disabled"),
            "{error}"
        );
        assert_eq!(
            read(b"$-1\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read(b"*1\r\n+OK\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read(b"$5\r\nab").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read(b"+OK").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read_reply(&mut &b"*2\r\n$1\r\na\r\n$-1\r\n"[..], 2).unwrap(),
            Reply::Array(vec![Reply::Text("a".into()), Reply::Nil])
        );
        assert_eq!(
            read_reply(&mut &b"*1\r\n*1\r\n*1\r\n+deep\r\n"[..], 2)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn nested_and_null_replies() {
        let read = |bytes: &[u8]| read_reply(&mut &bytes[..], 2);
        let text = |s: &str| Reply::Text(s.to_owned());
        assert_eq!(read(b"*-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(
            read(b"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n").unwrap(),
            Reply::Array(vec![text("127.0.0.1"), text("6380")])
        );
        let error = read(b"-NOGOODSLAVE No suitable replica to promote\r\n").unwrap_err();
        assert!(error.to_string().contains("NOGOODSLAVE"), "{error}");
        assert_eq!(
            read(b"*1\r\n*1\r\n+a\r\n").unwrap(),
            Reply::Array(vec![Reply::Array(vec![text("a")])])
        );
        assert_eq!(
            read(b"$99999999999\r\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn commands_are_resp_arrays() {
        assert_eq!(
            encode(&["CLUSTER", "INFO"]),
            b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n"
        );
    }
}
