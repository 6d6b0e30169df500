//! `cargo xtask <task>`: development tasks written in Rust, dispatched from here.
//!
//! One module per task; this file only picks the module. The throwaway
//! `redis-server` the tasks use comes from this package's library.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench;
mod check_pure;
mod demo;
mod gen_commands;
mod test;

const USAGE: &str = "\
usage: cargo xtask <task> [args...]

tasks:
  test [--server redis|valkey] [args...]
                  check that `resp` and `redis-commands` are pure, then run
                  `cargo test --workspace [args...]` with REDIS_URL pointing at a
                  throwaway redis-server and REDIS_CLUSTER_URLS at the nodes of a
                  throwaway Redis Cluster (`--server valkey`: every server of the
                  run is valkey-server)
  demo [args...]  run the `realistic`, `sessions` and `cluster` examples against a throwaway
                  redis-server and cluster (or REDIS_URL, REDIS_CLUSTER_URLS), built with
                  `--release`; args go to cargo
  check-pure      check that `resp` and `redis-commands` depend on no runtime and use no sockets or clock
  gen-commands    store the COMMAND DOCS and COMMAND INFO of a throwaway redis-server
                  as the command catalogue's snapshot and generate its table
                  (`--offline`: regenerate the table from the stored snapshot)
  bench [filter]  build the benchmarks in release mode and run the cases whose name
                  contains `filter` (`cargo xtask bench --list` lists them,
                  `--help` tells the options)";

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1);
    let task = args.next();
    let rest: Vec<OsString> = args.collect();
    let result = match task.as_ref().and_then(|task| task.to_str()) {
        Some("test") => test::run(&rest),
        Some("demo") => demo::run(&rest),
        Some("check-pure") => check_pure::run().map(|()| ExitCode::SUCCESS),
        Some("bench") => bench::run(&rest),
        Some("gen-commands") => gen_commands::run(&rest),
        // More tasks go here, one module each.
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(unknown) => {
            eprintln!("xtask: unknown task `{unknown}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
        None => {
            eprintln!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    };
    result.unwrap_or_else(|error| {
        eprintln!("xtask: error: {error}");
        ExitCode::FAILURE
    })
}

/// The error of a task: whatever went wrong, said to the user and turned
/// into a failing exit status.
type TaskError = Box<dyn std::error::Error>;

/// The workspace root, where the tasks run `cargo`.
fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The `cargo` that runs this task, so the same toolchain runs the rest.
fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
