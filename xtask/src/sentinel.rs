//! A throwaway Redis Sentinel setup: a master, its replica and three sentinels watching them.

use std::fmt::Write as _;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use crate::probe::{unexpected, Probe, Reply};
use crate::RedisServer;

/// The name under which the sentinels monitor the master.
const MASTER_NAME: &str = "mymaster";

/// How many sentinels watch the master.
const SENTINELS: usize = 3;

/// How many sentinels must agree that the master is down before one of them
/// fails over: a majority, so that one sentinel alone never decides.
const QUORUM: usize = 2;

/// How long a node may not answer before a sentinel counts it as down. The
/// default is 30 s; one second makes a failover after a kill take seconds.
const DOWN_AFTER: Duration = Duration::from_millis(1000);

/// How long a failover may take before the sentinels try again, and twice
/// this is how long they wait before a sentinel may retry the same master.
/// The default of three minutes would turn one lost election into a hang.
const FAILOVER_TIMEOUT: Duration = Duration::from_millis(3000);

/// How often a sentinel sends `INFO` to the master and its replicas, which
/// is how it learns their roles; the default is 10 s (see [`hurry`]).
const INFO_PERIOD: Duration = Duration::from_millis(1000);

/// How often a sentinel announces itself to the others through the nodes;
/// the default is 2 s.
const PUBLISH_PERIOD: Duration = Duration::from_millis(500);

/// How long [`RedisSentinel::start`], [`RedisSentinel::failover`] and
/// [`RedisSentinel::wait_for_master`] poll. Sentinels find each other within
/// a second, a failover after a kill takes 2 to 4 s, and the old master
/// of a planned failover is made a replica about 10 s after it; the rest
/// is room for a loaded machine and for a lost leader election.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause between two rounds of probes.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A Redis Sentinel setup of one's own, on free loopback ports: a master,
/// one replica of it, and three sentinels that monitor the master as
/// [`master_name`](Self::master_name) with a quorum of two.
///
/// Every process is a [`RedisServer`]: no persistence, its own private
/// directory (a sentinel's holds the configuration file it rewrites). The
/// sentinels count a node as down after 1000 ms without an answer, so a
/// failover takes seconds. Dropping the setup kills every process and
/// removes the directories.
///
/// ```no_run
/// let mut setup = xtask::RedisSentinel::start()?;
/// let sentinels = setup.sentinel_urls(); // hand them to the client under test
///
/// // A planned failover: master and replica swap.
/// let old_master = setup.master().port();
/// setup.failover()?;
/// assert_eq!(setup.replica().port(), old_master);
///
/// // An unplanned one: the replica takes over once the master is killed.
/// let replica = setup.replica().port();
/// setup.master_mut().kill();
/// setup.wait_for_master(replica)?;
/// assert_eq!(setup.current_master_port()?, replica);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisSentinel {
    // The sentinels come first so that they are dropped, and killed, before
    // the nodes they watch, and never see them fail on the way out.
    sentinels: Vec<RedisServer>,
    /// The master and the replica, in the order they were started.
    nodes: [RedisServer; 2],
    /// The index in `nodes` of the master, as of the last wait.
    master: usize,
}

impl RedisSentinel {
    /// Starts the master, then its replica (`--replicaof`), then three
    /// sentinels monitoring the master, and waits until the setup is ready
    /// to fail over.
    ///
    /// Ready means that the replica's link to the master is up, and that
    /// every sentinel reports the master's address, knows the replica and
    /// knows the two other sentinels; a failover needs all of it. The
    /// replica is in sync before the sentinels start, so each one finds it
    /// at its first look at the master. Takes well under a second, most of
    /// it the sentinels finding each other; gives up after about 30 s with
    /// an error saying what was last not ready.
    pub fn start() -> io::Result<RedisSentinel> {
        let master = data_node()
            .start()
            .map_err(|e| context(e, "cannot start the master"))?;
        let master_port = master.port().to_string();
        let replica = data_node()
            .arg("--replicaof")
            .arg("127.0.0.1")
            .arg(&master_port)
            .start()
            .map_err(|e| context(e, "cannot start the replica"))?;
        // From here on, dropping `setup` stops every process, whatever fails.
        let mut setup = RedisSentinel {
            sentinels: Vec::with_capacity(SENTINELS),
            nodes: [master, replica],
            master: 0,
        };
        setup.wait(|setup, probes| setup.check_nodes(0, probes))?;
        let config = sentinel_config(setup.nodes[0].port());
        for index in 0..SENTINELS {
            let sentinel = RedisServer::builder()
                .sentinel(&config)
                .start()
                .map_err(|e| context(e, &format!("cannot start sentinel {index}")))?;
            hurry(&sentinel);
            setup.sentinels.push(sentinel);
        }
        setup.wait_for_master(setup.nodes[0].port())?;
        Ok(setup)
    }

    /// The name the sentinels know the master by, `mymaster`, which a
    /// client asks them about.
    pub fn master_name(&self) -> &str {
        MASTER_NAME
    }

    /// The TCP ports of the three sentinels on 127.0.0.1.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(RedisServer::port).collect()
    }

    /// `redis://127.0.0.1:{port}` of every sentinel, the addresses a
    /// Sentinel client starts from.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::url).collect()
    }

    /// The sentinel processes, to read their logs.
    pub fn sentinels(&self) -> &[RedisServer] {
        &self.sentinels
    }

    /// The sentinel at `index` (as in [`sentinels`](Self::sentinels)), to
    /// kill, restart, pause or resume it. Probes skip a killed sentinel,
    /// but wait for a paused one to answer. A restarted sentinel keeps what
    /// it knew, but looks at the nodes at its default, slower pace, so a
    /// failover may take some seconds longer.
    ///
    /// # Panics
    ///
    /// If there is no such sentinel.
    pub fn sentinel_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.sentinels[index]
    }

    /// The master, as of [`start`](Self::start) or the last
    /// [`failover`](Self::failover) or [`wait_for_master`](Self::wait_for_master);
    /// it does not follow a failover by itself. Ask
    /// [`current_master_port`](Self::current_master_port) for the
    /// sentinels' view.
    pub fn master(&self) -> &RedisServer {
        &self.nodes[self.master]
    }

    /// The master, to kill, restart, pause or resume it; see
    /// [`master`](Self::master).
    ///
    /// A restarted master comes back empty and as a master, and stays one
    /// until the sentinels make it a replica of the node that replaced it,
    /// which they do only a few seconds later.
    pub fn master_mut(&mut self) -> &mut RedisServer {
        &mut self.nodes[self.master]
    }

    /// The node that is not [`master`](Self::master): the replica.
    pub fn replica(&self) -> &RedisServer {
        &self.nodes[1 - self.master]
    }

    /// The replica, to kill, restart, pause or resume it.
    pub fn replica_mut(&mut self) -> &mut RedisServer {
        &mut self.nodes[1 - self.master]
    }

    /// The port of the master as the first running sentinel that answers
    /// reports it (`SENTINEL GET-MASTER-ADDR-BY-NAME mymaster`). Does not
    /// wait; during a failover, sentinels may disagree for a moment.
    pub fn current_master_port(&self) -> io::Result<u16> {
        let mut last_error = io::Error::other("no sentinel is running");
        for sentinel in self.running_sentinels() {
            match Probe::new(sentinel.port()).master_port() {
                Ok(port) => return Ok(port),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// Makes the replica the master with `SENTINEL FAILOVER mymaster`, which
    /// a sentinel carries out without asking the others, and waits (at most
    /// about 30 s) until every running sentinel reports the new master's
    /// address and the new master says it is one; then
    /// [`master`](Self::master) and [`replica`](Self::replica) have swapped.
    /// Takes one to two seconds.
    ///
    /// Nothing is done by hand: the old master goes on as a writable master
    /// until the sentinels make it a replica of the new one, about ten
    /// seconds later (they wait to see it still claim to be a master), and
    /// the resync then throws away every write it took in between, as in
    /// production. [`wait_for_master`](Self::wait_for_master) with the new
    /// master's port waits for that; the setup is then ready for the next
    /// failover.
    pub fn failover(&mut self) -> io::Result<()> {
        let old = self.master;
        let new_port = self.nodes[1 - old].port();
        let sentinel = self
            .running_sentinels()
            .next()
            .ok_or_else(|| io::Error::other("no sentinel is running"))?;
        Probe::new(sentinel.port())
            .text(&["SENTINEL", "FAILOVER", MASTER_NAME])
            .map_err(|e| {
                context(
                    e,
                    &format!(
                        "sentinel 127.0.0.1:{} refused to fail over",
                        sentinel.port()
                    ),
                )
            })?;
        self.wait(|setup, probes| setup.check_promoted(new_port, probes))?;
        self.master = 1 - old;
        Ok(())
    }

    /// Waits (at most about 30 s) until the node on `port` is the master in
    /// the view of every running sentinel and in its own, and the other
    /// node, if it is running, replicates it with its link up; then
    /// [`master`](Self::master) is that node.
    ///
    /// After the master is killed, this waits for the replica to take over:
    /// the sentinels notice after 1000 ms, agree, elect a leader and
    /// promote it, which takes 2 to 4 s (a lost election adds 6 s). After a
    /// [`failover`](Self::failover), it waits for the sentinels to make the
    /// old master a replica, about ten seconds. On timeout the error says
    /// what was last not so. `port` must be the port
    /// of the master or of the replica.
    pub fn wait_for_master(&mut self, port: u16) -> io::Result<()> {
        let index = self
            .nodes
            .iter()
            .position(|node| node.port() == port)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("127.0.0.1:{port} is neither the master nor the replica"),
                )
            })?;
        self.wait(|setup, probes| {
            setup.check_promoted(port, probes)?;
            setup.check_nodes(index, probes)?;
            setup.check_streaming(index, probes)?;
            setup.check_replica_known(index, probes)
        })?;
        self.master = index;
        Ok(())
    }

    /// The log of every process, each after a line naming it, for a test
    /// that failed.
    pub fn log(&self) -> String {
        let mut log = String::new();
        let nodes = [("master", self.master()), ("replica", self.replica())];
        let sentinels = self.sentinels.iter().map(|sentinel| ("sentinel", sentinel));
        for (what, server) in nodes.into_iter().chain(sentinels) {
            // Writing to a String cannot fail.
            let _ = writeln!(log, "--- {what} 127.0.0.1:{} ---", server.port());
            log.push_str(&server.log());
        }
        log
    }
}

impl RedisSentinel {
    fn running_sentinels(&self) -> impl Iterator<Item = &RedisServer> {
        self.sentinels
            .iter()
            .filter(|sentinel| sentinel.pid().is_some())
    }

    /// Runs `check` until it passes or [`SETTLE_TIMEOUT`] is over, keeping
    /// one connection per port across rounds.
    fn wait(
        &self,
        mut check: impl FnMut(&Self, &mut Probes) -> Result<(), String>,
    ) -> io::Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let mut probes = Probes::default();
        loop {
            match check(self, &mut probes) {
                Ok(()) => return Ok(()),
                Err(reason) if Instant::now() >= deadline => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the sentinel setup was not ready within {} s: {reason}",
                            SETTLE_TIMEOUT.as_secs()
                        ),
                    ));
                }
                Err(_) => thread::sleep(POLL_INTERVAL),
            }
        }
    }

    /// Whether the node at `master` says it is a master, and the other one,
    /// if running, replicates it with its link up.
    fn check_nodes(&self, master: usize, probes: &mut Probes) -> Result<(), String> {
        let port = self.nodes[master].port();
        let info = probes.ask(port, &["INFO", "replication"])?;
        let role = info_field(&info, "role").unwrap_or("(missing)");
        if role != "master" {
            return Err(format!("127.0.0.1:{port} has role:{role}"));
        }
        let replica = &self.nodes[1 - master];
        if replica.pid().is_none() {
            return Ok(());
        }
        let info = probes.ask(replica.port(), &["INFO", "replication"])?;
        let expected = port.to_string();
        for (field, expected) in [
            ("role", "slave"),
            ("master_port", expected.as_str()),
            ("master_link_status", "up"),
        ] {
            let actual = info_field(&info, field).unwrap_or("(missing)");
            if actual != expected {
                return Err(format!("127.0.0.1:{} has {field}:{actual}", replica.port()));
            }
        }
        Ok(())
    }

    /// Whether the master at `master` streams its writes to the other node,
    /// if that one is running: the replica acknowledged an offset past the
    /// start of the stream.
    ///
    /// After a full sync, a Redis 7 master sends a replica its writes only
    /// once the replica has acknowledged (which it does once a second);
    /// until then writes pile up on the master unsent, and a failover would
    /// lose them. A replica in production has long been past that. The
    /// offset moves once the sentinels greet each other through the master
    /// (every half second), so this is checked once they run.
    fn check_streaming(&self, master: usize, probes: &mut Probes) -> Result<(), String> {
        let port = self.nodes[master].port();
        let replica = &self.nodes[1 - master];
        if replica.pid().is_none() {
            return Ok(());
        }
        let info = probes.ask(port, &["INFO", "replication"])?;
        let replica_port = replica.port().to_string();
        let streaming = info.lines().any(|line| {
            let Some((key, summary)) = line.split_once(':') else {
                return false;
            };
            key.starts_with("slave")
                && summary_field(summary, "port") == Some(replica_port.as_str())
                && summary_field(summary, "state") == Some("online")
                && summary_field(summary, "offset")
                    .and_then(|offset| offset.trim_end().parse::<u64>().ok())
                    .is_some_and(|offset| offset > 0)
        });
        if !streaming {
            return Err(format!(
                "127.0.0.1:{port} has not heard from its replica 127.0.0.1:{replica_port} yet"
            ));
        }
        Ok(())
    }

    /// Whether every running sentinel reports `port` as the master's, sees
    /// it up, and knows a replica and the other sentinels.
    fn check_promoted(&self, port: u16, probes: &mut Probes) -> Result<(), String> {
        let mut asked = 0;
        for sentinel in self.running_sentinels() {
            let sentinel_port = sentinel.port();
            let label = format!("sentinel 127.0.0.1:{sentinel_port}");
            let reported = probes
                .probe(sentinel_port)
                .master_port()
                .map_err(|e| format!("{label} did not tell the master: {e}"))?;
            if reported != port {
                return Err(format!(
                    "{label} reports the master at 127.0.0.1:{reported}"
                ));
            }
            let info = probes.ask(sentinel_port, &["INFO", "sentinel"])?;
            let summary = sentinel_summary(&info)
                .ok_or_else(|| format!("{label} does not list {MASTER_NAME} in INFO sentinel"))?;
            let sentinels = SENTINELS.to_string();
            let address = format!("127.0.0.1:{port}");
            for (field, expected) in [
                ("status", "ok"),
                ("address", address.as_str()),
                ("slaves", "1"),
                ("sentinels", sentinels.as_str()),
            ] {
                let actual = summary_field(summary, field).unwrap_or("(missing)");
                if actual != expected {
                    return Err(format!("{label} has {field}={actual}"));
                }
            }
            asked += 1;
        }
        if asked < QUORUM {
            return Err(format!(
                "only {asked} sentinels are running, fewer than the quorum of {QUORUM}"
            ));
        }
        let info = probes.ask(port, &["INFO", "replication"])?;
        match info_field(&info, "role") {
            Some("master") => Ok(()),
            role => Err(format!(
                "127.0.0.1:{port} has role:{}",
                role.unwrap_or("(missing)")
            )),
        }
    }
}

impl RedisSentinel {
    /// Whether every running sentinel sees the node that is not the one at
    /// `master`, if it is running, as a healthy replica of that one.
    ///
    /// A sentinel fails over only to a replica it is connected to and has
    /// lately heard from (`SENTINEL FAILOVER` answers `-NOGOODSLAVE`
    /// otherwise), and it meets a former master as a replica only after the
    /// switch, in the second that follows.
    fn check_replica_known(&self, master: usize, probes: &mut Probes) -> Result<(), String> {
        let replica = &self.nodes[1 - master];
        if replica.pid().is_none() {
            return Ok(());
        }
        let replica_port = replica.port().to_string();
        let master_port = self.nodes[master].port().to_string();
        for sentinel in self.running_sentinels() {
            let label = format!("sentinel 127.0.0.1:{}", sentinel.port());
            let replicas = probes
                .probe(sentinel.port())
                .replicas()
                .map_err(|e| format!("{label} did not list the replicas: {e}"))?;
            let fields = replicas
                .iter()
                .find(|fields| field(fields, "port") == Some(replica_port.as_str()))
                .ok_or_else(|| {
                    format!("{label} does not know the replica 127.0.0.1:{replica_port}")
                })?;
            for (key, expected) in [
                ("flags", "slave"),
                ("role-reported", "slave"),
                ("master-port", master_port.as_str()),
                ("master-link-status", "ok"),
            ] {
                let actual = field(fields, key).unwrap_or("(missing)");
                if actual != expected {
                    return Err(format!(
                        "{label} sees the replica 127.0.0.1:{replica_port} with {key} {actual}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The value of `key` in the fields of a `SENTINEL REPLICAS` entry.
fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.as_str())
}

/// Makes a sentinel look at the nodes every second instead of every ten,
/// and greet the other sentinels every half second instead of every two.
///
/// A sentinel learns a node's role only from `INFO`, which it sends to a
/// master or replica every 10 s: a former master it caught still acting as
/// one right after a failover would be no candidate for the next failover
/// for that long. `SENTINEL DEBUG` exists since Redis 7.0; an older sentinel
/// answers with an error, which is ignored, since the setup works the same
/// on it, only slower.
fn hurry(sentinel: &RedisServer) {
    let _ = Probe::new(sentinel.port()).text(&[
        "SENTINEL",
        "DEBUG",
        "info-period",
        &INFO_PERIOD.as_millis().to_string(),
        "publish-period",
        &PUBLISH_PERIOD.as_millis().to_string(),
    ]);
}

/// The options of the master and the replica, which swap roles.
fn data_node() -> crate::ServerBuilder {
    // Redis 7 masters sync replicas over the socket (diskless) after a delay
    // of 5 s meant to gather more replicas; there is only ever one here.
    RedisServer::builder()
        .arg("--repl-diskless-sync-delay")
        .arg("0")
}

/// The configuration file a sentinel starts from.
fn sentinel_config(master_port: u16) -> String {
    format!(
        "sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {QUORUM}\n\
         sentinel down-after-milliseconds {MASTER_NAME} {}\n\
         sentinel failover-timeout {MASTER_NAME} {}\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n",
        DOWN_AFTER.as_millis(),
        FAILOVER_TIMEOUT.as_millis()
    )
}

/// The value of `field` in an `INFO`-style reply (`field:value` lines).
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == field).then(|| value.trim_end())
    })
}

/// The line of `INFO sentinel` about [`MASTER_NAME`], from `name=` on:
/// `master0:name=mymaster,status=ok,address=127.0.0.1:6379,slaves=1,sentinels=3`.
fn sentinel_summary(info: &str) -> Option<&str> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let value = value.trim_end();
        (key.starts_with("master") && summary_field(value, "name") == Some(MASTER_NAME))
            .then_some(value)
    })
}

/// The value of `field` in a `field=value,field=value` summary.
fn summary_field<'a>(summary: &'a str, field: &str) -> Option<&'a str> {
    summary.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == field).then_some(value)
    })
}

/// `error` with `what` said first, keeping its kind.
fn context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// One [`Probe`] per port, kept across the rounds of a wait.
#[derive(Default)]
struct Probes(Vec<Probe>);

impl Probes {
    fn probe(&mut self, port: u16) -> &mut Probe {
        let index = match self.0.iter().position(|probe| probe.port() == port) {
            Some(index) => index,
            None => {
                self.0.push(Probe::new(port));
                self.0.len() - 1
            }
        };
        &mut self.0[index]
    }

    /// Sends a command whose reply is text; the error says who did not answer.
    fn ask(&mut self, port: u16, args: &[&str]) -> Result<String, String> {
        self.probe(port)
            .text(args)
            .map_err(|e| format!("127.0.0.1:{port} did not answer {}: {e}", args.join(" ")))
    }
}

/// What the setup asks its sentinels.
impl Probe {
    /// Asks a sentinel for the master's port.
    fn master_port(&mut self) -> io::Result<u16> {
        let reply = self.request(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])?;
        if let Reply::Array(address) = &reply {
            if let [Reply::Text(_host), Reply::Text(port)] = address.as_slice() {
                if let Ok(port) = port.parse() {
                    return Ok(port);
                }
            }
        }
        Err(unexpected(&reply))
    }

    /// Asks a sentinel what it knows of the master's replicas
    /// (`SENTINEL REPLICAS mymaster`): one list of fields and values each.
    fn replicas(&mut self) -> io::Result<Vec<Vec<(String, String)>>> {
        let reply = self.request(&["SENTINEL", "REPLICAS", MASTER_NAME])?;
        let Reply::Array(replicas) = reply else {
            return Err(unexpected(&reply));
        };
        replicas
            .into_iter()
            .map(|replica| match replica {
                Reply::Array(fields) => fields
                    .chunks(2)
                    .map(|pair| match pair {
                        [Reply::Text(key), Reply::Text(value)] => Ok((key.clone(), value.clone())),
                        _ => Err(unexpected(&Reply::Array(fields.clone()))),
                    })
                    .collect(),
                other => Err(unexpected(&other)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_config_monitors_the_master() {
        assert_eq!(
            sentinel_config(6380),
            "sentinel monitor mymaster 127.0.0.1 6380 2\n\
             sentinel down-after-milliseconds mymaster 1000\n\
             sentinel failover-timeout mymaster 3000\n\
             sentinel parallel-syncs mymaster 1\n"
        );
    }

    #[test]
    fn info_sentinel_summary() {
        let info = "# Sentinel\r\nsentinel_masters:1\r\n\
                    master0:name=mymaster,status=ok,address=127.0.0.1:6380,slaves=1,sentinels=3\r\n";
        let summary = sentinel_summary(info).unwrap();
        assert_eq!(summary_field(summary, "address"), Some("127.0.0.1:6380"));
        assert_eq!(summary_field(summary, "sentinels"), Some("3"));
        assert_eq!(summary_field(summary, "quorum"), None);
        assert_eq!(sentinel_summary("master0:name=other,status=ok\r\n"), None);
        assert_eq!(info_field(info, "sentinel_masters"), Some("1"));
    }
}
