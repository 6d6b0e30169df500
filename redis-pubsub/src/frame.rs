//! The pub/sub wire vocabulary: frames from the server read into `Frame`s
//! (RESP3 pushes and RESP2 arrays alike), and the commands that subscribe,
//! unsubscribe and ping, encoded beside them.

use bytes::{Bytes, BytesMut};
use resp::{Command, ServerError, Value};

use crate::{Kind, Message};

/// Subscribing or unsubscribing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Subscribe,
    Unsubscribe,
}

/// One frame from a subscribed connection, read for what it means.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    /// `message`, `pmessage` or `smessage`.
    Message(Message),
    /// The server confirms one channel of a (un)subscribe command.
    /// `channel` is `None` for an unsubscribe from nothing.
    Confirmation {
        kind: Kind,
        action: Action,
        channel: Option<Bytes>,
    },
    /// The reply to `PING`.
    Pong,
    /// `OK`: the reply to `AUTH`, which renews expiring credentials.
    Ok,
    /// An error reply to the oldest command.
    Error(ServerError),
    /// Anything else; `what` describes it without its content.
    Unexpected(Unexpected),
}

/// A frame this connection has no use for, described for a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unexpected {
    /// The RESP type of the frame.
    pub(crate) frame: &'static str,
    /// The first element of a push or array, when it is a string: the kind
    /// of push (such as `invalidate`).
    pub(crate) name: Option<Bytes>,
}

impl Frame {
    /// Reads a frame. Never fails: what does not fit is
    /// [`Frame::Unexpected`].
    ///
    /// > A message is an array-reply with three elements. The first element
    /// > is the kind of message: `subscribe` [...] `unsubscribe` [...]
    /// > `message` [...] (Redis Pub/Sub documentation)
    ///
    /// `pmessage` carries four: the kind, the pattern, the channel and the
    /// payload. RESP3 sends the same elements as a push frame (`>`), RESP2
    /// as a plain array; no reply to a pub/sub command is an array
    /// otherwise, so both are read alike.
    pub(crate) fn read(value: Value) -> Frame {
        let (frame, items) = match value {
            Value::Push(items) => ("push", items),
            Value::Array(items) => ("array", items),
            Value::SimpleString(s) if s.eq_ignore_ascii_case(b"PONG") => return Frame::Pong,
            Value::SimpleString(s) if s.eq_ignore_ascii_case(b"OK") => return Frame::Ok,
            Value::Error(text) | Value::BlobError(text) => {
                return Frame::Error(ServerError::new(text))
            }
            Value::Attribute { value, .. } => return Frame::read(*value),
            other => {
                return Frame::Unexpected(Unexpected {
                    frame: other.kind(),
                    name: None,
                })
            }
        };
        match read_items(items) {
            Ok(frame) => frame,
            Err(name) => Frame::Unexpected(Unexpected { frame, name }),
        }
    }
}

/// Encodes one subscribe or unsubscribe command for `channels`.
pub(crate) fn encode_command(out: &mut BytesMut, kind: Kind, action: Action, channels: &[Bytes]) {
    let name = match action {
        Action::Subscribe => kind.subscribe_command(),
        Action::Unsubscribe => kind.unsubscribe_command(),
    };
    let len = channels.iter().map(|c| c.len() + 16).sum();
    let mut cmd = Command::with_capacity(name, len);
    for channel in channels {
        cmd.push_bulk(channel);
    }
    cmd.encode(out);
}

/// Encodes `PING`.
///
/// > If the client is subscribed to a channel or a pattern, it will instead
/// > return a multi-bulk with a "pong" in the first position and an empty
/// > bulk in the second position (Redis documentation of PING)
///
/// That is RESP2; RESP3, and RESP2 with no subscription, answer `+PONG`.
pub(crate) fn encode_ping(out: &mut BytesMut) {
    out.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
}

/// Reads the elements of a push or array; on failure, its name if any.
/// Allocates nothing: the strings are the decoder's slices.
fn read_items(items: Vec<Value>) -> Result<Frame, Option<Bytes>> {
    let mut it = items.into_iter();
    let name = match it.next() {
        Some(Value::BulkString(b) | Value::SimpleString(b)) => b,
        _ => return Err(None),
    };
    let Some(word) = Word::of(&name) else {
        return Err(Some(name));
    };
    let frame = match word {
        Word::Message(kind) => match (it.next(), it.next(), it.next()) {
            (Some(Value::BulkString(channel)), Some(Value::BulkString(payload)), None) => {
                Frame::Message(Message::new(kind, channel, None, payload))
            }
            _ => return Err(Some(name)),
        },
        Word::PatternMessage => match (it.next(), it.next(), it.next(), it.next()) {
            (
                Some(Value::BulkString(pattern)),
                Some(Value::BulkString(channel)),
                Some(Value::BulkString(payload)),
                None,
            ) => Frame::Message(Message::new(Kind::Pattern, channel, Some(pattern), payload)),
            _ => return Err(Some(name)),
        },
        // [kind, channel, count]; the channel is null for an unsubscribe
        // from nothing.
        Word::Confirmation(kind, action) => match (it.next(), it.next(), it.next()) {
            (
                Some(Value::BulkString(channel) | Value::SimpleString(channel)),
                Some(Value::Integer(_)),
                None,
            ) => Frame::Confirmation {
                kind,
                action,
                channel: Some(channel),
            },
            (Some(channel), Some(Value::Integer(_)), None)
                if channel.is_null() && action == Action::Unsubscribe =>
            {
                Frame::Confirmation {
                    kind,
                    action,
                    channel: None,
                }
            }
            _ => return Err(Some(name)),
        },
        Word::Pong if it.len() <= 1 => Frame::Pong,
        Word::Pong => return Err(Some(name)),
    };
    Ok(frame)
}

/// The first element of a pub/sub frame.
#[derive(Debug, Clone, Copy)]
enum Word {
    Message(Kind),
    PatternMessage,
    Confirmation(Kind, Action),
    Pong,
}

impl Word {
    /// Redis spells them in lower case; other cases are accepted too.
    fn of(name: &[u8]) -> Option<Word> {
        let mut lower = [0u8; 12];
        let name = match lower.get_mut(..name.len()) {
            Some(slot) if name.iter().any(u8::is_ascii_uppercase) => {
                slot.copy_from_slice(name);
                slot.make_ascii_lowercase();
                &*slot
            }
            _ => name,
        };
        let word = match name {
            b"message" => Word::Message(Kind::Channel),
            b"smessage" => Word::Message(Kind::Shard),
            b"pmessage" => Word::PatternMessage,
            b"subscribe" => Word::Confirmation(Kind::Channel, Action::Subscribe),
            b"psubscribe" => Word::Confirmation(Kind::Pattern, Action::Subscribe),
            b"ssubscribe" => Word::Confirmation(Kind::Shard, Action::Subscribe),
            b"unsubscribe" => Word::Confirmation(Kind::Channel, Action::Unsubscribe),
            b"punsubscribe" => Word::Confirmation(Kind::Pattern, Action::Unsubscribe),
            b"sunsubscribe" => Word::Confirmation(Kind::Shard, Action::Unsubscribe),
            b"pong" => Word::Pong,
            _ => return None,
        };
        Some(word)
    }
}

#[cfg(test)]
mod tests {
    use resp::Decoder;

    use super::*;

    fn read(wire: &[u8]) -> Frame {
        let mut buf = BytesMut::from(wire);
        let value = Decoder::new()
            .decode(&mut buf)
            .unwrap()
            .expect("a whole frame");
        assert!(buf.is_empty(), "one frame per case");
        Frame::read(value)
    }

    fn message(kind: Kind, channel: &str, pattern: Option<&str>, payload: &[u8]) -> Frame {
        Frame::Message(Message::new(
            kind,
            Bytes::copy_from_slice(channel.as_bytes()),
            pattern.map(|p| Bytes::copy_from_slice(p.as_bytes())),
            Bytes::copy_from_slice(payload),
        ))
    }

    fn confirm(kind: Kind, action: Action, channel: Option<&str>) -> Frame {
        Frame::Confirmation {
            kind,
            action,
            channel: channel.map(|c| Bytes::copy_from_slice(c.as_bytes())),
        }
    }

    fn unexpected(frame: &'static str, name: Option<&str>) -> Frame {
        Frame::Unexpected(Unexpected {
            frame,
            name: name.map(|n| Bytes::copy_from_slice(n.as_bytes())),
        })
    }

    use Action::{Subscribe as Sub, Unsubscribe as Unsub};
    use Kind::{Channel, Pattern, Shard};

    #[test]
    fn wire_cases() {
        #[rustfmt::skip]
        let cases: Vec<(&[u8], Frame)> = vec![
            // RESP3 pushes
            (b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", message(Channel, "ch", None, b"hi")),
            (b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$0\r\n\r\n", message(Pattern, "ch", Some("c*"), b"")),
            (b">3\r\n$8\r\nsmessage\r\n$2\r\nsh\r\n$2\r\n\xff\x00\r\n", message(Shard, "sh", None, b"\xff\x00")),
            (b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", confirm(Channel, Sub, Some("ch"))),
            (b">3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:2\r\n", confirm(Pattern, Sub, Some("c*"))),
            (b">3\r\n$10\r\nssubscribe\r\n$2\r\nsh\r\n:1\r\n", confirm(Shard, Sub, Some("sh"))),
            (b">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n", confirm(Channel, Unsub, Some("ch"))),
            (b">3\r\n$12\r\npunsubscribe\r\n$2\r\nc*\r\n:0\r\n", confirm(Pattern, Unsub, Some("c*"))),
            (b">3\r\n$12\r\nsunsubscribe\r\n$2\r\nsh\r\n:0\r\n", confirm(Shard, Unsub, Some("sh"))),
            (b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n", confirm(Channel, Unsub, None)),
            // RESP2 arrays
            (b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", message(Channel, "ch", None, b"hi")),
            (b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n", message(Pattern, "ch", Some("c*"), b"hi")),
            (b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", confirm(Channel, Sub, Some("ch"))),
            (b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n", confirm(Channel, Unsub, None)),
            (b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", Frame::Pong),
            (b"*3\r\n$7\r\nMESSAGE\r\n$2\r\nch\r\n$2\r\nhi\r\n", message(Channel, "ch", None, b"hi")),
            // Plain replies
            (b"+PONG\r\n", Frame::Pong),
            (b"-NOPERM no permissions\r\n", Frame::Error(ServerError::new(&b"NOPERM no permissions"[..]))),
            (b"!5\r\nERR x\r\n", Frame::Error(ServerError::new(&b"ERR x"[..]))),
            (b"|1\r\n+a\r\n+b\r\n+PONG\r\n", Frame::Pong),
            (b"+OK\r\n", Frame::Ok),
            // What a subscribed connection does not expect
            (b"+QUEUED\r\n", unexpected("simple string", None)),
            (b":42\r\n", unexpected("integer", None)),
            (b"$3\r\nfoo\r\n", unexpected("bulk string", None)),
            (b"%0\r\n", unexpected("map", None)),
            (b">0\r\n", unexpected("push", None)),
            (b"*1\r\n:1\r\n", unexpected("array", None)),
            (b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", unexpected("push", Some("invalidate"))),
            (b">2\r\n$7\r\nmessage\r\n$2\r\nch\r\n", unexpected("push", Some("message"))),
            (b">3\r\n$7\r\nmessage\r\n:1\r\n$2\r\nhi\r\n", unexpected("push", Some("message"))),
            (b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n_\r\n", unexpected("push", Some("pmessage"))),
            (b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n$1\r\n1\r\n", unexpected("push", Some("subscribe"))),
            (b">3\r\n$9\r\nsubscribe\r\n_\r\n:1\r\n", unexpected("push", Some("subscribe"))),
            (b"*3\r\n$4\r\npong\r\n$0\r\n\r\n$0\r\n\r\n", unexpected("array", Some("pong"))),
            (b"*2\r\n$13\r\nPUNSUBSCRIBEX\r\n:1\r\n", unexpected("array", Some("PUNSUBSCRIBEX"))),
            (b"*4\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n$0\r\n\r\n", unexpected("array", Some("message"))),
            (b"*4\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n:1\r\n", unexpected("array", Some("subscribe"))),
        ];
        for (wire, want) in cases {
            assert_eq!(read(wire), want, "{}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = BytesMut::new();
        let channels = [Bytes::from_static(b"a"), Bytes::from_static(b"\x00b")];
        encode_command(&mut out, Kind::Pattern, Action::Unsubscribe, &channels);
        encode_ping(&mut out);
        assert_eq!(
            &out[..],
            b"*3\r\n$12\r\nPUNSUBSCRIBE\r\n$1\r\na\r\n$2\r\n\x00b\r\n*1\r\n$4\r\nPING\r\n"
        );
    }
}
