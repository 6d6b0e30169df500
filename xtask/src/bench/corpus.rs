//! The reply streams the decoders are fed, and what decoding them must give.

/// A stream of encoded replies and the tally any correct decoder reaches.
#[derive(Debug)]
pub(crate) struct Corpus {
    pub(crate) about: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) expect: Tally,
    /// Whether it holds RESP3 types, which only some parsers read.
    pub(crate) resp3: bool,
}

/// What a decoder made of a stream, counted the same way for every parser:
/// if two decoders agree on all of it, they did the same work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Top-level frames.
    pub(crate) frames: u64,
    /// Values that are not aggregates, at any depth.
    pub(crate) leaves: u64,
    /// Payload bytes of bulk strings.
    pub(crate) bulk_bytes: u64,
    /// Null replies of any kind.
    pub(crate) nulls: u64,
    /// The sum of the integer replies, wrapping.
    pub(crate) int_sum: i64,
}

impl Tally {
    pub(crate) fn frame(&mut self) {
        self.frames += 1;
    }

    pub(crate) fn bulk(&mut self, len: usize) {
        self.leaves += 1;
        self.bulk_bytes += len as u64;
    }

    pub(crate) fn null(&mut self) {
        self.leaves += 1;
        self.nulls += 1;
    }

    pub(crate) fn int(&mut self, n: i64) {
        self.leaves += 1;
        self.int_sum = self.int_sum.wrapping_add(n);
    }

    /// Any other leaf (status replies, errors, doubles, ...).
    pub(crate) fn other(&mut self) {
        self.leaves += 1;
    }
}

/// The size of the bulk strings in the mixed small replies.
const SMALL_BULK: usize = 64;

/// 200,000 small replies as a busy client sees them: `+OK`, integers, 64-byte
/// bulk strings and null bulk strings, in turn.
pub(crate) fn small() -> Corpus {
    const COUNT: u64 = 200_000;
    let mut bytes = Vec::new();
    let mut expect = Tally::default();
    for i in 0..COUNT {
        expect.frame();
        match i % 4 {
            0 => {
                bytes.extend_from_slice(b"+OK\r\n");
                expect.other();
            }
            1 => {
                let n = i as i64 * 7919;
                bytes.extend_from_slice(format!(":{n}\r\n").as_bytes());
                expect.int(n);
            }
            2 => {
                bulk(&mut bytes, format!("{i:0>64}").as_bytes());
                expect.bulk(SMALL_BULK);
            }
            _ => {
                bytes.extend_from_slice(b"$-1\r\n");
                expect.null();
            }
        }
    }
    Corpus {
        about: format!("{COUNT} replies: +OK, integers, {SMALL_BULK}-byte bulk strings, nulls"),
        bytes,
        expect,
        resp3: false,
    }
}

/// One reply of 100,000 short bulk strings, as `SMEMBERS` or `LRANGE` of a
/// big key gives.
pub(crate) fn array() -> Corpus {
    const COUNT: usize = 100_000;
    let mut bytes = format!("*{COUNT}\r\n").into_bytes();
    let mut expect = Tally::default();
    expect.frame();
    for i in 0..COUNT {
        let member = format!("member:{i}");
        bulk(&mut bytes, member.as_bytes());
        expect.bulk(member.len());
    }
    Corpus {
        about: format!("one array of {COUNT} short bulk strings"),
        bytes,
        expect,
        resp3: false,
    }
}

/// 64 bulk strings of 1 MiB each.
pub(crate) fn large() -> Corpus {
    const COUNT: usize = 64;
    const SIZE: usize = 1 << 20;
    let mut bytes = Vec::with_capacity(COUNT * (SIZE + 16));
    let mut expect = Tally::default();
    let payload: Vec<u8> = (0..SIZE).map(|i| b'a' + (i % 26) as u8).collect();
    for _ in 0..COUNT {
        bulk(&mut bytes, &payload);
        expect.frame();
        expect.bulk(SIZE);
    }
    Corpus {
        about: format!("{COUNT} bulk strings of 1 MiB"),
        bytes,
        expect,
        resp3: false,
    }
}

/// 400,000 of the smallest replies, in turn: `+OK`, small integers, null
/// bulk strings and 8-byte bulk strings, as `SET`, `INCR`, `DEL` and `GET`
/// of short values give.
pub(crate) fn tiny() -> Corpus {
    const COUNT: u64 = 400_000;
    let mut c = Builder::default();
    for i in 0..COUNT {
        match i % 4 {
            0 => c.ok(),
            1 => c.int((i % 1000) as i64),
            2 => c.null_bulk(),
            _ => c.bulk(format!("v:{:06}", i % 1_000_000).as_bytes()),
        }
        c.expect.frame();
    }
    c.done(
        format!("{COUNT} tiny replies: +OK, integers below 1000, nulls, 8-byte bulk strings"),
        false,
    )
}

/// 50,000 `MGET` replies of 10 keys, values of 8 to 40 bytes with a miss
/// in every five, and 25,000 `HGETALL` replies of 8 fields (arrays of 16
/// short bulk strings), in turn.
pub(crate) fn mget() -> Corpus {
    const MGETS: u64 = 50_000;
    let mut c = Builder::default();
    for i in 0..MGETS {
        c.header(b'*', 10);
        for k in 0..10 {
            if (i + k) % 5 == 4 {
                c.null_bulk();
            } else {
                c.bulk(&value(i * 10 + k, 8 + ((i + k) % 33) as usize));
            }
        }
        c.expect.frame();
        if i % 2 == 0 {
            c.header(b'*', 16);
            for f in 0..8 {
                c.bulk(format!("field:{f}").as_bytes());
                c.bulk(&value(i + f, 12));
            }
            c.expect.frame();
        }
    }
    c.done(
        format!(
            "{MGETS} MGET replies of 10 values of 8 to 40 bytes (a fifth of them nulls), \
             and {} HGETALL replies of 8 fields",
            MGETS / 2
        ),
        false,
    )
}

/// 300,000 replies as a busy application's connection gets them: in every
/// 20, 7 `GET` hits of 16 to 200 bytes, 2 misses, 4 `+OK`, 3 integers, 2
/// `MGET`s of 5 values, a `PONG` and a 1 KiB value.
pub(crate) fn mixed() -> Corpus {
    const COUNT: u64 = 300_000;
    let mut c = Builder::default();
    for i in 0..COUNT {
        match i % 20 {
            0..=6 => c.bulk(&value(i, 16 + (i * 37 % 185) as usize)),
            7 | 8 => c.null_bulk(),
            9..=12 => c.ok(),
            13..=15 => c.int((i * 7919) as i64),
            16 | 17 => {
                c.header(b'*', 5);
                for k in 0..5 {
                    c.bulk(&value(i + k, 24));
                }
            }
            18 => {
                c.bytes.extend_from_slice(b"+PONG\r\n");
                c.expect.other();
            }
            _ => c.bulk(&value(i, 1024)),
        }
        c.expect.frame();
    }
    c.done(
        format!(
            "{COUNT} replies of a busy application: GET hits of 16 to 200 bytes and \
             misses, +OK, integers, MGETs of 5, PONG, 1 KiB values"
        ),
        false,
    )
}

/// 200,000 `message` pushes of a subscriber, RESP2 style (arrays of
/// three): `message`, the channel, a payload of 16 to 80 bytes.
pub(crate) fn pubsub() -> Corpus {
    const COUNT: u64 = 200_000;
    let mut c = Builder::default();
    for i in 0..COUNT {
        c.header(b'*', 3);
        c.bulk(b"message");
        c.bulk(format!("channel:{}", i % 16).as_bytes());
        c.bulk(&value(i, 16 + (i % 65) as usize));
        c.expect.frame();
    }
    c.done(
        format!("{COUNT} pub/sub messages as RESP2 arrays, payloads of 16 to 80 bytes"),
        false,
    )
}

/// RESP3 replies: in turn, an `HGETALL` map of 8 fields, a `message` push,
/// a null, a boolean, a double, an integer and a short bulk string;
/// 40,000 of each.
pub(crate) fn resp3() -> Corpus {
    const EACH: u64 = 40_000;
    let mut c = Builder::default();
    for i in 0..EACH {
        c.header(b'%', 8);
        for f in 0..8 {
            c.bulk(format!("field:{f}").as_bytes());
            c.bulk(&value(i + f, 12));
        }
        c.header(b'>', 3);
        c.bulk(b"message");
        c.bulk(format!("channel:{}", i % 16).as_bytes());
        c.bulk(&value(i, 16 + (i % 65) as usize));
        c.bytes.extend_from_slice(b"_\r\n");
        c.expect.null();
        c.bytes
            .extend_from_slice(if i % 2 == 0 { b"#t\r\n" } else { b"#f\r\n" });
        c.expect.other();
        c.bytes
            .extend_from_slice(format!(",{}.5\r\n", i % 1000).as_bytes());
        c.expect.other();
        c.int(i as i64);
        c.bulk(&value(i, 10));
        for _ in 0..7 {
            c.expect.frame();
        }
    }
    c.done(
        format!(
            "{} RESP3 replies: maps of 8 fields, message pushes, nulls, booleans, doubles, \
             integers, short bulk strings",
            EACH * 7
        ),
        true,
    )
}

/// Appends replies and counts what they hold.
#[derive(Default)]
struct Builder {
    bytes: Vec<u8>,
    expect: Tally,
}

impl Builder {
    fn ok(&mut self) {
        self.bytes.extend_from_slice(b"+OK\r\n");
        self.expect.other();
    }

    fn int(&mut self, n: i64) {
        self.bytes.extend_from_slice(format!(":{n}\r\n").as_bytes());
        self.expect.int(n);
    }

    fn null_bulk(&mut self) {
        self.bytes.extend_from_slice(b"$-1\r\n");
        self.expect.null();
    }

    fn bulk(&mut self, data: &[u8]) {
        bulk(&mut self.bytes, data);
        self.expect.bulk(data.len());
    }

    /// The header of an aggregate: its elements are counted as added.
    fn header(&mut self, tag: u8, len: usize) {
        self.bytes.push(tag);
        self.bytes
            .extend_from_slice(format!("{len}\r\n").as_bytes());
    }

    fn done(self, about: String, resp3: bool) -> Corpus {
        Corpus {
            about,
            bytes: self.bytes,
            expect: self.expect,
            resp3,
        }
    }
}

/// `len` bytes that differ with `seed`.
fn value(seed: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{seed:x}:").into_bytes();
    v.resize(len, b'x');
    v.truncate(len);
    v
}

fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}
