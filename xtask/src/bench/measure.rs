//! Timing: wall and CPU time per run, contenders raced in rounds under a
//! time budget, and the plain table every case prints.

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
    pub(crate) samples: Vec<Sample>,
    pub(crate) outputs: Vec<T>,
    /// Runs that were asked for but cut by the time budget.
    pub(crate) skipped: usize,
}

impl<T> Runs<T> {
    /// The lowest wall time.
    fn best(&self) -> Duration {
        self.samples
            .iter()
            .map(|s| s.wall)
            .min()
            .unwrap_or_default()
    }

    /// The median wall time.
    fn median(&self) -> Duration {
        let mut walls: Vec<Duration> = self.samples.iter().map(|s| s.wall).collect();
        walls.sort_unstable();
        walls.get(walls.len() / 2).copied().unwrap_or_default()
    }

    /// The lowest CPU time, if the system tells it.
    fn cpu(&self) -> Option<Duration> {
        self.samples.iter().filter_map(|s| s.cpu).min()
    }
}

/// How our contender compares with the fastest peer: throughput over the
/// fastest peer's, by best wall time and by least CPU time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ratios {
    pub(crate) wall: f64,
    pub(crate) cpu: Option<f64>,
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

/// Prints a case's table: throughput over `bytes` per contender from its
/// best run, and each contender's throughput over the fastest peer's, by
/// wall time and by CPU time (the steadier of the two on a busy machine).
/// Returns our ratios, when there is a peer to compare with.
pub(crate) fn print_case<T>(
    case: &str,
    what: &str,
    bytes: usize,
    contenders: &[Runs<T>],
    budget: Duration,
) -> Option<Ratios> {
    let rate = |d: Duration| bytes as f64 / d.as_secs_f64().max(1e-9);
    let fastest = |of: &dyn Fn(&Runs<T>) -> Option<f64>| {
        contenders
            .iter()
            .filter(|r| r.role == Role::Peer)
            .filter_map(of)
            .fold(None, |best: Option<f64>, x| {
                Some(best.map_or(x, |b| b.max(x)))
            })
    };
    let peer_wall = fastest(&|r| Some(rate(r.best())));
    let peer_cpu = fastest(&|r| r.cpu().map(rate));
    let mut out = String::new();
    let _ = writeln!(out, "\n{case}: {what}, {:.2} MB", bytes as f64 / 1e6);
    let _ = writeln!(
        out,
        "  {:<15} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}  runs",
        "contender", "MB/s", "best ms", "median ms", "cpu ms", "vs peer", "(cpu)"
    );
    let mut ours = None;
    for runs in contenders {
        // Without a peer (`--only`) there is nothing to compare with.
        let wall = peer_wall.map(|peer| rate(runs.best()) / peer);
        let cpu = peer_cpu.zip(runs.cpu()).map(|(peer, cpu)| rate(cpu) / peer);
        if let (Role::Ours, Some(wall)) = (runs.role, wall) {
            ours = Some(Ratios { wall, cpu });
        }
        let count = run_count(runs.samples.len(), runs.skipped, budget);
        let _ = writeln!(
            out,
            "  {:<15} {:>9.1} {:>9.2} {:>9.2} {:>9} {:>8} {:>8}  {}",
            runs.name,
            rate(runs.best()) / 1e6,
            millis(runs.best()),
            millis(runs.median()),
            runs.cpu()
                .map_or_else(|| "-".to_string(), |d| format!("{:.2}", millis(d))),
            times(wall),
            times(cpu),
            count
        );
    }
    print!("{out}");
    ours
}

/// A ratio as `1.23x`, or `-` when there is none.
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

pub(crate) fn times(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_string(), |r| format!("{r:.2}x"))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
