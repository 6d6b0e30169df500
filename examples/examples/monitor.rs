//! Prints every command the server runs, like `redis-cli monitor`, until
//! Ctrl-C or until the server closes the connection.
//!
//! ```text
//! cargo run -p examples --example monitor
//! redis-cli set greeting hello          # in another terminal
//! ```
//!
//! The server is `REDIS_URL` (default `redis://127.0.0.1:6379`). MONITOR
//! turns a connection into a one-way stream of lines, so this uses the
//! low-level connection (`Client::connect`), which hands out every frame the
//! server sends instead of pairing replies with requests.

use redis_facade::prelude::*;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = Client::open(url)?;
    let mut conn = client.connect().await?;
    // MONITOR answers OK, then sends one line per command from then on.
    conn.send(cmd!("MONITOR")).await?;
    eprintln!("monitoring {}; Ctrl-C to stop", client.config().address());

    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            line = conn.next() => match line {
                Some(Ok(Value::SimpleString(line) | Value::BulkString(line))) => {
                    println!("{}", String::from_utf8_lossy(&line));
                }
                Some(Ok(other)) => println!("{other:?}"),
                Some(Err(e)) => return Err(e),
                None => {
                    eprintln!("the server closed the connection");
                    break;
                }
            },
        }
    }
    Ok(())
}
