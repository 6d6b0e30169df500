//! Property tests: round trips, every split point, hostile bytes, limits and
//! commands.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use resp::{Command, Decoder, DecoderConfig, Error, Value};

proptest! {
    /// Encoding a value and decoding it gives the value back, and the decoder
    /// takes exactly the encoded bytes: a following frame is left alone.
    #[test]
    fn encode_then_decode_is_identity(value in value()) {
        let mut buf = BytesMut::new();
        value.encode(&mut buf);
        let len = buf.len();
        buf.extend_from_slice(b"+next\r\n");
        let mut decoder = Decoder::new();
        prop_assert_eq!(decoder.decode(&mut buf), Ok(Some(value)));
        prop_assert_eq!(&buf[..], b"+next\r\n", "encoded length {}", len);
        prop_assert!(decoder.is_idle());
    }

    /// A stream of values split in two at every point decodes to the same
    /// values, whatever was decoded before the split.
    #[test]
    fn every_split_point_gives_the_same_values(values in vec(small_value(), 1..4)) {
        let stream = encode_all(&values);
        for split in 0..=stream.len() {
            let got = decode_in_pieces(&stream, &[split], DecoderConfig::new());
            prop_assert_eq!(&got.values, &values, "split at {}", split);
            prop_assert_eq!(got.error, None);
            prop_assert!(got.left.is_empty() && got.idle, "split at {}", split);
        }
    }

    /// The same, cut at many random points at once.
    #[test]
    fn random_splits_give_the_same_values(
        values in vec(value(), 1..6),
        cuts in vec(any::<Index>(), 0..24),
    ) {
        let stream = encode_all(&values);
        let cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        let got = decode_in_pieces(&stream, &cuts, DecoderConfig::new());
        prop_assert_eq!(got.values, values);
        prop_assert_eq!(got.error, None);
        prop_assert!(got.left.is_empty() && got.idle);
    }

    /// Byte at a time is the worst case of pieces.
    #[test]
    fn byte_at_a_time_gives_the_same_values(values in vec(small_value(), 1..3)) {
        let stream = encode_all(&values);
        let cuts: Vec<usize> = (0..stream.len()).collect();
        let got = decode_in_pieces(&stream, &cuts, DecoderConfig::new());
        prop_assert_eq!(got.values, values);
        prop_assert!(got.left.is_empty() && got.idle);
    }

    /// Each limit is exact: set to what a value needs, the value decodes; set
    /// one lower, the decoder refuses it with that limit's error.
    #[test]
    fn limits_are_exact(value in value()) {
        let mut wire = BytesMut::new();
        value.encode(&mut wire);
        let needs = Needs::of(&value);
        let decode = |config: DecoderConfig| Decoder::with_config(config).decode(&mut wire.clone());

        let fits = DecoderConfig::new()
            .with_max_depth(needs.depth)
            .with_max_aggregate_len(needs.aggregate)
            .with_max_bulk_len(needs.bulk)
            .with_max_line_len(needs.line);
        prop_assert_eq!(decode(fits), Ok(Some(value.clone())));
        if needs.depth > 0 {
            let got = decode(fits.with_max_depth(needs.depth - 1));
            prop_assert_eq!(got, Err(Error::TooDeep(needs.depth - 1)));
        }
        if needs.aggregate > 0 {
            let got = decode(fits.with_max_aggregate_len(needs.aggregate - 1));
            let limit = needs.aggregate - 1;
            prop_assert!(
                matches!(got, Err(Error::TooLarge { what: "aggregate", limit: l, .. }) if l == limit)
                    || matches!(got, Err(Error::TooLarge { what: "reply element", limit: l, .. }) if l == 2 * limit),
                "{:?}", got
            );
        }
        if needs.bulk > 0 {
            let got = decode(fits.with_max_bulk_len(needs.bulk - 1));
            prop_assert!(
                matches!(got, Err(Error::TooLarge { what: "bulk", limit, .. }) if limit == needs.bulk - 1),
                "{:?}", got
            );
        }
        if needs.line > 0 {
            let got = decode(fits.with_max_line_len(needs.line - 1));
            prop_assert_eq!(got, Err(Error::LineTooLong(needs.line - 1)));
        }
    }

    /// Arbitrary bytes never panic, each value takes at least one byte, and
    /// values decoded whole are the values decoded byte at a time.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        check_hostile(&bytes, DecoderConfig::new())?;
        check_hostile(&bytes, small_limits())?;
    }

    /// The same for bytes that look like RESP, which get much further into
    /// the decoder than noise does, under small limits: no value that comes
    /// out exceeds them.
    #[test]
    fn resp_like_bytes_respect_small_limits(bytes in resp_like_bytes()) {
        check_hostile(&bytes, small_limits())?;
        check_hostile(&bytes, DecoderConfig::new())?;
    }

    /// Valid encodings with one byte changed, inserted or removed.
    #[test]
    fn damaged_encodings_never_panic(
        value in value(),
        at in any::<Index>(),
        byte in any::<u8>(),
        damage in 0..3u8,
    ) {
        let mut wire = Vec::new();
        value.encode(&mut wire);
        let i = at.index(wire.len());
        match damage {
            0 => wire[i] = byte,
            1 => wire.insert(i, byte),
            _ => {
                wire.remove(i);
            }
        }
        check_hostile(&wire, small_limits())?;
        check_hostile(&wire, DecoderConfig::new())?;
    }

    /// A command built from arbitrary binary arguments is, on the wire, an
    /// array of exactly those bulk strings.
    #[test]
    fn commands_decode_to_arrays_of_their_arguments(
        name in "[A-Z]{1,12}",
        args in vec(vec(any::<u8>(), 0..48), 0..12),
    ) {
        let cmd = Command::new(&name).arg(&args);
        prop_assert_eq!(cmd.len(), args.len() + 1);
        let mut expected = vec![Value::bulk(name.clone().into_bytes())];
        expected.extend(args.iter().map(|a| Value::bulk(a.clone())));
        let expected = Value::Array(expected);

        let mut encoded = BytesMut::new();
        cmd.encode(&mut encoded);
        prop_assert_eq!(encoded.len(), cmd.encoded_len());
        let listed: Vec<&[u8]> = cmd.args().collect();
        prop_assert_eq!(listed[0], name.as_bytes());
        prop_assert_eq!(&listed[1..], &args.iter().map(Vec::as_slice).collect::<Vec<_>>()[..]);
        let bytes = cmd.into_bytes();
        prop_assert_eq!(&bytes[..], &encoded[..]);

        let mut canonical = Vec::new();
        expected.encode(&mut canonical);
        prop_assert_eq!(&bytes[..], &canonical[..]);
        let mut buf = BytesMut::from(&bytes[..]);
        prop_assert_eq!(Decoder::new().decode(&mut buf), Ok(Some(expected)));
        prop_assert!(buf.is_empty());
    }

    /// `Command::from_args` on a list agrees with the builder.
    #[test]
    fn from_args_agrees_with_the_builder(args in vec(vec(any::<u8>(), 0..16), 1..8)) {
        let built = Command::from_args(&args).unwrap();
        let decoded = Decoder::new().decode(&mut BytesMut::from(&built.into_bytes()[..]));
        let expected = Value::Array(args.into_iter().map(Value::bulk).collect());
        prop_assert_eq!(decoded, Ok(Some(expected)));
    }
}

// Strategies.

/// Any value tree, attributes included, a few levels deep.
fn value() -> impl Strategy<Value = Value> {
    tree(4, 48, 6)
}

/// Smaller trees, for the tests that decode a stream once per byte.
fn small_value() -> impl Strategy<Value = Value> {
    tree(3, 12, 4)
}

fn tree(depth: u32, size: u32, branch: u32) -> impl Strategy<Value = Value> {
    let branch = branch as usize;
    leaf().prop_recursive(depth, size, branch as u32, move |inner| {
        let pairs = vec((inner.clone(), inner.clone()), 0..branch / 2 + 1);
        prop_oneof![
            vec(inner.clone(), 0..branch).prop_map(Value::Array),
            vec(inner.clone(), 0..branch).prop_map(Value::Set),
            vec(inner.clone(), 0..branch).prop_map(Value::Push),
            pairs.clone().prop_map(Value::Map),
            (pairs, inner).prop_map(|(attributes, value)| Value::Attribute {
                attributes,
                value: Box::new(value),
            }),
        ]
    })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        line().prop_map(Value::SimpleString),
        line().prop_map(Value::Error),
        any::<i64>().prop_map(Value::Integer),
        blob().prop_map(Value::BulkString),
        Just(Value::Null),
        Just(Value::NullBulkString),
        Just(Value::NullArray),
        double().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
        blob().prop_map(Value::BlobError),
        // Any three bytes are a format: the decoder takes the first three
        // bytes and wants a colon after them, whatever they are.
        (any::<[u8; 3]>(), blob())
            .prop_map(|(format, text)| Value::VerbatimString { format, text }),
        "-?[0-9]{1,60}".prop_map(|digits| Value::BigNumber(Bytes::from(digits))),
    ]
}

/// The content of a simple string or error: no CR, no LF.
fn line() -> impl Strategy<Value = Bytes> {
    vec(
        any::<u8>().prop_filter("no CR or LF", |b| !matches!(b, b'\r' | b'\n')),
        0..24,
    )
    .prop_map(Bytes::from)
}

/// Binary-safe payloads, CRLFs and all.
fn blob() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        vec(any::<u8>(), 0..32),
        vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'$'), Just(b'*')],
            0..8
        ),
    ]
    .prop_map(Bytes::from)
}

/// Finite doubles and infinities; no NaN, which is not equal to itself.
fn double() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE
}

/// Whole RESP lines and blobs in any order, with lengths that may not fit
/// what follows, and a little noise: unlike random bytes, these get deep
/// into the decoder, aggregates and limits included.
fn resp_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let header = (prop::sample::select(&b"*%~>|"[..]), 0..5usize)
        .prop_map(|(tag, len)| format!("{}{len}\r\n", tag as char).into_bytes());
    let scalar = prop::sample::select(
        &[
            "+OK\r\n",
            "-ERR x\r\n",
            ":12\r\n",
            "_\r\n",
            ",1.5\r\n",
            "#t\r\n",
            "(123\r\n",
            "$-1\r\n",
            "*-1\r\n",
            "+0123456789abcdefg\r\n",
        ][..],
    )
    .prop_map(|s| s.as_bytes().to_vec());
    let blob = (prop::sample::select(&b"$!="[..]), 0..12usize, any::<u8>()).prop_map(
        |(tag, len, fill)| {
            let mut out = format!("{}{len}\r\n", tag as char).into_bytes();
            let mut payload = vec![fill; len];
            if tag == b'=' && len >= 4 {
                payload[..4].copy_from_slice(b"txt:");
            }
            out.extend_from_slice(&payload);
            out.extend_from_slice(b"\r\n");
            out
        },
    );
    let noise = prop_oneof![
        prop::sample::select(&["\r", "\n", "\r\n", "-1", "99", "?"][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        vec(any::<u8>(), 0..4),
    ];
    let token = prop_oneof![4 => header, 4 => scalar, 3 => blob, 1 => noise];
    vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

fn small_limits() -> DecoderConfig {
    DecoderConfig::new()
        .with_max_bulk_len(8)
        .with_max_aggregate_len(3)
        .with_max_depth(2)
        .with_max_line_len(16)
}

// Checks and measures.

/// What a value needs of the limits to decode.
#[derive(Debug, Default, Clone, Copy)]
struct Needs {
    depth: usize,
    aggregate: usize,
    /// Elements of all aggregates together (pairs count twice): the reply
    /// may hold at most twice the aggregate limit.
    elements: usize,
    bulk: usize,
    line: usize,
}

impl Needs {
    fn of(value: &Value) -> Needs {
        let mut needs = Needs::default();
        needs.visit(value, 0);
        needs.aggregate = needs.aggregate.max(needs.elements.div_ceil(2));
        needs
    }

    fn visit(&mut self, value: &Value, depth: usize) {
        let line = match value {
            Value::SimpleString(s) | Value::Error(s) | Value::BigNumber(s) => s.len(),
            Value::Integer(n) => n.to_string().len(),
            Value::Double(d) => encoded(&Value::Double(*d)).len() - 3,
            Value::Boolean(_) => 1,
            Value::NullBulkString | Value::NullArray => 2,
            Value::Null => 0,
            Value::BulkString(b) | Value::BlobError(b) => self.blob(b.len()),
            Value::VerbatimString { text, .. } => self.blob(text.len() + 4),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                self.aggregate(items.len(), depth);
                self.elements += items.len();
                for item in items {
                    self.visit(item, depth + 1);
                }
                digits(items.len())
            }
            Value::Map(pairs) => {
                self.pairs(pairs, depth);
                digits(pairs.len())
            }
            Value::Attribute { attributes, value } => {
                // The attribute frame stays open around the value it annotates.
                self.pairs(attributes, depth);
                self.visit(value, depth + 1);
                digits(attributes.len())
            }
        };
        self.line = self.line.max(line);
    }

    fn pairs(&mut self, pairs: &[(Value, Value)], depth: usize) {
        self.aggregate(pairs.len(), depth);
        self.elements += 2 * pairs.len();
        for (k, v) in pairs {
            self.visit(k, depth + 1);
            self.visit(v, depth + 1);
        }
    }

    fn aggregate(&mut self, len: usize, depth: usize) {
        self.aggregate = self.aggregate.max(len);
        self.depth = self.depth.max(depth + 1);
    }

    fn blob(&mut self, len: usize) -> usize {
        self.bulk = self.bulk.max(len);
        digits(len)
    }

    fn within(&self, config: &DecoderConfig) -> bool {
        self.depth <= config.max_depth()
            && self.aggregate <= config.max_aggregate_len()
            && self.elements <= 2 * config.max_aggregate_len()
            && self.bulk <= config.max_bulk_len()
            && self.line <= config.max_line_len()
    }
}

fn digits(n: usize) -> usize {
    n.to_string().len()
}

/// Decodes hostile bytes whole and byte at a time: no panic, every value
/// within the limits and taking at least one byte, the same values both ways
/// and an error one way only when there is one the other way.
fn check_hostile(bytes: &[u8], config: DecoderConfig) -> Result<(), TestCaseError> {
    let whole = decode_in_pieces(bytes, &[], config);
    let cuts: Vec<usize> = (0..bytes.len()).collect();
    let pieces = decode_in_pieces(bytes, &cuts, config);
    for value in &whole.values {
        let needs = Needs::of(value);
        prop_assert!(
            needs.within(&config),
            "{:?} needs {:?} over {:?}",
            value,
            needs,
            config
        );
    }
    prop_assert_eq!(&whole.values, &pieces.values);
    prop_assert_eq!(
        whole.error.is_some(),
        pieces.error.is_some(),
        "{:?} / {:?}",
        whole.error,
        pieces.error
    );
    Ok(())
}

/// What decoding a stream gave.
#[derive(Debug)]
struct Decoded {
    values: Vec<Value>,
    error: Option<Error>,
    /// Bytes not taken when the input ran out (or when the error came).
    left: BytesMut,
    idle: bool,
}

/// Feeds `stream` cut at `cuts` (positions, in any order), decoding every
/// frame each piece completes, and stops at the first error.
fn decode_in_pieces(stream: &[u8], cuts: &[usize], config: DecoderConfig) -> Decoded {
    let mut cuts = cuts.to_vec();
    cuts.push(stream.len());
    cuts.sort_unstable();
    let mut decoder = Decoder::with_config(config);
    let mut buf = BytesMut::new();
    let mut values = Vec::new();
    let mut from = 0;
    for cut in cuts {
        buf.extend_from_slice(&stream[from..cut]);
        from = cut;
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(value)) => {
                    assert!(buf.len() < before, "a value out of no bytes: {value:?}");
                    values.push(value);
                }
                Ok(None) => break,
                Err(error) => {
                    return Decoded {
                        values,
                        error: Some(error),
                        left: buf,
                        idle: decoder.is_idle(),
                    }
                }
            }
        }
    }
    Decoded {
        values,
        error: None,
        left: buf,
        idle: decoder.is_idle(),
    }
}

fn encode_all(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        value.encode(&mut out);
    }
    out
}

fn encoded(value: &Value) -> Vec<u8> {
    encode_all(std::slice::from_ref(value))
}
