//! `PubsubConnection`, the shared handle that subscribes, and
//! `IntoChannels`, what it accepts as one or many channels.

use std::sync::Arc;

use bytes::Bytes;
use redis_conn::{ConnectionConfig, Error};

use crate::buffer::Buffer;
use crate::shared::Shared;
use crate::subscription::{Subscribing, Subscription};
use crate::table::dedup;
use crate::{driver, Kind, PubsubOptions};

/// One subscription connection shared by every task that holds a clone.
///
/// Cloning is cheap; every clone subscribes on the same socket, which a
/// background task owns. [`subscribe`](PubsubConnection::subscribe),
/// [`psubscribe`](PubsubConnection::psubscribe) and
/// [`ssubscribe`](PubsubConnection::ssubscribe) resolve, once the server has
/// confirmed every channel, into a [`Subscription`]: a stream of events.
/// Any number of subscriptions may share a channel; each gets every message,
/// and the channel is subscribed on the server once.
///
/// When the connection breaks, every stream yields
/// [`Event::Disconnected`](crate::Event::Disconnected); the task reconnects
/// at once and then, while the server stays away, as the config's
/// [`ReconnectPolicy`](redis_conn::ReconnectPolicy) says, subscribes to
/// every channel still wanted, and each stream yields
/// [`Event::Resubscribed`](crate::Event::Resubscribed) once all of its
/// channels are back. Messages published in between are missed.
///
/// While the connection is down, subscribing fails at once with
/// [`Error::Connection`] (which says why), as does a subscribe call still
/// waiting for its confirmation when the connection breaks; retrying is the
/// caller's decision. After reconnecting is given up (the policy is
/// disabled), it fails with [`Error::Closed`].
///
/// The connection closes when the last clone and the last subscription are
/// dropped.
///
/// ```no_run
/// # async fn demo() -> Result<(), redis_conn::Error> {
/// use futures_util::StreamExt;
/// use redis_conn::ConnectionConfig;
/// use redis_pubsub::{Event, PubsubConnection};
///
/// let config: ConnectionConfig = "redis://127.0.0.1/".parse()?;
/// let conn = PubsubConnection::connect(&config).await?;
/// let mut news = conn.subscribe(["news", "alerts"]).await?;
/// while let Some(event) = news.next().await {
///     match event {
///         Event::Message(m) => println!("{:?}: {} bytes", m.channel(), m.payload().len()),
///         Event::Lagged(n) => println!("too slow: {n} messages dropped"),
///         Event::Disconnected(e) => println!("connection lost: {e}"),
///         Event::Resubscribed => println!("back"),
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PubsubConnection {
    handle: Arc<Handle>,
    /// Buffer capacity of the subscriptions made through this handle.
    capacity: usize,
}

/// The last clone's drop tells the driver it may close (once the
/// subscriptions are gone too).
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.release();
    }
}

impl PubsubConnection {
    /// Connects with default [`PubsubOptions`]. The first connection must
    /// succeed; later ones are made in the background.
    pub async fn connect(config: &ConnectionConfig) -> Result<PubsubConnection, Error> {
        PubsubConnection::connect_with(config, PubsubOptions::default()).await
    }

    /// Connects with the given options. The first connection must succeed;
    /// later ones are made in the background.
    pub async fn connect_with(
        config: &ConnectionConfig,
        options: PubsubOptions,
    ) -> Result<PubsubConnection, Error> {
        let conn = redis_conn::connect(config).await?;
        let shared = Arc::new(Shared::new(config, options));
        #[cfg(feature = "otel")]
        crate::otel::counters().register(
            shared.attributes.clone(),
            Arc::downgrade(&shared) as std::sync::Weak<dyn redis_conn::otel::Counted>,
        );
        driver::spawn(shared.clone(), config.clone(), conn);
        tracing::info!(address = %config.address(), "pub/sub connection open");
        Ok(PubsubConnection {
            handle: Arc::new(Handle { shared }),
            capacity: options.buffer_capacity(),
        })
    }

    /// Subscribes to one or more channels (`SUBSCRIBE`): `"news"`,
    /// `["a", "b"]`, a `Vec<String>`, binary names as `&[u8]` or `Bytes`.
    ///
    /// Resolves once the server has confirmed every channel (channels this
    /// connection is subscribed to already count at once). An error reply
    /// (such as `NOPERM`) fails the call.
    pub fn subscribe(&self, channels: impl IntoChannels) -> Subscribing {
        self.start(Kind::Channel, channels.into_channels())
    }

    /// Subscribes to one or more glob-style patterns (`PSUBSCRIBE`), as
    /// [`subscribe`](Self::subscribe) does channels. Messages carry the
    /// channel they were published to and the pattern that matched.
    pub fn psubscribe(&self, patterns: impl IntoChannels) -> Subscribing {
        self.start(Kind::Pattern, patterns.into_channels())
    }

    /// Subscribes to one or more shard channels (`SSUBSCRIBE`, messages
    /// sent with `SPUBLISH`), as [`subscribe`](Self::subscribe) does
    /// channels. Each channel is subscribed with a command of its own, as a
    /// cluster requires.
    pub fn ssubscribe(&self, channels: impl IntoChannels) -> Subscribing {
        self.start(Kind::Shard, channels.into_channels())
    }

    /// A handle to the same connection whose subscriptions buffer up to
    /// `capacity` messages each (at least 1) instead of the
    /// [`PubsubOptions`] default.
    pub fn with_buffer_capacity(&self, capacity: usize) -> PubsubConnection {
        PubsubConnection {
            handle: self.handle.clone(),
            capacity: capacity.max(1),
        }
    }

    /// Closes the connection, for every clone: every subscription stream
    /// ends (after the messages already buffered in it), subscribing fails
    /// with [`Error::Closed`] from now on, and the socket is closed, which
    /// ends the subscriptions on the server. Returns once the background
    /// task has ended; calling it again, from any clone, returns then too.
    ///
    /// ```no_run
    /// # async fn demo(pubsub: redis_pubsub::PubsubConnection) -> Result<(), redis_conn::Error> {
    /// use futures_util::StreamExt;
    ///
    /// let mut news = pubsub.subscribe("news").await?;
    /// pubsub.close().await;
    /// while let Some(_event) = news.next().await {} // ends
    /// assert!(pubsub.subscribe("more").await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close(&self) {
        let shared = self.shared();
        shared.shut();
        shared.ended().await;
    }

    /// Whether subscribing works now; if not, why.
    pub fn status(&self) -> Result<(), Error> {
        self.shared().status()
    }

    /// Counters: messages received, messages dropped for slow readers,
    /// reconnects.
    pub fn stats(&self) -> crate::PubsubStats {
        self.shared().stats()
    }

    /// The options in force.
    pub fn options(&self) -> &PubsubOptions {
        &self.shared().options
    }

    fn start(&self, kind: Kind, channels: Vec<Bytes>) -> Subscribing {
        let shared = self.shared();
        let buffer = Arc::new(Buffer::counted(self.capacity, shared.lagged.clone()));
        let channels = dedup(channels);
        let state =
            shared
                .register(kind, channels.clone(), buffer.clone())
                .map(|(id, registered)| {
                    let subscription =
                        Subscription::new(self.handle.shared.clone(), id, kind, channels, buffer);
                    (subscription, registered)
                });
        Subscribing::new(state)
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }
}

/// One channel name (or pattern): text or bytes, binary-safe.
pub trait IntoChannel {
    /// The name as bytes.
    fn into_channel(self) -> Bytes;
}

/// One channel or a list of them, as the subscribe methods take: a single
/// name (`"news"`, a `String`, `Bytes`, `&[u8]`, `Vec<u8>`, `b"raw"`) or an
/// array, `Vec` or slice of names.
///
/// A `Vec<u8>` or `&[u8]` is one binary name, not a list.
pub trait IntoChannels {
    /// The names, in order.
    fn into_channels(self) -> Vec<Bytes>;
}

impl IntoChannel for &str {
    fn into_channel(self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl IntoChannel for String {
    fn into_channel(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoChannel for Bytes {
    fn into_channel(self) -> Bytes {
        self
    }
}

impl IntoChannel for &[u8] {
    fn into_channel(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl IntoChannel for Vec<u8> {
    fn into_channel(self) -> Bytes {
        Bytes::from(self)
    }
}

impl<const N: usize> IntoChannel for [u8; N] {
    fn into_channel(self) -> Bytes {
        Bytes::copy_from_slice(&self)
    }
}

impl<T: IntoChannel + Clone> IntoChannel for &T {
    fn into_channel(self) -> Bytes {
        self.clone().into_channel()
    }
}

macro_rules! one_channel {
    ($($t:ty),*) => {$(
        impl IntoChannels for $t {
            fn into_channels(self) -> Vec<Bytes> {
                vec![self.into_channel()]
            }
        }
    )*};
}
one_channel!(&str, String, Bytes, &[u8], Vec<u8>);

impl<const N: usize> IntoChannels for [u8; N] {
    fn into_channels(self) -> Vec<Bytes> {
        vec![self.into_channel()]
    }
}

impl<T: IntoChannel + Clone> IntoChannels for &T {
    fn into_channels(self) -> Vec<Bytes> {
        vec![self.into_channel()]
    }
}

impl<T: IntoChannel> IntoChannels for Vec<T> {
    fn into_channels(self) -> Vec<Bytes> {
        self.into_iter().map(IntoChannel::into_channel).collect()
    }
}

impl<T: IntoChannel, const N: usize> IntoChannels for [T; N] {
    fn into_channels(self) -> Vec<Bytes> {
        self.into_iter().map(IntoChannel::into_channel).collect()
    }
}

impl<T: IntoChannel + Clone> IntoChannels for &[T] {
    fn into_channels(self) -> Vec<Bytes> {
        self.iter()
            .cloned()
            .map(IntoChannel::into_channel)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(channels: impl IntoChannels) -> Vec<Bytes> {
        channels.into_channels()
    }

    #[test]
    fn handles_and_streams_go_anywhere() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<PubsubConnection>();
        send_sync::<Subscription>();
        send_sync::<Subscribing>();
        send_sync::<crate::Messages>();
        send_sync::<crate::Event>();
    }

    #[test]
    fn one_or_many_names() {
        let one = vec![Bytes::from_static(b"a")];
        let two = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        assert_eq!(names("a"), one);
        assert_eq!(names(String::from("a")), one);
        let owned = String::from("a");
        assert_eq!(names(&owned), one);
        assert_eq!(names(Bytes::from_static(b"a")), one);
        assert_eq!(names(&b"a"[..]), one);
        assert_eq!(names(b"a"), one);
        assert_eq!(names(vec![b'a']), one, "a Vec<u8> is one binary name");
        assert_eq!(names(["a", "b"]), two);
        assert_eq!(names(vec!["a", "b"]), two);
        assert_eq!(names(vec![String::from("a"), String::from("b")]), two);
        assert_eq!(names(&["a", "b"][..]), two);
        let list = [String::from("a"), String::from("b")];
        assert_eq!(names(&list[..]), two);
        assert_eq!(names([&b"\xff"[..]]), vec![Bytes::from_static(b"\xff")]);
    }
}
