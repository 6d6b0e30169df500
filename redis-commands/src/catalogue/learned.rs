//! Commands the catalogue does not know (a module's, a newer server's, one
//! renamed by the server's configuration), learned from the server's own
//! `COMMAND INFO` reply: enough of it to find a command line's keys as the
//! catalogue finds the keys of the commands it knows. Pure: reading the
//! reply is all; asking for it is the connection's business.

use std::fmt;

use resp::{Command, Value};

use super::{find_keys, Begin, FindKeys, Keys};

/// What a server said of one command in its `COMMAND INFO` reply: its
/// flags, its key specifications and, for a container command, its
/// subcommands'.
///
/// ```
/// use redis_commands::catalogue::LearnedCommand;
/// use resp::{cmd, Value};
///
/// // The RESP2 reply of `COMMAND INFO mybitop` from a server configured
/// // with `rename-command BITOP MYBITOP`, cut to what is read.
/// let b = |s: &str| Value::bulk(s.to_owned());
/// let spec = |index: i64, last: i64| Value::Array(vec![
///     b("flags"), Value::Array(vec![b("RW")]),
///     b("begin_search"), Value::Array(vec![
///         b("type"), b("index"),
///         b("spec"), Value::Array(vec![b("index"), Value::Integer(index)]),
///     ]),
///     b("find_keys"), Value::Array(vec![
///         b("type"), b("range"),
///         b("spec"), Value::Array(vec![
///             b("lastkey"), Value::Integer(last),
///             b("keystep"), Value::Integer(1),
///             b("limit"), Value::Integer(0),
///         ]),
///     ]),
/// ]);
/// let entry = Value::Array(vec![
///     b("bitop"), Value::Integer(-4), Value::Array(vec![b("write")]),
///     Value::Integer(2), Value::Integer(-1), Value::Integer(1),
///     Value::Array(vec![]), Value::Array(vec![]),
///     Value::Array(vec![spec(2, 0), spec(3, -1)]),
///     Value::Array(vec![]),
/// ]);
/// let learned = LearnedCommand::from_info(&Value::Array(vec![entry]))?.expect("known");
/// let line = cmd!("MYBITOP", "AND", "dest", "a", "b");
/// let keys = learned.keys(&line);
/// assert_eq!(keys.keys, vec![&b"dest"[..], &b"a"[..], &b"b"[..]]);
/// assert!(keys.complete);
/// // The server's null entry: a name it does not know.
/// assert_eq!(LearnedCommand::from_info(&Value::Array(vec![Value::NullArray]))?, None);
/// # Ok::<(), redis_commands::catalogue::LearnedError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedCommand {
    name: String,
    flags: Vec<String>,
    key_specs: Vec<LearnedSpec>,
    subcommands: Vec<LearnedCommand>,
}

/// One key specification of a learned command.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LearnedSpec {
    not_key: bool,
    incomplete: bool,
    begin: LearnedBegin,
    find: FindKeys,
}

/// Where a learned key specification's search starts (the catalogue's
/// `BeginSearch`, its keyword owned).
#[derive(Debug, Clone, PartialEq, Eq)]
enum LearnedBegin {
    Index(i32),
    Keyword(Vec<u8>, i32),
    Unknown,
}

/// Why a `COMMAND INFO` reply could not be read: what was not as the server
/// documents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedError(&'static str);

impl fmt::Display for LearnedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unreadable COMMAND INFO reply: {}", self.0)
    }
}

impl std::error::Error for LearnedError {}

impl LearnedCommand {
    /// Reads the reply to `COMMAND INFO name`, asked of one name: `None`
    /// when the server does not know it (its entry is null).
    pub fn from_info(reply: &Value) -> Result<Option<LearnedCommand>, LearnedError> {
        let entries = items(reply).ok_or(LearnedError("not an array"))?;
        match entries {
            [entry] if entry.is_null() => Ok(None),
            [entry] => LearnedCommand::from_entry(entry, true).map(Some),
            _ => Err(LearnedError("not one entry")),
        }
    }

    /// Reads one command's entry; a subcommand's own subcommands are not
    /// read (the server has none that deep).
    fn from_entry(entry: &Value, top: bool) -> Result<LearnedCommand, LearnedError> {
        let fields = items(entry).ok_or(LearnedError("an entry is not an array"))?;
        let name = fields
            .first()
            .and_then(Value::as_bytes)
            .ok_or(LearnedError("an entry has no name"))?;
        let flags = fields
            .get(2)
            .and_then(items)
            .ok_or(LearnedError("an entry has no flags"))?
            .iter()
            .filter_map(|f| f.as_bytes())
            .map(|f| String::from_utf8_lossy(f).to_ascii_lowercase())
            .collect();
        // Before Redis 7 there are no key specifications: the command's
        // keys are not known (and it falls back as an unknown one would).
        let key_specs = match fields.get(8) {
            Some(specs) => items(specs)
                .ok_or(LearnedError("key specifications are not an array"))?
                .iter()
                .map(LearnedSpec::from_value)
                .collect::<Result<_, _>>()?,
            None => vec![LearnedSpec::unknown()],
        };
        let subcommands = match fields.get(9) {
            Some(subs) if top => items(subs)
                .ok_or(LearnedError("subcommands are not an array"))?
                .iter()
                .map(|sub| LearnedCommand::from_entry(sub, false))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        Ok(LearnedCommand {
            name: String::from_utf8_lossy(name).to_ascii_lowercase(),
            flags,
            key_specs,
            subcommands,
        })
    }

    /// The name in lowercase, as the server gave it (a subcommand's as
    /// `container|sub`; a renamed command's may be its original name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the command has the flag `flag` (`readonly`, `write`, ...).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// The keys of `cmd`, a command line of this command, found by its key
    /// specifications as [`keys`](super::keys) finds those of the
    /// catalogue's commands; for a container command, by the
    /// specifications of the subcommand `cmd` names (none, and not
    /// complete, when this one has no such subcommand).
    pub fn keys<'a>(&self, cmd: &'a Command) -> Keys<'a> {
        let args: Vec<&[u8]> = cmd.args().collect();
        let mut command = self;
        if !self.subcommands.is_empty() {
            let sub = args.get(1).and_then(|sub| {
                self.subcommands.iter().find(|c| {
                    let own = c.name.rsplit('|').next().unwrap_or(&c.name);
                    own.as_bytes().eq_ignore_ascii_case(sub)
                })
            });
            match sub {
                Some(sub) => command = sub,
                None => {
                    return Keys {
                        keys: Vec::new(),
                        complete: false,
                    }
                }
            }
        }
        let mut keys = Vec::new();
        let mut complete = true;
        for spec in &command.key_specs {
            if spec.not_key {
                continue;
            }
            if spec.incomplete {
                complete = false;
            }
            let begin = match &spec.begin {
                LearnedBegin::Index(i) => Begin::Index(*i),
                LearnedBegin::Keyword(keyword, start_from) => Begin::Keyword(keyword, *start_from),
                LearnedBegin::Unknown => Begin::Unknown,
            };
            if !find_keys(begin, spec.find, &args, &mut keys) {
                complete = false;
            }
        }
        Keys { keys, complete }
    }
}

impl LearnedSpec {
    /// A specification that finds nothing and says so.
    fn unknown() -> LearnedSpec {
        LearnedSpec {
            not_key: false,
            incomplete: true,
            begin: LearnedBegin::Unknown,
            find: FindKeys::Unknown,
        }
    }

    /// One key specification: a map (RESP3) or a flat array of names and
    /// values (RESP2). A kind of search the catalogue does not know is
    /// kept as one that cannot say.
    fn from_value(spec: &Value) -> Result<LearnedSpec, LearnedError> {
        let flags: Vec<&[u8]> = field(spec, "flags")
            .and_then(items)
            .map(|flags| flags.iter().filter_map(Value::as_bytes).collect())
            .unwrap_or_default();
        let has = |flag: &str| {
            flags
                .iter()
                .any(|f| f.eq_ignore_ascii_case(flag.as_bytes()))
        };
        let begin =
            field(spec, "begin_search").ok_or(LearnedError("a spec has no begin_search"))?;
        let begin_spec = field(begin, "spec");
        let number = |name: &str| -> Result<i32, LearnedError> {
            begin_spec
                .and_then(|s| field(s, name))
                .and_then(integer)
                .ok_or(LearnedError("a begin_search lacks a number"))
        };
        let begin = match kind(begin) {
            Some(b"index") => LearnedBegin::Index(number("index")?),
            Some(b"keyword") => LearnedBegin::Keyword(
                begin_spec
                    .and_then(|s| field(s, "keyword"))
                    .and_then(Value::as_bytes)
                    .ok_or(LearnedError("a begin_search has no keyword"))?
                    .to_vec(),
                number("startfrom")?,
            ),
            _ => LearnedBegin::Unknown,
        };
        let find = field(spec, "find_keys").ok_or(LearnedError("a spec has no find_keys"))?;
        let find_spec = field(find, "spec");
        let number = |name: &str| -> Result<i32, LearnedError> {
            find_spec
                .and_then(|s| field(s, name))
                .and_then(integer)
                .ok_or(LearnedError("a find_keys lacks a number"))
        };
        let find = match kind(find) {
            Some(b"range") => FindKeys::Range {
                last_key: number("lastkey")?,
                key_step: number("keystep")?,
                limit: number("limit")?,
            },
            Some(b"keynum") => FindKeys::KeyNum {
                key_num_index: number("keynumidx")?,
                first_key: number("firstkey")?,
                key_step: number("keystep")?,
            },
            _ => FindKeys::Unknown,
        };
        Ok(LearnedSpec {
            not_key: has("not_key"),
            incomplete: has("incomplete"),
            begin,
            find,
        })
    }
}

/// The elements of an array or a set.
fn items(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// The value of `name` in a map (RESP3) or a flat array of names and values
/// (RESP2).
fn field<'v>(map: &'v Value, name: &str) -> Option<&'v Value> {
    let is = |key: &Value| key.as_bytes() == Some(name.as_bytes());
    match map {
        Value::Map(pairs) => pairs.iter().find(|(k, _)| is(k)).map(|(_, v)| v),
        Value::Array(flat) => flat
            .chunks_exact(2)
            .find(|pair| is(&pair[0]))
            .map(|pair| &pair[1]),
        _ => None,
    }
}

/// The `type` of a `begin_search` or `find_keys`.
fn kind(part: &Value) -> Option<&[u8]> {
    field(part, "type").and_then(Value::as_bytes)
}

fn integer(value: &Value) -> Option<i32> {
    match value {
        Value::Integer(n) => i32::try_from(*n).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resp::cmd;

    fn b(s: &str) -> Value {
        Value::bulk(s.to_owned())
    }

    /// A map as RESP3 sends it.
    fn map(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (b(k), v)).collect())
    }

    fn spec(flags: &[&str], begin: Value, find: Value) -> Value {
        map(vec![
            ("flags", Value::Set(flags.iter().map(|f| b(f)).collect())),
            ("begin_search", begin),
            ("find_keys", find),
        ])
    }

    fn index(i: i64) -> Value {
        map(vec![
            ("type", b("index")),
            ("spec", map(vec![("index", Value::Integer(i))])),
        ])
    }

    fn range(last: i64, step: i64, limit: i64) -> Value {
        map(vec![
            ("type", b("range")),
            (
                "spec",
                map(vec![
                    ("lastkey", Value::Integer(last)),
                    ("keystep", Value::Integer(step)),
                    ("limit", Value::Integer(limit)),
                ]),
            ),
        ])
    }

    fn entry(name: &str, flags: &[&str], specs: Vec<Value>, subs: Vec<Value>) -> Value {
        let mut fields = vec![
            b(name),
            Value::Integer(-2),
            Value::Set(flags.iter().map(|f| b(f)).collect()),
        ];
        fields.extend([0, 0, 0].map(Value::Integer));
        fields.extend([Value::Set(vec![]), Value::Array(vec![])]);
        fields.extend([Value::Array(specs), Value::Array(subs)]);
        Value::Array(fields)
    }

    fn learn(entry: Value) -> LearnedCommand {
        LearnedCommand::from_info(&Value::Array(vec![entry]))
            .expect("readable")
            .expect("known")
    }

    /// The keys `learned` finds in `line`, and whether they are all.
    fn found(learned: &LearnedCommand, line: Command) -> (Vec<String>, bool) {
        let keys = learned.keys(&line);
        let names = keys
            .keys
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        (names, keys.complete)
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn keys_of_a_learned_command_are_found_by_its_specs() {
        // XREAD's specs, on RESP3.
        let keyword = map(vec![
            ("type", b("keyword")),
            (
                "spec",
                map(vec![
                    ("keyword", b("STREAMS")),
                    ("startfrom", Value::Integer(1)),
                ]),
            ),
        ]);
        let xread = learn(entry(
            "myxread",
            &["readonly", "movablekeys"],
            vec![spec(&["RO"], keyword, range(-1, 1, 2))],
            vec![],
        ));
        assert!(xread.has_flag("READONLY"));
        let line = cmd!("MYXREAD", "COUNT", 1, "STREAMS", "a", "b", "0", "0");
        assert_eq!(found(&xread, line), (strings(&["a", "b"]), true));

        // EVAL-like keynum, and a spec that names no key.
        let keynum = map(vec![
            ("type", b("keynum")),
            (
                "spec",
                map(vec![
                    ("keynumidx", Value::Integer(0)),
                    ("firstkey", Value::Integer(1)),
                    ("keystep", Value::Integer(1)),
                ]),
            ),
        ]);
        let eval = learn(entry(
            "myeval",
            &[],
            vec![
                spec(&["RW"], index(2), keynum),
                spec(&["not_key"], index(1), range(0, 1, 0)),
            ],
            vec![],
        ));
        assert_eq!(
            found(&eval, cmd!("MYEVAL", "s", 2, "x", "y", "arg")),
            (strings(&["x", "y"]), true)
        );
        assert_eq!(
            found(
                &eval,
                cmd!("MYEVAL", "s", 9_223_372_036_854_775_807_i64, "x")
            ),
            (strings(&[]), false)
        );

        // A command without keys says so, completely.
        let ping = learn(entry("ft._list", &["readonly"], vec![], vec![]));
        assert_eq!(found(&ping, cmd!("FT._LIST")), (strings(&[]), true));
    }

    #[test]
    fn a_container_finds_the_keys_of_its_subcommand() {
        let object = learn(entry(
            "myobject",
            &[],
            vec![],
            vec![
                entry(
                    "object|encoding",
                    &["readonly"],
                    vec![spec(&["RO"], index(2), range(0, 1, 0))],
                    vec![],
                ),
                entry("object|help", &[], vec![], vec![]),
            ],
        ));
        assert_eq!(
            found(&object, cmd!("MYOBJECT", "encoding", "k")),
            (strings(&["k"]), true)
        );
        assert_eq!(
            found(&object, cmd!("MYOBJECT", "nosuch", "k")),
            (strings(&[]), false)
        );
        assert_eq!(found(&object, cmd!("MYOBJECT")), (strings(&[]), false));
    }

    #[test]
    fn unknown_kinds_of_search_cannot_say() {
        let unknown = map(vec![("type", b("unknown")), ("spec", map(vec![]))]);
        let sort = learn(entry(
            "mysort",
            &[],
            vec![
                spec(&["RO"], index(1), range(0, 1, 0)),
                spec(&["RO", "incomplete"], unknown.clone(), unknown),
            ],
            vec![],
        ));
        assert_eq!(
            found(&sort, cmd!("MYSORT", "list", "BY", "w_*")),
            (strings(&["list"]), false)
        );
        // A server before Redis 7 gives no specifications at all.
        let old = Value::Array(vec![b("get"), Value::Integer(2), Value::Array(vec![])]);
        assert_eq!(found(&learn(old), cmd!("GET", "k")), (strings(&[]), false));
    }

    #[test]
    fn replies_not_as_documented_are_refused() {
        let refused = |reply: Value| LearnedCommand::from_info(&reply).is_err();
        assert!(refused(Value::Integer(1)));
        assert!(refused(Value::Array(vec![])));
        assert!(refused(Value::Array(vec![b("a"), b("b")])));
        assert!(refused(Value::Array(vec![Value::Integer(3)])));
        assert!(refused(Value::Array(vec![Value::Array(vec![b("x")])])));
        let no_begin = entry(
            "x",
            &[],
            vec![map(vec![("flags", Value::Array(vec![]))])],
            vec![],
        );
        assert!(refused(Value::Array(vec![no_begin])));
        let too_big = entry(
            "x",
            &[],
            vec![spec(&[], index(1 << 40), range(0, 1, 0))],
            vec![],
        );
        assert!(refused(Value::Array(vec![too_big])));
        assert_eq!(
            LearnedCommand::from_info(&Value::Array(vec![Value::Null])),
            Ok(None)
        );
    }
}
