//! `Value`, one RESP2/RESP3 frame, and its encoding.

use bytes::{BufMut, Bytes};

/// One RESP frame: the full RESP3 type set plus RESP2's two nulls.
///
/// Bulk payloads are [`Bytes`] sliced out of the buffer the decoder read them
/// from, so decoding copies no string.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `+OK\r\n`: a short, binary-safe-by-convention status line.
    SimpleString(Bytes),
    /// `-ERR message\r\n`: an error reply.
    Error(Bytes),
    /// `:42\r\n`: a signed 64-bit integer.
    Integer(i64),
    /// `$5\r\nhello\r\n`: a binary-safe string.
    BulkString(Bytes),
    /// `*2\r\n...`: an ordered sequence of values.
    Array(Vec<Value>),
    /// `_\r\n`: the RESP3 null.
    Null,
    /// `$-1\r\n`: the RESP2 null bulk string (a missing key on RESP2).
    NullBulkString,
    /// `*-1\r\n`: the RESP2 null array (for example a timed-out BLPOP).
    NullArray,
    /// `,3.14\r\n`: a double, including `inf`, `-inf` and `nan`.
    Double(f64),
    /// `#t\r\n` or `#f\r\n`.
    Boolean(bool),
    /// `!21\r\nSYNTAX invalid syntax\r\n`: a binary-safe error.
    BlobError(Bytes),
    /// `=15\r\ntxt:Some string\r\n`: a string with a three-byte format.
    VerbatimString {
        /// The format, such as `txt` or `mkd`.
        format: [u8; 3],
        /// The text after `format:`.
        text: Bytes,
    },
    /// `(3492890328409238509324850943850943825024385\r\n`: an integer of any
    /// size, kept as its decimal digits.
    BigNumber(Bytes),
    /// `%2\r\n...`: key-value pairs in the order received.
    Map(Vec<(Value, Value)>),
    /// `~3\r\n...`: an unordered collection, kept in the order received.
    Set(Vec<Value>),
    /// `|1\r\n...`: attributes that annotate the value which follows them.
    Attribute {
        /// The attribute pairs.
        attributes: Vec<(Value, Value)>,
        /// The reply they annotate.
        value: Box<Value>,
    },
    /// `>3\r\n...`: out-of-band data such as pub/sub messages.
    Push(Vec<Value>),
}

impl Value {
    /// A short name of this value's kind, used in conversion errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::SimpleString(_) => "simple string",
            Value::Error(_) => "error",
            Value::Integer(_) => "integer",
            Value::BulkString(_) => "bulk string",
            Value::Array(_) => "array",
            Value::Null | Value::NullBulkString | Value::NullArray => "null",
            Value::Double(_) => "double",
            Value::Boolean(_) => "boolean",
            Value::BlobError(_) => "blob error",
            Value::VerbatimString { .. } => "verbatim string",
            Value::BigNumber(_) => "big number",
            Value::Map(_) => "map",
            Value::Set(_) => "set",
            Value::Attribute { .. } => "attribute",
            Value::Push(_) => "push",
        }
    }

    /// True for the RESP3 null and both RESP2 nulls.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null | Value::NullBulkString | Value::NullArray)
    }

    /// True for an error reply, simple or blob.
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_) | Value::BlobError(_))
    }

    /// A bulk string value from anything that converts into [`Bytes`].
    pub fn bulk(data: impl Into<Bytes>) -> Value {
        Value::BulkString(data.into())
    }

    /// The bytes of a string-like value (simple, bulk, verbatim, big number),
    /// or `None` for other kinds.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::SimpleString(b)
            | Value::BulkString(b)
            | Value::BigNumber(b)
            | Value::VerbatimString { text: b, .. } => Some(b),
            _ => None,
        }
    }

    /// Appends this value's RESP encoding to `out`.
    pub fn encode(&self, out: &mut impl BufMut) {
        match self {
            Value::SimpleString(s) => line(out, b'+', s),
            Value::Error(s) => line(out, b'-', s),
            Value::Integer(n) => {
                out.put_u8(b':');
                put_int(out, *n);
                out.put_slice(b"\r\n");
            }
            Value::BulkString(b) => blob(out, b'$', b),
            Value::Array(items) => aggregate(out, b'*', items),
            Value::Null => out.put_slice(b"_\r\n"),
            Value::NullBulkString => out.put_slice(b"$-1\r\n"),
            Value::NullArray => out.put_slice(b"*-1\r\n"),
            Value::Double(d) => {
                out.put_u8(b',');
                put_double(out, *d);
                out.put_slice(b"\r\n");
            }
            Value::Boolean(b) => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Value::BlobError(b) => blob(out, b'!', b),
            Value::VerbatimString { format, text } => {
                out.put_u8(b'=');
                put_int(out, text.len() + 4);
                out.put_slice(b"\r\n");
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Value::BigNumber(b) => line(out, b'(', b),
            Value::Map(pairs) => pairs_frame(out, b'%', pairs),
            Value::Set(items) => aggregate(out, b'~', items),
            Value::Attribute { attributes, value } => {
                pairs_frame(out, b'|', attributes);
                value.encode(out);
            }
            Value::Push(items) => aggregate(out, b'>', items),
        }
    }
}

impl From<&str> for Value {
    /// A bulk string, as a command argument would be sent.
    fn from(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Value {
    /// A bulk string.
    fn from(s: String) -> Value {
        Value::BulkString(Bytes::from(s))
    }
}

impl From<&String> for Value {
    /// A bulk string.
    fn from(s: &String) -> Value {
        Value::from(s.as_str())
    }
}

impl From<&[u8]> for Value {
    /// A bulk string.
    fn from(s: &[u8]) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s))
    }
}

impl From<Vec<u8>> for Value {
    /// A bulk string.
    fn from(s: Vec<u8>) -> Value {
        Value::BulkString(Bytes::from(s))
    }
}

impl From<Bytes> for Value {
    /// A bulk string.
    fn from(s: Bytes) -> Value {
        Value::BulkString(s)
    }
}

impl From<Vec<Value>> for Value {
    /// An array.
    fn from(items: Vec<Value>) -> Value {
        Value::Array(items)
    }
}

macro_rules! value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            /// An integer. Inside a command it is sent as a bulk string.
            fn from(n: $t) -> Value {
                Value::Integer(i64::from(n))
            }
        }
    )*};
}
value_from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<usize> for Value {
    /// An integer (saturating at `i64::MAX`). Inside a command it is sent as a
    /// bulk string.
    fn from(n: usize) -> Value {
        Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Value {
    /// A double. Inside a command it is sent as a bulk string.
    fn from(d: f64) -> Value {
        Value::Double(d)
    }
}

impl From<bool> for Value {
    /// A boolean.
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

/// Writes a decimal integer without allocating.
pub(crate) fn put_int(out: &mut impl BufMut, n: impl itoa::Integer) {
    let mut buf = itoa::Buffer::new();
    out.put_slice(buf.format(n).as_bytes());
}

/// Writes a double the way RESP3 spells it: `inf`, `-inf`, `nan`, or a
/// decimal that parses back to the same value.
pub(crate) fn put_double(out: &mut impl BufMut, d: f64) {
    if d.is_nan() {
        out.put_slice(b"nan");
    } else if d.is_infinite() {
        out.put_slice(if d > 0.0 { b"inf" } else { b"-inf" });
    } else {
        // `Debug` gives the shortest text that reads back as the same f64.
        let mut w = StackWriter::default();
        let _ = std::fmt::Write::write_fmt(&mut w, format_args!("{d:?}"));
        out.put_slice(w.as_bytes());
    }
}

/// A small fixed buffer for `fmt` output, so formatting a float allocates
/// nothing. Any f64 `Debug` output fits: at most 24 bytes.
#[derive(Default)]
struct StackWriter {
    buf: [u8; 32],
    len: usize,
}

impl StackWriter {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn line(out: &mut impl BufMut, tag: u8, s: &[u8]) {
    out.put_u8(tag);
    out.put_slice(s);
    out.put_slice(b"\r\n");
}

fn header(out: &mut impl BufMut, tag: u8, len: usize) {
    out.put_u8(tag);
    put_int(out, len);
    out.put_slice(b"\r\n");
}

fn blob(out: &mut impl BufMut, tag: u8, b: &[u8]) {
    header(out, tag, b.len());
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

fn aggregate(out: &mut impl BufMut, tag: u8, items: &[Value]) {
    header(out, tag, items.len());
    for item in items {
        item.encode(out);
    }
}

fn pairs_frame(out: &mut impl BufMut, tag: u8, pairs: &[(Value, Value)]) {
    header(out, tag, pairs.len());
    for (k, v) in pairs {
        k.encode(out);
        v.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        v.encode(&mut out);
        out
    }

    #[test]
    fn doubles_are_spelled_as_resp3_wants() {
        assert_eq!(enc(&Value::Double(f64::INFINITY)), b",inf\r\n");
        assert_eq!(enc(&Value::Double(f64::NEG_INFINITY)), b",-inf\r\n");
        assert_eq!(enc(&Value::Double(f64::NAN)), b",nan\r\n");
        assert_eq!(enc(&Value::Double(1.5)), b",1.5\r\n");
        assert_eq!(enc(&Value::Double(-1e300)), b",-1e300\r\n");
        assert_eq!(
            enc(&Value::Double(f64::MIN_POSITIVE)),
            b",2.2250738585072014e-308\r\n"
        );
    }

    #[test]
    fn verbatim_length_counts_the_format() {
        let v = Value::VerbatimString {
            format: *b"txt",
            text: Bytes::from_static(b"Some string"),
        };
        assert_eq!(enc(&v), b"=15\r\ntxt:Some string\r\n");
    }
}
