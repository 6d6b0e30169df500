use redis_facade::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = Client::open(url)?; // parses the URL, connects nothing yet
    let conn = client.paired().await?; // one socket; clone it into every task

    conn.set("greeting", "hello").await?;
    let greeting: Option<String> = conn.get("greeting").await?; // None when missing

    // Queued as they are called: the 100 INCRs share a few writes, no pipeline needed.
    let replies: Vec<_> = (0..100).map(|_| conn.incr("visits")).collect();
    for reply in replies {
        reply.await?;
    }
    let visits: i64 = conn.send(cmd!("GET", "visits")).await?; // any command, typed
    println!("{greeting:?}, {visits} visits");
    Ok(())
}
