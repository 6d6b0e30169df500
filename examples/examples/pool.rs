//! Optimistic locking with a pool of exclusive connections: many tasks
//! move money between accounts with `WATCH`/`MULTI`/`EXEC`, retrying when
//! another task got in between, and no money is created or lost.
//!
//! ```text
//! cargo run -p examples --example pool
//! ```
//!
//! The server is `REDIS_URL` (default `redis://127.0.0.1:6379`).

use redis_facade::prelude::*;
use redis_facade::PoolOptions;

const ACCOUNTS: i64 = 5;
const TRANSFERS: i64 = 200;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let pool = Client::open(url)?.pool(PoolOptions::new().with_max_size(4));
    {
        let conn = pool.get().await?;
        for account in 0..ACCOUNTS {
            conn.set(format!("account:{account}"), 100).await?;
        }
    }
    let tasks: Vec<_> = (0..TRANSFERS)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let (from, to) = (
                    format!("account:{}", n % ACCOUNTS),
                    format!("account:{}", (n + 1) % ACCOUNTS),
                );
                let conn = pool.get().await?;
                conn.watch([&from, &to], 100, |conn| {
                    let (from, to) = (from.clone(), to.clone());
                    async move {
                        let balance: i64 = conn.get(&from).await?.unwrap_or(0);
                        let amount = balance.min(7);
                        let _: (i64, i64) = conn
                            .transaction()
                            .decr_by(&from, amount)
                            .incr_by(&to, amount)
                            .query()
                            .await?;
                        Ok(())
                    }
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no task panicked")?;
    }
    let conn = pool.get().await?;
    let mut total = 0;
    for account in 0..ACCOUNTS {
        let balance: i64 = conn.get(format!("account:{account}")).await?.unwrap_or(0);
        println!("account:{account} {balance}");
        total += balance;
    }
    println!(
        "total {total} (was {}); pool: {:?}",
        100 * ACCOUNTS,
        pool.stats()
    );
    Ok(())
}
