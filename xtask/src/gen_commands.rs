//! `cargo xtask gen-commands`: asks a throwaway redis-server for its
//! `COMMAND DOCS` and `COMMAND INFO`, stores them as the catalogue's
//! snapshot, and generates from it the catalogue's table and the typed
//! methods of every command (`xtask::methods`).
//!
//! `cargo xtask gen-commands --offline` regenerates the table from the
//! snapshot already in the repository, without a server.
//!
//! `--specs DIR` first keeps the command specifications of newer servers
//! from `DIR` (folders `redis-7.2/` and `valkey-8.0/`, copies of the
//! servers' `src/commands/`, each with its `COPYING`) in
//! `commands/specs.json`, and their licences beside it; without it the
//! kept ones are read.

use std::ffi::OsString;
use std::fs;
use std::process::{Command, ExitCode};

use xtask::catalogue::{self, LICENCES_PATH, SNAPSHOT_PATH, SPECS_PATH, SPEC_SOURCES, TABLE_PATH};
use xtask::methods::{self, ARGS_PATH, METHODS_PATH, REPLIES_PATH, SMOKE_PATH};
use xtask::RedisServer;

use crate::{project_root, TaskError};

pub(crate) fn run(args: &[OsString]) -> Result<ExitCode, TaskError> {
    let root = project_root();
    let usage = "usage: cargo xtask gen-commands [--offline] [--specs DIR]";
    let mut offline = false;
    let mut specs_dir = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--offline" {
            offline = true;
        } else if arg == "--specs" {
            specs_dir = Some(std::path::PathBuf::from(args.next().ok_or(usage)?));
        } else {
            return Err(usage.into());
        }
    }
    if let Some(dir) = specs_dir {
        fs::write(root.join(SPECS_PATH), catalogue::specs(&dir)?)?;
        let licences = root.join(LICENCES_PATH);
        fs::create_dir_all(&licences)?;
        for (_, folder, _) in SPEC_SOURCES {
            fs::copy(
                dir.join(folder).join("COPYING"),
                licences.join(format!("{folder}-COPYING")),
            )?;
        }
        eprintln!("xtask: wrote {SPECS_PATH} and {LICENCES_PATH}");
    }
    let snapshot_path = root.join(SNAPSHOT_PATH);
    if !offline {
        let server = RedisServer::start()?;
        let port = server.port().to_string();
        let cli = |args: &[&str]| -> Result<String, TaskError> {
            let output = Command::new("redis-cli")
                .args(["-p", &port])
                .args(args)
                .output()
                .map_err(|e| format!("cannot run redis-cli: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "redis-cli {args:?} failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                )
                .into());
            }
            Ok(String::from_utf8(output.stdout)?)
        };
        let version = cli(&["INFO", "server"])?
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .map(|v| v.trim().to_string())
            .ok_or("INFO server names no redis_version")?;
        let docs = cli(&["--json", "COMMAND", "DOCS"])?;
        let info = cli(&["--json", "COMMAND", "INFO"])?;
        let text = catalogue::snapshot(&version, &docs, &info)?;
        if let Some(dir) = snapshot_path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(&snapshot_path, text)?;
        eprintln!("xtask: wrote {SNAPSHOT_PATH} (redis {version})");
    }
    let snapshot = fs::read_to_string(&snapshot_path)
        .map_err(|e| format!("cannot read {SNAPSHOT_PATH}: {e}"))?;
    let specs = fs::read_to_string(root.join(SPECS_PATH))
        .map_err(|e| format!("cannot read {SPECS_PATH}: {e}"))?;
    let table = catalogue::generate(&snapshot, &specs)?;
    let table_path = root.join(TABLE_PATH);
    if let Some(dir) = table_path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(&table_path, table)?;
    eprintln!("xtask: wrote {TABLE_PATH}");
    let replies = fs::read_to_string(root.join(REPLIES_PATH))
        .map_err(|e| format!("cannot read {REPLIES_PATH}: {e}"))?;
    let generated = methods::generate(&snapshot, &specs, &replies)?;
    for (path, text) in [
        (METHODS_PATH, &generated.methods),
        (ARGS_PATH, &generated.args),
        (SMOKE_PATH, &generated.smoke),
    ] {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(path, methods::format(text, &root)?)?;
    }
    let readme_path = root.join("README.md");
    let readme = fs::read_to_string(&readme_path)?;
    fs::write(
        &readme_path,
        methods::with_summary(&readme, &generated.summary)?,
    )?;
    eprintln!(
        "xtask: wrote {METHODS_PATH}, {ARGS_PATH}, {SMOKE_PATH} and README.md's counts ({} methods)",
        generated.count
    );
    Ok(ExitCode::SUCCESS)
}
