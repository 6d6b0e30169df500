//! `cargo xtask demo [cargo args...]`: the client at work, against a throwaway redis-server.
//!
//! Builds the `realistic`, `sessions` and `cluster` examples, starts a
//! server (unless `REDIS_URL` names one), runs the first two against it with
//! `REDIS_URL` set, then starts a throwaway Redis Cluster (unless
//! `REDIS_CLUSTER_URLS` names one) and runs `cluster` against it; stops
//! what it started. The examples are built optimized (`--release`), since
//! they print rates next to which a debug build's would mislead; extra
//! arguments go to `cargo build` and `cargo run` (`--profile dev` for a
//! debug build).

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use xtask::{RedisCluster, RedisServer};

use crate::{cargo, project_root, TaskError};

/// The examples the demo runs, in order, each with its arguments: a short
/// `realistic` run, so the whole demo takes seconds.
const EXAMPLES: &[(&str, &[&str])] = &[("realistic", &["2"]), ("sessions", &[])];

/// The example that runs against a cluster.
const CLUSTER_EXAMPLE: &str = "cluster";

pub(crate) fn run(args: &[OsString]) -> Result<ExitCode, TaskError> {
    // Build before any server starts: a compile error is shown at once,
    // and compile time does not eat into the timed run.
    let mut build = cargo_examples("build", args);
    for (example, _) in EXAMPLES {
        build.args(["--example", example]);
    }
    build.args(["--example", CLUSTER_EXAMPLE]);
    let status = build
        .status()
        .map_err(|e| format!("cannot run `cargo build`: {e}"))?;
    if !status.success() {
        eprintln!("xtask: building the examples failed ({status})");
        return Ok(ExitCode::FAILURE);
    }

    // The server stops when `own` is dropped, on every way out.
    let (url, own) = match std::env::var("REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = RedisServer::start()?;
            (server.url(), Some(server))
        }
    };
    eprintln!("xtask: redis-server at {url}");

    for (example, example_args) in EXAMPLES {
        let shown = match example_args {
            [] => String::new(),
            given => format!(" -- {}", given.join(" ")),
        };
        eprintln!("\nxtask: cargo run -p examples --example {example}{shown}");
        let status = cargo_examples("run", args)
            .args(["--quiet", "--example", example, "--"])
            .args(*example_args)
            .env("REDIS_URL", &url)
            .status()
            .map_err(|e| format!("cannot run `cargo run`: {e}"))?;
        if !status.success() {
            eprintln!("xtask: the {example} example failed ({status})");
            if let Some(server) = &own {
                eprintln!("xtask: redis-server log:\n{}", server.log());
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    drop(own);

    let (urls, own_cluster) = match std::env::var("REDIS_CLUSTER_URLS") {
        Ok(urls) => (urls, None),
        Err(_) => {
            let cluster = RedisCluster::start()?;
            (cluster.urls_env(), Some(cluster))
        }
    };
    eprintln!("\nxtask: redis cluster at {urls}");
    eprintln!("xtask: cargo run -p examples --example {CLUSTER_EXAMPLE}");
    let status = cargo_examples("run", args)
        .args(["--quiet", "--example", CLUSTER_EXAMPLE])
        .env("REDIS_CLUSTER_URLS", &urls)
        .status()
        .map_err(|e| format!("cannot run `cargo run`: {e}"))?;
    if !status.success() {
        eprintln!("xtask: the {CLUSTER_EXAMPLE} example failed ({status})");
        if let Some(cluster) = &own_cluster {
            eprintln!("xtask: cluster logs:\n{}", cluster.log());
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo <verb> -p examples [args...]`, from the workspace root.
fn cargo_examples(verb: &str, args: &[OsString]) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(project_root())
        .args([verb, "-p", "examples"])
        .args(args);
    let profile_given = args.iter().any(|a| {
        a == "--release" || a == "--profile" || a.to_string_lossy().starts_with("--profile=")
    });
    if !profile_given {
        cmd.arg("--release");
    }
    cmd
}
