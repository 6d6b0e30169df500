//! The throwaway Sentinel setup against real `redis-server`s: start, failover, a killed master.

use std::io;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use xtask::{RedisSentinel, RedisServer};

mod common;
use common::{connect, request};

#[test]
fn setup_comes_up_with_the_right_master() {
    let setup = RedisSentinel::start().unwrap();
    let master = setup.master().port();
    let replica = setup.replica().port();
    assert_ne!(master, replica);
    assert_eq!(setup.master_name(), "mymaster");
    assert_eq!(setup.current_master_port().unwrap(), master);

    let ports = setup.sentinel_ports();
    assert_eq!(ports.len(), 3);
    let urls: Vec<String> = ports
        .iter()
        .map(|port| format!("redis://127.0.0.1:{port}"))
        .collect();
    assert_eq!(setup.sentinel_urls(), urls);
    for port in ports {
        let mut sentinel = connect(port);
        assert_eq!(
            request(&mut sentinel, "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster").unwrap(),
            format!(
                "*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{master}",
                master.to_string().len()
            )
        );
        let info = request(&mut sentinel, "INFO sentinel").unwrap();
        assert!(info.contains("slaves=1,sentinels=3"), "{info}");
    }

    let mut master_stream = connect_to(setup.master());
    assert!(request(&mut master_stream, "INFO replication")
        .unwrap()
        .contains("role:master"));
    let info = request(&mut connect_to(setup.replica()), "INFO replication").unwrap();
    assert!(info.contains("role:slave"), "{info}");
    assert!(info.contains(&format!("master_port:{master}")), "{info}");

    // What the master takes, the replica serves.
    assert_eq!(request(&mut master_stream, "SET k v").unwrap(), "+OK");
    assert_eq!(request(&mut master_stream, "WAIT 1 5000").unwrap(), ":1");
    assert_eq!(
        request(&mut connect_to(setup.replica()), "GET k").unwrap(),
        "$1\r\nv"
    );
}

#[test]
fn waiting_for_a_node_that_is_not_there_is_refused() {
    let mut setup = RedisSentinel::start().unwrap();
    let sentinel = setup.sentinel_ports()[0];
    let error = setup.wait_for_master(sentinel).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    // The refusal changes nothing.
    assert_eq!(setup.current_master_port().unwrap(), setup.master().port());
}

#[test]
fn failover_swaps_master_and_replica() {
    let mut setup = RedisSentinel::start().unwrap();
    let old_master = setup.master().port();
    let old_replica = setup.replica().port();

    setup.failover().unwrap();
    assert_eq!(setup.master().port(), old_replica);
    assert_eq!(setup.replica().port(), old_master);
    assert_eq!(setup.current_master_port().unwrap(), old_replica);
    for port in setup.sentinel_ports() {
        let reply = request(
            &mut connect(port),
            "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster",
        );
        assert!(reply.unwrap().ends_with(&format!("\r\n{old_replica}")));
    }
    assert_eq!(
        request(&mut connect_to(setup.master()), "SET k v").unwrap(),
        "+OK"
    );
    // The sentinels themselves make the old master a replica, seconds later.
    setup.wait_for_master(old_replica).unwrap();
    assert!(request(&mut connect_to(setup.replica()), "SET k v")
        .unwrap()
        .starts_with("-READONLY"));

    // The old master is a replica in good standing, so it can take over again.
    setup.failover().unwrap();
    assert_eq!(setup.master().port(), old_master);
    assert_eq!(setup.current_master_port().unwrap(), old_master);
}

#[test]
fn killed_master_is_replaced_by_its_replica() {
    let mut setup = RedisSentinel::start().unwrap();
    let replica = setup.replica().port();
    setup.master_mut().kill();

    let deadline = Instant::now() + Duration::from_secs(20);
    while setup.current_master_port().ok() != Some(replica) {
        assert!(
            Instant::now() < deadline,
            "no failover within 20 s\n{}",
            setup.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
    setup.wait_for_master(replica).unwrap();
    assert_eq!(setup.master().port(), replica);
    assert_eq!(setup.replica().pid(), None);
    assert_eq!(
        request(&mut connect_to(setup.master()), "SET k v").unwrap(),
        "+OK"
    );
}

fn connect_to(server: &RedisServer) -> TcpStream {
    connect(server.port())
}
