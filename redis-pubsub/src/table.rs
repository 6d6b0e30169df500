//! The subscription table: which streams want which channels, what the
//! server has confirmed, which commands to send, who waits for what, and
//! where each message goes. Pure and synchronous; the driver only feeds it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use redis_conn::Error;
use resp::ServerError;
use tokio::sync::oneshot;

use crate::buffer::Buffer;
use crate::frame::{self, Action, Frame};
use crate::{Event, Kind, Message};

/// Identifies one subscription stream.
pub(crate) type StreamId = u64;

/// Where a subscribe call learns that its channels are confirmed.
pub(crate) type Waiter = oneshot::Sender<Result<(), Error>>;

/// The most channels named in one command. Longer lists (a resubscription
/// of many channels) are split so that no single command is huge.
const MAX_CHANNELS_PER_COMMAND: usize = 1024;

/// Every subscription of one connection, as the streams want it and as the
/// server has confirmed it.
///
/// A channel (or pattern, or shard channel) has an [`Entry`] while a stream
/// wants it or the server may still be subscribed to it. Each entry keeps
/// the (un)subscribe commands sent for it whose confirmations have not
/// arrived, in order, so a subscribe issued while an unsubscribe of the same
/// channel is in flight is settled correctly: the unsubscribe's confirmation
/// does not end the new subscription, and the new stream waits for the
/// confirmation of its own subscribe.
///
/// Commands are queued ([`write_commands`](Table::write_commands) encodes
/// them) in the order the decisions were taken, and every command written is
/// remembered in a FIFO: Redis answers commands in order, so the oldest one
/// owns the next confirmation or error reply.
#[derive(Debug)]
pub(crate) struct Table {
    /// One map per [`Kind`], by [`Kind::index`].
    keys: [HashMap<Bytes, Entry>; 3],
    streams: HashMap<StreamId, Stream>,
    next_id: StreamId,
    state: State,
    /// Commands decided and not written yet, oldest first.
    queued: VecDeque<Op>,
    /// Commands written and not fully answered, oldest first.
    sent: VecDeque<Sent>,
    /// Buffers pushed to since the driver last woke their readers.
    to_wake: Vec<Arc<Buffer>>,
    /// Streams still waiting for their resubscription to be confirmed.
    resubscribing: usize,
}

/// Whether subscriptions can be made now.
#[derive(Debug, Clone)]
pub(crate) enum State {
    Connected,
    /// Lost, and being re-established; the error says why.
    Disconnected(Arc<Error>),
    /// Lost for good, or shut down.
    Closed,
}

/// What a call to [`Table::register`] must wait for.
#[derive(Debug)]
pub(crate) enum Registered {
    /// Every channel is confirmed already.
    Ready,
    /// Resolves once every channel is confirmed, or with the error that
    /// refused one.
    Waiting(oneshot::Receiver<Result<(), Error>>),
}

/// What a frame did, for the driver to log and to time the server by.
#[derive(Debug, PartialEq)]
pub(crate) enum Received {
    /// A message went to its streams.
    Delivered,
    /// A message for a channel no stream wants any more (it was published
    /// before the server processed our unsubscribe).
    Unrouted,
    /// The oldest command got (part of) its answer.
    Answered,
    /// The server accepted the `AUTH` that renewed the credentials.
    Authenticated,
    /// A server error refused the oldest command.
    Refused {
        command: &'static str,
        error: ServerError,
    },
    /// The frame fits no command sent; it was ignored.
    Unexpected(&'static str),
}

#[derive(Debug, Default)]
struct Entry {
    members: Vec<Member>,
    /// (Un)subscribe commands for this channel, queued or sent, whose
    /// confirmations have not arrived: oldest first.
    pending: VecDeque<Action>,
    /// Subscribed on the server, as of the last confirmation.
    confirmed: bool,
}

#[derive(Debug)]
struct Member {
    stream: StreamId,
    /// The stream waits for this channel's confirmation.
    waiting: bool,
    buffer: Arc<Buffer>,
}

#[derive(Debug)]
struct Stream {
    kind: Kind,
    channels: Vec<Bytes>,
    buffer: Arc<Buffer>,
    /// Channels not confirmed yet.
    waiting: usize,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// The subscribe call waits for its confirmations.
    Subscribing(Option<Waiter>),
    /// Every channel is confirmed.
    Live,
    /// After a reconnect, waiting for the confirmations again.
    Resubscribing,
}

/// A command decided and not written yet.
#[derive(Debug)]
struct Op {
    kind: Kind,
    action: Action,
    channels: Vec<Bytes>,
}

/// A command written, and the confirmations it still owes.
#[derive(Debug)]
enum Sent {
    Command {
        kind: Kind,
        action: Action,
        channels: VecDeque<Bytes>,
    },
    Ping,
    Auth,
}

impl Entry {
    /// Whether the server will be subscribed once everything pending is
    /// confirmed.
    fn will_be_subscribed(&self) -> bool {
        self.pending
            .back()
            .map_or(self.confirmed, |a| *a == Action::Subscribe)
    }

    /// Subscribed, with nothing in flight: a new stream can use it at once.
    fn is_live(&self) -> bool {
        self.confirmed && self.pending.is_empty()
    }

    /// Nobody wants it and the server is not (and will not be) subscribed.
    fn is_idle(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty() && !self.confirmed
    }
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            keys: Default::default(),
            streams: HashMap::new(),
            next_id: 0,
            state: State::Connected,
            queued: VecDeque::new(),
            sent: VecDeque::new(),
            to_wake: Vec::new(),
            resubscribing: 0,
        }
    }

    /// Whether subscriptions can be made now; if not, why.
    pub(crate) fn status(&self) -> Result<(), Error> {
        match &self.state {
            State::Connected => Ok(()),
            State::Disconnected(reason) => Err(Error::Connection(reason.clone())),
            State::Closed => Err(Error::Closed),
        }
    }

    /// While reconnecting: the latest reason subscriptions are refused.
    pub(crate) fn set_reason(&mut self, reason: Arc<Error>) {
        if let State::Disconnected(_) = self.state {
            self.state = State::Disconnected(reason);
        }
    }

    /// Adds a stream that wants `channels` of `kind`, delivering into
    /// `buffer`, and queues a subscribe command for the channels the server
    /// is not (or will not be) subscribed to.
    ///
    /// Fails at once while the connection is down, and for an empty list.
    pub(crate) fn register(
        &mut self,
        kind: Kind,
        channels: Vec<Bytes>,
        buffer: Arc<Buffer>,
    ) -> Result<(StreamId, Registered), Error> {
        self.status()?;
        if channels.is_empty() {
            return Err(Error::Protocol(resp::Error::EmptyCommand));
        }
        let channels = dedup(channels);
        let id = self.next_id;
        self.next_id += 1;
        let map = &mut self.keys[kind.index()];
        let mut to_subscribe = Vec::new();
        let mut waiting = 0;
        for channel in &channels {
            let entry = map.entry(channel.clone()).or_default();
            let live = entry.is_live();
            if !entry.will_be_subscribed() {
                entry.pending.push_back(Action::Subscribe);
                to_subscribe.push(channel.clone());
            }
            entry.members.push(Member {
                stream: id,
                waiting: !live,
                buffer: buffer.clone(),
            });
            waiting += usize::from(!live);
        }
        tracing::debug!(
            kind = ?kind,
            channels = channels.len(),
            new = to_subscribe.len(),
            "subscribe"
        );
        self.queue(kind, Action::Subscribe, to_subscribe);
        let (phase, registered) = if waiting == 0 {
            (Phase::Live, Registered::Ready)
        } else {
            let (tx, rx) = oneshot::channel();
            (Phase::Subscribing(Some(tx)), Registered::Waiting(rx))
        };
        self.streams.insert(
            id,
            Stream {
                kind,
                channels,
                buffer,
                waiting,
                phase,
            },
        );
        Ok((id, registered))
    }

    /// Removes a stream (dropped, or unsubscribed by its owner) and queues
    /// an unsubscribe for the channels no other stream wants. Removing a
    /// stream twice, or one the table already let go, does nothing.
    pub(crate) fn remove(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.remove(&id) {
            if matches!(stream.phase, Phase::Resubscribing) {
                self.resubscribing = self.resubscribing.saturating_sub(1);
            }
            tracing::debug!(kind = ?stream.kind, channels = stream.channels.len(), "unsubscribe");
            self.leave(id, &stream);
        }
    }

    /// Reads a frame from the server: routes a message, or settles the
    /// oldest command sent.
    pub(crate) fn receive(&mut self, frame: Frame) -> Received {
        match frame {
            Frame::Message(message) => self.deliver(message),
            Frame::Confirmation {
                kind,
                action,
                channel,
            } => self.confirm(kind, action, channel),
            Frame::Pong => match self.sent.front() {
                Some(Sent::Ping) => {
                    self.sent.pop_front();
                    Received::Answered
                }
                _ => Received::Unexpected("a pong for no ping"),
            },
            Frame::Ok => match self.sent.front() {
                Some(Sent::Auth) => {
                    self.sent.pop_front();
                    Received::Authenticated
                }
                _ => Received::Unexpected("an OK for no AUTH"),
            },
            Frame::Error(error) => self.refuse(error),
            Frame::Unexpected(_) => Received::Unexpected("a frame pub/sub does not use"),
        }
    }

    /// Encodes every queued command into `out` and remembers it as sent.
    /// Returns how many there were.
    pub(crate) fn write_commands(&mut self, out: &mut BytesMut) -> usize {
        let n = self.queued.len();
        for op in self.queued.drain(..) {
            frame::encode_command(out, op.kind, op.action, &op.channels);
            self.sent.push_back(Sent::Command {
                kind: op.kind,
                action: op.action,
                channels: op.channels.into(),
            });
        }
        n
    }

    /// Encodes a `PING` into `out` and remembers it as sent.
    pub(crate) fn write_ping(&mut self, out: &mut BytesMut) {
        frame::encode_ping(out);
        self.sent.push_back(Sent::Ping);
    }

    /// Encodes `auth` (an `AUTH` that renews the credentials) into `out`
    /// and remembers it as sent. On RESP3 a subscribed connection takes it;
    /// on RESP2 it would be refused, and the driver does not send it.
    pub(crate) fn write_auth(&mut self, out: &mut BytesMut, auth: &mut resp::Command) {
        out.extend_from_slice(auth.encoded());
        self.sent.push_back(Sent::Auth);
    }

    /// Whether commands wait to be written.
    pub(crate) fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    /// Whether commands written wait for (part of) their answers.
    pub(crate) fn is_awaiting_replies(&self) -> bool {
        !self.sent.is_empty()
    }

    /// Moves the buffers that got events since the last call into `out`;
    /// the driver wakes their readers once the table is unlocked.
    pub(crate) fn take_wakes(&mut self, out: &mut Vec<Arc<Buffer>>) {
        out.append(&mut self.to_wake);
    }

    /// The connection is lost. Subscribe calls still waiting fail with
    /// [`Error::Connection`]; every other stream gets
    /// [`Event::Disconnected`]. With `for_good` (no reconnect will come),
    /// those streams then end; otherwise they stay for
    /// [`reconnected`](Table::reconnected) to re-establish.
    pub(crate) fn disconnected(&mut self, reason: &Arc<Error>, for_good: bool) {
        self.state = if for_good {
            State::Closed
        } else {
            State::Disconnected(reason.clone())
        };
        self.queued.clear();
        self.sent.clear();
        self.resubscribing = 0;
        // The server forgot every subscription with the connection.
        for map in &mut self.keys {
            map.retain(|_, entry| {
                entry.pending.clear();
                entry.confirmed = false;
                for member in &mut entry.members {
                    member.waiting = false;
                }
                !entry.members.is_empty()
            });
        }
        let mut ids: Vec<StreamId> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let subscribing = matches!(
                self.streams.get(&id).map(|s| &s.phase),
                Some(Phase::Subscribing(_))
            );
            if subscribing {
                self.fail_stream(id, Error::Connection(reason.clone()));
            } else if for_good {
                self.fail_stream(id, (**reason).clone());
            } else if let Some(stream) = self.streams.get(&id) {
                if stream
                    .buffer
                    .push_event(Event::Disconnected((**reason).clone()))
                {
                    self.to_wake.push(stream.buffer.clone());
                }
            }
        }
    }

    /// A new connection is up: queues the subscribe commands that
    /// re-establish every stream's channels (one group per stream, so that
    /// a channel the server now refuses fails only the streams that want
    /// it). Returns how many streams are being re-established.
    pub(crate) fn reconnected(&mut self) -> usize {
        self.state = State::Connected;
        self.resubscribing = 0;
        let mut ids: Vec<StreamId> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        for &id in &ids {
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            stream.phase = Phase::Resubscribing;
            stream.waiting = 0;
            let kind = stream.kind;
            let map = &mut self.keys[kind.index()];
            let mut to_subscribe = Vec::new();
            for channel in &stream.channels {
                let Some(entry) = map.get_mut(channel) else {
                    continue;
                };
                if entry.pending.is_empty() {
                    entry.pending.push_back(Action::Subscribe);
                    to_subscribe.push(channel.clone());
                }
                for member in &mut entry.members {
                    if member.stream == id && !member.waiting {
                        member.waiting = true;
                        stream.waiting += 1;
                    }
                }
            }
            if stream.waiting == 0 {
                // Nothing to wait for (no entry left): back at once.
                stream.phase = Phase::Live;
                if stream.buffer.push_event(Event::Resubscribed) {
                    self.to_wake.push(stream.buffer.clone());
                }
            } else {
                self.resubscribing += 1;
            }
            self.queue(kind, Action::Subscribe, to_subscribe);
        }
        ids.len()
    }

    /// Shuts down: every stream still here ends, every waiting call fails
    /// with [`Error::Closed`].
    pub(crate) fn close(&mut self) {
        self.state = State::Closed;
        self.queued.clear();
        self.sent.clear();
        let mut ids: Vec<StreamId> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(stream) = self.streams.remove(&id) {
                if let Phase::Subscribing(Some(tx)) = stream.phase {
                    let _ = tx.send(Err(Error::Closed));
                }
                if stream.buffer.close() {
                    self.to_wake.push(stream.buffer.clone());
                }
            }
        }
        for map in &mut self.keys {
            map.clear();
        }
    }

    /// How many channels, patterns and shard channels the table holds.
    pub(crate) fn counts(&self) -> [usize; 3] {
        [self.keys[0].len(), self.keys[1].len(), self.keys[2].len()]
    }

    /// Queues commands for `channels`: shard channels one per command (in a
    /// cluster each may live in another slot, and a command naming several
    /// slots is refused with `CROSSSLOT`), others in chunks.
    fn queue(&mut self, kind: Kind, action: Action, channels: Vec<Bytes>) {
        if channels.is_empty() {
            return;
        }
        let per_command = match kind {
            Kind::Shard => 1,
            Kind::Channel | Kind::Pattern => MAX_CHANNELS_PER_COMMAND,
        };
        if channels.len() <= per_command {
            self.queued.push_back(Op {
                kind,
                action,
                channels,
            });
            return;
        }
        for chunk in channels.chunks(per_command) {
            self.queued.push_back(Op {
                kind,
                action,
                channels: chunk.to_vec(),
            });
        }
    }

    /// Takes stream `id` out of its channels' entries; unsubscribes from the
    /// channels nobody wants any more.
    fn leave(&mut self, id: StreamId, stream: &Stream) {
        let connected = matches!(self.state, State::Connected);
        let map = &mut self.keys[stream.kind.index()];
        let mut to_unsubscribe = Vec::new();
        for channel in &stream.channels {
            let Some(entry) = map.get_mut(channel) else {
                continue;
            };
            entry.members.retain(|m| m.stream != id);
            if !entry.members.is_empty() {
                continue;
            }
            if connected && entry.will_be_subscribed() {
                entry.pending.push_back(Action::Unsubscribe);
                to_unsubscribe.push(channel.clone());
            } else if entry.is_idle() {
                map.remove(channel);
            }
        }
        self.queue(stream.kind, Action::Unsubscribe, to_unsubscribe);
    }

    fn deliver(&mut self, message: Message) -> Received {
        let kind = message.kind();
        let key = match (kind, message.pattern()) {
            (Kind::Pattern, Some(pattern)) => pattern,
            _ => message.channel(),
        };
        let Some(entry) = self.keys[kind.index()].get(key) else {
            return Received::Unrouted;
        };
        let Some((last, rest)) = entry.members.split_last() else {
            return Received::Unrouted;
        };
        for member in rest {
            if member.buffer.push_message(message.clone()) {
                self.to_wake.push(member.buffer.clone());
            }
        }
        if last.buffer.push_message(message) {
            self.to_wake.push(last.buffer.clone());
        }
        Received::Delivered
    }

    fn confirm(&mut self, kind: Kind, action: Action, channel: Option<Bytes>) -> Received {
        if kind == Kind::Shard && action == Action::Unsubscribe {
            let asked = matches!(
                self.sent.front(),
                Some(Sent::Command { kind: Kind::Shard, action: Action::Unsubscribe, channels })
                    if channels.front() == channel.as_ref()
            );
            if let (false, Some(channel)) = (asked, &channel) {
                return self.ended_by_server(channel);
            }
        }
        let Some(Sent::Command {
            kind: sent_kind,
            action: sent_action,
            channels,
        }) = self.sent.front_mut()
        else {
            return Received::Unexpected("a confirmation for no command");
        };
        let Some(channel) = channel else {
            return Received::Unexpected("a confirmation without a channel");
        };
        if *sent_kind != kind || *sent_action != action || channels.front() != Some(&channel) {
            return Received::Unexpected("a confirmation for another command");
        }
        channels.pop_front();
        if channels.is_empty() {
            self.sent.pop_front();
        }
        for id in self.settle(kind, &channel, action, true) {
            self.confirmed(id);
        }
        Received::Answered
    }

    /// The server ended a sharded subscription nobody asked to end: in a
    /// cluster, the channel's slot moved to another node. Its streams are
    /// told with [`Event::Disconnected`]; what to do next (subscribe at the
    /// slot's new owner) is for the layer that knows the cluster.
    fn ended_by_server(&mut self, channel: &Bytes) -> Received {
        let Some(entry) = self.keys[Kind::Shard.index()].get_mut(channel) else {
            return Received::Unexpected("a sunsubscribe for a channel nobody wants");
        };
        entry.confirmed = false;
        let reason = Error::Server(ServerError::new(format!(
            "SUNSUBSCRIBE the server ended the subscription to {}: its slot moved",
            String::from_utf8_lossy(channel)
        )));
        for member in &entry.members {
            if member
                .buffer
                .push_event(Event::Disconnected(reason.clone()))
            {
                self.to_wake.push(member.buffer.clone());
            }
        }
        Received::Answered
    }

    /// An error reply refuses the oldest command as a whole.
    fn refuse(&mut self, error: ServerError) -> Received {
        match self.sent.pop_front() {
            None => Received::Unexpected("an error reply to no command"),
            Some(Sent::Ping) => Received::Refused {
                command: "PING",
                error,
            },
            Some(Sent::Auth) => Received::Refused {
                command: "AUTH",
                error,
            },
            Some(Sent::Command {
                kind,
                action,
                channels,
            }) => {
                // Settle every channel first, so that the streams failed
                // below do not unsubscribe channels the server just refused.
                let mut failed = Vec::new();
                for channel in channels {
                    failed.extend(self.settle(kind, &channel, action, false));
                }
                let refused = Error::Server(error.clone());
                for id in failed {
                    self.fail_stream(id, refused.clone());
                }
                let command = match action {
                    Action::Subscribe => kind.subscribe_command(),
                    Action::Unsubscribe => kind.unsubscribe_command(),
                };
                Received::Refused { command, error }
            }
        }
    }

    /// The oldest pending command for `channel` was answered: confirmed,
    /// or refused. Returns the streams whose wait for it is over.
    fn settle(
        &mut self,
        kind: Kind,
        channel: &Bytes,
        action: Action,
        confirmed: bool,
    ) -> Vec<StreamId> {
        let map = &mut self.keys[kind.index()];
        let Some(entry) = map.get_mut(channel) else {
            return Vec::new();
        };
        entry.pending.pop_front();
        if confirmed {
            entry.confirmed = action == Action::Subscribe;
        }
        let mut done = Vec::new();
        if action == Action::Subscribe && entry.pending.is_empty() {
            // The subscribe every waiting member relies on is the last one
            // queued: a member cannot be added after an unsubscribe of its
            // channel without queuing a subscribe behind it.
            for member in &mut entry.members {
                if std::mem::take(&mut member.waiting) {
                    done.push(member.stream);
                }
            }
        }
        if entry.is_idle() {
            map.remove(channel);
        }
        done
    }

    /// One more channel of stream `id` is confirmed.
    fn confirmed(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        stream.waiting = stream.waiting.saturating_sub(1);
        if stream.waiting > 0 {
            return;
        }
        match std::mem::replace(&mut stream.phase, Phase::Live) {
            Phase::Subscribing(tx) => {
                if let Some(tx) = tx {
                    // The caller may have given up; its stream then goes
                    // when the subscription is dropped.
                    let _ = tx.send(Ok(()));
                }
            }
            Phase::Resubscribing => {
                if stream.buffer.push_event(Event::Resubscribed) {
                    self.to_wake.push(stream.buffer.clone());
                }
                self.resubscribing = self.resubscribing.saturating_sub(1);
                if self.resubscribing == 0 {
                    tracing::info!("every subscription is re-established");
                }
            }
            Phase::Live => {}
        }
    }

    /// Ends stream `id` with `error`: a waiting subscribe call fails with
    /// it; a stream already handed out gets it as
    /// [`Event::Disconnected`], then ends.
    fn fail_stream(&mut self, id: StreamId, error: Error) {
        let Some(stream) = self.streams.remove(&id) else {
            return;
        };
        let mut wake = false;
        match &stream.phase {
            Phase::Subscribing(_) => {}
            Phase::Resubscribing | Phase::Live => {
                if matches!(stream.phase, Phase::Resubscribing) {
                    self.resubscribing = self.resubscribing.saturating_sub(1);
                }
                wake = stream.buffer.push_event(Event::Disconnected(error.clone()));
            }
        }
        if stream.buffer.close() || wake {
            self.to_wake.push(stream.buffer.clone());
        }
        self.leave(id, &stream);
        if let Phase::Subscribing(Some(tx)) = stream.phase {
            let _ = tx.send(Err(error));
        }
    }
}

/// Drops repeated channels, keeping the first of each in order.
pub(crate) fn dedup(channels: Vec<Bytes>) -> Vec<Bytes> {
    if channels.len() < 2 {
        return channels;
    }
    let mut seen = HashSet::with_capacity(channels.len());
    channels
        .into_iter()
        .filter(|c| seen.insert(c.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use resp::{Decoder, Value};

    use super::*;
    use crate::buffer::tests::Reader;

    use Kind::{Channel, Pattern, Shard};

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// A table, the commands it wrote, and readers for its streams.
    struct Harness {
        table: Table,
    }

    impl Harness {
        fn new() -> Harness {
            Harness {
                table: Table::new(),
            }
        }

        fn register(&mut self, kind: Kind, channels: &[&str]) -> (StreamId, Reader, Registered) {
            self.register_with(kind, channels, 16)
        }

        fn register_with(
            &mut self,
            kind: Kind,
            channels: &[&str],
            capacity: usize,
        ) -> (StreamId, Reader, Registered) {
            let buffer = Arc::new(Buffer::new(capacity));
            let (id, registered) = self
                .table
                .register(
                    kind,
                    channels.iter().map(|c| b(c)).collect(),
                    buffer.clone(),
                )
                .expect("registered");
            (id, Reader::new(buffer), registered)
        }

        /// The commands written since the last call, as text.
        fn written(&mut self) -> Vec<String> {
            let mut out = BytesMut::new();
            self.table.write_commands(&mut out);
            let mut decoder = Decoder::new();
            let mut commands = Vec::new();
            while let Some(Value::Array(args)) = decoder.decode(&mut out).unwrap() {
                let words: Vec<String> = args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a.as_bytes().unwrap()).into_owned())
                    .collect();
                commands.push(words.join(" "));
            }
            commands
        }

        fn confirm(&mut self, kind: Kind, action: Action, channel: &str) -> Received {
            self.table.receive(Frame::Confirmation {
                kind,
                action,
                channel: Some(b(channel)),
            })
        }

        fn subscribed(&mut self, kind: Kind, channel: &str) -> Received {
            self.confirm(kind, Action::Subscribe, channel)
        }

        fn unsubscribed(&mut self, kind: Kind, channel: &str) -> Received {
            self.confirm(kind, Action::Unsubscribe, channel)
        }

        fn publish(&mut self, channel: &str, payload: &str) -> Received {
            self.table.receive(Frame::Message(Message::new(
                Channel,
                b(channel),
                None,
                b(payload),
            )))
        }

        fn entries(&self, kind: Kind) -> usize {
            self.table.counts()[kind.index()]
        }
    }

    fn outcome(registered: &mut Registered) -> Option<Result<(), String>> {
        match registered {
            Registered::Ready => Some(Ok(())),
            Registered::Waiting(rx) => rx.try_recv().ok().map(|r| r.map_err(|e| e.to_string())),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_shard_subscription_the_server_ends_is_told_to_its_streams() {
        let mut h = Harness::new();
        let (_, mut reader, mut reg) = h.register(Shard, &["{s}a"]);
        assert_eq!(h.written(), strings(&["SSUBSCRIBE {s}a"]));
        assert_eq!(h.subscribed(Shard, "{s}a"), Received::Answered);
        assert_eq!(outcome(&mut reg), Some(Ok(())));
        // No SSUNSUBSCRIBE was sent: the server dropped the channel (in a
        // cluster, its slot moved).
        assert_eq!(h.unsubscribed(Shard, "{s}a"), Received::Answered);
        match reader.next() {
            Ok(Some(Event::Disconnected(e))) => {
                assert!(e.to_string().contains("its slot moved"), "{e}")
            }
            other => panic!("expected the disconnection, got {other:?}"),
        }
        assert!(
            reader.drain().is_empty(),
            "one event, and the stream goes on"
        );
        // A channel nobody wants is still unexpected.
        assert!(matches!(
            h.unsubscribed(Shard, "{t}b"),
            Received::Unexpected(_)
        ));
    }

    #[test]
    fn a_subscribe_resolves_once_every_channel_is_confirmed() {
        let mut h = Harness::new();
        let (_, mut reader, mut reg) = h.register(Channel, &["a", "b", "a"]);
        assert_eq!(
            h.written(),
            strings(&["SUBSCRIBE a b"]),
            "repeats are dropped"
        );
        assert_eq!(outcome(&mut reg), None);
        assert_eq!(h.subscribed(Channel, "a"), Received::Answered);
        // A message on a confirmed channel is kept for the stream.
        assert_eq!(h.publish("a", "early"), Received::Delivered);
        assert_eq!(outcome(&mut reg), None);
        assert_eq!(h.subscribed(Channel, "b"), Received::Answered);
        assert_eq!(outcome(&mut reg), Some(Ok(())));
        assert!(!h.table.is_awaiting_replies());
        assert_eq!(reader.drain(), strings(&["m:early"]));
    }

    #[test]
    fn channels_already_confirmed_count_at_once() {
        let mut h = Harness::new();
        let (_, _r1, _) = h.register(Channel, &["a"]);
        h.written();
        h.subscribed(Channel, "a");
        let (_, _r2, mut reg) = h.register(Channel, &["a"]);
        assert!(h.written().is_empty(), "nothing to send");
        assert_eq!(outcome(&mut reg), Some(Ok(())));
        // Only the new channel is sent and waited for.
        let (_, _r3, mut reg) = h.register(Channel, &["a", "c"]);
        assert_eq!(h.written(), strings(&["SUBSCRIBE c"]));
        assert_eq!(outcome(&mut reg), None);
        h.subscribed(Channel, "c");
        assert_eq!(outcome(&mut reg), Some(Ok(())));
    }

    #[test]
    fn a_second_stream_joins_a_subscribe_in_flight() {
        let mut h = Harness::new();
        let (_, _r1, mut reg1) = h.register(Channel, &["a"]);
        let (_, _r2, mut reg2) = h.register(Channel, &["a"]);
        assert_eq!(h.written(), strings(&["SUBSCRIBE a"]));
        h.subscribed(Channel, "a");
        assert_eq!(outcome(&mut reg1), Some(Ok(())));
        assert_eq!(outcome(&mut reg2), Some(Ok(())));
    }

    #[test]
    fn every_stream_of_a_channel_gets_every_message() {
        let mut h = Harness::new();
        let (id1, mut r1, _) = h.register(Channel, &["a"]);
        let (_, mut r2, _) = h.register(Channel, &["a", "b"]);
        h.written();
        h.subscribed(Channel, "a");
        h.subscribed(Channel, "b");
        h.publish("a", "1");
        h.publish("b", "2");
        assert_eq!(r1.drain(), strings(&["m:1"]));
        assert_eq!(r2.drain(), strings(&["m:1", "m:2"]));
        let mut wakes = Vec::new();
        h.table.take_wakes(&mut wakes);
        assert_eq!(wakes.len(), 2, "each buffer is woken once for the batch");

        // Dropping one stream keeps the channel for the other.
        h.table.remove(id1);
        assert!(h.written().is_empty());
        h.publish("a", "3");
        assert_eq!(r2.drain(), strings(&["m:3"]));
        assert_eq!(r1.drain(), Vec::<String>::new());
    }

    #[test]
    fn the_last_stream_gone_unsubscribes_and_the_entry_goes_on_confirmation() {
        let mut h = Harness::new();
        let (id1, _r1, _) = h.register(Channel, &["a", "b"]);
        let (id2, _r2, _) = h.register(Channel, &["b"]);
        h.written();
        h.subscribed(Channel, "a");
        h.subscribed(Channel, "b");
        h.table.remove(id1);
        assert_eq!(h.written(), strings(&["UNSUBSCRIBE a"]));
        // A message published before the server saw the unsubscribe.
        assert_eq!(h.publish("a", "late"), Received::Unrouted);
        assert_eq!(h.unsubscribed(Channel, "a"), Received::Answered);
        assert_eq!(h.entries(Channel), 1);
        h.table.remove(id2);
        h.table.remove(id2);
        assert_eq!(h.written(), strings(&["UNSUBSCRIBE b"]), "twice is fine");
        h.unsubscribed(Channel, "b");
        assert_eq!(h.entries(Channel), 0);
        assert!(!h.table.is_awaiting_replies());
    }

    #[test]
    fn a_subscribe_while_its_unsubscribe_is_in_flight_survives_the_confirmation() {
        let mut h = Harness::new();
        let (id1, _r1, _) = h.register(Channel, &["a"]);
        h.written();
        h.subscribed(Channel, "a");
        h.table.remove(id1);
        let (_, mut r2, mut reg2) = h.register(Channel, &["a"]);
        assert_eq!(h.written(), strings(&["UNSUBSCRIBE a", "SUBSCRIBE a"]));
        // The unsubscribe's confirmation neither ends nor satisfies it.
        h.unsubscribed(Channel, "a");
        assert_eq!(outcome(&mut reg2), None);
        assert_eq!(h.entries(Channel), 1);
        h.subscribed(Channel, "a");
        assert_eq!(outcome(&mut reg2), Some(Ok(())));
        h.publish("a", "x");
        assert_eq!(r2.drain(), strings(&["m:x"]));
    }

    #[test]
    fn a_subscribe_dropped_before_its_confirmation_unsubscribes_after_it() {
        let mut h = Harness::new();
        let (id, _r, _reg) = h.register(Pattern, &["p*"]);
        h.table.remove(id);
        assert_eq!(h.written(), strings(&["PSUBSCRIBE p*", "PUNSUBSCRIBE p*"]));
        h.subscribed(Pattern, "p*");
        assert_eq!(h.entries(Pattern), 1, "the unsubscribe is still owed");
        h.unsubscribed(Pattern, "p*");
        assert_eq!(h.entries(Pattern), 0);
        // Flapping quickly keeps the commands in step.
        let (id, _r, _) = h.register(Pattern, &["p*"]);
        h.table.remove(id);
        let (_, _r, mut reg) = h.register(Pattern, &["p*"]);
        assert_eq!(
            h.written(),
            strings(&["PSUBSCRIBE p*", "PUNSUBSCRIBE p*", "PSUBSCRIBE p*"])
        );
        h.subscribed(Pattern, "p*");
        assert_eq!(outcome(&mut reg), None);
        h.unsubscribed(Pattern, "p*");
        assert_eq!(outcome(&mut reg), None);
        h.subscribed(Pattern, "p*");
        assert_eq!(outcome(&mut reg), Some(Ok(())));
    }

    #[test]
    fn an_error_reply_fails_the_call_of_the_oldest_command_only() {
        let mut h = Harness::new();
        let (_, _r1, mut reg1) = h.register(Channel, &["ok"]);
        let (_, _r2, mut reg2) = h.register(Channel, &["secret", "ok", "other"]);
        assert_eq!(
            h.written(),
            strings(&["SUBSCRIBE ok", "SUBSCRIBE secret other"])
        );
        h.subscribed(Channel, "ok");
        assert_eq!(outcome(&mut reg1), Some(Ok(())));
        let refused = h
            .table
            .receive(Frame::Error(ServerError::new(&b"NOPERM no"[..])));
        assert!(matches!(
            refused,
            Received::Refused {
                command: "SUBSCRIBE",
                ..
            }
        ));
        let err = outcome(&mut reg2).unwrap().unwrap_err();
        assert!(err.contains("NOPERM"), "{err}");
        // The failed stream let go of "ok", which the first stream keeps.
        assert!(h.written().is_empty());
        assert_eq!(h.entries(Channel), 1);
        assert!(!h.table.is_awaiting_replies());
    }

    #[test]
    fn a_refused_shard_channel_unsubscribes_the_ones_confirmed_before() {
        let mut h = Harness::new();
        let (_, _r, mut reg) = h.register(Shard, &["s1", "s2"]);
        assert_eq!(h.written(), strings(&["SSUBSCRIBE s1", "SSUBSCRIBE s2"]));
        h.subscribed(Shard, "s1");
        h.table
            .receive(Frame::Error(ServerError::new(&b"NOPERM no"[..])));
        assert!(outcome(&mut reg).unwrap().is_err());
        assert_eq!(h.written(), strings(&["SUNSUBSCRIBE s1"]));
        h.unsubscribed(Shard, "s1");
        assert_eq!(h.entries(Shard), 0);
    }

    #[test]
    fn unexpected_frames_are_reported_and_change_nothing() {
        let mut h = Harness::new();
        assert!(matches!(
            h.subscribed(Channel, "a"),
            Received::Unexpected(_)
        ));
        assert!(matches!(
            h.table.receive(Frame::Pong),
            Received::Unexpected(_)
        ));
        assert!(matches!(
            h.table
                .receive(Frame::Error(ServerError::new(&b"ERR x"[..]))),
            Received::Unexpected(_)
        ));
        assert_eq!(h.publish("nobody", "x"), Received::Unrouted);
        let (_, _r, mut reg) = h.register(Channel, &["a", "b"]);
        h.written();
        // Out of order, wrong kind, no channel: ignored.
        assert!(matches!(
            h.subscribed(Channel, "b"),
            Received::Unexpected(_)
        ));
        assert!(matches!(
            h.subscribed(Pattern, "a"),
            Received::Unexpected(_)
        ));
        assert!(matches!(
            h.unsubscribed(Channel, "a"),
            Received::Unexpected(_)
        ));
        let none = Frame::Confirmation {
            kind: Channel,
            action: Action::Subscribe,
            channel: None,
        };
        assert!(matches!(h.table.receive(none), Received::Unexpected(_)));
        h.subscribed(Channel, "a");
        h.subscribed(Channel, "b");
        assert_eq!(outcome(&mut reg), Some(Ok(())));
    }

    #[test]
    fn pings_take_their_turn_in_the_fifo() {
        let mut h = Harness::new();
        let (_, _r, _) = h.register(Channel, &["a"]);
        h.written();
        let mut out = BytesMut::new();
        h.table.write_ping(&mut out);
        assert!(
            matches!(h.table.receive(Frame::Pong), Received::Unexpected(_)),
            "a is owed first"
        );
        h.subscribed(Channel, "a");
        assert_eq!(h.table.receive(Frame::Pong), Received::Answered);
        assert!(!h.table.is_awaiting_replies());
    }

    #[test]
    fn an_auth_takes_its_turn_and_its_answer_is_told() {
        let mut h = Harness::new();
        let (_, _r, _) = h.register(Channel, &["a"]);
        h.written();
        let mut out = BytesMut::new();
        h.table
            .write_auth(&mut out, &mut resp::cmd!("AUTH", "u", "token"));
        assert_eq!(&out[..], b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$5\r\ntoken\r\n");
        assert!(
            matches!(h.table.receive(Frame::Ok), Received::Unexpected(_)),
            "a is owed first"
        );
        h.subscribed(Channel, "a");
        assert_eq!(h.table.receive(Frame::Ok), Received::Authenticated);
        h.table
            .write_auth(&mut out, &mut resp::cmd!("AUTH", "u", "token"));
        let refused = ServerError::new(&b"WRONGPASS invalid username-password pair"[..]);
        assert_eq!(
            h.table.receive(Frame::Error(refused.clone())),
            Received::Refused {
                command: "AUTH",
                error: refused
            }
        );
        assert!(!h.table.is_awaiting_replies());
        // The subscription is untouched.
        assert!(h.table.status().is_ok());
    }

    #[test]
    fn patterns_route_by_pattern_and_shards_by_channel() {
        let mut h = Harness::new();
        let (_, mut rp, _) = h.register(Pattern, &["news.*"]);
        let (_, mut rs, _) = h.register(Shard, &["news.eu"]);
        let (_, mut rc, _) = h.register(Channel, &["news.eu"]);
        h.written();
        h.subscribed(Pattern, "news.*");
        h.subscribed(Shard, "news.eu");
        h.subscribed(Channel, "news.eu");
        let pmessage = Message::new(Pattern, b("news.eu"), Some(b("news.*")), b("p"));
        let smessage = Message::new(Shard, b("news.eu"), None, b("s"));
        assert_eq!(
            h.table.receive(Frame::Message(pmessage)),
            Received::Delivered
        );
        assert_eq!(
            h.table.receive(Frame::Message(smessage)),
            Received::Delivered
        );
        h.publish("news.eu", "c");
        assert_eq!(rp.drain(), strings(&["m:p"]));
        assert_eq!(rs.drain(), strings(&["m:s"]));
        assert_eq!(rc.drain(), strings(&["m:c"]));
    }

    #[test]
    fn a_slow_stream_lags_alone() {
        let mut h = Harness::new();
        let (_, mut slow, _) = h.register_with(Channel, &["a"], 2);
        let (_, mut fast, _) = h.register_with(Channel, &["a"], 100);
        h.written();
        h.subscribed(Channel, "a");
        for i in 0..10 {
            h.publish("a", &i.to_string());
        }
        assert_eq!(slow.drain(), strings(&["m:0", "m:1", "lagged:8"]));
        assert_eq!(fast.drain().len(), 10);
    }

    #[test]
    fn a_reconnect_resubscribes_every_stream_and_tells_it() {
        let mut h = Harness::new();
        let (_, mut r1, _) = h.register(Channel, &["a", "b"]);
        let (_, mut r2, _) = h.register(Channel, &["b"]);
        let (_, mut r3, _) = h.register(Pattern, &["p*"]);
        h.written();
        h.subscribed(Channel, "a");
        h.subscribed(Channel, "b");
        h.subscribed(Pattern, "p*");
        // A call still waiting when the connection goes fails.
        let (_, _r4, mut reg4) = h.register(Shard, &["s"]);
        h.written();

        let reason = Arc::new(Error::Closed);
        h.table.disconnected(&reason, false);
        assert!(outcome(&mut reg4)
            .unwrap()
            .unwrap_err()
            .contains("unavailable"));
        assert_eq!(h.entries(Shard), 0);
        assert!(h
            .table
            .register(Channel, vec![b("x")], Arc::new(Buffer::new(1)))
            .is_err());
        for r in [&mut r1, &mut r2, &mut r3] {
            assert_eq!(r.drain(), strings(&["disconnected"]));
        }

        assert_eq!(h.table.reconnected(), 3);
        assert_eq!(
            h.written(),
            strings(&["SUBSCRIBE a b", "PSUBSCRIBE p*"]),
            "one group per stream, each channel once"
        );
        h.subscribed(Channel, "a");
        assert!(r1.drain().is_empty(), "b is not confirmed yet");
        h.subscribed(Channel, "b");
        assert_eq!(r1.drain(), strings(&["resubscribed"]));
        assert_eq!(r2.drain(), strings(&["resubscribed"]));
        assert!(r3.drain().is_empty());
        h.table.receive(Frame::Message(Message::new(
            Pattern,
            b("pq"),
            Some(b("p*")),
            b("x"),
        )));
        h.subscribed(Pattern, "p*");
        assert_eq!(r3.drain(), strings(&["m:x", "resubscribed"]));
    }

    #[test]
    fn a_resubscription_the_server_refuses_ends_the_stream() {
        let mut h = Harness::new();
        let (_, mut r1, _) = h.register(Channel, &["a"]);
        let (_, mut r2, _) = h.register(Channel, &["b"]);
        h.written();
        h.subscribed(Channel, "a");
        h.subscribed(Channel, "b");
        h.table.disconnected(&Arc::new(Error::Closed), false);
        h.table.reconnected();
        assert_eq!(h.written(), strings(&["SUBSCRIBE a", "SUBSCRIBE b"]));
        h.table
            .receive(Frame::Error(ServerError::new(&b"NOPERM no"[..])));
        h.subscribed(Channel, "b");
        // Unread, the first disconnection gives way to the one that ends it.
        assert_eq!(r1.drain(), strings(&["disconnected", "end"]));
        assert_eq!(r2.drain(), strings(&["disconnected", "resubscribed"]));
        assert_eq!(h.entries(Channel), 1);
    }

    #[test]
    fn streams_dropped_while_disconnected_are_not_resubscribed() {
        let mut h = Harness::new();
        let (id, _r, _) = h.register(Channel, &["a"]);
        h.written();
        h.subscribed(Channel, "a");
        h.table.disconnected(&Arc::new(Error::Closed), false);
        h.table.remove(id);
        assert_eq!(h.entries(Channel), 0);
        assert_eq!(h.table.reconnected(), 0);
        assert!(h.written().is_empty());
    }

    #[test]
    fn a_loss_for_good_ends_every_stream() {
        let mut h = Harness::new();
        let (id, mut r, _) = h.register(Channel, &["a"]);
        h.written();
        h.subscribed(Channel, "a");
        h.table.disconnected(&Arc::new(Error::Closed), true);
        assert_eq!(r.drain(), strings(&["disconnected", "end"]));
        assert!(matches!(h.table.status(), Err(Error::Closed)));
        h.table.remove(id);
        assert_eq!(h.entries(Channel), 0);
    }

    #[test]
    fn closing_fails_waiting_calls_and_ends_streams() {
        let mut h = Harness::new();
        let (_, mut r1, _) = h.register(Channel, &["a"]);
        let (_, _r2, mut reg2) = h.register(Channel, &["b"]);
        h.written();
        h.subscribed(Channel, "a");
        h.table.close();
        assert_eq!(r1.drain(), strings(&["end"]));
        assert!(outcome(&mut reg2).unwrap().unwrap_err().contains("closed"));
    }

    #[test]
    fn long_lists_are_split_into_several_commands() {
        let mut h = Harness::new();
        let names: Vec<String> = (0..2500).map(|i| format!("c{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (_, _r, mut reg) = h.register(Channel, &refs);
        let written = h.written();
        assert_eq!(written.len(), 3);
        assert!(written[0].starts_with("SUBSCRIBE c0 c1 "));
        for name in &names {
            assert_eq!(h.subscribed(Channel, name), Received::Answered);
        }
        assert_eq!(outcome(&mut reg), Some(Ok(())));
    }

    #[test]
    fn an_empty_list_is_refused() {
        let mut table = Table::new();
        let err = table
            .register(Channel, Vec::new(), Arc::new(Buffer::new(1)))
            .unwrap_err();
        assert!(matches!(err, Error::Protocol(resp::Error::EmptyCommand)));
    }
}
