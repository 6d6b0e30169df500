//! The `blocking` section: threads without an async runtime doing `GET`s,
//! the facade's `blocking::Client` against redis-rs's synchronous
//! `Connection`, on one throwaway server.
//!
//! Ours is used as its documentation shows: one connection, cloned into
//! every thread, each `GET` ended with `.wait()`. redis-rs's `Connection`
//! cannot be shared, so each thread has its own. Every run opens fresh
//! connections (untimed); the timed part starts the threads and joins them.
//! Every reply is checked.

use std::sync::Arc;

use bytes::Bytes;
use redis_facade::prelude::*;

use crate::clients::Target;
use crate::live::{self, Row};
use crate::measure::{race, Role};
use crate::paired::payload;
use crate::Options;

/// Every case of this section.
pub(crate) const CASES: &[&str] = &[
    "blocking/get/64B/1threads",
    "blocking/get/64B/4threads",
    "blocking/get/64B/16threads",
];

/// Ours, in the tables.
const OURS: &str = "blocking::Client";
/// The peer.
const REDIS_RS: &str = "redis-rs";
/// The peers, in the order of the ratio columns.
const PEERS: &[&str] = &[REDIS_RS];

/// `GET`s each thread does in a run.
const GETS_PER_THREAD: u64 = 20_000;

/// The key every `GET` reads.
const KEY: &str = "bench:blocking:get";

/// Runs the selected cases, then a summary of ours against redis-rs.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let server =
        xtask::RedisServer::start().map_err(|e| format!("cannot start redis-server: {e}"))?;
    let target = Target {
        url: server.url(),
        port: server.port(),
    };
    println!(
        "(threads doing {GETS_PER_THREAD} GETs each, every reply awaited: {OURS} one connection \
         shared by all the threads, redis-rs's synchronous Connection one per thread; cpu is \
         the whole process's, user and system: the server is another process)"
    );
    live::print_legend();
    let value = payload(64);
    let mut summary = Vec::new();
    for (case, threads) in CASES.iter().zip([1, 4, 16]) {
        if !options.selects(case) {
            continue;
        }
        let versus = run_case(options, &target, case, threads, &value)?;
        summary.push((case.to_string(), versus));
    }
    live::print_summary(OURS, "operation", PEERS, &summary);
    Ok(())
}

fn run_case(
    options: &Options,
    target: &Target,
    case: &str,
    threads: usize,
    value: &Bytes,
) -> Result<Vec<crate::measure::Versus>, String> {
    let ops = threads as u64 * GETS_PER_THREAD;
    let mut contenders = Vec::new();
    if live::includes(options, OURS, Role::Ours) {
        contenders.push(live::contender(
            OURS,
            Role::Ours,
            move || {
                live::admin(target.port, &[b"SET", KEY.as_bytes(), value])?;
                let client = redis_facade::blocking::Client::open(&target.url)
                    .map_err(|e| format!("bad url {}: {e}", target.url))?;
                client.paired().map_err(|e| format!("cannot connect: {e}"))
            },
            move |conn| {
                spread(threads, |_| {
                    let conn = conn.clone();
                    let value = value.clone();
                    move || {
                        for _ in 0..GETS_PER_THREAD {
                            let got: Option<Bytes> =
                                conn.get(KEY).wait().map_err(|e| e.to_string())?;
                            check(got.as_deref().unwrap_or_default(), &value)?;
                        }
                        Ok(GETS_PER_THREAD)
                    }
                })
            },
            drop,
        ));
    }
    if live::includes(options, REDIS_RS, Role::Peer) {
        contenders.push(live::contender(
            REDIS_RS,
            Role::Peer,
            move || {
                live::admin(target.port, &[b"SET", KEY.as_bytes(), value])?;
                let client = redis::Client::open(target.url.as_str())
                    .map_err(|e| format!("bad url {}: {e}", target.url))?;
                (0..threads)
                    .map(|_| {
                        client
                            .get_connection()
                            .map(|c| Arc::new(std::sync::Mutex::new(c)))
                            .map_err(|e| format!("cannot connect: {e}"))
                    })
                    .collect::<Result<Vec<_>, String>>()
            },
            move |conns| {
                spread(threads, |i| {
                    let conn = Arc::clone(&conns[i]);
                    let value = value.clone();
                    move || {
                        // Each thread's own connection: the lock is never
                        // contended.
                        let mut conn = conn.lock().map_err(|e| e.to_string())?;
                        for _ in 0..GETS_PER_THREAD {
                            let got: Vec<u8> = redis::cmd("GET")
                                .arg(KEY)
                                .query(&mut *conn)
                                .map_err(|e| e.to_string())?;
                            check(&got, &value)?;
                        }
                        Ok(GETS_PER_THREAD)
                    }
                })
            },
            drop,
        ));
    }
    let results = race(options, contenders);
    live::check_outputs(case, &results)?;
    let mut rows = Vec::new();
    for runs in &results {
        for done in runs.outputs.iter().flatten() {
            if *done != ops {
                return Err(format!(
                    "{case}: {} checked {done} GETs, expected {ops}",
                    runs.name
                ));
            }
        }
        rows.push(Row::from_runs(runs, ops));
    }
    Ok(live::print_table(
        case,
        &format!(
            "GET of one 64 bytes value from {threads} threads, each awaiting every reply; {ops} \
             operations a run"
        ),
        "op",
        &rows,
        PEERS,
        options.budget,
    ))
}

/// Runs `threads` threads, the `i`th doing what `work(i)` gives, and adds
/// up what they counted.
fn spread<W>(threads: usize, mut work: impl FnMut(usize) -> W) -> Result<u64, String>
where
    W: FnOnce() -> Result<u64, String> + Send + 'static,
{
    let handles: Vec<_> = (0..threads).map(|i| std::thread::spawn(work(i))).collect();
    let mut done = 0;
    for handle in handles {
        done += handle
            .join()
            .map_err(|_| "a benchmark thread panicked".to_string())??;
    }
    Ok(done)
}

fn check(got: &[u8], value: &[u8]) -> Result<(), String> {
    if got == value {
        Ok(())
    } else {
        Err(format!(
            "GET returned {} bytes, not the {} stored",
            got.len(),
            value.len()
        ))
    }
}
