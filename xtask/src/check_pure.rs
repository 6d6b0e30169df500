//! `cargo xtask check-pure`: `resp` and `redis-commands` stay free of
//! runtimes, sockets and clocks.
//!
//! The protocol crate must be usable by a proxy, a fuzzer or a server, with
//! or without an async runtime, and so must the command surface above it.
//! Two checks make that mechanical, for each of them: its normal
//! dependency tree holds no runtime or socket crate, and its sources name
//! no socket or clock API.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, project_root, TaskError};

/// The crates that must stay pure, each its package name and directory.
const PURE_CRATES: &[(&str, &str)] = &[("resp", "resp"), ("redis-commands", "redis-commands")];

/// Crates the pure crates must not depend on, even indirectly. A name also covers
/// its `name-*` family (`tokio-util`, `futures-core`, ...).
const FORBIDDEN_CRATES: &[&str] = &[
    "tokio",
    "futures",
    "mio",
    "async-std",
    "async-io",
    "async-net",
    "smol",
    "socket2",
    "polling",
];

/// Source text that means a pure crate reaches for a socket or a clock.
const FORBIDDEN_SOURCE: &[&str] = &[
    "std::net",
    "unix::net",
    "tokio::",
    "futures::",
    "Instant::now",
    "SystemTime::now",
];

/// Runs both checks on every pure crate and prints one line for each that
/// passes.
pub(crate) fn run() -> Result<(), TaskError> {
    for (package, dir) in PURE_CRATES {
        check(package, dir)?;
    }
    Ok(())
}

/// Both checks on one crate: `package`, whose sources are in `dir/src`.
fn check(package: &str, dir: &str) -> Result<(), TaskError> {
    let root = project_root();
    let output = Command::new(cargo())
        .current_dir(&root)
        .args(["tree", "--package", package, "--edges", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .map_err(|error| format!("cannot run `cargo tree`: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo tree -p {package} -e normal` failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        )
        .into());
    }
    let crates = forbidden_crates(&String::from_utf8_lossy(&output.stdout));
    if !crates.is_empty() {
        return Err(format!(
            "{package} must not depend on runtime or socket crates, but `cargo tree -p {package} -e normal` has: {}",
            crates.join(", ")
        )
        .into());
    }

    let mut hits = Vec::new();
    for file in rust_files(&root.join(dir).join("src"))? {
        let text = fs::read_to_string(&file)?;
        let shown = file.strip_prefix(&root).unwrap_or(&file);
        hits.extend(
            forbidden_source(&text)
                .into_iter()
                .map(|(line, pattern)| format!("{}:{line}: {pattern}", shown.display())),
        );
    }
    if !hits.is_empty() {
        return Err(format!(
            "{package} must not use sockets or clocks:\n  {}",
            hits.join("\n  ")
        )
        .into());
    }
    eprintln!("xtask: {package} is pure (no runtime, socket or clock)");
    Ok(())
}

/// The forbidden crates in `cargo tree --prefix none --format {p}` output,
/// one line per package such as `bytes v1.7.2` or `resp v0.1.0 (/path)`.
fn forbidden_crates(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| {
            FORBIDDEN_CRATES.iter().any(|forbidden| {
                name.strip_prefix(forbidden)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
            })
        })
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The 1-based line numbers and patterns of forbidden source text in code
/// lines; comment lines may talk about what the crate avoids.
fn forbidden_source(text: &str) -> Vec<(usize, &'static str)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .flat_map(|(index, line)| {
            FORBIDDEN_SOURCE
                .iter()
                .filter(move |pattern| line.contains(*pattern))
                .map(move |pattern| (index + 1, *pattern))
        })
        .collect()
}

/// All `.rs` files under `dir`, in a stable order.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, TaskError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir)
            .map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_tree_passes() {
        let tree = "\
resp v0.1.0 (/work/main/resp)
bytes v1.10.1
itoa v1.0.15
thiserror v2.0.12
thiserror-impl v2.0.12 (proc-macro)
proc-macro2 v1.0.95
unicode-ident v1.0.18
";
        assert!(forbidden_crates(tree).is_empty());
    }

    #[test]
    fn runtime_crates_are_named_once() {
        let tree = "\
resp v0.1.0 (/work/main/resp)
tokio v1.45.0
mio v1.0.4
tokio-util v0.7.15
futures-core v0.3.31
tokio v1.45.0 (*)
socket2 v0.6.0
";
        assert_eq!(
            forbidden_crates(tree),
            ["futures-core", "mio", "socket2", "tokio", "tokio-util"]
        );
    }

    #[test]
    fn similar_names_are_not_runtimes() {
        let tree = "resp v0.1.0\ntokionic v1.0.0\nmiowrapper v0.1.0\nfuturesque v2.0.0\n";
        assert!(forbidden_crates(tree).is_empty());
    }

    #[test]
    fn sockets_and_clocks_in_code_are_found_but_not_in_comments() {
        let text = "\
//! No std::net here, no Instant::now either.
use bytes::Bytes;
use std::net::TcpStream;
    /// Unlike tokio::io, this never blocks.
fn f() { let _ = std::time::Instant::now(); }
";
        assert_eq!(
            forbidden_source(text),
            [(3, "std::net"), (5, "Instant::now")]
        );
    }
}
