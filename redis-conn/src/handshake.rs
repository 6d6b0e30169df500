//! The handshake as a state machine fed replies: `HELLO 3 [AUTH] [SETNAME]`,
//! `CLIENT SETINFO` and `SELECT` in one round trip, falling back to RESP2
//! (`AUTH`, `SELECT`, `CLIENT SETNAME`) for servers that do not know
//! `HELLO`; and `HandshakeInfo`, what it learned.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use resp::{Command, ServerError, Value};
use tokio::time::Instant;

use crate::{ConnectionConfig, Credentials, Error, Protocol, Result};

/// The library name `CLIENT SETINFO LIB-NAME` reports: the crate users
/// depend on, whichever layer opened the connection.
const LIB_NAME: &str = "redis-facade";

/// The library version `CLIENT SETINFO LIB-VER` reports; the workspace
/// shares one version.
const LIB_VER: &str = env!("CARGO_PKG_VERSION");

/// What the handshake negotiated and learned about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeInfo {
    protocol: Protocol,
    server_version: Option<String>,
    connection_id: Option<i64>,
    round_trips: u32,
    pub(crate) credentials_expire_at: Option<Instant>,
}

impl HandshakeInfo {
    /// The information of a connection that made no handshake and speaks
    /// `protocol`.
    pub fn without_handshake(protocol: Protocol) -> HandshakeInfo {
        HandshakeInfo {
            protocol,
            server_version: None,
            connection_id: None,
            round_trips: 0,
            credentials_expire_at: None,
        }
    }

    /// The protocol the connection speaks: RESP3 when the server accepted
    /// `HELLO 3`, RESP2 otherwise.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The server version from the `HELLO` reply (`"7.0.15"`); `None` when
    /// no `HELLO` was answered.
    pub fn server_version(&self) -> Option<&str> {
        self.server_version.as_deref()
    }

    /// The connection id the server gave this client (`CLIENT ID`), from the
    /// `HELLO` reply.
    pub fn connection_id(&self) -> Option<i64> {
        self.connection_id
    }

    /// How many times the handshake wrote and then waited for replies: 1 when
    /// the server takes `HELLO` (or a RESP2 handshake has anything to send),
    /// 2 when `HELLO` was refused and RESP2 commands followed, 0 when nothing
    /// was sent.
    pub fn round_trips(&self) -> u32 {
        self.round_trips
    }

    /// When the credentials the handshake authenticated with expire, when
    /// a [`CredentialsProvider`](crate::CredentialsProvider) gave ones that
    /// do.
    pub fn credentials_expire_at(&self) -> Option<Instant> {
        self.credentials_expire_at
    }
}

/// The handshake in progress: which replies it waits for, in order.
///
/// The connection writes each batch [`Step::Send`] gives in one write, then
/// feeds every reply to [`Handshake::receive`] until [`Step::Done`]. Exactly
/// one reply is read per command sent, so no reply of the handshake is ever
/// left for the caller.
///
/// `CLIENT SETINFO LIB-NAME` and `LIB-VER` ride along in the first batch
/// when [`ConnectionConfig::client_info`] is on and the batch is not empty
/// without them. They go out before the server's version is known, so an
/// error reply to them (Redis before 7.2: `ERR unknown subcommand
/// 'SETINFO'`; `NOAUTH` when `HELLO` was refused) is ignored, and they are
/// not sent again after a refused `HELLO`: a server without `HELLO` has no
/// `SETINFO` either.
#[derive(Debug)]
pub(crate) struct Handshake<'a> {
    config: &'a ConnectionConfig,
    /// The user name, when one is given, and the password to send.
    username: Option<&'a str>,
    password: Option<&'a str>,
    /// One entry per command sent and not answered yet, oldest first.
    expect: VecDeque<Expect>,
    info: HandshakeInfo,
    /// `HELLO` was refused as unknown: speak RESP2 once the first batch is
    /// answered.
    fallback: Fallback,
    /// `SELECT` succeeded already.
    selected: bool,
    /// `READONLY` was sent: once everything else is answered, so that a
    /// fallback to RESP2 never has it in the way.
    read_only_sent: bool,
}

/// What the connection should do next.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Write these bytes (several commands) in one write, then read replies.
    Send(Bytes),
    /// Read the next reply.
    Wait,
    /// The handshake is over.
    Done(HandshakeInfo),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Hello,
    Auth,
    Select,
    SetName,
    SetInfo,
    ReadOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    No,
    /// `HELLO` was refused; the rest of the first batch is still being read.
    Pending,
    /// The RESP2 commands were sent.
    Sent,
}

impl<'a> Handshake<'a> {
    /// The handshake `config` asks for, authenticating with `credentials`
    /// (from the config's provider) when given, else with the config's
    /// user name and password.
    pub(crate) fn new(
        config: &'a ConnectionConfig,
        credentials: Option<&'a Credentials>,
    ) -> Handshake<'a> {
        let (username, password) = match credentials {
            Some(c) => (c.username().or(config.username()), Some(c.password())),
            None => (config.username(), config.password()),
        };
        Handshake {
            config,
            username,
            password,
            expect: VecDeque::new(),
            info: HandshakeInfo::without_handshake(config.protocol()),
            fallback: Fallback::No,
            selected: false,
            read_only_sent: false,
        }
    }

    /// The first batch: `HELLO 3 ...` and `SELECT`, or the RESP2 commands.
    pub(crate) fn start(&mut self) -> Step {
        let mut batch = BytesMut::new();
        match self.config.protocol() {
            Protocol::Resp3 => {
                // "HELLO [protover [AUTH username password] [SETNAME clientname]]".
                // The user name is required with AUTH, and "can be set to
                // "default" to authenticate against a server that does not use
                // ACLs, but rather the simpler requirepass mechanism" (HELLO).
                let mut hello = Command::new("HELLO").arg(3);
                if let Some(password) = self.password {
                    let user = self.username.unwrap_or("default");
                    hello = hello.arg("AUTH").arg(user).arg(password);
                }
                if let Some(name) = self.config.client_name() {
                    hello = hello.arg("SETNAME").arg(name);
                }
                self.push(&mut batch, &hello, Expect::Hello);
                self.push_set_info(&mut batch);
                self.push_select(&mut batch);
            }
            Protocol::Resp2 => self.push_resp2(&mut batch),
        }
        self.send(batch)
    }

    /// Takes the reply to the oldest command sent.
    pub(crate) fn receive(&mut self, reply: Value) -> Result<Step> {
        let reply = match reply {
            // Out-of-band data is not the reply to any command.
            Value::Push(_) => return Ok(Step::Wait),
            Value::Attribute { value, .. } => *value,
            other => other,
        };
        let expect = self
            .expect
            .pop_front()
            .ok_or(Error::Protocol(resp::Error::InvalidFrame("unrequested")))?;
        let error = match &reply {
            // HELLO and AUTH carry the password, and some servers echo the
            // arguments of a command they refuse.
            Value::Error(text) | Value::BlobError(text) => Some(redact(text)),
            _ => None,
        };
        match (expect, error) {
            (Expect::Hello, None) => self.hello(reply)?,
            (Expect::Hello, Some(e)) if self.hello_not_understood(&e) => {
                tracing::debug!(
                    code = e.code(),
                    "server refused HELLO; falling back to RESP2"
                );
                self.fallback = Fallback::Pending;
                self.info.protocol = Protocol::Resp2;
            }
            (Expect::Hello, Some(e)) if is_auth_error(&e) => return Err(Error::Auth(e)),
            // "Client libraries are expected to pipeline this command after
            // authentication on all connections and ignore failures since
            // they could be connected to an older version that doesn't
            // support them" (CLIENT SETINFO).
            (Expect::SetInfo, Some(e)) => {
                tracing::debug!(code = e.code(), "server refused CLIENT SETINFO; ignored");
            }
            (Expect::Select, None) => self.selected = true,
            // The SELECT sent after a refused HELLO may have been refused for
            // want of AUTH; it is sent again after AUTH.
            (Expect::Select, Some(_)) if self.fallback == Fallback::Pending => {}
            (Expect::Auth, Some(e)) => return Err(Error::Auth(e)),
            (_, Some(e)) if is_auth_error(&e) => return Err(Error::Auth(e)),
            (_, Some(e)) => return Err(Error::Server(e)),
            (Expect::Auth | Expect::SetName | Expect::SetInfo | Expect::ReadOnly, None) => {}
        }
        if !self.expect.is_empty() {
            return Ok(Step::Wait);
        }
        if self.fallback == Fallback::Pending {
            self.fallback = Fallback::Sent;
            let mut batch = BytesMut::new();
            self.push_resp2(&mut batch);
            return Ok(self.send(batch));
        }
        if self.config.read_only() && !self.read_only_sent {
            self.read_only_sent = true;
            let mut batch = BytesMut::new();
            self.push(&mut batch, &Command::new("READONLY"), Expect::ReadOnly);
            return Ok(self.send(batch));
        }
        Ok(Step::Done(self.info.clone()))
    }

    /// Whether an error reply to `HELLO` means the server does not speak it:
    /// Redis before 6 does not know the command, `NOPROTO` refuses the
    /// version, and a server that answers `NOAUTH` to a `HELLO` that carried
    /// credentials cannot have read them (Redis 6 and later authenticate
    /// with them first).
    fn hello_not_understood(&self, e: &ServerError) -> bool {
        let message = e.message().to_ascii_lowercase();
        e.code() == "NOPROTO"
            || message.contains("unknown command")
            || message.contains("unsupported command")
            || (e.code() == "NOAUTH" && self.password.is_some())
    }

    /// Reads the `HELLO` reply: a map of server properties.
    fn hello(&mut self, reply: Value) -> Result<()> {
        let pairs = match reply {
            Value::Map(pairs) => pairs,
            // A RESP2 reply to HELLO is a flat array of keys and values.
            Value::Array(items) => {
                let mut items = items.into_iter();
                std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect()
            }
            other => {
                return Err(Error::Conversion {
                    target: "HELLO reply",
                    found: other.kind(),
                    value: resp::Preview::none(),
                })
            }
        };
        for (key, value) in pairs {
            match (key.as_bytes(), value) {
                (Some(b"version"), value) => {
                    self.info.server_version = value
                        .as_bytes()
                        .map(|v| String::from_utf8_lossy(v).into_owned());
                }
                (Some(b"proto"), Value::Integer(2)) => self.info.protocol = Protocol::Resp2,
                (Some(b"proto"), Value::Integer(3)) => self.info.protocol = Protocol::Resp3,
                (Some(b"id"), Value::Integer(id)) => self.info.connection_id = Some(id),
                _ => {}
            }
        }
        Ok(())
    }

    /// `AUTH`, `SELECT` and `CLIENT SETNAME`, each only when needed, and
    /// `CLIENT SETINFO` with them in a RESP2 handshake (never after a
    /// refused `HELLO`, nor alone: it is not worth a round trip).
    fn push_resp2(&mut self, batch: &mut BytesMut) {
        if let Some(password) = self.password {
            // "AUTH [username] password"
            let auth = match self.username {
                Some(user) => Command::new("AUTH").arg(user).arg(password),
                None => Command::new("AUTH").arg(password),
            };
            self.push(batch, &auth, Expect::Auth);
        }
        self.push_select(batch);
        if let Some(name) = self.config.client_name() {
            let setname = Command::new("CLIENT").arg("SETNAME").arg(name);
            self.push(batch, &setname, Expect::SetName);
        }
        if !batch.is_empty() && self.fallback == Fallback::No {
            self.push_set_info(batch);
        }
    }

    /// `CLIENT SETINFO LIB-NAME` and `LIB-VER`, unless turned off.
    fn push_set_info(&mut self, batch: &mut BytesMut) {
        if !self.config.client_info() {
            return;
        }
        let name = match self.config.lib_name_suffix() {
            Some(suffix) => format!("{LIB_NAME}({suffix})"),
            None => LIB_NAME.to_owned(),
        };
        let lib_name = Command::new("CLIENT")
            .arg("SETINFO")
            .arg("LIB-NAME")
            .arg(name);
        self.push(batch, &lib_name, Expect::SetInfo);
        let lib_ver = Command::new("CLIENT")
            .arg("SETINFO")
            .arg("LIB-VER")
            .arg(LIB_VER);
        self.push(batch, &lib_ver, Expect::SetInfo);
    }

    fn push_select(&mut self, batch: &mut BytesMut) {
        if self.config.db() != 0 && !self.selected {
            let select = Command::new("SELECT").arg(self.config.db());
            self.push(batch, &select, Expect::Select);
        }
    }

    fn push(&mut self, batch: &mut BytesMut, cmd: &Command, expect: Expect) {
        cmd.encode(batch);
        self.expect.push_back(expect);
    }

    fn send(&mut self, mut batch: BytesMut) -> Step {
        if batch.is_empty() && self.config.read_only() && !self.read_only_sent {
            // Nothing else to say: READONLY goes alone.
            self.read_only_sent = true;
            self.push(&mut batch, &Command::new("READONLY"), Expect::ReadOnly);
        }
        if batch.is_empty() {
            return Step::Done(self.info.clone());
        }
        self.info.round_trips += 1;
        Step::Send(batch.freeze())
    }
}

/// Whether an error reply means the credentials were rejected or missing.
/// An error reply to a handshake command, without the arguments a server may
/// have echoed: Redis before 6 answers an unknown HELLO with ``ERR unknown
/// command `HELLO`, with args beginning with: `3`, `AUTH`, `user`,
/// `password`, ``.
fn redact(text: &bytes::Bytes) -> ServerError {
    const ECHO: &[u8] = b", with args beginning with";
    let end = text
        .windows(ECHO.len())
        .position(|w| w == ECHO)
        .unwrap_or(text.len());
    ServerError::new(text.slice(..end))
}

fn is_auth_error(e: &ServerError) -> bool {
    if matches!(e.code(), "WRONGPASS" | "NOAUTH") {
        return true;
    }
    let message = e.message().to_ascii_lowercase();
    // Redis before 6 says "ERR invalid password"; 6 and later say "WRONGPASS
    // invalid username-password pair"; AUTH to a server without a password
    // says "ERR AUTH <password> called without any password configured".
    message.contains("invalid password")
        || message.contains("invalid username-password pair")
        || message.contains("without any password configured")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Address;

    /// A config without `CLIENT SETINFO`, for the tests about the other
    /// commands; [`with_info`] has it, as the default does.
    fn base() -> ConnectionConfig {
        with_info().with_client_info(false)
    }

    fn with_info() -> ConnectionConfig {
        ConnectionConfig::new(Address::tcp("h", 1))
    }

    /// The two `CLIENT SETINFO` commands, with `name` as the library name.
    fn set_info(name: &str) -> [Command; 2] {
        [
            resp::cmd!("CLIENT", "SETINFO", "LIB-NAME", name),
            resp::cmd!("CLIENT", "SETINFO", "LIB-VER", env!("CARGO_PKG_VERSION")),
        ]
    }

    /// What Redis 7.0 answers to `CLIENT SETINFO`.
    const UNKNOWN_SETINFO: &str = "ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.";

    fn ok() -> Value {
        Value::SimpleString(Bytes::from_static(b"OK"))
    }

    fn err(text: &'static str) -> Value {
        Value::Error(Bytes::from_static(text.as_bytes()))
    }

    fn hello_reply(proto: i64) -> Value {
        Value::Map(vec![
            (Value::bulk("server"), Value::bulk("redis")),
            (Value::bulk("version"), Value::bulk("7.0.15")),
            (Value::bulk("proto"), Value::Integer(proto)),
            (Value::bulk("id"), Value::Integer(42)),
            (Value::bulk("mode"), Value::bulk("standalone")),
        ])
    }

    fn sent(step: Step) -> Bytes {
        match step {
            Step::Send(bytes) => bytes,
            other => panic!("expected Send, got {other:?}"),
        }
    }

    fn done(step: Step) -> HandshakeInfo {
        match step {
            Step::Done(info) => info,
            other => panic!("expected Done, got {other:?}"),
        }
    }

    fn wire(cmds: &[Command]) -> Bytes {
        let mut out = BytesMut::new();
        for cmd in cmds {
            cmd.encode(&mut out);
        }
        out.freeze()
    }

    #[test]
    fn setinfo_goes_in_the_batch_of_hello() {
        let config = with_info().with_client_name("app").with_db(3);
        let mut hs = Handshake::new(&config, None);
        let [name, version] = set_info("redis-facade");
        assert_eq!(
            sent(hs.start()),
            wire(&[
                resp::cmd!("HELLO", 3, "SETNAME", "app"),
                name,
                version,
                resp::cmd!("SELECT", 3),
            ])
        );
        assert_eq!(hs.receive(hello_reply(3)).unwrap(), Step::Wait);
        assert_eq!(hs.receive(ok()).unwrap(), Step::Wait);
        assert_eq!(hs.receive(ok()).unwrap(), Step::Wait);
        let info = done(hs.receive(ok()).unwrap());
        assert_eq!(info.round_trips(), 1);
        assert_eq!(info.protocol(), Protocol::Resp3);
    }

    #[test]
    fn setinfo_refusals_are_ignored_and_only_they() {
        // Redis 7.0 does not know it; an ACL user may not be allowed it.
        for refusal in [
            UNKNOWN_SETINFO,
            "NOPERM User alice has no permissions to run the 'client|setinfo' command",
            "WRONGPASS invalid username-password pair or user is disabled.",
        ] {
            let config = with_info().with_db(3);
            let mut hs = Handshake::new(&config, None);
            sent(hs.start());
            assert_eq!(hs.receive(hello_reply(3)).unwrap(), Step::Wait);
            assert_eq!(hs.receive(err(refusal)).unwrap(), Step::Wait);
            assert_eq!(hs.receive(err(refusal)).unwrap(), Step::Wait);
            let info = done(hs.receive(ok()).unwrap());
            assert_eq!(info.round_trips(), 1, "{refusal}");
            assert_eq!(info.protocol(), Protocol::Resp3);
        }
        // The SELECT beside them still fails the handshake.
        let config = with_info().with_db(99);
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        hs.receive(hello_reply(3)).unwrap();
        hs.receive(err(UNKNOWN_SETINFO)).unwrap();
        hs.receive(err(UNKNOWN_SETINFO)).unwrap();
        let e = hs.receive(err("ERR DB index is out of range")).unwrap_err();
        assert!(matches!(e, Error::Server(_)), "{e:?}");
        // So does a refused HELLO, before its replies are read.
        let config = with_info().with_password("bad");
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        let e = hs
            .receive(err("WRONGPASS invalid username-password pair"))
            .unwrap_err();
        assert!(e.is_auth(), "{e:?}");
    }

    #[test]
    fn resp2_sends_setinfo_only_beside_something_else() {
        // Nothing to say: no handshake at all, no SETINFO alone.
        let config = with_info().with_protocol(Protocol::Resp2);
        let mut hs = Handshake::new(&config, None);
        assert_eq!(done(hs.start()).round_trips(), 0);
        // Nor beside a READONLY that goes alone.
        let config = config.with_read_only(true);
        let mut hs = Handshake::new(&config, None);
        assert_eq!(sent(hs.start()), wire(&[resp::cmd!("READONLY")]));

        let [name, version] = set_info("redis-facade");
        for (config, first) in [
            (
                with_info()
                    .with_protocol(Protocol::Resp2)
                    .with_client_name("n"),
                resp::cmd!("CLIENT", "SETNAME", "n"),
            ),
            (
                with_info()
                    .with_protocol(Protocol::Resp2)
                    .with_password("p"),
                resp::cmd!("AUTH", "p"),
            ),
            (
                with_info().with_protocol(Protocol::Resp2).with_db(1),
                resp::cmd!("SELECT", 1),
            ),
        ] {
            let mut hs = Handshake::new(&config, None);
            assert_eq!(
                sent(hs.start()),
                wire(&[first, name.clone(), version.clone()])
            );
            assert_eq!(hs.receive(ok()).unwrap(), Step::Wait);
            assert_eq!(hs.receive(err(UNKNOWN_SETINFO)).unwrap(), Step::Wait);
            let info = done(hs.receive(err(UNKNOWN_SETINFO)).unwrap());
            assert_eq!(info.round_trips(), 1);
            assert_eq!(info.protocol(), Protocol::Resp2);
        }
    }

    #[test]
    fn setinfo_is_not_sent_again_after_a_refused_hello() {
        let config = with_info()
            .with_password("pw")
            .with_client_name("app")
            .with_db(2);
        let mut hs = Handshake::new(&config, None);
        let [name, version] = set_info("redis-facade");
        assert_eq!(
            sent(hs.start()),
            wire(&[
                resp::cmd!("HELLO", 3, "AUTH", "default", "pw", "SETNAME", "app"),
                name,
                version,
                resp::cmd!("SELECT", 2),
            ])
        );
        hs.receive(err("ERR unknown command 'HELLO'")).unwrap();
        // Everything after the refused HELLO wants AUTH first.
        let noauth = "NOAUTH Authentication required.";
        assert_eq!(hs.receive(err(noauth)).unwrap(), Step::Wait);
        assert_eq!(hs.receive(err(noauth)).unwrap(), Step::Wait);
        let second = sent(hs.receive(err(noauth)).unwrap());
        assert_eq!(
            second,
            wire(&[
                resp::cmd!("AUTH", "pw"),
                resp::cmd!("SELECT", 2),
                resp::cmd!("CLIENT", "SETNAME", "app"),
            ])
        );
        hs.receive(ok()).unwrap();
        hs.receive(ok()).unwrap();
        let info = done(hs.receive(ok()).unwrap());
        assert_eq!(info.round_trips(), 2);
        assert_eq!(info.protocol(), Protocol::Resp2);

        // With nothing left to send after the fallback, one round trip.
        let config = with_info();
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        hs.receive(err("ERR unknown command 'HELLO'")).unwrap();
        let old = "ERR Unknown subcommand or wrong number of arguments for 'SETINFO'.";
        assert_eq!(hs.receive(err(old)).unwrap(), Step::Wait);
        let info = done(hs.receive(err(old)).unwrap());
        assert_eq!(info.round_trips(), 1);
        assert_eq!(info.protocol(), Protocol::Resp2);
    }

    #[test]
    fn a_suffix_goes_in_parentheses_and_off_is_off() {
        let config = with_info().with_lib_name_suffix("myorm_v1.2;other_v3");
        let mut hs = Handshake::new(&config, None);
        let [name, version] = set_info("redis-facade(myorm_v1.2;other_v3)");
        assert_eq!(
            sent(hs.start()),
            wire(&[resp::cmd!("HELLO", 3), name, version])
        );

        // Off: neither with HELLO nor with the RESP2 commands.
        let config = with_info()
            .with_lib_name_suffix("ignored")
            .with_client_info(false);
        let mut hs = Handshake::new(&config, None);
        assert_eq!(sent(hs.start()), wire(&[resp::cmd!("HELLO", 3)]));
        assert_eq!(done(hs.receive(hello_reply(3)).unwrap()).round_trips(), 1);
        let config = config.with_protocol(Protocol::Resp2).with_client_name("n");
        let mut hs = Handshake::new(&config, None);
        assert_eq!(
            sent(hs.start()),
            wire(&[resp::cmd!("CLIENT", "SETNAME", "n")])
        );
    }

    #[test]
    fn read_only_comes_last_in_a_round_trip_of_its_own() {
        let config = base().with_read_only(true);
        let mut hs = Handshake::new(&config, None);
        assert_eq!(sent(hs.start()), wire(&[resp::cmd!("HELLO", 3)]));
        let readonly = sent(hs.receive(hello_reply(3)).unwrap());
        assert_eq!(readonly, wire(&[resp::cmd!("READONLY")]));
        let info = done(hs.receive(ok()).unwrap());
        assert_eq!(info.round_trips(), 2);

        // RESP2 with nothing else to say: READONLY alone.
        let config = base().with_protocol(Protocol::Resp2).with_read_only(true);
        let mut hs = Handshake::new(&config, None);
        assert_eq!(sent(hs.start()), wire(&[resp::cmd!("READONLY")]));
        done(hs.receive(ok()).unwrap());

        // A server that refuses it (not a cluster node) says so.
        let config = base().with_read_only(true);
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        sent(hs.receive(hello_reply(3)).unwrap());
        let e = hs
            .receive(err("ERR This instance has cluster support disabled"))
            .unwrap_err();
        assert_eq!(e.server_code(), Some("ERR"));
    }

    #[test]
    fn credentials_from_a_provider_replace_the_configs() {
        let config = base().with_username("cfg").with_password("old");
        let token = Credentials::new("app", "token");
        let mut hs = Handshake::new(&config, Some(&token));
        assert_eq!(
            sent(hs.start()),
            wire(&[resp::cmd!("HELLO", 3, "AUTH", "app", "token")])
        );
        // Without a user name, the config's; on RESP2, AUTH.
        let config = config.with_protocol(Protocol::Resp2);
        let password = Credentials::from_password("token");
        let mut hs = Handshake::new(&config, Some(&password));
        assert_eq!(
            sent(hs.start()),
            wire(&[resp::cmd!("AUTH", "cfg", "token")])
        );
        // A provider's password answers NOAUTH with a fallback, as the
        // config's does.
        let config = base();
        let mut hs = Handshake::new(&config, Some(&password));
        sent(hs.start());
        let fallback = sent(
            hs.receive(err(
                "NOAUTH HELLO must be called with the client already authenticated",
            ))
            .unwrap(),
        );
        assert_eq!(fallback, wire(&[resp::cmd!("AUTH", "token")]));
    }

    #[test]
    fn resp3_without_options_is_a_bare_hello() {
        let config = base();
        let mut hs = Handshake::new(&config, None);
        assert_eq!(&sent(hs.start())[..], b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
        let info = done(hs.receive(hello_reply(3)).unwrap());
        assert_eq!(info.protocol(), Protocol::Resp3);
        assert_eq!(info.server_version(), Some("7.0.15"));
        assert_eq!(info.connection_id(), Some(42));
        assert_eq!(info.round_trips(), 1);
    }

    #[test]
    fn resp3_sends_everything_in_one_batch() {
        let config = base()
            .with_username("alice")
            .with_password("pw")
            .with_client_name("app")
            .with_db(3);
        let mut hs = Handshake::new(&config, None);
        assert_eq!(
            sent(hs.start()),
            wire(&[
                resp::cmd!("HELLO", 3, "AUTH", "alice", "pw", "SETNAME", "app"),
                resp::cmd!("SELECT", 3),
            ])
        );
        assert_eq!(hs.receive(hello_reply(3)).unwrap(), Step::Wait);
        let info = done(hs.receive(ok()).unwrap());
        assert_eq!(info.round_trips(), 1);
        assert_eq!(info.protocol(), Protocol::Resp3);
    }

    #[test]
    fn a_password_alone_authenticates_the_default_user() {
        let config = base().with_password("pw");
        let mut hs = Handshake::new(&config, None);
        assert_eq!(
            sent(hs.start()),
            wire(&[resp::cmd!("HELLO", 3, "AUTH", "default", "pw")])
        );
    }

    #[test]
    fn hello_refused_falls_back_to_resp2() {
        let config = base()
            .with_password("pw")
            .with_client_name("app")
            .with_db(2);
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        let step = hs
            .receive(err(
                "ERR unknown command `HELLO`, with args beginning with: `3`, `AUTH`, ",
            ))
            .unwrap();
        assert_eq!(step, Step::Wait);
        // The SELECT of the first batch was refused for want of AUTH.
        let second = sent(hs.receive(err("NOAUTH Authentication required.")).unwrap());
        assert_eq!(
            second,
            wire(&[
                resp::cmd!("AUTH", "pw"),
                resp::cmd!("SELECT", 2),
                resp::cmd!("CLIENT", "SETNAME", "app"),
            ])
        );
        assert_eq!(hs.receive(ok()).unwrap(), Step::Wait);
        assert_eq!(hs.receive(ok()).unwrap(), Step::Wait);
        let info = done(hs.receive(ok()).unwrap());
        assert_eq!(info.protocol(), Protocol::Resp2);
        assert_eq!(info.round_trips(), 2);
        assert_eq!(info.server_version(), None);
    }

    #[test]
    fn echoed_credentials_never_reach_the_error() {
        let config = base().with_password("hunter2");
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        let e = hs
            .receive(err(
                "ERR odd refusal, with args beginning with: `3`, `AUTH`, `default`, `hunter2`, ",
            ))
            .unwrap_err();
        assert!(matches!(e, Error::Server(_)), "{e:?}");
        assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
    }

    #[test]
    fn fallback_skips_a_select_that_already_worked() {
        let config = base().with_db(2);
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        hs.receive(err("ERR unknown command 'HELLO'")).unwrap();
        // Nothing is left to send: one round trip in all.
        let info = done(hs.receive(ok()).unwrap());
        assert_eq!(info.protocol(), Protocol::Resp2);
        assert_eq!(info.round_trips(), 1);

        let config = base().with_client_name("n");
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        let second = sent(
            hs.receive(err("NOPROTO unsupported protocol version"))
                .unwrap(),
        );
        assert_eq!(second, wire(&[resp::cmd!("CLIENT", "SETNAME", "n")]));
        assert_eq!(done(hs.receive(ok()).unwrap()).round_trips(), 2);
    }

    #[test]
    fn noauth_to_a_hello_with_credentials_falls_back() {
        // A server that checks authentication before it looks the command
        // up never read the AUTH inside HELLO.
        let config = base().with_password("pw");
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        let second = sent(hs.receive(err("NOAUTH Authentication required.")).unwrap());
        assert_eq!(second, wire(&[resp::cmd!("AUTH", "pw")]));
        let info = done(hs.receive(ok()).unwrap());
        assert_eq!(info.protocol(), Protocol::Resp2);
        assert_eq!(info.round_trips(), 2);
    }

    #[test]
    fn auth_failures_are_auth_errors() {
        let cases = [
            (
                Some("bad"),
                "WRONGPASS invalid username-password pair or user is disabled.",
            ),
            (Some("bad"), "ERR invalid password"),
            (
                None,
                "NOAUTH HELLO must be called with the client already authenticated",
            ),
        ];
        for (password, text) in cases {
            let mut config = base().with_db(1);
            if let Some(password) = password {
                config = config.with_password(password);
            }
            let mut hs = Handshake::new(&config, None);
            sent(hs.start());
            match hs.receive(err(text)) {
                Err(Error::Auth(e)) => assert_eq!(e.to_string(), text),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn resp2_auth_refused_is_an_auth_error() {
        let config = base().with_password("bad").with_protocol(Protocol::Resp2);
        let mut hs = Handshake::new(&config, None);
        assert_eq!(sent(hs.start()), wire(&[resp::cmd!("AUTH", "bad")]));
        let e = hs
            .receive(err(
                "ERR AUTH <password> called without any password configured for the default user.",
            ))
            .unwrap_err();
        assert!(e.is_auth(), "{e:?}");
        // After a refused HELLO too, a refused AUTH is an auth error.
        let config = base().with_password("bad");
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        sent(hs.receive(err("ERR unknown command 'HELLO'")).unwrap());
        let e = hs.receive(err("ERR invalid password")).unwrap_err();
        assert!(e.is_auth(), "{e:?}");
    }

    #[test]
    fn other_refusals_are_server_errors() {
        let config = base().with_db(99);
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        hs.receive(hello_reply(3)).unwrap();
        let e = hs.receive(err("ERR DB index is out of range")).unwrap_err();
        assert_eq!(e.server_code(), Some("ERR"));
        assert!(matches!(e, Error::Server(_)));

        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        let e = hs
            .receive(err("ERR Syntax error in HELLO option"))
            .unwrap_err();
        assert!(matches!(e, Error::Server(_)), "{e:?}");

        // A second refusal of SELECT, after the fallback, is not ignored.
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        hs.receive(err("ERR unknown command 'HELLO'")).unwrap();
        sent(hs.receive(err("ERR DB index is out of range")).unwrap());
        let e = hs.receive(err("ERR DB index is out of range")).unwrap_err();
        assert!(matches!(e, Error::Server(_)), "{e:?}");
    }

    #[test]
    fn resp2_requested_never_says_hello() {
        let config = base().with_protocol(Protocol::Resp2);
        let mut hs = Handshake::new(&config, None);
        let info = done(hs.start());
        assert_eq!(info.round_trips(), 0);
        assert_eq!(info.protocol(), Protocol::Resp2);

        let config = base()
            .with_protocol(Protocol::Resp2)
            .with_username("u")
            .with_password("p")
            .with_db(4)
            .with_client_name("n");
        let mut hs = Handshake::new(&config, None);
        assert_eq!(
            sent(hs.start()),
            wire(&[
                resp::cmd!("AUTH", "u", "p"),
                resp::cmd!("SELECT", 4),
                resp::cmd!("CLIENT", "SETNAME", "n"),
            ])
        );
        assert_eq!(hs.receive(ok()).unwrap(), Step::Wait);
        assert_eq!(hs.receive(ok()).unwrap(), Step::Wait);
        let info = done(hs.receive(ok()).unwrap());
        assert_eq!(info.round_trips(), 1);
        assert_eq!(info.protocol(), Protocol::Resp2);
    }

    #[test]
    fn odd_replies() {
        // A HELLO reply in RESP2 shape, reporting protocol 2.
        let config = base();
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        let flat = Value::Array(vec![
            Value::bulk("version"),
            Value::bulk("6.2.0"),
            Value::bulk("proto"),
            Value::Integer(2),
        ]);
        let info = done(hs.receive(flat).unwrap());
        assert_eq!(info.protocol(), Protocol::Resp2);
        assert_eq!(info.server_version(), Some("6.2.0"));

        // Pushes are skipped; attributes are looked through.
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        assert_eq!(
            hs.receive(Value::Push(vec![Value::bulk("x")])).unwrap(),
            Step::Wait
        );
        let annotated = Value::Attribute {
            attributes: vec![],
            value: Box::new(hello_reply(3)),
        };
        done(hs.receive(annotated).unwrap());

        // A HELLO reply that is not a map.
        let mut hs = Handshake::new(&config, None);
        sent(hs.start());
        let e = hs.receive(Value::Integer(1)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Conversion {
                    target: "HELLO reply",
                    found: "integer",
                    ..
                }
            ),
            "{e:?}"
        );

        // A reply nobody asked for.
        let config = config.with_protocol(Protocol::Resp2);
        let mut hs = Handshake::new(&config, None);
        done(hs.start());
        assert!(matches!(hs.receive(ok()), Err(Error::Protocol(_))));
    }
}
