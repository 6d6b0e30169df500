//! `cargo xtask bench [filter] [options]`: the benchmarks, built in release mode.
//!
//! The benchmarks themselves are the `bench` binary of this package
//! (`main.rs` in this directory, one module per section beside it). It is
//! built only with the package's `bench` feature, because that feature pulls
//! in the peer parsers it measures `resp` against: `cargo test` and
//! `cargo clippy` never build them. This module only runs
//! `cargo run --release -p xtask --features bench --bin bench -- <args>`,
//! with the `bench-otel` feature too when the filter starts with `otel`
//! (the client's telemetry then compiled in, which the other sections
//! must not measure).

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use crate::{cargo, project_root, TaskError};

/// Builds and runs the benchmark binary with `args`, passing on its status.
pub(crate) fn run(args: &[OsString]) -> Result<ExitCode, TaskError> {
    let otel = args
        .iter()
        .find(|a| !a.to_string_lossy().starts_with('-'))
        .is_some_and(|filter| filter.to_string_lossy().starts_with("otel"));
    let features = if otel { "bench,bench-otel" } else { "bench" };
    let status = Command::new(cargo())
        .current_dir(project_root())
        .args(["run", "--release", "--quiet", "--package", "xtask"])
        .args(["--features", features, "--bin", "bench", "--"])
        .args(args)
        .status()
        .map_err(|error| format!("cannot run `cargo run --bin bench`: {error}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1).max(1)),
        // Killed by a signal: there is no code to pass on.
        None => ExitCode::FAILURE,
    })
}
