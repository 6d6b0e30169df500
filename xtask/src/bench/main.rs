//! The benchmark binary: `cargo xtask bench [filter] [options]` builds it in
//! release mode and runs it.
//!
//! Every measurement is a case named `section/what/corpus/mode`, such as
//! `resp/decode/small/pieces`; the filter keeps the cases whose name contains
//! it. Each case runs every contender on the same input a few times, in
//! rounds (one run of each contender a round) so that load from elsewhere
//! hits all of them alike, and prints per contender the median throughput
//! with its least and greatest, the median CPU time, and its ratio to the
//! peers. A ratio is taken within each round, between runs that met the same
//! load, and reported as the median of the rounds; each section's summary
//! adds their least and greatest. No figure comes from the best run: on a
//! shared machine that is the luckiest run, and luck is not what a client
//! costs. A contender whose output does not add up (frames, leaves, payload
//! bytes, integers) fails the run: a benchmark that measures nothing is
//! worthless.
//!
//! # Layout
//!
//! - `measure.rs`: wall and CPU time, rounds, the time budget, medians and
//!   per-round ratios, the table of the `resp` section.
//! - `corpus.rs`: the reply streams and what decoding them must yield.
//! - `parsers.rs`: `resp` and the peer parsers behind one trait.
//! - `protocol.rs`: the `resp` section: decoding and command encoding.
//! - `live.rs`: what the sections against a live server share: process CPU
//!   time, server preparation, the table of operations per second.
//! - `clients.rs`: `redis-paired` and the peer clients behind one trait.
//! - `paired.rs`: the `paired` section: many tasks on one connection.
//! - `blocking.rs`: the `blocking` section: threads without a runtime on
//!   the facade's blocking client.
//! - `cache.rs`: the `cache` section: reads served by client-side caches,
//!   with a checker counting stale reads.
//! - `pubsub.rs`: the `pubsub` section: messages to one subscriber.
//! - `cluster.rs`: the `cluster` section: many tasks on one handle on a
//!   whole cluster, and its clients.
//! - `otel.rs`: the `otel` section (built with the `bench-otel` feature,
//!   which `cargo xtask bench otel` turns on): what metrics and command
//!   spans cost.
//!
//! A section is a module with a `run(&Options) -> Result<(), String>` listed
//! in [`SECTIONS`]. A section that needs a live server starts its own with
//! `xtask::RedisServer::start()` (this binary is part of the `xtask`
//! package), or its own cluster with `xtask::RedisCluster::start()`, only
//! when one of its cases is selected.

use std::process::ExitCode;
use std::time::Duration;

mod blocking;
mod cache;
mod clients;
mod cluster;
mod corpus;
mod live;
mod measure;
#[cfg(feature = "bench-otel")]
mod otel;
mod paired;
mod parsers;
mod protocol;
mod pubsub;

/// The sections, in the order they run.
const SECTIONS: &[Section] = &[
    Section {
        name: "resp",
        about: "decoding replies and encoding commands, resp against peer parsers",
        cases: protocol::CASES,
        run: protocol::run,
    },
    Section {
        name: "paired",
        about: "many tasks on one connection, redis-paired against redis-rs, fred and redis-async",
        cases: paired::CASES,
        run: paired::run,
    },
    Section {
        name: "blocking",
        about:
            "threads without a runtime doing GETs, blocking::Client against redis-rs's Connection",
        cases: blocking::CASES,
        run: blocking::run,
    },
    Section {
        name: "cache",
        about: "client-side caching, redis-paired's cache against redis-rs cache-aio and no cache",
        cases: cache::CASES,
        run: cache::run,
    },
    Section {
        name: "pubsub",
        about: "messages delivered to one subscriber, redis-pubsub against redis-rs and fred",
        cases: pubsub::CASES,
        run: pubsub::run,
    },
    Section {
        name: "cluster",
        about:
            "many tasks on one handle on a whole cluster, redis-cluster against redis-rs and fred",
        cases: cluster::CASES,
        run: cluster::run,
    },
    #[cfg(feature = "bench-otel")]
    Section {
        name: "otel",
        about: "what metrics and command spans cost redis-paired, each run a process of its own",
        cases: otel::CASES,
        run: otel::run,
    },
];

const USAGE: &str = "\
usage: cargo xtask bench [filter] [options]

Runs the benchmark cases whose name contains `filter` (all by default).

options:
  --runs N      timed runs per contender and case, one each a round (default
                5); tables show their median and min–max, ratios the median
                and min–max of the per-round ratios
  --budget S    seconds a contender may spend on one case before its runs
                are cut short (default 30)
  --only NAME   run only the contender NAME (for profiling; no ratios)
  --list        list the cases and exit";

/// One group of cases, as a module.
struct Section {
    name: &'static str,
    about: &'static str,
    /// The names of its cases, for `--list` and to skip unselected sections.
    cases: &'static [&'static str],
    run: fn(&Options) -> Result<(), String>,
}

/// How to run the selected cases.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Substring of the case names to run.
    pub(crate) filter: String,
    /// Timed runs per contender and case.
    pub(crate) runs: usize,
    /// Time one contender may spend on one case before its runs are cut.
    pub(crate) budget: Duration,
    /// Run only the contender of this name.
    pub(crate) only: Option<String>,
}

impl Options {
    /// True when the case is selected by the filter.
    pub(crate) fn selects(&self, case: &str) -> bool {
        case.contains(&self.filter)
    }

    /// True when the contender is to run.
    pub(crate) fn includes(&self, contender: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == contender)
    }
}

/// What the command line asked for.
enum Action {
    Run(Options),
    List,
    Help,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    #[cfg(feature = "bench-otel")]
    if let [flag, mode, url] = &args[..] {
        if flag == "--otel-child" {
            return match otel::child(mode, url) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("bench: {message}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    let options = match parse_args(&args) {
        Ok(Action::Run(options)) => options,
        Ok(Action::List) => {
            for section in SECTIONS {
                println!("{}: {}", section.name, section.about);
                for case in section.cases {
                    println!("  {case}");
                }
            }
            return ExitCode::SUCCESS;
        }
        Ok(Action::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("bench: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let selected: Vec<&Section> = SECTIONS
        .iter()
        .filter(|s| s.cases.iter().any(|case| options.selects(case)))
        .collect();
    if selected.is_empty() {
        eprintln!("bench: no case matches `{}`; see --list", options.filter);
        return ExitCode::from(2);
    }
    if cfg!(debug_assertions) {
        eprintln!("bench: warning: built without optimisations; use `cargo xtask bench`");
    }
    for section in selected {
        println!("== {}: {}", section.name, section.about);
        if let Err(message) = (section.run)(&options) {
            eprintln!("bench: {}: {message}", section.name);
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn parse_args(args: &[String]) -> Result<Action, String> {
    let mut options = Options {
        filter: String::new(),
        runs: 5,
        budget: Duration::from_secs(30),
        only: None,
    };
    let mut list = false;
    let mut filter = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => options.runs = number::<usize>(it.next(), "--runs")?.max(1),
            "--budget" => options.budget = Duration::from_secs(number(it.next(), "--budget")?),
            "--only" => options.only = Some(it.next().ok_or("--only wants a name")?.clone()),
            "--list" => list = true,
            "-h" | "--help" => return Ok(Action::Help),
            other if other.starts_with('-') => return Err(format!("unknown option `{other}`")),
            other if filter.is_none() => filter = Some(other.to_string()),
            other => return Err(format!("more than one filter (`{other}`)")),
        }
    }
    options.filter = filter.unwrap_or_default();
    Ok(if list {
        Action::List
    } else {
        Action::Run(options)
    })
}

fn number<T: std::str::FromStr>(arg: Option<&String>, option: &str) -> Result<T, String> {
    arg.and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{option} wants a number"))
}
