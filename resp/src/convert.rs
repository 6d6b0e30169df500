//! `FromValue`: turning a reply into the Rust type a caller asked for.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use bytes::Bytes;

use crate::decode::parse_double;
use crate::{Error, Preview, ServerError, Value};

/// A Rust type that a reply can be converted into.
///
/// Every implementation turns an error reply into [`Error::Server`], never into
/// a successful value, and looks through RESP3 attributes to the reply they
/// annotate. Failures name the Rust type asked for and the kind of reply that
/// came:
///
/// ```
/// use resp::{Error, FromValue, Value};
///
/// assert_eq!(Option::<String>::from_value(Value::Null), Ok(None));
/// assert_eq!(i64::from_value(Value::bulk("42")), Ok(42));
/// let err = u8::from_value(Value::Integer(300)).unwrap_err();
/// assert!(matches!(err, Error::Conversion { target: "u8", .. }));
/// assert_eq!(err.to_string(), "expected u8, got an integer out of range: \"300\"");
/// let pairs: Vec<(String, f64)> =
///     FromValue::from_value(Value::Array(vec![Value::bulk("a"), Value::bulk("1.5")])).unwrap();
/// assert_eq!(pairs, vec![("a".to_string(), 1.5)]);
/// ```
///
/// Nulls convert into `None` for `Option<T>`, into empty collections, and into
/// `false` for `bool`; any other target refuses them. Collections accept both
/// the RESP2 shape (a flat array of keys and values) and the RESP3 one (a map,
/// or an array of pairs), so code does not change with the protocol version.
pub trait FromValue: Sized {
    /// Converts a reply.
    fn from_value(value: Value) -> Result<Self, Error>;

    /// Converts a string reply into a vector of this type, if that makes
    /// sense (only for bytes: `Vec<u8>` from a bulk string).
    #[doc(hidden)]
    fn from_string_reply(_data: Bytes) -> Option<Vec<Self>> {
        None
    }

    /// Converts the elements of an array. Pairs override it to accept a flat
    /// array of alternating keys and values.
    #[doc(hidden)]
    fn from_items(items: Vec<Value>) -> Result<Vec<Self>, Error> {
        items.into_iter().map(Self::from_value).collect()
    }

    /// Converts the entries of a map, each as a two-element array.
    #[doc(hidden)]
    fn from_pairs(pairs: Vec<(Value, Value)>) -> Result<Vec<Self>, Error> {
        pairs
            .into_iter()
            .map(|(k, v)| Self::from_value(Value::Array(vec![k, v])))
            .collect()
    }
}

/// Looks through attributes and turns error replies into errors.
fn reply(mut value: Value) -> Result<Value, Error> {
    loop {
        match value {
            Value::Attribute { value: inner, .. } => value = *inner,
            Value::Error(text) | Value::BlobError(text) => {
                return Err(Error::Server(ServerError::new(text)))
            }
            other => return Ok(other),
        }
    }
}

fn mismatch<T>(target: &'static str, found: &'static str) -> Result<T, Error> {
    Err(Error::Conversion {
        target,
        found,
        value: Preview::none(),
    })
}

/// As [`mismatch`], quoting the content that did not fit.
fn mismatch_in<T>(target: &'static str, found: &'static str, content: &[u8]) -> Result<T, Error> {
    Err(Error::Conversion {
        target,
        found,
        value: Preview::of(content),
    })
}

impl FromValue for Value {
    /// Any reply but an error, as it came (attributes included). An error
    /// under attributes is still an error.
    fn from_value(value: Value) -> Result<Value, Error> {
        match reply_ref(&value) {
            Value::Error(text) | Value::BlobError(text) => {
                Err(Error::Server(ServerError::new(text.clone())))
            }
            _ => Ok(value),
        }
    }
}

impl FromValue for () {
    /// Any reply but an error, discarded: for `OK` and replies nobody reads.
    fn from_value(value: Value) -> Result<(), Error> {
        reply(value).map(drop)
    }
}

impl FromValue for bool {
    /// Booleans, integers (non-zero is true), `OK` (true), `"1"`/`"0"`, and
    /// nulls (false: `SET ... NX` that did not set).
    fn from_value(value: Value) -> Result<bool, Error> {
        match reply(value)? {
            Value::Boolean(b) => Ok(b),
            Value::Integer(n) => Ok(n != 0),
            Value::Null | Value::NullBulkString | Value::NullArray => Ok(false),
            Value::SimpleString(s) if &s[..] == b"OK" => Ok(true),
            Value::BulkString(s) | Value::SimpleString(s) => match &s[..] {
                b"1" => Ok(true),
                b"0" => Ok(false),
                _ => mismatch_in("bool", "a string that is not 1 or 0", &s),
            },
            other => mismatch("bool", other.kind()),
        }
    }
}

// `$t` is an `ident`, not a `ty`: a `ty` fragment passed on to the `@bytes`
// arms would never match the literal `u8`, and `Vec<u8>` would lose its
// conversion from string replies.
macro_rules! int_from_value {
    ($($t:ident),*) => {$(
        impl FromValue for $t {
            /// Integers and decimal strings, range-checked.
            fn from_value(value: Value) -> Result<$t, Error> {
                match reply(value)? {
                    Value::Integer(n) => <$t>::try_from(n)
                        .or_else(|_| mismatch_in(stringify!($t), "an integer out of range", n.to_string().as_bytes())),
                    Value::BulkString(s) | Value::SimpleString(s) | Value::BigNumber(s) => {
                        parse_str::<$t>(&s)
                            .map_or_else(|| mismatch_in(stringify!($t), "a string that is not an integer in range", &s), Ok)
                    }
                    other => mismatch(stringify!($t), other.kind()),
                }
            }

            int_from_value!(@bytes $t);
        }
    )*};
    (@bytes u8) => {
        fn from_string_reply(data: Bytes) -> Option<Vec<u8>> {
            Some(Vec::from(data))
        }
    };
    (@bytes $t:ident) => {};
}
int_from_value!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

fn parse_str<T: std::str::FromStr>(s: &[u8]) -> Option<T> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

impl FromValue for f64 {
    /// Doubles, integers, and decimal strings (including `inf` and `nan`).
    fn from_value(value: Value) -> Result<f64, Error> {
        match reply(value)? {
            Value::Double(d) => Ok(d),
            Value::Integer(n) => Ok(n as f64),
            Value::BulkString(s) | Value::SimpleString(s) | Value::BigNumber(s) => parse_double(&s)
                .map_or_else(
                    || mismatch_in("f64", "a string that is not a number", &s),
                    Ok,
                ),
            other => mismatch("f64", other.kind()),
        }
    }
}

impl FromValue for f32 {
    /// As `f64`, narrowed.
    fn from_value(value: Value) -> Result<f32, Error> {
        f64::from_value(value).map(|d| d as f32)
    }
}

impl FromValue for String {
    /// Any string reply that is UTF-8, and integers and doubles in decimal.
    fn from_value(value: Value) -> Result<String, Error> {
        match reply(value)? {
            Value::BulkString(s)
            | Value::SimpleString(s)
            | Value::BigNumber(s)
            | Value::VerbatimString { text: s, .. } => String::from_utf8(Vec::from(s))
                .or_else(|e| mismatch_in("String", "a string that is not UTF-8", e.as_bytes())),
            Value::Integer(n) => Ok(n.to_string()),
            Value::Double(d) => Ok(d.to_string()),
            other => mismatch("String", other.kind()),
        }
    }
}

impl FromValue for Bytes {
    /// Any string reply, without copying it. The bytes share the buffer the
    /// reply was read into, and keep that buffer's allocation alive as long
    /// as they live: to keep a small value for long (in a cache), read it as
    /// a `Vec<u8>` or `String`, which are copies.
    fn from_value(value: Value) -> Result<Bytes, Error> {
        match reply(value)? {
            Value::BulkString(s)
            | Value::SimpleString(s)
            | Value::BigNumber(s)
            | Value::VerbatimString { text: s, .. } => Ok(s),
            other => mismatch("Bytes", other.kind()),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    /// `None` for a null, otherwise the converted value.
    fn from_value(value: Value) -> Result<Option<T>, Error> {
        match reply(value)? {
            Value::Null | Value::NullBulkString | Value::NullArray => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl<T: FromValue> FromValue for Result<T, ServerError> {
    /// The error the server answered with as a value (`Err`), otherwise the
    /// converted reply (`Ok`): in a tuple or `Vec` of a pipeline's replies,
    /// one command's error is read in its place without failing the others.
    ///
    /// ```
    /// use resp::{FromValue, ServerError, Value};
    ///
    /// let replies = Value::Array(vec![Value::Integer(1), Value::Error("ERR no".into())]);
    /// let (n, failed) = <(Result<i64, ServerError>, Result<i64, ServerError>)>::from_value(replies)?;
    /// assert_eq!(n, Ok(1));
    /// assert_eq!(failed.unwrap_err().code(), "ERR");
    /// # Ok::<(), resp::Error>(())
    /// ```
    fn from_value(value: Value) -> Result<Result<T, ServerError>, Error> {
        match reply(value) {
            Ok(value) => T::from_value(value).map(Ok),
            Err(Error::Server(error)) => Ok(Err(error)),
            Err(other) => Err(other),
        }
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    /// Arrays, sets and pushes element by element; maps pair by pair; a null
    /// as empty. `Vec<u8>` also takes a string reply, as its bytes.
    fn from_value(value: Value) -> Result<Vec<T>, Error> {
        match reply(value)? {
            Value::Array(items) | Value::Set(items) | Value::Push(items) => T::from_items(items),
            Value::Map(pairs) => T::from_pairs(pairs),
            Value::Null | Value::NullBulkString | Value::NullArray => Ok(Vec::new()),
            Value::BulkString(s) => bytes_vec(s, "bulk string"),
            Value::SimpleString(s) => bytes_vec(s, "simple string"),
            Value::VerbatimString { text, .. } => bytes_vec(text, "verbatim string"),
            other => mismatch("Vec", other.kind()),
        }
    }
}

fn bytes_vec<T: FromValue>(data: Bytes, kind: &'static str) -> Result<Vec<T>, Error> {
    T::from_string_reply(data).map_or_else(|| mismatch("Vec", kind), Ok)
}

/// Key-value pairs from a map, a flat array `[k1, v1, k2, v2]` (RESP2), or an
/// array of two-element arrays (RESP3 shapes of some commands).
fn entries<K: FromValue, V: FromValue>(
    target: &'static str,
    value: Value,
) -> Result<Vec<(K, V)>, Error> {
    match reply(value)? {
        Value::Map(pairs) => <(K, V)>::from_pairs(pairs),
        Value::Array(items) | Value::Set(items) | Value::Push(items) => <(K, V)>::from_items(items),
        Value::Null | Value::NullBulkString | Value::NullArray => Ok(Vec::new()),
        other => mismatch(target, other.kind()),
    }
}

impl<K: FromValue + Eq + Hash, V: FromValue, S: BuildHasher + Default> FromValue
    for HashMap<K, V, S>
{
    /// Maps, flat key-value arrays, arrays of pairs; a null as empty.
    fn from_value(value: Value) -> Result<HashMap<K, V, S>, Error> {
        Ok(entries("HashMap", value)?.into_iter().collect())
    }
}

impl<K: FromValue + Ord, V: FromValue> FromValue for BTreeMap<K, V> {
    /// Maps, flat key-value arrays, arrays of pairs; a null as empty.
    fn from_value(value: Value) -> Result<BTreeMap<K, V>, Error> {
        Ok(entries("BTreeMap", value)?.into_iter().collect())
    }
}

impl<T: FromValue + Eq + Hash, S: BuildHasher + Default> FromValue for HashSet<T, S> {
    /// Sets and arrays; a null as empty.
    fn from_value(value: Value) -> Result<HashSet<T, S>, Error> {
        match reply(value)? {
            Value::Array(items) | Value::Set(items) => {
                Ok(T::from_items(items)?.into_iter().collect())
            }
            Value::Null | Value::NullBulkString | Value::NullArray => Ok(HashSet::default()),
            other => mismatch("HashSet", other.kind()),
        }
    }
}

impl<T: FromValue + Ord> FromValue for BTreeSet<T> {
    /// Sets and arrays; a null as empty.
    fn from_value(value: Value) -> Result<BTreeSet<T>, Error> {
        match reply(value)? {
            Value::Array(items) | Value::Set(items) => {
                Ok(T::from_items(items)?.into_iter().collect())
            }
            Value::Null | Value::NullBulkString | Value::NullArray => Ok(BTreeSet::new()),
            other => mismatch("BTreeSet", other.kind()),
        }
    }
}

impl<A: FromValue, B: FromValue> FromValue for (A, B) {
    /// A two-element array.
    fn from_value(value: Value) -> Result<(A, B), Error> {
        match reply(value)? {
            Value::Array(items) | Value::Set(items) | Value::Push(items) if items.len() == 2 => {
                let mut it = items.into_iter();
                match (it.next(), it.next()) {
                    (Some(a), Some(b)) => Ok((A::from_value(a)?, B::from_value(b)?)),
                    _ => mismatch("tuple", "an array of the wrong length"),
                }
            }
            Value::Array(_) | Value::Set(_) | Value::Push(_) => {
                mismatch("tuple", "an array of the wrong length")
            }
            other => mismatch("tuple", other.kind()),
        }
    }

    /// Pairs from a flat array `[a1, b1, a2, b2]` as RESP2 sends them, or from
    /// an array of two-element arrays as RESP3 does.
    fn from_items(items: Vec<Value>) -> Result<Vec<(A, B)>, Error> {
        let nested = items.first().is_some_and(|v| {
            matches!(
                reply_ref(v),
                Value::Array(_) | Value::Set(_) | Value::Push(_)
            )
        });
        if nested {
            return items.into_iter().map(<(A, B)>::from_value).collect();
        }
        if items.len() % 2 != 0 {
            return mismatch("tuple", "a flat array of odd length");
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(a), Some(b)) = (it.next(), it.next()) {
            pairs.push((A::from_value(a)?, B::from_value(b)?));
        }
        Ok(pairs)
    }

    fn from_pairs(pairs: Vec<(Value, Value)>) -> Result<Vec<(A, B)>, Error> {
        pairs
            .into_iter()
            .map(|(a, b)| Ok((A::from_value(a)?, B::from_value(b)?)))
            .collect()
    }
}

fn reply_ref(mut value: &Value) -> &Value {
    while let Value::Attribute { value: inner, .. } = value {
        value = inner;
    }
    value
}

macro_rules! tuple_from_value {
    ($len:expr; $($name:ident)+) => {
        impl<$($name: FromValue),+> FromValue for ($($name,)+) {
            /// An array of exactly this many elements.
            fn from_value(value: Value) -> Result<Self, Error> {
                match reply(value)? {
                    Value::Array(items) | Value::Set(items) | Value::Push(items) if items.len() == $len => {
                        let mut it = items.into_iter();
                        Ok(($(
                            match it.next() {
                                Some(v) => $name::from_value(v)?,
                                None => return mismatch("tuple", "an array of the wrong length"),
                            },
                        )+))
                    }
                    Value::Array(_) | Value::Set(_) | Value::Push(_) => {
                        mismatch("tuple", "an array of the wrong length")
                    }
                    other => mismatch("tuple", other.kind()),
                }
            }
        }
    };
}
tuple_from_value!(1; A);
tuple_from_value!(3; A B C);
tuple_from_value!(4; A B C D);
tuple_from_value!(5; A B C D E);
tuple_from_value!(6; A B C D E F);
tuple_from_value!(7; A B C D E F G);
tuple_from_value!(8; A B C D E F G H);
