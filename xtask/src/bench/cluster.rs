//! The `cluster` section: many tasks sharing one handle on a whole Redis
//! Cluster, `redis-cluster` against redis-rs's async `ClusterConnection` and
//! fred's clustered `Client`, on one throwaway cluster of three primaries
//! with a replica each.
//!
//! Every contender gets, for every run, a fresh tokio multi-threaded runtime
//! with the default workers and one fresh client. Before the run, untimed,
//! every primary is flushed and the client writes and reads one key on each
//! primary: a client that opens its node connections when first needed must
//! not pay for them in the timed part, since one that opens them all on
//! connect has paid already. The timed part spawns the case's tasks, which
//! share the client (each holds a clone of the handle), and waits for all
//! of them. Every reply is checked.
//!
//! The nodes rename `GETEX` to `MYGETEX` (`rename-command`), a name no
//! client's command table knows: `renamed-getex` reads with it, as a module's
//! command or one newer than the client is read. Plain `GETEX key` is a
//! `GET`, and its first argument is its key, so a client that takes the
//! first argument for the key of a command it does not know routes it
//! rightly too; the case measures what not knowing the command costs. fred
//! has no raw command of a name of its own in this harness and sits it out.
//!
//! `redis-paired, one server` is the same workload through
//! `redis_paired::PairedConnection` on one standalone server beside the
//! cluster, with the same typed commands: what routing over a cluster costs
//! this client is its CPU per operation against that row, in the same run.
//! It sits out `renamed-getex`, whose renamed command only the nodes know.
//!
//! A client that refuses a case's batch outright, as redis-rs refuses a
//! pipeline over several slots, is tried once and shown as a row with its
//! error instead of failing the section.

use std::collections::HashSet;
use std::future::Future;

use bytes::Bytes;
use redis_paired::Commands;
use resp::cmd;
use tokio::runtime::Runtime;

use crate::clients::{
    self, ours_ok, redis_rs_get, redis_rs_pipeline_set, redis_rs_set, Client as _,
};
use crate::live::{self, Row};
use crate::measure::{race, Contender, Role, Versus};
use crate::paired::{payload, share};
use crate::Options;

/// Every case of this section.
pub(crate) const CASES: &[&str] = &[
    "cluster/get-set/64B/512tasks",
    "cluster/pipeline/1000cross-slot",
    "cluster/renamed-getex/64B/512tasks",
];

/// What the nodes call `GETEX`.
const RENAMED_GETEX: &str = "MYGETEX";

/// The peers, in the order of the ratio columns.
const PEERS: &[&str] = &[RedisRs::NAME, Fred::NAME, OneServer::NAME];

/// Runs the selected cases on one cluster, then a summary of
/// `redis-cluster`'s ratios.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let plan = plan();
    debug_assert!(plan.iter().map(|c| c.name).eq(CASES.iter().copied()));
    let cluster = xtask::RedisCluster::start_with(&["--rename-command", "GETEX", RENAMED_GETEX])
        .map_err(|e| format!("cannot start a redis cluster: {e}"))?;
    let single =
        xtask::RedisServer::start().map_err(|e| format!("cannot start redis-server: {e}"))?;
    let target = Target::of(&cluster, &single)?;
    println!(
        "(one client per contender, fresh for every run, on a tokio multi-thread runtime with \
         {} workers, against a throwaway cluster of {} primaries with a replica each; cpu is \
         the whole process's, user and system: the nodes are other processes)",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        target.primaries.len()
    );
    live::print_legend();
    let mut summary = Vec::new();
    for case in plan.iter().filter(|c| options.selects(c.name)) {
        let versus = run_case(options, &target, case)?;
        summary.push((case.name.to_string(), versus));
    }
    live::print_summary(Ours::NAME, "operation", PEERS, &summary);
    Ok(())
}

/// Where the cluster is, in the forms the clients take it.
#[derive(Debug)]
struct Target {
    /// `redis://127.0.0.1:{port}` of every node: the seeds.
    urls: Vec<String>,
    /// The ports of every node.
    ports: Vec<u16>,
    /// The ports of the primaries, which are flushed before every run.
    primaries: Vec<u16>,
    /// One key in the slots of each primary, written and read before every
    /// run.
    warm_keys: Vec<String>,
    /// The standalone server of `redis-paired, one server`, and its port,
    /// flushed before every run.
    single_url: String,
    single_port: u16,
}

impl Target {
    fn of(cluster: &xtask::RedisCluster, single: &xtask::RedisServer) -> Result<Target, String> {
        let primaries = cluster.primaries();
        let warm_keys = primaries
            .iter()
            .map(|node| {
                (0..WARM_KEYS_TRIED)
                    .map(|i| format!("bench:warm:{i}"))
                    .find(|key| {
                        let slot = redis_cluster::key_slot(key.as_bytes());
                        node.slots().iter().any(|range| range.contains(&slot))
                    })
                    .ok_or_else(|| format!("no key found in the slots of {}", node.url()))
            })
            .collect::<Result<Vec<String>, String>>()?;
        Ok(Target {
            urls: cluster.seed_urls(),
            ports: cluster.nodes().iter().map(|node| node.port()).collect(),
            primaries: primaries.iter().map(|node| node.port()).collect(),
            warm_keys,
            single_url: single.url(),
            single_port: single.port(),
        })
    }
}

/// How many `bench:warm:{i}` keys are tried to find one in a primary's
/// slots; with a third of the slots each, a handful is enough.
const WARM_KEYS_TRIED: u32 = 100_000;

/// What the tasks of a case do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// `SET` of a task's key to a value that names the task and the loop,
    /// then `GET` of it, checked against that value, each awaited before
    /// the next command, as a caller writes it; two operations a loop.
    GetSet,
    /// One task sending explicit batches of `SET`s over keys of many slots.
    Pipeline { batch: usize },
    /// As `GetSet`, reading with the renamed `GETEX` ([`RENAMED_GETEX`]).
    RenamedGetSet,
}

/// One case: what the tasks do, how many there are, and how many
/// operations a run does in all.
#[derive(Debug)]
struct Case {
    name: &'static str,
    work: Work,
    /// The size of the value.
    size: usize,
    tasks: usize,
    ops: u64,
}

fn plan() -> Vec<Case> {
    vec![
        Case {
            name: CASES[0],
            work: Work::GetSet,
            size: 64,
            tasks: 512,
            ops: 200_000,
        },
        Case {
            name: CASES[1],
            work: Work::Pipeline { batch: 1000 },
            size: 64,
            tasks: 1,
            ops: 200_000,
        },
        Case {
            name: CASES[2],
            work: Work::RenamedGetSet,
            size: 64,
            tasks: 512,
            ops: 200_000,
        },
    ]
}

/// The keys each task of `get-set` cycles through: 512 tasks make 32768
/// keys, which fall in nearly every one of the 16384 slots.
const KEYS_PER_TASK: usize = 64;

/// What a run did: operations checked, and for a client that counts them,
/// the redirects it followed in the timed part.
#[derive(Debug, Clone, Copy, Default)]
struct Done {
    ops: u64,
    redirects: Option<u64>,
}

fn run_case(options: &Options, target: &Target, case: &Case) -> Result<Vec<Versus>, String> {
    let mut contenders = Vec::new();
    let mut refused = Vec::new();
    add::<Ours>(&mut contenders, &mut refused, options, target, case)?;
    add::<RedisRs>(&mut contenders, &mut refused, options, target, case)?;
    if case.work != Work::RenamedGetSet {
        add::<Fred>(&mut contenders, &mut refused, options, target, case)?;
        add::<OneServer>(&mut contenders, &mut refused, options, target, case)?;
    }
    let results = race(options, contenders);
    live::check_outputs(case.name, &results)?;
    let mut rows = Vec::new();
    for runs in &results {
        for done in runs.outputs.iter().flatten() {
            if done.ops != case.ops {
                return Err(format!(
                    "{}: {} checked {} operations, expected {}",
                    case.name, runs.name, done.ops, case.ops
                ));
            }
        }
        let mut row = Row::from_runs(runs, case.ops);
        let redirects: Vec<u64> = runs
            .outputs
            .iter()
            .flatten()
            .filter_map(|d| d.redirects)
            .collect();
        let followed: u64 = redirects.iter().sum();
        // In a cluster that does not change, a redirect means a command went
        // to the wrong node first, which the table should not hide.
        if followed > 0 {
            row.note = format!("  ({followed} redirects in {} runs)", redirects.len());
        }
        rows.push(row);
    }
    rows.extend(refused);
    Ok(live::print_table(
        case.name,
        &describe(case),
        "op",
        &rows,
        PEERS,
        options.budget,
    ))
}

/// Adds the contender `C` of the case, unless `--only` leaves it out; a
/// peer that refuses the case's batch becomes a row in `refused` instead.
fn add<'a, C: ClusterClient>(
    contenders: &mut Vec<Contender<'a, Result<Done, String>>>,
    refused: &mut Vec<Row>,
    options: &Options,
    target: &'a Target,
    case: &'a Case,
) -> Result<(), String> {
    if !live::includes(options, C::NAME, C::ROLE) {
        return Ok(());
    }
    if C::ROLE == Role::Peer {
        if let Some(error) = refusal::<C>(target, case)? {
            refused.push(Row {
                name: C::NAME.to_string(),
                role: C::ROLE,
                rates: Vec::new(),
                cpu_per_op: Vec::new(),
                skipped: 0,
                note: format!("  refused: {error}"),
            });
            return Ok(());
        }
    }
    contenders.push(live::contender(
        C::NAME,
        C::ROLE,
        move || setup::<C>(target),
        move |(runtime, client)| {
            let before = client.redirects();
            let ops = runtime.block_on(drive(client.clone(), case))?;
            let redirects = before.zip(client.redirects()).map(|(b, a)| a - b);
            Ok(Done { ops, redirects })
        },
        move |(runtime, client)| {
            runtime.block_on(client.close());
        },
    ));
    Ok(())
}

/// Untimed: flushes every primary, then connects the client on a fresh
/// runtime and has it write and read a key on each primary.
fn setup<C: ClusterClient>(target: &Target) -> Result<(Runtime, C), String> {
    for &port in target.primaries.iter().chain([&target.single_port]) {
        live::admin(port, &[b"FLUSHALL"])?;
    }
    let runtime = live::runtime()?;
    let client = runtime.block_on(async {
        let mut client = C::connect(target).await?;
        let value = payload(16);
        for key in &target.warm_keys {
            client.set(key, &value).await?;
            let data = client.get(key).await?;
            if data.as_ref() != &value[..] {
                return Err(format!("warming up: GET {key} did not return what was set"));
            }
        }
        Ok::<C, String>(client)
    })?;
    Ok((runtime, client))
}

/// Sends one batch of a case that has batches with a fresh client,
/// untimed: `Some` error when the client refuses it, `None` when it takes
/// it (whether it answers rightly is for the timed runs to check). A client
/// that cannot even connect fails the section.
fn refusal<C: ClusterClient>(target: &Target, case: &Case) -> Result<Option<String>, String> {
    let Work::Pipeline { batch } = case.work else {
        return Ok(None);
    };
    let (runtime, client) = setup::<C>(target)?;
    let keys = pipeline_keys(batch);
    let value = payload(case.size);
    let outcome = runtime.block_on(client.clone().pipeline_set(&keys, &value));
    runtime.block_on(client.close());
    Ok(outcome.err())
}

/// The timed part: spawns the case's tasks and waits for them; returns the
/// operations whose replies were checked.
async fn drive<C: ClusterClient>(client: C, case: &Case) -> Result<u64, String> {
    let mut tasks = Vec::with_capacity(case.tasks);
    match case.work {
        Work::Pipeline { batch } => {
            let keys = pipeline_keys(batch);
            let value = payload(case.size);
            let repeats = case.ops / batch as u64;
            let mut client = client;
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..repeats {
                    let n = client.pipeline_set(&keys, &value).await?;
                    if n != batch {
                        return Err(format!("{n} of {batch} SETs answered OK"));
                    }
                    ok += n as u64;
                }
                Ok(ok)
            }));
        }
        Work::GetSet | Work::RenamedGetSet => {
            let loops = case.ops / 2;
            let renamed = case.work == Work::RenamedGetSet;
            for task in 0..case.tasks {
                let n = share(loops, case.tasks, task);
                let client = client.clone();
                tasks.push(tokio::spawn(get_set(client, task, n, case.size, renamed)));
            }
        }
    }
    let mut ops = 0;
    for task in tasks {
        ops += task.await.map_err(|e| format!("task failed: {e}"))??;
    }
    Ok(ops)
}

/// One task of `get-set`: `loops` times, `SET` the next of its keys to a
/// value stamped with the task and the loop, then `GET` it back (the
/// renamed `GETEX` if `renamed`), each awaited before the next command. Two
/// operations a loop.
async fn get_set<C: ClusterClient>(
    mut client: C,
    task: usize,
    loops: u64,
    size: usize,
    renamed: bool,
) -> Result<u64, String> {
    let keys: Vec<String> = (0..KEYS_PER_TASK)
        .map(|k| format!("bench:{task}:{k}"))
        .collect();
    for (n, key) in (0..loops).zip(keys.iter().cycle()) {
        let value = stamped(task, n, size);
        client.set(key, &value).await?;
        let data = if renamed {
            client.renamed_get(key).await?
        } else {
            client.get(key).await?
        };
        if data.as_ref() != &value[..] {
            return Err(format!(
                "GET {key} returned {:?}, not the {:?} this task set",
                String::from_utf8_lossy(data.as_ref()),
                String::from_utf8_lossy(&value)
            ));
        }
    }
    Ok(2 * loops)
}

/// A value of `size` bytes (more if the stamp is longer) that starts with
/// `{task}:{n}:`, so that a `GET` tells whose `SET` it sees.
fn stamped(task: usize, n: u64, size: usize) -> Bytes {
    let mut value = format!("{task}:{n}:").into_bytes();
    let stamp = value.len();
    value.extend((stamp..size).map(|i| b'a' + (i % 26) as u8));
    Bytes::from(value)
}

/// The keys of a batch: as many as asked, without a hash tag, so that they
/// spread over the slots of every primary.
fn pipeline_keys(batch: usize) -> Vec<String> {
    (0..batch).map(|i| format!("bench:pipe:{i}")).collect()
}

fn describe(case: &Case) -> String {
    let what = match case.work {
        Work::GetSet | Work::RenamedGetSet => format!(
            "{} tasks looping SET of a {}-byte value stamped with the task and loop, then {} \
             of it (checked), over {KEYS_PER_TASK} keys each, each awaiting every reply (two \
             operations a loop)",
            case.tasks,
            case.size,
            match case.work {
                Work::RenamedGetSet => "GETEX renamed MYGETEX by the nodes",
                _ => "GET",
            }
        ),
        Work::Pipeline { batch } => {
            let slots: HashSet<u16> = pipeline_keys(batch)
                .iter()
                .map(|key| redis_cluster::key_slot(key.as_bytes()))
                .collect();
            format!(
                "one task sending explicit batches of {batch} SETs of {} bytes over keys of {} \
                 slots (redis-cluster {}, redis-rs {}, fred {})",
                case.size,
                slots.len(),
                Ours::PIPELINE,
                RedisRs::PIPELINE,
                Fred::PIPELINE
            )
        }
    };
    format!("{what}; {} operations a run", case.ops)
}

/// One client of a whole cluster, shared by cloning the handle. Methods
/// take `&mut self` because redis-rs needs it; every task has its own
/// clone. Every method checks the reply it is given.
trait ClusterClient: Clone + Send + Sync + Sized + 'static {
    const NAME: &'static str;
    const ROLE: Role;
    /// How the client sends an explicit batch, for the tables.
    const PIPELINE: &'static str;
    /// A bulk string reply.
    type Data: AsRef<[u8]> + Send;

    fn connect(target: &Target) -> impl Future<Output = Result<Self, String>> + Send;

    /// `GET key`, which must exist.
    fn get(&mut self, key: &str) -> impl Future<Output = Result<Self::Data, String>> + Send;

    /// `GETEX key` by the name the nodes give it, [`RENAMED_GETEX`]; the
    /// key must exist. Only the clients that take part in `renamed-getex`
    /// send it.
    fn renamed_get(
        &mut self,
        _key: &str,
    ) -> impl Future<Output = Result<Self::Data, String>> + Send {
        async { Err(format!("{} sends no raw {RENAMED_GETEX}", Self::NAME)) }
    }

    /// `SET key value`, answered `OK`.
    fn set(&mut self, key: &str, value: &Bytes) -> impl Future<Output = Result<(), String>> + Send;

    /// `SET key value` for every key as one explicit batch, whatever nodes
    /// the keys live on; how many were answered `OK`.
    fn pipeline_set(
        &mut self,
        keys: &[String],
        value: &Bytes,
    ) -> impl Future<Output = Result<usize, String>> + Send;

    /// Closes the client the way it asks to be closed.
    fn close(self) -> impl Future<Output = ()> + Send;

    /// Redirects followed so far, for a client that counts them.
    fn redirects(&self) -> Option<u64> {
        None
    }
}

/// `redis_cluster::ClusterConnection` with default settings (RESP3, node
/// connections opened when first needed), through the typed `Commands`.
#[derive(Debug, Clone)]
struct Ours(redis_cluster::ClusterConnection);

impl ClusterClient for Ours {
    const NAME: &'static str = "redis-cluster";
    const ROLE: Role = Role::Ours;
    const PIPELINE: &'static str = "pipeline()";
    type Data = Bytes;

    async fn connect(target: &Target) -> Result<Ours, String> {
        let config = redis_cluster::ClusterConfig::from_urls(&target.urls)
            .map_err(|e| format!("bad seeds {:?}: {e}", target.urls))?;
        let conn = redis_cluster::ClusterConnection::connect(&config)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        Ok(Ours(conn))
    }

    fn get(&mut self, key: &str) -> impl Future<Output = Result<Bytes, String>> + Send {
        let reply = self.0.get::<Bytes>(key);
        async move {
            reply
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "GET found no value".to_string())
        }
    }

    fn renamed_get(&mut self, key: &str) -> impl Future<Output = Result<Bytes, String>> + Send {
        let reply = self.0.send::<Option<Bytes>>(cmd!(RENAMED_GETEX, key));
        async move {
            reply
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{RENAMED_GETEX} found no value"))
        }
    }

    fn set(&mut self, key: &str, value: &Bytes) -> impl Future<Output = Result<(), String>> + Send {
        // `()` takes any reply but an error, and a plain `SET` has no other
        // answer than `OK`.
        let reply = self.0.set(key, value);
        async move { reply.await.map_err(|e| e.to_string()) }
    }

    fn pipeline_set(
        &mut self,
        keys: &[String],
        value: &Bytes,
    ) -> impl Future<Output = Result<usize, String>> + Send {
        let mut pipeline = self.0.pipeline();
        for key in keys {
            pipeline.push(cmd!("SET", key.as_str(), &value[..]));
        }
        let replies = pipeline.query::<Vec<resp::Value>>();
        async move {
            let replies = replies.await.map_err(|e| e.to_string())?;
            Ok(replies.iter().filter(|v| ours_ok(v).is_ok()).count())
        }
    }

    async fn close(self) {}

    fn redirects(&self) -> Option<u64> {
        let stats = self.0.stats();
        Some(stats.moved + stats.asked + stats.retried)
    }
}

/// `redis_paired::PairedConnection` on the standalone server, with default
/// settings and the same typed `Commands` as [`Ours`]: the yardstick of
/// what the cluster's routing costs.
#[derive(Debug, Clone)]
struct OneServer(clients::Ours);

impl ClusterClient for OneServer {
    const NAME: &'static str = "redis-paired, one server";
    const ROLE: Role = Role::Peer;
    const PIPELINE: &'static str = clients::Ours::PIPELINE;
    type Data = Bytes;

    async fn connect(target: &Target) -> Result<OneServer, String> {
        let single = clients::Target {
            url: target.single_url.clone(),
            port: target.single_port,
        };
        Ok(OneServer(clients::Ours::connect(&single).await?))
    }

    fn get(&mut self, key: &str) -> impl Future<Output = Result<Bytes, String>> + Send {
        let reply = self.0.connection().get::<Bytes>(key);
        async move {
            reply
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "GET found no value".to_string())
        }
    }

    fn set(&mut self, key: &str, value: &Bytes) -> impl Future<Output = Result<(), String>> + Send {
        let reply = self.0.connection().set(key, value);
        async move { reply.await.map_err(|e| e.to_string()) }
    }

    fn pipeline_set(
        &mut self,
        keys: &[String],
        value: &Bytes,
    ) -> impl Future<Output = Result<usize, String>> + Send {
        self.0.pipeline_set(keys, value)
    }

    async fn close(self) {}
}

/// redis-rs 1.x: `redis::cluster_async::ClusterConnection` from
/// `ClusterClient::get_async_connection`, with default settings (RESP2).
/// Its pipelines must stay in one slot.
#[derive(Clone)]
struct RedisRs(redis::cluster_async::ClusterConnection);

impl ClusterClient for RedisRs {
    const NAME: &'static str = "redis-rs";
    const ROLE: Role = Role::Peer;
    const PIPELINE: &'static str = "redis::pipe()";
    type Data = Vec<u8>;

    async fn connect(target: &Target) -> Result<RedisRs, String> {
        let client =
            redis::cluster::ClusterClient::new(target.urls.clone()).map_err(|e| e.to_string())?;
        let conn = client
            .get_async_connection()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        Ok(RedisRs(conn))
    }

    async fn get(&mut self, key: &str) -> Result<Vec<u8>, String> {
        redis_rs_get(&mut self.0, key).await
    }

    async fn renamed_get(&mut self, key: &str) -> Result<Vec<u8>, String> {
        let mut cmd = redis::cmd(RENAMED_GETEX);
        cmd.arg(key);
        cmd.query_async(&mut self.0)
            .await
            .map_err(|e| e.to_string())
    }

    async fn set(&mut self, key: &str, value: &Bytes) -> Result<(), String> {
        redis_rs_set(&mut self.0, key, value).await
    }

    async fn pipeline_set(&mut self, keys: &[String], value: &Bytes) -> Result<usize, String> {
        redis_rs_pipeline_set(&mut self.0, keys, value).await
    }

    async fn close(self) {}
}

/// fred 10: one `fred::clients::Client` with fred's default config (RESP2),
/// given the nodes as a `redis-cluster://` URL; clustering needs no cargo
/// feature of fred's. The commands are those of the `paired` section's
/// fred client, which works the same on a cluster.
#[derive(Clone)]
struct Fred(clients::Fred);

impl ClusterClient for Fred {
    const NAME: &'static str = "fred";
    const ROLE: Role = Role::Peer;
    const PIPELINE: &'static str = "pipeline()";
    type Data = <clients::Fred as clients::Client>::Data;

    async fn connect(target: &Target) -> Result<Fred, String> {
        // `redis-cluster://host:port?node=host:port&node=...`, fred's form
        // of a list of seeds.
        let mut hosts = target.ports.iter().map(|port| format!("127.0.0.1:{port}"));
        let first = hosts.next().ok_or("the cluster has no node")?;
        let others: Vec<String> = hosts.map(|host| format!("node={host}")).collect();
        let url = format!("redis-cluster://{first}?{}", others.join("&"));
        let target = clients::Target {
            url,
            port: target.ports[0],
        };
        Ok(Fred(clients::Fred::connect(&target).await?))
    }

    fn get(&mut self, key: &str) -> impl Future<Output = Result<Self::Data, String>> + Send {
        self.0.get(key)
    }

    fn set(&mut self, key: &str, value: &Bytes) -> impl Future<Output = Result<(), String>> + Send {
        self.0.set(key, value)
    }

    fn pipeline_set(
        &mut self,
        keys: &[String],
        value: &Bytes,
    ) -> impl Future<Output = Result<usize, String>> + Send {
        self.0.pipeline_set(keys, value)
    }

    fn close(self) -> impl Future<Output = ()> + Send {
        self.0.close()
    }
}
