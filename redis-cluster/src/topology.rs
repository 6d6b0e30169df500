//! Which node serves which slot: parsed from `CLUSTER SHARDS` (Redis 7) or
//! `CLUSTER SLOTS`, with each primary's config epoch from `CLUSTER NODES`;
//! views of several nodes merged slot by slot, the highest config epoch
//! winning; kept up to date one `MOVED` at a time between refreshes. Pure:
//! values in, a table out.

use std::collections::HashMap;
use std::fmt;

use resp::Value;

use crate::slot::SLOTS;

/// A node's address, as the cluster announces it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddr {
    /// The host: an IP address or a host name.
    pub host: String,
    /// The port clients connect to.
    pub port: u16,
}

impl NodeAddr {
    /// Parses `host:port` (the form `MOVED` and `ASK` use; an IPv6 host has
    /// colons of its own, so the port is after the last one).
    pub fn parse(text: &str) -> Option<NodeAddr> {
        let (host, port) = text.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(NodeAddr {
            host: host.to_string(),
            port: port.parse().ok()?,
        })
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A primary and its replicas, and the slots they serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Where writes go.
    pub primary: NodeAddr,
    /// Replicas that are online, for reads when they are allowed.
    pub replicas: Vec<NodeAddr>,
}

/// The slot table of a cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct Topology {
    shards: Vec<Shard>,
    /// What identifies each shard's primary across views, beside `shards`.
    meta: Vec<Meta>,
    /// The shard of every slot, or `NO_SHARD`.
    owners: Box<[u16]>,
    /// In one node's view: the ids of every node it knows (from `CLUSTER
    /// NODES`), failed ones included; empty when unknown.
    known: Vec<String>,
}

/// A shard's primary as the cluster names it: its node id, and its config
/// epoch, which the cluster raises whenever a node takes slots over (a
/// failover, the end of a migration). Of two claims on a slot, the one with
/// the higher epoch is the newer: Redis itself settles them that way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Meta {
    id: Option<String>,
    /// 0 when unknown (no `CLUSTER NODES`, or a primary learned from `MOVED`).
    epoch: u64,
}

const NO_SHARD: u16 = u16::MAX;

/// Why a topology reply was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyError(pub String);

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("shards", &self.shards)
            .field("slots_served", &self.slots_served())
            .finish()
    }
}

impl Topology {
    /// No shards, no slots served: before the first topology is learned.
    pub(crate) fn empty() -> Topology {
        Topology {
            shards: Vec::new(),
            meta: Vec::new(),
            owners: vec![NO_SHARD; usize::from(SLOTS)].into_boxed_slice(),
            known: Vec::new(),
        }
    }

    /// The shard that serves `slot`, if any does.
    pub fn shard(&self, slot: u16) -> Option<&Shard> {
        let owner = *self.owners.get(usize::from(slot))?;
        self.shards.get(usize::from(owner))
    }

    /// The position in [`shards`](Self::shards) of the shard that serves
    /// `slot`, if any does.
    pub(crate) fn shard_index(&self, slot: u16) -> Option<usize> {
        let owner = usize::from(*self.owners.get(usize::from(slot))?);
        (owner < self.shards.len()).then_some(owner)
    }

    /// Whether every slot has the same primary (by address) in both
    /// tables.
    pub fn same_owners(&self, other: &Topology) -> bool {
        fn primary(t: &Topology, index: u16) -> Option<&NodeAddr> {
            t.shards.get(usize::from(index)).map(|shard| &shard.primary)
        }
        self.owners
            .iter()
            .zip(other.owners.iter())
            .all(|(&a, &b)| primary(self, a) == primary(other, b))
    }

    /// Every shard.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The config epoch of the primary that serves `slot`, as last learned
    /// (0 when unknown), if any primary does.
    pub fn config_epoch(&self, slot: u16) -> Option<u64> {
        let owner = *self.owners.get(usize::from(slot))?;
        self.meta.get(usize::from(owner)).map(|m| m.epoch)
    }

    /// Whether the node at `addr` is a primary or a replica of a shard.
    pub fn contains(&self, addr: &NodeAddr) -> bool {
        self.shards
            .iter()
            .any(|s| s.primary == *addr || s.replicas.contains(addr))
    }

    /// How many slots have a shard.
    pub fn slots_served(&self) -> usize {
        self.owners.iter().filter(|&&o| o != NO_SHARD).count()
    }

    /// After `MOVED slot addr`: `slot` is served by the primary at `addr`
    /// now, a shard of its own if no known shard has that primary.
    pub fn moved(&mut self, slot: u16, addr: NodeAddr) {
        if slot >= SLOTS {
            return;
        }
        let index = match self.shards.iter().position(|s| s.primary == addr) {
            Some(index) => index,
            None => {
                self.shards.push(Shard {
                    primary: addr,
                    replicas: Vec::new(),
                });
                self.meta.push(Meta::default());
                self.shards.len() - 1
            }
        };
        if let (Ok(index), Some(owner)) =
            (u16::try_from(index), self.owners.get_mut(usize::from(slot)))
        {
            *owner = index;
        }
        self.drop_unused();
    }

    /// Takes in `view`, one node's topology: each slot goes to whichever of
    /// this table's owner and the view's has the higher config epoch (the
    /// view's on a tie, as the newer word), and a primary's replicas are
    /// those of the view with its highest epoch. A node that missed a
    /// failover (frozen, cut off) still names the old primary, with its
    /// older epoch: its view loses. A view whose node knows none of this
    /// table's primaries comes from a cluster built anew (its epochs
    /// counted from 1 again): it wins whatever the epochs. Slots the view
    /// does not serve keep their owner; primaries left without slots are
    /// dropped.
    pub fn merge(&mut self, view: &Topology) {
        let anew = !view.known.is_empty()
            && !self
                .meta
                .iter()
                .any(|m| m.id.as_ref().is_some_and(|id| view.known.contains(id)));
        let mut shards: Vec<(Shard, Meta)> = self
            .shards
            .iter()
            .cloned()
            .zip(self.meta.iter().cloned())
            .collect();
        // Where each of the view's shards is among `shards`.
        let mut placed = Vec::with_capacity(view.shards.len());
        for (shard, meta) in view.shards.iter().zip(&view.meta) {
            let index = match shards.iter().position(|(s, _)| s.primary == shard.primary) {
                Some(index) => {
                    if meta.epoch >= shards[index].1.epoch {
                        shards[index] = (shard.clone(), meta.clone());
                    }
                    index
                }
                None => {
                    shards.push((shard.clone(), meta.clone()));
                    shards.len() - 1
                }
            };
            // At most twice 16384 shards serve slots, below `NO_SHARD`.
            placed.push(u16::try_from(index).unwrap_or(NO_SHARD));
        }
        let epoch = |index: u16| shards.get(usize::from(index)).map(|(_, m)| m.epoch);
        for (owner, &theirs) in self.owners.iter_mut().zip(view.owners.iter()) {
            let Some(&theirs) = placed.get(usize::from(theirs)) else {
                continue;
            };
            let wins = match (epoch(theirs), epoch(*owner)) {
                (Some(_), None) => true,
                (Some(new), Some(old)) => new >= old || anew,
                (None, _) => false,
            };
            if wins {
                *owner = theirs;
            }
        }
        let (shards, meta) = shards.into_iter().unzip();
        self.shards = shards;
        self.meta = meta;
        self.known.clear();
        self.drop_unused();
    }

    /// Gives each shard the config epoch `CLUSTER NODES` (the reply of the
    /// same node) shows for its primary.
    pub fn with_config_epochs(mut self, nodes: &str) -> Topology {
        let epochs = config_epochs(nodes);
        for meta in &mut self.meta {
            if let Some(&epoch) = meta.id.as_deref().and_then(|id| epochs.get(id)) {
                meta.epoch = epoch;
            }
        }
        self.known = epochs.into_keys().map(str::to_string).collect();
        self
    }

    /// Removes the shards that serve no slot, renumbering the others.
    fn drop_unused(&mut self) {
        let mut used = vec![false; self.shards.len()];
        for &owner in self.owners.iter() {
            if let Some(used) = used.get_mut(usize::from(owner)) {
                *used = true;
            }
        }
        if used.iter().all(|&u| u) {
            return;
        }
        let mut renumbered = vec![NO_SHARD; used.len()];
        let mut next = 0u16;
        for (new, &used) in renumbered.iter_mut().zip(&used) {
            if used {
                *new = next;
                next += 1;
            }
        }
        for owner in self.owners.iter_mut() {
            *owner = renumbered
                .get(usize::from(*owner))
                .copied()
                .unwrap_or(NO_SHARD);
        }
        let mut keep = used.iter();
        self.shards
            .retain(|_| keep.next().copied().unwrap_or(false));
        let mut keep = used.iter();
        self.meta.retain(|_| keep.next().copied().unwrap_or(false));
    }

    /// Parses a `CLUSTER SHARDS` reply (RESP2 or RESP3). `asked` is the
    /// node that answered: an empty endpoint means it.
    pub fn from_shards(reply: &Value, asked: &NodeAddr) -> Result<Topology, TopologyError> {
        let mut builder = Builder::new();
        for shard in elements(reply, "CLUSTER SHARDS reply")? {
            let shard = fields(shard)?;
            let slots = field(&shard, "slots").ok_or_else(|| bad("a shard without slots"))?;
            let nodes = field(&shard, "nodes").ok_or_else(|| bad("a shard without nodes"))?;
            let mut primary = None;
            let mut replicas = Vec::new();
            for node in elements(nodes, "nodes")? {
                let node = fields(node)?;
                let text = |name: &str| field(&node, name).and_then(as_text);
                // Redis 7.0 calls a replica `loading` until its primary has
                // had a write (its replication offset is 0), so only a
                // failed node is left out; a replica that really is loading
                // answers `LOADING`, and the read goes to the primary.
                if text("health").is_some_and(|h| h == "fail" || h == "failed") {
                    continue;
                }
                let endpoint = text("endpoint").or_else(|| text("ip")).unwrap_or_default();
                let port = field(&node, "port")
                    .or_else(|| field(&node, "tls-port"))
                    .and_then(as_int)
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| bad("a node without a port"))?;
                let Some(addr) = endpoint_addr(&endpoint, port, asked) else {
                    continue;
                };
                match text("role").as_deref() {
                    Some("master") | Some("primary") => primary = Some((addr, text("id"))),
                    _ => replicas.push(addr),
                }
            }
            let ranges = elements(slots, "slots")?;
            if ranges.is_empty() {
                // A primary without slots serves nothing.
                continue;
            }
            let Some((primary, id)) = primary else {
                // Its primary failed and no replica has taken over yet: this
                // view does not say who serves these slots (the cluster
                // answers `CLUSTERDOWN` meanwhile).
                continue;
            };
            let index = builder.shard(Shard { primary, replicas }, id);
            for pair in ranges.chunks(2) {
                let [start, end] = pair else {
                    return Err(bad("an odd number of slot bounds"));
                };
                builder.assign(slot(start)?, slot(end)?, index)?;
            }
        }
        builder.finish()
    }

    /// Parses a `CLUSTER SLOTS` reply (RESP2 or RESP3).
    pub fn from_slots(reply: &Value, asked: &NodeAddr) -> Result<Topology, TopologyError> {
        let mut builder = Builder::new();
        for range in elements(reply, "CLUSTER SLOTS reply")? {
            let parts = elements(range, "slot range")?;
            let [start, end, nodes @ ..] = parts else {
                return Err(bad("a slot range without its bounds"));
            };
            let mut addrs = nodes.iter().filter_map(|node| {
                let node = elements(node, "node").ok()?;
                let endpoint = node.first().and_then(as_text)?;
                let port = node.get(1).and_then(as_int)?;
                let addr = endpoint_addr(&endpoint, u16::try_from(port).ok()?, asked)?;
                Some((addr, node.get(2).and_then(as_text)))
            });
            let (primary, id) = addrs
                .next()
                .ok_or_else(|| bad("a slot range without a primary"))?;
            let shard = Shard {
                primary,
                replicas: addrs.map(|(addr, _)| addr).collect(),
            };
            let index = builder.shard(shard, id);
            builder.assign(slot(start)?, slot(end)?, index)?;
        }
        builder.finish()
    }
}

/// Builds the slot table, refusing what cannot be: slots out of range and
/// ranges that overlap.
struct Builder {
    shards: Vec<Shard>,
    meta: Vec<Meta>,
    owners: Box<[u16]>,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            shards: Vec::new(),
            meta: Vec::new(),
            owners: vec![NO_SHARD; usize::from(SLOTS)].into_boxed_slice(),
        }
    }

    /// The index of `shard`, whose primary has node id `id`, merged with an
    /// equal primary's (`CLUSTER SLOTS` lists a shard once per range).
    fn shard(&mut self, shard: Shard, id: Option<String>) -> u16 {
        let index = match self.shards.iter().position(|s| s.primary == shard.primary) {
            Some(index) => index,
            None => {
                self.shards.push(shard);
                self.meta.push(Meta { id, epoch: 0 });
                self.shards.len() - 1
            }
        };
        // At most 16384 shards serve slots, far below u16::MAX.
        u16::try_from(index).unwrap_or(NO_SHARD - 1)
    }

    fn assign(&mut self, start: u16, end: u16, shard: u16) -> Result<(), TopologyError> {
        if start > end {
            return Err(bad(&format!("slot range {start}-{end} is backwards")));
        }
        for slot in start..=end {
            let owner = &mut self.owners[usize::from(slot)];
            if *owner != NO_SHARD && *owner != shard {
                return Err(bad(&format!("slot {slot} is claimed by two shards")));
            }
            *owner = shard;
        }
        Ok(())
    }

    fn finish(self) -> Result<Topology, TopologyError> {
        if self.owners.iter().all(|&o| o == NO_SHARD) {
            return Err(bad("no slot is served"));
        }
        Ok(Topology {
            shards: self.shards,
            meta: self.meta,
            owners: self.owners,
            known: Vec::new(),
        })
    }
}

/// The config epoch of each node in a `CLUSTER NODES` reply, by node id:
/// `<id> <ip:port@cport> <flags> <primary> <ping-sent> <pong-recv>
/// <config-epoch> <link-state> <slot> ...`, one node a line. A replica's
/// line shows its primary's epoch. Lines that do not fit are skipped.
fn config_epochs(nodes: &str) -> HashMap<&str, u64> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let id = fields.next()?;
            let epoch = fields.nth(5)?.parse().ok()?;
            Some((id, epoch))
        })
        .collect()
}

fn bad(what: &str) -> TopologyError {
    TopologyError(format!("unusable cluster topology: {what}"))
}

/// The address of an announced endpoint: an empty one is the node that
/// was asked; `?` (unknown) is none.
fn endpoint_addr(endpoint: &str, port: u16, asked: &NodeAddr) -> Option<NodeAddr> {
    match endpoint {
        "" => Some(NodeAddr {
            host: asked.host.clone(),
            port,
        }),
        "?" => None,
        host => Some(NodeAddr {
            host: host.to_string(),
            port,
        }),
    }
}

fn slot(value: &Value) -> Result<u16, TopologyError> {
    as_int(value)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&n| n < SLOTS)
        .ok_or_else(|| bad("a slot that is not a number from 0 to 16383"))
}

fn elements<'a>(value: &'a Value, what: &str) -> Result<&'a [Value], TopologyError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        _ => Err(bad(&format!("the {what} is not an array"))),
    }
}

/// The fields of a RESP3 map, or of a RESP2 array of names and values.
fn fields(value: &Value) -> Result<Vec<(&Value, &Value)>, TopologyError> {
    match value {
        Value::Map(pairs) => Ok(pairs.iter().map(|(k, v)| (k, v)).collect()),
        Value::Array(items) if items.len() % 2 == 0 => {
            Ok(items.chunks(2).map(|p| (&p[0], &p[1])).collect())
        }
        _ => Err(bad("a shard or node that is not a map")),
    }
}

fn field<'a>(fields: &[(&Value, &'a Value)], name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(k, _)| as_text(k).is_some_and(|k| k == name))
        .map(|(_, v)| *v)
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(s) | Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => {
            std::str::from_utf8(s).ok().map(str::to_string)
        }
        _ => None,
    }
}

fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(n) => Some(*n),
        Value::BulkString(s) | Value::SimpleString(s) => std::str::from_utf8(s).ok()?.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> NodeAddr {
        NodeAddr {
            host: "127.0.0.1".into(),
            port,
        }
    }

    fn bulk(s: &str) -> Value {
        Value::bulk(s.to_string())
    }

    fn slots_node(host: &str, port: i64) -> Value {
        Value::Array(vec![bulk(host), Value::Integer(port), bulk("id")])
    }

    fn range(start: i64, end: i64, nodes: Vec<Value>) -> Value {
        let mut parts = vec![Value::Integer(start), Value::Integer(end)];
        parts.extend(nodes);
        Value::Array(parts)
    }

    #[test]
    fn cluster_slots_gives_every_slot_its_shard() {
        let reply = Value::Array(vec![
            range(
                0,
                5460,
                vec![slots_node("127.0.0.1", 7000), slots_node("127.0.0.1", 7003)],
            ),
            range(5461, 10922, vec![slots_node("127.0.0.1", 7001)]),
            range(
                10923,
                16383,
                vec![slots_node("", 7002), slots_node("?", 7005)],
            ),
        ]);
        let t = Topology::from_slots(&reply, &addr(7002)).unwrap();
        assert_eq!(t.slots_served(), 16384);
        assert_eq!(t.shard(0).unwrap().primary, addr(7000));
        assert_eq!(t.shard(0).unwrap().replicas, vec![addr(7003)]);
        assert_eq!(t.shard(5461).unwrap().primary, addr(7001));
        // An empty endpoint is the node asked; an unknown one is left out.
        assert_eq!(t.shard(16383).unwrap().primary, addr(7002));
        assert!(t.shard(16383).unwrap().replicas.is_empty());
        assert!(t.shard(16384).is_none());
    }

    #[test]
    fn a_shard_with_several_ranges_is_one_shard() {
        let reply = Value::Array(vec![
            range(0, 99, vec![slots_node("a", 1)]),
            range(100, 199, vec![slots_node("b", 2)]),
            range(200, 299, vec![slots_node("a", 1)]),
        ]);
        let t = Topology::from_slots(&reply, &addr(1)).unwrap();
        assert_eq!(t.shards().len(), 2);
        assert_eq!(t.shard(250), t.shard(50));
        assert_eq!(t.slots_served(), 300);
        assert!(t.shard(300).is_none());
    }

    #[test]
    fn hostile_topologies_are_refused_with_a_reason() {
        let asked = addr(1);
        let cases = [
            (Value::Array(vec![]), "no slot is served"),
            (Value::Integer(3), "not an array"),
            (
                Value::Array(vec![
                    range(0, 100, vec![slots_node("a", 1)]),
                    range(50, 150, vec![slots_node("b", 2)]),
                ]),
                "slot 50 is claimed by two shards",
            ),
            (
                Value::Array(vec![range(10, 5, vec![slots_node("a", 1)])]),
                "backwards",
            ),
            (
                Value::Array(vec![range(0, 16384, vec![slots_node("a", 1)])]),
                "from 0 to 16383",
            ),
            (
                Value::Array(vec![range(0, 10, vec![])]),
                "without a primary",
            ),
            (
                Value::Array(vec![Value::Array(vec![Value::Integer(0)])]),
                "without its bounds",
            ),
        ];
        for (reply, reason) in cases {
            let err = Topology::from_slots(&reply, &asked).unwrap_err();
            assert!(err.0.contains(reason), "{err} / {reason}");
        }
    }

    fn shards_node(fields: &[(&str, Value)]) -> Value {
        Value::Map(fields.iter().map(|(k, v)| (bulk(k), v.clone())).collect())
    }

    fn node(port: i64, role: &str, health: &str) -> Value {
        shards_node(&[
            ("id", bulk("x")),
            ("port", Value::Integer(port)),
            ("ip", bulk("127.0.0.1")),
            ("endpoint", bulk("127.0.0.1")),
            ("role", bulk(role)),
            ("health", bulk(health)),
        ])
    }

    #[test]
    fn cluster_shards_resp3_and_resp2() {
        let shard = |slots: Vec<i64>, nodes: Vec<Value>| {
            shards_node(&[
                (
                    "slots",
                    Value::Array(slots.into_iter().map(Value::Integer).collect()),
                ),
                ("nodes", Value::Array(nodes)),
            ])
        };
        let reply = Value::Array(vec![
            shard(
                vec![0, 8000, 9000, 9999],
                vec![
                    node(7000, "master", "online"),
                    node(7003, "replica", "online"),
                ],
            ),
            shard(
                vec![8001, 8999, 10000, 16383],
                vec![
                    node(7001, "master", "online"),
                    node(7004, "replica", "fail"),
                ],
            ),
            // A primary without slots (just added) serves nothing.
            shard(vec![], vec![node(7002, "master", "online")]),
        ]);
        let t = Topology::from_shards(&reply, &addr(7000)).unwrap();
        assert_eq!(t.slots_served(), 16384);
        assert_eq!(t.shards().len(), 2);
        assert_eq!(t.shard(9500).unwrap().primary, addr(7000));
        assert_eq!(t.shard(9500).unwrap().replicas, vec![addr(7003)]);
        assert_eq!(t.shard(8500).unwrap().primary, addr(7001));
        assert!(t.shard(8500).unwrap().replicas.is_empty(), "failed");

        // RESP2: maps are arrays of names and values.
        fn flatten(v: &Value) -> Value {
            match v {
                Value::Map(pairs) => Value::Array(
                    pairs
                        .iter()
                        .flat_map(|(k, v)| [flatten(k), flatten(v)])
                        .collect(),
                ),
                Value::Array(items) => Value::Array(items.iter().map(flatten).collect()),
                other => other.clone(),
            }
        }
        assert_eq!(
            Topology::from_shards(&flatten(&reply), &addr(7000)).unwrap(),
            t
        );

        // A shard whose primary failed before a replica took over: this
        // view does not say who serves its slots.
        let orphan = shard(
            vec![0, 10],
            vec![
                node(7000, "master", "fail"),
                node(7003, "replica", "online"),
            ],
        );
        let served = shard(vec![11, 16383], vec![node(7001, "master", "online")]);
        let t =
            Topology::from_shards(&Value::Array(vec![orphan.clone(), served]), &addr(1)).unwrap();
        assert_eq!(t.slots_served(), 16384 - 11);
        assert!(t.shard(10).is_none());
        let err = Topology::from_shards(&Value::Array(vec![orphan]), &addr(1)).unwrap_err();
        assert!(err.0.contains("no slot is served"), "{err}");
    }

    /// A shard: its slot ranges, and its nodes (port, id, role).
    type ShardSpec<'a> = (&'a [(i64, i64)], &'a [(i64, &'a str, &'a str)]);

    /// A `CLUSTER SHARDS` reply with these shards, every node online.
    fn shards_reply(shards: &[ShardSpec<'_>]) -> Value {
        Value::Array(
            shards
                .iter()
                .map(|(ranges, nodes)| {
                    let slots = ranges
                        .iter()
                        .flat_map(|&(a, b)| [Value::Integer(a), Value::Integer(b)])
                        .collect();
                    let nodes = nodes
                        .iter()
                        .map(|&(port, id, role)| {
                            shards_node(&[
                                ("id", bulk(id)),
                                ("port", Value::Integer(port)),
                                ("endpoint", bulk("127.0.0.1")),
                                ("role", bulk(role)),
                                ("health", bulk("online")),
                            ])
                        })
                        .collect();
                    shards_node(&[
                        ("slots", Value::Array(slots)),
                        ("nodes", Value::Array(nodes)),
                    ])
                })
                .collect(),
        )
    }

    /// One node's view: `CLUSTER SHARDS` and the epochs of `CLUSTER NODES`.
    fn view(shards: &[ShardSpec<'_>], epochs: &[(&str, u64)]) -> Topology {
        let nodes: String = epochs
            .iter()
            .map(|(id, epoch)| format!("{id} 127.0.0.1:1@2 master - 0 0 {epoch} connected\n"))
            .collect();
        Topology::from_shards(&shards_reply(shards), &addr(1))
            .unwrap()
            .with_config_epochs(&nodes)
    }

    #[test]
    fn config_epochs_come_from_cluster_nodes() {
        let nodes = "a1 127.0.0.1:7000@17000 myself,master - 0 0 7 connected 0-5460\n\
                     b2 127.0.0.1:7003@17003 slave a1 0 1796286705133 7 connected\n\
                     c3 :0@0 master,noaddr - 0 0 x disconnected\n\
                     garbage\n";
        let epochs = config_epochs(nodes);
        assert_eq!(epochs.get("a1"), Some(&7));
        assert_eq!(epochs.get("b2"), Some(&7));
        assert_eq!(epochs.len(), 2, "{epochs:?}");
        let t = view(&[(&[(0, 16383)], &[(7000, "a1", "master")])], &[("a1", 7)]);
        assert_eq!(t.config_epoch(0), Some(7));
        let unknown = view(&[(&[(0, 16383)], &[(7000, "zz", "master")])], &[("a1", 7)]);
        assert_eq!(unknown.config_epoch(0), Some(0));
    }

    #[test]
    fn after_a_failover_the_highest_epoch_wins_whatever_the_order() {
        // Before: A (epoch 1) and B (epoch 2), each with a replica.
        let before = view(
            &[
                (
                    &[(0, 8191)],
                    &[(7000, "A", "master"), (7003, "A2", "replica")],
                ),
                (
                    &[(8192, 16383)],
                    &[(7001, "B", "master"), (7004, "B2", "replica")],
                ),
            ],
            &[("A", 1), ("A2", 1), ("B", 2), ("B2", 2)],
        );
        // A's replica took over with epoch 3; A, frozen meanwhile, still
        // sees itself as the primary.
        let healthy = view(
            &[
                (&[(0, 8191)], &[(7003, "A2", "master")]),
                (
                    &[(8192, 16383)],
                    &[(7001, "B", "master"), (7004, "B2", "replica")],
                ),
            ],
            &[("A", 1), ("A2", 3), ("B", 2), ("B2", 2)],
        );
        let stale = before.clone();
        for order in [[&healthy, &stale], [&stale, &healthy]] {
            let mut t = before.clone();
            for v in order {
                t.merge(v);
            }
            assert_eq!(t.shard(0).unwrap().primary, addr(7003), "{t:?}");
            assert_eq!(t.config_epoch(0), Some(3));
            assert_eq!(t.shard(9000).unwrap().primary, addr(7001));
            assert_eq!(t.shards().len(), 2, "the old primary serves nothing: {t:?}");
            assert!(!t.contains(&addr(7000)));
            assert!(t.contains(&addr(7004)));
        }
    }

    #[test]
    fn merging_keeps_what_a_view_does_not_say() {
        let mut t = view(
            &[
                (
                    &[(0, 8191)],
                    &[(7000, "A", "master"), (7003, "A2", "replica")],
                ),
                (&[(8192, 16383)], &[(7001, "B", "master")]),
            ],
            &[("A", 1), ("B", 2)],
        );
        // A view during a failover: A's shard has no online primary.
        let partial = view(
            &[(&[(8192, 16383)], &[(7001, "B", "master")])],
            &[("A", 1), ("A2", 1), ("B", 2)],
        );
        let whole = t.clone();
        t.merge(&partial);
        assert_eq!(t.shards(), whole.shards());
        assert_eq!(t.slots_served(), 16384);
        // Same epochs: the newer view's replicas (A2 failed).
        let newer = view(&[(&[(0, 8191)], &[(7000, "A", "master")])], &[("A", 1)]);
        t.merge(&newer);
        assert!(t.shard(0).unwrap().replicas.is_empty());
        // Unknown epochs (no CLUSTER NODES): the newer view wins.
        let moved = Topology::from_shards(
            &shards_reply(&[(&[(0, 100)], &[(7001, "B", "master")])]),
            &addr(1),
        )
        .unwrap();
        let mut unknown = Topology::from_shards(
            &shards_reply(&[(&[(0, 16383)], &[(7000, "A", "master")])]),
            &addr(1),
        )
        .unwrap();
        unknown.merge(&moved);
        assert_eq!(unknown.shard(100).unwrap().primary, addr(7001));
        assert_eq!(unknown.shard(101).unwrap().primary, addr(7000));
        // Into an empty table: the view, as a table.
        let mut empty = Topology::empty();
        empty.merge(&whole);
        assert_eq!(empty.shards(), whole.shards());
        assert_eq!(empty.config_epoch(0), Some(1));
    }

    #[test]
    fn a_cluster_built_anew_wins_with_lower_epochs() {
        let mut t = view(
            &[(&[(0, 16383)], &[(7000, "old", "master")])],
            &[("old", 40)],
        );
        // The same addresses, new node ids, epochs from 1 again.
        let anew = view(
            &[
                (&[(0, 8191)], &[(7000, "new1", "master")]),
                (&[(8192, 16383)], &[(7001, "new2", "master")]),
            ],
            &[("new1", 1), ("new2", 2)],
        );
        t.merge(&anew);
        assert_eq!(t.shard(9000).unwrap().primary, addr(7001));
        assert_eq!(t.shards().len(), 2, "{t:?}");
    }

    #[test]
    fn moved_updates_one_slot() {
        let reply = Value::Array(vec![range(0, 16383, vec![slots_node("a", 1)])]);
        let mut t = Topology::from_slots(&reply, &addr(1)).unwrap();
        let b = NodeAddr::parse("b:2").unwrap();
        t.moved(42, b.clone());
        assert_eq!(t.shard(42).unwrap().primary, b);
        assert_eq!(t.shard(43).unwrap().primary.host, "a");
        t.moved(43, b.clone());
        assert_eq!(t.shards().len(), 2, "the new primary's shard is reused");
        t.moved(16384, b.clone());
        // The last slot of a primary moved: it serves nothing any more.
        let reply = Value::Array(vec![range(0, 0, vec![slots_node("a", 1)])]);
        let mut t = Topology::from_slots(&reply, &addr(1)).unwrap();
        t.moved(0, b.clone());
        assert_eq!(t.shards().len(), 1);
        assert_eq!(t.shard(0).unwrap().primary, b);
    }

    #[test]
    fn addresses() {
        assert_eq!(NodeAddr::parse("127.0.0.1:7000"), Some(addr(7000)));
        let v6 = NodeAddr::parse("[::1]:7000").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 7000));
        assert_eq!(v6.to_string(), "[::1]:7000");
        assert_eq!(NodeAddr::parse("nohost"), None);
        assert_eq!(NodeAddr::parse("h:port"), None);
    }
}
