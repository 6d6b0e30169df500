//! A command-line tool without async: counts words from standard input in
//! a sorted set with the blocking client, then prints the top ten.
//!
//! ```text
//! echo "to be or not to be" | cargo run -p examples --example blocking
//! ```
//!
//! The server is `REDIS_URL` (default `redis://127.0.0.1:6379`).

use std::io::BufRead;

use redis_facade::blocking::Client;
use redis_facade::prelude::*;

fn main() -> Result<(), Error> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let conn = Client::open(url)?.paired()?;
    conn.del("words").wait()?;
    // Every ZINCRBY is queued at once and waited for at the end: the
    // connection pipelines them as it would for async callers.
    let mut replies = Vec::new();
    for line in std::io::stdin().lock().lines() {
        for word in line?.split_whitespace() {
            replies.push(conn.send::<f64>(cmd!("ZINCRBY", "words", 1, word.to_lowercase())));
        }
    }
    let counted = replies.len();
    for reply in replies {
        reply.wait()?;
    }
    let top: Vec<(String, f64)> = conn
        .send(cmd!("ZRANGE", "words", 0, 9, "REV", "WITHSCORES"))
        .wait()?;
    println!("{counted} words");
    for (word, count) in top {
        println!("{count:>6} {word}");
    }
    Ok(())
}
