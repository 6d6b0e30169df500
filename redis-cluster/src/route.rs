//! Where a command goes in a cluster, decided from its keys as the server's
//! own key specifications find them: the catalogue's
//! (`redis_commands::catalogue`), or, for a command it does not know, those
//! the server gave when asked (`LearnedCommand`). Pure.

use redis_commands::catalogue::{self, LearnedCommand};
use resp::Command;

use crate::slot::key_slot;

/// Where a command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To the owner of this slot: every key of the command is in it (or
    /// the keys are in several slots and the owner of the first will refuse
    /// with `CROSSSLOT`, as the server decides).
    Slot(u16),
    /// No keys: to any primary.
    Any,
    /// To every primary, the replies merged.
    All(Merge),
    /// Keys in several slots of a command that is the same command on each
    /// part of its keys: split by slot, sent in parallel, merged.
    Split(Split),
}

/// How the replies of a command sent to every primary become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Every primary must succeed; the first reply is the answer
    /// (`FLUSHALL`, `SCRIPT LOAD`: the same everywhere).
    AllSucceed,
    /// The integer replies added up (`DBSIZE`).
    Sum,
    /// The array replies one after the other (`KEYS`).
    Concat,
}

/// A multi-key command split by slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `MGET`: one key an argument, the values put back in the caller's
    /// order.
    MGet,
    /// `MSET`: key and value pairs; `OK` once every part is set. (Not
    /// atomic across slots, as no cluster command is.)
    MSet,
    /// `DEL`, `UNLINK`, `EXISTS`, `TOUCH`: one key an argument, the counts
    /// added up.
    Count,
}

/// Where `cmd` goes, by the catalogue; a command it does not know goes to
/// the owner of its first argument, as if that were its key (what a
/// [`ClusterConnection`](crate::ClusterConnection) does until the server
/// has said where the command's keys are).
pub fn route(cmd: &Command) -> Route {
    route_known(cmd).unwrap_or_else(|| route_learned(cmd, None))
}

/// Where `cmd` goes, by the catalogue: `None` when it does not know the
/// command. No lock and no allocation for a command it knows.
pub(crate) fn route_known(cmd: &Command) -> Option<Route> {
    let info = catalogue::lookup(cmd);
    // The slot of the first key, and whether every other key shares it.
    let mut first: Option<u16> = None;
    let mut one_slot = true;
    if let Some(info) = info {
        info.each_key(cmd, |key| {
            let slot = key_slot(key);
            match first {
                None => first = Some(slot),
                Some(first) => one_slot &= first == slot,
            }
        });
    }
    // The name is read again only off the common path.
    let is = |n: &str| cmd.name().eq_ignore_ascii_case(n.as_bytes());
    let Some(slot) = first else {
        // The commands sent to every primary, and the sharded channels,
        // have no keys: only a command without any can be one of them.
        if let Some(merge) = fan_out(cmd) {
            return Some(Route::All(merge));
        }
        // A sharded channel is no key to `COMMAND GETKEYS`, but it is
        // hashed like one.
        if is("SPUBLISH") || is("SSUBSCRIBE") || is("SUNSUBSCRIBE") {
            return Some(match cmd.args().nth(1) {
                Some(channel) => Route::Slot(key_slot(channel)),
                None => Route::Any,
            });
        }
        info?;
        return Some(Route::Any);
    };
    if one_slot {
        return Some(Route::Slot(slot));
    }
    let split = if is("MGET") {
        Some(Split::MGet)
    } else if is("MSET") {
        Some(Split::MSet)
    } else if is("DEL") || is("UNLINK") || is("EXISTS") || is("TOUCH") {
        Some(Split::Count)
    } else {
        None
    };
    Some(match split {
        Some(split) => Route::Split(split),
        None => Route::Slot(slot),
    })
}

/// Where `cmd`, a command the catalogue does not know, goes by what the
/// server said of it (`learned`): the owner of its keys (the first key's,
/// which refuses keys of several slots with `CROSSSLOT`), any primary when
/// it has none. When the server has not said (`None`: not asked yet, or it
/// does not know the name) or its key specifications cannot tell, the first
/// argument is taken for the key, as other clients do.
pub fn route_learned(cmd: &Command, learned: Option<&LearnedCommand>) -> Route {
    match keys_learned(cmd, learned).first() {
        Some(key) => Route::Slot(key_slot(key)),
        None => Route::Any,
    }
}

/// The keys of `cmd`, a command the catalogue does not know, by what the
/// server said of it (see [`route_learned`]).
pub(crate) fn keys_learned<'a>(
    cmd: &'a Command,
    learned: Option<&LearnedCommand>,
) -> Vec<&'a [u8]> {
    if let Some(learned) = learned {
        let keys = learned.keys(cmd);
        if !keys.keys.is_empty() || keys.complete {
            return keys.keys;
        }
    }
    cmd.args().nth(1).into_iter().collect()
}

/// The commands that act on every primary, and how their replies merge.
fn fan_out(cmd: &Command) -> Option<Merge> {
    let name = cmd.name();
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    let sub_is = |n: &str| {
        cmd.args()
            .nth(1)
            .is_some_and(|s| s.eq_ignore_ascii_case(n.as_bytes()))
    };
    if is("FLUSHALL") || is("FLUSHDB") {
        return Some(Merge::AllSucceed);
    }
    if is("SCRIPT") && (sub_is("LOAD") || sub_is("FLUSH")) {
        return Some(Merge::AllSucceed);
    }
    if is("FUNCTION")
        && (sub_is("LOAD") || sub_is("DELETE") || sub_is("FLUSH") || sub_is("RESTORE"))
    {
        return Some(Merge::AllSucceed);
    }
    if is("DBSIZE") {
        return Some(Merge::Sum);
    }
    if is("KEYS") {
        return Some(Merge::Concat);
    }
    None
}

/// The parts of a split command: for each slot, the positions (in the
/// caller's order) of the key arguments that go there, with the arguments
/// each key brings along (`MSET`'s values).
pub fn split_by_slot(cmd: &Command, split: Split) -> Vec<(u16, Vec<usize>)> {
    let args: Vec<&[u8]> = cmd.args().skip(1).collect();
    let stride = match split {
        Split::MSet => 2,
        Split::MGet | Split::Count => 1,
    };
    let mut parts: Vec<(u16, Vec<usize>)> = Vec::new();
    for (n, key) in args.iter().step_by(stride).enumerate() {
        let slot = key_slot(key);
        match parts.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, positions)) => positions.push(n),
            None => parts.push((slot, vec![n])),
        }
    }
    parts
}

/// The command of one part: the name, then the arguments of the keys at
/// `positions`.
pub fn part(cmd: &Command, split: Split, positions: &[usize]) -> Command {
    let args: Vec<&[u8]> = cmd.args().collect();
    let name = String::from_utf8_lossy(args[0]).into_owned();
    let mut part = Command::new(&name);
    let stride = match split {
        Split::MSet => 2,
        Split::MGet | Split::Count => 1,
    };
    for &n in positions {
        for arg in args.iter().skip(1 + n * stride).take(stride) {
            part.push_bulk(arg);
        }
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;
    use resp::{cmd, Value};

    #[test]
    fn commands_go_where_their_keys_are() {
        assert_eq!(route(&cmd!("GET", "foo")), Route::Slot(12182));
        assert_eq!(
            route(&cmd!("MSET", "{u}a", 1, "{u}b", 2)),
            Route::Slot(key_slot(b"u"))
        );
        assert_eq!(route(&cmd!("PING")), Route::Any);
        assert_eq!(route(&cmd!("EVAL", "return 1", 0)), Route::Any);
        assert_eq!(
            route(&cmd!("EVAL", "return 1", 1, "foo")),
            Route::Slot(12182)
        );
        assert_eq!(route(&cmd!("SPUBLISH", "foo", "m")), Route::Slot(12182));
        assert_eq!(route(&cmd!("PUBLISH", "foo", "m")), Route::Any);
        assert_eq!(
            route(&cmd!("XREAD", "STREAMS", "foo", "$")),
            Route::Slot(12182)
        );
    }

    #[test]
    fn cross_slot_commands_split_or_go_to_the_first_key() {
        assert_eq!(
            route(&cmd!("MGET", "foo", "bar")),
            Route::Split(Split::MGet)
        );
        assert_eq!(
            route(&cmd!("MSET", "foo", 1, "bar", 2)),
            Route::Split(Split::MSet)
        );
        for name in ["DEL", "unlink", "EXISTS", "TOUCH"] {
            assert_eq!(
                route(&Command::new(name).arg("foo").arg("bar")),
                Route::Split(Split::Count)
            );
        }
        // Anything else is the server's to refuse with CROSSSLOT.
        assert_eq!(route(&cmd!("RENAME", "foo", "bar")), Route::Slot(12182));
        assert_eq!(route(&cmd!("SUNION", "foo", "bar")), Route::Slot(12182));
    }

    #[test]
    fn unknown_commands_go_by_what_the_server_said() {
        let bitop = cmd!("MYBITOP", "AND", "{t}dest", "{t}a");
        // Not asked yet, or unknown to the server: the first argument.
        assert_eq!(route(&bitop), Route::Slot(key_slot(b"AND")));
        assert_eq!(route_learned(&bitop, None), Route::Slot(key_slot(b"AND")));
        assert_eq!(route(&cmd!("NOSUCH")), Route::Any);
        let b = |s: &str| Value::bulk(s.to_owned());
        let n = Value::Integer;
        let info = |specs: Vec<Value>| {
            let entry = Value::Array(vec![
                b("bitop"),
                n(-4),
                Value::Array(vec![b("write")]),
                n(2),
                n(-1),
                n(1),
                Value::Array(vec![]),
                Value::Array(vec![]),
                Value::Array(specs),
                Value::Array(vec![]),
            ]);
            LearnedCommand::from_info(&Value::Array(vec![entry]))
                .expect("readable")
                .expect("known")
        };
        let spec = |begin_type: &str, begin: Vec<Value>| {
            Value::Array(vec![
                b("flags"),
                Value::Array(vec![b("RW")]),
                b("begin_search"),
                Value::Array(vec![
                    b("type"),
                    b(begin_type),
                    b("spec"),
                    Value::Array(begin),
                ]),
                b("find_keys"),
                Value::Array(vec![
                    b("type"),
                    b("range"),
                    b("spec"),
                    Value::Array(vec![
                        b("lastkey"),
                        n(-1),
                        b("keystep"),
                        n(1),
                        b("limit"),
                        n(0),
                    ]),
                ]),
            ])
        };
        let learned = info(vec![spec("index", vec![b("index"), n(2)])]);
        assert_eq!(
            route_learned(&bitop, Some(&learned)),
            Route::Slot(key_slot(b"t"))
        );
        // Keys the specs cannot find: the first argument again.
        let unknown = info(vec![spec("unknown", vec![])]);
        assert_eq!(
            route_learned(&bitop, Some(&unknown)),
            Route::Slot(key_slot(b"AND"))
        );
        // No keys at all, as the server says: any primary.
        let keyless = info(vec![]);
        assert_eq!(route_learned(&bitop, Some(&keyless)), Route::Any);
    }

    #[test]
    fn fan_out_commands_go_everywhere() {
        assert_eq!(route(&cmd!("FLUSHALL")), Route::All(Merge::AllSucceed));
        assert_eq!(
            route(&cmd!("SCRIPT", "load", "return 1")),
            Route::All(Merge::AllSucceed)
        );
        assert_eq!(route(&cmd!("SCRIPT", "EXISTS", "abc")), Route::Any);
        assert_eq!(route(&cmd!("DBSIZE")), Route::All(Merge::Sum));
        assert_eq!(route(&cmd!("KEYS", "*")), Route::All(Merge::Concat));
    }

    #[test]
    fn splits_keep_the_callers_order() {
        let mget = cmd!("MGET", "foo", "bar", "{foo}x", "baz");
        let parts = split_by_slot(&mget, Split::MGet);
        let slot = |k: &str| key_slot(k.as_bytes());
        assert_eq!(
            parts,
            vec![
                (slot("foo"), vec![0, 2]),
                (slot("bar"), vec![1]),
                (slot("baz"), vec![3]),
            ]
        );
        assert_eq!(
            part(&mget, Split::MGet, &[0, 2]),
            cmd!("MGET", "foo", "{foo}x")
        );

        let mset = cmd!("MSET", "foo", 1, "bar", 2, "{foo}y", 3);
        let parts = split_by_slot(&mset, Split::MSet);
        assert_eq!(
            parts,
            vec![(slot("foo"), vec![0, 2]), (slot("bar"), vec![1])]
        );
        assert_eq!(
            part(&mset, Split::MSet, &[0, 2]),
            cmd!("MSET", "foo", 1, "{foo}y", 3)
        );
    }
}
