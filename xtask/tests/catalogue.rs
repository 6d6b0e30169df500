//! The command catalogue's table and the generated typed methods are what
//! the snapshot and the kept specifications generate: none is edited without
//! the others.

use std::fs;
use std::path::Path;

use xtask::catalogue::{generate, SNAPSHOT_PATH, SPECS_PATH, TABLE_PATH};
use xtask::methods::{self, ARGS_PATH, METHODS_PATH, REPLIES_PATH, SMOKE_PATH};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
}

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn the_generated_table_is_up_to_date_with_the_snapshot() {
    let generated =
        generate(&read(SNAPSHOT_PATH), &read(SPECS_PATH)).expect("the snapshot generates");
    assert!(
        read(TABLE_PATH) == generated,
        "{TABLE_PATH} is stale against {SNAPSHOT_PATH} and {SPECS_PATH}: run `cargo xtask gen-commands --offline`"
    );
}

#[test]
fn the_generated_methods_are_up_to_date_with_the_snapshot() {
    let generated = methods::generate(&read(SNAPSHOT_PATH), &read(SPECS_PATH), &read(REPLIES_PATH))
        .expect("the snapshot generates");
    for (path, text) in [
        (METHODS_PATH, &generated.methods),
        (ARGS_PATH, &generated.args),
        (SMOKE_PATH, &generated.smoke),
    ] {
        let text = methods::format(text, root()).expect("rustfmt formats the generated code");
        assert!(
            read(path) == text,
            "{path} is stale against {SNAPSHOT_PATH}, {SPECS_PATH} and {REPLIES_PATH}: \
             run `cargo xtask gen-commands --offline`"
        );
    }
    let readme = read("README.md");
    assert!(
        methods::with_summary(&readme, &generated.summary).as_deref() == Ok(readme.as_str()),
        "README.md's counts of typed commands are stale: run `cargo xtask gen-commands --offline`"
    );
}
