//! Writes a counter through Redis Sentinel once a second and says which
//! node answered: fail the master over (`redis-cli -p 26379 SENTINEL
//! FAILOVER mymaster`, or kill it) and watch the connection follow.
//!
//! ```text
//! REDIS_SENTINEL_URL=redis+sentinel://127.0.0.1:26379/mymaster cargo run -p examples --example sentinel
//! ```
//!
//! Stops after `REDIS_SENTINEL_ROUNDS` rounds (default 10).

use std::time::Duration;

use redis_facade::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("REDIS_SENTINEL_URL")
        .unwrap_or_else(|_| "redis+sentinel://127.0.0.1:26379/mymaster".into());
    let rounds: u32 = std::env::var("REDIS_SENTINEL_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let conn = Client::open(url)?.paired().await?;
    for _ in 0..rounds {
        match conn.incr("sentinel:counter").await {
            Ok(n) => {
                let info: String = conn.send(cmd!("INFO", "server")).await?;
                let port = info
                    .lines()
                    .find_map(|l| l.strip_prefix("tcp_port:"))
                    .unwrap_or("?");
                println!("counter {n}, from the master on port {}", port.trim());
            }
            Err(e) => println!("{e} (following the failover)"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}
