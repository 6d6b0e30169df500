//! Timing: wall and CPU time per run, contenders raced in rounds under a
//! time budget, medians and per-round ratios, and the plain table every
//! case of the `resp` section prints.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::Options;

/// Whether a contender is the crate under test or a peer it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Ours,
    Peer,
}

/// One contender of a case: a name and a run that does its untimed setup,
/// times its work and returns the time and what the work produced.
pub(crate) struct Contender<'a, T> {
    pub(crate) name: &'static str,
    pub(crate) role: Role,
    pub(crate) run: Box<dyn FnMut() -> (Sample, T) + 'a>,
}

impl<'a, T> Contender<'a, T> {
    /// A contender whose every run calls `setup` (untimed) and then `work`
    /// on what it made (timed).
    pub(crate) fn new<I>(
        name: &'static str,
        role: Role,
        mut setup: impl FnMut() -> I + 'a,
        mut work: impl FnMut(I) -> T + 'a,
    ) -> Contender<'a, T> {
        Contender {
            name,
            role,
            run: Box::new(move || {
                let input = setup();
                let cpu_before = thread_cpu_time();
                let start = Instant::now();
                let output = work(input);
                let wall = start.elapsed();
                let cpu = match (cpu_before, thread_cpu_time()) {
                    (Some(before), Some(after)) => after.checked_sub(before),
                    _ => None,
                };
                (Sample { wall, cpu }, output)
            }),
        }
    }
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    /// Time this thread spent on a CPU, where the system tells it.
    pub(crate) cpu: Option<Duration>,
}

/// A contender's runs, and what each run produced.
#[derive(Debug)]
pub(crate) struct Runs<T> {
    pub(crate) name: &'static str,
    pub(crate) role: Role,
    /// One a round, from the first: the budget only ever cuts a contender's
    /// last rounds, so `samples[i]` ran in round `i`, beside every other
    /// contender's `samples[i]`.
    pub(crate) samples: Vec<Sample>,
    pub(crate) outputs: Vec<T>,
    /// Runs that were asked for but cut by the time budget.
    pub(crate) skipped: usize,
}

/// The median of some measurements, and the least and the greatest.
///
/// A table reports the median rather than the best run: on a shared machine
/// the best run is the one that was luckiest with the load from elsewhere,
/// and which contender gets lucky is chance. The extremes show how far to
/// trust the median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    /// The spread of the values that are finite, or `None` if none is. An
    /// even count has the mean of the middle two as its median.
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        values.sort_unstable_by(f64::total_cmp);
        let (&min, &max) = (values.first()?, values.last()?);
        let upper = values.len() / 2;
        // `values` is not empty, so an even count has `upper` at least 1.
        let median = if values.len().is_multiple_of(2) {
            (values[upper - 1] + values[upper]) / 2.0
        } else {
            values[upper]
        };
        Some(Spread { median, min, max })
    }

    /// Every figure multiplied by `factor`, to change the unit.
    pub(crate) fn scaled(self, factor: f64) -> Spread {
        Spread {
            median: self.median * factor,
            min: self.min * factor,
            max: self.max * factor,
        }
    }
}

/// The spread, over the rounds both contenders ran, of `ratio` between
/// their runs of the same round. A ratio taken within a round compares runs
/// that met the same load from elsewhere, so it is steadier than a ratio of
/// two figures each taken over all the rounds.
pub(crate) fn per_round<A, B>(
    ours: &[A],
    peer: &[B],
    ratio: impl Fn(&A, &B) -> Option<f64>,
) -> Option<Spread> {
    Spread::of(ours.iter().zip(peer).filter_map(|(o, p)| ratio(o, p)))
}

/// How a contender compares with one peer in one case, round by round:
/// throughput over the peer's, and the peer's CPU time over the
/// contender's for the same work (above 1, the contender spends less).
#[derive(Debug, Clone)]
pub(crate) struct Versus {
    pub(crate) peer: &'static str,
    pub(crate) wall: Option<Spread>,
    pub(crate) cpu: Option<Spread>,
}

/// Runs every contender `options.runs` times, in rounds (one run of each,
/// then the next round), so that a burst of load from elsewhere on the
/// machine hits all of them alike rather than one. A contender stops early
/// once another run would take its total past `options.budget`, judging by
/// its slowest run so far; it always runs at least once.
pub(crate) fn race<T>(options: &Options, contenders: Vec<Contender<'_, T>>) -> Vec<Runs<T>> {
    let mut racing: Vec<(Contender<'_, T>, Runs<T>, Duration, Duration)> = contenders
        .into_iter()
        .map(|c| {
            let runs = Runs {
                name: c.name,
                role: c.role,
                samples: Vec::new(),
                outputs: Vec::new(),
                skipped: 0,
            };
            (c, runs, Duration::ZERO, Duration::ZERO)
        })
        .collect();
    for round in 0..options.runs {
        for (contender, runs, spent, slowest) in &mut racing {
            // A cut contender stays cut, as `spent` no longer grows: its
            // samples remain those of the first rounds, which the per-round
            // ratios rely on.
            if round > 0 && *spent + *slowest > options.budget {
                runs.skipped += 1;
                continue;
            }
            let (sample, output) = (contender.run)();
            *spent += sample.wall;
            *slowest = (*slowest).max(sample.wall);
            runs.samples.push(sample);
            runs.outputs.push(output);
        }
    }
    racing.into_iter().map(|(_, runs, _, _)| runs).collect()
}

/// This thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`).
#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    use rustix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Some(Duration::new(
        u64::try_from(t.tv_sec).ok()?,
        u32::try_from(t.tv_nsec).ok()?,
    ))
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// Prints a case's table: per contender, the median throughput over
/// `bytes` with its least and greatest, the median wall and CPU time, and
/// the median of its per-round ratios to the fastest peer by median
/// throughput. Returns how ours compares with that peer, when there is one.
pub(crate) fn print_case<T>(
    case: &str,
    what: &str,
    bytes: usize,
    contenders: &[Runs<T>],
    budget: Duration,
) -> Option<Versus> {
    let rate = |d: Duration| bytes as f64 / d.as_secs_f64().max(1e-9);
    let rates = |r: &Runs<T>| Spread::of(r.samples.iter().map(|s| rate(s.wall)));
    // Without a peer (`--only`) there is nothing to compare with.
    let fastest = contenders
        .iter()
        .filter(|r| r.role == Role::Peer)
        .filter_map(|r| Some((r, rates(r)?.median)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(r, _)| r);
    let against = fastest.map_or_else(|| "vs peer".to_string(), |p| format!("vs {}", p.name));
    let mut out = String::new();
    let _ = writeln!(out, "\n{case}: {what}, {:.2} MB", bytes as f64 / 1e6);
    let _ = writeln!(
        out,
        "  {:<15} {:>9} {:>15} {:>9} {:>9} {:>17} {:>8}  runs",
        "contender", "MB/s", "min–max", "ms", "cpu ms", against, "(cpu)"
    );
    let mut ours = None;
    for runs in contenders {
        let versus = fastest.map(|peer| Versus {
            peer: peer.name,
            wall: per_round(&runs.samples, &peer.samples, |o, p| {
                Some(rate(o.wall) / rate(p.wall))
            }),
            cpu: per_round(&runs.samples, &peer.samples, |o, p| {
                Some(p.cpu?.as_secs_f64() / o.cpu?.as_secs_f64().max(1e-12))
            }),
        });
        let throughput = rates(runs).map(|s| s.scaled(1e-6));
        let wall = Spread::of(runs.samples.iter().map(|s| millis(s.wall)));
        let cpu = Spread::of(runs.samples.iter().filter_map(|s| s.cpu).map(millis));
        let _ = writeln!(
            out,
            "  {:<15} {:>9} {:>15} {:>9} {:>9} {:>17} {:>8}  {}",
            runs.name,
            median(throughput, 1),
            range(throughput, 1),
            median(wall, 2),
            median(cpu, 2),
            times(versus.as_ref().and_then(|v| v.wall).map(|s| s.median)),
            times(versus.as_ref().and_then(|v| v.cpu).map(|s| s.median)),
            run_count(runs.samples.len(), runs.skipped, budget)
        );
        if runs.role == Role::Ours {
            ours = versus;
        }
    }
    print!("{out}");
    ours
}

/// The run count of a table row, and how many runs the budget cut.
pub(crate) fn run_count(runs: usize, skipped: usize, budget: Duration) -> String {
    let mut count = runs.to_string();
    if skipped > 0 {
        let _ = write!(
            count,
            " ({skipped} cut by the {} s budget)",
            budget.as_secs()
        );
    }
    count
}

/// A ratio as `1.23x`, or `-` when there is none.
pub(crate) fn times(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_string(), |r| format!("{r:.2}x"))
}

/// A spread of ratios as its median and its extremes, `1.23x (1.10–1.35)`,
/// or `-` when there is none. A single round has no extremes to show.
pub(crate) fn times_spread(spread: Option<Spread>) -> String {
    match spread {
        None => "-".to_string(),
        Some(s) if s.min == s.max => format!("{:.2}x", s.median),
        Some(s) => format!("{:.2}x ({:.2}–{:.2})", s.median, s.min, s.max),
    }
}

/// The median of a spread with `decimals` decimals, or `-`.
pub(crate) fn median(spread: Option<Spread>, decimals: usize) -> String {
    spread.map_or_else(|| "-".to_string(), |s| format!("{:.decimals$}", s.median))
}

/// The least and greatest of a spread as `1.0–2.0`, or `-`.
pub(crate) fn range(spread: Option<Spread>, decimals: usize) -> String {
    spread.map_or_else(
        || "-".to_string(),
        |s| format!("{:.decimals$}–{:.decimals$}", s.min, s.max),
    )
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
