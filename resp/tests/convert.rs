//! Conversion tables: one line a reply and the Rust value (or error) it
//! converts into.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use resp::{Error, FromValue, ServerError, Value};

/// `name: Type, reply => expected;` converting the reply into the type gives
/// the expected result.
macro_rules! converts {
    ($($name:ident: $t:ty, $reply:expr => $expected:expr;)+) => {$(
        #[test]
        fn $name() {
            let reply: Value = $reply;
            let shown = format!("{reply:?}");
            let got = <$t as FromValue>::from_value(reply);
            let expected: Result<$t, Error> = $expected;
            assert_eq!(got, expected, "{} from {shown}", stringify!($t));
        }
    )+};
}

/// `name: Type;` an error reply, simple or blob, bare or under attributes,
/// converts into `Error::Server` and never into a value of the type.
macro_rules! server_error_fails {
    ($($name:ident: $t:ty;)+) => {$(
        #[test]
        fn $name() {
            for reply in error_replies() {
                let shown = format!("{reply:?}");
                let got = <$t as FromValue>::from_value(reply);
                assert_eq!(got, Err(server_error()), "{} from {shown}", stringify!($t));
            }
        }
    )+};
}

// Options: every kind of null is `None`.

converts! {
    option_string_from_null: Option<String>, Value::Null => Ok(None);
    option_string_from_null_bulk: Option<String>, Value::NullBulkString => Ok(None);
    option_string_from_null_array: Option<String>, Value::NullArray => Ok(None);
    option_string_from_bulk: Option<String>, Value::bulk("hi") => Ok(Some("hi".into()));
    option_string_from_attributed_null: Option<String>, annotated(Value::Null) => Ok(None);
    option_i64_from_null_bulk: Option<i64>, Value::NullBulkString => Ok(None);
    option_i64_from_integer: Option<i64>, Value::Integer(3) => Ok(Some(3));
    option_option_from_null: Option<Option<String>>, Value::Null => Ok(None);
    option_vec_from_null_array: Option<Vec<String>>, Value::NullArray => Ok(None);
    option_i64_from_bad_string: Option<i64>, Value::bulk("x") => Err(conversion("i64", "a string that is not an integer in range"));
}

// Strings and bytes.

converts! {
    string_from_bulk: String, Value::bulk("hello") => Ok("hello".into());
    string_from_simple: String, simple("OK") => Ok("OK".into());
    string_from_verbatim: String, Value::VerbatimString { format: *b"txt", text: text("Some string") } => Ok("Some string".into());
    string_from_big_number: String, Value::BigNumber(text("123456789012345678901234567890")) => Ok("123456789012345678901234567890".into());
    string_from_integer: String, Value::Integer(-7) => Ok("-7".into());
    string_from_double: String, Value::Double(1.5) => Ok("1.5".into());
    string_from_invalid_utf8: String, Value::bulk(&b"\xff\xfe"[..]) => Err(conversion("String", "a string that is not UTF-8"));
    string_from_null: String, Value::Null => Err(conversion("String", "null"));
    string_from_null_bulk: String, Value::NullBulkString => Err(conversion("String", "null"));
    string_from_array: String, Value::Array(vec![]) => Err(conversion("String", "array"));
    bytes_from_bulk: Bytes, Value::bulk(&b"\x00\xff"[..]) => Ok(Bytes::from_static(b"\x00\xff"));
    bytes_from_simple: Bytes, simple("PONG") => Ok(text("PONG"));
    bytes_from_integer: Bytes, Value::Integer(1) => Err(conversion("Bytes", "integer"));
    vec_u8_from_bulk: Vec<u8>, Value::bulk(&b"\x00\x01\xff"[..]) => Ok(vec![0, 1, 255]);
    vec_u8_from_empty_bulk: Vec<u8>, Value::bulk("") => Ok(vec![]);
    vec_u8_from_simple: Vec<u8>, simple("ab") => Ok(b"ab".to_vec());
    vec_u8_from_verbatim: Vec<u8>, Value::VerbatimString { format: *b"txt", text: text("ab") } => Ok(b"ab".to_vec());
    vec_u8_from_array_of_integers: Vec<u8>, Value::Array(vec![Value::Integer(1), Value::Integer(2)]) => Ok(vec![1, 2]);
    vec_u8_from_null_bulk: Vec<u8>, Value::NullBulkString => Ok(vec![]);
    vec_u8_from_integer: Vec<u8>, Value::Integer(1) => Err(conversion("Vec", "integer"));
    vec_string_from_bulk: Vec<String>, Value::bulk("ab") => Err(conversion("Vec", "bulk string"));
}

// Integers, range-checked, from integers and decimal strings.

converts! {
    i64_from_integer: i64, Value::Integer(-42) => Ok(-42);
    i64_from_max: i64, Value::Integer(i64::MAX) => Ok(i64::MAX);
    i64_from_bulk: i64, Value::bulk("42") => Ok(42);
    i64_from_simple: i64, simple("-1") => Ok(-1);
    i64_from_big_number_in_range: i64, Value::BigNumber(text("9223372036854775807")) => Ok(i64::MAX);
    i64_from_big_number_out_of_range: i64, Value::BigNumber(text("9223372036854775808")) => Err(conversion("i64", "a string that is not an integer in range"));
    i64_from_bulk_not_a_number: i64, Value::bulk("4x") => Err(conversion("i64", "a string that is not an integer in range"));
    i64_from_bulk_fraction: i64, Value::bulk("1.5") => Err(conversion("i64", "a string that is not an integer in range"));
    i64_from_double: i64, Value::Double(1.0) => Err(conversion("i64", "double"));
    i64_from_null: i64, Value::Null => Err(conversion("i64", "null"));
    i64_from_null_bulk: i64, Value::NullBulkString => Err(conversion("i64", "null"));
    i64_from_boolean: i64, Value::Boolean(true) => Err(conversion("i64", "boolean"));
    i128_from_big_number: i128, Value::BigNumber(text("-170141183460469231731687303715884105728")) => Ok(i128::MIN);
    u8_from_255: u8, Value::Integer(255) => Ok(255);
    u8_from_256: u8, Value::Integer(256) => Err(conversion("u8", "an integer out of range"));
    u8_from_minus_one: u8, Value::Integer(-1) => Err(conversion("u8", "an integer out of range"));
    i8_from_minus_128: i8, Value::Integer(-128) => Ok(-128);
    i8_from_minus_129: i8, Value::Integer(-129) => Err(conversion("i8", "an integer out of range"));
    i16_from_40000: i16, Value::Integer(40000) => Err(conversion("i16", "an integer out of range"));
    i32_from_bulk_too_big: i32, Value::bulk("2147483648") => Err(conversion("i32", "a string that is not an integer in range"));
    u32_from_max: u32, Value::Integer(i64::from(u32::MAX)) => Ok(u32::MAX);
    u64_from_negative: u64, Value::Integer(-1) => Err(conversion("u64", "an integer out of range"));
    u64_from_bulk_max: u64, Value::bulk("18446744073709551615") => Ok(u64::MAX);
    usize_from_integer: usize, Value::Integer(7) => Ok(7);
    usize_from_negative: usize, Value::Integer(-7) => Err(conversion("usize", "an integer out of range"));
    isize_from_integer: isize, Value::Integer(-7) => Ok(-7);
}

// Floats and booleans.

converts! {
    f64_from_double: f64, Value::Double(2.5) => Ok(2.5);
    f64_from_integer: f64, Value::Integer(3) => Ok(3.0);
    f64_from_bulk: f64, Value::bulk("0.25") => Ok(0.25);
    f64_from_bulk_inf: f64, Value::bulk("inf") => Ok(f64::INFINITY);
    f64_from_bulk_minus_inf: f64, Value::bulk("-inf") => Ok(f64::NEG_INFINITY);
    f64_from_bad_bulk: f64, Value::bulk("abc") => Err(conversion("f64", "a string that is not a number"));
    f64_from_null: f64, Value::Null => Err(conversion("f64", "null"));
    f32_from_double: f32, Value::Double(0.5) => Ok(0.5);
    bool_from_true: bool, Value::Boolean(true) => Ok(true);
    bool_from_false: bool, Value::Boolean(false) => Ok(false);
    bool_from_one: bool, Value::Integer(1) => Ok(true);
    bool_from_zero: bool, Value::Integer(0) => Ok(false);
    bool_from_ok: bool, simple("OK") => Ok(true);
    bool_from_bulk_one: bool, Value::bulk("1") => Ok(true);
    bool_from_bulk_zero: bool, Value::bulk("0") => Ok(false);
    bool_from_null: bool, Value::Null => Ok(false);
    bool_from_null_bulk: bool, Value::NullBulkString => Ok(false);
    bool_from_bulk_yes: bool, Value::bulk("yes") => Err(conversion("bool", "a string that is not 1 or 0"));
    bool_from_double: bool, Value::Double(1.0) => Err(conversion("bool", "double"));
}

// Collections, in their RESP2 and RESP3 shapes.

converts! {
    vec_string_from_array: Vec<String>, Value::Array(vec![Value::bulk("a"), simple("b")]) => Ok(vec!["a".into(), "b".into()]);
    vec_string_from_set: Vec<String>, Value::Set(vec![Value::bulk("a")]) => Ok(vec!["a".into()]);
    vec_string_from_push: Vec<String>, Value::Push(vec![Value::bulk("message")]) => Ok(vec!["message".into()]);
    vec_string_from_null_array: Vec<String>, Value::NullArray => Ok(vec![]);
    vec_option_from_array_with_nulls: Vec<Option<String>>, Value::Array(vec![Value::bulk("a"), Value::NullBulkString, Value::Null]) => Ok(vec![Some("a".into()), None, None]);
    vec_i64_from_array_with_bad_element: Vec<i64>, Value::Array(vec![Value::Integer(1), Value::bulk("x")]) => Err(conversion("i64", "a string that is not an integer in range"));
    vec_value_from_map: Vec<Value>, Value::Map(vec![(simple("k"), Value::Integer(1))]) => Ok(vec![Value::Array(vec![simple("k"), Value::Integer(1)])]);
    pairs_from_flat_array: Vec<(String, f64)>, flat(&[("a", "1.5"), ("b", "2")]) => Ok(vec![("a".into(), 1.5), ("b".into(), 2.0)]);
    pairs_from_nested_arrays: Vec<(String, f64)>, Value::Array(vec![Value::Array(vec![Value::bulk("a"), Value::Double(1.5)]), Value::Array(vec![Value::bulk("b"), Value::Double(2.0)])]) => Ok(vec![("a".into(), 1.5), ("b".into(), 2.0)]);
    pairs_from_map: Vec<(String, f64)>, Value::Map(vec![(Value::bulk("a"), Value::Double(1.5))]) => Ok(vec![("a".into(), 1.5)]);
    pairs_from_empty_array: Vec<(String, f64)>, Value::Array(vec![]) => Ok(vec![]);
    pairs_from_odd_flat_array: Vec<(String, f64)>, Value::Array(vec![Value::bulk("a"), Value::bulk("1"), Value::bulk("b")]) => Err(conversion("tuple", "a flat array of odd length"));
    pairs_from_attributed_nested_arrays: Vec<(String, i64)>, Value::Array(vec![annotated(Value::Array(vec![Value::bulk("a"), Value::Integer(1)]))]) => Ok(vec![("a".into(), 1)]);
    hash_map_from_flat_array: HashMap<String, i64>, flat(&[("a", "1"), ("b", "2")]) => Ok(hash_map(&[("a", 1), ("b", 2)]));
    hash_map_from_map: HashMap<String, i64>, Value::Map(vec![(Value::bulk("a"), Value::Integer(1)), (simple("b"), Value::Integer(2))]) => Ok(hash_map(&[("a", 1), ("b", 2)]));
    hash_map_from_pairs: HashMap<String, i64>, Value::Array(vec![Value::Array(vec![Value::bulk("a"), Value::Integer(1)])]) => Ok(hash_map(&[("a", 1)]));
    hash_map_from_null: HashMap<String, i64>, Value::NullArray => Ok(HashMap::new());
    hash_map_from_empty_map: HashMap<String, i64>, Value::Map(vec![]) => Ok(HashMap::new());
    hash_map_from_odd_flat_array: HashMap<String, i64>, Value::Array(vec![Value::bulk("a")]) => Err(conversion("tuple", "a flat array of odd length"));
    hash_map_from_bulk: HashMap<String, i64>, Value::bulk("a") => Err(conversion("HashMap", "bulk string"));
    hash_map_with_bad_value: HashMap<String, i64>, flat(&[("a", "x")]) => Err(conversion("i64", "a string that is not an integer in range"));
    btree_map_from_flat_array: BTreeMap<String, String>, flat(&[("b", "2"), ("a", "1")]) => Ok(BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]));
    hash_set_from_set: HashSet<String>, Value::Set(vec![Value::bulk("a"), Value::bulk("b"), Value::bulk("a")]) => Ok(HashSet::from(["a".into(), "b".into()]));
    hash_set_from_array: HashSet<i64>, Value::Array(vec![Value::Integer(1)]) => Ok(HashSet::from([1]));
    hash_set_from_map: HashSet<i64>, Value::Map(vec![]) => Err(conversion("HashSet", "map"));
    btree_set_from_set: BTreeSet<i64>, Value::Set(vec![Value::Integer(2), Value::Integer(1)]) => Ok(BTreeSet::from([1, 2]));
}

// Tuples: arrays of exactly their length.

converts! {
    tuple_1: (i64,), Value::Array(vec![Value::Integer(1)]) => Ok((1,));
    tuple_2: (String, i64), Value::Array(vec![Value::bulk("a"), Value::Integer(1)]) => Ok(("a".into(), 1));
    tuple_2_from_set: (i64, i64), Value::Set(vec![Value::Integer(1), Value::Integer(2)]) => Ok((1, 2));
    tuple_3: (String, Option<String>, i64), Value::Array(vec![Value::bulk("a"), Value::Null, Value::bulk("3")]) => Ok(("a".into(), None, 3));
    tuple_4: (i64, i64, i64, i64), Value::Array((1..=4).map(Value::Integer).collect()) => Ok((1, 2, 3, 4));
    tuple_8: (u8, u8, u8, u8, u8, u8, u8, u8), Value::Array((1..=8).map(Value::Integer).collect()) => Ok((1, 2, 3, 4, 5, 6, 7, 8));
    tuple_2_too_short: (i64, i64), Value::Array(vec![Value::Integer(1)]) => Err(conversion("tuple", "an array of the wrong length"));
    tuple_2_too_long: (i64, i64), Value::Array(vec![Value::Integer(1); 3]) => Err(conversion("tuple", "an array of the wrong length"));
    tuple_3_too_short: (i64, i64, i64), Value::Array(vec![Value::Integer(1); 2]) => Err(conversion("tuple", "an array of the wrong length"));
    tuple_2_from_null: (i64, i64), Value::NullArray => Err(conversion("tuple", "null"));
    tuple_2_from_bulk: (i64, i64), Value::bulk("1") => Err(conversion("tuple", "bulk string"));
    tuple_2_with_bad_element: (i64, i64), Value::Array(vec![Value::Integer(1), Value::Null]) => Err(conversion("i64", "null"));
}

// `()` and `Value`: anything but an error.

converts! {
    unit_from_ok: (), simple("OK") => Ok(());
    unit_from_null: (), Value::Null => Ok(());
    unit_from_array: (), Value::Array(vec![Value::Integer(1)]) => Ok(());
    value_from_integer: Value, Value::Integer(1) => Ok(Value::Integer(1));
    value_keeps_attributes: Value, annotated(Value::Integer(1)) => Ok(annotated(Value::Integer(1)));
    value_from_push: Value, Value::Push(vec![Value::bulk("message")]) => Ok(Value::Push(vec![Value::bulk("message")]));
}

// Attributes are looked through by every conversion but `Value`'s.

converts! {
    attributed_integer: i64, annotated(Value::Integer(5)) => Ok(5);
    attributed_string: String, annotated(Value::bulk("x")) => Ok("x".into());
    attributed_twice: i64, annotated(annotated(Value::Integer(5))) => Ok(5);
    attributed_bool: bool, annotated(Value::Boolean(true)) => Ok(true);
    attributed_array: Vec<i64>, annotated(Value::Array(vec![Value::Integer(1)])) => Ok(vec![1]);
    attributed_elements: Vec<i64>, Value::Array(vec![annotated(Value::Integer(1)), Value::Integer(2)]) => Ok(vec![1, 2]);
    attributed_map: HashMap<String, i64>, annotated(Value::Map(vec![(Value::bulk("a"), Value::Integer(1))])) => Ok(hash_map(&[("a", 1)]));
    attributed_tuple: (i64, i64), annotated(Value::Array(vec![Value::Integer(1), Value::Integer(2)])) => Ok((1, 2));
    attributed_unit: (), annotated(simple("OK")) => Ok(());
}

// A server error never converts into success, whatever the target.

server_error_fails! {
    server_error_into_unit: ();
    server_error_into_value: Value;
    server_error_into_string: String;
    server_error_into_bytes: Bytes;
    server_error_into_vec_u8: Vec<u8>;
    server_error_into_i64: i64;
    server_error_into_u8: u8;
    server_error_into_i128: i128;
    server_error_into_usize: usize;
    server_error_into_f64: f64;
    server_error_into_f32: f32;
    server_error_into_bool: bool;
    server_error_into_option_string: Option<String>;
    server_error_into_option_value: Option<Value>;
    server_error_into_option_unit: Option<()>;
    server_error_into_vec_string: Vec<String>;
    server_error_into_vec_value: Vec<Value>;
    server_error_into_pairs: Vec<(String, f64)>;
    server_error_into_hash_map: HashMap<String, String>;
    server_error_into_btree_map: BTreeMap<String, String>;
    server_error_into_hash_set: HashSet<String>;
    server_error_into_btree_set: BTreeSet<String>;
    server_error_into_tuple_1: (String,);
    server_error_into_tuple_2: (String, i64);
    server_error_into_tuple_3: (String, i64, f64);
}

// Error replies inside collections fail the whole conversion too.

converts! {
    error_element_in_vec_string: Vec<String>, Value::Array(vec![Value::bulk("a"), error_reply()]) => Err(server_error());
    error_element_in_vec_value: Vec<Value>, Value::Array(vec![Value::Integer(1), error_reply()]) => Err(server_error());
    error_element_in_vec_unit: Vec<()>, Value::Array(vec![error_reply()]) => Err(server_error());
    error_element_in_vec_option: Vec<Option<String>>, Value::Array(vec![Value::Null, error_reply()]) => Err(server_error());
    attributed_error_element_in_vec_value: Vec<Value>, Value::Array(vec![annotated(error_reply())]) => Err(server_error());
    error_value_in_map: HashMap<String, String>, Value::Map(vec![(Value::bulk("a"), error_reply())]) => Err(server_error());
    error_value_in_flat_array: HashMap<String, String>, Value::Array(vec![Value::bulk("a"), error_reply()]) => Err(server_error());
    error_key_in_map: HashMap<String, String>, Value::Map(vec![(error_reply(), Value::bulk("a"))]) => Err(server_error());
    error_element_in_tuple: (String, i64), Value::Array(vec![Value::bulk("a"), error_reply()]) => Err(server_error());
    error_element_in_set: HashSet<String>, Value::Set(vec![error_reply()]) => Err(server_error());
}

#[test]
fn server_errors_keep_their_code_and_message() {
    let err = String::from_value(Value::Error(text("WRONGTYPE Operation against a key")));
    let Err(Error::Server(server)) = err else {
        panic!("not a server error: {err:?}");
    };
    assert_eq!(server.code(), "WRONGTYPE");
    assert_eq!(server.message(), "Operation against a key");
}

#[test]
fn conversion_errors_name_type_and_kind() {
    let err = i64::from_value(Value::Map(vec![])).unwrap_err();
    assert_eq!(err.to_string(), "expected i64, got map");
}

#[test]
fn conversion_errors_quote_what_did_not_fit() {
    let err = i64::from_value(Value::bulk("abc")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected i64, got a string that is not an integer in range: \"abc\""
    );
    let err = u8::from_value(Value::Integer(300)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected u8, got an integer out of range: \"300\""
    );
    // A long value is cut short.
    let long = "x".repeat(100);
    let err = f64::from_value(Value::bulk(long)).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.ends_with(&format!(": \"{}…\"", "x".repeat(32))),
        "{shown}"
    );
    // The quotation is for people: errors still compare by meaning.
    assert_eq!(
        err,
        i64::from_value(Value::bulk("y"))
            .map(|_| ())
            .map_err(|_| Error::Conversion {
                target: "f64",
                found: "a string that is not a number",
                value: resp::Preview::none(),
            })
            .unwrap_err()
    );
}

// Shorthands and checks.

fn text(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn simple(s: &'static str) -> Value {
    Value::SimpleString(text(s))
}

fn annotated(value: Value) -> Value {
    Value::Attribute {
        attributes: vec![(simple("ttl"), Value::Integer(3))],
        value: Box::new(value),
    }
}

/// A RESP2 flat array of keys and values, all bulk strings.
fn flat(pairs: &[(&'static str, &'static str)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .flat_map(|&(k, v)| [Value::bulk(k), Value::bulk(v)])
            .collect(),
    )
}

fn hash_map(pairs: &[(&str, i64)]) -> HashMap<String, i64> {
    pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

fn conversion(target: &'static str, found: &'static str) -> Error {
    Error::Conversion {
        target,
        found,
        value: resp::Preview::none(),
    }
}

fn error_reply() -> Value {
    Value::Error(text("ERR boom"))
}

fn server_error() -> Error {
    Error::Server(ServerError::new(text("ERR boom")))
}

/// The same error reply in every shape it can arrive in.
fn error_replies() -> Vec<Value> {
    vec![
        error_reply(),
        Value::BlobError(text("ERR boom")),
        annotated(error_reply()),
        annotated(annotated(Value::BlobError(text("ERR boom")))),
    ]
}
