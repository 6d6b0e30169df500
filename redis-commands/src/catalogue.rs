//! The command catalogue: what the server says about each of its commands
//! (arity, flags, group, the version that brought it, a summary) and where
//! the keys of a command line are, generated from Redis 7.0's own
//! `COMMAND DOCS` and `COMMAND INFO` and from the command specifications
//! of Redis 7.2 and Valkey 8.0 (`cargo xtask gen-commands`), which add the
//! commands newer than 7.0 and say which version of each server brought
//! every command ([`CommandInfo::since_on`]).
//!
//! Finding the keys of a command is what routing a command to the node that
//! owns its slot needs: [`keys`] reads the server's key specifications, the
//! rules by which Redis itself finds keys, so no command's key positions are
//! written here by hand.

use resp::Command;

mod learned;
#[rustfmt::skip]
mod table;

pub use learned::{LearnedCommand, LearnedError};

/// What the server says about one command (or one subcommand, such as
/// `CLIENT KILL`).
#[derive(Debug)]
pub struct CommandInfo {
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    group: &'static str,
    since: &'static str,
    redis_since: Option<&'static str>,
    valkey_since: Option<&'static str>,
    summary: &'static str,
    key_specs: &'static [KeySpec],
    subcommands: &'static [CommandInfo],
}

impl CommandInfo {
    /// The name in lowercase (for a subcommand, its own name: `kill`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The number of arguments, the name included; negative for "at least"
    /// that many.
    pub fn arity(&self) -> i32 {
        self.arity
    }

    /// The command's flags as the server names them: `readonly`, `write`,
    /// `blocking`, `movablekeys`, `noscript`, ...
    pub fn flags(&self) -> &'static [&'static str] {
        self.flags
    }

    /// Whether the command has the flag `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// Whether the command only reads (the server's `readonly` flag): what a
    /// replica may serve.
    pub fn is_read_only(&self) -> bool {
        self.has_flag("readonly")
    }

    /// The group of the command: `string`, `list`, `stream`, `server`, ...
    pub fn group(&self) -> &'static str {
        self.group
    }

    /// The version that brought the command: Redis's, or Valkey's for a
    /// command only Valkey has.
    pub fn since(&self) -> &'static str {
        self.since
    }

    /// The version of `server` that brought the command, `None` when no
    /// version of it the catalogue knows has the command (Redis up to 7.2,
    /// Valkey up to 8.0).
    pub fn since_on(&self, server: Server) -> Option<&'static str> {
        match server {
            Server::Redis => self.redis_since,
            Server::Valkey => self.valkey_since,
        }
    }

    /// Whether version `version` (`7.0.15`) of `server` has the command, as
    /// far as the catalogue knows: it came in that version or before.
    pub fn is_on(&self, server: Server, version: &str) -> bool {
        self.since_on(server)
            .is_some_and(|since| version_key(since) <= version_key(version))
    }

    /// The server's one-line description of the command.
    pub fn summary(&self) -> &'static str {
        self.summary
    }

    /// How the server finds the command's keys.
    pub fn key_specs(&self) -> &'static [KeySpec] {
        self.key_specs
    }

    /// The subcommands of a container command (`CLIENT`, `CONFIG`, ...).
    pub fn subcommands(&self) -> &'static [CommandInfo] {
        self.subcommands
    }
}

/// A kind of server whose commands the catalogue knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Server {
    /// Redis (the catalogue knows it up to 7.2).
    Redis,
    /// Valkey (the catalogue knows it up to 8.0).
    Valkey,
}

impl Server {
    /// The kind and version of the server whose `INFO server` section is
    /// `info`: Valkey names itself in `server_name` and its version in
    /// `valkey_version` (its `redis_version` is the Redis it is compatible
    /// with); `None` when `info` names no version.
    pub fn from_info(info: &str) -> Option<(Server, &str)> {
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        match field("server_name") {
            Some("valkey") => Some((Server::Valkey, field("valkey_version")?)),
            _ => Some((Server::Redis, field("redis_version")?)),
        }
    }
}

/// `7.2.10` as numbers, so that it sorts after `7.2.9`.
fn version_key(version: &str) -> Vec<u64> {
    version
        .split('.')
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

/// One rule by which the server finds keys among a command's arguments: where
/// to start, then which arguments from there are keys.
#[derive(Debug)]
pub struct KeySpec {
    flags: &'static [&'static str],
    begin: BeginSearch,
    find: FindKeys,
}

impl KeySpec {
    /// What the command does with these keys, as the server names it: `RO`,
    /// `RW`, `OW`, `RM`, `access`, `update`, `insert`, `delete`, `not_key`,
    /// `incomplete`, `variable_flags`.
    pub fn flags(&self) -> &'static [&'static str] {
        self.flags
    }

    /// Where the search for keys starts.
    pub fn begin(&self) -> &BeginSearch {
        &self.begin
    }

    /// Which arguments, from the start, are keys.
    pub fn find(&self) -> &FindKeys {
        &self.find
    }

    /// Whether the arguments this spec finds are no keys (`not_key`), and
    /// whether it may not find every key (`incomplete`): one look at the
    /// flags, for each command routed.
    fn marks(&self) -> (bool, bool) {
        let mut not_key = false;
        let mut incomplete = false;
        for flag in self.flags {
            not_key |= flag.eq_ignore_ascii_case("not_key");
            incomplete |= flag.eq_ignore_ascii_case("incomplete");
        }
        (not_key, incomplete)
    }
}

/// Where the search for a key specification's keys starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    /// At this argument (the name is argument 0).
    Index(i32),
    /// After the first argument equal to `keyword` (ignoring case), searched
    /// from argument `start_from` onwards, or backwards from the end when it
    /// is negative (-1 is the last argument).
    Keyword {
        /// The keyword, such as `STREAMS`.
        keyword: &'static str,
        /// Where the search starts.
        start_from: i32,
    },
    /// The server finds these keys by code of its own.
    Unknown,
}

/// Which arguments are keys, counted from where the search began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    /// Every `key_step`-th argument up to `last_key`: relative to the start
    /// when it is 0 or more, from the end when negative (-1 is the last
    /// argument). With `last_key` -1 and a `limit` above 1, only the first
    /// `1/limit` of the remaining arguments (`XREAD ... STREAMS k1 k2 id1
    /// id2`).
    Range {
        /// The last key.
        last_key: i32,
        /// The distance from one key to the next.
        key_step: i32,
        /// The share of the remaining arguments that are keys.
        limit: i32,
    },
    /// The argument at `key_num_index` gives the number of keys; the first
    /// is at `first_key`, the others every `key_step` after it
    /// (`EVAL script numkeys k1 k2 ...`).
    KeyNum {
        /// Where the number of keys is.
        key_num_index: i32,
        /// Where the first key is.
        first_key: i32,
        /// The distance from one key to the next.
        key_step: i32,
    },
    /// The server finds these keys by code of its own.
    Unknown,
}

/// Every command of the catalogue, sorted by name.
pub fn commands() -> &'static [CommandInfo] {
    table::COMMANDS
}

/// What the catalogue says about the command `cmd` sends: the subcommand's
/// entry for a container command (`CLIENT KILL ...`), `None` for a command
/// the catalogue does not know (a module's, or a newer server's).
pub fn lookup(cmd: &Command) -> Option<&'static CommandInfo> {
    let command = find(table::COMMANDS, cmd.name())?;
    if command.subcommands.is_empty() {
        return Some(command);
    }
    let sub = cmd.args().nth(1)?;
    find(command.subcommands, sub)
}

fn find(list: &'static [CommandInfo], name: &[u8]) -> Option<&'static CommandInfo> {
    // The table's names are lower case (a test checks it): fold the name
    // once, then each step of the search is a plain comparison of bytes.
    let mut folded = [0u8; FOLDED_NAME];
    let Some(folded) = folded.get_mut(..name.len()) else {
        // Longer than any name the table holds.
        return None;
    };
    if std::ptr::eq(list, table::COMMANDS) {
        // The top-level table, which every routed or retried command
        // consults, is found by hashing the name as it is folded.
        let mut hash = HASH_SEED;
        for (to, from) in folded.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
            hash = hash_step(hash, *to);
        }
        return by_hash(folded, hash);
    }
    for (to, from) in folded.iter_mut().zip(name) {
        *to = from.to_ascii_lowercase();
    }
    let folded = &*folded;
    list.binary_search_by(|c| compare(c.name.as_bytes(), folded))
        .ok()
        .map(|i| &list[i])
}

/// The command of [`table::COMMANDS`] named `folded` (lower case), whose
/// hash is `hash`: the slots of [`BY_HASH`] are probed from the hash's own
/// until the name or an empty slot.
#[inline]
fn by_hash(folded: &[u8], hash: u32) -> Option<&'static CommandInfo> {
    let mut at = home(hash);
    loop {
        at &= BY_HASH.len() - 1;
        let index = usize::from(*BY_HASH.get(at)?);
        let command = table::COMMANDS.get(index.checked_sub(1)?)?;
        if compare(command.name.as_bytes(), folded).is_eq() {
            return Some(command);
        }
        at += 1;
    }
}

/// `a.cmp(b)`, inline: names are short, and a call to `memcmp` for each
/// step of the search costs more than comparing them here.
#[inline(always)]
fn compare(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Where the hash of a name starts.
const HASH_SEED: u32 = 0x811c_9dc5;

/// The hash of a name, one byte more: FNV-1a, which spreads the catalogue's
/// names over [`BY_HASH`] with few collisions (a test bounds the probes).
#[inline(always)]
const fn hash_step(hash: u32, byte: u8) -> u32 {
    (hash ^ byte as u32).wrapping_mul(0x0100_0193)
}

/// The commands of [`table::COMMANDS`] by the hash of their names, in an
/// open-addressed table four times their number or more: each slot holds
/// the position of a command plus one, or 0 when empty; a name that
/// collides takes the next free slot. Built at compile time.
static BY_HASH: [u16; HASH_SLOTS] = {
    let list = table::COMMANDS;
    assert!(list.len() * 4 <= HASH_SLOTS && list.len() < u16::MAX as usize);
    let mut slots = [0u16; HASH_SLOTS];
    let mut i = 0;
    while i < list.len() {
        let name = list[i].name.as_bytes();
        let mut hash = HASH_SEED;
        let mut b = 0;
        while b < name.len() {
            hash = hash_step(hash, name[b]);
            b += 1;
        }
        let mut at = home(hash);
        while slots[at] != 0 {
            at = (at + 1) & (HASH_SLOTS - 1);
        }
        slots[at] = i as u16 + 1;
        i += 1;
    }
    slots
};

/// The size of [`BY_HASH`], a power of two.
const HASH_SLOTS: usize = 1 << HASH_BITS;
const HASH_BITS: u32 = 10;

/// The slot of [`BY_HASH`] where a name of hash `hash` is looked for first:
/// the hash's top bits, which FNV mixes best.
#[inline(always)]
const fn home(hash: u32) -> usize {
    (hash >> (32 - HASH_BITS)) as usize
}

/// Longer than any command or subcommand name (a test checks it).
const FOLDED_NAME: usize = 48;

/// The keys of a command line, in the order the server finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys<'a> {
    /// The keys.
    pub keys: Vec<&'a [u8]>,
    /// False when these may not be exactly the keys: the command is not in
    /// the catalogue, a key specification is one the server evaluates by
    /// code of its own (`SORT ... BY`) or marks incomplete (`MIGRATE`,
    /// whose key argument is an empty placeholder when it moves `KEYS`), or
    /// the arguments do not fit the command (the server will refuse it).
    pub complete: bool,
}

/// The keys of `cmd`, found by the server's key specifications as Redis
/// itself finds them (arguments the specifications mark `not_key`, such as
/// a sharded channel, are left out, as `COMMAND GETKEYS` leaves them out).
///
/// ```
/// use redis_commands::catalogue;
/// use resp::cmd;
///
/// let mset = cmd!("MSET", "a", 1, "b", 2);
/// assert_eq!(catalogue::keys(&mset).keys, vec![&b"a"[..], &b"b"[..]]);
/// let eval = cmd!("EVAL", "return 1", 2, "x", "y", "arg");
/// let keys = catalogue::keys(&eval);
/// assert_eq!(keys.keys, vec![&b"x"[..], &b"y"[..]]);
/// assert!(keys.complete);
/// ```
pub fn keys(cmd: &Command) -> Keys<'_> {
    match lookup(cmd) {
        Some(info) => info.keys(cmd),
        None => Keys {
            keys: Vec::new(),
            complete: false,
        },
    }
}

impl CommandInfo {
    /// The keys of `cmd`, a command line of this command (the entry
    /// [`lookup`] found for it), as [`keys`] finds them.
    pub fn keys<'a>(&self, cmd: &'a Command) -> Keys<'a> {
        let mut keys = Vec::new();
        let complete = self.each_key(cmd, |key| keys.push(key));
        Keys { keys, complete }
    }

    /// Calls `f` with each key of `cmd`, a command line of this command, in
    /// the order [`keys`](Self::keys) finds them, and says whether those
    /// are exactly the keys (as [`Keys::complete`]). It allocates nothing
    /// for a command of up to 16 arguments: routing a command by its keys
    /// costs no memory of its own.
    pub fn each_key<'a>(&self, cmd: &'a Command, mut f: impl FnMut(&'a [u8])) -> bool {
        if let Some(complete) = self.each_key_forward(cmd, &mut f) {
            return complete;
        }
        const INLINE: usize = 16;
        if cmd.len() <= INLINE {
            let mut inline: [&[u8]; INLINE] = [&[]; INLINE];
            let mut n = 0;
            for (place, arg) in inline.iter_mut().zip(cmd.args()) {
                *place = arg;
                n += 1;
            }
            self.each_key_in(&inline[..n], &mut f)
        } else {
            let args: Vec<&[u8]> = cmd.args().collect();
            self.each_key_in(&args, &mut f)
        }
    }

    /// [`each_key`](Self::each_key) for the commands whose keys are found
    /// from fixed positions and the number of arguments alone (every key
    /// specification begins at an index and finds a range: `GET`, `SET`,
    /// `HSET`, `MSET`, `LMOVE`, ...), walking the command line once for
    /// each specification, with no list of its arguments. `None` for the
    /// others (a keyword to search for, a number of keys to read).
    fn each_key_forward<'a>(&self, cmd: &'a Command, f: &mut impl FnMut(&'a [u8])) -> Option<bool> {
        let fixed = |spec: &KeySpec| {
            matches!(
                (spec.begin, spec.find),
                (BeginSearch::Index(_), FindKeys::Range { .. })
            )
        };
        if !self.key_specs.iter().all(fixed) {
            return None;
        }
        let argc = cmd.len();
        let mut complete = true;
        for spec in self.key_specs {
            let (not_key, incomplete) = spec.marks();
            if not_key {
                continue;
            }
            if incomplete {
                complete = false;
            }
            let begin = match spec.begin {
                BeginSearch::Index(i) => Begin::Index(i),
                _ => return None,
            };
            match positions(begin, spec.find, argc, &[]) {
                Some(Some((first, last, step))) => {
                    let mut args = cmd.args();
                    let mut key = args.nth(first);
                    let mut at = first;
                    while let Some(arg) = key {
                        f(arg);
                        at += step;
                        if at > last {
                            break;
                        }
                        key = args.nth(step - 1);
                    }
                }
                Some(None) => {}
                None => complete = false,
            }
        }
        Some(complete)
    }

    fn each_key_in<'a>(&self, args: &[&'a [u8]], f: &mut dyn FnMut(&'a [u8])) -> bool {
        let mut complete = true;
        for spec in self.key_specs {
            let (not_key, incomplete) = spec.marks();
            if not_key {
                continue;
            }
            if incomplete {
                complete = false;
            }
            let begin = match spec.begin {
                BeginSearch::Index(i) => Begin::Index(i),
                BeginSearch::Keyword {
                    keyword,
                    start_from,
                } => Begin::Keyword(keyword.as_bytes(), start_from),
                BeginSearch::Unknown => Begin::Unknown,
            };
            if !visit_keys(begin, spec.find, args, f) {
                complete = false;
            }
        }
        complete
    }
}

/// Where a key specification's search starts, its keyword borrowed: from
/// the catalogue's table or from a [`LearnedCommand`].
#[derive(Debug, Clone, Copy)]
enum Begin<'s> {
    Index(i32),
    Keyword(&'s [u8], i32),
    Unknown,
}

/// Adds the arguments `spec` names in `args` (the name first) to `keys`.
/// False when the spec cannot say (an unknown kind, or arguments that do not
/// fit it). A keyword that is not there names no keys.
fn find_keys<'a>(
    begin: Begin<'_>,
    find: FindKeys,
    args: &[&'a [u8]],
    keys: &mut Vec<&'a [u8]>,
) -> bool {
    visit_keys(begin, find, args, &mut |key| keys.push(key))
}

/// As [`find_keys`], each key given to `f`.
fn visit_keys<'a>(
    begin: Begin<'_>,
    find: FindKeys,
    args: &[&'a [u8]],
    f: &mut dyn FnMut(&'a [u8]),
) -> bool {
    match positions(begin, find, args.len(), args) {
        Some(Some((first, last, step))) => {
            let mut at = first;
            while let Some(&arg) = args.get(at).filter(|_| at <= last) {
                f(arg);
                at += step;
            }
            true
        }
        Some(None) => true,
        None => false,
    }
}

/// The first and last positions of the keys a spec (`begin`, `find`) names
/// in a command line of `argc` arguments, `args` (which a spec that begins
/// at an index and finds a range does not read, and may be given empty),
/// and the step between them: `Some(None)` for none, `None` when the spec
/// cannot say.
fn positions(
    begin: Begin<'_>,
    find: FindKeys,
    argc: usize,
    args: &[&[u8]],
) -> Option<Option<(usize, usize, usize)>> {
    let argc = i64::try_from(argc).ok()?;
    let first: i64 = match begin {
        Begin::Index(i) => i64::from(i),
        Begin::Keyword(keyword, start_from) => {
            let start = i64::from(start_from);
            let from_end = start < 0;
            let start = if from_end { argc + start } else { start };
            let found = if from_end {
                (1..=start).rev().find(|&i| is_keyword(args, i, keyword))
            } else {
                (start.max(1)..argc).find(|&i| is_keyword(args, i, keyword))
            };
            match found {
                Some(i) => i + 1,
                // No keyword, no keys of this spec.
                None => return Some(None),
            }
        }
        Begin::Unknown => return None,
    };
    let (first, last, step) = match find {
        FindKeys::Range {
            last_key,
            key_step,
            limit,
        } => {
            let last_key = i64::from(last_key);
            let last = if last_key >= 0 {
                first + last_key
            } else if limit <= 1 {
                argc + last_key
            } else {
                first + (argc - first) / i64::from(limit) + last_key
            };
            (first, last, i64::from(key_step))
        }
        FindKeys::KeyNum {
            key_num_index,
            first_key,
            key_step,
        } => {
            let count_at = usize::try_from(first + i64::from(key_num_index)).ok()?;
            let count: i64 = std::str::from_utf8(args.get(count_at)?)
                .ok()?
                .parse()
                .ok()?;
            if count < 0 {
                return None;
            }
            let first = first + i64::from(first_key);
            if count == 0 {
                return Some(None);
            }
            let step = i64::from(key_step);
            // A count from the command line may be anything: no overflow.
            let last = (count - 1).checked_mul(step)?.checked_add(first)?;
            (first, last, step)
        }
        FindKeys::Unknown => return None,
    };
    if first < 1 || last < first || last >= argc || step < 1 {
        return None;
    }
    let first = usize::try_from(first).ok()?;
    let last = usize::try_from(last).ok()?;
    let step = usize::try_from(step).ok()?;
    Some(Some((first, last, step)))
}

fn is_keyword(args: &[&[u8]], i: i64, keyword: &[u8]) -> bool {
    usize::try_from(i)
        .ok()
        .and_then(|i| args.get(i))
        .is_some_and(|a| a.eq_ignore_ascii_case(keyword))
}

#[cfg(test)]
mod tests {
    use super::*;
    use resp::cmd;

    #[test]
    fn the_names_are_lower_case_sorted_and_short_enough_to_fold() {
        fn check(list: &[CommandInfo]) {
            for c in list {
                assert!(c.name.len() < FOLDED_NAME, "{}", c.name);
                assert_eq!(c.name, c.name.to_ascii_lowercase(), "{}", c.name);
                check(c.subcommands);
            }
            assert!(list.windows(2).all(|w| w[0].name < w[1].name));
        }
        check(table::COMMANDS);
        for c in table::COMMANDS {
            let upper = c.name.to_ascii_uppercase();
            let found = find(table::COMMANDS, upper.as_bytes());
            assert!(found.is_some_and(|f| std::ptr::eq(f, c)), "{}", c.name);
            for sub in c.subcommands {
                let found = find(c.subcommands, sub.name.to_ascii_uppercase().as_bytes());
                assert!(found.is_some_and(|f| std::ptr::eq(f, sub)), "{}", sub.name);
            }
        }
        assert!(find(table::COMMANDS, b"NOSUCHCOMMAND").is_none());
        assert!(find(table::COMMANDS, b"").is_none());
        assert_eq!(lookup(&cmd!("gEt", "k")).map(|c| c.name()), Some("get"));
        assert_eq!(
            lookup(&cmd!("CLIENT", "Kill", "x")).map(|c| c.name()),
            Some("kill")
        );
        let long = "x".repeat(FOLDED_NAME + 1);
        assert!(lookup(&Command::new(&long)).is_none());
    }

    #[test]
    fn every_name_is_found_within_a_few_probes_of_its_hash() {
        for (i, c) in table::COMMANDS.iter().enumerate() {
            let hash = c.name.bytes().fold(HASH_SEED, hash_step);
            let home = home(hash);
            let at = BY_HASH
                .iter()
                .position(|&slot| usize::from(slot) == i + 1)
                .expect("every command has a slot");
            let probes = (at + HASH_SLOTS - home) % HASH_SLOTS;
            assert!(probes <= 3, "{}: {probes} probes", c.name);
        }
        let used = BY_HASH.iter().filter(|&&slot| slot != 0).count();
        assert_eq!(used, table::COMMANDS.len());
    }

    #[test]
    fn keys_found_walking_forward_are_those_found_in_a_list_of_the_arguments() {
        fn check(c: &CommandInfo, line: &[&str]) {
            let mut cmd = Command::new(line[0]);
            for arg in &line[1..] {
                cmd.push_bulk(arg.as_bytes());
            }
            let mut forward = Vec::new();
            let Some(complete) = c.each_key_forward(&cmd, &mut |k| forward.push(k)) else {
                return;
            };
            let args: Vec<&[u8]> = cmd.args().collect();
            let mut listed = Vec::new();
            let listed_complete = c.each_key_in(&args, &mut |k| listed.push(k));
            assert_eq!(forward, listed, "{} {:?}", c.name, line);
            assert_eq!(complete, listed_complete, "{} {:?}", c.name, line);
        }
        let words = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
        let mut walked = 0;
        for c in table::COMMANDS {
            for n in 0..words.len() {
                let mut line = vec![c.name];
                line.extend(&words[..n]);
                check(c, &line);
                for sub in c.subcommands {
                    let mut line = vec![c.name, sub.name];
                    line.extend(&words[..n]);
                    check(sub, &line);
                }
            }
            walked += usize::from(c.key_specs.iter().all(|s| {
                matches!(
                    (s.begin, s.find),
                    (BeginSearch::Index(_), FindKeys::Range { .. })
                )
            }));
        }
        // Most commands are walked forward; this test is about them.
        assert!(walked > 150, "{walked}");
    }

    #[test]
    fn the_catalogue_knows_which_server_has_a_command_since_when() {
        let waitaof = lookup(&cmd!("WAITAOF", 1, 0, 0)).unwrap();
        assert_eq!(waitaof.since_on(Server::Redis), Some("7.2.0"));
        assert!(!waitaof.is_on(Server::Redis, "7.0.15"));
        assert!(waitaof.is_on(Server::Redis, "7.2.6"));
        assert!(waitaof.is_on(Server::Valkey, "8.0.1"));
        let capa = lookup(&cmd!("CLIENT", "CAPA", "redirect")).unwrap();
        assert_eq!(capa.since_on(Server::Redis), None);
        assert_eq!(capa.since(), "8.0.0");
        assert!(capa.is_on(Server::Valkey, "8.0.1"));
        assert!(!capa.is_on(Server::Valkey, "7.2.10"));
        let get = lookup(&cmd!("GET", "k")).unwrap();
        assert!(get.is_on(Server::Redis, "7.0.15") && get.is_on(Server::Valkey, "8.0.1"));
    }

    #[test]
    fn info_names_the_server_and_its_version() {
        let redis = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(Server::from_info(redis), Some((Server::Redis, "7.0.15")));
        let valkey =
            "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n";
        assert_eq!(Server::from_info(valkey), Some((Server::Valkey, "8.0.1")));
        assert_eq!(Server::from_info("# Server\r\n"), None);
    }

    fn keys_of(cmd: Command) -> (Vec<String>, bool) {
        let found = keys(&cmd);
        let names = found
            .keys
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        (names, found.complete)
    }

    macro_rules! keys {
        ($($cmd:expr => [$($key:expr),*] $(, $complete:expr)?;)*) => {$(
            let expected: Vec<String> = vec![$($key.to_string()),*];
            let complete = true $(&& $complete)?;
            assert_eq!(keys_of($cmd), (expected, complete), "{:?}", stringify!($cmd));
        )*};
    }

    #[test]
    fn the_catalogue_is_sorted_and_knows_every_core_command() {
        let names: Vec<&str> = commands().iter().map(CommandInfo::name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(commands().len() >= 200, "{}", commands().len());
        for list in commands().iter().map(CommandInfo::subcommands) {
            let names: Vec<&str> = list.iter().map(CommandInfo::name).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted);
        }
        let get = lookup(&cmd!("get", "k")).expect("GET is known");
        assert_eq!((get.name(), get.arity(), get.group()), ("get", 2, "string"));
        assert!(get.is_read_only());
        let kill = lookup(&cmd!("CLIENT", "kill", "ID", 1)).expect("CLIENT KILL");
        assert_eq!(kill.name(), "kill");
        assert!(lookup(&cmd!("NOSUCHCOMMAND")).is_none());
        assert!(lookup(&cmd!("CLIENT", "NOSUCH")).is_none());
        assert!(lookup(&cmd!("CLIENT")).is_none());
    }

    #[test]
    fn keys_are_found_as_the_server_finds_them() {
        keys! {
            cmd!("GET", "k") => ["k"];
            cmd!("PING") => [];
            cmd!("MSET", "a", 1, "b", 2) => ["a", "b"];
            cmd!("MGET", "a", "b", "c") => ["a", "b", "c"];
            cmd!("DEL", "a") => ["a"];
            cmd!("RENAME", "a", "b") => ["a", "b"];
            cmd!("EVAL", "return 1", 0, "arg") => [];
            cmd!("EVALSHA", "abc", 2, "x", "y", "arg") => ["x", "y"];
            cmd!("FCALL", "f", 1, "x", "arg") => ["x"];
            cmd!("ZUNIONSTORE", "dest", 2, "a", "b", "WEIGHTS", 1, 2) => ["dest", "a", "b"];
            cmd!("XREAD", "COUNT", 2, "STREAMS", "s1", "s2", "0", "0") => ["s1", "s2"];
            cmd!("xreadgroup", "GROUP", "g", "c", "streams", "s1", ">") => ["s1"];
            cmd!("BLPOP", "a", "b", 0) => ["a", "b"];
            cmd!("BLMPOP", 0, 2, "a", "b", "LEFT") => ["a", "b"];
            cmd!("LMPOP", 1, "a", "RIGHT", "COUNT", 2) => ["a"];
            cmd!("OBJECT", "ENCODING", "k") => ["k"];
            cmd!("SPUBLISH", "channel", "m") => [];
            cmd!("SET", "k", "v", "EX", 10) => ["k"];
            cmd!("GEORADIUS", "g", 0, 0, 1, "km", "STORE", "dest") => ["g", "dest"];
        }
    }

    #[test]
    fn what_the_specs_cannot_tell_is_said() {
        // SORT's BY and GET patterns name keys the server finds by itself.
        keys! {
            cmd!("SORT", "list", "BY", "w_*") => ["list"], false;
            cmd!("NOSUCHCOMMAND", "k") => [], false;
            // Arguments that do not fit: the server will refuse the command.
            cmd!("EVAL", "return 1", "many", "x") => [], false;
            cmd!("EVAL", "return 1", 3, "x") => [], false;
            cmd!("GET") => [], false;
        }
    }
}
