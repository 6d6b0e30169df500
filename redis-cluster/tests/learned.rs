//! Commands the catalogue does not know, routed by what the servers say of
//! them: on a cluster of its own whose nodes rename commands in their
//! configuration (`rename-command`), so that the catalogue knows none of
//! the new names, the renamed commands go where their keys are, with no
//! `MOVED`, alone, in pipelines and in transactions.

use futures_util::future::join_all;
use redis_cluster::{ClusterConfig, ClusterConnection};
use resp::{cmd, Value};
use xtask::RedisCluster;

/// The renames every node of the test's cluster makes. `BITOP`'s first
/// argument is no key, so guessing it is wrong for two slots in three.
const RENAMES: [&str; 9] = [
    "--rename-command",
    "BITOP",
    "MYBITOP",
    "--rename-command",
    "GET",
    "MYGET",
    "--rename-command",
    "OBJECT",
    "MYOBJECT",
];

/// How many `COMMAND INFO` the primaries answered, from their
/// `INFO commandstats`.
async fn command_info_calls(conn: &ClusterConnection) -> u64 {
    let stats: Vec<(_, String)> = conn
        .send_to_all_primaries(cmd!("INFO", "commandstats"))
        .await
        .expect("every primary gives its stats");
    stats
        .iter()
        .flat_map(|(_, info)| info.lines())
        .filter_map(|line| line.strip_prefix("cmdstat_command|info:calls="))
        .filter_map(|rest| rest.split(',').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_commands_go_where_their_keys_are() {
    let cluster = RedisCluster::start_with(&RENAMES).expect("the cluster starts");
    let config = ClusterConfig::from_urls(cluster.seed_urls()).expect("valid URLs");
    let conn = ClusterConnection::connect(&config)
        .await
        .expect("the cluster connects");
    let asked_before = command_info_calls(&conn).await;

    // Keys in slots all over the cluster.
    let tags: Vec<String> = (0..48).map(|i| format!("{{k{i}}}")).collect();
    for tag in &tags {
        let () = conn
            .send(cmd!("SET", format!("{tag}a"), "a"))
            .await
            .expect("SET");
        let () = conn
            .send(cmd!("SET", format!("{tag}b"), "c"))
            .await
            .expect("SET");
    }

    // Many first uses at once: they wait for one answer, then go where the
    // keys are.
    let lengths = join_all(tags.iter().map(|tag| {
        conn.send::<i64>(cmd!(
            "MYBITOP",
            "AND",
            format!("{tag}dest"),
            format!("{tag}a"),
            format!("{tag}b")
        ))
    }))
    .await;
    for length in lengths {
        assert_eq!(length.expect("MYBITOP"), 1);
    }
    for tag in &tags {
        let value: Vec<u8> = conn
            .send(cmd!("MYGET", format!("{tag}dest")))
            .await
            .expect("MYGET");
        assert_eq!(value, b"a", "a AND c");
        let encoding: String = conn
            .send(cmd!("MYOBJECT", "ENCODING", format!("{tag}a")))
            .await
            .expect("MYOBJECT ENCODING");
        assert_eq!(encoding, "embstr");
    }
    // A name no server knows goes by its first argument, and is refused as
    // unknown wherever it lands.
    let unknown = conn.send::<Value>(cmd!("NOSUCHCOMMAND", "k")).await;
    assert!(unknown.is_err(), "{unknown:?}");

    // A pipeline over every slot.
    let mut pipeline = conn.pipeline();
    for tag in &tags {
        pipeline.push(cmd!(
            "MYBITOP",
            "OR",
            format!("{tag}or"),
            format!("{tag}a"),
            format!("{tag}b")
        ));
        pipeline.push(cmd!("MYGET", format!("{tag}or")));
        pipeline.push(cmd!("MYOBJECT", "ENCODING", format!("{tag}b")));
    }
    let replies: Vec<Value> = pipeline.query().await.expect("the pipeline");
    assert_eq!(replies.len(), tags.len() * 3);
    for reply in replies.chunks(3) {
        assert_eq!(reply[0], Value::Integer(1), "{reply:?}");
        assert!(matches!(&reply[1], Value::BulkString(_)), "{reply:?}");
        assert!(matches!(&reply[2], Value::BulkString(_)), "{reply:?}");
    }

    // A transaction in one slot, of renamed commands only.
    for tag in &tags[..8] {
        let (length, value, encoding): (i64, Vec<u8>, String) = conn
            .transaction()
            .add(cmd!(
                "MYBITOP",
                "XOR",
                format!("{tag}x"),
                format!("{tag}a"),
                format!("{tag}a")
            ))
            .add(cmd!("MYGET", format!("{tag}x")))
            .add(cmd!("MYOBJECT", "ENCODING", format!("{tag}x")))
            .query()
            .await
            .expect("the transaction");
        assert_eq!((length, value, encoding.as_str()), (1, vec![0], "raw"));
    }

    let stats = conn.stats();
    assert_eq!(stats.moved, 0, "{stats:?}");
    assert_eq!(stats.asked, 0, "{stats:?}");
    // One question a name: MYBITOP, MYGET, MYOBJECT, NOSUCHCOMMAND.
    let asked = command_info_calls(&conn).await - asked_before;
    assert_eq!(asked, 4);

    // At most 1024 names are asked about and kept; beyond them, the first
    // argument is the key, and nothing more is asked.
    let unknown =
        join_all((0..1100).map(|i| conn.send::<Value>(cmd!(&format!("NOSUCH{i}"), "k")))).await;
    assert!(unknown.iter().all(Result::is_err));
    let asked = command_info_calls(&conn).await - asked_before;
    assert_eq!(asked, 1024);
    let value: Option<Vec<u8>> = conn.send(cmd!("MYGET", "{k1}a")).await.expect("MYGET");
    assert_eq!(value.as_deref(), Some(&b"a"[..]));
    assert_eq!(command_info_calls(&conn).await - asked_before, 1024);
    assert_eq!(conn.stats().moved, 0);
}
