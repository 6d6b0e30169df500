//! The catalogue against the live server: it knows the server's commands,
//! and it finds the keys of a command line exactly where `COMMAND GETKEYS`
//! finds them.

use redis_paired::catalogue::{self, Server};
use redis_paired::PairedConnection;
use resp::{cmd, Command};
use xtask::TestServer;

async fn connect(server: &TestServer) -> PairedConnection {
    let config: redis_conn::ConnectionConfig = server.url().parse().unwrap();
    PairedConnection::connect(&config).await.unwrap()
}

#[tokio::test]
async fn the_catalogue_knows_every_command_the_server_has() {
    let server = TestServer::get().expect("redis-server starts");
    let conn = connect(&server).await;
    let names: Vec<String> = conn.send(cmd!("COMMAND", "LIST")).await.unwrap();
    let mut unknown = Vec::new();
    let mut listed = 0;
    for name in &names {
        // Subcommands are listed as `container|subcommand`.
        let (container, sub) = match name.split_once('|') {
            Some((container, sub)) => (container, Some(sub)),
            None => (name.as_str(), None),
        };
        let Some(command) = catalogue::commands().iter().find(|c| c.name() == container) else {
            unknown.push(name.clone());
            continue;
        };
        match sub {
            Some(sub) if !command.subcommands().iter().any(|s| s.name() == sub) => {
                unknown.push(name.clone());
            }
            Some(_) => {}
            None => listed += 1,
        }
    }
    assert!(unknown.is_empty(), "not in the catalogue: {unknown:?}");
    // And it knows which of its commands this server has: all it lists.
    let info: String = conn.send(cmd!("INFO", "server")).await.unwrap();
    let (server, version) = Server::from_info(&info).expect("INFO names the version");
    let here = catalogue::commands()
        .iter()
        .filter(|c| c.is_on(server, version))
        .count();
    assert_eq!(listed, here, "{server:?} {version}");
    for command in catalogue::commands() {
        let subs = command.subcommands().iter();
        for sub in subs.filter(|s| s.is_on(server, version)) {
            let name = format!("{}|{}", command.name(), sub.name());
            assert!(names.contains(&name), "{server:?} {version} has no {name}");
        }
    }
}

#[tokio::test]
async fn keys_are_where_command_getkeys_finds_them() {
    let server = TestServer::get().expect("redis-server starts");
    let conn = connect(&server).await;
    let lines: Vec<Command> = vec![
        cmd!("GET", "k"),
        cmd!("SET", "k", "v", "NX", "GET"),
        cmd!("MSET", "a", 1, "b", 2, "c", 3),
        cmd!("MSETNX", "a", 1),
        cmd!("MGET", "a", "b"),
        cmd!("DEL", "a", "b", "c"),
        cmd!("EXISTS", "a", "a"),
        cmd!("RENAME", "a", "b"),
        cmd!("COPY", "a", "b", "REPLACE"),
        cmd!("LMOVE", "a", "b", "LEFT", "RIGHT"),
        cmd!("BLMOVE", "a", "b", "LEFT", "RIGHT", 0),
        cmd!("BLPOP", "a", "b", 0),
        cmd!("BLMPOP", 0, 2, "a", "b", "LEFT", "COUNT", 3),
        cmd!("LMPOP", 1, "a", "RIGHT"),
        cmd!("BZMPOP", 1, 2, "a", "b", "MIN"),
        cmd!("ZUNIONSTORE", "dest", 2, "a", "b", "WEIGHTS", 1, 2),
        cmd!("ZINTER", 2, "a", "b", "WITHSCORES"),
        cmd!("ZRANGESTORE", "dst", "src", 0, -1),
        cmd!("SINTERCARD", 2, "a", "b", "LIMIT", 1),
        cmd!("SMOVE", "a", "b", "m"),
        cmd!("EVAL", "return 1", 2, "x", "y", "arg"),
        cmd!("EVAL_RO", "return 1", 1, "x"),
        cmd!("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", 0),
        cmd!("FCALL", "f", 2, "x", "y", "arg"),
        cmd!("XREAD", "COUNT", 1, "BLOCK", 0, "STREAMS", "s1", "s2", "$", "$"),
        cmd!("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", ">"),
        cmd!("XADD", "s", "*", "f", "v"),
        cmd!("XAUTOCLAIM", "s", "g", "c", 10, "0-0"),
        cmd!("GEORADIUS", "g", 0, 0, 1, "km", "STORE", "dest"),
        cmd!(
            "GEOSEARCHSTORE",
            "dst",
            "src",
            "FROMLONLAT",
            0,
            0,
            "BYRADIUS",
            1,
            "km"
        ),
        cmd!("PFMERGE", "dest", "a", "b"),
        cmd!("BITOP", "AND", "dest", "a", "b"),
        cmd!("OBJECT", "ENCODING", "k"),
        cmd!("MEMORY", "USAGE", "k"),
        cmd!("XINFO", "STREAM", "s", "FULL"),
        cmd!("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"),
        cmd!("RESTORE", "k", 0, "payload"),
        cmd!("TOUCH", "a", "b"),
        cmd!("WATCH", "a", "b"),
        cmd!("HSET", "h", "f", "v", "g", "w"),
        cmd!("LCS", "a", "b"),
    ];
    for line in &lines {
        let ours = catalogue::keys(line);
        let theirs = getkeys(&conn, line).await;
        let name = String::from_utf8_lossy(line.name());
        let ours_owned: Vec<Vec<u8>> = ours.keys.iter().map(|k| k.to_vec()).collect();
        assert_eq!(ours_owned, theirs, "{name}");
        assert!(ours.complete, "{name}");
    }
    // Where the specs cannot tell, what they find is a part of the keys.
    for line in [
        cmd!("SORT", "list", "BY", "w_*", "STORE", "dest"),
        cmd!("SORT_RO", "list"),
        cmd!("MIGRATE", "host", 6379, "k", 0, 1000),
    ] {
        let ours = catalogue::keys(&line);
        let theirs = getkeys(&conn, &line).await;
        assert!(!ours.complete, "{line:?}");
        assert!(
            ours.keys.iter().all(|k| theirs.contains(&k.to_vec())),
            "{theirs:?}"
        );
    }
}

/// The keys the server finds in `line`.
async fn getkeys(conn: &PairedConnection, line: &Command) -> Vec<Vec<u8>> {
    let args: Vec<&[u8]> = line.args().collect();
    conn.send(Command::new("COMMAND").arg("GETKEYS").arg(args))
        .await
        .unwrap_or_else(|e| panic!("COMMAND GETKEYS {line:?}: {e}"))
}
