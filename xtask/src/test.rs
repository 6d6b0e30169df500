//! `cargo xtask test [args...]`: the workspace tests against a throwaway
//! redis-server and a throwaway Redis Cluster.

use std::ffi::OsString;
use std::process::{Command, ExitCode, ExitStatus};
use std::time::Instant;

use xtask::{RedisCluster, RedisServer};

use crate::{cargo, check_pure, project_root, TaskError};

/// Checks that `resp` is pure, starts a server and a cluster (of Redis, or
/// with `--server valkey` first, of Valkey), runs
/// `cargo test --workspace --features redis-conn/tls,redis-facade/tls,redis-facade/blocking,...,redis-facade/otel` (the
/// features `scope` lists) `[args...]` (or just
/// `cargo test [args...]` when they pick packages) with `REDIS_URL` and
/// `REDIS_CLUSTER_URLS` set, prints the logs if the tests failed, stops the
/// server and the cluster, and for the whole workspace checks that the docs
/// build without warnings. Passes on the first failing exit status.
///
/// The cluster is started whatever the arguments: it takes a little over a
/// second, and tests that find no `REDIS_CLUSTER_URLS` would each start one.
pub(crate) fn run(args: &[OsString]) -> Result<ExitCode, TaskError> {
    let (other_server, args) = server(args)?;
    let args = args.as_slice();
    if let Some(bin) = other_server {
        // Every server of the run, the tests' own included, is this one.
        // Set before any thread starts.
        std::env::set_var("REDIS_SERVER_BIN", bin);
        eprintln!("xtask: servers are {bin}");
    }
    check_pure::run()?;

    let mut server = RedisServer::start()?;
    eprintln!("xtask: redis-server ready at {}", server.url());
    let started = Instant::now();
    let cluster = RedisCluster::start().map_err(|error| {
        format!("cannot start the Redis Cluster for REDIS_CLUSTER_URLS: {error}")
    })?;
    eprintln!(
        "xtask: Redis Cluster ready in {:.1} s at {}",
        started.elapsed().as_secs_f64(),
        cluster.urls_env()
    );
    let status = Command::new(cargo())
        .current_dir(project_root())
        .arg("test")
        .args(scope(args))
        .args(args)
        .env("REDIS_URL", server.url())
        .env("REDIS_CLUSTER_URLS", cluster.urls_env())
        .status();
    // On every way out the server and the cluster stop: early returns drop
    // them, and the end stops them once their logs have been shown.
    let status = match status {
        Ok(status) => status,
        Err(error) => return Err(format!("cannot run `cargo test`: {error}").into()),
    };
    if !status.success() {
        eprintln!(
            "xtask: tests failed ({status}); redis-server log:\n{}",
            server.log()
        );
        eprintln!("xtask: Redis Cluster logs:\n{}", cluster.log());
    }
    server.kill();
    drop(cluster);
    // The docs are the same whatever the server: checked on the default run.
    if !status.success() || !scope(args).contains(&"--workspace") || other_server.is_some() {
        return Ok(exit_code(status));
    }
    check_docs()
}

/// Builds the documentation of every crate as warnings-free, broken links
/// included: a link that resolves nowhere is a bug in the docs users read.
fn check_docs() -> Result<ExitCode, TaskError> {
    eprintln!("xtask: checking the docs (cargo doc, warnings denied)");
    let status = Command::new(cargo())
        .current_dir(project_root())
        .args(["doc", "--workspace", "--no-deps", "--features"])
        .arg("redis-conn/tls,redis-facade/tls,redis-facade/serde,redis-facade/blocking,redis-facade/deadpool,redis-facade/bb8,redis-facade/mock,redis-facade/otel")
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .map_err(|e| format!("cannot run `cargo doc`: {e}"))?;
    Ok(exit_code(status))
}

/// Takes `--server redis` (the default: `REDIS_SERVER_BIN`, or
/// `redis-server` from `PATH`) or `--server valkey` (`valkey-server`) off
/// the front of the arguments: the binary every server of the run uses,
/// its sentinels and cluster nodes included.
fn server(args: &[OsString]) -> Result<(Option<&'static str>, Vec<OsString>), TaskError> {
    match args {
        [flag, name, rest @ ..] if flag == "--server" => {
            let bin = match name.to_str() {
                Some("redis") => None,
                Some("valkey") => Some("valkey-server"),
                _ => {
                    return Err(format!(
                        "--server takes `redis` or `valkey`, not `{}`",
                        name.to_string_lossy()
                    )
                    .into())
                }
            };
            Ok((bin, rest.to_vec()))
        }
        [flag] if flag == "--server" => Err("--server takes `redis` or `valkey`".into()),
        _ => Ok((None, args.to_vec())),
    }
}

/// Every crate, with TLS built in so its tests run too, unless the
/// arguments pick packages themselves (`-p redis-conn`).
fn scope(args: &[OsString]) -> Vec<&'static str> {
    let picks_packages = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-p" || a == "--package" || a.to_string_lossy().starts_with("--package="));
    if picks_packages {
        Vec::new()
    } else {
        vec![
            "--workspace",
            "--features",
            "redis-conn/tls,redis-facade/tls,redis-facade/blocking,redis-facade/deadpool,redis-facade/bb8,redis-facade/mock,redis-facade/otel",
        ]
    }
}

fn exit_code(status: ExitStatus) -> ExitCode {
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1).max(1)),
        // Killed by a signal: there is no code to pass on.
        None => ExitCode::FAILURE,
    }
}
