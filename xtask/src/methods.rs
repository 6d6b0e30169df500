//! The typed methods generated from the catalogue's snapshot: for each
//! command a paired connection can send and no hand-written method covers,
//! a method of `Commands` (its required arguments as parameters), a `_with`
//! variant taking the command's optional arguments as a small builder
//! (`redis_commands::args`), and a live smoke test that sends it.
//!
//! The commands are those of the catalogue: Redis 7.0's snapshot and the
//! newer commands of the Redis 7.2 and Valkey 8.0 specifications. Reply
//! types come from the specifications' `reply_schema` where its shape maps
//! to a Rust type (`schema_type`), and otherwise, or where the schema is
//! too loose (a value of the caller's type, not a `String`), from
//! `commands/replies.txt`, one command a line. The smoke test checks each of
//! them against a real server on RESP2 and RESP3.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

/// Where the generated methods live, from the workspace root.
pub const METHODS_PATH: &str = "redis-commands/src/commands/generated.rs";

/// Where the generated argument builders live.
pub const ARGS_PATH: &str = "redis-commands/src/args.rs";

/// Where the generated live smoke test lives.
pub const SMOKE_PATH: &str = "redis-paired/tests/generated.rs";

/// The reply type of each generated method.
pub const REPLIES_PATH: &str = "redis-commands/commands/replies.txt";

/// Commands whose methods are written by hand in `commands.rs`, because
/// their replies need real types or their arguments read better by hand.
const HAND_WRITTEN: &[&str] = &[
    "append",
    "blmove",
    "blpop",
    "brpop",
    "bzpopmax",
    "bzpopmin",
    "copy",
    "dbsize",
    "decr",
    "decrby",
    "del",
    "exists",
    "expire",
    "expireat",
    "flushdb",
    "geoadd",
    "geodist",
    "geopos",
    "geosearch",
    "get",
    "getdel",
    "getex",
    "hdel",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hkeys",
    "hlen",
    "hmget",
    "hscan",
    "hset",
    "hvals",
    "incr",
    "incrby",
    "incrbyfloat",
    "info",
    "lindex",
    "llen",
    "lpop",
    "lpush",
    "lrange",
    "lrem",
    "ltrim",
    "mget",
    "mset",
    "persist",
    "pexpire",
    "ping",
    "pttl",
    "publish",
    "rename",
    "rpop",
    "rpush",
    "sadd",
    "scan",
    "scard",
    "set",
    "sinter",
    "sismember",
    "smembers",
    "spop",
    "srem",
    "sscan",
    "strlen",
    "sunion",
    "ttl",
    "type",
    "unlink",
    "xack",
    "xadd",
    "xautoclaim",
    "xclaim",
    "xdel",
    "xgroup|create",
    "xlen",
    "xpending",
    "xrange",
    "xread",
    "xreadgroup",
    "xrevrange",
    "xtrim",
    "zadd",
    "zcard",
    "zcount",
    "zincrby",
    "zpopmax",
    "zpopmin",
    "zrange",
    "zrangebyscore",
    "zrank",
    "zrem",
    "zscan",
    "zscore",
];

/// Commands with no method: those a paired connection refuses (they would
/// break it for every clone, or a reconnect would undo them), `CLIENT CAPA`
/// (state of the connection that a reconnect would undo too), `CLIENT
/// CACHING` (which only means something with the tracking they refuse),
/// those of the replication and cluster bus, and the debugging ones.
const LEFT_OUT: &[&str] = &[
    "asking",
    "auth",
    "client|caching",
    "client|capa",
    "client|no-evict",
    "client|no-touch",
    "client|reply",
    "client|setinfo",
    "client|setname",
    "client|tracking",
    "debug",
    "discard",
    "exec",
    "hello",
    "monitor",
    "multi",
    "pfdebug",
    "pfselftest",
    "psubscribe",
    "psync",
    "punsubscribe",
    "quit",
    "readonly",
    "readwrite",
    "replconf",
    "reset",
    "restore-asking",
    "script|debug",
    "select",
    "ssubscribe",
    "subscribe",
    "sunsubscribe",
    "sync",
    "unsubscribe",
    "unwatch",
    "watch",
];

/// Method names that are Rust keywords or read badly as the command's.
const RENAMED: &[(&str, &str)] = &[("move", "move_key")];

/// Commands the smoke test does not send: they stop, reconfigure or detach
/// the server it runs against.
const NOT_SMOKED: &[&str] = &[
    "bgrewriteaof",
    "bgsave",
    "client|kill",
    "client|pause",
    "cluster|failover",
    "failover",
    "replicaof",
    "save",
    "shutdown",
    "slaveof",
];

/// Cluster commands the smoke test also sends to a node of a real cluster,
/// where they are answered (those that only read).
const SMOKED_ON_A_CLUSTER: &[&str] = &[
    "cluster|countkeysinslot",
    "cluster|getkeysinslot",
    "cluster|info",
    "cluster|keyslot",
    "cluster|links",
    "cluster|myid",
    "cluster|myshardid",
    "cluster|nodes",
    "cluster|shards",
    "cluster|slot-stats",
    "cluster|slots",
];

/// Placeholder arguments of the smoke test where any value would not do:
/// command, parameter, Rust expression.
const DUMMIES: &[(&str, &str, &str)] = &[
    ("bitop", "operation", "\"AND\""),
    ("command|getkeys", "args", "[\"GET\", \"smoke:key\"]"),
    (
        "command|getkeysandflags",
        "args",
        "[\"GET\", \"smoke:key\"]",
    ),
];

/// One argument as `COMMAND DOCS` describes it.
#[derive(Debug, Clone)]
struct Arg {
    name: String,
    kind: String,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    multiple_token: bool,
    children: Vec<Arg>,
}

fn parse_args(value: Option<&Value>) -> Vec<Arg> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let flags: Vec<&str> = a
                .get("flags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            Arg {
                name: a
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("arg")
                    .into(),
                kind: a
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("string")
                    .into(),
                token: a.get("token").and_then(Value::as_str).map(String::from),
                optional: flags.contains(&"optional"),
                multiple: flags.contains(&"multiple"),
                multiple_token: flags.contains(&"multiple_token"),
                children: parse_args(a.get("arguments")),
            }
        })
        .collect()
}

/// The argument as the Redis documentation spells it: `[COUNT count]`,
/// `key [key ...]`, `NX | XX`.
fn syntax(arg: &Arg) -> String {
    let mut inner = match arg.kind.as_str() {
        "pure-token" => arg.token.clone().unwrap_or_default(),
        "block" => arg
            .children
            .iter()
            .map(syntax)
            .collect::<Vec<_>>()
            .join(" "),
        "oneof" => arg
            .children
            .iter()
            .map(syntax)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => arg.name.clone(),
    };
    if arg.kind != "pure-token" {
        if let Some(token) = &arg.token {
            inner = format!("{token} {inner}");
        }
    }
    if arg.kind == "oneof" && arg.token.is_none() && !arg.optional {
        inner = format!("<{inner}>");
    }
    if arg.multiple {
        inner = if arg.multiple_token {
            format!("{inner} [{inner} ...]")
        } else if let Some(token) = &arg.token {
            let rest = inner.trim_start_matches(token.as_str()).trim();
            format!("{inner} [{rest} ...]")
        } else {
            format!("{inner} [{inner} ...]")
        };
    }
    if arg.optional {
        inner = format!("[{inner}]");
    }
    inner
}

/// A name fit for Rust: lowercase, `_` for anything else, no keyword.
fn ident(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    let out = out.trim_matches('_').to_string();
    let out = if out.is_empty() { "arg".into() } else { out };
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("n{out}");
    }
    match out.as_str() {
        "type" | "match" | "async" | "ref" | "where" | "move" | "fn" | "in" | "loop" | "mod"
        | "use" | "self" | "super" | "crate" | "as" | "box" | "const" | "do" | "dyn" | "else"
        | "enum" | "extern" | "false" | "final" | "for" | "if" | "impl" | "let" | "macro"
        | "mut" | "override" | "priv" | "pub" | "return" | "static" | "struct" | "trait"
        | "true" | "try" | "typeof" | "unsafe" | "unsized" | "virtual" | "while" | "yield"
        | "await" | "new" | "default" => format!("{out}_"),
        _ => out,
    }
}

fn camel(name: &str) -> String {
    ident(name)
        .trim_end_matches('_')
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A Rust string literal.
fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// One parameter of a generated method or builder method.
#[derive(Debug, Clone)]
struct Param {
    name: String,
    ty: String,
    /// What the smoke test passes.
    dummy: String,
}

/// The parameters of a piece of a command line, and the expressions
/// (each [`ToArgs`]) that write it, in order.
#[derive(Debug, Default)]
struct Piece {
    params: Vec<Param>,
    writes: Vec<String>,
}

impl Piece {
    fn param(&mut self, name: &str, ty: &str, dummy: &str) -> String {
        let mut name = ident(name);
        while self.params.iter().any(|p| p.name == name) {
            name.push('2');
        }
        self.params.push(Param {
            name: name.clone(),
            ty: ty.into(),
            dummy: dummy.into(),
        });
        name
    }

    /// Forgets what was added since `mark` (a shape with no typed form).
    fn truncate(&mut self, mark: (usize, usize)) {
        self.params.truncate(mark.0);
        self.writes.truncate(mark.1);
    }

    fn mark(&self) -> (usize, usize) {
        (self.params.len(), self.writes.len())
    }
}

/// An enum the generator makes for a choice between tokens.
#[derive(Debug)]
struct Choice {
    name: String,
    tokens: Vec<(String, String)>,
    commands: BTreeSet<String>,
}

/// The generator's state: the enums made so far.
#[derive(Debug, Default)]
struct Types {
    choices: Vec<Choice>,
}

impl Types {
    /// The type of a choice between pure tokens, made once for each set of
    /// tokens.
    fn choice(&mut self, command: &str, arg: &Arg) -> (String, String) {
        let tokens: Vec<(String, String)> = arg
            .children
            .iter()
            .map(|c| (camel(&c.name), c.token.clone().unwrap_or_default()))
            .collect();
        let upper: Vec<&str> = tokens.iter().map(|(_, t)| t.as_str()).collect();
        match upper.as_slice() {
            ["LEFT", "RIGHT"] => {
                return (
                    "crate::Direction".into(),
                    "redis_paired::Direction::Left".into(),
                )
            }
            ["M", "KM", "FT", "MI"] => {
                return (
                    "crate::GeoUnit".into(),
                    "redis_paired::GeoUnit::Meters".into(),
                )
            }
            _ => {}
        }
        let first = tokens[0].0.clone();
        let dummy = |name: &str| format!("redis_paired::args::{name}::{first}");
        if let Some(choice) = self.choices.iter_mut().find(|c| c.tokens == tokens) {
            choice.commands.insert(command.into());
            return (format!("crate::args::{}", choice.name), dummy(&choice.name));
        }
        let words: Vec<&str> = tokens.iter().map(|(_, t)| t.as_str()).collect();
        let mut name = match words.as_slice() {
            ["MIN", "MAX"] => "MinMax".to_string(),
            ["BEFORE", "AFTER"] => "BeforeAfter".to_string(),
            _ => camel(&arg.name),
        };
        if self.choices.iter().any(|c| c.name == name) || name.is_empty() {
            name = format!("{}{}", camel(command), name);
        }
        self.choices.push(Choice {
            name: name.clone(),
            tokens,
            commands: BTreeSet::from([command.to_string()]),
        });
        (format!("crate::args::{name}"), dummy(&name))
    }

    fn is_token_choice(arg: &Arg) -> bool {
        arg.kind == "oneof"
            && arg.children.iter().all(|c| {
                c.kind == "pure-token" && c.token.as_deref().is_some_and(|t| !t.is_empty())
            })
    }

    fn is_yes_no(arg: &Arg) -> bool {
        let tokens: Vec<&str> = arg
            .children
            .iter()
            .filter_map(|c| c.token.as_deref())
            .collect();
        matches!(tokens.as_slice(), ["YES", "NO"] | ["ON", "OFF"])
    }

    /// Adds an argument that must be there to `piece`; false (and nothing
    /// added) when its shape has no typed form here, and the caller takes
    /// it as raw arguments.
    fn required(&mut self, command: &str, arg: &Arg, piece: &mut Piece) -> bool {
        let mark = piece.mark();
        let typed = self.try_required(command, arg, piece);
        if !typed {
            piece.truncate(mark);
        }
        typed
    }

    fn try_required(&mut self, command: &str, arg: &Arg, piece: &mut Piece) -> bool {
        let token = arg.token.as_deref().filter(|_| arg.kind != "pure-token");
        if let Some(token) = token {
            piece.writes.push(lit(token));
        }
        match arg.kind.as_str() {
            "pure-token" => piece.writes.push(lit(arg.token.as_deref().unwrap_or(""))),
            "key" | "string" | "pattern" | "integer" | "unix-time" | "double" => {
                if arg.multiple && arg.multiple_token {
                    return false;
                }
                let (ty, dummy) = match arg.kind.as_str() {
                    _ if arg.multiple => ("impl ToArgs", "[\"1\"]".to_string()),
                    "integer" | "unix-time" => ("i64", "1".into()),
                    "double" if arg.name == "timeout" => ("f64", "0.01".into()),
                    "double" => ("f64", "1.0".into()),
                    "key" => ("impl ToArgs", lit("smoke:key")),
                    _ => ("impl ToArgs", lit("1")),
                };
                let name = if arg.multiple {
                    plural(&arg.name)
                } else {
                    arg.name.clone()
                };
                let name = piece.param(&name, ty, &dummy);
                piece.writes.push(name);
            }
            "block" if arg.multiple => return false,
            "block" => {
                for child in &arg.children {
                    let typed = if child.optional {
                        self.optional_in_block(command, child, piece)
                    } else {
                        self.try_required(command, child, piece)
                    };
                    if !typed {
                        return false;
                    }
                }
            }
            "oneof" if arg.multiple => return false,
            "oneof" if Self::is_token_choice(arg) && Self::is_yes_no(arg) => {
                let yes = lit(arg.children[0].token.as_deref().unwrap_or(""));
                let no = lit(arg.children[1].token.as_deref().unwrap_or(""));
                let name = piece.param(&arg.name, "bool", "false");
                piece
                    .writes
                    .push(format!("if {name} {{ {yes} }} else {{ {no} }}"));
            }
            "oneof" if Self::is_token_choice(arg) => {
                let (ty, dummy) = self.choice(command, arg);
                let name = piece.param(&arg.name, &ty, &dummy);
                piece.writes.push(name);
            }
            _ => return false,
        }
        true
    }

    /// Adds an optional argument inside a block: an `Option` or a `bool`.
    fn optional_in_block(&mut self, command: &str, arg: &Arg, piece: &mut Piece) -> bool {
        let wrap = |v: &str| match &arg.token {
            Some(t) if arg.kind != "pure-token" => format!("{v}.map(|v| ({}, v))", lit(t)),
            _ => v.to_string(),
        };
        match arg.kind.as_str() {
            "pure-token" => {
                let name = piece.param(&arg.name, "bool", "false");
                let token = lit(arg.token.as_deref().unwrap_or(""));
                piece.writes.push(format!("{name}.then_some({token})"));
            }
            "integer" | "unix-time" if !arg.multiple => {
                let name = piece.param(&arg.name, "Option<i64>", "None");
                piece.writes.push(wrap(&name));
            }
            "double" if !arg.multiple => {
                let name = piece.param(&arg.name, "Option<f64>", "None");
                piece.writes.push(wrap(&name));
            }
            "oneof" if Self::is_token_choice(arg) && !arg.multiple => {
                let (ty, _) = self.choice(command, arg);
                let name = piece.param(&arg.name, &format!("Option<{ty}>"), "None");
                piece.writes.push(wrap(&name));
            }
            _ => return false,
        }
        true
    }
}

/// A method of the builder of a command's optional arguments.
#[derive(Debug)]
struct Setter {
    name: String,
    doc: String,
    slot: usize,
    append: bool,
    piece: Piece,
}

/// One generated command.
#[derive(Debug)]
struct Method {
    command: String,
    name: String,
    syntax: String,
    summary: String,
    since: String,
    group: String,
    words: Vec<String>,
    piece: Piece,
    /// The builder of the optional arguments, with where each goes.
    options: Option<(String, Vec<Setter>, usize)>,
    /// For each optional slot, its place among the writes.
    slot_at: Vec<(usize, usize)>,
    reply: String,
    /// The reply of the `_with` variant, whose options may change its shape.
    reply_with: String,
}

/// The name of a parameter that takes one or more of `name`.
fn plural(name: &str) -> String {
    if name.ends_with('s') {
        name.into()
    } else {
        format!("{name}s")
    }
}

/// Arguments that fit `arg`'s shape, for the smoke test: the first of each
/// choice, each repeated part once, no optional part.
fn sample(arg: &Arg, out: &mut Vec<String>) {
    if let Some(token) = &arg.token {
        out.push(token.clone());
    }
    match arg.kind.as_str() {
        "pure-token" => {}
        "block" => {
            for child in arg.children.iter().filter(|c| !c.optional) {
                sample(child, out);
            }
        }
        "oneof" => {
            if let Some(first) = arg.children.first() {
                sample(first, out);
            }
        }
        "key" => out.push("smoke:key".into()),
        _ => out.push("1".into()),
    }
}

fn raw(piece: &mut Piece, arg: &Arg) {
    let name = if arg.multiple {
        plural(&arg.name)
    } else {
        arg.name.clone()
    };
    let mut plain = arg.clone();
    plain.optional = false;
    plain.token = None;
    let mut words = Vec::new();
    sample(&plain, &mut words);
    let words: Vec<String> = words.iter().map(|w| lit(w)).collect();
    let dummy = format!("[{}]", words.join(", "));
    let name = piece.param(&name, "impl ToArgs", &dummy);
    piece.writes.push(name);
}

/// The setters of one optional argument.
fn setters(types: &mut Types, command: &str, arg: &Arg, slot: usize) -> Vec<Setter> {
    let doc = syntax(arg);
    let doc = doc
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .unwrap_or(&doc)
        .to_string();
    let name_of = |a: &Arg| match a.token.as_deref() {
        Some(t) if !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            ident(t)
        }
        _ => ident(&a.name),
    };
    let mut plain = arg.clone();
    plain.optional = false;
    if arg.kind == "oneof" && !arg.multiple {
        return arg
            .children
            .iter()
            .map(|alt| {
                let mut alt = alt.clone();
                alt.optional = false;
                let mut piece = Piece::default();
                if let Some(t) = &arg.token {
                    piece.writes.push(lit(t));
                }
                if !types.required(command, &alt, &mut piece) {
                    raw(&mut piece, &alt);
                }
                Setter {
                    name: name_of(&alt),
                    doc: syntax(&alt),
                    slot,
                    append: false,
                    piece,
                }
            })
            .collect();
    }
    let append = arg.multiple && arg.multiple_token;
    plain.multiple &= !append;
    let mut piece = Piece::default();
    if !types.required(command, &plain, &mut piece) {
        if let Some(t) = &arg.token {
            piece.writes.push(lit(t));
        }
        raw(&mut piece, arg);
    }
    vec![Setter {
        name: name_of(arg),
        doc,
        slot,
        append,
        piece,
    }]
}

fn method(
    types: &mut Types,
    command: &str,
    docs: &Value,
    arity: i64,
    reply: (&str, &str),
) -> Method {
    let args = parse_args(docs.get("arguments"));
    let words: Vec<String> = command.split('|').map(|w| w.to_uppercase()).collect();
    let name = RENAMED
        .iter()
        .find(|(c, _)| *c == command)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| ident(command).trim_end_matches('_').to_string());
    let mut piece = Piece::default();
    let mut setters_all = Vec::new();
    let mut slot_at = Vec::new();
    let mut slots = 0;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let counted = arg.kind == "integer"
            && arg.name == "numkeys"
            && args
                .get(i + 1)
                .is_some_and(|k| k.kind == "key" && k.multiple);
        if counted {
            let keys = &args[i + 1];
            let name = piece.param(&plural(&keys.name), "impl ToArgs", "[\"smoke:key\"]");
            piece
                .writes
                .push(format!("crate::commands::Counted({name})"));
            i += 2;
            continue;
        }
        if arg.optional {
            slot_at.push((slots, piece.writes.len()));
            setters_all.extend(setters(types, command, arg, slots));
            slots += 1;
        } else {
            if !types.required(command, arg, &mut piece) {
                raw(&mut piece, arg);
            }
        }
        i += 1;
    }
    // A command documented without its arguments (`COMMAND GETKEYS`): its
    // arity says they are there, so they are taken raw.
    let words_needed = usize::try_from(arity.unsigned_abs()).unwrap_or(0);
    if args.is_empty() && words_needed > words.len() {
        let name = piece.param("args", "impl ToArgs", "[\"1\"]");
        piece.writes.push(name);
    }
    for param in &mut piece.params {
        // A key of the command's own, so no command finds another's type.
        param.dummy = param
            .dummy
            .replace("smoke:key", &format!("smoke:{}", command.replace('|', ":")));
        if command.contains("lex") {
            match param.name.as_str() {
                "min" | "start" => param.dummy = lit("-"),
                "max" | "stop" => param.dummy = lit("+"),
                _ => {}
            }
        }
        if let Some((_, _, dummy)) = DUMMIES
            .iter()
            .find(|(c, p, _)| *c == command && *p == param.name)
        {
            param.dummy = dummy.to_string();
        }
    }
    // Setter names must differ within one builder.
    let mut seen = BTreeSet::new();
    for s in &mut setters_all {
        while !seen.insert(s.name.clone()) {
            s.name.push('2');
        }
    }
    let options =
        (!setters_all.is_empty()).then(|| (format!("{}Options", camel(&name)), setters_all, slots));
    let syntax_line = std::iter::once(words.join(" "))
        .chain(args.iter().map(syntax))
        .collect::<Vec<_>>()
        .join(" ");
    let text = |k: &str| {
        docs.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    Method {
        command: command.into(),
        name,
        syntax: syntax_line,
        summary: text("summary"),
        since: text("since"),
        group: text("group"),
        words,
        piece,
        options,
        slot_at,
        reply: reply.0.into(),
        reply_with: reply.1.into(),
    }
}

/// The three generated files.
#[derive(Debug)]
pub struct Generated {
    /// The methods of `Commands`, as a macro the trait expands.
    pub methods: String,
    /// The argument builders and choices (`redis_commands::args`).
    pub args: String,
    /// The live smoke test.
    pub smoke: String,
    /// How many methods were generated.
    pub count: usize,
    /// The README's sentence on the typed surface, with its counts.
    pub summary: String,
}

/// Where the README's sentence on the typed surface starts and ends.
pub const SUMMARY_MARKERS: (&str, &str) = ("<!-- typed-commands -->", "<!-- /typed-commands -->");

/// The README with its sentence on the typed surface replaced by
/// `summary`.
pub fn with_summary(readme: &str, summary: &str) -> Result<String, String> {
    let (open, close) = SUMMARY_MARKERS;
    let start = readme
        .find(open)
        .ok_or(format!("README.md has no {open}"))?
        + open.len();
    let end = readme[start..]
        .find(close)
        .ok_or(format!("README.md has no {close}"))?
        + start;
    Ok(format!("{}{summary}{}", &readme[..start], &readme[end..]))
}

/// `text` as `rustfmt` lays it out (the workspace's settings), so that the
/// generated files pass `cargo fmt --check` as they are written.
pub fn format(text: &str, root: &std::path::Path) -> Result<String, String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    let input = text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt failed: {e}"))?;
    writer
        .join()
        .map_err(|_| "writing to rustfmt panicked")?
        .map_err(|e| format!("cannot write to rustfmt: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt refused the generated code: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt wrote no UTF-8: {e}"))
}

/// Reads `commands/replies.txt`: `command type` a line, `#` comments.
fn replies(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (command, ty) = line
            .split_once(char::is_whitespace)
            .ok_or(format!("replies.txt:{}: `command type` expected", n + 1))?;
        if out
            .insert(command.to_string(), ty.trim().to_string())
            .is_some()
        {
            return Err(format!("replies.txt:{}: {command} twice", n + 1));
        }
    }
    Ok(out)
}

/// The Rust type of a reply as its `reply_schema` describes it, `None` for
/// a shape with no plain Rust type (a choice of shapes, a map of mixed
/// values, a schema with no type). A string is a `String`, so that a reply
/// of values, which the caller types, keeps its line in `replies.txt`.
pub(crate) fn schema_type(schema: &Value) -> Option<String> {
    if schema.get("const").and_then(Value::as_str) == Some("OK") {
        return Some("()".into());
    }
    if let Some(choices) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let consts: Vec<Option<i64>> = choices
            .iter()
            .map(|c| c.get("const").and_then(Value::as_i64))
            .collect();
        if consts == [Some(0), Some(1)] || consts == [Some(1), Some(0)] {
            return Some("bool".into());
        }
        let is_null = |c: &Value| c.get("type").and_then(Value::as_str) == Some("null");
        return match choices.as_slice() {
            [a, b] if is_null(b) => Some(format!("Option<{}>", schema_type(a)?)),
            [a, b] if is_null(a) => Some(format!("Option<{}>", schema_type(b)?)),
            _ => None,
        };
    }
    match schema.get("type")?.as_str()? {
        "integer" => Some("i64".into()),
        "number" => Some("f64".into()),
        "string" => Some("String".into()),
        "array" => match schema.get("items")? {
            Value::Array(items) => {
                let fixed = schema.get("minItems").and_then(Value::as_u64)
                    == Some(items.len() as u64)
                    && schema.get("maxItems").and_then(Value::as_u64) == Some(items.len() as u64);
                if !fixed {
                    return None;
                }
                let types: Option<Vec<String>> = items.iter().map(schema_type).collect();
                Some(format!("({})", types?.join(", ")))
            }
            items => Some(format!("Vec<{}>", schema_type(items)?)),
        },
        "object" => {
            let values: Vec<&Value> = match schema.get("additionalProperties") {
                Some(value @ Value::Object(_)) => vec![value],
                _ => schema.get("properties")?.as_object()?.values().collect(),
            };
            let types: Option<BTreeSet<String>> = values.into_iter().map(schema_type).collect();
            let types = types?;
            match types.len() {
                1 => Some(format!(
                    "std::collections::HashMap<String, {}>",
                    types.first()?
                )),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The methods, builders and smoke test of the catalogue: the snapshot
/// with the specifications.
pub fn generate(snapshot: &str, specs: &str, replies_text: &str) -> Result<Generated, String> {
    let catalogue = crate::catalogue::Catalogue::read(snapshot, specs)?;
    let (version, commands) = (&catalogue.version, &catalogue.commands);
    let mut replies = replies(replies_text)?;
    let mut types = Types::default();
    let mut methods = Vec::new();
    let mut names: Vec<&String> = commands.keys().collect();
    names.sort();
    let mut sendable = 0;
    let mut by_hand = 0;
    let mut from_schema = 0;
    let mut said_twice = Vec::new();
    for name in names {
        let docs = &commands[name]["docs"];
        let info = &commands[name]["info"];
        let mut entries: Vec<(String, &Value)> = Vec::new();
        match docs.get("subcommands").and_then(Value::as_object) {
            Some(subs) => {
                let mut subs: Vec<_> = subs.iter().collect();
                subs.sort_by(|a, b| a.0.cmp(b.0));
                entries.extend(subs.into_iter().map(|(n, d)| (n.clone(), d)));
            }
            None => entries.push((name.clone(), docs)),
        }
        for (command, docs) in entries {
            if command.ends_with("|help") || LEFT_OUT.contains(&command.as_str()) {
                continue;
            }
            sendable += 1;
            if HAND_WRITTEN.contains(&command.as_str()) {
                by_hand += 1;
                continue;
            }
            let schema = docs.get("reply_schema").and_then(schema_type);
            let reply = match (replies.remove(&command), schema) {
                (Some(kept), Some(schema)) if kept == schema => {
                    said_twice.push(command.clone());
                    kept
                }
                (Some(kept), _) => kept,
                (None, Some(schema)) => {
                    from_schema += 1;
                    schema
                }
                (None, None) => "T".into(),
            };
            let arity = if command.contains('|') {
                info.get(9)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|sub| sub.get(0).and_then(Value::as_str) == Some(command.as_str()))
                    .and_then(|sub| sub.get(1))
            } else {
                info.get(1)
            };
            let arity = arity.and_then(Value::as_i64).unwrap_or(0);
            let (base, with) = reply.split_once(" | ").unwrap_or((&reply, &reply));
            let mut m = method(&mut types, &command, docs, arity, (base, with));
            let (redis, valkey) = catalogue.since.get(&command).cloned().unwrap_or_default();
            m.since = match (redis, valkey) {
                _ if m.since.is_empty() => String::new(),
                _ if !catalogue.added.contains(&command) => format!("Redis {}", m.since),
                (Some(redis), Some(valkey)) => format!("Redis {redis} and Valkey {valkey}"),
                (Some(redis), None) => format!("Redis {redis} (not in Valkey 8.0)"),
                (None, Some(valkey)) => format!("Valkey {valkey} (not in Redis 7.2)"),
                (None, None) => String::new(),
            };
            methods.push(m);
        }
    }
    if let Some(stale) = replies.keys().next() {
        return Err(format!(
            "replies.txt names {stale}, which has no generated method"
        ));
    }
    if !said_twice.is_empty() {
        return Err(format!(
            "replies.txt gives the type their reply_schema gives to {}: drop those lines",
            said_twice.join(" ")
        ));
    }
    let added = catalogue.added.len();
    let summary = format!(
        "\n`Commands` has a typed method for each of the {sendable} commands and\n\
         subcommands of Redis {version}, Redis 7.2 and Valkey 8.0 that a paired\n\
         connection sends ({by_hand} written by hand, where a reply needs a real\n\
         type or the arguments read better so; {} generated from the catalogue,\n\
         with their optional arguments as builders in `redis_paired::args`, and\n\
         {from_schema} of their reply types from the servers' reply schemas). The\n\
         catalogue knows {added} commands and subcommands newer than Redis {version}.\n",
        methods.len()
    );
    Ok(Generated {
        summary,
        methods: write_methods(&methods),
        args: write_args(&methods, &types),
        smoke: write_smoke(&methods),
        count: methods.len(),
    })
}

const HEADER: &str = "// Generated by `cargo xtask gen-commands` from `commands/redis-7.0.json`,\n\
     // `commands/specs.json` and `commands/replies.txt`. Do not edit: change the\n\
     // generator or its inputs.\n";

fn generic(reply: &str) -> bool {
    reply
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|w| w == "T")
}

fn signature(out: &mut String, m: &Method, name: &str, with_options: bool) {
    let reply = if with_options {
        &m.reply_with
    } else {
        &m.reply
    };
    let generic = if generic(reply) { "<T: FromValue>" } else { "" };
    let mut params: Vec<String> = m
        .piece
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, p.ty))
        .collect();
    if with_options {
        if let Some((options, _, _)) = &m.options {
            params.push(format!("options: crate::args::{options}"));
        }
    }
    let _ = write!(out, "        fn {name}{generic}(self");
    for p in &params {
        let _ = write!(out, ", {p}");
    }
    let _ = writeln!(out, ") -> Self::Output<{reply}> {{");
}

fn body(out: &mut String, m: &Method, with_options: bool) {
    let pushes =
        m.words.len() - 1 + m.piece.writes.len() + if with_options { m.slot_at.len() } else { 0 };
    let binding = if pushes == 0 { "cmd" } else { "mut cmd" };
    let _ = writeln!(
        out,
        "            let {binding} = resp::Command::new({});",
        lit(&m.words[0])
    );
    for word in &m.words[1..] {
        let _ = writeln!(out, "            cmd.push_arg({});", lit(word));
    }
    // Each optional slot goes before the required write it precedes on the
    // command line, or after them all.
    let mut slots = m.slot_at.iter().filter(|_| with_options).peekable();
    for (i, w) in m.piece.writes.iter().enumerate() {
        while let Some((slot, _)) = slots.next_if(|(_, at)| *at == i) {
            let _ = writeln!(out, "            options.write_slot({slot}, &mut cmd);");
        }
        let _ = writeln!(out, "            cmd.push_arg({w});");
    }
    for (slot, _) in slots {
        let _ = writeln!(out, "            options.write_slot({slot}, &mut cmd);");
    }
    let _ = writeln!(out, "            self.queue_command(cmd)");
    let _ = writeln!(out, "        }}");
}

fn write_methods(methods: &[Method]) -> String {
    let mut out = String::from(HEADER);
    out.push_str(
        "\n/// The generated methods of `Commands`, one a command of the catalogue\n\
         /// that no hand-written method covers.\n\
         macro_rules! generated_commands {\n    () => {\n",
    );
    let reply_doc = |reply: &str| {
        let reply = reply.replace("crate::", "");
        if generic(&reply) {
            format!("The reply, as `{reply}` for the `T` the caller names.")
        } else {
            format!("The reply, as `{reply}`.")
        }
    };
    for m in methods {
        let since = if m.since.is_empty() {
            String::new()
        } else {
            format!(" Since {}.", m.since)
        };
        let summary = m.summary.trim_end_matches('.');
        let summary = if summary.is_empty() {
            "See the Redis documentation"
        } else {
            summary
        };
        let _ = writeln!(
            out,
            "        /// `{}`: {summary} ({} group).{since}",
            m.syntax, m.group
        );
        let _ = writeln!(out, "        ///");
        let _ = writeln!(out, "        /// {}", reply_doc(&m.reply));
        if m.options.is_some() {
            let _ = writeln!(
                out,
                "        /// The optional arguments are in [`{}_with`](Self::{}_with).",
                m.name, m.name
            );
        }
        signature(&mut out, m, &m.name, false);
        body(&mut out, m, false);
        if let Some((options, _, _)) = &m.options {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "        /// `{}`, with the optional arguments of [`{options}`](crate::args::{options}).",
                m.syntax
            );
            let _ = writeln!(out, "        ///");
            let _ = writeln!(out, "        /// {}", reply_doc(&m.reply_with));
            signature(&mut out, m, &format!("{}_with", m.name), true);
            body(&mut out, m, true);
        }
        out.push('\n');
    }
    out.push_str("    };\n}\n");
    out
}

fn write_args(methods: &[Method], types: &Types) -> String {
    let mut out = String::from(HEADER);
    out.push_str(
        "\n//! The arguments of the generated commands: a builder of each command's\n\
         //! optional arguments (`ZrangestoreOptions::new().rev().limit(0, 10)`) and an\n\
         //! enum for each choice between words (`Aggregate::Max`).\n\n\
         use resp::{Command, ToArgs};\n\nuse crate::commands::ArgSlot;\n",
    );
    for choice in &types.choices {
        let commands: Vec<String> = choice
            .commands
            .iter()
            .map(|c| format!("`{}`", c.replace('|', " ").to_uppercase()))
            .collect();
        let _ = writeln!(
            out,
            "\n/// One of {}, as {} takes it.",
            choice
                .tokens
                .iter()
                .map(|(_, t)| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", "),
            commands.join(", ")
        );
        let _ = writeln!(out, "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]");
        let _ = writeln!(out, "pub enum {} {{", choice.name);
        for (variant, token) in &choice.tokens {
            let _ = writeln!(out, "    /// `{token}`.");
            let _ = writeln!(out, "    {variant},");
        }
        let _ = writeln!(out, "}}\n");
        let _ = writeln!(out, "impl ToArgs for {} {{", choice.name);
        let _ = writeln!(out, "    fn write_args(&self, cmd: &mut Command) {{");
        let _ = writeln!(out, "        cmd.push_bulk(match self {{");
        for (variant, token) in &choice.tokens {
            let _ = writeln!(
                out,
                "            {}::{variant} => b{},",
                choice.name,
                lit(token)
            );
        }
        let _ = writeln!(out, "        }});");
        let _ = writeln!(out, "    }}");
        let _ = writeln!(out, "}}");
    }
    for m in methods {
        let Some((options, setters, slots)) = &m.options else {
            continue;
        };
        let _ = writeln!(
            out,
            "\n/// The optional arguments of `{}`, for [`{}_with`](crate::Commands::{}_with).",
            m.syntax, m.name, m.name
        );
        let _ = writeln!(out, "#[derive(Debug, Clone, Default)]");
        let _ = writeln!(out, "pub struct {options} {{");
        let _ = writeln!(out, "    slots: [ArgSlot; {slots}],");
        let _ = writeln!(out, "}}\n");
        let _ = writeln!(out, "impl {options} {{");
        let _ = writeln!(out, "    /// None of the optional arguments.");
        let _ = writeln!(out, "    pub fn new() -> {options} {{");
        let _ = writeln!(out, "        {options}::default()");
        let _ = writeln!(out, "    }}");
        for s in setters {
            let verb = if s.append { "Adds" } else { "Sets" };
            let _ = writeln!(out, "\n    /// {verb} `{}`.", s.doc);
            let params: String = s
                .piece
                .params
                .iter()
                .map(|p| format!(", {}: {}", p.name, p.ty))
                .collect();
            let _ = writeln!(
                out,
                "    pub fn {}(mut self{params}) -> {options} {{",
                s.name
            );
            let args = if s.piece.writes.len() == 1 {
                s.piece.writes[0].clone()
            } else {
                format!("({})", s.piece.writes.join(", "))
            };
            let call = if s.append { "append" } else { "set" };
            let _ = writeln!(out, "        self.slots[{}].{call}({args});", s.slot);
            let _ = writeln!(out, "        self");
            let _ = writeln!(out, "    }}");
        }
        let _ = writeln!(
            out,
            "\n    pub(crate) fn write_slot(&self, slot: usize, cmd: &mut Command) {{"
        );
        let _ = writeln!(out, "        self.slots[slot].write(cmd);");
        let _ = writeln!(out, "    }}");
        let _ = writeln!(out, "}}");
    }
    out
}

fn write_smoke(methods: &[Method]) -> String {
    let mut out = String::from(HEADER);
    out.push_str(
        "\n//! Sends every generated command once, with placeholder arguments, on\n\
         //! RESP2 and RESP3, to a server of its own: the server must understand\n\
         //! each command line (no syntax or arity error), and each reply it gives\n\
         //! must convert into the method's reply type. A command this server does\n\
         //! not have (the catalogue says which version of which server brought\n\
         //! it) must be refused as unknown.\n\n\
         mod smoke;\n\n\
         use redis_conn::{Error, Protocol};\n\
         use redis_paired::{Commands, PairedConnection};\n\
         use resp::Value;\n\n\
         #[tokio::test]\n\
         async fn every_generated_command_is_understood_and_its_reply_fits() {\n\
         \x20   let server = smoke::server();\n\
         \x20   let mut report = smoke::Report::new(&server.url()).await;\n\
         \x20   for protocol in [Protocol::Resp2, Protocol::Resp3] {\n\
         \x20       let conn = smoke::connect(&server, protocol).await;\n\
         \x20       for (command, outcome) in send_all(&conn).await {\n\
         \x20           report.add(protocol, command, outcome);\n\
         \x20       }\n\
         \x20   }\n\
         \x20   report.check();\n\
         }\n\n\
         #[tokio::test]\n\
         async fn cluster_commands_are_answered_by_a_cluster_node() {\n\
         \x20   let cluster = xtask::TestCluster::get().expect(\"a cluster starts\");\n\
         \x20   let mut report = smoke::Report::new(&cluster.seed_urls()[0]).await;\n\
         \x20   for protocol in [Protocol::Resp2, Protocol::Resp3] {\n\
         \x20       let conn = smoke::connect_url(&cluster.seed_urls()[0], protocol).await;\n\
         \x20       for (command, outcome) in send_cluster(&conn).await {\n\
         \x20           report.add(protocol, command, outcome);\n\
         \x20       }\n\
         \x20   }\n\
         \x20   report.check_all_answered();\n\
         }\n\n\
         /// Each command's name and the outcome of sending it.\n\
         async fn send_all(conn: &PairedConnection) -> Vec<(&'static str, Result<(), Error>)> {\n\
         \x20   let mut outcomes = Vec::new();\n",
    );
    smoke_calls(
        &mut out,
        methods
            .iter()
            .filter(|m| !NOT_SMOKED.contains(&m.command.as_str())),
    );
    out.push_str(
        "    outcomes\n}\n\n\
         /// The cluster commands that only read, sent to a cluster node.\n\
         async fn send_cluster(conn: &PairedConnection) -> Vec<(&'static str, Result<(), Error>)> {\n\
         \x20   let mut outcomes = Vec::new();\n",
    );
    smoke_calls(
        &mut out,
        methods
            .iter()
            .filter(|m| SMOKED_ON_A_CLUSTER.contains(&m.command.as_str())),
    );
    out.push_str("    outcomes\n}\n");
    out
}

/// One smoke-test call a method, with its placeholder arguments.
fn smoke_calls<'m>(out: &mut String, methods: impl Iterator<Item = &'m Method>) {
    for m in methods {
        let turbofish = if generic(&m.reply) { "::<Value>" } else { "" };
        let args: Vec<&str> = m.piece.params.iter().map(|p| p.dummy.as_str()).collect();
        let _ = writeln!(
            out,
            "    outcomes.push(({}, conn.{}{turbofish}({}).await.map(drop)));",
            lit(&m.command),
            m.name,
            args.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_reads_as_the_documentation() {
        let args = parse_args(Some(
            &serde_json::from_str(
                r#"[{"name":"key","type":"key"},
                    {"name":"o","type":"block","token":"LIMIT","flags":["optional"],
                     "arguments":[{"name":"offset","type":"integer"},{"name":"count","type":"integer"}]},
                    {"name":"pattern","type":"pattern","token":"GET","flags":["optional","multiple","multiple_token"]},
                    {"name":"w","type":"oneof","flags":["optional"],
                     "arguments":[{"name":"nx","type":"pure-token","token":"NX"},{"name":"xx","type":"pure-token","token":"XX"}]}]"#,
            )
            .unwrap(),
        ));
        let text: Vec<String> = args.iter().map(syntax).collect();
        assert_eq!(
            text,
            [
                "key",
                "[LIMIT offset count]",
                "[GET pattern [GET pattern ...]]",
                "[NX | XX]"
            ]
        );
    }

    #[test]
    fn names_are_rust_identifiers() {
        assert_eq!(ident("client|no-evict"), "client_no_evict");
        assert_eq!(ident("ip:port"), "ip_port");
        assert_eq!(ident("type"), "type_");
        assert_eq!(
            camel("normal_master_slave_pubsub"),
            "NormalMasterSlavePubsub"
        );
    }
}
