//! The throwaway Redis Cluster against real `redis-server` nodes: its shape, failover and rejoining.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use xtask::{RedisCluster, Role, TestCluster};

mod common;
use common::{connect, read_line};

#[test]
fn cluster_has_three_primaries_with_a_replica_each_and_all_slots() {
    let cluster = RedisCluster::start().unwrap();
    assert_eq!(cluster.nodes().len(), 6);
    let primaries = cluster.primaries();
    let replicas = cluster.replicas();
    assert_eq!((primaries.len(), replicas.len()), (3, 3));

    for (index, node) in cluster.nodes().iter().enumerate() {
        assert_eq!(node.index(), index);
        assert_eq!(node.url(), format!("redis://127.0.0.1:{}", node.port()));
        assert_eq!(node.server().cluster_bus_port(), Some(node.port() + 10000));
        assert_eq!(node.id().len(), 40, "{}", node.id());
        assert!(node.is_running() && !node.is_paused());

        let mut stream = connect(node.port());
        let info = request(&mut stream, "CLUSTER INFO").unwrap();
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
        assert_eq!(request(&mut stream, "CLUSTER MYID").unwrap(), node.id());
    }

    // The primaries' slots cover every slot exactly once.
    let mut ranges: Vec<_> = primaries
        .iter()
        .flat_map(|primary| primary.slots().iter().cloned())
        .collect();
    ranges.sort_by_key(|range| *range.start());
    let mut next = 0;
    for range in &ranges {
        assert_eq!(*range.start(), next, "{ranges:?}");
        next = range.end() + 1;
    }
    assert_eq!(next, 16384, "{ranges:?}");

    // Each primary has its own replica, whose link to it is up.
    for primary in &primaries {
        assert_eq!(primary.role(), Role::Primary);
        assert_eq!(primary.primary_id(), None);
        let theirs: Vec<_> = replicas
            .iter()
            .filter(|replica| replica.primary_id() == Some(primary.id()))
            .collect();
        assert_eq!(theirs.len(), 1, "{primary:?}");
        let replica = theirs[0];
        assert!(replica.slots().is_empty());
        let replication = request(&mut connect(replica.port()), "INFO replication").unwrap();
        assert!(replication.contains("role:slave"), "{replication}");
        assert!(
            replication.contains(&format!("master_port:{}", primary.port())),
            "{replication}"
        );
        assert!(
            replication.contains("master_link_status:up"),
            "{replication}"
        );
    }

    let seeds = cluster.seed_urls();
    let urls: Vec<String> = cluster.nodes().iter().map(|node| node.url()).collect();
    assert_eq!(seeds, urls);
    assert_eq!(cluster.urls_env(), urls.join(","));
}

#[test]
fn keys_are_hashed_alike_on_every_node_and_redirected_to_their_primary() {
    let cluster = TestCluster::get().unwrap();
    assert!(!cluster.seed_urls().is_empty());
    let mut owner = None;
    for url in cluster.seed_urls() {
        let mut stream = connect(port_of(url));
        assert_eq!(
            request(&mut stream, "CLUSTER KEYSLOT foo").unwrap(),
            ":12182"
        );
        // Every node but the slot's primary, its replica included, sends
        // the client there.
        let reply = request(&mut stream, "GET xtask-cluster-test{foo}").unwrap();
        if let Some(moved) = reply.strip_prefix("-MOVED 12182 ") {
            assert!(owner.is_none_or(|owner| owner == moved), "{reply}");
            owner = Some(moved.to_owned());
        }
    }
    let owner = owner.expect("some node redirects");
    let mut stream = connect(port_of(&owner));
    assert!(
        request(&mut stream, "GET xtask-cluster-test{foo}")
            .unwrap()
            .starts_with('$'),
        "the owner serves the key"
    );
}

#[test]
fn killed_primary_is_replaced_by_its_replica_and_rejoins_as_a_replica() {
    let mut cluster = RedisCluster::start().unwrap();
    let primary = cluster.primaries()[0].index();
    let primary_id = cluster.node(primary).id().to_owned();
    let slots = cluster.node(primary).slots().to_vec();
    let replica = cluster
        .replicas()
        .iter()
        .find(|replica| replica.primary_id() == Some(&primary_id))
        .map(|replica| replica.index())
        .unwrap();
    let replica_id = cluster.node(replica).id().to_owned();

    cluster.node_mut(primary).kill();
    assert!(!cluster.node(primary).is_running());
    assert!(TcpStream::connect(("127.0.0.1", cluster.node(primary).port())).is_err());
    cluster.wait_for_ok().unwrap();
    // Reading the roles again finds what the wait found.
    let roles = snapshot(&cluster);
    cluster.refresh_roles().unwrap();
    assert_eq!(snapshot(&cluster), roles);

    let promoted = cluster.node(replica);
    assert_eq!(promoted.role(), Role::Primary);
    assert_eq!(promoted.slots(), slots);
    assert_eq!(cluster.node(primary).role(), Role::Primary);
    assert!(cluster.node(primary).slots().is_empty());
    assert_eq!(cluster.primaries().len(), 3);
    assert_eq!(cluster.replicas().len(), 2);
    let info = request(&mut connect(promoted.port()), "CLUSTER INFO").unwrap();
    assert!(info.contains("cluster_state:ok"), "{info}");

    cluster.node_mut(primary).restart().unwrap();
    cluster.wait_for_ok().unwrap();

    let rejoined = cluster.node(primary);
    assert_eq!(rejoined.id(), primary_id);
    assert_eq!(rejoined.role(), Role::Replica);
    assert_eq!(rejoined.primary_id(), Some(replica_id.as_str()));
    assert_eq!(
        (cluster.primaries().len(), cluster.replicas().len()),
        (3, 3)
    );
    let replication = request(&mut connect(rejoined.port()), "INFO replication").unwrap();
    assert!(
        replication.contains(&format!("master_port:{}", cluster.node(replica).port())),
        "{replication}"
    );
    assert!(
        replication.contains("master_link_status:up"),
        "{replication}"
    );
}

#[test]
fn paused_replica_is_left_out_until_resumed() {
    let mut cluster = RedisCluster::start().unwrap();
    let replica = cluster.replicas()[0].index();

    cluster.node_mut(replica).pause();
    assert!(cluster.node(replica).is_paused());
    let mut stream = connect(cluster.node(replica).port());
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(request(&mut stream, "PING").is_err());
    // The others are still ok, and the paused node is not waited for.
    cluster.wait_for_ok().unwrap();

    cluster.node_mut(replica).resume();
    assert!(!cluster.node(replica).is_paused());
    cluster.wait_for_ok().unwrap();
    assert_eq!(cluster.node(replica).role(), Role::Replica);
    let mut stream = connect(cluster.node(replica).port());
    assert_eq!(request(&mut stream, "PING").unwrap(), "+PONG");
}

#[test]
fn dropping_the_cluster_stops_every_node_and_removes_its_directory() {
    let cluster = RedisCluster::start().unwrap();
    let nodes: Vec<(u16, PathBuf)> = cluster
        .nodes()
        .iter()
        .map(|node| (node.port(), node.server().dir().to_path_buf()))
        .collect();
    let log = cluster.log();
    assert!(log.contains("Cluster state changed: ok"), "{log}");
    for (port, dir) in &nodes {
        assert!(dir.join("nodes.conf").is_file(), "{}", dir.display());
        assert!(log.contains(&format!("127.0.0.1:{port}")), "{log}");
    }

    drop(cluster);
    for (port, dir) in &nodes {
        assert!(TcpStream::connect(("127.0.0.1", *port)).is_err(), "{port}");
        assert!(!dir.exists(), "{}", dir.display());
    }
}

/// Every node's role, primary and slots.
fn snapshot(cluster: &RedisCluster) -> Vec<(Role, Option<String>, Vec<RangeInclusive<u16>>)> {
    cluster
        .nodes()
        .iter()
        .map(|node| {
            let primary = node.primary_id().map(str::to_owned);
            (node.role(), primary, node.slots().to_vec())
        })
        .collect()
}

/// The port of a `redis://127.0.0.1:{port}` URL.
fn port_of(url: &str) -> u16 {
    let (_, port) = url.rsplit_once(':').unwrap();
    port.trim_end_matches('/').parse().unwrap()
}

/// Sends an inline command and returns the reply without its final CRLF: a
/// line, or the contents of a bulk string.
fn request(stream: &mut TcpStream, command: &str) -> io::Result<String> {
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let first = read_line(stream)?;
    let Some(len) = first.strip_prefix('$').and_then(|len| len.parse().ok()) else {
        return Ok(first);
    };
    let mut bulk = vec![0; len + 2];
    stream.read_exact(&mut bulk)?;
    bulk.truncate(len);
    Ok(String::from_utf8_lossy(&bulk).into_owned())
}
