//! A [`bb8`] manager of [`ExclusiveConnection`]s (feature `bb8`), for
//! services that pool their connections with bb8 already.

use redis_conn::{ConnectionConfig, Error};

use crate::{ExclusiveConnection, Options};

/// Opens [`ExclusiveConnection`]s for a `bb8::Pool` and checks them as
/// [`Pool`](crate::Pool) and [`DeadpoolManager`](crate::DeadpoolManager)
/// do: a connection that comes back broken or still owing a reply is
/// dropped, and any other is sent `DISCARD` and `UNWATCH` before it is lent
/// again (their answer also shows the connection alive).
///
/// bb8 runs that reset when a connection is checked out, as long as the
/// pool tests connections on checkout, which it does unless
/// `test_on_check_out(false)` says otherwise: keep that default, or a
/// transaction a previous user left open reaches the next.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use redis_paired::{Bb8Manager, Commands, Options};
///
/// let manager = Bb8Manager::new(&"redis://127.0.0.1/".parse()?, Options::default());
/// let pool = bb8::Pool::builder().max_size(8).build(manager).await?;
/// let conn = pool.get().await?;
/// conn.set("k", "v").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Bb8Manager {
    config: ConnectionConfig,
    options: Options,
}

impl Bb8Manager {
    /// A manager of connections to the server `config` names.
    pub fn new(config: &ConnectionConfig, options: Options) -> Bb8Manager {
        Bb8Manager {
            config: config.clone(),
            options,
        }
    }
}

impl bb8::ManageConnection for Bb8Manager {
    type Connection = ExclusiveConnection;
    type Error = Error;

    async fn connect(&self) -> Result<ExclusiveConnection, Error> {
        ExclusiveConnection::connect_with(&self.config, self.options).await
    }

    async fn is_valid(&self, conn: &mut ExclusiveConnection) -> Result<(), Error> {
        conn.reset().await
    }

    fn has_broken(&self, conn: &mut ExclusiveConnection) -> bool {
        // A reply still owed (a dropped blocking command) would land on the
        // next user's first command.
        !conn.is_reusable()
    }
}
