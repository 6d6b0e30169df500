//! The `paired` section: many tasks sharing one connection, `redis-paired`
//! against redis-rs's `MultiplexedConnection`, fred's `Client` and
//! redis-async's `PairedConnection`, on one throwaway server.
//!
//! Every contender gets, for every run, a fresh tokio multi-threaded
//! runtime with the default workers and one fresh connection; the server is
//! flushed and prepared before the run, untimed. The timed part spawns the
//! case's tasks, which share the connection (each holds a clone of the
//! handle), and waits for all of them. Every reply is checked.

use std::sync::Arc;

use bytes::Bytes;

use crate::clients::{Client, Fred, Ours, RedisAsync, RedisRs, Target};
use crate::live::{self, Row};
use crate::measure::{race, Contender, Role, Sample, Versus};
use crate::Options;

/// Every case of this section.
pub(crate) const CASES: &[&str] = &[
    "paired/get/64B/1tasks",
    "paired/get/64B/64tasks",
    "paired/get/64B/512tasks",
    "paired/set/64B/1tasks",
    "paired/set/64B/64tasks",
    "paired/set/64B/512tasks",
    "paired/incr-set/256tasks",
    "paired/get/100KiB/16tasks",
    "paired/pipeline/1000set",
];

/// The peers, in the order of the ratio columns.
const PEERS: &[&str] = &[RedisRs::NAME, Fred::NAME, RedisAsync::NAME];

/// Runs the selected cases, then a summary of `redis-paired`'s ratios.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let plan = plan();
    debug_assert!(plan.iter().map(|c| c.name).eq(CASES.iter().copied()));
    let server =
        xtask::RedisServer::start().map_err(|e| format!("cannot start redis-server: {e}"))?;
    let target = Target {
        url: server.url(),
        port: server.port(),
    };
    println!(
        "(one connection per contender, fresh for every run, on a tokio multi-thread runtime \
         with {} workers; cpu is the whole process's, user and system: the server is \
         another process)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    live::print_legend();
    let mut summary = Vec::new();
    for case in plan.iter().filter(|c| options.selects(c.name)) {
        let versus = run_case(options, &target, case)?;
        summary.push((case.name.to_string(), versus));
    }
    let peers: Vec<&str> = PEERS.iter().copied().chain([YARDSTICK]).collect();
    live::print_summary(Ours::NAME, "operation", &peers, &summary);
    Ok(())
}

/// What the tasks of a case do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// `GET` of one prepared value, checked against it.
    Get,
    /// `SET` of a task's own key to the value.
    Set,
    /// `INCR` a shared counter, then `SET realistic:{n} n`, awaiting each
    /// reply before the next command, as a caller writes it
    /// (`let n = incr().await?; set(n).await?;`); two operations a loop.
    IncrSet,
    /// One task sending explicit batches of `SET`s.
    Pipeline { batch: usize },
}

/// One case: what the tasks do, how many there are, and how many
/// operations a run does in all.
#[derive(Debug)]
struct Case {
    name: &'static str,
    work: Work,
    /// The size of the value.
    size: usize,
    tasks: usize,
    ops: u64,
}

fn plan() -> Vec<Case> {
    let case = |name, work, size, tasks, ops| Case {
        name,
        work,
        size,
        tasks,
        ops,
    };
    vec![
        case(CASES[0], Work::Get, 64, 1, 30_000),
        case(CASES[1], Work::Get, 64, 64, 200_000),
        case(CASES[2], Work::Get, 64, 512, 200_000),
        case(CASES[3], Work::Set, 64, 1, 30_000),
        case(CASES[4], Work::Set, 64, 64, 200_000),
        case(CASES[5], Work::Set, 64, 512, 200_000),
        case(CASES[6], Work::IncrSet, 0, 256, 200_000),
        case(CASES[7], Work::Get, 100 * 1024, 16, 10_000),
        case(CASES[8], Work::Pipeline { batch: 1000 }, 64, 1, 200_000),
    ]
}

/// The key every `GET` reads.
const GET_KEY: &str = "bench:get";
/// The counter of the `incr-set` case.
const COUNTER: &str = "bench:counter";

/// What a run did: operations checked, and for a client that counts them,
/// the commands and writes of the timed part.
#[derive(Debug, Clone, Copy, Default)]
struct Done {
    ops: u64,
    writes: Option<(u64, u64)>,
}

fn run_case(options: &Options, target: &Target, case: &Case) -> Result<Vec<Versus>, String> {
    let value = payload(case.size);
    let mut contenders = Vec::new();
    add::<Ours>(&mut contenders, options, target, case, &value);
    add::<RedisRs>(&mut contenders, options, target, case, &value);
    add::<Fred>(&mut contenders, options, target, case, &value);
    add::<RedisAsync>(&mut contenders, options, target, case, &value);
    let yardstick = Yardstick::for_case(case, target.port);
    if let Some(y) = &yardstick {
        if live::includes(options, YARDSTICK, Role::Peer) {
            contenders.push(y.contender());
        }
    }
    let results = race(options, contenders);
    live::check_outputs(case.name, &results)?;
    let mut rows = Vec::new();
    for runs in &results {
        let ops = if runs.name == YARDSTICK {
            yardstick.as_ref().map_or(0, |y| y.requests)
        } else {
            case.ops
        };
        for done in runs.outputs.iter().flatten() {
            if done.ops != ops {
                return Err(format!(
                    "{}: {} checked {} operations, expected {ops}",
                    case.name, runs.name, done.ops
                ));
            }
        }
        let mut row = Row::from_runs(runs, ops);
        let writes: Vec<(u64, u64)> = runs
            .outputs
            .iter()
            .flatten()
            .filter_map(|d| d.writes)
            .collect();
        if !writes.is_empty() {
            let (commands, written) = writes
                .iter()
                .fold((0, 0), |(c, w), (dc, dw)| (c + dc, w + dw));
            row.note = format!(
                "  ({:.1} commands a write)",
                commands as f64 / written.max(1) as f64
            );
        }
        rows.push(row);
    }
    // Where `redis-benchmark` ran, ours is set beside it too.
    let with_yardstick: Vec<&'static str> = PEERS.iter().copied().chain([YARDSTICK]).collect();
    let peers = if yardstick.is_some() {
        &with_yardstick[..]
    } else {
        PEERS
    };
    Ok(live::print_table(
        case.name,
        &describe(case, yardstick.as_ref()),
        "op",
        &rows,
        peers,
        options.budget,
    ))
}

/// Adds the contender `C` of the case, unless `--only` leaves it out.
fn add<'a, C: Client>(
    contenders: &mut Vec<Contender<'a, Result<Done, String>>>,
    options: &Options,
    target: &'a Target,
    case: &'a Case,
    value: &'a Bytes,
) {
    if !live::includes(options, C::NAME, C::ROLE) {
        return;
    }
    contenders.push(live::contender(
        C::NAME,
        C::ROLE,
        move || {
            prepare(target.port, case, value)?;
            let runtime = live::runtime()?;
            let client = runtime.block_on(C::connect(target))?;
            Ok((runtime, client))
        },
        move |(runtime, client)| {
            let before = client.writes();
            let ops = runtime.block_on(drive(client.clone(), case, value.clone()))?;
            let writes = before
                .zip(client.writes())
                .map(|((c0, w0), (c1, w1))| (c1 - c0, w1 - w0));
            Ok(Done { ops, writes })
        },
        move |(runtime, client)| {
            runtime.block_on(client.close());
        },
    ));
}

/// Empties the server and stores what the case reads.
fn prepare(port: u16, case: &Case, value: &Bytes) -> Result<(), String> {
    live::admin(port, &[b"FLUSHALL"])?;
    if case.work == Work::Get {
        live::admin(port, &[b"SET", GET_KEY.as_bytes(), value])?;
    }
    Ok(())
}

/// The timed part: spawns the case's tasks and waits for them; returns the
/// operations whose replies were checked.
async fn drive<C: Client>(client: C, case: &Case, value: Bytes) -> Result<u64, String> {
    let mut tasks = Vec::with_capacity(case.tasks);
    match case.work {
        Work::Pipeline { batch } => {
            let keys: Vec<String> = (0..batch).map(|i| format!("bench:pipe:{i}")).collect();
            let repeats = case.ops / batch as u64;
            let mut client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..repeats {
                    let n = client.pipeline_set(&keys, &value).await?;
                    if n != batch {
                        return Err(format!("{n} of {batch} SETs answered OK"));
                    }
                    ok += n as u64;
                }
                Ok(ok)
            }));
        }
        Work::IncrSet => {
            let loops = case.ops / 2;
            for task in 0..case.tasks {
                let n = share(loops, case.tasks, task);
                tasks.push(tokio::spawn(incr_set(client.clone(), n)));
            }
        }
        Work::Get | Work::Set => {
            let value = Arc::new(value);
            for task in 0..case.tasks {
                let n = share(case.ops, case.tasks, task);
                let value = Arc::clone(&value);
                let mut client = client.clone();
                let work = case.work;
                tasks.push(tokio::spawn(async move {
                    if work == Work::Get {
                        for _ in 0..n {
                            let data = client.get(GET_KEY).await?;
                            if data.as_ref() != &value[..] {
                                return Err(format!(
                                    "GET returned {} bytes, not the {} stored",
                                    data.as_ref().len(),
                                    value.len()
                                ));
                            }
                        }
                    } else {
                        let key = format!("bench:set:{task}");
                        for _ in 0..n {
                            client.set(&key, &value).await?;
                        }
                    }
                    Ok(n)
                }));
            }
        }
    }
    let mut ops = 0;
    for task in tasks {
        ops += task.await.map_err(|e| format!("task failed: {e}"))??;
    }
    if case.work == Work::IncrSet {
        // Every INCR counted once: the next one is one past them all.
        let mut client = client;
        let last = client.incr(COUNTER).await?;
        if u64::try_from(last).ok() != Some(ops / 2 + 1) {
            return Err(format!(
                "the counter reached {last} after {} INCRs",
                ops / 2
            ));
        }
    }
    Ok(ops)
}

/// One task of `incr-set`: `loops` times, `INCR` the counter, then `SET` a
/// key named after the result to it, each awaited before the next command:
/// the `SET` needs the `INCR`'s reply, and a caller that writes
/// `set(n).await` waits for its `OK` too. Two operations a loop.
async fn incr_set<C: Client>(mut client: C, loops: u64) -> Result<u64, String> {
    let mut last = 0;
    for _ in 0..loops {
        let n = client.incr(COUNTER).await?;
        // Other tasks share the counter, so this task's values only rise.
        if n <= last {
            return Err(format!("INCR went from {last} to {n}"));
        }
        client.set_int(&format!("realistic:{n}"), n).await?;
        last = n;
    }
    Ok(2 * loops)
}

/// Task `task`'s part of `total` spread over `tasks`.
pub(crate) fn share(total: u64, tasks: usize, task: usize) -> u64 {
    let tasks = tasks as u64;
    let task = task as u64;
    total / tasks + u64::from(task < total % tasks)
}

/// A value of `size` printable bytes.
pub(crate) fn payload(size: usize) -> Bytes {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

fn describe(case: &Case, yardstick: Option<&Yardstick>) -> String {
    let size = if case.size >= 1024 {
        format!("{} KiB", case.size / 1024)
    } else {
        format!("{} bytes", case.size)
    };
    let what = match case.work {
        Work::Get => format!(
            "GET of one {size} value from {} tasks, each awaiting every reply",
            case.tasks
        ),
        Work::Set => format!(
            "SET of a {size} value from {} tasks, each awaiting every reply",
            case.tasks
        ),
        Work::IncrSet => format!(
            "{} tasks looping INCR counter, then SET realistic:{{n}} n, each awaiting every \
             reply (two operations a loop)",
            case.tasks
        ),
        Work::Pipeline { batch } => format!(
            "one task sending explicit batches of {batch} SETs of {size} (redis-paired \
             {}, redis-rs {}, fred {}, redis-async: {})",
            Ours::PIPELINE,
            RedisRs::PIPELINE,
            Fred::PIPELINE,
            RedisAsync::PIPELINE
        ),
    };
    let mut what = format!("{what}; {} operations a run", case.ops);
    if let Some(y) = yardstick {
        what.push_str(&format!(
            "\n  {YARDSTICK}: `{}`, the server's own yardstick (a C client; its cpu is that \
             child process's)",
            y.command_line()
        ));
    }
    what
}

/// The name of the `redis-benchmark` row.
const YARDSTICK: &str = "redis-benchmark";

/// `redis-benchmark` pipelining `SET`s as deep as the case, over one
/// connection: what the server does with a client that costs next to
/// nothing.
struct Yardstick {
    port: u16,
    depth: usize,
    size: usize,
    requests: u64,
}

impl Yardstick {
    fn for_case(case: &Case, port: u16) -> Option<Yardstick> {
        match case.work {
            Work::Pipeline { batch } => Some(Yardstick {
                port,
                depth: batch,
                size: case.size,
                requests: 1_000_000,
            }),
            _ => None,
        }
    }

    fn args(&self) -> Vec<String> {
        [
            "-p",
            &self.port.to_string(),
            "-c",
            "1",
            "-P",
            &self.depth.to_string(),
            "-n",
            &self.requests.to_string(),
            "-t",
            "set",
            "-d",
            &self.size.to_string(),
            "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn command_line(&self) -> String {
        format!("redis-benchmark {}", self.args().join(" "))
    }

    /// A contender that runs the tool and takes its own count of requests
    /// per second as the rate, and its CPU time as the cost.
    fn contender(&self) -> Contender<'_, Result<Done, String>> {
        Contender {
            name: YARDSTICK,
            role: Role::Peer,
            run: Box::new(move || {
                let failed = |e| {
                    let sample = Sample {
                        wall: std::time::Duration::ZERO,
                        cpu: None,
                    };
                    (sample, Err(e))
                };
                if let Err(e) = live::admin(self.port, &[b"FLUSHALL"]) {
                    return failed(e);
                }
                let cpu_before = live::children_cpu_time();
                let output = match std::process::Command::new("redis-benchmark")
                    .args(self.args())
                    .output()
                {
                    Ok(output) if output.status.success() => output,
                    Ok(output) => {
                        return failed(format!(
                            "`{}` failed: {}",
                            self.command_line(),
                            String::from_utf8_lossy(&output.stderr)
                        ))
                    }
                    Err(e) => return failed(format!("cannot run redis-benchmark: {e}")),
                };
                let cpu = live::children_cpu_time()
                    .zip(cpu_before)
                    .and_then(|(after, before)| after.checked_sub(before));
                let stdout = String::from_utf8_lossy(&output.stdout);
                let Some(rate) = requests_per_second(&stdout) else {
                    return failed(format!("no `SET: N requests per second` in {stdout:?}"));
                };
                let sample = Sample {
                    wall: std::time::Duration::from_secs_f64(self.requests as f64 / rate),
                    cpu,
                };
                let done = Done {
                    ops: self.requests,
                    writes: None,
                };
                (sample, Ok(done))
            }),
        }
    }
}

/// The rate in `redis-benchmark -q` output: the last of its
/// carriage-return separated progress lines reads
/// `SET: 1262626.25 requests per second, p50=0.159 msec`.
fn requests_per_second(stdout: &str) -> Option<f64> {
    stdout
        .split(['\r', '\n'])
        .rev()
        .filter_map(|line| line.trim().strip_prefix("SET: "))
        .filter_map(|rest| rest.split(" requests per second").next())
        .filter_map(|n| n.trim().parse::<f64>().ok())
        .find(|rate| *rate > 0.0)
}
