//! What a subscription yields: `Event`s, the `Message`s among them, and the
//! `Kind` of subscription they came through.

use std::fmt;
use std::str::Utf8Error;

use bytes::Bytes;
use redis_conn::Error;

/// The three kinds of subscription Redis offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `SUBSCRIBE`: messages published to exactly this channel.
    Channel,
    /// `PSUBSCRIBE`: messages published to any channel matching a glob-style
    /// pattern.
    Pattern,
    /// `SSUBSCRIBE`: messages published with `SPUBLISH` to this shard channel.
    Shard,
}

impl Kind {
    /// The command that subscribes: `SUBSCRIBE`, `PSUBSCRIBE` or `SSUBSCRIBE`.
    pub fn subscribe_command(self) -> &'static str {
        match self {
            Kind::Channel => "SUBSCRIBE",
            Kind::Pattern => "PSUBSCRIBE",
            Kind::Shard => "SSUBSCRIBE",
        }
    }

    /// The command that unsubscribes: `UNSUBSCRIBE`, `PUNSUBSCRIBE` or
    /// `SUNSUBSCRIBE`.
    pub fn unsubscribe_command(self) -> &'static str {
        match self {
            Kind::Channel => "UNSUBSCRIBE",
            Kind::Pattern => "PUNSUBSCRIBE",
            Kind::Shard => "SUNSUBSCRIBE",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Kind::Channel => 0,
            Kind::Pattern => 1,
            Kind::Shard => 2,
        }
    }
}

/// One item of a [`Subscription`](crate::Subscription) stream.
///
/// Besides messages, a stream tells its reader when it may have missed some:
/// the connection was lost ([`Disconnected`](Event::Disconnected)), or the
/// reader fell behind and its buffer overflowed ([`Lagged`](Event::Lagged)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A message published to one of the stream's channels or patterns.
    Message(Message),
    /// The connection was lost; messages published until
    /// [`Resubscribed`](Event::Resubscribed) are missed. The error says why.
    ///
    /// If the connection is not coming back (reconnecting is disabled in the
    /// config's [`ReconnectPolicy`](redis_conn::ReconnectPolicy)), or the
    /// server refused to re-establish one of the stream's subscriptions (the
    /// error is then the server's reply), the stream ends after this event.
    ///
    /// A Redis Cluster node also ends a sharded subscription by itself when
    /// the channel's slot moves to another node: the error then says so,
    /// and the subscription is not re-established here (`redis-cluster`
    /// subscribes at the slot's new owner).
    Disconnected(Error),
    /// Every subscription of this stream is established again on a new
    /// connection: messages flow again.
    Resubscribed,
    /// The reader fell behind: its buffer was full, and this many messages
    /// were dropped for it (and for it only) since the previous item.
    Lagged(u64),
}

impl Event {
    /// The message, if this is one.
    pub fn into_message(self) -> Option<Message> {
        match self {
            Event::Message(m) => Some(m),
            _ => None,
        }
    }

    /// The message, if this is one.
    pub fn as_message(&self) -> Option<&Message> {
        match self {
            Event::Message(m) => Some(m),
            _ => None,
        }
    }
}

/// A published message: the channel it was published to, the pattern that
/// matched it (for pattern subscriptions), and the payload.
///
/// All three are binary-safe [`Bytes`], sliced out of the connection's read
/// buffer without copying; a message kept keeps that part of the buffer
/// (up to 64 KiB) alive, so copy what you keep for long
/// (`Bytes::copy_from_slice`). The `*_str` methods check UTF-8 and never
/// replace invalid bytes. `Debug` shows the payload's length, not its
/// content.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Message {
    kind: Kind,
    channel: Bytes,
    pattern: Option<Bytes>,
    payload: Bytes,
}

impl Message {
    /// A message as the server delivers it. `pattern` is set for
    /// [`Kind::Pattern`] messages only.
    pub fn new(kind: Kind, channel: Bytes, pattern: Option<Bytes>, payload: Bytes) -> Message {
        Message {
            kind,
            channel,
            pattern,
            payload,
        }
    }

    /// The kind of subscription that delivered it.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The channel it was published to (for a pattern subscription, the real
    /// channel, not the pattern).
    pub fn channel(&self) -> &Bytes {
        &self.channel
    }

    /// The pattern that matched, for [`Kind::Pattern`] subscriptions.
    pub fn pattern(&self) -> Option<&Bytes> {
        self.pattern.as_ref()
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The channel as text, if it is valid UTF-8.
    pub fn channel_str(&self) -> Result<&str, Utf8Error> {
        std::str::from_utf8(&self.channel)
    }

    /// The pattern as text, if there is one and it is valid UTF-8.
    pub fn pattern_str(&self) -> Option<Result<&str, Utf8Error>> {
        self.pattern.as_deref().map(std::str::from_utf8)
    }

    /// The payload as text, if it is valid UTF-8.
    pub fn payload_str(&self) -> Result<&str, Utf8Error> {
        std::str::from_utf8(&self.payload)
    }

    /// The payload, giving up the rest.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }

    /// The channel, the pattern and the payload.
    pub fn into_parts(self) -> (Bytes, Option<Bytes>, Bytes) {
        (self.channel, self.pattern, self.payload)
    }
}

impl fmt::Debug for Message {
    /// Shows where the message came from and how long it is, never the
    /// payload: it may hold anything.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Message");
        s.field("kind", &self.kind);
        s.field("channel", &String::from_utf8_lossy(&self.channel));
        if let Some(p) = &self.pattern {
            s.field("pattern", &String::from_utf8_lossy(p));
        }
        s.field("payload_len", &self.payload.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_accessors_refuse_invalid_utf8() {
        let m = Message::new(
            Kind::Pattern,
            Bytes::from_static(b"news.eu"),
            Some(Bytes::from_static(b"news.*")),
            Bytes::from_static(b"\xff\xfe"),
        );
        assert_eq!(m.channel_str(), Ok("news.eu"));
        assert_eq!(m.pattern_str(), Some(Ok("news.*")));
        assert!(m.payload_str().is_err());
        assert_eq!(&m.payload()[..], b"\xff\xfe");
        assert_eq!(m.clone().into_payload(), Bytes::from_static(b"\xff\xfe"));
    }

    #[test]
    fn debug_hides_the_payload() {
        let m = Message::new(
            Kind::Channel,
            Bytes::from_static(b"c"),
            None,
            Bytes::from_static(b"secret"),
        );
        let shown = format!("{m:?}");
        assert!(
            shown.contains("payload_len: 6") && !shown.contains("secret"),
            "{shown}"
        );
    }

    #[test]
    fn kinds_name_their_commands() {
        let all = [Kind::Channel, Kind::Pattern, Kind::Shard];
        for kind in all {
            assert_eq!(all[kind.index()], kind);
            assert!(kind
                .unsubscribe_command()
                .ends_with(&kind.subscribe_command()[1..]));
        }
    }
}
