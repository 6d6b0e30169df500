//! Runnable examples of the client, one scenario a file in `examples/`.
//!
//! Each starts with a comment saying what it shows and how to run it; all
//! of them talk to the server `REDIS_URL` names (default
//! `redis://127.0.0.1:6379`) through `redis-facade`:
//!
//! ```text
//! cargo run -p examples --example realistic    # many tasks, one pipelined socket
//! cargo run -p examples --example sessions     # cache-aside with a time to live
//! cargo run -p examples --example pubsub       # print what arrives on a channel
//! cargo run -p examples --example psubscribe   # ... on channels matching a pattern
//! cargo run -p examples --example monitor      # print every command the server runs
//! ```
//!
//! `cargo xtask demo` runs `realistic` and `sessions` against a throwaway
//! server. This library is empty: it exists because a package needs one
//! target besides its examples.
