//! The one error type of the protocol layer: malformed bytes, exceeded limits,
//! failed conversions and server error replies.

use bytes::Bytes;

/// Everything that can go wrong turning bytes into values or values into Rust
/// types.
///
/// It is small, `Clone` and `PartialEq` so that tests can compare it.
/// Incomplete input is not an error: the decoder returns `Ok(None)` for it.
///
/// After a decoding error the byte stream can no longer be trusted to be in
/// step with its frames; a connection that sees one should be closed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first byte of a frame is not a RESP2 or RESP3 type byte.
    #[error("invalid type byte {0:#04x}")]
    InvalidType(u8),
    /// A length header is not a decimal integer, overflows, or is negative
    /// (other than the `-1` of a RESP2 null).
    #[error("invalid length header")]
    InvalidLength,
    /// A length header is over the configured limit; nothing was reserved.
    #[error("{what} length {len} exceeds the limit of {limit}")]
    TooLarge {
        /// What the length was for: `"bulk"` or `"aggregate"`.
        what: &'static str,
        /// The length the header announced.
        len: u64,
        /// The configured limit.
        limit: usize,
    },
    /// Aggregates nest deeper than the configured limit.
    #[error("aggregates nested deeper than the limit of {0}")]
    TooDeep(usize),
    /// A line (simple string, error, number) has no CRLF within the limit.
    #[error("line longer than the limit of {0} bytes")]
    LineTooLong(usize),
    /// A line or a bulk payload is not terminated by CRLF.
    #[error("missing CRLF terminator")]
    MissingCrlf,
    /// The content of a frame does not fit its type (for example an integer
    /// frame that holds letters). The field names the type.
    #[error("invalid {0} frame")]
    InvalidFrame(&'static str),
    /// A command without any argument: Redis would never answer it, which would
    /// shift every later reply onto the wrong request.
    #[error("empty command")]
    EmptyCommand,
    /// A reply could not be converted into the requested Rust type:
    /// "expected i64, got a string that is not an integer in range: \"abc\"".
    #[error("expected {target}, got {found}{value}")]
    Conversion {
        /// The Rust type that was asked for.
        target: &'static str,
        /// The kind of reply that arrived (or why its content did not fit).
        found: &'static str,
        /// The start of the content that did not fit, when there is some.
        value: Preview,
    },
    /// The server answered with an error reply.
    #[error("{0}")]
    Server(ServerError),
}

/// The start of a reply's content, quoted in a conversion error so that a
/// person can see what came.
///
/// It is for reading only: two previews always compare equal, so errors
/// compare by their meaning (the type asked for, the kind of reply).
#[derive(Clone, Default)]
pub struct Preview(Option<Box<str>>);

impl Preview {
    /// How many characters are quoted at most.
    pub const MAX_CHARS: usize = 32;

    /// No content to quote.
    pub const fn none() -> Preview {
        Preview(None)
    }

    /// The start of `content`, as text (invalid UTF-8 replaced), at most
    /// [`MAX_CHARS`](Self::MAX_CHARS) characters.
    pub fn of(content: &[u8]) -> Preview {
        let text = String::from_utf8_lossy(content);
        let mut quoted: String = text.chars().take(Self::MAX_CHARS).collect();
        if text.chars().nth(Self::MAX_CHARS).is_some() {
            quoted.push('…');
        }
        Preview(Some(quoted.into_boxed_str()))
    }

    /// The quoted text, if any.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl PartialEq for Preview {
    fn eq(&self, _: &Preview) -> bool {
        true
    }
}

impl Eq for Preview {}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for Preview {
    /// `: "the start"`, or nothing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(text) => write!(f, ": {text:?}"),
            None => Ok(()),
        }
    }
}

/// An error reply from the server, such as `WRONGTYPE Operation against a key
/// holding the wrong kind of value`.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerError(Bytes);

impl ServerError {
    /// Wraps the text of an error reply (without the leading `-` and CRLF).
    pub fn new(text: impl Into<Bytes>) -> ServerError {
        ServerError(text.into())
    }

    /// The error code: the first word of the reply, such as `ERR`,
    /// `WRONGTYPE`, `NOSCRIPT` or `MOVED`.
    ///
    /// > The first word in the error is in upper case and describes the error
    /// > code. (RESP specification, "Simple errors")
    pub fn code(&self) -> &str {
        let text = self.text_bytes();
        let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        std::str::from_utf8(&text[..end]).unwrap_or("ERR")
    }

    /// The message after the code (the whole text when there is no code).
    pub fn message(&self) -> String {
        let text = self.text_bytes();
        let rest = match text.iter().position(|&b| b == b' ') {
            Some(i) => &text[i + 1..],
            None => text,
        };
        String::from_utf8_lossy(rest).into_owned()
    }

    /// The raw text of the reply.
    pub fn text_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl std::fmt::Debug for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ServerError")
            .field(&String::from_utf8_lossy(&self.0))
            .finish()
    }
}

impl std::error::Error for ServerError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_error_splits_code_and_message() {
        let e = ServerError::new(&b"WRONGTYPE Operation against a key"[..]);
        assert_eq!(e.code(), "WRONGTYPE");
        assert_eq!(e.message(), "Operation against a key");
        assert_eq!(e.to_string(), "WRONGTYPE Operation against a key");
        let bare = ServerError::new(&b"OOPS"[..]);
        assert_eq!(bare.code(), "OOPS");
        assert_eq!(bare.message(), "OOPS");
    }
}
