//! Testing a service without a server: the service's functions take any
//! [`Sender`] (or a [`Pipeline`]), so its tests hand them a
//! `MockConnection` that expects the service's commands and answers them
//! with scripted replies, errors included.
//!
//! ```text
//! cargo test -p examples --test mock
//! ```
//!
//! In production the same functions get a `PairedConnection` (a `Sender`)
//! and its pipelines.

use redis_facade::mock::{self, MockConnection};
use redis_facade::prelude::*;
use redis_facade::{Pipeline, ServerError};

/// The service under test: a rate limiter and a visit counter.
mod service {
    use super::*;

    /// Whether `user` may make one more request in this window: at most
    /// `limit` a minute. The counter expires with the window.
    pub async fn allow(conn: &impl Sender, user: &str, limit: i64) -> Result<bool, Error> {
        let key = format!("rate:{user}");
        let count = conn.incr(&key).await?;
        if count == 1 {
            conn.expire(&key, 60).await?;
        }
        Ok(count <= limit)
    }

    /// The user's display name, or "guest" when the key is missing or holds
    /// something that is no string (a bug elsewhere, which must not break
    /// the page).
    pub async fn display_name(conn: &impl Sender, user: &str) -> Result<String, Error> {
        match conn.get::<String>(format!("name:{user}")).await {
            Ok(Some(name)) => Ok(name),
            Ok(None) => Ok("guest".to_owned()),
            Err(error) if error.server_code() == Some("WRONGTYPE") => Ok("guest".to_owned()),
            Err(error) => Err(error),
        }
    }

    /// Adds the commands that count a page view to `batch`, whichever
    /// connection made it: the caller sends them with its other commands.
    pub fn count_view(batch: &mut Pipeline<'_>, page: &str) {
        batch.incr(format!("views:{page}"));
        batch.sadd("pages", page);
    }
}

#[tokio::test]
async fn the_first_request_of_a_window_sets_its_expiry() {
    let conn = MockConnection::new();
    conn.expect(cmd!("INCR", "rate:ada"), 1)
        .expect(cmd!("EXPIRE", "rate:ada", 60), 1)
        .expect(cmd!("INCR", "rate:ada"), 2)
        .expect(cmd!("INCR", "rate:ada"), 3);
    assert!(service::allow(&conn, "ada", 2).await.unwrap());
    assert!(service::allow(&conn, "ada", 2).await.unwrap());
    assert!(!service::allow(&conn, "ada", 2).await.unwrap());
    conn.assert_done();
}

#[tokio::test]
async fn a_lost_connection_reaches_the_caller() {
    let conn = MockConnection::new();
    conn.expect_error(cmd!("INCR", "rate:ada"), mock::connection_lost());
    let error = service::allow(&conn, "ada", 2).await.unwrap_err();
    assert!(matches!(error, Error::Connection(_)), "{error}");
    conn.assert_done();
}

#[tokio::test]
async fn a_name_of_the_wrong_type_shows_as_guest() {
    let conn = MockConnection::new();
    conn.expect(cmd!("GET", "name:ada"), "Ada Lovelace")
        .expect(cmd!("GET", "name:bob"), mock::nil())
        .expect_server_error(
            cmd!("GET", "name:eve"),
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        );
    for (user, shown) in [("ada", "Ada Lovelace"), ("bob", "guest"), ("eve", "guest")] {
        assert_eq!(service::display_name(&conn, user).await.unwrap(), shown);
    }
    conn.assert_done();
}

#[tokio::test]
async fn page_views_are_counted_in_one_transaction() {
    let conn = MockConnection::new();
    conn.expect_transaction([
        (cmd!("INCR", "views:home"), Value::Integer(41)),
        (cmd!("SADD", "pages", "home"), Value::Integer(0)),
        (cmd!("INCR", "views:home"), Value::Integer(42)),
        (
            cmd!("SADD", "pages", "home"),
            Value::Error("OOM command not allowed".into()),
        ),
    ]);
    let mut batch = conn.transaction();
    service::count_view(&mut batch, "home");
    service::count_view(&mut batch, "home");
    let (first, _, second, refused): (i64, i64, i64, Result<i64, ServerError>) =
        batch.query().await.unwrap();
    assert_eq!((first, second), (41, 42));
    assert_eq!(refused.unwrap_err().code(), "OOM");
    conn.assert_done();
}
