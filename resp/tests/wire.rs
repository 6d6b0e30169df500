//! Wire-case tables: one line a RESP case, valid and malformed.
//!
//! Each valid case is decoded whole, byte by byte and with every strict prefix
//! on its own (which must be `Ok(None)`); canonical cases are also encoded
//! back to the exact bytes. Each malformed case names the exact error, which
//! feeding the bytes one at a time must reach too, without the buffer growing.

use bytes::{BufMut, Bytes, BytesMut};
use resp::{Decoder, DecoderConfig, Error, Value};

/// `name: wire => value;` the bytes decode to the value and the value encodes
/// to exactly the bytes.
macro_rules! canonical {
    ($($name:ident: $wire:expr => $value:expr;)+) => {$(
        #[test]
        fn $name() {
            let value: Value = $value;
            assert_decodes($wire, &value, DecoderConfig::new());
            assert_eq!(show(&encoded(&value)), show($wire), "encoding of {value:?}");
        }
    )+};
}

/// `name: wire [, config] => value;` the bytes decode to the value, which
/// encodes differently (a spelling the decoder accepts but never writes) or
/// needs the given limits.
macro_rules! decodes {
    ($($name:ident: $wire:expr $(, $config:expr)? => $value:expr;)+) => {$(
        #[test]
        fn $name() {
            assert_decodes($wire, &$value, config_or_default!($($config)?));
        }
    )+};
}

/// `name: wire [, config] => error;` the bytes are refused with this error.
macro_rules! rejects {
    ($($name:ident: $wire:expr $(, $config:expr)? => $error:expr;)+) => {$(
        #[test]
        fn $name() {
            assert_rejects($wire, $error, config_or_default!($($config)?));
        }
    )+};
}

/// The limits a case names, or the defaults.
macro_rules! config_or_default {
    () => {
        DecoderConfig::new()
    };
    ($config:expr) => {
        $config
    };
}

// Valid frames, one per RESP2 and RESP3 type and their edge cases.

canonical! {
    simple_string: b"+OK\r\n" => simple("OK");
    simple_string_empty: b"+\r\n" => simple("");
    simple_string_queued: b"+QUEUED\r\n" => simple("QUEUED");
    simple_string_pong: b"+PONG\r\n" => simple("PONG");
    simple_string_ok_prefix: b"+OKAY\r\n" => simple("OKAY");
    simple_string_with_spaces: b"+hello world\r\n" => simple("hello world");
    error: b"-ERR unknown command 'FOO'\r\n" => Value::Error(text("ERR unknown command 'FOO'"));
    error_code_only: b"-WRONGTYPE\r\n" => Value::Error(text("WRONGTYPE"));
    integer_zero: b":0\r\n" => Value::Integer(0);
    integer_positive: b":1000\r\n" => Value::Integer(1000);
    integer_negative: b":-42\r\n" => Value::Integer(-42);
    integer_18_digits: b":999999999999999999\r\n" => Value::Integer(999_999_999_999_999_999);
    integer_negative_18_digits: b":-999999999999999999\r\n" => Value::Integer(-999_999_999_999_999_999);
    integer_19_digits: b":1000000000000000000\r\n" => Value::Integer(1_000_000_000_000_000_000);
    integer_max: b":9223372036854775807\r\n" => Value::Integer(i64::MAX);
    integer_min: b":-9223372036854775808\r\n" => Value::Integer(i64::MIN);
    bulk: b"$5\r\nhello\r\n" => Value::bulk("hello");
    bulk_empty: b"$0\r\n\r\n" => Value::bulk("");
    bulk_holding_crlf: b"$4\r\n\r\n\r\n\r\n" => Value::bulk("\r\n\r\n");
    bulk_binary: b"$4\r\n\x00\xff\n\r\r\n" => Value::bulk(&b"\x00\xff\n\r"[..]);
    null_bulk: b"$-1\r\n" => Value::NullBulkString;
    array_empty: b"*0\r\n" => Value::Array(vec![]);
    array: b"*2\r\n$3\r\nfoo\r\n:1\r\n" => Value::Array(vec![Value::bulk("foo"), Value::Integer(1)]);
    array_nested: b"*2\r\n*1\r\n+a\r\n*0\r\n" => Value::Array(vec![Value::Array(vec![simple("a")]), Value::Array(vec![])]);
    array_holding_nulls: b"*3\r\n$-1\r\n*-1\r\n_\r\n" => Value::Array(vec![Value::NullBulkString, Value::NullArray, Value::Null]);
    null_array: b"*-1\r\n" => Value::NullArray;
    null: b"_\r\n" => Value::Null;
    double: b",1.5\r\n" => Value::Double(1.5);
    double_negative: b",-0.25\r\n" => Value::Double(-0.25);
    double_zero: b",0.0\r\n" => Value::Double(0.0);
    double_exponent: b",1e300\r\n" => Value::Double(1e300);
    double_tiny: b",5e-324\r\n" => Value::Double(5e-324);
    double_inf: b",inf\r\n" => Value::Double(f64::INFINITY);
    double_minus_inf: b",-inf\r\n" => Value::Double(f64::NEG_INFINITY);
    boolean_true: b"#t\r\n" => Value::Boolean(true);
    boolean_false: b"#f\r\n" => Value::Boolean(false);
    blob_error: b"!21\r\nSYNTAX invalid syntax\r\n" => Value::BlobError(text("SYNTAX invalid syntax"));
    blob_error_empty: b"!0\r\n\r\n" => Value::BlobError(text(""));
    verbatim_string: b"=15\r\ntxt:Some string\r\n" => verbatim(b"txt", "Some string");
    verbatim_empty_text: b"=4\r\nmkd:\r\n" => verbatim(b"mkd", "");
    verbatim_format_holding_colon: b"=5\r\na:b:c\r\n" => verbatim(b"a:b", "c");
    verbatim_text_holding_crlf: b"=6\r\ntxt:\r\n\r\n" => verbatim(b"txt", "\r\n");
    big_number: b"(3492890328409238509324850943850943825024385\r\n" => Value::BigNumber(text("3492890328409238509324850943850943825024385"));
    big_number_negative: b"(-3492890328409238509324850943850943825024385\r\n" => Value::BigNumber(text("-3492890328409238509324850943850943825024385"));
    map: b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n" => Value::Map(vec![(simple("first"), Value::Integer(1)), (simple("second"), Value::Integer(2))]);
    map_empty: b"%0\r\n" => Value::Map(vec![]);
    map_with_aggregate_key: b"%1\r\n*1\r\n:1\r\n_\r\n" => Value::Map(vec![(Value::Array(vec![Value::Integer(1)]), Value::Null)]);
    set: b"~3\r\n+a\r\n:1\r\n#t\r\n" => Value::Set(vec![simple("a"), Value::Integer(1), Value::Boolean(true)]);
    set_empty: b"~0\r\n" => Value::Set(vec![]);
    push: b">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n" => Value::Push(vec![Value::bulk("message"), Value::bulk("chan"), Value::bulk("hello")]);
    push_empty: b">0\r\n" => Value::Push(vec![]);
    attribute: b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n" => popularity();
    attribute_empty: b"|0\r\n:1\r\n" => annotated(vec![], Value::Integer(1));
    attribute_on_null: b"|1\r\n+ttl\r\n:3\r\n_\r\n" => annotated(vec![(simple("ttl"), Value::Integer(3))], Value::Null);
    attribute_on_attribute: b"|0\r\n|0\r\n+x\r\n" => annotated(vec![], annotated(vec![], simple("x")));
    attribute_inside_array: b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n" => Value::Array(vec![annotated(vec![(simple("a"), simple("b"))], Value::Integer(1)), Value::Integer(2)]);
    attribute_as_map_key: b"%1\r\n|0\r\n+k\r\n+v\r\n" => Value::Map(vec![(annotated(vec![], simple("k")), simple("v"))]);
}

// Valid spellings the encoder never writes, and frames right at the limits.

decodes! {
    integer_plus_signed: b":+5\r\n" => Value::Integer(5);
    integer_leading_zeros: b":007\r\n" => Value::Integer(7);
    integer_minus_zero: b":-0\r\n" => Value::Integer(0);
    bulk_length_leading_zeros: b"$03\r\nfoo\r\n" => Value::bulk("foo");
    double_integral: b",10\r\n" => Value::Double(10.0);
    double_exponent_form: b",1.5e3\r\n" => Value::Double(1500.0);
    double_plus_signed: b",+2.5\r\n" => Value::Double(2.5);
    big_number_plus_signed: b"(+12\r\n" => Value::BigNumber(text("+12"));
    simple_string_holding_cr: b"+a\rb\r\n" => simple("a\rb");
    bulk_at_limit: b"$4\r\nabcd\r\n", bulk_limit(4) => Value::bulk("abcd");
    verbatim_at_limit: b"=8\r\ntxt:abcd\r\n", bulk_limit(8) => verbatim(b"txt", "abcd");
    array_at_limit: b"*2\r\n:1\r\n:2\r\n", aggregate_limit(2) => Value::Array(vec![Value::Integer(1), Value::Integer(2)]);
    map_at_limit_counts_pairs: b"%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n", aggregate_limit(2) => Value::Map(vec![(Value::Integer(1), Value::Integer(2)), (Value::Integer(3), Value::Integer(4))]);
    depth_at_limit: b"*1\r\n*1\r\n:1\r\n", depth_limit(2) => Value::Array(vec![Value::Array(vec![Value::Integer(1)])]);
    depth_zero_allows_scalars: b":1\r\n", depth_limit(0) => Value::Integer(1);
    depth_zero_allows_null_array: b"*-1\r\n", depth_limit(0) => Value::NullArray;
    line_at_limit: b"+abcd\r\n", line_limit(4) => simple("abcd");
    line_limit_unbounded: b"+OK\r\n", line_limit(usize::MAX) => simple("OK");
    line_limit_spares_bulk_payloads: b"$10\r\n0123456789\r\n", line_limit(4) => Value::bulk("0123456789");
}

#[test]
fn double_nan() {
    for wire in [&b",nan\r\n"[..], b",NaN\r\n"] {
        let value = Decoder::new().decode(&mut BytesMut::from(wire));
        assert!(
            matches!(value, Ok(Some(Value::Double(d))) if d.is_nan()),
            "{}: {value:?}",
            show(wire)
        );
    }
    assert_eq!(encoded(&Value::Double(f64::NAN)), b",nan\r\n");
}

// Malformed frames, each with the exact error.

rejects! {
    type_byte_unknown: b"x\r\n" => Error::InvalidType(b'x');
    type_byte_space: b" +OK\r\n" => Error::InvalidType(b' ');
    type_byte_digit: b"3\r\n" => Error::InvalidType(b'3');
    type_byte_inline_command: b"PING\r\n" => Error::InvalidType(b'P');
    type_byte_stream_chunk: b";4\r\nHell\r\n" => Error::InvalidType(b';');
    type_byte_stream_end: b".\r\n" => Error::InvalidType(b'.');
    type_byte_before_any_line_end: b"x" => Error::InvalidType(b'x');
    type_byte_of_http_reply: b"HTTP/1.1 400 Bad Request" => Error::InvalidType(b'H');
    type_byte_in_array: b"*1\r\n@\r\n" => Error::InvalidType(b'@');

    bulk_payload_without_crlf: b"$3\r\nfooXY" => Error::MissingCrlf;
    bulk_payload_too_long: b"$3\r\nfoobar\r\n" => Error::MissingCrlf;
    bulk_payload_with_lf_cr: b"$3\r\nfoo\n\r" => Error::MissingCrlf;
    bulk_payload_with_lf_only: b"$3\r\nfoo\n\r\n" => Error::MissingCrlf;
    blob_error_without_crlf: b"!3\r\nERRxx" => Error::MissingCrlf;
    verbatim_without_crlf: b"=5\r\ntxt:ab\n" => Error::MissingCrlf;

    lf_without_cr_simple: b"+OK\n" => Error::MissingCrlf;
    lf_without_cr_error: b"-ERR\n" => Error::MissingCrlf;
    lf_without_cr_integer: b":1\n" => Error::MissingCrlf;
    lf_without_cr_bulk_header: b"$3\nfoo\r\n" => Error::MissingCrlf;
    lf_without_cr_array_header: b"*1\n:1\r\n" => Error::MissingCrlf;
    lf_right_after_tag: b"+\n" => Error::MissingCrlf;
    lf_as_tag: b"\n" => Error::InvalidType(b'\n');
    cr_as_tag: b"\r\n" => Error::InvalidType(b'\r');

    length_letters: b"$abc\r\n" => Error::InvalidLength;
    length_empty: b"$\r\n" => Error::InvalidLength;
    length_trailing_letter: b"$3x\r\nfoo\r\n" => Error::InvalidLength;
    length_space: b"$ 3\r\nfoo\r\n" => Error::InvalidLength;
    length_fraction: b"*1.5\r\n" => Error::InvalidLength;
    length_overflows_u64: b"$99999999999999999999\r\n" => Error::InvalidLength;
    length_overflows_u64_aggregate: b"*18446744073709551616\r\n" => Error::InvalidLength;
    length_plus_signed: b"$+3\r\nfoo\r\n" => Error::InvalidLength;
    length_plus_signed_aggregate: b"*+1\r\n:1\r\n" => Error::InvalidLength;
    length_minus_two: b"$-2\r\n" => Error::InvalidLength;
    length_minus_zero: b"$-0\r\n" => Error::InvalidLength;
    length_minus_one_padded: b"$-01\r\n" => Error::InvalidLength;
    length_minus_two_aggregate: b"*-2\r\n" => Error::InvalidLength;
    length_minus_only: b"*-\r\n" => Error::InvalidLength;

    null_blob_error: b"!-1\r\n" => Error::InvalidLength;
    null_verbatim: b"=-1\r\n" => Error::InvalidLength;
    null_set: b"~-1\r\n" => Error::InvalidLength;
    null_map: b"%-1\r\n" => Error::InvalidLength;
    null_push: b">-1\r\n" => Error::InvalidLength;
    null_attribute: b"|-1\r\n" => Error::InvalidLength;

    boolean_letter: b"#x\r\n" => Error::InvalidFrame("boolean");
    boolean_upper: b"#T\r\n" => Error::InvalidFrame("boolean");
    boolean_empty: b"#\r\n" => Error::InvalidFrame("boolean");
    boolean_twice: b"#tt\r\n" => Error::InvalidFrame("boolean");
    boolean_word: b"#true\r\n" => Error::InvalidFrame("boolean");

    null_with_content: b"_x\r\n" => Error::InvalidFrame("null");
    null_with_space: b"_ \r\n" => Error::InvalidFrame("null");

    double_empty: b",\r\n" => Error::InvalidFrame("double");
    double_letters: b",abc\r\n" => Error::InvalidFrame("double");
    double_two_points: b",1.2.3\r\n" => Error::InvalidFrame("double");
    double_space: b", 1.5\r\n" => Error::InvalidFrame("double");
    double_not_utf8: b",1\xff\r\n" => Error::InvalidFrame("double");

    big_number_empty: b"(\r\n" => Error::InvalidFrame("big number");
    big_number_sign_only: b"(-\r\n" => Error::InvalidFrame("big number");
    big_number_letter: b"(12a\r\n" => Error::InvalidFrame("big number");
    big_number_fraction: b"(1.5\r\n" => Error::InvalidFrame("big number");
    big_number_two_signs: b"(--1\r\n" => Error::InvalidFrame("big number");

    verbatim_without_prefix: b"=11\r\nSome string\r\n" => Error::InvalidFrame("verbatim string");
    verbatim_format_only: b"=3\r\ntxt\r\n" => Error::InvalidFrame("verbatim string");
    verbatim_empty: b"=0\r\n\r\n" => Error::InvalidFrame("verbatim string");
    verbatim_short_format: b"=5\r\ntx:ab\r\n" => Error::InvalidFrame("verbatim string");

    integer_overflow: b":9223372036854775808\r\n" => Error::InvalidFrame("integer");
    integer_underflow: b":-9223372036854775809\r\n" => Error::InvalidFrame("integer");
    integer_empty: b":\r\n" => Error::InvalidFrame("integer");
    integer_sign_only: b":-\r\n" => Error::InvalidFrame("integer");
    integer_letters: b":1a\r\n" => Error::InvalidFrame("integer");
    integer_space: b": 1\r\n" => Error::InvalidFrame("integer");
    integer_two_signs: b":+-1\r\n" => Error::InvalidFrame("integer");
    integer_fraction: b":1.0\r\n" => Error::InvalidFrame("integer");

    streamed_bulk: b"$?\r\n;4\r\nHell\r\n;0\r\n" => Error::InvalidLength;
    streamed_array: b"*?\r\n:1\r\n.\r\n" => Error::InvalidLength;
    streamed_map: b"%?\r\n+a\r\n:1\r\n.\r\n" => Error::InvalidLength;
    streamed_blob_error: b"!?\r\n" => Error::InvalidLength;

    over_bulk_limit: b"$5\r\nhello\r\n", bulk_limit(4) => too_large("bulk", 5, 4);
    over_bulk_limit_blob_error: b"!5\r\nERR x\r\n", bulk_limit(4) => too_large("bulk", 5, 4);
    over_bulk_limit_verbatim: b"=9\r\ntxt:hello\r\n", bulk_limit(8) => too_large("bulk", 9, 8);
    over_bulk_limit_nested: b"*2\r\n$1\r\na\r\n$5\r\nhello\r\n", bulk_limit(4) => too_large("bulk", 5, 4);
    over_bulk_limit_18_digits: b"$999999999999999999\r\n" => too_large("bulk", 999_999_999_999_999_999, DecoderConfig::DEFAULT_MAX_BULK_LEN);
    over_bulk_limit_19_digits: b"$9999999999999999999\r\n" => too_large("bulk", 9_999_999_999_999_999_999, DecoderConfig::DEFAULT_MAX_BULK_LEN);
    over_bulk_limit_u64_max: b"$18446744073709551615\r\n" => too_large("bulk", u64::MAX, DecoderConfig::DEFAULT_MAX_BULK_LEN);
    over_default_bulk_limit: b"$536870913\r\n" => too_large("bulk", 536_870_913, DecoderConfig::DEFAULT_MAX_BULK_LEN);
    over_aggregate_limit_array: b"*3\r\n:1\r\n:2\r\n:3\r\n", aggregate_limit(2) => too_large("aggregate", 3, 2);
    over_aggregate_limit_set: b"~3\r\n", aggregate_limit(2) => too_large("aggregate", 3, 2);
    over_aggregate_limit_push: b">3\r\n", aggregate_limit(2) => too_large("aggregate", 3, 2);
    over_aggregate_limit_map: b"%3\r\n", aggregate_limit(2) => too_large("aggregate", 3, 2);
    over_aggregate_limit_attribute: b"|3\r\n", aggregate_limit(2) => too_large("aggregate", 3, 2);
    over_aggregate_limit_nested: b"*1\r\n*3\r\n", aggregate_limit(2) => too_large("aggregate", 3, 2);
    over_default_aggregate_limit: b"*4194305\r\n" => too_large("aggregate", 4_194_305, DecoderConfig::DEFAULT_MAX_AGGREGATE_LEN);
    over_depth_limit: b"*1\r\n*1\r\n*1\r\n:1\r\n", depth_limit(2) => Error::TooDeep(2);
    over_depth_limit_empty_inner: b"*1\r\n*1\r\n*0\r\n", depth_limit(2) => Error::TooDeep(2);
    over_depth_limit_map_key: b"%1\r\n*1\r\n*0\r\n_\r\n", depth_limit(2) => Error::TooDeep(2);
    over_depth_limit_attribute_value: b"|0\r\n*1\r\n*0\r\n", depth_limit(2) => Error::TooDeep(2);
    over_depth_limit_zero: b"*0\r\n", depth_limit(0) => Error::TooDeep(0);
    over_default_depth_limit: &[b"*1\r\n".repeat(65), b":1\r\n".to_vec()].concat() => Error::TooDeep(64);
    over_line_limit: b"+abcde\r\n", line_limit(4) => Error::LineTooLong(4);
    over_line_limit_unterminated: b"+abcdefgh", line_limit(4) => Error::LineTooLong(4);
    over_line_limit_integer: b":123456\r\n", line_limit(4) => Error::LineTooLong(4);
    over_line_limit_header: b"$12345\r\n", line_limit(4) => Error::LineTooLong(4);
    over_line_limit_cr_without_lf: b"+ab\rcdefgh", line_limit(4) => Error::LineTooLong(4);
    over_default_line_limit: &[&b"+"[..], &[b'a'; 64 * 1024 + 2]].concat() => Error::LineTooLong(DecoderConfig::DEFAULT_MAX_LINE_LEN);
}

// Incomplete input is `Ok(None)`, and what was consumed is remembered.

#[test]
fn incomplete_prefixes_are_none() {
    let mut decoder = Decoder::new();
    for wire in [
        &b""[..],
        b"+",
        b"+OK",
        b"+OK\r",
        b"$",
        b"$5",
        b"$5\r",
        b"$5\r\n",
        b"$5\r\nhel",
        b"$5\r\nhello",
        b"$5\r\nhello\r",
        b"*2\r\n",
        b"*2\r\n:1\r\n",
        b"*2\r\n:1\r\n$3\r\nfo",
        b"%1\r\n+k\r\n",
        b"|1\r\n+k\r\n+v\r\n",
        b",1.5",
        b"#",
        b"_\r",
    ] {
        let mut buf = BytesMut::from(wire);
        assert_eq!(decoder.decode(&mut buf), Ok(None), "{}", show(wire));
        decoder.reset();
        assert!(decoder.is_idle());
    }
}

#[test]
fn frames_in_one_buffer_come_out_in_order() {
    let mut buf = BytesMut::from(&b"+OK\r\n:1\r\n$3\r\nfoo\r\n*1\r\n_\r\n$-1\r\n+par"[..]);
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    while let Some(value) = decoder.decode(&mut buf).unwrap() {
        out.push(value);
    }
    assert_eq!(
        out,
        vec![
            simple("OK"),
            Value::Integer(1),
            Value::bulk("foo"),
            Value::Array(vec![Value::Null]),
            Value::NullBulkString,
        ]
    );
    assert_eq!(&buf[..], b"+par");
    buf.extend_from_slice(b"tial\r\n");
    assert_eq!(decoder.decode(&mut buf), Ok(Some(simple("partial"))));
    assert!(buf.is_empty() && decoder.is_idle());
}

#[test]
fn a_half_read_frame_is_idle_again_after_reset() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nfo"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(!decoder.is_idle());
    decoder.reset();
    assert!(decoder.is_idle());
    let mut buf = BytesMut::from(&b":7\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(Some(Value::Integer(7))));
}

// Limits are enforced on headers alone, before anything is reserved.

#[test]
fn an_over_limit_header_alone_reserves_nothing() {
    let cases: [(&[u8], DecoderConfig, Error); 5] = [
        (
            b"$1000000000\r\n",
            bulk_limit(1024),
            too_large("bulk", 1_000_000_000, 1024),
        ),
        (
            b"!1000000000\r\n",
            bulk_limit(1024),
            too_large("bulk", 1_000_000_000, 1024),
        ),
        (
            b"=1000000000\r\n",
            bulk_limit(1024),
            too_large("bulk", 1_000_000_000, 1024),
        ),
        (
            b"*1000000000\r\n",
            aggregate_limit(16),
            too_large("aggregate", 1_000_000_000, 16),
        ),
        (
            b"%1000000000\r\n",
            aggregate_limit(16),
            too_large("aggregate", 1_000_000_000, 16),
        ),
    ];
    for (wire, config, error) in cases {
        // A buffer with some room, as a reader would have, that must not grow.
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(wire);
        let mut decoder = Decoder::with_config(config);
        assert_eq!(decoder.decode(&mut buf), Err(error), "{}", show(wire));
        assert!(
            buf.capacity() <= 64,
            "{}: capacity {}",
            show(wire),
            buf.capacity()
        );
    }
}

#[test]
fn an_in_limit_aggregate_header_alone_reserves_little() {
    // The default limit lets four million elements through, but a header
    // alone must not make the decoder (or the buffer) reserve for them.
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b"*4194304\r\n");
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(buf.capacity() <= 64, "capacity {}", buf.capacity());
    assert!(!decoder.is_idle());
}

#[test]
fn limits_are_per_frame_not_per_stream() {
    let mut decoder = Decoder::with_config(bulk_limit(4).with_max_aggregate_len(2));
    let mut buf =
        BytesMut::from(&b"$4\r\nabcd\r\n$4\r\nefgh\r\n*2\r\n:1\r\n:2\r\n*2\r\n:3\r\n:4\r\n"[..]);
    for _ in 0..4 {
        assert!(matches!(decoder.decode(&mut buf), Ok(Some(_))));
    }
    assert!(buf.is_empty());
}

// Shorthands and checks.

fn simple(s: &'static str) -> Value {
    Value::SimpleString(text(s))
}

fn text(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn verbatim(format: &[u8; 3], s: &'static str) -> Value {
    Value::VerbatimString {
        format: *format,
        text: text(s),
    }
}

fn annotated(attributes: Vec<(Value, Value)>, value: Value) -> Value {
    Value::Attribute {
        attributes,
        value: Box::new(value),
    }
}

/// The attribute example of the RESP3 specification.
fn popularity() -> Value {
    let scores = Value::Map(vec![
        (Value::bulk("a"), Value::Double(0.1923)),
        (Value::bulk("b"), Value::Double(0.0012)),
    ]);
    annotated(
        vec![(simple("key-popularity"), scores)],
        Value::Array(vec![Value::Integer(2039123), Value::Integer(9543892)]),
    )
}

fn bulk_limit(n: usize) -> DecoderConfig {
    DecoderConfig::new().with_max_bulk_len(n)
}

fn aggregate_limit(n: usize) -> DecoderConfig {
    DecoderConfig::new().with_max_aggregate_len(n)
}

fn depth_limit(n: usize) -> DecoderConfig {
    DecoderConfig::new().with_max_depth(n)
}

fn line_limit(n: usize) -> DecoderConfig {
    DecoderConfig::new().with_max_line_len(n)
}

fn too_large(what: &'static str, len: u64, limit: usize) -> Error {
    Error::TooLarge { what, len, limit }
}

fn encoded(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Decodes `wire` whole, byte by byte, and as every strict prefix on its own,
/// and checks that a frame following it is left in the buffer untouched.
fn assert_decodes(wire: &[u8], expected: &Value, config: DecoderConfig) {
    let shown = show(wire);
    let mut buf = BytesMut::from(wire);
    let mut decoder = Decoder::with_config(config);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(expected.clone())),
        "whole: {shown}"
    );
    assert!(buf.is_empty(), "whole: {shown}: left {}", show(&buf));
    assert!(decoder.is_idle(), "whole: {shown}");

    let mut buf = BytesMut::new();
    let mut decoder = Decoder::with_config(config);
    for (i, &byte) in wire.iter().enumerate() {
        buf.put_u8(byte);
        let got = decoder.decode(&mut buf);
        if i + 1 < wire.len() {
            assert_eq!(got, Ok(None), "byte by byte: {shown} after {} bytes", i + 1);
        } else {
            assert_eq!(got, Ok(Some(expected.clone())), "byte by byte: {shown}");
        }
    }
    assert!(buf.is_empty() && decoder.is_idle(), "byte by byte: {shown}");

    for n in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..n]);
        let got = Decoder::with_config(config).decode(&mut buf);
        assert_eq!(got, Ok(None), "prefix of {n} bytes: {shown}");
    }

    let mut buf = BytesMut::from(wire);
    buf.extend_from_slice(b":1\r\n");
    let mut decoder = Decoder::with_config(config);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(expected.clone())),
        "followed: {shown}"
    );
    assert_eq!(&buf[..], b":1\r\n", "followed: {shown}");
}

/// Decodes `wire` whole and byte by byte: both must end in `error` (byte by
/// byte, with only `Ok(None)` before it), and the buffer must not have grown.
fn assert_rejects(wire: &[u8], error: Error, config: DecoderConfig) {
    let shown = show(wire);
    let mut buf = BytesMut::from(wire);
    let got = Decoder::with_config(config).decode(&mut buf);
    assert_eq!(got, Err(error.clone()), "whole: {shown}");
    assert!(
        buf.capacity() <= wire.len(),
        "whole: {shown}: buffer grew to {}",
        buf.capacity()
    );

    let mut buf = BytesMut::new();
    let mut decoder = Decoder::with_config(config);
    let mut got = Ok(None);
    for &byte in wire {
        buf.put_u8(byte);
        got = decoder.decode(&mut buf);
        if got != Ok(None) {
            break;
        }
    }
    assert_eq!(got, Err(error), "byte by byte: {shown}");
}

#[test]
fn nested_aggregates_share_one_element_budget() {
    // Each array is within the limit of 4; together they exceed twice it.
    let config = DecoderConfig::new().with_max_aggregate_len(4);
    let mut decoder = Decoder::with_config(config);
    let mut buf = BytesMut::from(&b"*4\r\n*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n*4\r\n"[..]);
    assert_eq!(
        decoder.decode(&mut buf),
        Err(Error::TooLarge {
            what: "reply element",
            len: 12,
            limit: 8
        })
    );
    // The budget is per reply: two replies of eight elements each pass.
    let mut decoder = Decoder::with_config(config);
    let one = b"*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*3\r\n:4\r\n:5\r\n:6\r\n";
    let mut buf = BytesMut::from(&[&one[..], &one[..]].concat()[..]);
    assert!(decoder.decode(&mut buf).unwrap().is_some());
    assert!(decoder.decode(&mut buf).unwrap().is_some());
}
