//! A fake server in the test process, for the tests that script what a
//! server writes: it reads each command a connection sends and writes what
//! the test's `answer` says, in one write.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use resp::{Decoder, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake server does with one command.
pub struct Answer {
    /// Written in one write.
    pub bytes: Vec<u8>,
    /// Waited before writing.
    pub delay: Duration,
    /// Hang up after writing.
    pub close: bool,
}

impl Answer {
    /// Writes `bytes`, at once, and goes on.
    pub fn write(bytes: impl Into<Vec<u8>>) -> Answer {
        Answer {
            bytes: bytes.into(),
            delay: Duration::ZERO,
            close: false,
        }
    }

    /// Hangs up without writing.
    pub fn hang_up() -> Answer {
        Answer {
            bytes: Vec::new(),
            delay: Duration::ZERO,
            close: true,
        }
    }
}

/// Listens on a free loopback port, and answers each command (a RESP
/// value as decoded) with `answer(connection, command)`, connections
/// numbered from 0 in the order they come. Returns the port, and the count
/// of connections taken.
pub async fn serve(
    answer: impl Fn(usize, Value) -> Answer + Send + Sync + 'static,
) -> (u16, Arc<AtomicUsize>) {
    let answer = Arc::new(answer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let connection = counter.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut decoder = Decoder::new();
                let mut buf = BytesMut::new();
                loop {
                    let cmd = match decoder.decode(&mut buf) {
                        Ok(Some(cmd)) => cmd,
                        Ok(None) => match socket.read_buf(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => continue,
                        },
                        Err(_) => return,
                    };
                    let act = answer(connection, cmd);
                    if !act.delay.is_zero() {
                        tokio::time::sleep(act.delay).await;
                    }
                    if socket.write_all(&act.bytes).await.is_err() || act.close {
                        return;
                    }
                }
            });
        }
    });
    (port, connections)
}
