//! The replies of the stream commands as types: entries, what `XREAD` and
//! `XREADGROUP` return, pending entries and `XAUTOCLAIM`'s answer, each
//! read from its RESP2 and its RESP3 shape.

use std::time::Duration;

use bytes::Bytes;
use resp::{Error, FromValue, Value};

/// One entry of a stream: its ID and its fields and values, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry's ID, `<milliseconds>-<sequence>`.
    pub id: String,
    /// The fields and their values; `None` for an entry that was deleted
    /// while pending (`XREADGROUP` and `XCLAIM` report those by ID alone).
    pub fields: Option<Vec<(Bytes, Bytes)>>,
}

impl StreamEntry {
    /// The value of `field`, if the entry has it.
    pub fn get(&self, field: &str) -> Option<&Bytes> {
        self.fields
            .as_ref()?
            .iter()
            .find(|(name, _)| name == field.as_bytes())
            .map(|(_, value)| value)
    }
}

impl FromValue for StreamEntry {
    /// `[id, [field, value, ...]]`; `[id, nil]` for a deleted entry.
    fn from_value(value: Value) -> Result<StreamEntry, Error> {
        let (id, fields): (String, Option<Vec<(Bytes, Bytes)>>) = FromValue::from_value(value)?;
        Ok(StreamEntry { id, fields })
    }
}

/// The entries read from one stream by `XREAD` or `XREADGROUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRead {
    /// The stream's key.
    pub key: String,
    /// Its entries, oldest first.
    pub entries: Vec<StreamEntry>,
}

/// Everything `XREAD` or `XREADGROUP` read, one [`StreamRead`] a stream
/// that had entries; empty when the command timed out (a `nil` reply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamReads(pub Vec<StreamRead>);

impl StreamReads {
    /// The entries of `key`, if it had any.
    pub fn get(&self, key: &str) -> Option<&[StreamEntry]> {
        self.0
            .iter()
            .find(|read| read.key == key)
            .map(|read| read.entries.as_slice())
    }

    /// Every entry read, from all streams.
    pub fn entries(&self) -> impl Iterator<Item = &StreamEntry> {
        self.0.iter().flat_map(|read| read.entries.iter())
    }
}

impl FromValue for StreamReads {
    /// RESP3 answers a map of key to entries, RESP2 an array of
    /// `[key, entries]` pairs; a timeout is `nil` in both.
    fn from_value(value: Value) -> Result<StreamReads, Error> {
        let pairs: Option<Vec<(String, Vec<StreamEntry>)>> = match value {
            Value::Map(pairs) => Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| Ok((String::from_value(k)?, Vec::from_value(v)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            other => FromValue::from_value(other)?,
        };
        let reads = pairs
            .unwrap_or_default()
            .into_iter()
            .map(|(key, entries)| StreamRead { key, entries })
            .collect();
        Ok(StreamReads(reads))
    }
}

/// What `XPENDING key group` says about a consumer group's pending entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingSummary {
    /// How many entries were delivered and not acknowledged.
    pub count: u64,
    /// The lowest pending ID, when there is one.
    pub first: Option<String>,
    /// The highest pending ID, when there is one.
    pub last: Option<String>,
    /// How many entries each consumer has pending.
    pub consumers: Vec<(String, u64)>,
}

/// The shape of `XPENDING`'s summary reply.
type SummaryReply = (
    u64,
    Option<String>,
    Option<String>,
    Option<Vec<(String, u64)>>,
);

impl FromValue for PendingSummary {
    /// `[count, first, last, [[consumer, count], ...]]` (the counts per
    /// consumer are strings; `nil`s when nothing is pending).
    fn from_value(value: Value) -> Result<PendingSummary, Error> {
        let (count, first, last, consumers): SummaryReply = FromValue::from_value(value)?;
        Ok(PendingSummary {
            count,
            first,
            last,
            consumers: consumers.unwrap_or_default(),
        })
    }
}

/// One entry of `XPENDING key group start end count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry's ID.
    pub id: String,
    /// The consumer it was delivered to.
    pub consumer: String,
    /// How long since it was last delivered.
    pub idle: Duration,
    /// How many times it was delivered.
    pub deliveries: u64,
}

impl FromValue for PendingEntry {
    /// `[id, consumer, idle milliseconds, delivery count]`.
    fn from_value(value: Value) -> Result<PendingEntry, Error> {
        let (id, consumer, idle, deliveries): (String, String, u64, u64) =
            FromValue::from_value(value)?;
        Ok(PendingEntry {
            id,
            consumer,
            idle: Duration::from_millis(idle),
            deliveries,
        })
    }
}

/// What `XAUTOCLAIM` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoClaimed {
    /// Where the next `XAUTOCLAIM` should start; `0-0` once the whole
    /// pending list was scanned.
    pub next: String,
    /// The entries claimed.
    pub entries: Vec<StreamEntry>,
    /// IDs that were pending but no longer exist in the stream (Redis 7),
    /// removed from the pending list.
    pub deleted: Vec<String>,
}

impl FromValue for AutoClaimed {
    /// `[next, entries]`, and `deleted` since Redis 7.
    fn from_value(value: Value) -> Result<AutoClaimed, Error> {
        let mut parts: Vec<Value> = FromValue::from_value(value)?;
        let deleted = if parts.len() > 2 {
            Vec::from_value(parts.remove(2))?
        } else {
            Vec::new()
        };
        let (next, entries): (String, Vec<StreamEntry>) =
            FromValue::from_value(Value::Array(parts))?;
        Ok(AutoClaimed {
            next,
            entries,
            deleted,
        })
    }
}

/// The fields of an `XINFO` reply: a map in RESP3, a flat array of names
/// and values in RESP2.
struct InfoFields {
    target: &'static str,
    fields: Vec<(String, Value)>,
}

impl InfoFields {
    fn read(target: &'static str, value: Value) -> Result<InfoFields, Error> {
        let fields = match value {
            Value::Map(pairs) => pairs
                .into_iter()
                .map(|(k, v)| Ok((String::from_value(k)?, v)))
                .collect::<Result<_, Error>>()?,
            other => Vec::<(String, Value)>::from_value(other)?,
        };
        Ok(InfoFields { target, fields })
    }

    /// The field `name`, converted; `None` when the server did not send it
    /// (older servers have fewer fields) or sent `nil`.
    fn optional<T: FromValue>(&mut self, name: &str) -> Result<Option<T>, Error> {
        match self.fields.iter().position(|(n, _)| n == name) {
            Some(i) => Option::<T>::from_value(self.fields.swap_remove(i).1),
            None => Ok(None),
        }
    }

    /// The field `name`, which every server version sends.
    fn required<T: FromValue>(&mut self, name: &str) -> Result<T, Error> {
        self.optional(name)?.ok_or_else(|| Error::Conversion {
            target: self.target,
            found: "a reply without the field",
            value: resp::Preview::of(name.as_bytes()),
        })
    }
}

/// What `XINFO STREAM key` says about a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// How many entries it has.
    pub length: u64,
    /// How many consumer groups it has.
    pub groups: u64,
    /// The ID of the last entry added (deleted or not).
    pub last_generated_id: String,
    /// The highest ID deleted, with Redis 7.0 and later.
    pub max_deleted_entry_id: Option<String>,
    /// How many entries were ever added, with Redis 7.0 and later.
    pub entries_added: Option<u64>,
    /// The first entry, `None` when the stream is empty.
    pub first_entry: Option<StreamEntry>,
    /// The last entry, `None` when the stream is empty.
    pub last_entry: Option<StreamEntry>,
}

impl FromValue for StreamInfo {
    fn from_value(value: Value) -> Result<StreamInfo, Error> {
        let mut info = InfoFields::read("StreamInfo", value)?;
        Ok(StreamInfo {
            length: info.required("length")?,
            groups: info.required("groups")?,
            last_generated_id: info.required("last-generated-id")?,
            max_deleted_entry_id: info.optional("max-deleted-entry-id")?,
            entries_added: info.optional("entries-added")?,
            first_entry: info.optional("first-entry")?,
            last_entry: info.optional("last-entry")?,
        })
    }
}

/// What `XINFO GROUPS key` says about one consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group's name.
    pub name: String,
    /// How many consumers it has.
    pub consumers: u64,
    /// How many entries were delivered to it and not acknowledged.
    pub pending: u64,
    /// The ID of the last entry delivered to it.
    pub last_delivered_id: String,
    /// How many entries it has read, with Redis 7.0 and later (`None` when
    /// the server cannot tell).
    pub entries_read: Option<u64>,
    /// How many entries are still to be delivered to it, with Redis 7.0
    /// and later (`None` when the server cannot tell).
    pub lag: Option<u64>,
}

impl FromValue for GroupInfo {
    fn from_value(value: Value) -> Result<GroupInfo, Error> {
        let mut info = InfoFields::read("GroupInfo", value)?;
        Ok(GroupInfo {
            name: info.required("name")?,
            consumers: info.required("consumers")?,
            pending: info.required("pending")?,
            last_delivered_id: info.required("last-delivered-id")?,
            entries_read: info.optional("entries-read")?,
            lag: info.optional("lag")?,
        })
    }
}

/// What `XINFO CONSUMERS key group` says about one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// The consumer's name.
    pub name: String,
    /// How many entries it holds pending.
    pub pending: u64,
    /// How long since it last read or claimed.
    pub idle: Duration,
}

impl FromValue for ConsumerInfo {
    fn from_value(value: Value) -> Result<ConsumerInfo, Error> {
        let mut info = InfoFields::read("ConsumerInfo", value)?;
        Ok(ConsumerInfo {
            name: info.required("name")?,
            pending: info.required("pending")?,
            idle: Duration::from_millis(info.required("idle")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::bulk(s.to_string())
    }

    fn entry(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    #[test]
    fn reads_come_from_both_protocols() {
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![
                entry("1-0", &["a", "1"]),
                entry("2-0", &["b", "2", "c", "3"]),
            ]),
        ])]);
        let resp3 = Value::Map(vec![(
            bulk("s"),
            Value::Array(vec![
                entry("1-0", &["a", "1"]),
                entry("2-0", &["b", "2", "c", "3"]),
            ]),
        )]);
        let expected = StreamReads(vec![StreamRead {
            key: "s".into(),
            entries: vec![
                StreamEntry {
                    id: "1-0".into(),
                    fields: Some(vec![(Bytes::from("a"), Bytes::from("1"))]),
                },
                StreamEntry {
                    id: "2-0".into(),
                    fields: Some(vec![
                        (Bytes::from("b"), Bytes::from("2")),
                        (Bytes::from("c"), Bytes::from("3")),
                    ]),
                },
            ],
        }]);
        assert_eq!(StreamReads::from_value(resp2).unwrap(), expected);
        assert_eq!(StreamReads::from_value(resp3).unwrap(), expected);
        assert_eq!(
            expected.get("s").unwrap()[1].get("c"),
            Some(&Bytes::from("3"))
        );
        assert_eq!(expected.entries().count(), 2);
        // A timeout.
        for null in [Value::Null, Value::NullArray, Value::NullBulkString] {
            assert_eq!(
                StreamReads::from_value(null).unwrap(),
                StreamReads::default()
            );
        }
    }

    #[test]
    fn deleted_entries_have_no_fields() {
        let deleted = Value::Array(vec![bulk("3-0"), Value::NullArray]);
        assert_eq!(
            StreamEntry::from_value(deleted).unwrap(),
            StreamEntry {
                id: "3-0".into(),
                fields: None
            }
        );
        let odd = Value::Array(vec![bulk("3-0"), Value::Array(vec![bulk("lonely")])]);
        assert!(StreamEntry::from_value(odd).is_err());
        assert!(StreamEntry::from_value(Value::Integer(1)).is_err());
    }

    #[test]
    fn pending_summaries_and_entries() {
        let summary = Value::Array(vec![
            Value::Integer(3),
            bulk("1-0"),
            bulk("3-0"),
            Value::Array(vec![Value::Array(vec![bulk("alice"), bulk("3")])]),
        ]);
        assert_eq!(
            PendingSummary::from_value(summary).unwrap(),
            PendingSummary {
                count: 3,
                first: Some("1-0".into()),
                last: Some("3-0".into()),
                consumers: vec![("alice".into(), 3)],
            }
        );
        let none = Value::Array(vec![
            Value::Integer(0),
            Value::Null,
            Value::Null,
            Value::Null,
        ]);
        assert_eq!(
            PendingSummary::from_value(none).unwrap(),
            PendingSummary::default()
        );
        let entry = Value::Array(vec![
            bulk("1-0"),
            bulk("bob"),
            Value::Integer(1500),
            Value::Integer(2),
        ]);
        assert_eq!(
            PendingEntry::from_value(entry).unwrap(),
            PendingEntry {
                id: "1-0".into(),
                consumer: "bob".into(),
                idle: Duration::from_millis(1500),
                deliveries: 2
            }
        );
    }

    #[test]
    fn autoclaim_with_and_without_deleted_ids() {
        let seven = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![entry("1-0", &["a", "1"])]),
            Value::Array(vec![bulk("2-0")]),
        ]);
        let claimed = AutoClaimed::from_value(seven).unwrap();
        assert_eq!((claimed.next.as_str(), claimed.entries.len()), ("0-0", 1));
        assert_eq!(claimed.deleted, vec!["2-0".to_string()]);
        let six = Value::Array(vec![bulk("5-0"), Value::Array(vec![])]);
        let claimed = AutoClaimed::from_value(six).unwrap();
        assert!(claimed.entries.is_empty() && claimed.deleted.is_empty());
    }

    #[test]
    fn xinfo_fields_read_from_maps_and_flat_arrays() {
        let fields = [
            ("name", Value::bulk("alice".to_string())),
            ("pending", Value::Integer(2)),
            ("idle", Value::Integer(1500)),
        ];
        let flat = Value::Array(
            fields
                .iter()
                .flat_map(|(k, v)| [bulk(k), v.clone()])
                .collect(),
        );
        let map = Value::Map(fields.iter().map(|(k, v)| (bulk(k), v.clone())).collect());
        let want = ConsumerInfo {
            name: "alice".into(),
            pending: 2,
            idle: Duration::from_millis(1500),
        };
        assert_eq!(ConsumerInfo::from_value(flat).unwrap(), want);
        assert_eq!(ConsumerInfo::from_value(map).unwrap(), want);

        // A field every server sends, missing: an error that names it.
        let short = Value::Array(vec![bulk("name"), bulk("alice")]);
        let err = ConsumerInfo::from_value(short).unwrap_err();
        assert!(err.to_string().contains("pending"), "{err}");
    }
}
