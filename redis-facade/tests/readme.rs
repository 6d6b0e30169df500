//! The example of the workspace README: checked to be the code the README
//! shows, then compiled and run against `REDIS_URL` (or a server started
//! here when it is not set).

use xtask::RedisServer;

/// The example, exactly as it appears in the README.
const EXAMPLE: &str = include_str!("readme/example.rs");
const README: &str = include_str!("../../README.md");

mod example {
    include!("readme/example.rs");

    #[test]
    fn the_readme_example_runs() {
        let _own = super::server_unless_one_is_given();
        main().expect("the README example succeeds");
    }
}

#[test]
fn the_readme_shows_this_example() {
    assert!(
        README.contains(&format!("```rust\n{EXAMPLE}```\n")),
        "README.md must show redis-facade/tests/readme/example.rs verbatim in a ```rust block"
    );
}

/// Starts a server and points `REDIS_URL` at it, unless `REDIS_URL` is set
/// already. The example reads `REDIS_URL` itself; no other test of this
/// binary reads or writes the environment.
fn server_unless_one_is_given() -> Option<RedisServer> {
    if std::env::var_os("REDIS_URL").is_some() {
        return None;
    }
    let server = RedisServer::start().expect("redis-server starts");
    std::env::set_var("REDIS_URL", server.url());
    Some(server)
}
