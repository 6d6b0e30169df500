//! The `resp` section: decoding reply corpora (from the smallest replies to
//! 1 MiB values, RESP2 and RESP3), whole and in 16 KiB pieces, and encoding
//! `SET` commands, `resp` against the peer parsers. The summary gives, for
//! each case, the ratio to the fastest peer, so that the smallest lead is
//! the one in sight.

use bytes::{Bytes, BytesMut};

use crate::corpus::{self, Corpus, Tally};
use crate::measure::{print_case, race, times_spread, Contender, Role, Versus};
use crate::parsers::{
    pieces, whole, Parser, RedisAsync, RedisProtocol, RedisProtocol3, RedisRs, Resp,
};
use crate::Options;

/// Every case of this section.
pub(crate) const CASES: &[&str] = &[
    "resp/decode/small/whole",
    "resp/decode/small/pieces",
    "resp/decode/tiny/whole",
    "resp/decode/tiny/pieces",
    "resp/decode/mget/whole",
    "resp/decode/mget/pieces",
    "resp/decode/mixed/whole",
    "resp/decode/mixed/pieces",
    "resp/decode/pubsub/whole",
    "resp/decode/pubsub/pieces",
    "resp/decode/resp3/whole",
    "resp/decode/resp3/pieces",
    "resp/decode/array/whole",
    "resp/decode/array/pieces",
    "resp/decode/large/whole",
    "resp/decode/large/pieces",
    "resp/encode/set/shared-buffer",
    "resp/encode/set/owned-buffer",
];

/// The size of one read in the `pieces` mode.
const PIECE: usize = 16 * 1024;

/// A corpus by name, built only when one of its cases runs.
struct Source {
    name: &'static str,
    build: fn() -> Corpus,
}

const CORPORA: &[Source] = &[
    Source {
        name: "small",
        build: corpus::small,
    },
    Source {
        name: "tiny",
        build: corpus::tiny,
    },
    Source {
        name: "mget",
        build: corpus::mget,
    },
    Source {
        name: "mixed",
        build: corpus::mixed,
    },
    Source {
        name: "pubsub",
        build: corpus::pubsub,
    },
    Source {
        name: "resp3",
        build: corpus::resp3,
    },
    Source {
        name: "array",
        build: corpus::array,
    },
    Source {
        name: "large",
        build: corpus::large,
    },
];

/// One decoder, both ways of feeding it.
struct Decoding {
    name: &'static str,
    role: Role,
    /// Whether it reads RESP3.
    resp3: bool,
    whole: fn(BytesMut) -> Result<Tally, String>,
    pieces: fn(&[u8], usize) -> Result<Tally, String>,
}

const fn decoding<P: Parser>(role: Role) -> Decoding {
    Decoding {
        name: P::NAME,
        role,
        resp3: P::RESP3,
        whole: whole::<P>,
        pieces: pieces::<P>,
    }
}

const DECODERS: &[Decoding] = &[
    decoding::<Resp>(Role::Ours),
    decoding::<RedisProtocol>(Role::Peer),
    decoding::<RedisProtocol3>(Role::Peer),
    decoding::<RedisRs>(Role::Peer),
    decoding::<RedisAsync>(Role::Peer),
];

/// Runs the selected cases and a summary of `resp`'s ratios.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    println!(
        "(each figure is the median of a contender's runs, the throughput with its min–max \
         beside it; the contenders take turns, one run each a round, and a ratio is the \
         median of the per-round ratios to the fastest peer by median throughput)"
    );
    let mut summary = Vec::new();
    for &Source { name, build } in CORPORA {
        let modes: Vec<Mode> = [Mode::Whole, Mode::Pieces]
            .into_iter()
            .filter(|mode| options.selects(&decode_case(name, *mode)))
            .collect();
        if modes.is_empty() {
            continue;
        }
        let corpus = build();
        for mode in modes {
            let case = decode_case(name, mode);
            let ratio = decode(options, &case, &corpus, mode)?;
            summary.push((case, ratio, Some(if name == "large" { 1.0 } else { 1.5 })));
        }
    }
    for (case, shared) in [
        ("resp/encode/set/shared-buffer", true),
        ("resp/encode/set/owned-buffer", false),
    ] {
        if options.selects(case) {
            let ratio = encode(options, case, shared)?;
            summary.push((case.to_string(), ratio, None));
        }
    }
    println!(
        "\nresp against the fastest peer by median throughput, round by round: throughput \
         over the peer's, and the peer's cpu time over resp's (median of the rounds, min–max)"
    );
    println!(
        "  {:<30} {:<15} {:>18} {:>18}",
        "case", "peer", "throughput", "cpu"
    );
    // The smallest lead over the decoding cases that have a target, which
    // is the one that says whether the targets are met.
    let smallest = summary
        .iter()
        .filter(|(_, _, target)| target.is_some())
        .filter_map(|(case, versus, _)| Some((case, versus.as_ref()?.wall?.median)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    for (case, versus, target) in summary.iter().cloned() {
        let target = target.map_or_else(String::new, |t| format!("  (target {t:.1}x)"));
        let (peer, wall, cpu) = match versus {
            Some(Versus { peer, wall, cpu }) => (peer, wall, cpu),
            None => ("-", None, None),
        };
        println!(
            "  {case:<30} {peer:<15} {:>18} {:>18}{target}",
            times_spread(wall),
            times_spread(cpu)
        );
    }
    if let Some((case, ratio)) = smallest {
        println!("  smallest decoding lead: {ratio:.2}x, {case}");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Whole,
    Pieces,
}

fn decode_case(corpus: &str, mode: Mode) -> String {
    let mode = match mode {
        Mode::Whole => "whole",
        Mode::Pieces => "pieces",
    };
    format!("resp/decode/{corpus}/{mode}")
}

/// Times every decoder on the corpus and checks each decoded all of it.
fn decode(
    options: &Options,
    case: &str,
    corpus: &Corpus,
    mode: Mode,
) -> Result<Option<Versus>, String> {
    let contenders = DECODERS
        .iter()
        .filter(|d| options.includes(d.name))
        // Each RESP3 parser reads RESP2 too; the RESP2 ones sit RESP3 out,
        // and a parser that only exists for RESP3 sits RESP2 out.
        .filter(|d| d.resp3 == corpus.resp3 || (d.resp3 && d.name != RedisProtocol3::NAME))
        .map(|d| match mode {
            Mode::Whole => Contender::new(
                d.name,
                d.role,
                || BytesMut::from(&corpus.bytes[..]),
                d.whole,
            ),
            Mode::Pieces => {
                Contender::new(d.name, d.role, || (), |()| (d.pieces)(&corpus.bytes, PIECE))
            }
        })
        .collect();
    let results = race(options, contenders);
    for runs in &results {
        for output in &runs.outputs {
            let tally = output.as_ref().map_err(|e| format!("{case}: {e}"))?;
            if *tally != corpus.expect {
                return Err(format!(
                    "{case}: {} decoded {tally:?}, expected {:?}",
                    runs.name, corpus.expect
                ));
            }
        }
    }
    let what = match mode {
        Mode::Whole => format!("{}, in one buffer", corpus.about),
        Mode::Pieces => format!(
            "{}, fed in {} KiB pieces (a parser that starts again on an incomplete frame pays here)",
            corpus.about,
            PIECE / 1024
        ),
    };
    Ok(print_case(
        case,
        &what,
        corpus.bytes.len(),
        &results,
        options.budget,
    ))
}

/// How many commands one run encodes.
const COMMANDS: usize = 1_000_000;
/// How many distinct keys the commands cycle through.
const KEYS: usize = 1024;
/// The size of the value each `SET` carries.
const VALUE: usize = 64;
/// The output buffer is cleared (as if written to a socket) at this size.
const FLUSH: usize = 64 * 1024;

/// The arguments of the `SET` commands, made before any timing.
struct SetArgs {
    keys: Vec<String>,
    key_bytes: Vec<Bytes>,
    value: Vec<u8>,
    value_bytes: Bytes,
}

impl SetArgs {
    fn new() -> SetArgs {
        let keys: Vec<String> = (0..KEYS).map(|i| format!("key:{i}")).collect();
        let value: Vec<u8> = (0..VALUE).map(|i| b'a' + (i % 26) as u8).collect();
        SetArgs {
            key_bytes: keys.iter().map(|k| Bytes::from(k.clone())).collect(),
            value_bytes: Bytes::from(value.clone()),
            keys,
            value,
        }
    }

    fn key(&self, i: usize) -> &str {
        &self.keys[i % KEYS]
    }

    /// The wire form of command `i`, spelled out by hand.
    fn expected(&self, i: usize) -> Vec<u8> {
        let key = self.key(i);
        let mut out =
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${VALUE}\r\n", key.len()).into_bytes();
        out.extend_from_slice(&self.value);
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// One command encoder. Each function encodes commands `0..count` and
/// says how many bytes that made and what the first command was:
/// `shared` appends them all to one buffer, cleared whenever it reaches
/// `FLUSH` as if written to a socket; `owned` puts each in a buffer of its
/// own.
struct Encoding {
    name: &'static str,
    role: Role,
    shared: Option<fn(&SetArgs, usize) -> Encoded>,
    owned: Option<fn(&SetArgs, usize) -> Encoded>,
}

/// What encoding made.
#[derive(Debug, Default, PartialEq, Eq)]
struct Encoded {
    total: usize,
    first: Vec<u8>,
}

const ENCODERS: &[Encoding] = &[
    Encoding {
        name: "resp",
        role: Role::Ours,
        shared: Some(|args, count| {
            fill(count, BytesMut::with_capacity(2 * FLUSH), |i, out| {
                resp::Command::new("SET")
                    .arg(args.key(i))
                    .arg(&args.value[..])
                    .encode(out);
            })
        }),
        owned: Some(|args, count| {
            each(count, |i| {
                resp::cmd!("SET", args.key(i), &args.value[..]).into_bytes()
            })
        }),
    },
    Encoding {
        name: "redis-rs",
        role: Role::Peer,
        shared: Some(|args, count| {
            fill(count, Vec::with_capacity(2 * FLUSH), |i, out| {
                redis::cmd("SET")
                    .arg(args.key(i))
                    .arg(&args.value[..])
                    .write_packed_command(out);
            })
        }),
        owned: Some(|args, count| {
            each(count, |i| {
                redis::cmd("SET")
                    .arg(args.key(i))
                    .arg(&args.value[..])
                    .get_packed_command()
            })
        }),
    },
    Encoding {
        name: "redis-protocol",
        role: Role::Peer,
        shared: Some(|args, count| {
            use redis_protocol::resp2::types::BytesFrame;
            fill(count, BytesMut::with_capacity(2 * FLUSH), |i, out| {
                let frame = BytesFrame::Array(vec![
                    BytesFrame::BulkString(Bytes::from_static(b"SET")),
                    BytesFrame::BulkString(args.key_bytes[i % KEYS].clone()),
                    BytesFrame::BulkString(args.value_bytes.clone()),
                ]);
                // Encoding a well-formed frame into a growable buffer cannot
                // fail; a wrong result shows in the byte count.
                let _ = redis_protocol::resp2::encode::extend_encode(out, &frame, false);
            })
        }),
        owned: None,
    },
];

/// A buffer commands are appended to.
trait Out: AsRef<[u8]> {
    fn clear(&mut self);
}

impl Out for Vec<u8> {
    fn clear(&mut self) {
        Vec::clear(self);
    }
}

impl Out for BytesMut {
    fn clear(&mut self) {
        BytesMut::clear(self);
    }
}

fn fill<B: Out>(count: usize, mut out: B, mut encode: impl FnMut(usize, &mut B)) -> Encoded {
    let mut encoded = Encoded::default();
    for i in 0..count {
        encode(i, &mut out);
        if i == 0 {
            encoded.first = out.as_ref().to_vec();
        }
        let len = out.as_ref().len();
        if len >= FLUSH {
            encoded.total += len;
            out.clear();
        }
    }
    encoded.total += out.as_ref().len();
    encoded
}

fn each<T: AsRef<[u8]>>(count: usize, mut encode: impl FnMut(usize) -> T) -> Encoded {
    let mut encoded = Encoded::default();
    for i in 0..count {
        let command = encode(i);
        if i == 0 {
            encoded.first = command.as_ref().to_vec();
        }
        encoded.total += command.as_ref().len();
    }
    encoded
}

/// Times every encoder on `COMMANDS` `SET`s and checks their bytes.
fn encode(options: &Options, case: &str, shared: bool) -> Result<Option<Versus>, String> {
    let args = SetArgs::new();
    let lens: Vec<usize> = (0..KEYS).map(|i| args.expected(i).len()).collect();
    let expected = Encoded {
        total: (0..COMMANDS).map(|i| lens[i % KEYS]).sum(),
        first: args.expected(0),
    };
    let contenders = ENCODERS
        .iter()
        .filter(|e| options.includes(e.name))
        .filter_map(|e| {
            let run = if shared { e.shared } else { e.owned }?;
            let args = &args;
            Some(Contender::new(
                e.name,
                e.role,
                || (),
                move |()| run(args, COMMANDS),
            ))
        })
        .collect();
    let results = race(options, contenders);
    for runs in &results {
        for output in &runs.outputs {
            if *output != expected {
                return Err(format!(
                    "{case}: {} wrote {} bytes starting {:?}, expected {} starting {:?}",
                    runs.name,
                    output.total,
                    Bytes::from(output.first.clone()),
                    expected.total,
                    Bytes::from(expected.first.clone()),
                ));
            }
        }
    }
    let what = if shared {
        format!("{COMMANDS} SET key <{VALUE} bytes> built and appended to one buffer")
    } else {
        format!("{COMMANDS} SET key <{VALUE} bytes>, each in a buffer of its own")
    };
    Ok(print_case(
        case,
        &what,
        expected.total,
        &results,
        options.budget,
    ))
}
