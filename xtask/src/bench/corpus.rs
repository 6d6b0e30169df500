//! The reply streams the decoders are fed, and what decoding them must give.

/// A stream of encoded replies and the tally any correct decoder reaches.
#[derive(Debug)]
pub(crate) struct Corpus {
    pub(crate) about: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) expect: Tally,
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
    }
}

fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}
