//! The `telemetry` example, run against `REDIS_URL` (or a server started
//! here): what it prints holds the span of each command, with the
//! attributes OpenTelemetry's conventions for Redis name, and the metrics.
//! `cargo test` builds the examples of the package before it runs the
//! tests: this runs that build of it.
//!
//! ```text
//! cargo test -p examples    # builds the examples first; `--test telemetry` alone does not
//! ```

use std::process::Command;

use xtask::TestServer;

#[test]
fn the_example_prints_spans_and_metrics() {
    let server = TestServer::get().expect("redis-server starts");
    // target/<profile>/deps/telemetry-<hash> runs this; the example is
    // target/<profile>/examples/telemetry.
    let example = std::env::current_exe()
        .expect("the test's path")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the profile's directory")
        .join("examples")
        .join(format!("telemetry{}", std::env::consts::EXE_SUFFIX));
    assert!(
        example.exists(),
        "{} was not built: `cargo test -p examples` builds it",
        example.display()
    );
    let output = Command::new(&example)
        .env("REDIS_URL", server.url())
        .env_remove("RUST_LOG")
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let spans: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("redis.command") && l.contains("close"))
        .collect();
    for operation in ["SET", "GET", "LPUSH", "PIPELINE"] {
        assert!(
            spans
                .iter()
                .any(|l| l.contains(&format!("db.operation.name=\"{operation}\""))),
            "no span for {operation} in:\n{stdout}"
        );
    }
    assert!(spans.iter().all(|l| l.contains("db.system.name=\"redis\"")));
    assert!(
        spans.iter().any(|l| l.contains("error.type=\"WRONGTYPE\"")),
        "{stdout}"
    );
    for metric in [
        "db.client.operation.duration",
        "db.client.connection.create_time",
        "db.client.connection.count",
        "redis.client.commands",
    ] {
        assert!(stdout.contains(metric), "no {metric} in:\n{stdout}");
    }
}
