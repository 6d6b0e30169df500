//! RESP2 and RESP3, the Redis serialization protocol, as a pure library.
//!
//! This crate turns bytes into [`Value`]s and values and commands into bytes.
//! It has no runtime, no sockets and no clock: a client, a proxy, a fuzzer or
//! a server can use it as it is. For a Redis client, use `redis-facade`
//! (or `redis-paired` and `redis-pubsub`), which are built on it.
//!
//! # Layout
//!
//! - [`Value`] (`value.rs`): one frame, the full RESP3 type set plus RESP2's
//!   nulls, and its encoding ([`Value::encode`]).
//! - [`Decoder`] (`decode.rs`): a resumable, single-pass decoder over
//!   [`bytes::BytesMut`], with limits in a [`DecoderConfig`]. Incomplete
//!   input is `Ok(None)`, never an error; malformed input is an [`Error`],
//!   never a panic.
//! - [`Command`] and [`ToArgs`] (`command.rs`): requests encoded as they are
//!   built, with integers and floats as bulk strings.
//! - [`FromValue`] (`convert.rs`): replies into Rust types, with errors that
//!   name the type and the reply kind.
//! - [`Error`] and [`ServerError`] (`error.rs`).
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use resp::{cmd, Decoder, FromValue};
//!
//! // A request, as it goes on the wire.
//! let request = cmd!("HSET", "user:1", "name", "Ada", "visits", 3).into_bytes();
//! assert!(request.starts_with(b"*6\r\n$4\r\nHSET\r\n"));
//!
//! // A reply, fed as it arrives, converted into what the caller wants.
//! let mut decoder = Decoder::new();
//! let mut buf = BytesMut::from(&b"*2\r\n$3\r\nAda\r\n"[..]);
//! assert_eq!(decoder.decode(&mut buf), Ok(None));
//! buf.extend_from_slice(b"$-1\r\n");
//! let reply = decoder.decode(&mut buf).unwrap().unwrap();
//! let fields: Vec<Option<String>> = FromValue::from_value(reply).unwrap();
//! assert_eq!(fields, vec![Some("Ada".to_string()), None]);
//! ```
#![deny(missing_docs)]

mod command;
mod convert;
mod decode;
mod error;
mod value;

pub use bytes;

pub use crate::command::{Args, Command, ToArgs};
pub use crate::convert::FromValue;
pub use crate::decode::{Decoder, DecoderConfig};
pub use crate::error::{Error, Preview, ServerError};
pub use crate::value::Value;

/// Builds a [`Value::Array`], each element converted with `Value::from`
/// (strings become bulk strings, integers integers).
///
/// Such an array converts into a [`Command`] with `Command::try_from`, with
/// integers sent as bulk strings.
///
/// ```
/// use resp::{resp_array, Command, Value};
///
/// let v = resp_array!["SET", "counter", 5];
/// assert_eq!(v, Value::Array(vec![Value::bulk("SET"), Value::bulk("counter"), Value::Integer(5)]));
/// let cmd = Command::try_from(v).unwrap();
/// assert_eq!(&cmd.into_bytes()[..], b"*3\r\n$3\r\nSET\r\n$7\r\ncounter\r\n$1\r\n5\r\n");
/// ```
#[macro_export]
macro_rules! resp_array {
    ($($item:expr),* $(,)?) => {
        $crate::Value::Array(vec![$($crate::Value::from($item)),*])
    };
}

/// Builds a [`Command`] from a name and arguments (anything [`ToArgs`]).
///
/// ```
/// let cmd = resp::cmd!("EXPIRE", "session:7", 3600);
/// assert_eq!(cmd.name(), b"EXPIRE");
/// assert_eq!(cmd.len(), 3);
/// ```
#[macro_export]
macro_rules! cmd {
    ($name:expr $(, $arg:expr)* $(,)?) => {
        $crate::Command::new($name)$(.arg($arg))*
    };
}
