//! Prints every message published to a channel until Ctrl-C.
//!
//! ```text
//! cargo run -p examples --example pubsub -- [channel]   # default: test-topic
//! redis-cli publish test-topic hello                   # in another terminal
//! ```
//!
//! The server is `REDIS_URL` (default `redis://127.0.0.1:6379`). Stop the
//! server and start it again: the subscription comes back by itself, and
//! the stream says so.

use redis_facade::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let channel = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "test-topic".into());

    let conn = Client::open(url)?.pubsub().await?;
    let mut subscription = conn.subscribe(channel.as_str()).await?;
    println!("subscribed to {channel}; Ctrl-C to stop");

    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let event = tokio::select! {
            _ = &mut ctrl_c => break,
            event = subscription.next() => event,
        };
        match event {
            Some(Event::Message(message)) => println!(
                "{}: {}",
                String::from_utf8_lossy(message.channel()),
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
