//! Redis Sentinel: which node is the master of a monitored name now.
//!
//! Every connect to an [`Address::Sentinel`](crate::Address::Sentinel) asks
//! the sentinels in turn (`SENTINEL GET-MASTER-ADDR-BY-NAME`) and checks
//! with `ROLE` that the node it reaches is a master, so a connection that
//! reconnects after a failover reaches the promoted replica.

use resp::{cmd, FromValue, Value};

use crate::{Address, Connection, ConnectionConfig, Error, Protocol, Result, Stream};

/// The master's `host` and `port` as the first sentinel that knows it says.
pub(crate) async fn master_address(
    config: &ConnectionConfig,
    sentinels: &[(String, u16)],
    master: &str,
) -> Result<(String, u16)> {
    let mut last = None;
    for (host, port) in sentinels {
        match ask(config, host, *port, master).await {
            Ok(Some(address)) => return Ok(address),
            Ok(None) => {
                tracing::debug!(sentinel = %Address::tcp(host.clone(), *port), master, "the sentinel does not know the master");
                last = Some(Error::Unsupported(
                    "a master name no sentinel monitors, or no healthy replica of it",
                ));
            }
            Err(error) => {
                tracing::debug!(sentinel = %Address::tcp(host.clone(), *port), %error, "the sentinel did not answer");
                last = Some(error);
            }
        }
    }
    Err(last.unwrap_or(Error::Closed))
}

/// A sentinel's answer for `master`: the master's address, or with
/// [`ConnectionConfig::sentinel_replica`] a healthy replica's (taking turns
/// from one connect to the next); `None` when it knows none.
async fn ask(
    config: &ConnectionConfig,
    host: &str,
    port: u16,
    master: &str,
) -> Result<Option<(String, u16)>> {
    let sentinel = sentinel_config(config, host, port);
    let stream = Stream::connect(&sentinel).await?;
    let mut conn = Connection::establish(stream, &sentinel).await?;
    if config.sentinel_replica() {
        let reply = conn.send(cmd!("SENTINEL", "REPLICAS", master)).await?;
        return Ok(pick_replica(reply));
    }
    let reply = conn
        .send(cmd!("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master))
        .await?;
    let address: Option<(String, String)> = FromValue::from_value(reply)?;
    Ok(match address {
        Some((host, port)) => Some((
            host,
            port.parse()
                .map_err(|_| Error::Protocol(resp::Error::InvalidFrame("sentinel port")))?,
        )),
        None => None,
    })
}

/// How to reach the sentinel on `host` and `port` of `config`'s address:
/// RESP2, with the sentinels' credentials and `config`'s connect timeout.
pub(crate) fn sentinel_config(
    config: &ConnectionConfig,
    host: &str,
    port: u16,
) -> ConnectionConfig {
    let mut sentinel = ConnectionConfig::new(Address::tcp(host, port))
        .with_protocol(Protocol::Resp2)
        .with_connect_timeout(config.connect_timeout());
    if let Some(password) = config.sentinel_password() {
        sentinel = sentinel.with_password(password);
        if let Some(user) = config.sentinel_username() {
            sentinel = sentinel.with_username(user);
        }
    }
    sentinel
}

/// A replica the sentinel considers healthy (no `s_down`, `o_down` or
/// `disconnected` flag, its link to the master up), the replicas taking
/// turns from one call to the next.
fn pick_replica(reply: Value) -> Option<(String, u16)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static TURN: AtomicUsize = AtomicUsize::new(0);
    let replicas: Vec<Vec<(String, String)>> = FromValue::from_value(reply).ok()?;
    let healthy: Vec<(String, u16)> = replicas
        .into_iter()
        .filter_map(|fields| {
            let field = |name: &str| field(&fields, name);
            let flags = field("flags")?;
            let down = ["s_down", "o_down", "disconnected"]
                .iter()
                .any(|f| flags.split(',').any(|flag| flag == *f));
            let linked = field("master-link-status") == Some("ok");
            let port = field("port")?.parse().ok()?;
            (!down && linked).then(|| (field("ip").unwrap_or_default().to_string(), port))
        })
        .filter(|(ip, _)| !ip.is_empty())
        .collect();
    if healthy.is_empty() {
        return None;
    }
    let n = TURN.fetch_add(1, Ordering::Relaxed);
    healthy.get(n % healthy.len()).cloned()
}

/// The value of `name` among a sentinel's field names and values.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Fails unless the node `conn` reached has the role asked for (a master,
/// or a replica with [`ConnectionConfig::sentinel_replica`]): a sentinel's
/// answer can be stale for a moment after a failover.
pub(crate) async fn check_role(
    conn: &mut Connection<Stream>,
    config: &ConnectionConfig,
    master: &str,
) -> Result<()> {
    let reply = conn.send(cmd!("ROLE")).await?;
    let role: Vec<Value> = FromValue::from_value(reply)?;
    let wanted: &[u8] = if config.sentinel_replica() {
        b"slave"
    } else {
        b"master"
    };
    if role.first().and_then(Value::as_bytes) == Some(wanted) {
        return Ok(());
    }
    tracing::debug!(
        master,
        "the sentinel named a node of another role (a failover in progress)"
    );
    Err(Error::Unsupported(if config.sentinel_replica() {
        "a sentinel named a node that is not a replica"
    } else {
        "a sentinel named a node that is not a master"
    }))
}
