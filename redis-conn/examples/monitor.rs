//! Prints every command the server receives, like `redis-cli monitor`, until
//! Ctrl-C or until the server closes the connection.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 cargo run -p redis-conn --example monitor
//! ```

use futures_util::StreamExt;
use redis_conn::ConnectionConfig;
use resp::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), redis_conn::Error> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let config: ConnectionConfig = url.parse()?;
    let mut conn = redis_conn::connect(&config).await?;
    // MONITOR answers OK, then sends one line per command from then on.
    conn.send(resp::cmd!("MONITOR")).await?;
    eprintln!("monitoring {}; Ctrl-C to stop", config.address());

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
