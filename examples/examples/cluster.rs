//! A shopping cart on a Redis Cluster: the same typed commands as on one
//! server, each sent to the node that owns its key.
//!
//! ```text
//! cargo run -p examples --example cluster
//! ```
//!
//! Fills carts for a few users, each cart's keys sharing a hash tag
//! (`{user:7}`) so that a transaction-like `MSET` stays on one node; reads
//! all the carts back with one `MGET` over keys of many slots (split by
//! slot, answered in order); shows which node serves which user and the
//! redirects followed.
//!
//! The cluster is `REDIS_CLUSTER_URL` (`redis+cluster://host1:port1,...`,
//! default `redis+cluster://127.0.0.1:7000`), or the seeds listed in
//! `REDIS_CLUSTER_URLS` (`redis://...,redis://...`), as
//! `cargo xtask demo` sets it.

use redis_facade::cluster::key_slot;
use redis_facade::prelude::*;
use redis_facade::{ClusterConfig, ClusterConnection};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config: ClusterConfig = match std::env::var("REDIS_CLUSTER_URLS") {
        Ok(urls) => ClusterConfig::from_urls(urls.split(','))?,
        Err(_) => std::env::var("REDIS_CLUSTER_URL")
            .unwrap_or_else(|_| "redis+cluster://127.0.0.1:7000".into())
            .parse()?,
    };
    let conn = ClusterConnection::connect(&config).await?;
    let topology = conn.topology();
    println!(
        "{} shards serve {} slots",
        topology.shards().len(),
        topology.slots_served()
    );

    let users = 1..=6;
    for user in users.clone() {
        let tag = format!("{{user:{user}}}");
        // Both keys hash to the tag's slot: one node, one command.
        let fields = [
            (format!("{tag}:cart:items"), (user * 2).to_string()),
            (format!("{tag}:cart:total"), (user * 15).to_string()),
        ];
        conn.send::<()>(cmd!("MSET", fields.to_vec())).await?;
        let owner = &topology
            .shard(key_slot(tag.as_bytes()))
            .map(|s| s.primary.to_string())
            .unwrap_or_default();
        println!(
            "user {user}: slot {:5} on {owner}",
            key_slot(tag.as_bytes())
        );
    }

    // One MGET over every user's total: the keys are on several nodes, so
    // the client splits it by slot and puts the answers back in order.
    let keys: Vec<String> = users
        .clone()
        .map(|u| format!("{{user:{u}}}:cart:total"))
        .collect();
    let totals: Vec<Option<u64>> = conn.send(cmd!("MGET", keys.clone())).await?;
    for (user, total) in users.zip(totals) {
        println!("user {user}: cart total {}", total.unwrap_or(0));
    }
    let removed: i64 = conn.send(cmd!("DEL", keys)).await?;
    println!(
        "removed {removed} totals; redirects followed: {:?}",
        conn.stats()
    );
    Ok(())
}
