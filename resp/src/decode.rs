//! The decoder: bytes in, [`Value`]s out, in one resumable pass with limits.

use bytes::{Buf, Bytes, BytesMut};

use crate::{Error, Value};

/// Limits the decoder enforces on input it has not seen yet.
///
/// Every length read off the wire is checked against these before any memory
/// is reserved for it. The defaults are strict but let every reply a stock
/// Redis server sends through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    max_bulk_len: usize,
    max_aggregate_len: usize,
    max_depth: usize,
    max_line_len: usize,
}

impl DecoderConfig {
    /// Default bulk length limit: 512 MiB, Redis's own `proto-max-bulk-len`.
    pub const DEFAULT_MAX_BULK_LEN: usize = 512 * 1024 * 1024;
    /// Default element count limit of one aggregate (a map counts its pairs).
    pub const DEFAULT_MAX_AGGREGATE_LEN: usize = 1 << 22;
    /// Default nesting limit: aggregates inside aggregates.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// Default line length limit (simple strings, errors, numbers): 64 KiB,
    /// Redis's own limit for inline requests.
    pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;

    /// The default limits.
    pub const fn new() -> DecoderConfig {
        DecoderConfig {
            max_bulk_len: Self::DEFAULT_MAX_BULK_LEN,
            max_aggregate_len: Self::DEFAULT_MAX_AGGREGATE_LEN,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_line_len: Self::DEFAULT_MAX_LINE_LEN,
        }
    }

    /// Sets the largest bulk string, blob error or verbatim string accepted.
    pub const fn with_max_bulk_len(mut self, len: usize) -> DecoderConfig {
        self.max_bulk_len = len;
        self
    }

    /// Sets the largest element count of an array, set or push, and the
    /// largest pair count of a map or attribute. It also bounds all the
    /// elements of one reply together, so that nested aggregates cannot
    /// multiply it: a reply holds at most twice this many values (a map's
    /// pairs counting as two each).
    pub const fn with_max_aggregate_len(mut self, len: usize) -> DecoderConfig {
        self.max_aggregate_len = len;
        self
    }

    /// Sets how deep aggregates may nest (0 allows no aggregate at all).
    pub const fn with_max_depth(mut self, depth: usize) -> DecoderConfig {
        self.max_depth = depth;
        self
    }

    /// Sets the longest line (simple string, error, number) accepted.
    pub const fn with_max_line_len(mut self, len: usize) -> DecoderConfig {
        self.max_line_len = len;
        self
    }

    /// The bulk length limit.
    pub const fn max_bulk_len(&self) -> usize {
        self.max_bulk_len
    }

    /// The aggregate length limit.
    pub const fn max_aggregate_len(&self) -> usize {
        self.max_aggregate_len
    }

    /// The nesting limit.
    pub const fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// The line length limit.
    pub const fn max_line_len(&self) -> usize {
        self.max_line_len
    }
}

impl Default for DecoderConfig {
    fn default() -> DecoderConfig {
        DecoderConfig::new()
    }
}

/// Hands a finished value to where it belongs, inside [`Decoder::decode`]'s
/// loop: out of `decode` when no aggregate is open, else into the innermost
/// one, closing every aggregate that fills (and returning the top-level value
/// if that completes it). The value expression is written into each branch so
/// that it is built in place.
macro_rules! deliver {
    ($decoder:ident, $value:expr) => {{
        match $decoder.stack.last_mut() {
            None => return Ok(Some($value)),
            Some(top) => {
                top.items.push($value);
                if top.items.len() >= top.want {
                    if let Some(done) = $decoder.close() {
                        return Ok(Some(done));
                    }
                }
                continue;
            }
        }
    }};
}

/// [`deliver!`] for a blob payload of the given kind.
macro_rules! deliver_blob {
    ($decoder:ident, $kind:expr, $data:expr) => {{
        match $kind {
            BlobKind::Bulk => deliver!($decoder, Value::BulkString($data)),
            BlobKind::Error => deliver!($decoder, Value::BlobError($data)),
            BlobKind::Verbatim => {
                let value = verbatim($data)?;
                deliver!($decoder, value)
            }
        }
    }};
}

/// A resumable RESP2/RESP3 decoder.
///
/// Feed it a growing [`BytesMut`]: [`decode`](Decoder::decode) takes the bytes
/// of each complete frame off the front and returns the value, or `Ok(None)`
/// when the frame is not complete yet. Bytes it has looked at are never
/// looked at again: the parts of a frame already decoded are kept in the
/// decoder, so a frame fed in many pieces costs about the same as one fed
/// whole.
///
/// ```
/// use bytes::BytesMut;
/// use resp::{Decoder, Value};
///
/// let mut decoder = Decoder::new();
/// let mut buf = BytesMut::from(&b"*2\r\n$3\r\nfoo\r\n:4"[..]);
/// assert_eq!(decoder.decode(&mut buf), Ok(None));
/// buf.extend_from_slice(b"2\r\n");
/// let value = decoder.decode(&mut buf).unwrap().unwrap();
/// assert_eq!(value, Value::Array(vec![Value::bulk("foo"), Value::Integer(42)]));
/// assert!(buf.is_empty());
/// ```
///
/// After an error the stream is out of step with its frames: drop the
/// connection (or call [`reset`](Decoder::reset) and start a new stream).
#[derive(Debug, Default)]
pub struct Decoder {
    config: DecoderConfig,
    /// Aggregates that are open, innermost last.
    stack: Vec<Frame>,
    /// A blob whose header was consumed and whose payload is still arriving.
    pending: Option<Pending>,
    /// How many bytes of the current line were already searched for its end.
    scanned: usize,
    /// Elements announced so far by the aggregates of the reply being decoded.
    announced: usize,
}

impl Decoder {
    /// A decoder with the default limits.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// A decoder with the given limits.
    pub fn with_config(config: DecoderConfig) -> Decoder {
        Decoder {
            config,
            ..Decoder::default()
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// True when no frame is partly decoded.
    pub fn is_idle(&self) -> bool {
        self.stack.is_empty() && self.pending.is_none() && self.scanned == 0
    }

    /// Forgets any partly decoded frame.
    pub fn reset(&mut self) {
        self.stack.clear();
        self.pending = None;
        self.scanned = 0;
        self.announced = 0;
    }

    /// Decodes the next complete frame from the front of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed; what was consumed so far
    /// is remembered. Bulk payloads in the result share `buf`'s memory.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Value>, Error> {
        // Each element is made where it is delivered (see `deliver!`): values
        // are moved as little as possible, which is most of the cost of
        // small replies.
        loop {
            match self.pending {
                Some(Pending { kind, len }) => {
                    // `len` passed `check`, which keeps it below `usize::MAX - 2`.
                    let need = len + 2;
                    if buf.len() < need {
                        reserve_ahead(buf, need - buf.len());
                        return Ok(None);
                    }
                    self.pending = None;
                    if buf[len..need] != *b"\r\n" {
                        return Err(Error::MissingCrlf);
                    }
                    let data = take_blob(buf, 0, len);
                    deliver_blob!(self, kind, data)
                }
                None => {
                    let tag = match buf.first() {
                        Some(&tag) => tag,
                        None => return Ok(None),
                    };
                    // The common frames, whole at the front of `buf`, go
                    // without searching for the line end first; anything
                    // else (incomplete, long, unusual) takes the general
                    // path below, which reads it from the start.
                    match tag {
                        b'$' => match bulk_header(buf, self.config.max_line_len) {
                            Some((Some(len), start)) => {
                                let len = self.check(len, self.config.max_bulk_len, "bulk")?;
                                let need = start + len + 2;
                                if buf.len() >= need && buf[start + len..need] == *b"\r\n" {
                                    self.scanned = 0;
                                    let data = take_blob(buf, start, len);
                                    deliver!(self, Value::BulkString(data))
                                }
                            }
                            Some((None, end)) => {
                                self.scanned = 0;
                                buf.advance(end);
                                deliver!(self, Value::NullBulkString)
                            }
                            None => {}
                        },
                        b':' => {
                            if let Some((n, end)) = short_integer(buf, self.config.max_line_len) {
                                self.scanned = 0;
                                buf.advance(end);
                                deliver!(self, Value::Integer(n))
                            }
                        }
                        b'+' => {
                            if self.config.max_line_len >= 2 && buf.get(1..5) == Some(b"OK\r\n") {
                                self.scanned = 0;
                                buf.advance(5);
                                deliver!(self, Value::SimpleString(Bytes::from_static(b"OK")))
                            }
                        }
                        b'*' | b'%' | b'~' | b'>' => {
                            if let Some((Some(len), start)) =
                                bulk_header(buf, self.config.max_line_len)
                            {
                                let len =
                                    self.check(len, self.config.max_aggregate_len, "aggregate")?;
                                self.scanned = 0;
                                buf.advance(start);
                                match self.open(buf, tag, len)? {
                                    Some(empty) => deliver!(self, empty),
                                    None => continue,
                                }
                            }
                        }
                        _ => {
                            // A bad type byte is known at once: waiting for a
                            // line end first would let garbage without one run
                            // up to the line limit.
                            if !is_type_byte(tag) {
                                return Err(Error::InvalidType(tag));
                            }
                        }
                    }
                    let newline = match self.line_end(buf)? {
                        Some(newline) => newline,
                        None => return Ok(None),
                    };
                    // The line's content is `buf[1..end]`; `end` is its CR.
                    let end = newline - 1;
                    match tag {
                        b'+' => deliver!(self, Value::SimpleString(status(buf, newline))),
                        b'-' => deliver!(self, Value::Error(take_line(buf, newline))),
                        b':' => {
                            let n =
                                parse_int(&buf[1..end]).ok_or(Error::InvalidFrame("integer"))?;
                            buf.advance(newline + 1);
                            deliver!(self, Value::Integer(n))
                        }
                        b'_' => {
                            if end != 1 {
                                return Err(Error::InvalidFrame("null"));
                            }
                            buf.advance(newline + 1);
                            deliver!(self, Value::Null)
                        }
                        b'#' => {
                            let b = match &buf[1..end] {
                                b"t" => true,
                                b"f" => false,
                                _ => return Err(Error::InvalidFrame("boolean")),
                            };
                            buf.advance(newline + 1);
                            deliver!(self, Value::Boolean(b))
                        }
                        b',' => {
                            let d =
                                parse_double(&buf[1..end]).ok_or(Error::InvalidFrame("double"))?;
                            buf.advance(newline + 1);
                            deliver!(self, Value::Double(d))
                        }
                        b'(' => {
                            if !is_big_number(&buf[1..end]) {
                                return Err(Error::InvalidFrame("big number"));
                            }
                            deliver!(self, Value::BigNumber(take_line(buf, newline)))
                        }
                        b'$' | b'!' | b'=' => {
                            let kind = match tag {
                                b'$' => BlobKind::Bulk,
                                b'!' => BlobKind::Error,
                                _ => BlobKind::Verbatim,
                            };
                            let len = match parse_len(&buf[1..end])? {
                                Some(len) => self.check(len, self.config.max_bulk_len, "bulk")?,
                                // "$-1\r\n" is RESP2's null bulk string; other
                                // blob types have no null.
                                None if kind == BlobKind::Bulk => {
                                    buf.advance(newline + 1);
                                    deliver!(self, Value::NullBulkString)
                                }
                                None => return Err(Error::InvalidLength),
                            };
                            let start = newline + 1;
                            let need = start + len + 2;
                            if buf.len() < need {
                                buf.advance(start);
                                self.pending = Some(Pending { kind, len });
                                reserve_ahead(buf, need - start - buf.len());
                                return Ok(None);
                            }
                            if buf[start + len..need] != *b"\r\n" {
                                return Err(Error::MissingCrlf);
                            }
                            let data = take_blob(buf, start, len);
                            deliver_blob!(self, kind, data)
                        }
                        _ => {
                            let len = parse_len(&buf[1..end])?;
                            buf.advance(newline + 1);
                            let len = match len {
                                Some(len) => {
                                    self.check(len, self.config.max_aggregate_len, "aggregate")?
                                }
                                // "*-1\r\n" is RESP2's null array; other
                                // aggregates have no null.
                                None if tag == b'*' => deliver!(self, Value::NullArray),
                                None => return Err(Error::InvalidLength),
                            };
                            match self.open(buf, tag, len)? {
                                Some(empty) => deliver!(self, empty),
                                None => continue,
                            }
                        }
                    }
                }
            }
        }
    }

    /// Finds the LF that ends the line at the front of `buf`, checking the CR
    /// before it and the line limit. `Ok(None)` when the line is incomplete;
    /// the bytes searched are remembered and not searched again.
    fn line_end(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        // A buffer shorter than what was searched is not the one searched:
        // start again rather than index out of it.
        let from = if self.scanned <= buf.len() {
            self.scanned.max(1)
        } else {
            1
        };
        let newline = match buf[from..].iter().position(|&b| b == b'\n') {
            Some(i) => from + i,
            None => {
                if buf.len() > self.config.max_line_len.saturating_add(2) {
                    return Err(Error::LineTooLong(self.config.max_line_len));
                }
                self.scanned = buf.len();
                return Ok(None);
            }
        };
        self.scanned = 0;
        // "<type><content>\r\n": the CR must sit right before the LF, after the tag.
        if newline < 2 || buf[newline - 1] != b'\r' {
            return Err(Error::MissingCrlf);
        }
        if newline - 2 > self.config.max_line_len {
            return Err(Error::LineTooLong(self.config.max_line_len));
        }
        Ok(Some(newline))
    }

    /// Opens an aggregate of `len` elements (pairs, for maps and attributes),
    /// whose header was taken off `buf`, and reads at once the elements that
    /// follow it whole and need no line search (see [`simple_elements`]).
    /// Returns the value when that completes it, as it does an empty one.
    fn open(&mut self, buf: &mut BytesMut, tag: u8, len: usize) -> Result<Option<Value>, Error> {
        if self.stack.len() >= self.config.max_depth {
            return Err(Error::TooDeep(self.config.max_depth));
        }
        let (kind, want) = match tag {
            b'*' => (Kind::Array, len),
            b'~' => (Kind::Set, len),
            b'>' => (Kind::Push, len),
            b'%' => (Kind::Map, len * 2),
            _ => (Kind::Attribute, len * 2),
        };
        // The budget of one reply: a fresh one for each top-level frame.
        let announced = if self.stack.is_empty() {
            want
        } else {
            self.announced.saturating_add(want)
        };
        if announced > self.config.max_aggregate_len.saturating_mul(2) {
            return Err(Error::TooLarge {
                what: "reply element",
                len: announced as u64,
                limit: self.config.max_aggregate_len.saturating_mul(2),
            });
        }
        self.announced = announced;
        if want == 0 {
            return Ok(match kind {
                Kind::Array => Some(Value::Array(Vec::new())),
                Kind::Set => Some(Value::Set(Vec::new())),
                Kind::Push => Some(Value::Push(Vec::new())),
                Kind::Map => Some(Value::Map(Vec::new())),
                _ => {
                    self.stack.push(Frame::annotated(Vec::new()));
                    None
                }
            });
        }
        // Every element takes at least three bytes ("_\r\n"), so reserve no
        // more than the bytes at hand can fill: a header alone reserves little.
        let capacity = want.min(buf.len() / 3 + 1);
        let mut items = Vec::with_capacity(capacity);
        // An attribute's elements are left to the general path, which knows
        // that a value it annotates follows them.
        if !matches!(kind, Kind::Attribute) {
            simple_elements(buf, &mut items, want, &self.config)?;
            if items.len() == want {
                return Ok(Some(match kind {
                    Kind::Array => Value::Array(items),
                    Kind::Set => Value::Set(items),
                    Kind::Push => Value::Push(items),
                    _ => Value::Map(pair_up(items)),
                }));
            }
        }
        self.stack.push(Frame { kind, want, items });
        Ok(None)
    }

    /// Closes the innermost aggregate, which is full, and every enclosing one
    /// that this fills. Returns the top-level value once there is one.
    fn close(&mut self) -> Option<Value> {
        loop {
            let frame = self.stack.pop()?;
            let value = match frame.kind {
                Kind::Array => Value::Array(frame.items),
                Kind::Set => Value::Set(frame.items),
                Kind::Push => Value::Push(frame.items),
                Kind::Map => Value::Map(pair_up(frame.items)),
                Kind::Attribute => {
                    // "The attribute type is exactly like the Map type, but
                    // ... it is followed by the actual reply it annotates."
                    self.stack.push(Frame::annotated(pair_up(frame.items)));
                    return None;
                }
                Kind::Annotated(attributes) => Value::Attribute {
                    attributes,
                    value: Box::new(frame.items.into_iter().next()?),
                },
            };
            match self.stack.last_mut() {
                None => return Some(value),
                Some(top) => {
                    top.items.push(value);
                    if top.items.len() < top.want {
                        return None;
                    }
                }
            }
        }
    }

    fn check(&self, len: u64, limit: usize, what: &'static str) -> Result<usize, Error> {
        check(len, limit, what)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobKind {
    Bulk,
    Error,
    Verbatim,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    kind: BlobKind,
    len: usize,
}

#[derive(Debug)]
enum Kind {
    Array,
    Set,
    Push,
    Map,
    Attribute,
    /// Attributes read; waiting for the value they annotate.
    Annotated(Vec<(Value, Value)>),
}

#[derive(Debug)]
struct Frame {
    kind: Kind,
    want: usize,
    items: Vec<Value>,
}

impl Frame {
    fn annotated(attributes: Vec<(Value, Value)>) -> Frame {
        Frame {
            kind: Kind::Annotated(attributes),
            want: 1,
            items: Vec::with_capacity(1),
        }
    }
}

/// Takes `<header><payload>\r\n`, the payload `len` bytes at `start`, off
/// the front of `buf` (whose CRLF was checked) and returns the payload: one
/// split for the whole (one reference count), trimmed before it is frozen.
/// Trimming the frozen `Bytes` instead costs the same instructions but more
/// time: its fields are then stored one by one and read back as a whole
/// when the value is moved, which the processor cannot forward.
#[inline(always)]
fn take_blob(buf: &mut BytesMut, start: usize, len: usize) -> Bytes {
    let mut data = buf.split_to(start + len + 2);
    data.advance(start);
    data.truncate(len);
    data.freeze()
}

/// Takes the line `<tag><content>\r\n` whose LF is at `newline` off the
/// front of `buf` and returns its content.
#[inline(always)]
fn take_line(buf: &mut BytesMut, newline: usize) -> Bytes {
    let mut line = buf.split_to(newline + 1);
    line.advance(1);
    line.truncate(newline - 2);
    line.freeze()
}

/// Takes a status line (`+OK\r\n`) like [`take_line`], without sharing
/// `buf` for the replies that make up most of them: a static string costs no
/// reference count, now or when the value is dropped.
#[inline(always)]
fn status(buf: &mut BytesMut, newline: usize) -> Bytes {
    let content = match &buf[1..newline - 1] {
        b"OK" => Bytes::from_static(b"OK"),
        b"QUEUED" => Bytes::from_static(b"QUEUED"),
        b"PONG" => Bytes::from_static(b"PONG"),
        _ => return take_line(buf, newline),
    };
    buf.advance(newline + 1);
    content
}

/// "`=<length>\r\n<encoding>:<data>\r\n`", the encoding exactly three bytes.
fn verbatim(data: Bytes) -> Result<Value, Error> {
    if data.len() < 4 || data[3] != b':' {
        return Err(Error::InvalidFrame("verbatim string"));
    }
    Ok(Value::VerbatimString {
        format: [data[0], data[1], data[2]],
        text: data.slice(4..),
    })
}

fn pair_up(items: Vec<Value>) -> Vec<(Value, Value)> {
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        pairs.push((k, v));
    }
    pairs
}

/// Reads into `items`, up to `want` of them, the elements at the front of
/// `buf` that are whole and need no line search: bulk strings, RESP2 null
/// bulk strings, integers and `+OK`, each under the same limits as on the
/// general path of [`Decoder::decode`]. Stops at the first other element
/// (incomplete, nested, of another type or malformed), which the general path
/// then reads from its start: at most that element's header is read twice.
#[inline(always)]
fn simple_elements(
    buf: &mut BytesMut,
    items: &mut Vec<Value>,
    want: usize,
    config: &DecoderConfig,
) -> Result<(), Error> {
    while items.len() < want {
        let value = match buf.first() {
            Some(b'$') => match bulk_header(buf, config.max_line_len) {
                Some((Some(len), start)) => {
                    let len = check(len, config.max_bulk_len, "bulk")?;
                    let need = start + len + 2;
                    if buf.len() < need || buf[start + len..need] != *b"\r\n" {
                        return Ok(());
                    }
                    Value::BulkString(take_blob(buf, start, len))
                }
                Some((None, end)) => {
                    buf.advance(end);
                    Value::NullBulkString
                }
                None => return Ok(()),
            },
            Some(b':') => match short_integer(buf, config.max_line_len) {
                Some((n, end)) => {
                    buf.advance(end);
                    Value::Integer(n)
                }
                None => return Ok(()),
            },
            Some(b'+') if config.max_line_len >= 2 && buf.get(1..5) == Some(b"OK\r\n") => {
                buf.advance(5);
                Value::SimpleString(Bytes::from_static(b"OK"))
            }
            _ => return Ok(()),
        };
        items.push(value);
    }
    Ok(())
}

/// A length read off the wire, as a `usize` if it is within `limit`.
#[inline(always)]
fn check(len: u64, limit: usize, what: &'static str) -> Result<usize, Error> {
    // Below `usize::MAX / 2`, adding a header and a CRLF cannot overflow.
    let limit = limit.min(usize::MAX / 2 - 2);
    match usize::try_from(len) {
        Ok(n) if n <= limit => Ok(n),
        _ => Err(Error::TooLarge { what, len, limit }),
    }
}

/// The most digits the fast paths below read: no such number overflows an
/// `i64`.
const MAX_SHORT_DIGITS: usize = 18;

/// A length header `<tag><digits>\r\n` (a bulk string's, an aggregate's)
/// at the front of `buf`, its line within `max_line` bytes: the length and
/// where the payload starts, or for `<tag>-1\r\n` (a RESP2 null) `None` and
/// where the next frame starts. `None` for anything else (a bad or
/// incomplete header), left to the general path.
#[inline(always)]
fn bulk_header(buf: &[u8], max_line: usize) -> Option<(Option<u64>, usize)> {
    if buf.get(1) == Some(&b'-') {
        // The line `-1` is two bytes long.
        return (max_line >= 2 && buf.get(2..5) == Some(b"1\r\n")).then_some((None, 5));
    }
    let mut len: u64 = 0;
    for (i, &b) in buf.iter().enumerate().skip(1) {
        let d = b.wrapping_sub(b'0');
        if d <= 9 {
            // Longer numbers are left to the general path, which checks
            // them for overflow.
            if i > MAX_SHORT_DIGITS {
                return None;
            }
            len = len * 10 + u64::from(d);
            continue;
        }
        let digits = i - 1;
        if b != b'\r' || digits == 0 || digits > max_line {
            return None;
        }
        return match buf.get(i + 1) {
            Some(b'\n') => Some((Some(len), i + 2)),
            _ => None,
        };
    }
    None
}

/// An integer frame `:[-]<digits>\r\n` of at most 18 digits at the front
/// of `buf`, its line within `max_line` bytes: the value and the frame's
/// length. `None` for anything else, left to the general path.
#[inline(always)]
fn short_integer(buf: &[u8], max_line: usize) -> Option<(i64, usize)> {
    let negative = buf.get(1) == Some(&b'-');
    let first = 1 + usize::from(negative);
    let mut n: i64 = 0;
    for (i, &b) in buf.iter().enumerate().skip(first) {
        let d = b.wrapping_sub(b'0');
        if d <= 9 {
            if i - first >= MAX_SHORT_DIGITS {
                return None;
            }
            n = n * 10 + i64::from(d);
            continue;
        }
        let digits = i - first;
        if b != b'\r' || digits == 0 || i - 1 > max_line {
            return None;
        }
        return match buf.get(i + 1) {
            Some(b'\n') => Some((if negative { -n } else { n }, i + 2)),
            _ => None,
        };
    }
    None
}

/// Room reserved ahead for a payload still arriving, at most: enough to save
/// the reader regrowing the buffer piecemeal for values of a few MiB, while a
/// header alone (`$536870912`, within the default limit) cannot make the
/// decoder reserve hundreds of MiB before any payload came.
const MAX_RESERVE_AHEAD: usize = 4 << 20;

fn reserve_ahead(buf: &mut BytesMut, missing: usize) {
    buf.reserve(missing.min(MAX_RESERVE_AHEAD));
}

/// A length header: decimal digits, or `-1` for a RESP2 null.
fn parse_len(s: &[u8]) -> Result<Option<u64>, Error> {
    if s == b"-1" {
        return Ok(None);
    }
    if s.is_empty() {
        return Err(Error::InvalidLength);
    }
    let mut n: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(Error::InvalidLength);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or(Error::InvalidLength)?;
    }
    Ok(Some(n))
}

/// "`:[<+|->]<value>\r\n`", a signed base-10 64-bit integer.
pub(crate) fn parse_int(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    // Accumulate as a negative number so that i64::MIN fits.
    let mut n: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(i64::from(d))?;
    }
    if negative {
        Some(n)
    } else {
        n.checked_neg()
    }
}

pub(crate) fn parse_double(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Which bytes start a frame: the type bytes of RESP2 and RESP3.
const IS_TYPE_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let types = b"+-:$*_,#!=(%~|>";
    let mut i = 0;
    while i < types.len() {
        table[types[i] as usize] = true;
        i += 1;
    }
    table
};

fn is_type_byte(tag: u8) -> bool {
    IS_TYPE_BYTE[usize::from(tag)]
}

fn is_big_number(s: &[u8]) -> bool {
    let digits = match s.split_first() {
        Some((b'-' | b'+', rest)) => rest,
        _ => s,
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_frames_read_at_once_keep_the_line_limit() {
        for frame in [
            &b"+OK\r\n"[..],
            b"$-1\r\n",
            b":12\r\n",
            b"$12\r\nabcdefghijkl\r\n",
            b"*12\r\n",
            // The same frames as the elements an aggregate reads at once.
            b"*1\r\n+OK\r\n",
            b"*1\r\n:12\r\n",
            b"*1\r\n$12\r\nabcdefghijkl\r\n",
        ] {
            let mut decoder = Decoder::with_config(DecoderConfig::new().with_max_line_len(1));
            let mut buf = BytesMut::from(frame);
            assert_eq!(
                decoder.decode(&mut buf),
                Err(Error::LineTooLong(1)),
                "{:?}",
                String::from_utf8_lossy(frame)
            );
        }
    }

    #[test]
    fn integers_parse_strictly() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"+7"), Some(7));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"1a"), None);
        assert_eq!(parse_int(b" 1"), None);
    }

    #[test]
    fn lengths_parse_strictly() {
        assert_eq!(parse_len(b"-1"), Ok(None));
        assert_eq!(parse_len(b"12"), Ok(Some(12)));
        assert_eq!(parse_len(b"-2"), Err(Error::InvalidLength));
        assert_eq!(parse_len(b"+2"), Err(Error::InvalidLength));
        assert_eq!(parse_len(b""), Err(Error::InvalidLength));
        assert_eq!(
            parse_len(b"99999999999999999999999"),
            Err(Error::InvalidLength)
        );
    }

    #[test]
    fn a_big_payload_in_pieces_is_not_rescanned() {
        let payload = vec![b'x'; 1 << 20];
        let mut frame = format!("${}\r\n", payload.len()).into_bytes();
        frame.extend_from_slice(&payload);
        frame.extend_from_slice(b"\r\n");
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::new();
        let mut out = None;
        for piece in frame.chunks(16 * 1024) {
            buf.extend_from_slice(piece);
            if let Some(v) = decoder.decode(&mut buf).unwrap() {
                out = Some(v);
            }
        }
        assert_eq!(out, Some(Value::BulkString(Bytes::from(payload))));
        assert!(decoder.is_idle());
    }
}
