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
                last = Some(Error::Unsupported("a master name no sentinel monitors"));
            }
            Err(error) => {
                tracing::debug!(sentinel = %Address::tcp(host.clone(), *port), %error, "the sentinel did not answer");
                last = Some(error);
            }
        }
    }
    Err(last.unwrap_or(Error::Closed))
}

async fn ask(
    config: &ConnectionConfig,
    host: &str,
    port: u16,
    master: &str,
) -> Result<Option<(String, u16)>> {
    let mut sentinel = ConnectionConfig::new(Address::tcp(host, port))
        .with_protocol(Protocol::Resp2)
        .with_connect_timeout(config.connect_timeout());
    if let Some(password) = config.sentinel_password() {
        sentinel = sentinel.with_password(password);
        if let Some(user) = config.sentinel_username() {
            sentinel = sentinel.with_username(user);
        }
    }
    let stream = Stream::connect(&sentinel).await?;
    let mut conn = Connection::establish(stream, &sentinel).await?;
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

/// Fails unless the node `conn` reached says it is a master: a sentinel's
/// answer can be stale for a moment after a failover.
pub(crate) async fn check_master(conn: &mut Connection<Stream>, master: &str) -> Result<()> {
    let reply = conn.send(cmd!("ROLE")).await?;
    let role: Vec<Value> = FromValue::from_value(reply)?;
    match role.first().and_then(Value::as_bytes) {
        Some(b"master") => Ok(()),
        _ => {
            tracing::debug!(
                master,
                "the sentinel named a node that is not a master (yet)"
            );
            Err(Error::Unsupported(
                "a sentinel named a node that is not a master",
            ))
        }
    }
}
