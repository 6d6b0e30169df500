//! `Command`, a request encoded as it is built, and `ToArgs`, what can be an
//! argument.

use std::cell::Cell;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::value::{put_double, put_int};
use crate::{Error, Value};

/// Room kept in front of the arguments for the array header `*<count>\r\n`,
/// written once the count is known: a tag, up to 20 digits and CRLF.
const HEADROOM: usize = 24;

/// A command: an array of bulk strings, encoded as arguments are added.
///
/// > Clients send commands to the Redis server as an array of bulk strings.
/// > (RESP specification, "Sending commands to a Redis server")
///
/// Arguments are written straight into the command's own buffer; no `Value`
/// tree and no `String` per header is built. Integers and floats go out as
/// bulk strings, as Redis requires. A command always has at least its name,
/// so it can never be the empty array Redis would not answer.
///
/// ```
/// use resp::Command;
///
/// let cmd = Command::new("SET").arg("greeting").arg("hello").arg("EX").arg(60);
/// assert_eq!(cmd.name(), b"SET");
/// assert_eq!(cmd.len(), 5);
/// assert_eq!(
///     &cmd.into_bytes()[..],
///     b"*5\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n$2\r\nEX\r\n$2\r\n60\r\n"
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// `HEADROOM` bytes, then the encoded arguments.
    buf: Vec<u8>,
    argc: usize,
}

impl Command {
    /// Starts a command with its name, such as `"GET"` or `"CLIENT"`.
    pub fn new(name: &str) -> Command {
        // Room for the name, a key and a small value without regrowing.
        Command::with_capacity(name, 160)
    }

    /// Starts a command whose arguments will take about `capacity` bytes.
    pub fn with_capacity(name: &str, capacity: usize) -> Command {
        let mut cmd = Command::empty(capacity);
        cmd.push_bulk(name.as_bytes());
        cmd
    }

    /// A command from a list of arguments, the first being the name.
    ///
    /// Fails with [`Error::EmptyCommand`] when there are no arguments.
    pub fn from_args<A: ToArgs + ?Sized>(args: &A) -> Result<Command, Error> {
        let mut cmd = Command::empty(64);
        args.write_args(&mut cmd);
        if cmd.argc == 0 {
            return Err(Error::EmptyCommand);
        }
        Ok(cmd)
    }

    /// A command without arguments yet; callers add at least one.
    fn empty(capacity: usize) -> Command {
        let mut buf = SPARE
            .try_with(Cell::take)
            .ok()
            .flatten()
            .filter(|spare| spare.capacity() >= HEADROOM + capacity)
            .unwrap_or_else(|| Vec::with_capacity(HEADROOM + capacity));
        buf.extend_from_slice(&[0; HEADROOM]);
        Command { buf, argc: 0 }
    }

    /// Adds an argument (or several, for slices, `Vec`s and tuples).
    pub fn arg<A: ToArgs>(mut self, arg: A) -> Command {
        arg.write_args(&mut self);
        self
    }

    /// Adds an argument in place.
    pub fn push_arg<A: ToArgs>(&mut self, arg: A) -> &mut Command {
        arg.write_args(self);
        self
    }

    /// Appends one bulk string argument.
    pub fn push_bulk(&mut self, data: &[u8]) {
        // `$`, the length, CRLF, the data, CRLF, in few copies of fixed
        // size: lengths below 100 (most keys and values) are spelt without
        // formatting.
        let len = data.len();
        self.buf.reserve(len + 26);
        if len < 10 {
            self.buf
                .extend_from_slice(&[b'$', b'0' + len as u8, b'\r', b'\n']);
        } else if len < 100 {
            let (tens, units) = ((len / 10) as u8, (len % 10) as u8);
            self.buf
                .extend_from_slice(&[b'$', b'0' + tens, b'0' + units, b'\r', b'\n']);
        } else {
            let mut digits = itoa::Buffer::new();
            self.buf.extend_from_slice(b"$");
            self.buf.extend_from_slice(digits.format(len).as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        }
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
        self.argc += 1;
    }

    /// Appends one integer argument, formatted as a bulk string.
    pub fn push_int(&mut self, n: impl itoa::Integer) {
        let mut digits = itoa::Buffer::new();
        self.push_bulk(digits.format(n).as_bytes());
    }

    /// Appends one float argument, formatted as a bulk string (`inf`, `-inf`
    /// and shortest round-trip decimals).
    pub fn push_double(&mut self, d: f64) {
        // Any f64 spells in at most 24 bytes ("-2.2250738585072014e-308").
        let mut storage = [0u8; 32];
        let mut slot = &mut storage[..];
        put_double(&mut slot, d);
        let len = 32 - slot.len();
        self.push_bulk(&storage[..len]);
    }

    /// The command name as given (its first argument).
    pub fn name(&self) -> &[u8] {
        // Most names are shorter than ten bytes: `$<digit>\r\n<name>\r\n`,
        // read without the general walk over the arguments.
        let rest = &self.buf[HEADROOM..];
        if let [b'$', digit @ b'1'..=b'9', b'\r', b'\n', ..] = *rest {
            if let Some(name) = rest.get(4..4 + usize::from(digit - b'0')) {
                return name;
            }
        }
        self.args().next().unwrap_or_default()
    }

    /// The number of arguments, the name included.
    pub fn len(&self) -> usize {
        self.argc
    }

    /// Always false: a command has at least its name.
    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// The arguments in order, the name first.
    pub fn args(&self) -> Args<'_> {
        Args {
            rest: &self.buf[HEADROOM..],
        }
    }

    /// The size of the encoded command in bytes.
    pub fn encoded_len(&self) -> usize {
        header_len(self.argc) + self.buf.len() - HEADROOM
    }

    /// Appends the encoded command to `out`.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(b'*');
        put_int(out, self.argc);
        out.put_slice(b"\r\n");
        out.put_slice(&self.buf[HEADROOM..]);
    }

    /// The encoded command as a slice, without copying the arguments: the
    /// array header is written into the room kept in front of them.
    pub fn encoded(&mut self) -> &[u8] {
        let start = self.write_header();
        &self.buf[start..]
    }

    /// The encoded command, without copying the arguments: the array header
    /// is written into the room kept in front of them.
    pub fn into_bytes(mut self) -> Bytes {
        let start = self.write_header();
        let mut bytes = Bytes::from(std::mem::take(&mut self.buf));
        bytes.advance(start);
        bytes
    }

    /// Writes `*<count>\r\n` to end where the arguments start; returns where
    /// it starts.
    fn write_header(&mut self) -> usize {
        if self.argc < 10 {
            // Most commands: `*<digit>\r\n`, without formatting.
            let start = HEADROOM - 4;
            self.buf[start..HEADROOM].copy_from_slice(&[
                b'*',
                b'0' + self.argc as u8,
                b'\r',
                b'\n',
            ]);
            return start;
        }
        let mut digits = itoa::Buffer::new();
        let count = digits.format(self.argc).as_bytes();
        let start = HEADROOM - count.len() - 3;
        self.buf[start] = b'*';
        self.buf[start + 1..start + 1 + count.len()].copy_from_slice(count);
        self.buf[HEADROOM - 2..HEADROOM].copy_from_slice(b"\r\n");
        start
    }
}

thread_local! {
    /// The buffer of the last small command dropped on this thread, for the
    /// next command made here: a command is most often made, copied out and
    /// dropped on one thread, and this spares an allocation and a free for
    /// each. At most one buffer a thread, of at most [`SPARE_MAX`] bytes.
    static SPARE: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

/// The largest buffer kept for the next command.
const SPARE_MAX: usize = 1024;

impl Drop for Command {
    fn drop(&mut self) {
        // Only a buffer that would serve a new command as it is (not one
        // given away by `into_bytes`, nor a large one).
        let capacity = self.buf.capacity();
        if (HEADROOM + 64..=SPARE_MAX).contains(&capacity) {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            // During the thread's exit the slot is gone: the buffer is freed.
            let _ = SPARE.try_with(|spare| spare.set(Some(buf)));
        }
    }
}

impl std::fmt::Debug for Command {
    /// Shows the command name and the argument count, never the arguments:
    /// they may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("name", &String::from_utf8_lossy(self.name()))
            .field("args", &self.argc)
            .finish()
    }
}

impl TryFrom<Value> for Command {
    type Error = Error;

    /// A command from an array of strings, integers or doubles (the shape the
    /// [`resp_array!`](crate::resp_array) macro builds). Integers and doubles
    /// become bulk strings.
    fn try_from(value: Value) -> Result<Command, Error> {
        Command::try_from(&value)
    }
}

impl TryFrom<&Value> for Command {
    type Error = Error;

    fn try_from(value: &Value) -> Result<Command, Error> {
        let items = match value {
            Value::Array(items) => items,
            other => {
                return Err(Error::Conversion {
                    target: "command",
                    found: other.kind(),
                    value: crate::Preview::none(),
                })
            }
        };
        let mut cmd = Command::empty(64);
        for item in items {
            match item {
                Value::BulkString(b) | Value::SimpleString(b) => cmd.push_bulk(b),
                Value::Integer(n) => cmd.push_int(*n),
                Value::Double(d) => cmd.push_double(*d),
                other => {
                    return Err(Error::Conversion {
                        target: "command argument",
                        found: other.kind(),
                        value: crate::Preview::none(),
                    })
                }
            }
        }
        if cmd.argc == 0 {
            return Err(Error::EmptyCommand);
        }
        Ok(cmd)
    }
}

/// Iterator over the arguments of a [`Command`].
#[derive(Debug, Clone)]
pub struct Args<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Args<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        // The buffer only ever holds `$<len>\r\n<data>\r\n` written by `push_bulk`.
        let mut len = 0usize;
        let mut digits_end = 1;
        while let Some(&b) = self.rest.get(digits_end) {
            if b == b'\r' {
                break;
            }
            len = len
                .wrapping_mul(10)
                .wrapping_add(usize::from(b.wrapping_sub(b'0')));
            digits_end += 1;
        }
        let start = digits_end + 2;
        let data = self.rest.get(start..start + len)?;
        self.rest = self.rest.get(start + len + 2..)?;
        Some(data)
    }
}

/// Something that can be written as zero or more command arguments.
///
/// Strings and byte strings are one argument; integers and floats are one
/// argument in decimal; slices, `Vec`s, tuples and `Option`s write each of
/// their elements (`None` writes nothing), which suits variadic commands such
/// as `DEL k1 k2` or `MSET k1 v1 k2 v2`. A `Vec<u8>` or `&[u8]` is one binary
/// argument, not a list of numbers.
pub trait ToArgs {
    /// Writes this value's arguments onto the command.
    fn write_args(&self, cmd: &mut Command);

    /// Writes a slice of these values. Bytes override it to write the whole
    /// slice as one binary argument.
    #[doc(hidden)]
    fn write_slice(items: &[Self], cmd: &mut Command)
    where
        Self: Sized,
    {
        for item in items {
            item.write_args(cmd);
        }
    }
}

impl<T: ToArgs + ?Sized> ToArgs for &T {
    fn write_args(&self, cmd: &mut Command) {
        (**self).write_args(cmd);
    }
}

impl ToArgs for str {
    fn write_args(&self, cmd: &mut Command) {
        cmd.push_bulk(self.as_bytes());
    }
}

impl ToArgs for String {
    fn write_args(&self, cmd: &mut Command) {
        cmd.push_bulk(self.as_bytes());
    }
}

impl ToArgs for Bytes {
    fn write_args(&self, cmd: &mut Command) {
        cmd.push_bulk(self);
    }
}

impl ToArgs for BytesMut {
    fn write_args(&self, cmd: &mut Command) {
        cmd.push_bulk(self);
    }
}

impl<T: ToArgs> ToArgs for [T] {
    fn write_args(&self, cmd: &mut Command) {
        T::write_slice(self, cmd);
    }
}

impl<T: ToArgs> ToArgs for Vec<T> {
    fn write_args(&self, cmd: &mut Command) {
        T::write_slice(self, cmd);
    }
}

impl<T: ToArgs, const N: usize> ToArgs for [T; N] {
    fn write_args(&self, cmd: &mut Command) {
        T::write_slice(self, cmd);
    }
}

impl<T: ToArgs> ToArgs for Option<T> {
    fn write_args(&self, cmd: &mut Command) {
        if let Some(v) = self {
            v.write_args(cmd);
        }
    }
}

impl ToArgs for () {
    /// No argument at all: for an empty list of keys, say.
    fn write_args(&self, _cmd: &mut Command) {}
}

impl ToArgs for u8 {
    fn write_args(&self, cmd: &mut Command) {
        cmd.push_int(*self);
    }

    fn write_slice(items: &[u8], cmd: &mut Command) {
        cmd.push_bulk(items);
    }
}

macro_rules! int_args {
    ($($t:ty),*) => {$(
        impl ToArgs for $t {
            fn write_args(&self, cmd: &mut Command) {
                cmd.push_int(*self);
            }
        }
    )*};
}
int_args!(i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize);

impl ToArgs for f64 {
    fn write_args(&self, cmd: &mut Command) {
        cmd.push_double(*self);
    }
}

impl ToArgs for f32 {
    fn write_args(&self, cmd: &mut Command) {
        cmd.push_double(f64::from(*self));
    }
}

impl ToArgs for bool {
    /// `1` or `0`, as Redis spells booleans in arguments.
    fn write_args(&self, cmd: &mut Command) {
        cmd.push_bulk(if *self { b"1" } else { b"0" });
    }
}

macro_rules! tuple_args {
    ($($name:ident)+) => {
        impl<$($name: ToArgs),+> ToArgs for ($($name,)+) {
            #[allow(non_snake_case)]
            fn write_args(&self, cmd: &mut Command) {
                let ($($name,)+) = self;
                $($name.write_args(cmd);)+
            }
        }
    };
}
tuple_args!(A);
tuple_args!(A B);
tuple_args!(A B C);
tuple_args!(A B C D);

fn header_len(n: usize) -> usize {
    let mut digits = itoa::Buffer::new();
    digits.format(n).len() + 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(cmd: Command) -> Vec<u8> {
        let mut out = Vec::new();
        cmd.encode(&mut out);
        assert_eq!(out.len(), cmd.encoded_len());
        assert_eq!(
            cmd.into_bytes().to_vec(),
            out,
            "into_bytes and encode agree"
        );
        out
    }

    #[test]
    fn numbers_go_out_as_bulk_strings() {
        let cmd = Command::new("ZADD")
            .arg("z")
            .arg(1.5)
            .arg(-3i64)
            .arg(u64::MAX);
        assert_eq!(
            wire(cmd),
            b"*5\r\n$4\r\nZADD\r\n$1\r\nz\r\n$3\r\n1.5\r\n$2\r\n-3\r\n$20\r\n18446744073709551615\r\n"
        );
    }

    #[test]
    fn byte_vectors_are_one_argument_and_lists_are_many() {
        let cmd = Command::new("DEL")
            .arg(vec!["a", "b"])
            .arg(&b"\x00\xff"[..])
            .arg(vec![1u8, 2]);
        assert_eq!(cmd.len(), 5);
        let args: Vec<&[u8]> = cmd.args().collect();
        assert_eq!(
            args,
            vec![&b"DEL"[..], b"a", b"b", b"\x00\xff", b"\x01\x02"]
        );
    }

    #[test]
    fn tuples_and_options_flatten() {
        let pairs = vec![("k1", "v1"), ("k2", "v2")];
        let cmd = Command::new("MSET")
            .arg(&pairs)
            .arg(None::<&str>)
            .arg(Some("x"));
        assert_eq!(cmd.len(), 6);
    }

    #[test]
    fn empty_commands_are_refused() {
        let none: [&str; 0] = [];
        assert_eq!(Command::from_args(&none[..]), Err(Error::EmptyCommand));
        assert_eq!(
            Command::try_from(Value::Array(vec![])),
            Err(Error::EmptyCommand)
        );
        let cmd = Command::from_args(&["GET", "k"][..]).unwrap();
        assert_eq!(cmd.name(), b"GET");
        assert_eq!(wire(cmd), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    #[test]
    fn values_convert_with_numbers_as_bulk() {
        let v = Value::Array(vec![
            Value::from("INCRBY"),
            Value::from("n"),
            Value::Integer(5),
        ]);
        let cmd = Command::try_from(v).unwrap();
        assert_eq!(cmd.name(), b"INCRBY");
        assert_eq!(wire(cmd), b"*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$1\r\n5\r\n");
        let bad = Value::Array(vec![Value::from("GET"), Value::Array(vec![])]);
        assert!(matches!(
            Command::try_from(bad),
            Err(Error::Conversion { .. })
        ));
    }

    #[test]
    fn debug_hides_arguments() {
        let cmd = Command::new("AUTH").arg("user").arg("hunter2");
        let shown = format!("{cmd:?}");
        assert!(
            shown.contains("AUTH") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn a_command_made_after_another_holds_only_its_own_arguments() {
        // The first one's buffer serves the second.
        drop(
            Command::new("SET")
                .arg("key")
                .arg("a value longer than the next"),
        );
        let cmd = Command::new("GET").arg("k");
        assert_eq!(&cmd.into_bytes()[..], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        let cloned = Command::new("DEL").arg("a");
        let copy = cloned.clone();
        drop(cloned);
        let next = Command::new("PING");
        assert_eq!(&copy.into_bytes()[..], b"*2\r\n$3\r\nDEL\r\n$1\r\na\r\n");
        assert_eq!(&next.into_bytes()[..], b"*1\r\n$4\r\nPING\r\n");
    }

    #[test]
    fn every_length_and_count_is_spelt_in_full() {
        // Around each change in the number of digits, of an argument's
        // length and of the argument count.
        for len in [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65_536] {
            let data = vec![b'x'; len];
            let mut cmd = Command::new("SET");
            for _ in 0..len % 13 {
                cmd.push_bulk(&data);
            }
            let mut expected = format!("*{}\r\n$3\r\nSET\r\n", 1 + len % 13).into_bytes();
            for _ in 0..len % 13 {
                expected.extend_from_slice(format!("${len}\r\n").as_bytes());
                expected.extend_from_slice(&data);
                expected.extend_from_slice(b"\r\n");
            }
            assert_eq!(cmd.encoded_len(), expected.len(), "length {len}");
            assert_eq!(cmd.encoded(), &expected[..], "length {len}");
            let mut out = Vec::new();
            cmd.encode(&mut out);
            assert_eq!(out, expected, "length {len}");
            assert!(cmd.args().skip(1).all(|arg| arg == &data[..]));
        }
    }

    #[test]
    fn large_argument_counts_fit_the_headroom() {
        let mut cmd = Command::new("MSET");
        for i in 0..10_001 {
            cmd.push_arg(i);
        }
        let bytes = cmd.into_bytes();
        assert!(bytes.starts_with(b"*10002\r\n$4\r\nMSET\r\n"));
    }
}
