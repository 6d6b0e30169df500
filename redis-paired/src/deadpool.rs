//! A [`deadpool`] manager of [`ExclusiveConnection`]s (feature `deadpool`),
//! for services that pool their connections with deadpool already.

use deadpool::managed::{Manager, Metrics, RecycleError, RecycleResult};
use redis_conn::{ConnectionConfig, Error};

use crate::{ExclusiveConnection, Options};

/// Opens [`ExclusiveConnection`]s for a `deadpool::managed::Pool` and
/// checks them when they come back, as [`Pool`](crate::Pool) does: a
/// connection that still owes a reply or is broken is dropped, any other is
/// sent `DISCARD` and `UNWATCH` before it is lent again (their answer also
/// shows the connection alive).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use redis_paired::{Commands, DeadpoolManager, Options};
///
/// let manager = DeadpoolManager::new(&"redis://127.0.0.1/".parse()?, Options::default());
/// let pool: deadpool::managed::Pool<DeadpoolManager> =
///     deadpool::managed::Pool::builder(manager).max_size(8).build()?;
/// let conn = pool.get().await?;
/// conn.set("k", "v").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DeadpoolManager {
    config: ConnectionConfig,
    options: Options,
}

impl DeadpoolManager {
    /// A manager of connections to the server `config` names.
    pub fn new(config: &ConnectionConfig, options: Options) -> DeadpoolManager {
        DeadpoolManager {
            config: config.clone(),
            options,
        }
    }
}

impl Manager for DeadpoolManager {
    type Type = ExclusiveConnection;
    type Error = Error;

    async fn create(&self) -> Result<ExclusiveConnection, Error> {
        ExclusiveConnection::connect_with(&self.config, self.options).await
    }

    async fn recycle(&self, conn: &mut ExclusiveConnection, _: &Metrics) -> RecycleResult<Error> {
        if !conn.is_reusable() {
            return Err(RecycleError::message(
                "the connection is broken or still owes a reply (a dropped blocking command)",
            ));
        }
        conn.reset().await.map_err(RecycleError::Backend)
    }
}
