//! Many tasks share one connection, and their commands are pipelined onto
//! it without anyone writing a pipeline.
//!
//! ```text
//! cargo run --release -p examples --example realistic -- [seconds] [tasks]   # default: 3 s, 64 tasks
//! ```
//!
//! Each task loops: `INCR` a shared counter, then `SET` a key named after
//! the new value. It awaits only what it needs: the `INCR`, whose value
//! names the key; the `SET` is queued and its reply never awaited. At the
//! end it prints how many commands went out per write to the socket (the
//! connection's own counters, `stats()`) and how many commands a second.
//!
//! The server is `REDIS_URL` (default `redis://127.0.0.1:6379`). The keys
//! (`realistic:*`) expire after a minute.

use std::time::{Duration, Instant};

use redis_facade::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let tasks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);

    let conn = Client::open(url)?.paired().await?;
    conn.del("realistic:counter").await?;

    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let mut writes = 0_u64;
                while Instant::now() < deadline {
                    // The new value names the key, so this reply is awaited...
                    let n = conn.incr("realistic:counter").await?;
                    // ...and this one is not: queued now, its reply discarded.
                    conn.send_and_forget(cmd!("SET", format!("realistic:{n}"), n, "EX", 60))?;
                    writes += 1;
                }
                Ok::<_, Error>(writes)
            })
        })
        .collect();
    let mut writes = 0;
    for worker in workers {
        writes += worker.await.expect("a worker panicked")?;
    }
    // Replies come in order: once PING's is back, so are those of every SET.
    conn.ping().await?;
    let elapsed = started.elapsed();

    let stats = conn.stats();
    println!("{tasks} tasks, one connection, {elapsed:.2?}: {writes} INCR + SET pairs");
    println!(
        "{} commands in {} writes: {:.1} commands per write",
        stats.commands,
        stats.writes,
        stats.commands as f64 / stats.writes.max(1) as f64
    );
    println!(
        "{:.0} commands/s",
        stats.commands as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
