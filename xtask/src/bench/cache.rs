//! The `cache` section: client-side caching. `redis-paired` with its cache
//! against redis-rs's multiplexed connection with its `cache-aio` cache,
//! and against `redis-paired` without a cache, on one throwaway server.
//!
//! Every contender gets, for every run, a fresh runtime and connection; the
//! server is flushed and prepared, and the cache warmed by reading each hot
//! key once, before the timed part. Every reply is checked, and the cached
//! contenders run a checker beside the timed tasks: another connection
//! increments a counter, the cached connection makes a round trip (`PING`,
//! after which it has read any invalidation the write caused) and reads
//! the counter; a read below the acknowledged value is a stale read, and
//! the run fails if there is one.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis_paired::{CacheOptions, Commands};
use resp::cmd;

use crate::clients::Target;
use crate::live::{self, Row};
use crate::measure::{race, Role, Spread};
use crate::paired::{payload, share};
use crate::Options;

/// Every case of this section.
pub(crate) const CASES: &[&str] = &[
    "cache/get/hit/1task",
    "cache/get/90%hits/64tasks",
    "cache/get/miss/64tasks",
];

const OURS: &str = "redis-paired+cache";
const REDIS_RS: &str = "redis-rs cache-aio";
const UNCACHED: &str = "redis-paired";

/// The peers, in the order of the ratio columns.
const PEERS: &[&str] = &[REDIS_RS, UNCACHED];

/// Keys read again and again, 64 bytes each.
const HOT: usize = 100;
const VALUE_SIZE: usize = 64;
/// The checker's counter.
const CHECKED: &str = "bench:checked";

/// One case: how many tasks, how many reads in all, and how many of every
/// ten go to keys read for the first time (misses).
#[derive(Debug)]
struct Case {
    name: &'static str,
    tasks: usize,
    ops: u64,
    /// Of every ten reads, this many are of a key never read before.
    cold_in_ten: u64,
}

fn plan() -> Vec<Case> {
    vec![
        Case {
            name: CASES[0],
            tasks: 1,
            ops: 200_000,
            cold_in_ten: 0,
        },
        Case {
            name: CASES[1],
            tasks: 64,
            ops: 400_000,
            cold_in_ten: 1,
        },
        // What the cache costs a read it cannot answer.
        Case {
            name: CASES[2],
            tasks: 64,
            ops: 200_000,
            cold_in_ten: 10,
        },
    ]
}

/// What a run did.
#[derive(Debug, Clone, Default)]
struct Done {
    ops: u64,
    /// The median latency of one read, each timed alone (1-task case).
    p50: Option<Duration>,
    p99: Option<Duration>,
    /// The checker's rounds and the stale reads it saw.
    checks: u64,
    stale: u64,
    /// The client's own count of hits and misses, where it keeps one.
    hits: Option<(u64, u64)>,
    /// Commands written and the writes that carried them, where the
    /// client counts them: how well the reads that reach the server are
    /// batched.
    writes: Option<(u64, u64)>,
}

/// Runs the selected cases, then a summary of the cache's ratios.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let server =
        xtask::RedisServer::start().map_err(|e| format!("cannot start redis-server: {e}"))?;
    let target = Target {
        url: server.url(),
        port: server.port(),
    };
    println!(
        "(one connection per contender, fresh for every run, on a tokio multi-thread runtime \
         with {} workers; {HOT} hot keys of {VALUE_SIZE} B read once before the timed part; \
         the uncached contender does a tenth of the reads of the 1-task case)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    live::print_legend();
    let mut summary = Vec::new();
    for case in plan().iter().filter(|c| options.selects(c.name)) {
        let versus = run_case(options, &target, case)?;
        summary.push((case.name.to_string(), versus));
    }
    live::print_summary(OURS, "read", PEERS, &summary);
    Ok(())
}

fn run_case(
    options: &Options,
    target: &Target,
    case: &Case,
) -> Result<Vec<crate::measure::Versus>, String> {
    let mut contenders = Vec::new();
    for (name, role) in [
        (OURS, Role::Ours),
        (REDIS_RS, Role::Peer),
        (UNCACHED, Role::Peer),
    ] {
        if !live::includes(options, name, role) {
            continue;
        }
        // Without a cache every read is a round trip: fewer of them.
        let ops = if name == UNCACHED && case.tasks == 1 {
            case.ops / 10
        } else {
            case.ops
        };
        contenders.push(live::contender(
            name,
            role,
            move || {
                let runtime = live::runtime()?;
                let client = runtime.block_on(async {
                    prepare(target.port)?;
                    let client = Bench::connect(name, target).await?;
                    warm(&client).await?;
                    Ok::<_, String>(client)
                })?;
                Ok((runtime, client))
            },
            move |(runtime, client)| runtime.block_on(drive(client.clone(), target, case, ops)),
            move |(runtime, client)| drop((runtime, client)),
        ));
    }
    let results = race(options, contenders);
    live::check_outputs(case.name, &results)?;
    let mut rows = Vec::new();
    for runs in &results {
        let outputs: Vec<&Done> = runs.outputs.iter().flatten().collect();
        let ops = outputs.first().map_or(case.ops, |d| d.ops);
        let stale: u64 = outputs.iter().map(|d| d.stale).sum();
        let checks: u64 = outputs.iter().map(|d| d.checks).sum();
        if stale > 0 {
            return Err(format!(
                "{}: {} read a stale value {stale} times in {checks} checks",
                case.name, runs.name
            ));
        }
        let mut row = Row::from_runs(runs, ops);
        let mut note = String::new();
        let us = |d: Option<Duration>| d.map(|d| d.as_nanos() as f64);
        if let Some(p50) = Spread::of(outputs.iter().filter_map(|d| us(d.p50))) {
            let p99 = Spread::of(outputs.iter().filter_map(|d| us(d.p99)));
            note += &format!(
                "  read timed alone: p50 {:.0} ns ({:.0}–{:.0}), p99 {:.0} ns",
                p50.median,
                p50.min,
                p50.max,
                p99.map_or(f64::NAN, |s| s.median)
            );
        }
        let (hits, misses) = outputs
            .iter()
            .filter_map(|d| d.hits)
            .fold((0, 0), |(h, m), (dh, dm)| (h + dh, m + dm));
        if hits + misses > 0 {
            note += &format!(
                "  hits {:.1}%",
                100.0 * hits as f64 / (hits + misses) as f64
            );
        }
        let (commands, writes) = outputs
            .iter()
            .filter_map(|d| d.writes)
            .fold((0, 0), |(c, w), (dc, dw)| (c + dc, w + dw));
        if writes > 0 {
            note += &format!("  {:.1} commands a write", commands as f64 / writes as f64);
        }
        if checks > 0 {
            note += &format!("  checker: {checks} reads after a write, 0 stale");
        }
        row.note = note;
        rows.push(row);
    }
    Ok(live::print_table(
        case.name,
        &format!(
            "{} task(s) read {} keys by GET, {} in 10 of them never read before",
            case.tasks, HOT, case.cold_in_ten
        ),
        "op",
        &rows,
        PEERS,
        options.budget,
    ))
}

/// Empties the server and stores the hot keys.
fn prepare(port: u16) -> Result<(), String> {
    live::admin(port, &[b"FLUSHALL"])?;
    let value = payload(VALUE_SIZE);
    for i in 0..HOT {
        live::admin(port, &[b"SET", hot(i).as_bytes(), &value])?;
    }
    Ok(())
}

fn hot(i: usize) -> String {
    format!("bench:hot:{i}")
}

/// A contender's connection.
#[derive(Clone)]
enum Bench {
    Ours(redis_paired::PairedConnection),
    RedisRs(redis::aio::MultiplexedConnection),
}

impl Bench {
    async fn connect(name: &str, target: &Target) -> Result<Bench, String> {
        let config = redis_conn::ConnectionConfig::from_url(&target.url)
            .map_err(|e| format!("bad url {}: {e}", target.url))?;
        match name {
            OURS | UNCACHED => {
                let mut options = redis_paired::Options::new();
                if name == OURS {
                    options = options.with_cache(CacheOptions::new(64 << 20));
                }
                let conn = redis_paired::PairedConnection::connect_with(&config, options)
                    .await
                    .map_err(|e| format!("cannot connect: {e}"))?;
                Ok(Bench::Ours(conn))
            }
            _ => {
                let url = format!("redis://127.0.0.1:{}/?protocol=resp3", target.port);
                let client = redis::Client::open(url).map_err(|e| e.to_string())?;
                let cache = redis::caching::CacheConfig::new()
                    .set_size(NonZeroUsize::new(1_000_000).ok_or("zero")?);
                let config = redis::AsyncConnectionConfig::new().set_cache_config(cache);
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| format!("cannot connect: {e}"))?;
                Ok(Bench::RedisRs(conn))
            }
        }
    }

    async fn get(&mut self, key: &str) -> Result<Option<Bytes>, String> {
        match self {
            Bench::Ours(conn) => conn.get::<Bytes>(key).await.map_err(|e| e.to_string()),
            Bench::RedisRs(conn) => {
                let value: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(key)
                    .query_async(conn)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(value.map(Bytes::from))
            }
        }
    }

    async fn ping(&self) -> Result<(), String> {
        match self {
            Bench::Ours(conn) => conn
                .send::<String>(cmd!("PING"))
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Bench::RedisRs(conn) => {
                let mut conn = conn.clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    }

    fn is_cached(&self) -> bool {
        match self {
            Bench::Ours(conn) => conn.options().cache().is_some(),
            Bench::RedisRs(_) => true,
        }
    }

    /// Commands written and writes so far, as the client counts them.
    fn writes(&self) -> Option<(u64, u64)> {
        match self {
            Bench::Ours(conn) => {
                let stats = conn.stats();
                Some((stats.commands, stats.writes))
            }
            Bench::RedisRs(_) => None,
        }
    }

    /// Hits and misses so far, as the client counts them.
    fn hits(&self) -> Option<(u64, u64)> {
        match self {
            Bench::Ours(conn) => {
                let stats = conn.stats();
                conn.options()
                    .cache()
                    .map(|_| (stats.cache_hits, stats.cache_misses))
            }
            Bench::RedisRs(conn) => conn
                .get_cache_statistics()
                .map(|s| (s.hit as u64, s.miss as u64)),
        }
    }
}

/// Reads every hot key once, so that the timed part starts with them cached.
async fn warm(client: &Bench) -> Result<(), String> {
    let mut client = client.clone();
    let value = payload(VALUE_SIZE);
    for i in 0..HOT {
        check(client.get(&hot(i)).await?, &value)?;
    }
    Ok(())
}

fn check(read: Option<Bytes>, value: &Bytes) -> Result<(), String> {
    match read {
        Some(data) if data == value => Ok(()),
        other => Err(format!("GET returned {other:?}, not the value stored")),
    }
}

/// The timed part: the case's tasks, and for a cached contender the checker
/// beside them.
async fn drive(client: Bench, target: &Target, case: &Case, ops: u64) -> Result<Done, String> {
    let before = client.hits();
    let written_before = client.writes();
    let value = payload(VALUE_SIZE);
    let stop = Arc::new(AtomicBool::new(false));
    let checker = if client.is_cached() {
        let writer = Bench::connect(UNCACHED, target).await?;
        Some(tokio::spawn(checker(client.clone(), writer, stop.clone())))
    } else {
        None
    };
    let latency = case.tasks == 1;
    // Named once: the timed loop builds no key of the hot set.
    let hot_keys: Arc<Vec<String>> = Arc::new((0..HOT).map(hot).collect());
    let mut tasks = Vec::new();
    for task in 0..case.tasks {
        let n = share(ops, case.tasks, task);
        let (mut client, value) = (client.clone(), value.clone());
        let hot_keys = hot_keys.clone();
        let cold_in_ten = case.cold_in_ten;
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(if latency { n as usize } else { 0 });
            for i in 0..n {
                if i % 10 < cold_in_ten {
                    let key = format!("bench:cold:{task}:{i}");
                    if client.get(&key).await?.is_some() {
                        return Err(format!("{key} was never written"));
                    }
                } else if latency {
                    let key = &hot_keys[i as usize % HOT];
                    let start = Instant::now();
                    let read = client.get(key).await?;
                    times.push(start.elapsed());
                    check(read, &value)?;
                } else {
                    check(client.get(&hot_keys[i as usize % HOT]).await?, &value)?;
                }
            }
            Ok::<_, String>((n, times))
        }));
    }
    let mut done = Done::default();
    let mut times = Vec::new();
    for task in tasks {
        let (n, t) = task.await.map_err(|e| format!("task failed: {e}"))??;
        done.ops += n;
        times.extend(t);
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(checker) = checker {
        let (checks, stale) = checker
            .await
            .map_err(|e| format!("checker failed: {e}"))??;
        done.checks = checks;
        done.stale = stale;
    }
    times.sort_unstable();
    done.p50 = times.get(times.len() / 2).copied();
    done.p99 = times.get(times.len() * 99 / 100).copied();
    done.hits = before
        .zip(client.hits())
        .map(|((h0, m0), (h1, m1))| (h1 - h0, m1 - m0));
    done.writes = written_before
        .zip(client.writes())
        .map(|((c0, w0), (c1, w1))| (c1 - c0, w1 - w0));
    Ok(done)
}

/// Until `stop`: a write on `writer`, a round trip of `client`, a read of
/// what was written through `client`. Returns the rounds and the reads that
/// were below the acknowledged write.
async fn checker(
    mut client: Bench,
    writer: Bench,
    stop: Arc<AtomicBool>,
) -> Result<(u64, u64), String> {
    let Bench::Ours(writer) = writer else {
        return Err("the checker writes with redis-paired".into());
    };
    let (mut checks, mut stale) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let written: i64 = writer.incr(CHECKED).await.map_err(|e| e.to_string())?;
        client.ping().await?;
        let read = client.get(CHECKED).await?;
        let read: i64 = read
            .and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok())
            .unwrap_or(0);
        checks += 1;
        if read < written {
            stale += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok((checks, stale))
}
