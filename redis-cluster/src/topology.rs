//! Which node serves which slot: parsed from `CLUSTER SHARDS` (Redis 7) or
//! `CLUSTER SLOTS`, and kept up to date one `MOVED` at a time between
//! refreshes. Pure: values in, a table out.

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
    /// The shard of every slot, or `NO_SHARD`.
    owners: Box<[u16]>,
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
            owners: vec![NO_SHARD; usize::from(SLOTS)].into_boxed_slice(),
        }
    }

    /// The shard that serves `slot`, if any does.
    pub fn shard(&self, slot: u16) -> Option<&Shard> {
        let owner = *self.owners.get(usize::from(slot))?;
        self.shards.get(usize::from(owner))
    }

    /// Every shard.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
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
                self.shards.len() - 1
            }
        };
        if let (Ok(index), Some(owner)) =
            (u16::try_from(index), self.owners.get_mut(usize::from(slot)))
        {
            *owner = index;
        }
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
                if text("health").is_some_and(|h| h == "fail") {
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
                    Some("master") | Some("primary") => primary = Some(addr),
                    _ => replicas.push(addr),
                }
            }
            let ranges = elements(slots, "slots")?;
            if ranges.is_empty() {
                // A primary without slots serves nothing.
                continue;
            }
            let primary = primary.ok_or_else(|| bad("a shard with slots but no online primary"))?;
            let index = builder.shard(Shard { primary, replicas });
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
                endpoint_addr(&endpoint, u16::try_from(port).ok()?, asked)
            });
            let primary = addrs
                .next()
                .ok_or_else(|| bad("a slot range without a primary"))?;
            let shard = Shard {
                primary,
                replicas: addrs.collect(),
            };
            let index = builder.shard(shard);
            builder.assign(slot(start)?, slot(end)?, index)?;
        }
        builder.finish()
    }
}

/// Builds the slot table, refusing what cannot be: slots out of range and
/// ranges that overlap.
struct Builder {
    shards: Vec<Shard>,
    owners: Box<[u16]>,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            shards: Vec::new(),
            owners: vec![NO_SHARD; usize::from(SLOTS)].into_boxed_slice(),
        }
    }

    /// The index of `shard`, merged with an equal primary's (`CLUSTER SLOTS`
    /// lists a shard once per range).
    fn shard(&mut self, shard: Shard) -> u16 {
        let index = match self.shards.iter().position(|s| s.primary == shard.primary) {
            Some(index) => index,
            None => {
                self.shards.push(shard);
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
            owners: self.owners,
        })
    }
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

        let orphan = Value::Array(vec![shard(
            vec![0, 10],
            vec![node(7003, "replica", "online")],
        )]);
        let err = Topology::from_shards(&orphan, &addr(1)).unwrap_err();
        assert!(err.0.contains("no online primary"), "{err}");
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
        t.moved(16384, b);
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
