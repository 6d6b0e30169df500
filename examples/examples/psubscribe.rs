//! Prints every message published to a channel matching a pattern until
//! Ctrl-C, with the channel it went to.
//!
//! ```text
//! cargo run -p examples --example psubscribe -- [pattern]   # default: test-*
//! redis-cli publish test-news hello                        # in another terminal
//! ```
//!
//! The server is `REDIS_URL` (default `redis://127.0.0.1:6379`).

use redis_facade::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let pattern = std::env::args().nth(1).unwrap_or_else(|| "test-*".into());

    let conn = Client::open(url)?.pubsub().await?;
    let mut subscription = conn.psubscribe(pattern.as_str()).await?;
    println!("subscribed to channels matching {pattern}; Ctrl-C to stop");

    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let event = tokio::select! {
            _ = &mut ctrl_c => break,
            event = subscription.next() => event,
        };
        match event {
            Some(Event::Message(message)) => println!(
                "{} (matched {}): {}",
                String::from_utf8_lossy(message.channel()),
                String::from_utf8_lossy(message.pattern().map_or(&b""[..], |p| &p[..])),
                String::from_utf8_lossy(message.payload())
            ),
            Some(Event::Lagged(n)) => eprintln!("fell behind: {n} messages dropped"),
            Some(Event::Disconnected(error)) => {
                eprintln!("connection lost ({error}); reconnecting")
            }
            Some(Event::Resubscribed) => eprintln!("subscribed again"),
            Some(_) => {}
            None => break,
        }
    }
    Ok(())
}
