//! Credentials that change: `Credentials`, the `CredentialsProvider` that
//! every handshake asks, and `Reauth`, which renews them on a live
//! connection before they expire.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use resp::Command;
use tokio::time::{Instant, Sleep};

use crate::{ConnectionConfig, HandshakeInfo, Result};

/// A user name and password (or token) to authenticate with, and when they
/// stop being valid.
///
/// The password never shows: `Debug` prints `<redacted>` in its place, and
/// there is no `Display`.
///
/// ```
/// use std::time::Duration;
/// use redis_conn::Credentials;
///
/// let token = Credentials::new("app", "eyJ0eXAi...").with_lifetime(Duration::from_secs(900));
/// assert_eq!(token.username(), Some("app"));
/// assert!(token.expires_at().is_some());
/// assert!(!format!("{token:?}").contains("eyJ0eXAi"));
/// ```
#[derive(Clone)]
pub struct Credentials {
    username: Option<String>,
    password: String,
    expires_at: Option<Instant>,
}

impl Credentials {
    /// Credentials of the ACL user `username` that do not expire.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: Some(username.into()),
            password: password.into(),
            expires_at: None,
        }
    }

    /// A password without a user name, that does not expire: for the user
    /// name of the [`ConnectionConfig`], or the `default` user.
    pub fn from_password(password: impl Into<String>) -> Credentials {
        Credentials {
            username: None,
            password: password.into(),
            expires_at: None,
        }
    }

    /// Says when the credentials stop being valid: live connections
    /// authenticate again before then. The time is a `tokio::time::Instant`
    /// (a `std::time::Instant` converts with `Instant::from_std`).
    pub fn with_expiry(mut self, at: Instant) -> Credentials {
        self.expires_at = Some(at);
        self
    }

    /// Says the credentials stop being valid `lifetime` from now.
    pub fn with_lifetime(self, lifetime: Duration) -> Credentials {
        let now = Instant::now();
        match now.checked_add(lifetime) {
            Some(at) => self.with_expiry(at),
            // Past the end of time: they never expire.
            None => self,
        }
    }

    /// The user name, if one is given.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password or token.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// When the credentials stop being valid; `None` for never.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &format_args!("<redacted>"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The future a [`CredentialsProvider`] returns.
pub type CredentialsFuture<'a> = Pin<Box<dyn Future<Output = Result<Credentials>> + Send + 'a>>;

/// Where credentials come from when they change: short-lived tokens
/// (ElastiCache and MemoryDB with IAM, Azure Cache for Redis with Microsoft
/// Entra ID), or a password rotated on the server.
///
/// Set one with
/// [`ConnectionConfig::with_credentials_provider`]; it is asked at every
/// handshake (every connect and reconnect), so a connection that comes
/// back after a password change uses the new one. When the credentials it
/// gives carry an expiry ([`Credentials::with_expiry`]), the connections
/// that heal themselves (`redis-paired`, `redis-pubsub`) ask again before
/// then and send `AUTH` on the live connection, in order with the other
/// commands, without reconnecting.
///
/// A failure is an [`Error::Credentials`](crate::Error::Credentials)
/// (see [`Error::credentials`](crate::Error::credentials)). Any
/// `Fn() -> impl Future<Output = Result<Credentials>>` is a provider:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use redis_conn::{ConnectionConfig, Credentials};
///
/// # fn fetch_token() -> Result<String, std::io::Error> { Ok("token".into()) }
/// let provider = || async {
///     let token = fetch_token().map_err(redis_conn::Error::credentials)?;
///     Ok(Credentials::new("app", token).with_lifetime(Duration::from_secs(900)))
/// };
/// let config = "redis://cache.internal:6379"
///     .parse::<ConnectionConfig>()?
///     .with_credentials_provider(Arc::new(provider));
/// # Ok::<(), redis_conn::Error>(())
/// ```
pub trait CredentialsProvider: Send + Sync {
    /// The credentials to authenticate with now.
    fn credentials(&self) -> CredentialsFuture<'_>;
}

impl<F, Fut> CredentialsProvider for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Credentials>> + Send + 'static,
{
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(self())
    }
}

/// Renews the credentials of a live connection before they expire: for the
/// drivers of the connections that heal themselves, which own a socket.
///
/// Made from the connection's [`HandshakeInfo`], it waits until most of the
/// lifetime of the credentials the handshake used is over (four fifths),
/// asks the provider for new ones, and hands the driver an `AUTH` command
/// to send in order with the others ([`poll_auth`](Self::poll_auth)); the
/// driver tells it the answer ([`answered`](Self::answered)). A failure
/// (the provider's, the server's, a timeout) is logged and retried after a
/// pause that grows from 100 ms to 10 s; it fails no command.
pub struct Reauth {
    provider: Option<Arc<dyn CredentialsProvider>>,
    /// When to ask the provider next; `None` for never.
    due: Option<Instant>,
    fetching: Option<CredentialsFuture<'static>>,
    /// An `AUTH` was handed out and awaits its answer; it carries the expiry
    /// of its credentials, if any.
    sent: Option<Option<Instant>>,
    timer: Option<Pin<Box<Sleep>>>,
    timer_at: Option<Instant>,
    failures: u32,
}

impl Reauth {
    /// Renewal never comes before this, however short-lived the credentials:
    /// a provider that hands out expired ones is not asked in a busy loop.
    const MIN_WAIT: Duration = Duration::from_millis(100);
    /// The longest pause between failed attempts.
    const MAX_RETRY: Duration = Duration::from_secs(10);

    /// The renewal of the credentials a connection made with `config`
    /// authenticated with, as its `handshake` says: nothing to do without a
    /// provider or an expiry.
    pub fn new(config: &ConnectionConfig, handshake: &HandshakeInfo) -> Reauth {
        let provider = config.credentials_provider().cloned();
        let now = Instant::now();
        let due = provider.as_ref().and_then(|_| {
            let expires = handshake.credentials_expire_at()?;
            Some(renewal(now, expires))
        });
        Reauth {
            provider,
            due,
            fetching: None,
            sent: None,
            timer: None,
            timer_at: None,
            failures: 0,
        }
    }

    /// Whether there is anything to renew.
    pub fn is_active(&self) -> bool {
        self.due.is_some() || self.fetching.is_some() || self.sent.is_some()
    }

    /// Ready with an `AUTH` command (fresh credentials) when it is time to
    /// send one; the driver sends it in order with the other commands,
    /// consumes its reply itself and reports it with
    /// [`answered`](Self::answered). Pending otherwise, with the waker
    /// registered for when it is due.
    pub fn poll_auth(&mut self, cx: &mut Context<'_>) -> Poll<Command> {
        loop {
            if self.sent.is_some() {
                return Poll::Pending;
            }
            if let Some(fetching) = &mut self.fetching {
                let result = ready!(fetching.as_mut().poll(cx));
                self.fetching = None;
                match result {
                    Ok(credentials) => {
                        self.sent = Some(credentials.expires_at());
                        return Poll::Ready(auth_command(&credentials));
                    }
                    Err(error) => {
                        self.failed(&error);
                        continue;
                    }
                }
            }
            let (Some(due), Some(provider)) = (self.due, &self.provider) else {
                return Poll::Pending;
            };
            if due > Instant::now() {
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if self.timer_at != Some(due) {
                    timer.as_mut().reset(due);
                    self.timer_at = Some(due);
                }
                ready!(timer.as_mut().poll(cx));
            }
            self.timer_at = None;
            self.due = None;
            tracing::debug!("credentials due for renewal; asking the provider");
            let provider = provider.clone();
            self.fetching = Some(Box::pin(async move { provider.credentials().await }));
        }
    }

    /// The answer to the `AUTH` [`poll_auth`](Self::poll_auth) gave: `Ok`
    /// for `OK`, or why it failed (an error reply, a timeout, the connection
    /// lost). A failure is logged and retried.
    pub fn answered(&mut self, result: Result<()>) {
        let Some(expires) = self.sent.take() else {
            return;
        };
        match result {
            Ok(()) => {
                self.failures = 0;
                self.due = expires.map(|at| renewal(Instant::now(), at));
                tracing::debug!("re-authenticated the live connection");
            }
            Err(error) => self.failed(&error),
        }
    }

    fn failed(&mut self, error: &crate::Error) {
        let pause = Self::MIN_WAIT
            .saturating_mul(1 << self.failures.min(7))
            .min(Self::MAX_RETRY);
        self.failures = self.failures.saturating_add(1);
        tracing::warn!(%error, retry_in = ?pause, "re-authentication failed; the connection keeps its current credentials");
        self.due = Some(Instant::now() + pause);
    }
}

impl fmt::Debug for Reauth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reauth")
            .field("due", &self.due)
            .field("fetching", &self.fetching.is_some())
            .field("sent", &self.sent.is_some())
            .field("failures", &self.failures)
            .finish()
    }
}

/// When to renew credentials obtained at `now` that expire at `expires`:
/// once four fifths of their lifetime are over, and not before
/// [`Reauth::MIN_WAIT`].
fn renewal(now: Instant, expires: Instant) -> Instant {
    let lifetime = expires.saturating_duration_since(now);
    now + (lifetime.mul_f64(0.8)).max(Reauth::MIN_WAIT)
}

/// `AUTH [username] password`.
pub(crate) fn auth_command(credentials: &Credentials) -> Command {
    match credentials.username() {
        Some(user) => Command::new("AUTH").arg(user).arg(credentials.password()),
        None => Command::new("AUTH").arg(credentials.password()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_at_four_fifths_of_the_lifetime() {
        let now = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(renewal(now, now + s(900)), now + s(720));
        assert_eq!(renewal(now, now + s(1)), now + Duration::from_millis(800));
        // Expired, or nearly: not at once, and not in a loop.
        assert_eq!(renewal(now, now), now + Reauth::MIN_WAIT);
        assert_eq!(renewal(now + s(5), now), now + s(5) + Reauth::MIN_WAIT);
    }

    #[test]
    fn the_password_never_shows() {
        let c = Credentials::new("u", "hunter2").with_lifetime(Duration::from_secs(1));
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let auth = auth_command(&c);
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert_eq!(auth, resp::cmd!("AUTH", "u", "hunter2"));
        let no_user = Credentials::from_password("pw");
        assert_eq!(auth_command(&no_user), resp::cmd!("AUTH", "pw"));
        assert_eq!(no_user.expires_at(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn renews_before_expiry_and_retries_failures() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let provider = move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 1 {
                    return Err(crate::Error::credentials("token service down"));
                }
                Ok(Credentials::new("u", format!("t{n}")).with_lifetime(Duration::from_secs(10)))
            }
        };
        let config = ConnectionConfig::new(crate::Address::tcp("h", 1))
            .with_credentials_provider(Arc::new(provider));
        let mut info = HandshakeInfo::without_handshake(crate::Protocol::Resp3);
        info.credentials_expire_at = Some(Instant::now() + Duration::from_secs(10));
        let mut reauth = Reauth::new(&config, &info);
        assert!(reauth.is_active());
        let start = Instant::now();
        let auth = std::future::poll_fn(|cx| reauth.poll_auth(cx)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(8));
        assert_eq!(auth, resp::cmd!("AUTH", "u", "t0"));
        // Nothing more until the answer.
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(reauth.poll_auth(&mut cx).is_pending());
        reauth.answered(Ok(()));
        // The provider fails once: retried 100 ms later.
        let start = Instant::now();
        let auth = std::future::poll_fn(|cx| reauth.poll_auth(cx)).await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(8) + Reauth::MIN_WAIT,
            "renewal of the new credentials, then one retry"
        );
        assert_eq!(auth, resp::cmd!("AUTH", "u", "t2"));
        // The server refuses it: retried, without failing anything else.
        reauth.answered(Err(crate::Error::Auth(resp::ServerError::new(
            &b"WRONGPASS invalid username-password pair"[..],
        ))));
        let start = Instant::now();
        let auth = std::future::poll_fn(|cx| reauth.poll_auth(cx)).await;
        assert_eq!(start.elapsed(), Reauth::MIN_WAIT * 2);
        assert_eq!(auth, resp::cmd!("AUTH", "u", "t3"));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn nothing_to_renew_without_a_provider_or_an_expiry() {
        let mut info = HandshakeInfo::without_handshake(crate::Protocol::Resp3);
        info.credentials_expire_at = Some(Instant::now());
        let plain = ConnectionConfig::new(crate::Address::tcp("h", 1)).with_password("pw");
        assert!(!Reauth::new(&plain, &info).is_active());
        let provider = || async { Ok(Credentials::from_password("pw")) };
        let config = plain.with_credentials_provider(Arc::new(provider));
        let info = HandshakeInfo::without_handshake(crate::Protocol::Resp3);
        assert!(!Reauth::new(&config, &info).is_active());
    }
}
