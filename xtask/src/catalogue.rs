//! The command catalogue: the server's own description of its commands
//! (`COMMAND DOCS` and `COMMAND INFO`), kept as a snapshot in the
//! repository, beside the command specifications of newer servers (the
//! `src/commands/*.json` of Redis 7.2 and Valkey 8.0, as [`specs`] keeps
//! them), and the Rust table generated from both.
//!
//! `cargo xtask gen-commands` asks a throwaway `redis-server` for both
//! replies ([`snapshot`]) and writes the table ([`generate`]); a test of this
//! package checks that the table in the repository is what the snapshot
//! and the specifications generate, so none drifts from the others.
//!
//! The snapshot is what Redis 7.0 says of its commands, and the table keeps
//! it as it is; the specifications add the commands 7.0 does not have, and
//! say which version of each server brought every command.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value};

/// Where the snapshot lives, from the workspace root.
pub const SNAPSHOT_PATH: &str = "redis-commands/commands/redis-7.0.json";

/// Where the kept command specifications live, from the workspace root.
pub const SPECS_PATH: &str = "redis-commands/commands/specs.json";

/// Where the licences of the specifications live, from the workspace root.
pub const LICENCES_PATH: &str = "redis-commands/commands/licences";

/// The servers whose specifications the catalogue reads: the server's
/// name, the folder of its `*.json` files (with its `COPYING`) and the
/// version they are of.
pub const SPEC_SOURCES: &[(&str, &str, &str)] = &[
    ("redis", "redis-7.2", "7.2.6"),
    ("valkey", "valkey-8.0", "8.0.1"),
];

/// Where the generated table lives, from the workspace root.
pub const TABLE_PATH: &str = "redis-commands/src/catalogue/table.rs";

/// The snapshot text for the server `version`, from the JSON of
/// `COMMAND DOCS` (an object by command name) and of `COMMAND INFO` (an
/// array), as `redis-cli --json` prints them.
///
/// One command a line, sorted by name, so that a new server version shows
/// up in a review as the commands that changed.
pub fn snapshot(version: &str, docs: &str, info: &str) -> Result<String, String> {
    let docs: Map<String, Value> =
        serde_json::from_str(docs).map_err(|e| format!("COMMAND DOCS is not JSON: {e}"))?;
    let info: Vec<Value> =
        serde_json::from_str(info).map_err(|e| format!("COMMAND INFO is not JSON: {e}"))?;
    let mut commands = BTreeMap::new();
    for entry in info {
        let name = entry
            .get(0)
            .and_then(Value::as_str)
            .ok_or("a COMMAND INFO entry without a name")?
            .to_string();
        let doc = docs
            .get(&name)
            .cloned()
            .ok_or_else(|| format!("{name} has no COMMAND DOCS entry"))?;
        let mut both = Map::new();
        both.insert("info".into(), entry);
        both.insert("docs".into(), doc);
        commands.insert(name, Value::Object(both));
    }
    let mut out = String::new();
    let version = Value::String(version.into());
    let _ = writeln!(out, "{{\"redis_version\": {version}, \"commands\": {{");
    let last = commands.len().saturating_sub(1);
    for (i, (name, command)) in commands.iter().enumerate() {
        let comma = if i == last { "" } else { "," };
        let _ = writeln!(out, "{}: {command}{comma}", Value::String(name.clone()));
    }
    out.push_str("}}\n");
    Ok(out)
}

/// The fields of a command specification the catalogue reads; the rest
/// (history, complexity, ACL categories, tips) is not kept.
const SPEC_FIELDS: &[&str] = &[
    "summary",
    "since",
    "group",
    "arity",
    "container",
    "command_flags",
    "key_specs",
    "arguments",
    "reply_schema",
];

/// The fields of an argument the catalogue reads.
const ARG_FIELDS: &[&str] = &[
    "name",
    "type",
    "token",
    "optional",
    "multiple",
    "multiple_token",
    "arguments",
];

/// The kept specifications, from the folders of [`SPEC_SOURCES`] in `dir`
/// (each a copy of a server's `src/commands/`): one command of one server a
/// line, as `[server, name, spec]` with `name` as `COMMAND INFO` spells it
/// (`client|no-touch`), sorted, and only the fields the catalogue reads.
pub fn specs(dir: &Path) -> Result<String, String> {
    let mut lines = BTreeMap::new();
    for (server, folder, _) in SPEC_SOURCES {
        let folder = dir.join(folder);
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| format!("cannot read {}: {e}", folder.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let file: Map<String, Value> = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
            for (name, spec) in file {
                let mut kept = Map::new();
                for field in SPEC_FIELDS {
                    if let Some(value) = spec.get(*field) {
                        kept.insert((*field).into(), value.clone());
                    }
                }
                if let Some(args) = kept.get_mut("arguments") {
                    trim_args(args);
                }
                if let Some(Value::Array(key_specs)) = kept.get_mut("key_specs") {
                    for key_spec in key_specs.iter_mut().filter_map(Value::as_object_mut) {
                        key_spec.remove("notes");
                    }
                }
                let full = match spec.get("container").and_then(Value::as_str) {
                    Some(container) => format!("{container}|{name}"),
                    None => name,
                }
                .to_lowercase();
                let line = Value::Array(vec![
                    Value::String((*server).into()),
                    Value::String(full.clone()),
                    Value::Object(kept),
                ]);
                lines.insert((*server, full), line);
            }
        }
    }
    let versions: Vec<String> = SPEC_SOURCES
        .iter()
        .map(|(server, _, version)| format!("{}: {}", Value::from(*server), Value::from(*version)))
        .collect();
    let mut out = format!("{{{}, \"commands\": [\n", versions.join(", "));
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.values().enumerate() {
        let comma = if i == last { "" } else { "," };
        let _ = writeln!(out, "{line}{comma}");
    }
    out.push_str("]}\n");
    Ok(out)
}

fn trim_args(args: &mut Value) {
    for arg in args.as_array_mut().into_iter().flatten() {
        if let Some(arg) = arg.as_object_mut() {
            arg.retain(|k, _| ARG_FIELDS.contains(&k.as_str()));
            if let Some(children) = arg.get_mut("arguments") {
                trim_args(children);
            }
        }
    }
}

/// The snapshot, read: the server's version and its commands by name.
pub(crate) struct Snapshot {
    pub(crate) version: String,
    pub(crate) commands: Map<String, Value>,
}

impl Snapshot {
    pub(crate) fn read(text: &str) -> Result<Snapshot, String> {
        let mut snapshot: Value =
            serde_json::from_str(text).map_err(|e| format!("the snapshot is not JSON: {e}"))?;
        let version = snapshot
            .get("redis_version")
            .and_then(Value::as_str)
            .ok_or("the snapshot names no redis_version")?
            .to_string();
        let Some(Value::Object(commands)) = snapshot.get_mut("commands").map(Value::take) else {
            return Err("the snapshot has no commands".into());
        };
        Ok(Snapshot { version, commands })
    }
}

/// The version of each server that brought a command: Redis, then Valkey;
/// `None` when that server (in the newest version read) does not have it.
pub(crate) type Since = (Option<String>, Option<String>);

/// The snapshot with the specifications merged in: every command of the
/// snapshot as it is, the commands it does not have converted to its form
/// (`info` as `COMMAND INFO`, `docs` as `COMMAND DOCS`), each command's
/// `reply_schema` in its `docs`, and who has each command since when.
pub(crate) struct Catalogue {
    /// The version of the snapshot's server.
    pub(crate) version: String,
    /// The commands by name, as in the snapshot.
    pub(crate) commands: Map<String, Value>,
    /// The version of each server that brought each command and
    /// subcommand, by the full name (`client|no-touch`).
    pub(crate) since: BTreeMap<String, Since>,
    /// The commands the snapshot does not have, by the full name.
    pub(crate) added: Vec<String>,
}

impl Catalogue {
    pub(crate) fn read(snapshot: &str, specs: &str) -> Result<Catalogue, String> {
        let Snapshot {
            version,
            mut commands,
        } = Snapshot::read(snapshot)?;
        let specs: Value =
            serde_json::from_str(specs).map_err(|e| format!("the specs are not JSON: {e}"))?;
        let mut by_server: BTreeMap<&str, BTreeMap<String, &Value>> = BTreeMap::new();
        for line in specs
            .get("commands")
            .and_then(Value::as_array)
            .ok_or("the specs have no commands")?
        {
            let (Some(server), Some(name), Some(spec)) = (
                line.get(0).and_then(Value::as_str),
                line.get(1).and_then(Value::as_str),
                line.get(2),
            ) else {
                return Err(format!("a specs line is not [server, name, spec]: {line}"));
            };
            // Sentinel's own commands are not those of a data server.
            if has_flag(spec, "ONLY_SENTINEL") {
                continue;
            }
            by_server
                .entry(server)
                .or_default()
                .insert(name.to_string(), spec);
        }
        let redis = by_server.remove("redis").unwrap_or_default();
        let valkey = by_server.remove("valkey").unwrap_or_default();
        let mut since = BTreeMap::new();
        for (name, command) in &commands {
            let docs = &command["docs"];
            since.insert(name.clone(), (Some(text(docs, "since")), None));
            let subs = docs.get("subcommands").and_then(Value::as_object);
            for (sub, sub_docs) in subs.into_iter().flatten() {
                since.insert(sub.clone(), (Some(text(sub_docs, "since")), None));
            }
        }
        let mut added = Vec::new();
        // Containers before their subcommands: `client` sorts before
        // `client|capa`.
        for (server, specs) in [(0, &redis), (1, &valkey)] {
            for (name, spec) in specs {
                let entry = since.entry(name.clone()).or_insert((None, None));
                let known = entry.0.is_some() || entry.1.is_some();
                let brought = Some(text(spec, "since"));
                if server == 0 {
                    entry.0 = entry.0.take().or(brought);
                } else {
                    entry.1 = brought;
                }
                if !known {
                    add(&mut commands, name, spec)?;
                    added.push(name.clone());
                }
            }
        }
        // Every command's reply schema, Redis's where it has one.
        for (name, spec) in valkey.iter().chain(&redis) {
            if let Some(schema) = spec.get("reply_schema") {
                if let Some(docs) = docs_mut(&mut commands, name) {
                    docs.insert("reply_schema".into(), schema.clone());
                }
            }
        }
        Ok(Catalogue {
            version,
            commands,
            since,
            added,
        })
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn has_flag(spec: &Value, flag: &str) -> bool {
    spec.get("command_flags")
        .and_then(Value::as_array)
        .is_some_and(|flags| flags.iter().any(|f| f.as_str() == Some(flag)))
}

/// The `docs` of the command or subcommand `name` in `commands`.
fn docs_mut<'a>(
    commands: &'a mut Map<String, Value>,
    name: &str,
) -> Option<&'a mut Map<String, Value>> {
    match name.split_once('|') {
        None => commands.get_mut(name)?.get_mut("docs")?.as_object_mut(),
        Some((container, _)) => commands
            .get_mut(container)?
            .get_mut("docs")?
            .get_mut("subcommands")?
            .get_mut(name)?
            .as_object_mut(),
    }
}

/// Adds the command of the specification `spec` to `commands`, converted
/// to the snapshot's form.
fn add(commands: &mut Map<String, Value>, name: &str, spec: &Value) -> Result<(), String> {
    let key_specs: Vec<Value> = spec
        .get("key_specs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(key_spec)
        .collect();
    let mut flags: Vec<Value> = spec
        .get("command_flags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|f| Value::String(f.to_lowercase()))
        .collect();
    // The server adds `movablekeys` where the keys are not at fixed places.
    let movable = key_specs.iter().any(|k| {
        k.pointer("/begin_search/type").and_then(Value::as_str) != Some("index")
            || k.pointer("/find_keys/type").and_then(Value::as_str) != Some("range")
    });
    if movable {
        flags.push("movablekeys".into());
    }
    let info = serde_json::json!([
        name,
        spec.get("arity").cloned().unwrap_or(Value::from(0)),
        flags,
        0,
        0,
        0,
        [],
        [],
        key_specs,
        []
    ]);
    let mut docs = Map::new();
    for field in ["summary", "since", "group"] {
        if let Some(value) = spec.get(field) {
            docs.insert(field.into(), value.clone());
        }
    }
    if let Some(args) = spec.get("arguments") {
        docs.insert("arguments".into(), docs_args(args));
    }
    match name.split_once('|') {
        None => {
            let mut both = Map::new();
            both.insert("info".into(), info);
            both.insert("docs".into(), Value::Object(docs));
            commands.insert(name.into(), Value::Object(both));
        }
        Some((container, _)) => {
            let command = commands
                .get_mut(container)
                .ok_or(format!("{name}: no container {container}"))?;
            if let Some(Value::Array(subs)) = command.get_mut("info").and_then(|i| i.get_mut(9)) {
                subs.push(info);
            }
            let container_docs = command
                .get_mut("docs")
                .and_then(Value::as_object_mut)
                .ok_or(format!("{container} has no docs"))?;
            let subs = container_docs
                .entry("subcommands")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(subs) = subs.as_object_mut() {
                subs.insert(name.into(), Value::Object(docs));
            }
        }
    }
    Ok(())
}

/// A key specification of the specs in `COMMAND INFO`'s form.
fn key_spec(spec: &Value) -> Value {
    let flags: Vec<Value> = spec
        .get("flags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|f| match f {
            "RO" | "RW" | "OW" | "RM" => Value::from(f),
            _ => Value::from(f.to_lowercase()),
        })
        .collect();
    // `{"index": {"pos": 1}}` becomes `{"type": "index", "spec": {"index": 1}}`.
    let part = |key: &str, renames: &[(&str, &str)]| {
        let Some((kind, fields)) = spec
            .get(key)
            .and_then(Value::as_object)
            .and_then(|o| o.iter().next())
        else {
            return serde_json::json!({"type": "unknown", "spec": {}});
        };
        let mut out = Map::new();
        for (field, value) in fields.as_object().into_iter().flatten() {
            let field = renames
                .iter()
                .find(|(from, _)| from == field)
                .map_or(field.as_str(), |(_, to)| to);
            out.insert(field.into(), value.clone());
        }
        serde_json::json!({"type": kind, "spec": out})
    };
    serde_json::json!({
        "flags": flags,
        "begin_search": part("begin_search", &[("pos", "index")]),
        "find_keys": part("find_keys", &[("step", "keystep")]),
    })
}

/// Arguments of the specs in `COMMAND DOCS`'s form: `optional`, `multiple`
/// and `multiple_token` as `flags`.
fn docs_args(args: &Value) -> Value {
    let truthy = |v: Option<&Value>| {
        matches!(v, Some(Value::Bool(true))) || v.and_then(Value::as_str) == Some("true")
    };
    Value::Array(
        args.as_array()
            .into_iter()
            .flatten()
            .map(|arg| {
                let mut out = Map::new();
                for field in ["name", "type", "token"] {
                    if let Some(value) = arg.get(field) {
                        out.insert(field.into(), value.clone());
                    }
                }
                let flags: Vec<Value> = ["optional", "multiple", "multiple_token"]
                    .into_iter()
                    .filter(|f| truthy(arg.get(*f)))
                    .map(Value::from)
                    .collect();
                if !flags.is_empty() {
                    out.insert("flags".into(), Value::Array(flags));
                }
                if let Some(children) = arg.get("arguments") {
                    out.insert("arguments".into(), docs_args(children));
                }
                Value::Object(out)
            })
            .collect(),
    )
}

/// The Rust table of the snapshot and the specifications: one
/// `CommandInfo` a command, sorted by name, with its subcommands, key
/// specifications, flags, docs and the versions that brought it.
pub fn generate(snapshot: &str, specs: &str) -> Result<String, String> {
    let catalogue = Catalogue::read(snapshot, specs)?;
    let (version, commands) = (&catalogue.version, &catalogue.commands);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by `cargo xtask gen-commands` from `commands/redis-7.0.json`\n\
         // (Redis {version}) and `commands/specs.json` (Redis 7.2, Valkey 8.0).\n\
         // Do not edit: change the generator or its inputs.\n\n\
         use super::{{BeginSearch, CommandInfo, FindKeys, KeySpec}};\n\n\
         /// Every command of the catalogue, sorted by name.\n\
         pub(super) static COMMANDS: &[CommandInfo] = &["
    );
    // A BTreeMap iterates in name order already; sort anyway, since the
    // lookup relies on it.
    let mut names: Vec<&String> = commands.keys().collect();
    names.sort();
    for name in names {
        let command = &commands[name];
        let info = command.get("info").ok_or(format!("{name} has no info"))?;
        let docs = command.get("docs").ok_or(format!("{name} has no docs"))?;
        write_command(&mut out, &catalogue.since, name, info, docs, 1)?;
    }
    out.push_str("];\n");
    Ok(out)
}

fn write_command(
    out: &mut String,
    since: &BTreeMap<String, Since>,
    name: &str,
    info: &Value,
    docs: &Value,
    depth: usize,
) -> Result<(), String> {
    let pad = "    ".repeat(depth);
    let field = |i: usize| info.get(i).ok_or(format!("{name}: short COMMAND INFO"));
    let arity = field(1)?
        .as_i64()
        .ok_or(format!("{name}: arity is not a number"))?;
    let flags = strings(field(2)?);
    let short = name.rsplit('|').next().unwrap_or(name);
    let text = |key: &str| docs.get(key).and_then(Value::as_str).unwrap_or("");
    let _ = writeln!(out, "{pad}CommandInfo {{");
    let _ = writeln!(out, "{pad}    name: {short:?},");
    let _ = writeln!(out, "{pad}    arity: {arity},");
    let _ = writeln!(out, "{pad}    flags: &{flags:?},");
    let _ = writeln!(out, "{pad}    group: {:?},", text("group"));
    let _ = writeln!(out, "{pad}    since: {:?},", text("since"));
    let (redis, valkey) = since.get(name).cloned().unwrap_or_default();
    let _ = writeln!(out, "{pad}    redis_since: {redis:?},");
    let _ = writeln!(out, "{pad}    valkey_since: {valkey:?},");
    let _ = writeln!(out, "{pad}    summary: {:?},", text("summary"));
    let _ = writeln!(out, "{pad}    key_specs: &[");
    for spec in field(8)?.as_array().into_iter().flatten() {
        write_key_spec(out, name, spec, depth + 2)?;
    }
    let _ = writeln!(out, "{pad}    ],");
    let _ = writeln!(out, "{pad}    subcommands: &[");
    let mut subcommands: Vec<&Value> = info
        .get(9)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    subcommands.sort_by_key(|s| s.get(0).and_then(Value::as_str).unwrap_or(""));
    for sub in subcommands {
        let sub_name = sub
            .get(0)
            .and_then(Value::as_str)
            .ok_or(format!("{name}: a subcommand without a name"))?;
        let sub_docs = docs
            .get("subcommands")
            .and_then(|s| s.get(sub_name))
            .unwrap_or(&Value::Null);
        write_command(out, since, sub_name, sub, sub_docs, depth + 2)?;
    }
    let _ = writeln!(out, "{pad}    ],");
    let _ = writeln!(out, "{pad}}},");
    Ok(())
}

fn write_key_spec(out: &mut String, name: &str, spec: &Value, depth: usize) -> Result<(), String> {
    let pad = "    ".repeat(depth);
    let int = |part: &str, key: &str| {
        spec.get(part)
            .and_then(|p| p.get("spec"))
            .and_then(|s| s.get(key))
            .and_then(Value::as_i64)
            .ok_or(format!("{name}: key spec {part} without {key}"))
    };
    let kind = |part: &str| {
        spec.get(part)
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
    };
    let begin = match kind("begin_search") {
        "index" => format!("BeginSearch::Index({})", int("begin_search", "index")?),
        "keyword" => {
            let keyword = spec
                .pointer("/begin_search/spec/keyword")
                .and_then(Value::as_str)
                .ok_or(format!("{name}: keyword key spec without its keyword"))?;
            format!(
                "BeginSearch::Keyword {{ keyword: {keyword:?}, start_from: {} }}",
                int("begin_search", "startfrom")?
            )
        }
        _ => "BeginSearch::Unknown".into(),
    };
    let find = match kind("find_keys") {
        "range" => format!(
            "FindKeys::Range {{ last_key: {}, key_step: {}, limit: {} }}",
            int("find_keys", "lastkey")?,
            int("find_keys", "keystep")?,
            int("find_keys", "limit")?
        ),
        "keynum" => format!(
            "FindKeys::KeyNum {{ key_num_index: {}, first_key: {}, key_step: {} }}",
            int("find_keys", "keynumidx")?,
            int("find_keys", "firstkey")?,
            int("find_keys", "keystep")?
        ),
        _ => "FindKeys::Unknown".into(),
    };
    let flags = strings(spec.get("flags").unwrap_or(&Value::Null));
    let _ = writeln!(
        out,
        "{pad}KeySpec {{ flags: &{flags:?}, begin: {begin}, find: {find} }},"
    );
    Ok(())
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = r#"{"get":{"summary":"Get the value of a key","since":"1.0.0","group":"string","arguments":[]},
        "client":{"summary":"A container","since":"2.4.0","group":"connection",
                  "subcommands":{"client|id":{"summary":"Returns the client ID","since":"5.0.0","group":"connection"}}}}"#;
    const INFO: &str = r#"[["get",2,["readonly","fast"],1,1,1,["@read"],[],
        [{"flags":["RO","access"],"begin_search":{"type":"index","spec":{"index":1}},
          "find_keys":{"type":"range","spec":{"lastkey":0,"keystep":1,"limit":0}}}],[]],
        ["client",-2,[],0,0,0,["@slow"],[],[],[["client|id",2,["noscript"],0,0,0,[],[],[],[]]]]]"#;

    #[test]
    fn the_snapshot_is_one_command_a_line_and_generates_the_table() {
        let text = snapshot("7.0.15", DOCS, INFO).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("\"client\": "));
        let table = generate(&text, SPECS).unwrap();
        assert!(
            table.contains("name: \"get\",\n        arity: 2,"),
            "{table}"
        );
        assert!(table.contains(
            "KeySpec { flags: &[\"RO\", \"access\"], begin: BeginSearch::Index(1), \
             find: FindKeys::Range { last_key: 0, key_step: 1, limit: 0 } },"
        ));
        assert!(table.contains("name: \"id\","), "{table}");
        assert!(table.contains("summary: \"Returns the client ID\","));
    }

    const SPECS: &str = r#"{"redis": "7.2.6", "valkey": "8.0.1", "commands": [
        ["redis", "client|no-touch", {"since": "7.2.0", "arity": 3, "container": "CLIENT", "group": "connection", "command_flags": ["NOSCRIPT"], "summary": "Controls whether commands sent by the client affect the LRU/LFU of accessed keys", "arguments": [{"name": "enabled", "type": "oneof", "arguments": [{"name": "on", "type": "pure-token", "token": "ON"}, {"name": "off", "type": "pure-token", "token": "OFF"}]}], "reply_schema": {"const": "OK"}}],
        ["redis", "get", {"since": "1.0.0", "arity": 2, "group": "string"}],
        ["valkey", "client|capa", {"since": "8.0.0", "arity": -3, "container": "CLIENT", "group": "connection", "arguments": [{"name": "capability", "type": "string", "multiple": "true"}]}],
        ["valkey", "client|no-touch", {"since": "7.2.0", "arity": 3, "container": "CLIENT", "group": "connection"}],
        ["valkey", "sentinel|primaries", {"since": "8.0.0", "arity": 2, "container": "SENTINEL", "command_flags": ["ONLY_SENTINEL"]}],
        ["valkey", "zmove", {"since": "8.0.0", "arity": 4, "group": "sorted_set", "command_flags": ["WRITE"], "key_specs": [{"flags": ["RW", "UPDATE"], "begin_search": {"index": {"pos": 1}}, "find_keys": {"range": {"lastkey": 1, "step": 1, "limit": 0}}}]}]
    ]}"#;

    #[test]
    fn the_specifications_add_newer_commands_and_who_brought_each() {
        let text = snapshot("7.0.15", DOCS, INFO).unwrap();
        let table = generate(&text, SPECS).unwrap();
        assert!(
            table.contains("name: \"get\",\n        arity: 2,"),
            "{table}"
        );
        assert!(table.contains("since: \"1.0.0\",\n        redis_since: Some(\"1.0.0\"),\n        valkey_since: None,"), "{table}");
        assert!(table.contains("name: \"no-touch\","), "{table}");
        assert!(
            table.contains(
                "redis_since: Some(\"7.2.0\"),\n                valkey_since: Some(\"7.2.0\"),"
            ),
            "{table}"
        );
        assert!(table.contains("name: \"capa\","), "{table}");
        assert!(
            table.contains("redis_since: None,\n                valkey_since: Some(\"8.0.0\"),"),
            "{table}"
        );
        // A key specification in `COMMAND INFO`'s form.
        assert!(
            table.contains(
                "KeySpec { flags: &[\"RW\", \"update\"], begin: BeginSearch::Index(1), \
             find: FindKeys::Range { last_key: 1, key_step: 1, limit: 0 } },"
            ),
            "{table}"
        );
        // Sentinel's own commands are left out.
        assert!(!table.contains("primaries"), "{table}");
        let catalogue = Catalogue::read(&text, SPECS).unwrap();
        assert_eq!(catalogue.added, ["client|no-touch", "client|capa", "zmove"]);
    }

    #[test]
    fn a_command_without_docs_is_an_error() {
        let err = snapshot("7.0.15", "{}", INFO).unwrap_err();
        assert!(err.contains("get has no COMMAND DOCS entry"), "{err}");
    }
}
