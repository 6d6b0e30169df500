//! A throwaway Redis Cluster: six `redis-server` nodes, three primaries with a replica each.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::probe::Probe;
use crate::server::{is_executable, search_path};
use crate::RedisServer;

/// How many nodes a cluster has.
const NODES: usize = 6;

/// How many of the nodes are primaries; each of the others replicates one.
const PRIMARIES: usize = 3;

/// The number of hash slots of every Redis Cluster.
const SLOTS: usize = 16384;

/// How long `redis-cli --cluster create` may take. It checks once a second
/// whether the nodes agree, so it normally needs a little over a second.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`RedisCluster::wait_for_ok`] polls. With the nodes' 1000 ms
/// timeout a failover takes 2 to 3 s; the rest is room for a loaded machine.
const OK_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause between two rounds of probes.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The second half of the message when no `redis-cli` can be found.
const CLI_INSTALL_HINT: &str =
    "install it with `apt-get install -y redis-tools` (Debian's redis-server depends on it)";

/// A Redis Cluster of one's own: six `redis-server` nodes on free loopback
/// ports, three primaries serving all 16384 slots and one replica for each.
///
/// Every node is a [`RedisServer`] made with [`ServerBuilder::cluster_node`]:
/// no persistence, its own private directory (which holds its `nodes.conf`),
/// a node timeout of 1000 ms so that a failover takes seconds. Dropping the
/// cluster kills every node and removes the directories.
///
/// [`ServerBuilder::cluster_node`]: crate::ServerBuilder::cluster_node
///
/// ```no_run
/// let mut cluster = xtask::RedisCluster::start()?;
/// let seeds = cluster.seed_urls(); // hand them to the client under test
///
/// // Fail over: the killed primary's replica takes its slots.
/// let primary = cluster.primaries()[0].index();
/// cluster.node_mut(primary).kill();
/// cluster.wait_for_ok()?;
/// assert!(cluster.nodes()[primary].slots().is_empty());
///
/// // Back again, the old primary rejoins as a replica of the new one.
/// cluster.node_mut(primary).restart()?;
/// cluster.wait_for_ok()?;
/// assert!(cluster.nodes()[primary].is_replica());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<ClusterNode>,
}

impl RedisCluster {
    /// Starts six nodes, makes them a cluster with `redis-cli --cluster
    /// create ... --cluster-replicas 1`, and waits until it is ok (see
    /// [`wait_for_ok`](Self::wait_for_ok)).
    ///
    /// `redis-cli` is looked for beside the `redis-server` binary in use
    /// (see [`RedisServer`]), then on `PATH`. Which nodes become replicas is
    /// redis-cli's choice; [`primaries`](Self::primaries) and
    /// [`replicas`](Self::replicas) tell. The error says which step failed,
    /// with redis-cli's output if it was that step.
    pub fn start() -> io::Result<RedisCluster> {
        RedisCluster::start_with(&[])
    }

    /// As [`start`](Self::start), each node's `redis-server` given `args`
    /// after its own (so they can override them): `&["--rename-command",
    /// "BITOP", "MYBITOP"]`. The nodes keep them when
    /// [restarted](ClusterNode::restart). Renaming a command this harness
    /// or `redis-cli --cluster` needs (`CLUSTER`, `INFO`, `PING`, `CONFIG`)
    /// breaks the start.
    pub fn start_with(args: &[&str]) -> io::Result<RedisCluster> {
        let mut nodes = Vec::with_capacity(NODES);
        for index in 0..NODES {
            let builder = args
                .iter()
                .fold(RedisServer::builder().cluster_node(), |b, a| b.arg(a));
            let server = builder
                .start()
                .map_err(|e| context(e, &format!("cannot start cluster node {index}")))?;
            nodes.push(ClusterNode::new(index, server));
        }
        // From here on, dropping `cluster` stops every node, whatever fails.
        let mut cluster = RedisCluster { nodes };
        for node in &mut cluster.nodes {
            node.id = Probe::new(node.port())
                .text(&["CLUSTER", "MYID"])
                .map_err(|e| context(e, &format!("{} has no node id", node.label())))?;
        }
        let cli = find_redis_cli(cluster.nodes[0].server.bin(), env::var_os("PATH"))?;
        let ports: Vec<u16> = cluster.nodes.iter().map(ClusterNode::port).collect();
        create(&cli, &ports)?;
        cluster.wait_for_ok()?;
        cluster.check_shape()?;
        Ok(cluster)
    }

    /// Every node, in the order they were started; a node's place here is
    /// its [`index`](ClusterNode::index).
    pub fn nodes(&self) -> &[ClusterNode] {
        &self.nodes
    }

    /// The node at `index`, as in [`nodes`](Self::nodes).
    ///
    /// # Panics
    ///
    /// If there is no such node.
    pub fn node(&self, index: usize) -> &ClusterNode {
        &self.nodes[index]
    }

    /// The node at `index`, to kill, restart, pause or resume it.
    ///
    /// # Panics
    ///
    /// If there is no such node.
    pub fn node_mut(&mut self, index: usize) -> &mut ClusterNode {
        &mut self.nodes[index]
    }

    /// The primaries that serve slots, as of the last
    /// [`refresh_roles`](Self::refresh_roles) or
    /// [`wait_for_ok`](Self::wait_for_ok).
    ///
    /// A killed primary stays one until its replica has taken its slots;
    /// then it is a primary without slots, listed by neither this nor
    /// [`replicas`](Self::replicas), until it rejoins as a replica.
    pub fn primaries(&self) -> Vec<&ClusterNode> {
        self.nodes
            .iter()
            .filter(|node| node.is_primary() && !node.slots.is_empty())
            .collect()
    }

    /// The replicas, running or not, as of the last
    /// [`refresh_roles`](Self::refresh_roles) or
    /// [`wait_for_ok`](Self::wait_for_ok).
    pub fn replicas(&self) -> Vec<&ClusterNode> {
        self.nodes.iter().filter(|node| node.is_replica()).collect()
    }

    /// `redis://127.0.0.1:{port}` of every node, running or not, in the
    /// order of [`nodes`](Self::nodes): the seeds a cluster client starts from.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(ClusterNode::url).collect()
    }

    /// [`seed_urls`](Self::seed_urls) joined by commas, the form of
    /// `REDIS_CLUSTER_URLS` (see [`TestCluster`](crate::TestCluster)).
    pub fn urls_env(&self) -> String {
        self.seed_urls().join(",")
    }

    /// Polls (at most about 30 s) until the cluster is ok from the point of
    /// view of every node that is running and not paused, then updates the
    /// roles like [`refresh_roles`](Self::refresh_roles).
    ///
    /// Ok means that each of those nodes reports `cluster_state:ok` with all
    /// 16384 slots assigned and ok, knows all six nodes, and agrees with the
    /// others on the roles and slots of the running nodes; that those slots
    /// are all served by running primaries; and that each running replica's
    /// link to its primary is up. After a primary is killed this waits for
    /// its replica to take over; after it is restarted, for it to become a
    /// replica. On timeout the error says what was last not ok.
    pub fn wait_for_ok(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + OK_TIMEOUT;
        let mut probes: Vec<Probe> = self.nodes.iter().map(|n| Probe::new(n.port())).collect();
        loop {
            if self.live().is_empty() {
                return Err(io::Error::other("no node of the cluster is running"));
            }
            match self.check(&mut probes) {
                Ok(views) => {
                    self.apply(&views);
                    return Ok(());
                }
                Err(reason) if Instant::now() >= deadline => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the cluster was not ok within {} s: {reason}",
                            OK_TIMEOUT.as_secs()
                        ),
                    ));
                }
                Err(_) => thread::sleep(POLL_INTERVAL),
            }
        }
    }

    /// Reads `CLUSTER NODES` from every node that is running and not paused
    /// and updates each node's role, primary and slots: a node's own view
    /// for a node that answers, the first answering node's view for the
    /// others. Does not wait; after a failover, use
    /// [`wait_for_ok`](Self::wait_for_ok), which waits and then does this.
    pub fn refresh_roles(&mut self) -> io::Result<()> {
        let mut views = Vec::new();
        for index in self.live() {
            let node = &self.nodes[index];
            let entries = Probe::new(node.port())
                .text(&["CLUSTER", "NODES"])
                .and_then(|text| parse_nodes(&text).map_err(io::Error::other))
                .map_err(|e| {
                    context(e, &format!("cannot read CLUSTER NODES of {}", node.label()))
                })?;
            views.push((index, entries));
        }
        if views.is_empty() {
            return Err(io::Error::other("no node of the cluster is running"));
        }
        self.apply(&views);
        Ok(())
    }

    /// The log of every node, each after a line naming it, for a test that
    /// failed.
    pub fn log(&self) -> String {
        let mut log = String::new();
        for node in &self.nodes {
            // Writing to a String cannot fail.
            let _ = writeln!(
                log,
                "--- {}, {:?}, id {} ---",
                node.label(),
                node.role,
                node.id
            );
            log.push_str(&node.server.log());
        }
        log
    }
}

/// One node of a [`RedisCluster`]: its address, its identity in the
/// cluster, and the process behind it.
///
/// The role, primary and slots are those read last by
/// [`RedisCluster::refresh_roles`] or [`RedisCluster::wait_for_ok`]; they do
/// not follow a failover by themselves.
#[derive(Debug)]
pub struct ClusterNode {
    index: usize,
    server: RedisServer,
    id: String,
    role: Role,
    primary_id: Option<String>,
    slots: Vec<RangeInclusive<u16>>,
    paused: bool,
}

impl ClusterNode {
    /// Its place in [`RedisCluster::nodes`], for [`RedisCluster::node_mut`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// Its TCP port on 127.0.0.1; the cluster bus listens 10000 higher.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Its node id, the 40 hex digits of `CLUSTER MYID`, which survive a
    /// restart.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether it is a primary or a replica.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether its role is [`Role::Primary`] (it may have no slots: see
    /// [`RedisCluster::primaries`]).
    pub fn is_primary(&self) -> bool {
        self.role == Role::Primary
    }

    /// Whether its role is [`Role::Replica`].
    pub fn is_replica(&self) -> bool {
        self.role == Role::Replica
    }

    /// The id of the primary it replicates, if it is a replica.
    pub fn primary_id(&self) -> Option<&str> {
        self.primary_id.as_deref()
    }

    /// The ranges of slots it serves, in order; empty for a replica.
    pub fn slots(&self) -> &[RangeInclusive<u16>] {
        &self.slots
    }

    /// Whether its process is running (paused or not).
    pub fn is_running(&self) -> bool {
        self.server.pid().is_some()
    }

    /// Whether it was stopped with [`pause`](Self::pause) and not resumed.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The process: its log, directory and pid.
    ///
    /// Kill, restart, pause and resume it through the node's own methods
    /// rather than here, so that [`RedisCluster::wait_for_ok`] knows which
    /// nodes to expect answers from.
    pub fn server(&self) -> &RedisServer {
        &self.server
    }

    /// Kills the node with `SIGKILL`, like [`RedisServer::kill`]. Its port
    /// and `nodes.conf` are kept for [`restart`](Self::restart). The other
    /// nodes notice after the node timeout (1000 ms); if it was a primary,
    /// its replica then takes over.
    pub fn kill(&mut self) {
        self.server.kill();
        self.paused = false;
    }

    /// Starts the node again on the same port with the same `nodes.conf`,
    /// so it rejoins the cluster as the same node, and waits until it
    /// answers `PING`. Kills it first if it is running.
    ///
    /// A primary that lost its slots while it was down becomes a replica of
    /// the node that took them; [`RedisCluster::wait_for_ok`] waits for that.
    pub fn restart(&mut self) -> io::Result<()> {
        self.paused = false;
        self.server.restart()
    }

    /// Stops the node with `SIGSTOP`, like [`RedisServer::pause`]. Paused
    /// for longer than the node timeout (1000 ms), it counts as failed, and
    /// a paused primary is replaced by its replica.
    ///
    /// # Panics
    ///
    /// If the signal cannot be sent, like [`RedisServer::pause`].
    pub fn pause(&mut self) {
        self.server.pause();
        self.paused = self.is_running();
    }

    /// Continues a node stopped by [`pause`](Self::pause), like
    /// [`RedisServer::resume`].
    ///
    /// # Panics
    ///
    /// If the signal cannot be sent, like [`RedisServer::resume`].
    pub fn resume(&mut self) {
        self.server.resume();
        self.paused = false;
    }
}

/// What a node does in a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// It serves a share of the slots (`master` in `CLUSTER NODES`).
    Primary,
    /// It copies a primary and takes over if that one fails (`slave` in
    /// `CLUSTER NODES`).
    Replica,
}

impl RedisCluster {
    /// The indices of the nodes expected to answer: running and not paused.
    fn live(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .filter(|node| node.is_running() && !node.paused)
            .map(ClusterNode::index)
            .collect()
    }

    /// One round of probes: the `CLUSTER NODES` of every live node if the
    /// cluster is ok, else what is not ok yet.
    fn check(&self, probes: &mut [Probe]) -> Result<Vec<(usize, Vec<Entry>)>, String> {
        let live = self.live();
        let live_ids: Vec<&str> = live.iter().map(|&i| self.nodes[i].id.as_str()).collect();
        let known_nodes = self.nodes.len().to_string();
        let slots = SLOTS.to_string();
        let mut views: Vec<(usize, Vec<Entry>)> = Vec::new();
        let mut first: Option<(usize, Vec<Entry>)> = None;
        for &index in &live {
            let node = &self.nodes[index];
            let probe = &mut probes[index];
            let ask = |probe: &mut Probe, args: &[&str]| {
                probe
                    .text(args)
                    .map_err(|e| format!("{} did not answer {}: {e}", node.label(), args.join(" ")))
            };

            let info = ask(probe, &["CLUSTER", "INFO"])?;
            for (field, expected) in [
                ("cluster_state", "ok"),
                ("cluster_slots_assigned", slots.as_str()),
                ("cluster_slots_ok", slots.as_str()),
                ("cluster_known_nodes", known_nodes.as_str()),
            ] {
                let actual = info_field(&info, field).unwrap_or("(missing)");
                if actual != expected {
                    return Err(format!("{} has {field}:{actual}", node.label()));
                }
            }

            let entries = parse_nodes(&ask(probe, &["CLUSTER", "NODES"])?)
                .map_err(|e| format!("{}: {e}", node.label()))?;
            let myself = entries
                .iter()
                .find(|entry| entry.myself)
                .ok_or_else(|| format!("{} does not list itself in CLUSTER NODES", node.label()))?;
            if myself.id != node.id {
                return Err(format!(
                    "{} now has the id {}, not {}",
                    node.label(),
                    myself.id,
                    node.id
                ));
            }
            if myself.role == Some(Role::Replica) {
                let replication = ask(probe, &["INFO", "replication"])?;
                let link = info_field(&replication, "master_link_status").unwrap_or("(missing)");
                if link != "up" {
                    return Err(format!(
                        "{} is a replica with master_link_status:{link}",
                        node.label()
                    ));
                }
            }

            let topology = topology(&entries, &live_ids)
                .map_err(|reason| format!("{} {reason}", node.label()))?;
            match &first {
                None => first = Some((index, topology)),
                Some((first_index, first_topology)) if *first_topology != topology => {
                    return Err(format!(
                        "{} and {} do not agree yet on the nodes' roles and slots",
                        self.nodes[*first_index].label(),
                        node.label()
                    ));
                }
                Some(_) => {}
            }
            views.push((index, entries));
        }
        Ok(views)
    }

    /// Takes each node's role, primary and slots from `views` (the
    /// `CLUSTER NODES` of some nodes, by index): from its own view if it
    /// is among them, else from the first view that knows it.
    fn apply(&mut self, views: &[(usize, Vec<Entry>)]) {
        for node in &mut self.nodes {
            let own = views
                .iter()
                .find(|(index, _)| *index == node.index)
                .and_then(|(_, entries)| entries.iter().find(|entry| entry.myself));
            let entry = own.or_else(|| {
                views
                    .iter()
                    .find_map(|(_, entries)| entries.iter().find(|entry| entry.id == node.id))
            });
            let Some(entry) = entry else { continue };
            let Some(role) = entry.role else { continue };
            node.role = role;
            node.primary_id = entry.primary_id.clone();
            node.slots = entry.slots.clone();
        }
    }

    /// Checks that redis-cli made what [`start`](Self::start) promises:
    /// three primaries, each with exactly one replica.
    fn check_shape(&self) -> io::Result<()> {
        let primaries = self.primaries();
        let replicas = self.replicas();
        let paired = primaries.iter().all(|primary| {
            replicas
                .iter()
                .filter(|replica| replica.primary_id() == Some(primary.id()))
                .count()
                == 1
        });
        if primaries.len() == PRIMARIES && replicas.len() == NODES - PRIMARIES && paired {
            return Ok(());
        }
        let mut shape = String::new();
        for node in &self.nodes {
            let _ = write!(
                shape,
                "\n{}: {:?} of {:?}, slots {:?}",
                node.label(),
                node.role,
                node.primary_id,
                node.slots
            );
        }
        Err(io::Error::other(format!(
            "redis-cli did not make {PRIMARIES} primaries with one replica each:{shape}"
        )))
    }
}

impl ClusterNode {
    fn new(index: usize, server: RedisServer) -> ClusterNode {
        ClusterNode {
            index,
            server,
            id: String::new(),
            role: Role::Primary,
            primary_id: None,
            slots: Vec::new(),
            paused: false,
        }
    }

    /// How errors name the node.
    fn label(&self) -> String {
        format!("node {} (127.0.0.1:{})", self.index, self.port())
    }
}

/// One line of `CLUSTER NODES`: a node as the node that printed it sees it.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    id: String,
    myself: bool,
    /// `None` while the node is still in the handshake or has no address.
    role: Option<Role>,
    primary_id: Option<String>,
    slots: Vec<RangeInclusive<u16>>,
}

/// Parses the reply of `CLUSTER NODES`, one node a line:
/// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv>
/// <config-epoch> <link-state> <slot> <slot> ... <slot>`.
fn parse_nodes(text: &str) -> Result<Vec<Entry>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            parse_entry(line).ok_or_else(|| format!("unexpected CLUSTER NODES line {line:?}"))
        })
        .collect()
}

fn parse_entry(line: &str) -> Option<Entry> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 {
        return None;
    }
    // An address without a port (`:0@0`, `noaddr`) still has the colon.
    let address = fields[1].split(['@', ',']).next()?;
    address.rsplit_once(':')?.1.parse::<u16>().ok()?;
    let flags: Vec<&str> = fields[2].split(',').collect();
    let role = if flags.contains(&"master") {
        Some(Role::Primary)
    } else if flags.contains(&"slave") {
        Some(Role::Replica)
    } else {
        None
    };
    let primary_id = Some(fields[3]).filter(|id| *id != "-").map(str::to_owned);
    let slots = fields[8..]
        .iter()
        // `[slot->-id]` and `[slot-<-id]` are slots being migrated or
        // imported, which the node does not serve (yet).
        .filter(|slot| !slot.starts_with('['))
        .map(|slot| {
            let (start, end) = slot.split_once('-').unwrap_or((slot, slot));
            Some(start.parse().ok()?..=end.parse().ok()?)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Entry {
        id: fields[0].to_owned(),
        myself: flags.contains(&"myself"),
        role,
        primary_id,
        slots,
    })
}

/// The part of one node's view that every live node must agree on: the
/// roles, primaries and slots of the live nodes (those with `live_ids`),
/// sorted by id. Says what is missing if a live node is unknown or has no
/// role yet, or if not all slots are served by live primaries.
fn topology(entries: &[Entry], live_ids: &[&str]) -> Result<Vec<Entry>, String> {
    let mut topology = Vec::with_capacity(live_ids.len());
    for id in live_ids {
        let entry = entries
            .iter()
            .find(|entry| entry.id == *id)
            .ok_or_else(|| format!("does not know node {id} yet"))?;
        if entry.role.is_none() {
            return Err(format!("does not know the role of node {id} yet"));
        }
        // Whether the entry is the printing node's own is not part of the
        // cluster's state.
        topology.push(Entry {
            myself: false,
            ..entry.clone()
        });
    }
    topology.sort_by(|a, b| a.id.cmp(&b.id));
    let served: usize = topology
        .iter()
        .filter(|entry| entry.role == Some(Role::Primary))
        .flat_map(|entry| &entry.slots)
        .map(|range| usize::from(*range.end()) + 1 - usize::from(*range.start()))
        .sum();
    if served != SLOTS {
        return Err(format!(
            "sees {served} of the {SLOTS} slots served by running primaries"
        ));
    }
    Ok(topology)
}

/// The value of `field` in an `INFO`-style reply (`field:value` lines).
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == field).then(|| value.trim_end())
    })
}

/// Finds `redis-cli`: beside `server_bin` (the `redis-server` in use, maybe
/// from `REDIS_SERVER_BIN`), so both come from the same installation, else
/// on `path` (the value of `PATH`).
fn find_redis_cli(server_bin: &Path, path: Option<OsString>) -> io::Result<PathBuf> {
    let beside = server_bin.with_file_name("redis-cli");
    if is_executable(&beside) {
        return Ok(beside);
    }
    search_path(Path::new("redis-cli"), path.as_ref()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "redis-cli not found beside {} nor on PATH; {CLI_INSTALL_HINT}",
                server_bin.display()
            ),
        )
    })
}

/// Runs `redis-cli --cluster create` on the nodes at `ports`, killing it if
/// it takes longer than [`CREATE_TIMEOUT`]; the error carries its output.
fn create(cli: &Path, ports: &[u16]) -> io::Result<()> {
    let mut child = Command::new(cli)
        .args(["--cluster", "create"])
        .args(ports.iter().map(|port| format!("127.0.0.1:{port}")))
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| context(e, &format!("cannot run {}", cli.display())))?;
    // Both pipes are drained while the process runs, so that it never
    // blocks on a full one.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + CREATE_TIMEOUT;
    let outcome: io::Result<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
            Ok(None) => {
                break Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("did not finish within {} s", CREATE_TIMEOUT.as_secs()),
                ))
            }
            Err(e) => break Err(e),
        }
    };
    if outcome.is_err() {
        // Both fail only if the process is already gone, which is the goal.
        let _ = child.kill();
        let _ = child.wait();
    }
    let output = strip_colors(&format!("{}{}", collect(stdout), collect(stderr)));
    let failure = match outcome {
        Ok(status) if status.success() => return Ok(()),
        Ok(status) => format!("failed ({status})"),
        Err(e) => e.to_string(),
    };
    Err(io::Error::other(format!(
        "`redis-cli --cluster create` {failure}\n--- redis-cli output ({}) ---\n{}",
        cli.display(),
        output.trim_end()
    )))
}

/// Reads a pipe to its end on a thread of its own.
fn drain<R: Read + Send + 'static>(mut pipe: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // What was read before an error is all there is to show.
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// The text a [`drain`] thread read; empty if there was no pipe.
fn collect(reader: Option<JoinHandle<Vec<u8>>>) -> String {
    let bytes = reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `text` without the ANSI colour sequences (`ESC [ ... m`) that redis-cli
/// prints even into a pipe.
fn strip_colors(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip up to and including the sequence's final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// `error` with `what` said first, keeping its kind.
fn context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::server::create_private_dir;

    const ID_A: &str = "58c77dbcab492c522113465cb8ab18c5d5aae59f";
    const ID_B: &str = "e63b5dcabf09fcde64c9b83b582b6e432a685243";
    const ID_C: &str = "fe70e054be516440d2bafad19fe00941f8662a0d";

    fn entry(line: &str) -> Entry {
        parse_entry(line).unwrap_or_else(|| panic!("cannot parse {line:?}"))
    }

    #[test]
    fn cluster_nodes_lines() {
        let line = format!(
            "{ID_A} 127.0.0.1:31001@41001 myself,master - 0 1796286705000 1 connected 0-5460"
        );
        let a = entry(&line);
        assert_eq!((a.id.as_str(), a.myself), (ID_A, true));
        assert_eq!((a.role, a.primary_id), (Some(Role::Primary), None));
        assert_eq!(a.slots, [0..=5460]);

        let line = format!("{ID_C} 127.0.0.1:31006@41006 slave {ID_A} 0 1796286705133 1 connected");
        let c = entry(&line);
        assert_eq!((c.myself, c.role), (false, Some(Role::Replica)));
        assert_eq!(c.primary_id.as_deref(), Some(ID_A));
        assert!(c.slots.is_empty());

        let line = format!(
            "{ID_A} 127.0.0.1:31001@41001 master,fail - 1796286708564 1796286708061 1 disconnected"
        );
        assert_eq!(entry(&line).role, Some(Role::Primary));

        let line = format!("{ID_B} 127.0.0.1:7002@17002,node-b.example master - 0 0 2 connected 5461 5463-5470 [5462->-{ID_A}]");
        let b = entry(&line);
        assert_eq!(b.slots, [5461..=5461, 5463..=5470]);

        let line = format!("{ID_B} :0@0 handshake - 0 0 0 connected");
        assert_eq!(entry(&line).role, None);

        assert_eq!(parse_entry("garbage"), None);
        assert_eq!(
            parse_entry(&format!("{ID_A} nowhere master - 0 0 1 connected")),
            None
        );
        assert_eq!(
            parse_entry(&format!(
                "{ID_A} 127.0.0.1:1@2 master - 0 0 1 connected 9-x"
            )),
            None
        );
        assert!(parse_nodes("not\na cluster\n").is_err());
    }

    #[test]
    fn topology_covers_live_nodes_only() {
        let a = format!("{ID_A} 127.0.0.1:1@10001 myself,master - 0 0 1 connected 0-8191");
        let b = format!("{ID_B} 127.0.0.1:2@10002 master - 0 0 2 connected 8192-16383");
        let c = format!("{ID_C} 127.0.0.1:3@10003 slave,fail {ID_A} 0 0 1 disconnected");
        let entries = parse_nodes(&format!("{a}\n{b}\n{c}\n")).unwrap();

        let seen = topology(&entries, &[ID_B, ID_A]).unwrap();
        let ids: Vec<&str> = seen.iter().map(|entry| entry.id.as_str()).collect();
        assert_eq!(ids, [ID_A, ID_B]);
        assert!(seen.iter().all(|entry| !entry.myself));

        let error = topology(&entries, &[ID_A]).unwrap_err();
        assert_eq!(
            error,
            "sees 8192 of the 16384 slots served by running primaries"
        );
        let unknown = "0123456789012345678901234567890123456789";
        let error = topology(&entries, &[ID_A, ID_B, unknown]).unwrap_err();
        assert!(error.contains("does not know node"), "{error}");
    }

    #[test]
    fn info_fields() {
        let info = "# Cluster\r\ncluster_state:ok\r\ncluster_slots_assigned:16384\r\n";
        assert_eq!(info_field(info, "cluster_state"), Some("ok"));
        assert_eq!(info_field(info, "cluster_slots_assigned"), Some("16384"));
        assert_eq!(info_field(info, "cluster_slots"), None);
    }

    #[test]
    fn colors_are_stripped() {
        let text = "\u{1b}[29;1m>>> Check slots coverage...\n\u{1b}[0m\u{1b}[32;1m[OK] All 16384 slots covered.\n\u{1b}[0m";
        assert_eq!(
            strip_colors(text),
            ">>> Check slots coverage...\n[OK] All 16384 slots covered.\n"
        );
    }

    #[test]
    fn failed_create_carries_the_output_without_colors() {
        let dir = create_private_dir().unwrap();
        let cli = dir.join("redis-cli");
        let script = "#!/bin/sh\necho \"$@\"\nprintf '\\033[31;1m[ERR] Node is not empty.\\033[0m\\n' >&2\nexit 1\n";
        fs::write(&cli, script).unwrap();
        fs::set_permissions(&cli, fs::Permissions::from_mode(0o755)).unwrap();
        let error = create(&cli, &[7001, 7002]).unwrap_err();
        fs::remove_dir_all(&dir).unwrap();

        let message = error.to_string();
        assert!(
            message.starts_with("`redis-cli --cluster create` failed (exit status: 1)"),
            "{message}"
        );
        assert!(
            message.contains("--cluster create 127.0.0.1:7001 127.0.0.1:7002 --cluster-replicas 1 --cluster-yes\n"),
            "{message}"
        );
        assert!(
            message.ends_with("\n[ERR] Node is not empty."),
            "{message:?}"
        );
    }

    #[test]
    fn redis_cli_is_found_beside_the_server_first() {
        let beside = create_private_dir().unwrap();
        let on_path = create_private_dir().unwrap();
        let make = |dir: &Path, name: &str| {
            let bin = dir.join(name);
            fs::write(&bin, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
            bin
        };
        let server = make(&beside, "redis-server");
        let path_cli = make(&on_path, "redis-cli");
        let path = Some(OsString::from(on_path.as_os_str()));

        let found_on_path = find_redis_cli(&server, path.clone()).unwrap();
        let cli = make(&beside, "redis-cli");
        let found_beside = find_redis_cli(&server, path).unwrap();
        let missing = find_redis_cli(&server.with_file_name("nowhere/redis-server"), None);
        fs::remove_dir_all(&beside).unwrap();
        fs::remove_dir_all(&on_path).unwrap();

        assert_eq!(found_on_path, path_cli);
        assert_eq!(found_beside, cli);
        let message = missing.unwrap_err().to_string();
        assert!(
            message.contains("apt-get install -y redis-tools"),
            "{message}"
        );
    }
}
