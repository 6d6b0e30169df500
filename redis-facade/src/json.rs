//! `Json<T>`: a serde value stored in Redis as one JSON string.

use std::any::type_name;

use resp::bytes::Bytes;
use resp::{Command, FromValue, ToArgs, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::error::Category;

/// A value stored as one JSON string: an argument that serializes itself,
/// and a reply type that deserializes itself.
///
/// ```no_run
/// use redis_facade::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct User {
///     name: String,
///     visits: u32,
/// }
///
/// # async fn run(conn: PairedConnection) -> Result<(), Error> {
/// let user = User { name: "Ada".into(), visits: 3 };
/// conn.set("user:1", Json(&user)).await?;
///
/// // GET says `None` for a missing key, so the reply is an `Option`.
/// let user: Option<Json<User>> = conn.get("user:1").await?;
/// if let Some(Json(user)) = user {
///     println!("{} has visited {} times", user.name, user.visits);
/// }
/// # Ok(())
/// # }
/// ```
///
/// As a reply type it accepts any string reply that holds JSON of the
/// wrapped type. Anything else is an [`Error::Conversion`](crate::Error::Conversion)
/// that names the wrapped type: a reply that is not a string (an integer, an
/// array, a null where no `Option` was asked for), a string that is not JSON,
/// or JSON that does not fit the type.
///
/// # Panics
///
/// As an argument, it panics when the value's `Serialize` implementation
/// fails, as [`ToString::to_string`] does when a `Display` implementation
/// fails: an argument cannot fail once the command is being built. Derived
/// implementations fail only for maps whose keys are neither strings nor
/// numbers; check such a value with `serde_json::to_vec` first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: Serialize> ToArgs for Json<T> {
    /// One bulk string: the value in compact JSON.
    fn write_args(&self, cmd: &mut Command) {
        match serde_json::to_vec(&self.0) {
            Ok(json) => cmd.push_bulk(&json),
            Err(e) => panic!("a Serialize implementation returned an error: {e}"),
        }
    }
}

impl<T: DeserializeOwned> FromValue for Json<T> {
    /// Any string reply, parsed as JSON of type `T`.
    fn from_value(value: Value) -> Result<Json<T>, resp::Error> {
        let json = Bytes::from_value(value).map_err(|e| match e {
            resp::Error::Conversion { found, value, .. } => resp::Error::Conversion {
                target: type_name::<T>(),
                found,
                value,
            },
            other => other,
        })?;
        serde_json::from_slice(&json).map(Json).map_err(|e| {
            let found = match e.classify() {
                Category::Data => "JSON string that does not fit this type",
                Category::Syntax | Category::Eof | Category::Io => {
                    "bulk string that is not valid JSON"
                }
            };
            resp::Error::Conversion {
                target: type_name::<T>(),
                found,
                value: resp::Preview::of(&json),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct User {
        name: String,
        visits: u32,
        tags: Vec<String>,
    }

    fn ada() -> User {
        User {
            name: "Ada".into(),
            visits: 3,
            tags: vec!["admin".into()],
        }
    }

    #[test]
    fn an_argument_is_one_bulk_string_of_compact_json() {
        let cmd = resp::cmd!("SET", "user:1", Json(&ada()));
        let json = br#"{"name":"Ada","visits":3,"tags":["admin"]}"#;
        let mut expected =
            format!("*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n${}\r\n", json.len()).into_bytes();
        expected.extend_from_slice(json);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(&cmd.into_bytes()[..], &expected[..]);
    }

    #[test]
    fn string_replies_round_trip() {
        let json = serde_json::to_vec(&ada()).unwrap();
        let Json(user) = Json::<User>::from_value(Value::BulkString(json.into())).unwrap();
        assert_eq!(user, ada());
        let Json(n) = Json::<BTreeMap<String, i32>>::from_value(Value::SimpleString(
            Bytes::from_static(br#"{"a":1}"#),
        ))
        .unwrap();
        assert_eq!(n["a"], 1);
    }

    #[test]
    fn nulls_are_none_only_when_asked_for() {
        assert_eq!(Option::<Json<User>>::from_value(Value::Null), Ok(None));
        assert_eq!(
            Json::<User>::from_value(Value::NullBulkString),
            Err(resp::Error::Conversion {
                target: type_name::<User>(),
                found: "null",
                value: resp::Preview::none(),
            })
        );
    }

    #[test]
    fn failures_name_the_type_and_what_came() {
        let user = type_name::<User>();
        let cases: [(Value, &str); 4] = [
            (
                Value::bulk("not json"),
                "bulk string that is not valid JSON",
            ),
            (
                Value::bulk(r#"{"name":"Ada""#),
                "bulk string that is not valid JSON",
            ),
            (
                Value::bulk(r#"{"name":"Ada"}"#),
                "JSON string that does not fit this type",
            ),
            (Value::Integer(7), "integer"),
        ];
        for (value, found) in cases {
            assert_eq!(
                Json::<User>::from_value(value),
                Err(resp::Error::Conversion {
                    target: user,
                    found,
                    value: resp::Preview::none(),
                })
            );
        }
        let err = Json::<User>::from_value(Value::Error(Bytes::from_static(b"WRONGTYPE no")));
        assert!(matches!(err, Err(resp::Error::Server(_))), "{err:?}");
    }
}
