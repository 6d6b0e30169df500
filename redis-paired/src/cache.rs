//! Client-side caching: [`CacheOptions`], which commands are cached
//! (`Policy`), and the pure core (`Core`): cached replies by key with byte
//! accounting, and the pending-fill markers that keep a reply from being
//! stored once an invalidation, a flush or the client's own write was seen
//! after it was asked for.
//!
//! The core is synchronous and knows no socket: the connection asks it
//! before sending a read (a hit never reaches the driver), and the driver
//! tells it, in wire order, of each reply it pairs and each invalidation it
//! reads.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::{hash_table, HashTable};
use redis_commands::catalogue::{self, BeginSearch, FindKeys};
use redis_conn::{ConfigError, Error};
use resp::{Command, Value};

use crate::queue::ReplyTx;

/// Client-side caching of a paired connection's reads
/// ([`Options::with_cache`](crate::Options::with_cache)).
///
/// The server tracks the keys this connection reads (`CLIENT TRACKING ON`,
/// in its default mode, on the connection itself) and pushes an
/// invalidation when one changes; a cached reply is dropped when its
/// invalidation is read, and is stored only if none came for its key
/// between the request and the reply. See the crate's "Client-side
/// caching" section for what is guaranteed.
///
/// ```
/// use std::time::Duration;
/// use redis_paired::{CacheOptions, Eviction, Options};
///
/// let options = Options::new().with_cache(
///     CacheOptions::new(64 << 20)
///         .with_max_entries(100_000)
///         .with_ttl(Duration::from_secs(60))
///         .with_eviction(Eviction::Lru),
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    max_bytes: usize,
    max_entries: Option<usize>,
    ttl: Option<Duration>,
    eviction: Eviction,
    commands: Cached,
}

/// Which entry makes room when the cache is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Eviction {
    /// The least recently used, approximately: entries are kept in the
    /// order they were stored, and one read since it was last passed over
    /// gets a second chance (the CLOCK algorithm), so a hit costs a flag,
    /// not a move in a list.
    #[default]
    Lru,
    /// The oldest stored, whatever its use.
    Fifo,
}

/// Which commands are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// These commands, by name (any case). Each must read one key, named by
    /// its first argument, and only read it (by the
    /// [catalogue](crate::catalogue)), except `MGET`, which is cached key
    /// by key, sharing the entries of `GET`. A command that is not so is
    /// refused when the connection is made.
    Commands(&'static [&'static str]),
    /// Every command the catalogue flags read-only whose one key is its
    /// first argument, and whose reply depends on the key's value alone:
    /// not those that answer at random (`SRANDMEMBER`, `HRANDFIELD`,
    /// `ZRANDMEMBER`), with the time (`TTL`, `PTTL`, `HTTL`, `HPTTL`), or
    /// with the layout of the server's tables (`HSCAN`, `SSCAN`, `ZSCAN`).
    /// `MGET` too, key by key.
    ReadOnlySingleKey,
}

impl CacheOptions {
    /// The commands cached by default: `GET`, `HGET`, `HGETALL`, and
    /// `MGET` key by key.
    pub const DEFAULT_COMMANDS: &'static [&'static str] = &["GET", "HGET", "HGETALL", "MGET"];

    /// A cache of at most `max_bytes` (keys, command lines and replies, with
    /// a fixed overhead per entry), of [`DEFAULT_COMMANDS`](Self::DEFAULT_COMMANDS),
    /// with no bound on entries or age, evicting [`Eviction::Lru`].
    pub const fn new(max_bytes: usize) -> CacheOptions {
        CacheOptions {
            max_bytes,
            max_entries: None,
            ttl: None,
            eviction: Eviction::Lru,
            commands: Cached::Commands(Self::DEFAULT_COMMANDS),
        }
    }

    /// At most this many entries, besides the bound on bytes.
    pub const fn with_max_entries(mut self, max: usize) -> CacheOptions {
        self.max_entries = Some(max);
        self
    }

    /// An entry older than this is not served (it is dropped and the read
    /// goes to the server): a bound on staleness should an invalidation be
    /// lost in a way the client cannot see.
    pub const fn with_ttl(mut self, ttl: Duration) -> CacheOptions {
        self.ttl = Some(ttl);
        self
    }

    /// Which entry makes room when the cache is full.
    pub const fn with_eviction(mut self, eviction: Eviction) -> CacheOptions {
        self.eviction = eviction;
        self
    }

    /// Which commands are cached.
    pub const fn with_commands(mut self, commands: Cached) -> CacheOptions {
        self.commands = commands;
        self
    }

    /// The bound on bytes.
    pub const fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The bound on entries, if any.
    pub const fn max_entries(&self) -> Option<usize> {
        self.max_entries
    }

    /// The longest an entry is served, if bounded.
    pub const fn ttl(&self) -> Option<Duration> {
        self.ttl
    }

    /// The eviction policy.
    pub const fn eviction(&self) -> Eviction {
        self.eviction
    }

    /// Which commands are cached.
    pub const fn commands(&self) -> Cached {
        self.commands
    }
}

/// What a command is to the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Class {
    /// A cached read of one key, its first argument, which is at this
    /// range of the command's encoded line.
    Single(Range<usize>),
    /// `MGET`, cached key by key.
    Mget,
    /// Something else.
    Other,
}

/// Which commands a connection caches, resolved from its [`CacheOptions`]
/// once, so that a lookup compares a name against a short list.
#[derive(Debug)]
pub(crate) struct Policy {
    /// Upper-case names of the single-key reads cached.
    single: Vec<&'static str>,
    mget: bool,
}

/// Commands flagged read-only with one key that are never cached: their
/// replies change without a write to the key.
const UNCACHEABLE: &[&str] = &[
    "srandmember",
    "hrandfield",
    "zrandmember",
    "ttl",
    "pttl",
    "httl",
    "hpttl",
    "hscan",
    "sscan",
    "zscan",
];

impl Policy {
    /// The policy of `commands`, or the name of a listed command that
    /// cannot be cached.
    pub(crate) fn new(commands: Cached) -> Result<Policy, String> {
        let mut policy = Policy {
            single: Vec::new(),
            mget: false,
        };
        match commands {
            Cached::Commands(names) => {
                for name in names {
                    if name.eq_ignore_ascii_case("MGET") {
                        policy.mget = true;
                        continue;
                    }
                    let info = catalogue::commands()
                        .iter()
                        .find(|c| c.name().eq_ignore_ascii_case(name))
                        .filter(|c| is_cacheable(c))
                        .ok_or_else(|| (*name).to_owned())?;
                    policy.single.push(upper(info.name()));
                }
            }
            Cached::ReadOnlySingleKey => {
                policy.mget = true;
                for info in catalogue::commands().iter().filter(|c| is_cacheable(c)) {
                    policy.single.push(upper(info.name()));
                }
            }
        }
        // The commonest first: a lookup stops at the first match.
        policy
            .single
            .sort_by_key(|name| (!matches!(*name, "GET" | "HGET" | "HGETALL"), *name));
        policy.single.dedup();
        Ok(policy)
    }

    /// What the command encoded as `line` is to the cache; its name and
    /// its key are read off the line once.
    pub(crate) fn class(&self, line: &[u8]) -> Class {
        let mut args = arg_ranges(line);
        let (Some(name), Some(key)) = (args.next(), args.next()) else {
            return Class::Other;
        };
        let name = &line[name];
        if self.mget && name.eq_ignore_ascii_case(b"MGET") {
            return Class::Mget;
        }
        // Names are most often spelt as the list has them: the exact
        // comparison first.
        if self.single.iter().any(|known| {
            let known = known.as_bytes();
            known == name || known.eq_ignore_ascii_case(name)
        }) {
            return Class::Single(key);
        }
        Class::Other
    }
}

/// What a command the cache does not serve does to it: the keys it writes,
/// to drop before it is sent (and again once it is queued), or the whole
/// cache, for a command that may write keys it does not name.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    pub(crate) keys: Vec<Bytes>,
    pub(crate) all: bool,
}

impl Writes {
    /// What `cmd` writes, by the catalogue: nothing for a read-only command;
    /// its keys for a write whose keys the catalogue finds; everything for a
    /// flush, or a command that is not read-only and whose keys are not
    /// known (an unknown command, a key specification the server evaluates
    /// itself). `EVAL` and `FCALL` write the keys they are given; a script
    /// that writes others is covered by the server's invalidations only.
    pub(crate) fn of(cmd: &Command) -> Writes {
        let Some(info) = catalogue::lookup(cmd) else {
            return Writes {
                keys: Vec::new(),
                all: true,
            };
        };
        if info.is_read_only() {
            return Writes::default();
        }
        let name = info.name();
        if matches!(name, "flushall" | "flushdb" | "swapdb") {
            return Writes {
                keys: Vec::new(),
                all: true,
            };
        }
        let keys = info.keys(cmd);
        let no_keys = keys.keys.is_empty() && info.key_specs().is_empty();
        if no_keys && !info.has_flag("write") {
            // PING, INFO, CLIENT LIST ...: neither reads nor writes keys.
            return Writes::default();
        }
        Writes {
            keys: keys
                .keys
                .iter()
                .map(|k| Bytes::copy_from_slice(k))
                .collect(),
            all: !keys.complete || no_keys,
        }
    }

    /// True when nothing is to be dropped.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty() && !self.all
    }
}

fn is_cacheable(info: &catalogue::CommandInfo) -> bool {
    let [spec] = info.key_specs() else {
        return false;
    };
    info.is_read_only()
        && info.subcommands().is_empty()
        && !info.has_flag("blocking")
        && !UNCACHEABLE.contains(&info.name())
        && spec.begin() == &BeginSearch::Index(1)
        && matches!(spec.find(), FindKeys::Range { last_key: 0, .. })
}

fn upper(name: &'static str) -> &'static str {
    // The catalogue's names are lower case; ours compare without case, but
    // are shown upper case in errors.
    match name {
        "get" => "GET",
        "hget" => "HGET",
        "hgetall" => "HGETALL",
        _ => name,
    }
}

/// Appends the command line of `GET key`, encoded, to `out`: the entry
/// `MGET` shares with `GET` for each of its keys. Returns where the key
/// is in it.
pub(crate) fn get_line(out: &mut Vec<u8>, key: &[u8]) -> Range<usize> {
    out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$");
    out.extend_from_slice(itoa::Buffer::new().format(key.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    let start = out.len();
    out.extend_from_slice(key);
    out.extend_from_slice(b"\r\n");
    start..start + key.len()
}

/// Where the arguments of an encoded command line (`*N\r\n$L\r\n...`) are
/// in it, the name first; it stops at anything malformed (a line this
/// crate encoded never is).
fn arg_ranges(line: &[u8]) -> impl Iterator<Item = Range<usize>> + Clone + '_ {
    // The array header is `*`, a count of at most 20 digits, CRLF; most
    // counts are one digit.
    let mut at = if line.get(2..4) == Some(b"\r\n") {
        4
    } else {
        line.iter()
            .take(24)
            .position(|&b| b == b'\n')
            .map_or(line.len(), |end| end + 1)
    };
    std::iter::from_fn(move || {
        let (data, next) = bulk_at(line, at)?;
        at = next;
        Some(data)
    })
}

/// The bulk string whose header (`$<len>\r\n`) is at `at` in `line`:
/// where its data is, and where what follows it starts.
fn bulk_at(line: &[u8], at: usize) -> Option<(Range<usize>, usize)> {
    let digit = |b: u8| b.is_ascii_digit().then(|| usize::from(b - b'0'));
    let (len, start) = match line.get(at..)? {
        // Lengths below 100, most names and keys, without a loop.
        [b'$', units, b'\r', b'\n', ..] => (digit(*units)?, at + 4),
        [b'$', tens, units, b'\r', b'\n', ..] => (10 * digit(*tens)? + digit(*units)?, at + 5),
        [b'$', rest @ ..] => {
            let mut len = 0usize;
            let mut digits = 0;
            loop {
                match *rest.get(digits)? {
                    b'\r' if digits > 0 => break,
                    b => len = len.checked_mul(10)?.checked_add(digit(b)?)?,
                }
                digits += 1;
            }
            (len, at + 1 + digits + 2)
        }
        _ => return None,
    };
    let end = start.checked_add(len)?;
    line.get(start..end)?;
    Some((start..end, end + 2))
}

/// The arguments of an encoded command line, the name first, read without
/// copying.
pub(crate) fn args(line: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    arg_ranges(line).map(move |range| &line[range])
}

/// A fixed cost per entry on top of its bytes: the tables' slots, the
/// eviction order's handle, the entry itself.
pub(crate) const ENTRY_OVERHEAD: usize = 96;

/// What a read may fill: the entries whose pending markers it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fill {
    /// A single-key read: its reply fills one entry.
    One(Part),
    /// `MGET`: one part per key it asks the server for, part `index` of
    /// the reply array being that key's.
    Keys(Vec<Part>),
}

impl Fill {
    /// The entries the reply may fill.
    pub(crate) fn parts(&self) -> &[Part] {
        match self {
            Fill::One(part) => std::slice::from_ref(part),
            Fill::Keys(parts) => parts,
        }
    }
}

/// One entry a reply may fill: its pending marker, found by the hash of
/// its command line and its id, without the line itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    hash: u64,
    pub(crate) id: u64,
    pub(crate) index: usize,
}

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A cached reply.
    Hit(Value),
    /// A read of the same command line is on its way: wait for its reply
    /// (`follow` with this id).
    Pending(u64),
    /// Nothing: send the read, holding this marker, which its reply fills.
    Miss(Part),
}

/// Counters of the cache, kept under its lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) invalidations: u64,
    pub(crate) evictions: u64,
}

/// The followers' table: ids are ours, but hashed as anything else is.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The cache itself: entries by command line (one hash on a hit), and the
/// lines of each key (for its invalidation); `F` is what a follower (a
/// caller waiting for another's read of the same line) is handed the reply
/// through.
///
/// Both tables keep the hash of what they are keyed by: a line is hashed
/// once per read, that hash goes with the read's marker to its reply, and
/// neither a fill nor a table's growth hashes a line again. A marker and
/// the entry it fills are found by that hash and the marker's id, which no
/// other marker shares.
#[derive(Debug)]
pub(crate) struct Core<F> {
    /// Keys and command lines come from the application: a hash made for
    /// short keys, seeded at random as SipHash is.
    hasher: foldhash::fast::RandomState,
    lines: HashTable<Line>,
    keys: HashTable<KeyLines>,
    /// Callers waiting for the reply of a pending read, by its id. They
    /// stay here when the marker is dropped: the reply still answers them.
    followers: Map<u64, Vec<F>>,
    /// Stored entries, oldest first, for eviction, as (line hash, id);
    /// handles of entries gone since are skipped.
    order: VecDeque<(u64, u64)>,
    /// Where `MGET` writes the line of `GET key` for each of its keys.
    scratch: Vec<u8>,
    bytes: usize,
    entries: usize,
    next_id: u64,
    max_bytes: usize,
    max_entries: usize,
    ttl: Option<Duration>,
    eviction: Eviction,
    /// Tracking is on for the connection: entries may be stored and served.
    active: bool,
    pub(crate) counters: Counters,
}

/// A command line's entry: the line (one copy, which holds its key too),
/// its hash and its key's, and the id of the marker that made it.
#[derive(Debug)]
struct Line {
    hash: u64,
    key_hash: u64,
    text: Arc<[u8]>,
    key: Range<usize>,
    id: u64,
    entry: Entry,
}

impl Line {
    fn key(&self) -> &[u8] {
        &self.text[self.key.clone()]
    }
}

/// The lines a key has entries (or markers) for, as (line hash, id). The
/// key's bytes are those of one of its lines, shared.
#[derive(Debug)]
struct KeyLines {
    hash: u64,
    text: Arc<[u8]>,
    key: Range<usize>,
    lines: Lines,
}

impl KeyLines {
    fn key(&self) -> &[u8] {
        &self.text[self.key.clone()]
    }
}

/// Most keys are read by one command line: it is kept without a `Vec`.
#[derive(Debug)]
enum Lines {
    One((u64, u64)),
    Many(Vec<(u64, u64)>),
}

impl Lines {
    fn push(&mut self, line: (u64, u64)) {
        match self {
            Lines::One(first) => *self = Lines::Many(vec![*first, line]),
            Lines::Many(lines) => lines.push(line),
        }
    }

    /// Takes `line` out; true when none is left.
    fn remove(&mut self, line: (u64, u64)) -> bool {
        match self {
            Lines::One(only) => *only == line,
            Lines::Many(lines) => {
                lines.retain(|l| *l != line);
                lines.is_empty()
            }
        }
    }

    fn as_slice(&self) -> &[(u64, u64)] {
        match self {
            Lines::One(line) => std::slice::from_ref(line),
            Lines::Many(lines) => lines,
        }
    }
}

#[derive(Debug)]
enum Entry {
    Pending,
    Ready {
        value: Value,
        size: usize,
        /// When it was stored, if entries expire.
        stored: Option<Instant>,
        used: bool,
    },
}

impl<F> Core<F> {
    /// An empty cache with the bounds of `options`, inactive until tracking
    /// is on.
    pub(crate) fn new(options: &CacheOptions) -> Core<F> {
        Core {
            hasher: foldhash::fast::RandomState::default(),
            lines: HashTable::new(),
            keys: HashTable::new(),
            followers: Map::default(),
            order: VecDeque::new(),
            scratch: Vec::new(),
            bytes: 0,
            entries: 0,
            next_id: 0,
            max_bytes: options.max_bytes,
            max_entries: options.max_entries.unwrap_or(usize::MAX),
            ttl: options.ttl,
            eviction: options.eviction,
            active: false,
            counters: Counters::default(),
        }
    }

    /// Tracking is on (`true`) or off: off drops everything.
    pub(crate) fn set_active(&mut self, active: bool) {
        if !active {
            self.clear();
        }
        self.active = active;
    }

    /// Bytes held by stored entries.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Stored entries.
    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    fn hash(&self, bytes: &[u8]) -> u64 {
        self.hasher.hash_one(bytes)
    }

    /// Looks up the read `line`, whose key is `line[key]`, at `now` (asked
    /// only when entries expire); on a miss, marks it pending for the read
    /// about to be sent. `None` when the cache is not active.
    pub(crate) fn lookup(
        &mut self,
        line: &[u8],
        key: Range<usize>,
        now: impl FnOnce() -> Instant,
    ) -> Option<Lookup> {
        if !self.active {
            return None;
        }
        let hash = self.hash(line);
        let ttl = self.ttl;
        if let Some(found) = self.lines.find_mut(hash, |l| *l.text == *line) {
            let id = found.id;
            match &mut found.entry {
                Entry::Ready {
                    value,
                    stored,
                    used,
                    ..
                } => {
                    if fresh(ttl, *stored, now) {
                        *used = true;
                        self.counters.hits += 1;
                        return Some(Lookup::Hit(value.clone()));
                    }
                    // Too old: dropped, and read again.
                    self.remove(hash, id);
                    self.counters.evictions += 1;
                }
                Entry::Pending => {
                    self.counters.hits += 1;
                    return Some(Lookup::Pending(id));
                }
            }
        }
        self.counters.misses += 1;
        Some(Lookup::Miss(self.mark(hash, line, key)))
    }

    /// Looks up `MGET`'s keys: every value when all are stored (`Ok`),
    /// otherwise the parts its reply may fill, one per key that has no
    /// entry, pending or stored (`Err`).
    pub(crate) fn lookup_many<'k>(
        &mut self,
        keys: impl Iterator<Item = &'k [u8]> + Clone,
        now: impl FnOnce() -> Instant,
    ) -> Option<Result<Value, Fill>> {
        if !self.active {
            return None;
        }
        // Read once, and only when entries expire.
        let now = self.ttl.map(|_| now());
        let mut line = std::mem::take(&mut self.scratch);
        let looked = self.lookup_keys(&mut line, keys, now);
        self.scratch = line;
        Some(looked)
    }

    fn lookup_keys<'k>(
        &mut self,
        line: &mut Vec<u8>,
        keys: impl Iterator<Item = &'k [u8]> + Clone,
        now: Option<Instant>,
    ) -> Result<Value, Fill> {
        let mut values = Vec::new();
        let mut all = true;
        let ttl = self.ttl;
        for key in keys.clone() {
            line.clear();
            get_line(line, key);
            let hash = self.hash(line);
            match self.lines.find_mut(hash, |l| *l.text == **line) {
                Some(Line {
                    entry:
                        Entry::Ready {
                            value,
                            stored,
                            used,
                            ..
                        },
                    ..
                }) if fresh(ttl, *stored, || now.unwrap_or_else(Instant::now)) => {
                    *used = true;
                    values.push(value.clone());
                }
                _ => {
                    all = false;
                    break;
                }
            }
        }
        if all {
            self.counters.hits += 1;
            return Ok(Value::Array(values));
        }
        self.counters.misses += 1;
        let mut parts = Vec::new();
        for (index, key) in keys.enumerate() {
            line.clear();
            let range = get_line(line, key);
            let hash = self.hash(line);
            if self.lines.find(hash, |l| *l.text == **line).is_none() {
                let mut part = self.mark(hash, line, range);
                part.index = index;
                parts.push(part);
            }
        }
        Err(Fill::Keys(parts))
    }

    /// Adds a caller waiting for the pending read `id`.
    pub(crate) fn follow(&mut self, id: u64, follower: F) {
        self.followers.entry(id).or_default().push(follower);
    }

    /// The reply `value` to the read holding `fill` was paired: stores it
    /// where the markers are still there (no invalidation, flush or write
    /// of the key was seen since the read was asked for), and hands back
    /// the callers that wait for it, each with its reply (for `MGET`, the
    /// element of its key). `now` is asked only when entries expire.
    pub(crate) fn fill(
        &mut self,
        fill: &Fill,
        value: &Value,
        now: impl FnOnce() -> Instant,
    ) -> Vec<(F, Value)> {
        let mut waiting = Vec::new();
        let stored = self.ttl.map(|_| now());
        let split = matches!(fill, Fill::Keys(_));
        for part in fill.parts() {
            let value = match value {
                Value::Array(items) if split => items.get(part.index),
                // An error instead of MGET's array answers every part.
                _ => Some(value),
            };
            // Most reads have no follower: no lookup then.
            let followers = if self.followers.is_empty() {
                None
            } else {
                self.followers.remove(&part.id)
            };
            if let Some(followers) = followers {
                let answer = value.cloned().unwrap_or(Value::Null);
                waiting.extend(followers.into_iter().map(|f| (f, answer.clone())));
            }
            let Some(line) = self.lines.find_mut(part.hash, |l| l.id == part.id) else {
                continue;
            };
            if !matches!(line.entry, Entry::Pending) {
                continue;
            }
            let size = value
                .filter(|v| storable(v))
                .map(|v| ENTRY_OVERHEAD + line.key.len() + line.text.len() + value_size(v));
            match (value, size) {
                (Some(value), Some(size)) if size <= self.max_bytes && self.max_entries > 0 => {
                    line.entry = Entry::Ready {
                        // A copy of its own: a slice of the read buffer would
                        // keep the whole buffer alive, beyond what the bound
                        // counts.
                        value: detach(value),
                        size,
                        stored,
                        used: false,
                    };
                    self.bytes += size;
                    self.entries += 1;
                    self.order.push_back((part.hash, part.id));
                    self.make_room();
                }
                _ => self.remove(part.hash, part.id),
            }
        }
        waiting
    }

    /// The read holding `fill` will not be answered (it failed, or timed
    /// out before it was written): its markers go, and the callers that
    /// waited for it are handed back to be told.
    pub(crate) fn abandon(&mut self, fill: &Fill) -> Vec<F> {
        let mut waiting = Vec::new();
        for part in fill.parts() {
            if let Some(followers) = self.followers.remove(&part.id) {
                waiting.extend(followers);
            }
            let pending = self
                .lines
                .find(part.hash, |l| l.id == part.id)
                .is_some_and(|l| matches!(l.entry, Entry::Pending));
            if pending {
                self.remove(part.hash, part.id);
            }
        }
        waiting
    }

    /// The server said `key` changed (or the client is about to write it):
    /// every entry of the key goes, and the reads in flight for it will not
    /// be stored.
    pub(crate) fn invalidate(&mut self, key: &[u8]) {
        let hash = self.hash(key);
        let Ok(found) = self.keys.find_entry(hash, |k| k.key() == key) else {
            return;
        };
        let (of_key, _) = found.remove();
        for &(hash, id) in of_key.lines.as_slice() {
            let Ok(found) = self.lines.find_entry(hash, |l| l.id == id) else {
                continue;
            };
            let (line, _) = found.remove();
            if let Entry::Ready { size, .. } = line.entry {
                self.bytes -= size;
                self.entries -= 1;
                self.counters.invalidations += 1;
            }
        }
    }

    /// Everything goes (a flush, a reconnect), entries and markers; callers
    /// following a read still get its reply.
    pub(crate) fn clear(&mut self) {
        self.counters.invalidations += self.entries as u64;
        self.lines.clear();
        self.keys.clear();
        self.order.clear();
        self.bytes = 0;
        self.entries = 0;
    }

    /// Everything goes, and the callers following reads are handed back to
    /// be failed: the connection was lost with every read in flight.
    pub(crate) fn reset(&mut self) -> Vec<F> {
        self.clear();
        self.followers.drain().flat_map(|(_, f)| f).collect()
    }

    /// Marks the read `line` (hashed to `hash`, its key at `key`) pending.
    fn mark(&mut self, hash: u64, line: &[u8], key: Range<usize>) -> Part {
        let id = self.next_id;
        self.next_id += 1;
        let text: Arc<[u8]> = Arc::from(line);
        let key_hash = self.hash(&line[key.clone()]);
        let of_key = self
            .keys
            .entry(key_hash, |k| k.key() == &line[key.clone()], |k| k.hash);
        match of_key {
            hash_table::Entry::Occupied(mut found) => found.get_mut().lines.push((hash, id)),
            hash_table::Entry::Vacant(room) => {
                room.insert(KeyLines {
                    hash: key_hash,
                    text: Arc::clone(&text),
                    key: key.clone(),
                    lines: Lines::One((hash, id)),
                });
            }
        }
        self.lines.insert_unique(
            hash,
            Line {
                hash,
                key_hash,
                text,
                key,
                id,
                entry: Entry::Pending,
            },
            |l| l.hash,
        );
        Part { hash, id, index: 0 }
    }

    /// Evicts until the bounds hold, and now and then sweeps the handles
    /// of entries gone otherwise, which would pile up.
    fn make_room(&mut self) {
        while self.bytes > self.max_bytes || self.entries > self.max_entries {
            if !self.evict_one() {
                break;
            }
        }
        if self.order.len() > 2 * self.entries + 1024 {
            let lines = &self.lines;
            self.order.retain(|&(hash, id)| {
                lines
                    .find(hash, |l| l.id == id)
                    .is_some_and(|l| matches!(l.entry, Entry::Ready { .. }))
            });
        }
    }

    /// Evicts one entry; false when there is none.
    fn evict_one(&mut self) -> bool {
        while let Some((hash, id)) = self.order.pop_front() {
            let Some(Line {
                entry: Entry::Ready { used, .. },
                ..
            }) = self.lines.find_mut(hash, |l| l.id == id)
            else {
                continue;
            };
            if self.eviction == Eviction::Lru && *used {
                *used = false;
                self.order.push_back((hash, id));
                continue;
            }
            self.remove(hash, id);
            self.counters.evictions += 1;
            return true;
        }
        false
    }

    /// Removes the entry or marker of the line hashed to `hash` made by
    /// marker `id`, from both tables.
    fn remove(&mut self, hash: u64, id: u64) {
        let Ok(found) = self.lines.find_entry(hash, |l| l.id == id) else {
            return;
        };
        let (line, _) = found.remove();
        if let Entry::Ready { size, .. } = line.entry {
            self.bytes -= size;
            self.entries -= 1;
        }
        let key = line.key();
        if let Ok(mut of_key) = self.keys.find_entry(line.key_hash, |k| k.key() == key) {
            if of_key.get_mut().lines.remove((hash, id)) {
                of_key.remove();
            }
        }
    }
}

/// Whether an entry stored at `stored` may still be served.
fn fresh(ttl: Option<Duration>, stored: Option<Instant>, now: impl FnOnce() -> Instant) -> bool {
    match (ttl, stored) {
        (Some(ttl), Some(stored)) => now().saturating_duration_since(stored) < ttl,
        _ => true,
    }
}

/// A copy of `value` that shares no buffer with the connection's reads.
fn detach(value: &Value) -> Value {
    let copy = |b: &Bytes| Bytes::copy_from_slice(b);
    match value {
        Value::SimpleString(b) => Value::SimpleString(copy(b)),
        Value::Error(b) => Value::Error(copy(b)),
        Value::BulkString(b) => Value::BulkString(copy(b)),
        Value::BlobError(b) => Value::BlobError(copy(b)),
        Value::BigNumber(b) => Value::BigNumber(copy(b)),
        Value::VerbatimString { format, text } => Value::VerbatimString {
            format: *format,
            text: copy(text),
        },
        Value::Array(items) => Value::Array(items.iter().map(detach).collect()),
        Value::Set(items) => Value::Set(items.iter().map(detach).collect()),
        Value::Push(items) => Value::Push(items.iter().map(detach).collect()),
        Value::Map(pairs) => {
            Value::Map(pairs.iter().map(|(k, v)| (detach(k), detach(v))).collect())
        }
        Value::Attribute { attributes, value } => Value::Attribute {
            attributes: attributes
                .iter()
                .map(|(k, v)| (detach(k), detach(v)))
                .collect(),
            value: Box::new(detach(value)),
        },
        other => other.clone(),
    }
}

/// The cache of a connection: the core under a lock, shared by the handles
/// (which look up and mark) and the driver (which fills and invalidates).
#[derive(Debug)]
pub(crate) struct Cache {
    core: Mutex<Core<ReplyTx>>,
    pub(crate) policy: Policy,
}

impl Cache {
    /// The cache `options` ask for, or the command they list that cannot
    /// be cached.
    pub(crate) fn new(options: &CacheOptions) -> Result<Cache, Error> {
        let policy = Policy::new(options.commands)
            .map_err(|name| Error::Config(ConfigError::NotCacheable(name)))?;
        Ok(Cache {
            core: Mutex::new(Core::new(options)),
            policy,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core<ReplyTx>> {
        // Every critical section leaves the maps and the byte count in step,
        // so a panic elsewhere leaves nothing half done.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tracking is on for a new connection: what was cached before is gone,
    /// and the callers following reads of the old one are told `error`.
    pub(crate) fn restart(&self, active: bool, error: &Error) {
        let followers = {
            let mut core = self.lock();
            let followers = core.reset();
            core.set_active(active);
            followers
        };
        for tx in followers {
            let _ = tx.send(Err(error.clone()));
        }
    }

    /// The reply of a cached read was paired: stored (if nothing
    /// invalidated its key since it was asked for), and handed to the
    /// callers following it.
    pub(crate) fn filled(&self, fill: &Fill, value: &Value) {
        let followers = self.lock().fill(fill, value, Instant::now);
        for (tx, value) in followers {
            let _ = tx.send(Ok(value));
        }
    }

    /// A cached read will not be answered: its followers are told `error`.
    pub(crate) fn abandon(&self, fill: &Fill, error: &Error) {
        let followers = self.lock().abandon(fill);
        for tx in followers {
            let _ = tx.send(Err(error.clone()));
        }
    }

    /// A push frame read off the connection: true when it was an
    /// invalidation (`["invalidate", keys]`, or `["invalidate", null]` for
    /// a flush), applied.
    pub(crate) fn invalidation(&self, items: &[Value]) -> bool {
        let [kind, keys] = items else {
            return false;
        };
        if kind.as_bytes() != Some(&b"invalidate"[..]) {
            return false;
        }
        let mut core = self.lock();
        match keys {
            Value::Array(keys) | Value::Set(keys) => {
                for key in keys {
                    match key.as_bytes() {
                        Some(key) => core.invalidate(key),
                        // Not a key as the protocol says: forget everything
                        // rather than guess.
                        None => core.clear(),
                    }
                }
            }
            _ => core.clear(),
        }
        true
    }

    /// Drops what a command about to be sent writes.
    pub(crate) fn forget(&self, writes: &Writes) {
        if writes.is_empty() {
            return;
        }
        let mut core = self.lock();
        if writes.all {
            core.clear();
        } else {
            for key in &writes.keys {
                core.invalidate(key);
            }
        }
    }
}

/// Error replies are not stored: they say nothing lasting about the key.
fn storable(value: &Value) -> bool {
    !matches!(value, Value::Error(_) | Value::BlobError(_))
}

/// The bytes a reply holds, roughly: its data and a fixed cost a node.
fn value_size(value: &Value) -> usize {
    const NODE: usize = 32;
    NODE + match value {
        Value::BulkString(b) | Value::SimpleString(b) | Value::VerbatimString { text: b, .. } => {
            b.len()
        }
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            items.iter().map(value_size).sum()
        }
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| value_size(k) + value_size(v))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> CacheOptions {
        CacheOptions::new(1 << 20)
    }

    fn active() -> Core<u32> {
        let mut core = Core::new(&options());
        core.set_active(true);
        core
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// The line of `GET key`, and where its key is.
    fn line(key: &str) -> (Vec<u8>, Range<usize>) {
        let mut line = Vec::new();
        let at = get_line(&mut line, key.as_bytes());
        (line, at)
    }

    fn miss(core: &mut Core<u32>, key: &str) -> Fill {
        let (line, at) = line(key);
        match core.lookup(&line, at, Instant::now) {
            Some(Lookup::Miss(part)) => Fill::One(part),
            other => panic!("expected a miss, got {other:?}"),
        }
    }

    fn lookup(core: &mut Core<u32>, key: &str) -> Option<Lookup> {
        let (line, at) = line(key);
        core.lookup(&line, at, Instant::now)
    }

    #[test]
    fn a_reply_paired_before_any_invalidation_is_stored_and_served() {
        let mut core = active();
        let fill = miss(&mut core, "k");
        core.fill(&fill, &bulk("v"), Instant::now);
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Hit(v)) if v == bulk("v")));
        assert_eq!(core.counters.hits, 1);
        assert_eq!(core.counters.misses, 1);
    }

    #[test]
    fn an_invalidation_between_request_and_reply_keeps_the_reply_out() {
        let mut core = active();
        let fill = miss(&mut core, "k");
        core.invalidate(b"k");
        core.fill(&fill, &bulk("old"), Instant::now);
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Miss(_))));
    }

    #[test]
    fn a_flush_between_request_and_reply_keeps_the_reply_out() {
        let mut core = active();
        let fill = miss(&mut core, "k");
        core.clear();
        core.fill(&fill, &bulk("old"), Instant::now);
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Miss(_))));
    }

    #[test]
    fn an_invalidation_after_the_reply_drops_the_entry() {
        let mut core = active();
        let fill = miss(&mut core, "k");
        core.fill(&fill, &bulk("v"), Instant::now);
        core.invalidate(b"k");
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Miss(_))));
        assert_eq!(core.bytes(), 0);
        assert_eq!(core.counters.invalidations, 1);
    }

    #[test]
    fn a_second_miss_of_the_same_line_follows_the_first() {
        let mut core = active();
        let fill = miss(&mut core, "k");
        let Some(Lookup::Pending(id)) = lookup(&mut core, "k") else {
            panic!("expected the read in flight to be shared");
        };
        core.follow(id, 7);
        core.invalidate(b"k");
        // The reply still answers the follower, but is not stored.
        assert_eq!(
            core.fill(&fill, &bulk("v"), Instant::now),
            vec![(7, bulk("v"))]
        );
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Miss(_))));
    }

    #[test]
    fn an_abandoned_read_hands_back_its_followers_and_its_marker_goes() {
        let mut core = active();
        let fill = miss(&mut core, "k");
        let Some(Lookup::Pending(id)) = lookup(&mut core, "k") else {
            panic!("expected the read in flight to be shared");
        };
        core.follow(id, 1);
        assert_eq!(core.abandon(&fill), vec![1]);
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Miss(_))));
    }

    #[test]
    fn an_old_fill_never_overwrites_a_newer_marker() {
        let mut core = active();
        let first = miss(&mut core, "k");
        core.invalidate(b"k");
        let second = miss(&mut core, "k");
        core.fill(&first, &bulk("old"), Instant::now);
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Pending(_))));
        core.fill(&second, &bulk("new"), Instant::now);
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Hit(v)) if v == bulk("new")));
    }

    #[test]
    fn error_replies_are_not_stored() {
        let mut core = active();
        let fill = miss(&mut core, "k");
        let error = Value::Error(Bytes::from_static(b"WRONGTYPE no"));
        core.fill(&fill, &error, Instant::now);
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Miss(_))));
    }

    #[test]
    fn inactive_the_cache_serves_nothing() {
        let mut core: Core<u32> = Core::new(&options());
        assert!(lookup(&mut core, "k").is_none());
        let mut core = active();
        let fill = miss(&mut core, "k");
        core.fill(&fill, &bulk("v"), Instant::now);
        core.set_active(false);
        core.set_active(true);
        assert!(matches!(lookup(&mut core, "k"), Some(Lookup::Miss(_))));
    }

    #[test]
    fn bytes_stay_within_the_bound_and_lru_keeps_what_is_read() {
        let per = ENTRY_OVERHEAD + 1 + line("a").0.len() + 32 + 10;
        let mut core: Core<u32> = Core::new(&CacheOptions::new(3 * per));
        core.set_active(true);
        for key in ["a", "b", "c"] {
            let fill = miss(&mut core, key);
            core.fill(&fill, &bulk("0123456789"), Instant::now);
        }
        assert_eq!(core.bytes(), 3 * per);
        // `a` is read: `b`, the least recently used, makes room for `d`.
        assert!(matches!(lookup(&mut core, "a"), Some(Lookup::Hit(_))));
        let fill = miss(&mut core, "d");
        core.fill(&fill, &bulk("0123456789"), Instant::now);
        assert!(core.bytes() <= 3 * per);
        assert_eq!(core.counters.evictions, 1);
        assert!(matches!(lookup(&mut core, "a"), Some(Lookup::Hit(_))));
        assert!(matches!(lookup(&mut core, "b"), Some(Lookup::Miss(_))));
    }

    #[test]
    fn fifo_evicts_the_oldest_whatever_its_use() {
        let mut core: Core<u32> =
            Core::new(&options().with_max_entries(2).with_eviction(Eviction::Fifo));
        core.set_active(true);
        for key in ["a", "b"] {
            let fill = miss(&mut core, key);
            core.fill(&fill, &bulk("v"), Instant::now);
        }
        assert!(matches!(lookup(&mut core, "a"), Some(Lookup::Hit(_))));
        let fill = miss(&mut core, "c");
        core.fill(&fill, &bulk("v"), Instant::now);
        assert_eq!(core.entries(), 2);
        assert!(matches!(lookup(&mut core, "a"), Some(Lookup::Miss(_))));
    }

    #[test]
    fn an_entry_older_than_the_ttl_is_read_again() {
        let mut core: Core<u32> = Core::new(&options().with_ttl(Duration::from_secs(1)));
        core.set_active(true);
        let start = Instant::now();
        let (line, at) = line("k");
        let Some(Lookup::Miss(part)) = core.lookup(&line, at.clone(), || start) else {
            panic!("miss");
        };
        core.fill(&Fill::One(part), &bulk("v"), || start);
        let soon = start + Duration::from_millis(500);
        assert!(matches!(
            core.lookup(&line, at.clone(), || soon),
            Some(Lookup::Hit(_))
        ));
        let late = start + Duration::from_secs(2);
        assert!(matches!(
            core.lookup(&line, at, || late),
            Some(Lookup::Miss(_))
        ));
        assert_eq!(core.entries(), 0);
    }

    #[test]
    fn mget_fills_and_reads_key_by_key() {
        let mut core = active();
        let keys: [&[u8]; 2] = [b"a", b"b"];
        let Some(Err(fill)) = core.lookup_many(keys.iter().copied(), Instant::now) else {
            panic!("expected a miss");
        };
        assert_eq!(fill.parts().len(), 2);
        core.fill(
            &fill,
            &Value::Array(vec![bulk("1"), Value::Null]),
            Instant::now,
        );
        assert!(matches!(lookup(&mut core, "a"), Some(Lookup::Hit(v)) if v == bulk("1")));
        let Some(Ok(Value::Array(values))) = core.lookup_many(keys.iter().copied(), Instant::now)
        else {
            panic!("expected every key stored");
        };
        assert_eq!(values, vec![bulk("1"), Value::Null]);
        core.invalidate(b"b");
        assert!(matches!(
            core.lookup_many(keys.iter().copied(), Instant::now),
            Some(Err(Fill::Keys(parts))) if parts.len() == 1 && parts[0].index == 1
        ));
    }

    #[test]
    fn a_read_following_a_key_of_mget_gets_that_keys_element() {
        let mut core = active();
        let keys: [&[u8]; 2] = [b"a", b"b"];
        let Some(Err(fill)) = core.lookup_many(keys.iter().copied(), Instant::now) else {
            panic!("expected a miss");
        };
        let Some(Lookup::Pending(id)) = lookup(&mut core, "b") else {
            panic!("expected GET b to follow MGET");
        };
        core.follow(id, 2);
        let reply = Value::Array(vec![bulk("1"), bulk("2")]);
        assert_eq!(core.fill(&fill, &reply, Instant::now), vec![(2, bulk("2"))]);
    }

    #[test]
    fn the_default_policy_caches_its_commands_and_refuses_what_cannot_be() {
        let policy = Policy::new(Cached::Commands(CacheOptions::DEFAULT_COMMANDS)).unwrap();
        // The key `k` of a command named in three letters.
        let key = 17..18;
        assert_eq!(
            policy.class(resp::cmd!("get", "k").encoded()),
            Class::Single(key.clone())
        );
        assert_eq!(
            policy.class(resp::cmd!("HGET", "k", "f").encoded()),
            Class::Single(18..19)
        );
        assert_eq!(
            policy.class(resp::cmd!("MGET", "a", "b").encoded()),
            Class::Mget
        );
        assert_eq!(
            policy.class(resp::cmd!("SET", "k", "v").encoded()),
            Class::Other
        );
        assert_eq!(
            policy.class(resp::cmd!("STRLEN", "k").encoded()),
            Class::Other
        );
        assert_eq!(Policy::new(Cached::Commands(&["TTL"])).unwrap_err(), "TTL");
        assert_eq!(Policy::new(Cached::Commands(&["SET"])).unwrap_err(), "SET");
        let all = Policy::new(Cached::ReadOnlySingleKey).unwrap();
        assert_eq!(
            all.class(resp::cmd!("STRLEN", "k").encoded()),
            Class::Single(20..21)
        );
        assert_eq!(
            all.class(resp::cmd!("ZRANGE", "k", 0, -1).encoded()),
            Class::Single(20..21)
        );
        assert_eq!(
            all.class(resp::cmd!("SRANDMEMBER", "k").encoded()),
            Class::Other
        );
        assert_eq!(all.class(resp::cmd!("EXISTS", "k").encoded()), Class::Other);
        assert_eq!(all.class(resp::cmd!("PTTL", "k").encoded()), Class::Other);
    }

    #[test]
    fn the_line_of_get_is_what_get_encodes_and_holds_its_key() {
        for key in [&b""[..], b"k", b"user:7", &[b'x'; 300]] {
            let mut line = b"left over".to_vec();
            line.clear();
            let at = get_line(&mut line, key);
            let mut encoded = bytes::BytesMut::new();
            Command::new("GET").arg(key).encode(&mut encoded);
            assert_eq!(line, encoded);
            assert_eq!(&line[at.clone()], key);
            assert_eq!(arg_ranges(&line).nth(1), Some(at));
        }
    }

    #[test]
    fn arguments_are_read_back_from_the_encoded_line() {
        let mut cmd = resp::cmd!("HGET", "key", "");
        let line = cmd.encoded().to_vec();
        let all: Vec<&[u8]> = args(&line).collect();
        assert_eq!(all, vec![&b"HGET"[..], b"key", b""]);
        assert_eq!(arg_ranges(&line).nth(1), Some(18..21));
        assert_eq!(args(&line).nth(3), None);
        assert_eq!(args(b"*1\r\n$9\r\nGET").count(), 0);
        // Malformed lengths end the arguments; they never panic.
        assert_eq!(args(b"*2\r\n$\r\nGET").count(), 0);
        assert_eq!(args(b"*2\r\n$3x\r\nGET").count(), 0);
        assert_eq!(args(b"*2\r\n$99999999999999999999999\r\nGET").count(), 0);
        assert_eq!(args(b"*2\r\n$3\r\nGET\r\n$1").count(), 1);
    }

    #[test]
    fn writes_name_the_keys_they_write_or_everything() {
        let set = Writes::of(&resp::cmd!("SET", "k", "v"));
        assert_eq!(set.keys, vec![Bytes::from_static(b"k")]);
        assert!(!set.all);
        let mset = Writes::of(&resp::cmd!("MSET", "a", 1, "b", 2));
        assert_eq!(mset.keys.len(), 2);
        assert!(Writes::of(&resp::cmd!("FLUSHALL")).all);
        assert!(Writes::of(&resp::cmd!("NOSUCHCOMMAND", "x")).all);
        assert!(Writes::of(&resp::cmd!("GET", "k")).is_empty());
        assert!(Writes::of(&resp::cmd!("PING")).is_empty());
    }
}

/// The core against a model of a server and the one connection between
/// them: whatever the interleaving of reads, writes (this client's and
/// others'), flushes, tracking evictions, replies, invalidations and lost
/// connections, every read returns a value the key held at some moment
/// between its call and its return, as the connection orders them: no
/// earlier than the last frame the client had read when it called, no
/// later than the last frame it had read when it returned.
#[cfg(test)]
mod model {
    use std::collections::{HashMap, HashSet, VecDeque};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// This client reads a key.
        Read(u8),
        /// This client writes a key: dropped from the cache, then sent.
        Write(u8),
        /// Another connection writes a key.
        OtherWrite(u8),
        /// Another connection flushes everything.
        Flush,
        /// The server forgets that it tracks a key (its tracking table is
        /// full), and says so.
        Untrack(u8),
        /// The server runs the next command this client sent.
        Serve,
        /// The client reads the next frame off the connection.
        Receive,
        /// The connection is lost and made again.
        Reconnect,
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0u8..3;
        prop_oneof![
            4 => key.clone().prop_map(Op::Read),
            1 => key.clone().prop_map(Op::Write),
            2 => key.clone().prop_map(Op::OtherWrite),
            1 => Just(Op::Flush),
            1 => key.prop_map(Op::Untrack),
            4 => Just(Op::Serve),
            4 => Just(Op::Receive),
            1 => Just(Op::Reconnect),
        ]
    }

    enum Request {
        Read { key: u8, fill: Fill, called: u64 },
        Write { key: u8 },
    }

    enum Frame {
        Reply {
            value: Value,
            fill: Option<(Fill, u8, u64)>,
            at: u64,
        },
        Invalidate {
            key: Option<u8>,
            at: u64,
        },
    }

    #[derive(Default)]
    struct Server {
        time: u64,
        values: HashMap<u8, i64>,
        /// Every change of every key: (time, key, value after).
        history: Vec<(u64, u8, Option<i64>)>,
        tracked: HashSet<u8>,
        next_value: i64,
    }

    impl Server {
        fn set(&mut self, key: u8, value: Option<i64>, out: &mut VecDeque<Frame>) {
            self.time += 1;
            match value {
                Some(v) => self.values.insert(key, v),
                None => self.values.remove(&key),
            };
            self.history.push((self.time, key, value));
            if self.tracked.remove(&key) {
                out.push_back(Frame::Invalidate {
                    key: Some(key),
                    at: self.time,
                });
            }
        }

        fn fresh(&mut self) -> i64 {
            self.next_value += 1;
            self.next_value
        }

        /// Whether `key` held `value` at some moment in `from..=to`.
        fn held(&self, key: u8, value: &Value, from: u64, to: u64) -> bool {
            let as_value = |v: Option<i64>| v.map_or(Value::Null, Value::Integer);
            let mut at_from = None;
            for (time, k, v) in &self.history {
                if *k == key && *time <= from {
                    at_from = *v;
                }
            }
            if as_value(at_from) == *value {
                return true;
            }
            self.history.iter().any(|(time, k, v)| {
                *k == key && *time > from && *time <= to && as_value(*v) == *value
            })
        }
    }

    fn key_of(key: u8) -> Vec<u8> {
        vec![b'k', b'0' + key]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn every_read_returns_a_value_held_between_its_call_and_its_return(
            ops in proptest::collection::vec(op(), 1..200),
            max_entries in 1usize..4,
        ) {
            let mut core: Core<(u8, u64)> =
                Core::new(&CacheOptions::new(1 << 20).with_max_entries(max_entries));
            core.set_active(true);
            let mut server = Server::default();
            let mut sent: VecDeque<Request> = VecDeque::new();
            let mut frames: VecDeque<Frame> = VecDeque::new();
            // The server time of the last frame this client read.
            let mut horizon = 0u64;
            let now = Instant::now();
            for op in ops {
                match op {
                    Op::Read(key) => {
                        let mut line = Vec::new();
                        let at = get_line(&mut line, &key_of(key));
                        match core.lookup(&line, at, || now) {
                            Some(Lookup::Hit(value)) => {
                                prop_assert!(
                                    server.held(key, &value, horizon, horizon),
                                    "a hit on k{} gave {:?}, not what it held at {}", key, value, horizon
                                );
                            }
                            Some(Lookup::Pending(id)) => core.follow(id, (key, horizon)),
                            Some(Lookup::Miss(part)) => sent.push_back(Request::Read {
                                key,
                                fill: Fill::One(part),
                                called: horizon,
                            }),
                            None => prop_assert!(false, "the cache is active"),
                        }
                    }
                    Op::Write(key) => {
                        core.invalidate(&key_of(key));
                        sent.push_back(Request::Write { key });
                        core.invalidate(&key_of(key));
                    }
                    Op::OtherWrite(key) => {
                        let value = server.fresh();
                        server.set(key, Some(value), &mut frames);
                    }
                    Op::Flush => {
                        server.time += 1;
                        for key in 0..3 {
                            if server.values.remove(&key).is_some() {
                                server.history.push((server.time, key, None));
                            }
                        }
                        server.tracked.clear();
                        frames.push_back(Frame::Invalidate { key: None, at: server.time });
                    }
                    Op::Untrack(key) => {
                        if server.tracked.remove(&key) {
                            frames.push_back(Frame::Invalidate { key: Some(key), at: server.time });
                        }
                    }
                    Op::Serve => match sent.pop_front() {
                        None => {}
                        Some(Request::Read { key, fill, called }) => {
                            server.time += 1;
                            server.tracked.insert(key);
                            let value = server.values.get(&key).copied().map_or(Value::Null, Value::Integer);
                            frames.push_back(Frame::Reply {
                                value,
                                fill: Some((fill, key, called)),
                                at: server.time,
                            });
                        }
                        Some(Request::Write { key }) => {
                            let value = server.fresh();
                            // The server tells the writer of its own write
                            // after the reply.
                            let mut invalidation = VecDeque::new();
                            server.set(key, Some(value), &mut invalidation);
                            frames.push_back(Frame::Reply {
                                value: Value::SimpleString(Bytes::from_static(b"OK")),
                                fill: None,
                                at: server.time,
                            });
                            frames.extend(invalidation);
                        }
                    },
                    Op::Receive => match frames.pop_front() {
                        None => {}
                        Some(Frame::Invalidate { key, at }) => {
                            horizon = at.max(horizon);
                            match key {
                                Some(key) => core.invalidate(&key_of(key)),
                                None => core.clear(),
                            }
                        }
                        Some(Frame::Reply { value, fill, at }) => {
                            horizon = at.max(horizon);
                            let Some((fill, key, called)) = fill else { continue };
                            prop_assert!(server.held(key, &value, called, horizon));
                            for ((key, follower_called), value) in core.fill(&fill, &value, || now) {
                                prop_assert!(
                                    server.held(key, &value, follower_called, horizon),
                                    "a follower of k{} got {:?}", key, value
                                );
                            }
                        }
                    },
                    Op::Reconnect => {
                        // Everything in flight is failed; the new
                        // connection tracks nothing yet.
                        let _failed = core.reset();
                        core.set_active(false);
                        sent.clear();
                        frames.clear();
                        server.tracked.clear();
                        core.set_active(true);
                    }
                }
                prop_assert!(core.entries() <= max_entries);
            }
        }
    }

    #[test]
    fn a_value_overwritten_before_the_horizon_was_not_held_at_it() {
        let mut server = Server::default();
        let mut frames = VecDeque::new();
        let value = server.fresh();
        server.set(0, Some(value), &mut frames);
        server.tracked.insert(0);
        let old = Value::Integer(value);
        let newer = server.fresh();
        server.set(0, Some(newer), &mut frames);
        let horizon = server.time;
        assert!(!server.held(0, &old, horizon, horizon));
        assert!(server.held(0, &old, 0, horizon));
    }
}
