//! `resp` and the peer parsers behind one trait, and the two ways of feeding
//! them: the whole stream in one buffer, or in pieces as reads deliver it.
//!
//! The peers are the parsers other Rust clients use: `redis-protocol` 6
//! (fred's, zero-copy over `BytesMut`), `redis` 1.x (redis-rs's `ValueCodec`,
//! resumable through `combine`'s partial state) and `redis-async` 0.18
//! (`RespCodec`, which parses again from the start of the buffer whenever a
//! frame is incomplete).

use bytes::BytesMut;
use tokio_util::codec::Decoder as _;

use crate::corpus::Tally;

/// A reply decoder as a codec sees it.
pub(crate) trait Parser: Default {
    /// The name in the tables.
    const NAME: &'static str;
    /// Whether it reads RESP3 (maps, pushes, nulls, booleans, doubles).
    const RESP3: bool;
    /// What it decodes into.
    type Value;
    /// What it fails with. Each parser returns its own error type, so that
    /// no contender pays for a conversion on every frame.
    type Error: std::fmt::Display;
    /// Takes the next complete frame off the front of `buf`, if there is one.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Value>, Self::Error>;
    /// Counts what a value holds.
    fn visit(value: &Self::Value, tally: &mut Tally);
}

/// Decodes a buffer holding the whole stream, which must be all frames.
// Out of line, so that profilers see each run as one call.
#[inline(never)]
pub(crate) fn whole<P: Parser>(mut buf: BytesMut) -> Result<Tally, String> {
    let mut parser = P::default();
    let mut tally = Tally::default();
    drain(&mut parser, &mut buf, &mut tally)?;
    if !buf.is_empty() {
        return Err(format!("{} left {} bytes undecoded", P::NAME, buf.len()));
    }
    Ok(tally)
}

/// Feeds the stream `piece` bytes at a time, as socket reads would, and
/// decodes every frame each piece completes.
#[inline(never)]
pub(crate) fn pieces<P: Parser>(stream: &[u8], piece: usize) -> Result<Tally, String> {
    let mut parser = P::default();
    let mut tally = Tally::default();
    let mut buf = BytesMut::new();
    for chunk in stream.chunks(piece) {
        buf.extend_from_slice(chunk);
        drain(&mut parser, &mut buf, &mut tally)?;
    }
    if !buf.is_empty() {
        return Err(format!("{} left {} bytes undecoded", P::NAME, buf.len()));
    }
    Ok(tally)
}

/// Decodes and counts every complete frame in `buf`.
#[inline(always)]
fn drain<P: Parser>(parser: &mut P, buf: &mut BytesMut, tally: &mut Tally) -> Result<(), String> {
    loop {
        match parser.decode(buf) {
            Ok(Some(value)) => {
                tally.frame();
                P::visit(&value, tally);
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("{}: {e}", P::NAME)),
        }
    }
}

/// This workspace's decoder.
#[derive(Debug, Default)]
pub(crate) struct Resp(resp::Decoder);

impl Parser for Resp {
    const NAME: &'static str = "resp";
    const RESP3: bool = true;
    type Value = resp::Value;
    type Error = resp::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<resp::Value>, resp::Error> {
        self.0.decode(buf)
    }

    fn visit(value: &resp::Value, tally: &mut Tally) {
        use resp::Value as V;
        match value {
            V::Array(items) | V::Set(items) | V::Push(items) => {
                items.iter().for_each(|v| Self::visit(v, tally));
            }
            V::Map(pairs) => pairs.iter().for_each(|(k, v)| {
                Self::visit(k, tally);
                Self::visit(v, tally);
            }),
            V::BulkString(b) => tally.bulk(b.len()),
            V::Null | V::NullBulkString | V::NullArray => tally.null(),
            V::Integer(n) => tally.int(*n),
            _ => tally.other(),
        }
    }
}

/// fred's parser: `redis_protocol::resp2::decode::decode_bytes_mut`.
#[derive(Debug, Default)]
pub(crate) struct RedisProtocol;

impl Parser for RedisProtocol {
    const NAME: &'static str = "redis-protocol";
    const RESP3: bool = false;
    type Value = redis_protocol::resp2::types::BytesFrame;
    type Error = redis_protocol::error::RedisProtocolError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Value>, Self::Error> {
        Ok(redis_protocol::resp2::decode::decode_bytes_mut(buf)?.map(|(frame, _, _)| frame))
    }

    fn visit(value: &Self::Value, tally: &mut Tally) {
        use redis_protocol::resp2::types::BytesFrame as F;
        match value {
            F::Array(items) => items.iter().for_each(|v| Self::visit(v, tally)),
            F::BulkString(b) => tally.bulk(b.len()),
            F::Null => tally.null(),
            F::Integer(n) => tally.int(*n),
            _ => tally.other(),
        }
    }
}

/// fred's RESP3 parser: `redis_protocol::resp3::decode::complete::decode_bytes_mut`.
#[derive(Debug, Default)]
pub(crate) struct RedisProtocol3;

impl Parser for RedisProtocol3 {
    const NAME: &'static str = "redis-protocol-3";
    const RESP3: bool = true;
    type Value = redis_protocol::resp3::types::BytesFrame;
    type Error = redis_protocol::error::RedisProtocolError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Value>, Self::Error> {
        Ok(
            redis_protocol::resp3::decode::complete::decode_bytes_mut(buf)?
                .map(|(frame, _, _)| frame),
        )
    }

    fn visit(value: &Self::Value, tally: &mut Tally) {
        use redis_protocol::resp3::types::BytesFrame as F;
        match value {
            F::Array { data, .. } | F::Push { data, .. } => {
                data.iter().for_each(|v| Self::visit(v, tally));
            }
            F::Set { data, .. } => data.iter().for_each(|v| Self::visit(v, tally)),
            F::Map { data, .. } => data.iter().for_each(|(k, v)| {
                Self::visit(k, tally);
                Self::visit(v, tally);
            }),
            F::BlobString { data, .. } => tally.bulk(data.len()),
            F::Null => tally.null(),
            F::Number { data, .. } => tally.int(*data),
            _ => tally.other(),
        }
    }
}

/// redis-rs's codec: `redis::ValueCodec`.
#[derive(Default)]
pub(crate) struct RedisRs(redis::ValueCodec);

impl std::fmt::Debug for RedisRs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisRs")
    }
}

impl Parser for RedisRs {
    const NAME: &'static str = "redis-rs";
    const RESP3: bool = true;
    type Value = redis::Value;
    type Error = redis::RedisError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<redis::Value>, redis::RedisError> {
        self.0.decode(buf)
    }

    fn visit(value: &redis::Value, tally: &mut Tally) {
        use redis::Value as V;
        match value {
            V::Array(items) | V::Set(items) => items.iter().for_each(|v| Self::visit(v, tally)),
            V::Map(pairs) => pairs.iter().for_each(|(k, v)| {
                Self::visit(k, tally);
                Self::visit(v, tally);
            }),
            V::Push { kind, data } => {
                // The kind is the push's first element, taken apart.
                tally.bulk(match kind {
                    redis::PushKind::Message => "message".len(),
                    other => other.to_string().len(),
                });
                data.iter().for_each(|v| Self::visit(v, tally));
            }
            V::BulkString(b) => tally.bulk(b.len()),
            V::Nil => tally.null(),
            V::Int(n) => tally.int(*n),
            _ => tally.other(),
        }
    }
}

/// redis-async's codec: `redis_async::resp::RespCodec`.
#[derive(Default)]
pub(crate) struct RedisAsync;

impl std::fmt::Debug for RedisAsync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisAsync")
    }
}

impl Parser for RedisAsync {
    const NAME: &'static str = "redis-async";
    const RESP3: bool = false;
    type Value = redis_async::resp::RespValue;
    type Error = redis_async::error::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Value>, Self::Error> {
        redis_async::resp::RespCodec.decode(buf)
    }

    fn visit(value: &Self::Value, tally: &mut Tally) {
        use redis_async::resp::RespValue as V;
        match value {
            V::Array(items) => items.iter().for_each(|v| Self::visit(v, tally)),
            V::BulkString(b) => tally.bulk(b.len()),
            V::Nil => tally.null(),
            V::Integer(n) => tally.int(*n),
            _ => tally.other(),
        }
    }
}
