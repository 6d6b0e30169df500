//! The command catalogue's table is what its snapshot generates: neither is
//! edited without the other.

use std::fs;
use std::path::Path;

use xtask::catalogue::{generate, SNAPSHOT_PATH, TABLE_PATH};

#[test]
fn the_generated_table_is_up_to_date_with_the_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace");
    let snapshot = fs::read_to_string(root.join(SNAPSHOT_PATH)).expect("the snapshot is there");
    let table = fs::read_to_string(root.join(TABLE_PATH)).expect("the table is there");
    let generated = generate(&snapshot).expect("the snapshot generates");
    assert!(
        table == generated,
        "{TABLE_PATH} is stale against {SNAPSHOT_PATH}: run `cargo xtask gen-commands --offline`"
    );
}
