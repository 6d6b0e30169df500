//! Cache-aside: look a session up in Redis first; on a miss, load it from
//! the slow source of truth (a sleep standing in for a database query) and
//! store it with a time to live (`SET ... EX`), so the next lookup is a hit.
//!
//! ```text
//! cargo run -p examples --example sessions
//! ```
//!
//! Prints every lookup, hit or miss, with its time; then waits for the
//! entries to expire and shows that the next lookup misses again. Sessions
//! are stored as JSON (`Json`, the `serde` feature of `redis-facade`).
//!
//! The server is `REDIS_URL` (default `redis://127.0.0.1:6379`).

use std::time::{Duration, Instant};

use redis_facade::prelude::*;
use serde::{Deserialize, Serialize};

/// How long a cached session lives: short, to watch it expire.
const TTL_SECONDS: u64 = 2;
/// How long the "database" takes to answer.
const DATABASE_DELAY: Duration = Duration::from_millis(150);

#[derive(Debug, Serialize, Deserialize)]
struct Session {
    id: u32,
    user: String,
    roles: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let conn = Client::open(url)?.paired().await?;
    // Start cold.
    conn.del(["sessions:1", "sessions:2", "sessions:3"]).await?;

    let (mut hits, mut misses) = (Tally::default(), Tally::default());
    for id in [1, 2, 1, 1, 3, 2, 3, 1] {
        lookup(&conn, id, &mut hits, &mut misses).await?;
    }

    println!("waiting {TTL_SECONDS} s for the cached sessions to expire...");
    tokio::time::sleep(Duration::from_secs(TTL_SECONDS) + Duration::from_millis(200)).await;
    lookup(&conn, 1, &mut hits, &mut misses).await?;

    println!("{} hits, average {:.2?}", hits.count, hits.average());
    println!("{} misses, average {:.2?}", misses.count, misses.average());
    Ok(())
}

/// Finds a session, prints how, and counts it.
async fn lookup(
    conn: &PairedConnection,
    id: u32,
    hits: &mut Tally,
    misses: &mut Tally,
) -> Result<(), Error> {
    let started = Instant::now();
    let (session, hit) = session(conn, id).await?;
    let elapsed = started.elapsed();
    let (tally, outcome) = if hit {
        (hits, "hit ")
    } else {
        (misses, "miss")
    };
    tally.add(elapsed);
    println!(
        "session {id} ({}): {outcome} in {elapsed:.2?}",
        session.user
    );
    Ok(())
}

/// The session, from the cache if it is there (`true`), or else from the
/// database, then cached.
async fn session(conn: &PairedConnection, id: u32) -> Result<(Session, bool), Error> {
    let key = format!("sessions:{id}");
    if let Some(Json(session)) = conn.get::<Json<Session>>(&key).await? {
        return Ok((session, true));
    }
    let session = load_from_database(id).await;
    let ttl = SetOptions::new().expiry(Expiry::Ex(TTL_SECONDS));
    conn.set_with::<()>(&key, Json(&session), ttl).await?;
    Ok((session, false))
}

/// The slow source of truth.
async fn load_from_database(id: u32) -> Session {
    tokio::time::sleep(DATABASE_DELAY).await;
    Session {
        id,
        user: format!("user-{id}"),
        roles: vec!["reader".into()],
    }
}

/// How many lookups of one outcome, and how long they took in all.
#[derive(Default)]
struct Tally {
    count: u32,
    total: Duration,
}

impl Tally {
    fn add(&mut self, elapsed: Duration) {
        self.count += 1;
        self.total += elapsed;
    }

    fn average(&self) -> Duration {
        self.total.checked_div(self.count).unwrap_or_default()
    }
}
