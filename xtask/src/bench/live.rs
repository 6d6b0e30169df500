//! What the sections against a live server share: plain admin commands to
//! prepare the server, contenders timed on the whole process's CPU clock, and
//! the table of median operations per second with each row's per-round
//! ratio to every peer.
//!
//! The server is another process, so the process's CPU time is the client's:
//! its runtime's worker threads, their idle spinning included, and the
//! benchmark's own loops, which are the same code for every contender.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::measure::{
    median, per_round, range, run_count, times, times_spread, Contender, Role, Runs, Sample,
    Spread, Versus,
};
use crate::Options;

/// True when the contender is to run: `--only NAME` keeps the one of that
/// name, and `--only ours` the crate under test, whatever its name.
pub(crate) fn includes(options: &Options, name: &str, role: Role) -> bool {
    options.includes(name) || (role == Role::Ours && options.only.as_deref() == Some("ours"))
}

/// The runtime every contender gets, a fresh one for each run: tokio's
/// multi-threaded scheduler with its default number of workers (one per
/// core), timers and I/O enabled.
pub(crate) fn runtime() -> Result<Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a tokio runtime: {e}"))
}

/// A contender whose every run calls `setup` (untimed), times `work` on what
/// it made against the wall clock and the process's CPU clock, and hands it
/// to `teardown` (untimed). A failed setup fails the run, untimed.
pub(crate) fn contender<'a, I, T>(
    name: &'static str,
    role: Role,
    mut setup: impl FnMut() -> Result<I, String> + 'a,
    mut work: impl FnMut(&I) -> Result<T, String> + 'a,
    mut teardown: impl FnMut(I) + 'a,
) -> Contender<'a, Result<T, String>> {
    Contender {
        name,
        role,
        run: Box::new(move || {
            let input = match setup() {
                Ok(input) => input,
                Err(e) => {
                    let sample = Sample {
                        wall: Duration::ZERO,
                        cpu: None,
                    };
                    return (sample, Err(e));
                }
            };
            let cpu_before = process_cpu_time();
            let start = Instant::now();
            let output = work(&input);
            let wall = start.elapsed();
            let cpu = match (cpu_before, process_cpu_time()) {
                (Some(before), Some(after)) => after.checked_sub(before),
                _ => None,
            };
            teardown(input);
            (Sample { wall, cpu }, output)
        }),
    }
}

/// Fails with the first error among the runs' outputs, naming the contender.
pub(crate) fn check_outputs<T>(case: &str, runs: &[Runs<Result<T, String>>]) -> Result<(), String> {
    for r in runs {
        for output in &r.outputs {
            if let Err(e) = output {
                return Err(format!("{case}: {}: {e}", r.name));
            }
        }
    }
    Ok(())
}

/// One row of a table: a contender's rates over its runs.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) role: Role,
    /// Operations per second of each run, one a round (see [`Runs::samples`]).
    pub(crate) rates: Vec<f64>,
    /// CPU seconds per operation of each run, where known.
    pub(crate) cpu_per_op: Vec<Option<f64>>,
    /// Runs cut by the time budget.
    pub(crate) skipped: usize,
    /// Said after the run count, such as messages a subscriber missed.
    pub(crate) note: String,
}

impl Row {
    /// The row of a contender's runs, each of which did `ops` operations.
    pub(crate) fn from_runs<T>(runs: &Runs<T>, ops: u64) -> Row {
        let ops = ops.max(1) as f64;
        Row {
            name: runs.name.to_string(),
            role: runs.role,
            rates: runs
                .samples
                .iter()
                .map(|s| ops / s.wall.as_secs_f64().max(1e-9))
                .collect(),
            cpu_per_op: runs
                .samples
                .iter()
                .map(|s| s.cpu.map(|cpu| cpu.as_secs_f64() / ops))
                .collect(),
            skipped: runs.skipped,
            note: String::new(),
        }
    }

    /// How this row compares with `peer`, round by round.
    fn versus(&self, peer: &'static str, peer_row: &Row) -> Versus {
        Versus {
            peer,
            wall: per_round(&self.rates, &peer_row.rates, |o, p| Some(o / p.max(1e-9))),
            cpu: per_round(&self.cpu_per_op, &peer_row.cpu_per_op, |o, p| {
                Some((*p)? / (*o)?.max(1e-15))
            }),
        }
    }
}

/// Prints what the figures of [`print_table`] and [`print_summary`] are.
pub(crate) fn print_legend() {
    println!(
        "(each figure is the median of a contender's runs, the rate with its min–max beside \
         it; the contenders take turns, one run each a round, and a ratio is the median of \
         the per-round ratios)"
    );
}

/// Prints a case's table, one row per contender: the median rate with its
/// least and greatest, the median CPU time per operation, and the median of
/// the row's per-round rate over each peer's in `peers` (those that ran;
/// `--only` leaves none). Rows whose role is [`Role::Peer`] but whose name
/// is not in `peers` (a yardstick) get ratios but are no column. Returns
/// how ours compares with each peer.
pub(crate) fn print_table(
    case: &str,
    what: &str,
    unit: &str,
    rows: &[Row],
    peers: &[&'static str],
    budget: Duration,
) -> Vec<Versus> {
    let peer_rows: Vec<(&'static str, &Row)> = peers
        .iter()
        .filter_map(|&p| Some((p, rows.iter().find(|r| r.name == p)?)))
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "\n{case}: {what}");
    let _ = write!(
        out,
        "  {:<26} {:>9} {:>16} {:>10}",
        "contender",
        format!("k{unit}/s"),
        "min–max",
        format!("cpu µs/{}", if unit == "msg" { "msg" } else { "op" }),
    );
    for (peer, _) in &peer_rows {
        let _ = write!(out, " {:>15}", format!("vs {peer}"));
    }
    let _ = writeln!(out, "  runs");
    let mut versus = Vec::new();
    for row in rows {
        let rate = Spread::of(row.rates.iter().copied()).map(|s| s.scaled(1e-3));
        let cpu = Spread::of(row.cpu_per_op.iter().flatten().copied()).map(|s| s.scaled(1e6));
        let _ = write!(
            out,
            "  {:<26} {:>9} {:>16} {:>10}",
            row.name,
            median(rate, 1),
            range(rate, 1),
            median(cpu, 2),
        );
        for (peer, peer_row) in &peer_rows {
            let v = row.versus(peer, peer_row);
            let _ = write!(out, " {:>15}", times(v.wall.map(|s| s.median)));
            if row.role == Role::Ours {
                versus.push(v);
            }
        }
        let count = run_count(row.rates.len(), row.skipped, budget);
        let _ = writeln!(out, "  {count}{}", row.note);
    }
    print!("{out}");
    versus
}

/// Prints, per case and peer, how ours compares with the peer round by
/// round: rate over the peer's, and the peer's CPU per operation (`what`,
/// such as `message`) over ours, each the median of the rounds with their
/// least and greatest.
pub(crate) fn print_summary(
    ours: &str,
    what: &str,
    peers: &[&str],
    cases: &[(String, Vec<Versus>)],
) {
    // Without a peer (`--only`) there is nothing to compare with.
    if cases.iter().all(|(_, versus)| versus.is_empty()) {
        return;
    }
    println!(
        "\n{ours} against each peer, round by round: rate over the peer's, and the peer's \
         cpu per {what} over {ours}'s (median of the rounds, min–max; above 1: {ours} is \
         faster / spends less)"
    );
    // Wide enough for the longest case name, and never narrower than the
    // 30 columns the shorter names were laid out in.
    let width = cases
        .iter()
        .map(|(case, _)| case.chars().count())
        .fold(30, usize::max);
    println!(
        "  {:<width$} {:<12} {:>18} {:>18}",
        "case", "peer", "rate", "cpu"
    );
    for (case, versus) in cases {
        let mut case = case.as_str();
        for peer in peers {
            let Some(v) = versus.iter().find(|v| v.peer == *peer) else {
                continue;
            };
            println!(
                "  {case:<width$} {peer:<12} {:>18} {:>18}",
                times_spread(v.wall),
                times_spread(v.cpu)
            );
            // The case is named on its first line only.
            case = "";
        }
    }
}

/// Sends one command to the server on a fresh blocking connection and
/// returns the first line of the reply (for simple replies), failing on an
/// error reply. For preparing the server between runs, untimed.
pub(crate) fn admin(port: u16, args: &[&[u8]]) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("admin command on port {port}: {e}");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(fail)?;
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    stream.write_all(&out).map_err(fail)?;
    let mut reader = BufReader::new(stream.take(64 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).map_err(fail)?;
    let line = line.trim_end().to_string();
    if line.starts_with('-') || line.is_empty() {
        return Err(format!(
            "admin command {:?} answered {line:?}",
            String::from_utf8_lossy(args[0])
        ));
    }
    Ok(line)
}

/// The CPU time of this process so far, all threads, user and system
/// (`CLOCK_PROCESS_CPUTIME_ID`).
#[cfg(unix)]
pub(crate) fn process_cpu_time() -> Option<Duration> {
    use rustix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Some(Duration::new(
        u64::try_from(t.tv_sec).ok()?,
        u32::try_from(t.tv_nsec).ok()?,
    ))
}

#[cfg(not(unix))]
pub(crate) fn process_cpu_time() -> Option<Duration> {
    None
}

/// The CPU time, user and system, of this process's children that have
/// been waited for (`cutime` and `cstime` of `/proc/self/stat`, in clock
/// ticks): what a finished external tool cost.
#[cfg(target_os = "linux")]
pub(crate) fn children_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces; the fields after it
    // start with the third, the state.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    let per_second = rustix::param::clock_ticks_per_second();
    (per_second > 0).then(|| Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn children_cpu_time() -> Option<Duration> {
    None
}
