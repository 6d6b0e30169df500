//! `Commands`: typed Redis commands on anything that can take them.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use resp::{Command, FromValue, ToArgs};

use crate::geo::{GeoMatch, GeoPosition, GeoUnit};
use crate::stream::{AutoClaimed, PendingEntry, PendingSummary, StreamEntry, StreamReads};
use crate::Target;

#[macro_use]
mod generated;

/// Typed Redis commands: one method for each command a shared connection
/// can send, on every [`Target`]. The connection crates supply the targets:
/// a reference to a connection (`redis_paired::PairedConnection`,
/// `ExclusiveConnection`, a cluster connection), where each method sends
/// its command at once and returns the reply future to await, and a
/// pipeline or transaction, where each adds its command and returns the
/// pipeline.
///
/// Values come back as the type the caller names (`String`, `Vec<u8>`,
/// `i64`, ...), keys and values go in as anything [`ToArgs`]; a value that
/// may be missing is an `Option`. Arguments that take "one or more" keys,
/// members or fields accept a single one or a slice, `Vec` or array of
/// them; a `numkeys` argument is counted from the keys given.
///
/// On a connection each method returns the reply to await; here, on a
/// target that keeps the command lines (see [`Target`]), the lines:
///
/// ```
/// use redis_commands::args::LposOptions;
/// use redis_commands::{Commands, Expiry, SetOptions, Target};
/// use resp::{Command, FromValue};
///
/// # #[derive(Default)]
/// # struct Lines(Vec<Command>);
/// # impl Target for &mut Lines {
/// #     type Output<T: FromValue> = ();
/// #     fn queue_command<T: FromValue>(self, cmd: Command) {
/// #         self.0.push(cmd);
/// #     }
/// # }
/// let mut lines = Lines::default();
/// lines.set_with::<bool>("lock", "me", SetOptions::new().nx().expiry(Expiry::Ex(30)));
/// // Optional arguments: the `_with` variant and a builder.
/// lines.lpos_with::<Vec<i64>>("queue", "job-7", LposOptions::new().count(0));
/// let words = |cmd: &Command| cmd.args().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>();
/// assert_eq!(words(&lines.0[0]), ["SET", "lock", "me", "NX", "EX", "30"]);
/// assert_eq!(words(&lines.0[1]), ["LPOS", "queue", "job-7", "COUNT", "0"]);
/// ```
///
/// The methods after the hand-written ones are generated from the
/// server's own documentation of its commands (`cargo xtask gen-commands`):
/// each says its syntax, what the command does and the version that
/// brought it. A reply whose shape depends on the optional arguments
/// (`WITHSCORES`, `COUNT`) is read as the `T` the caller names. Commands
/// that would break a shared connection (`SUBSCRIBE`, `SELECT`,
/// `CLIENT SETNAME`, `MULTI`, ...) have no method; send them with the
/// connection's own `send` and [`resp::cmd!`] where they are allowed, on
/// an exclusive connection.
pub trait Commands: Target {
    // Strings.

    /// `GET key`: the value, or `None` when the key does not exist.
    fn get<T: FromValue>(self, key: impl ToArgs) -> Self::Output<Option<T>> {
        self.queue_command(Command::new("GET").arg(key))
    }

    /// `SET key value`: stores the value, replacing any value and any time
    /// to live the key had.
    fn set(self, key: impl ToArgs, value: impl ToArgs) -> Self::Output<()> {
        self.queue_command(Command::new("SET").arg(key).arg(value))
    }

    /// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]`: the reply
    /// depends on the options, so the caller picks `T`.
    ///
    /// With [`SetOptions::nx`] or [`SetOptions::xx`], `bool` says whether the
    /// value was set; with [`SetOptions::get`], `Option<V>` is the old value
    /// (`None` when there was none); otherwise `()`. Name the type where the
    /// reply is not used (`conn.set_with::<()>(..)`); for the common cases
    /// [`set_ex`](Commands::set_ex), [`set_px`](Commands::set_px) and
    /// [`set_nx`](Commands::set_nx) need none.
    fn set_with<T: FromValue>(
        self,
        key: impl ToArgs,
        value: impl ToArgs,
        options: SetOptions,
    ) -> Self::Output<T> {
        self.queue_command(Command::new("SET").arg(key).arg(value).arg(options))
    }

    /// `SET key value EX seconds`: stores the value with a time to live.
    fn set_ex(self, key: impl ToArgs, value: impl ToArgs, seconds: u64) -> Self::Output<()> {
        self.queue_command(
            Command::new("SET")
                .arg(key)
                .arg(value)
                .arg("EX")
                .arg(seconds),
        )
    }

    /// `SET key value PX milliseconds`: stores the value with a time to live.
    fn set_px(self, key: impl ToArgs, value: impl ToArgs, milliseconds: u64) -> Self::Output<()> {
        self.queue_command(
            Command::new("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(milliseconds),
        )
    }

    /// `SET key value NX`: stores the value only if the key does not exist;
    /// `true` when it was stored.
    fn set_nx(self, key: impl ToArgs, value: impl ToArgs) -> Self::Output<bool> {
        self.queue_command(Command::new("SET").arg(key).arg(value).arg("NX"))
    }

    /// `MGET key [key ...]`: the values in the order of the keys, `None`
    /// for each key that does not exist.
    fn mget<T: FromValue>(self, keys: impl ToArgs) -> Self::Output<Vec<Option<T>>> {
        self.queue_command(Command::new("MGET").arg(keys))
    }

    /// `MSET key value [key value ...]`: stores every pair (given as a slice
    /// of `(key, value)` tuples) at once.
    fn mset(self, pairs: impl ToArgs) -> Self::Output<()> {
        self.queue_command(Command::new("MSET").arg(pairs))
    }

    /// `INCR key`: the value after adding 1 (a missing key counts as 0).
    fn incr(self, key: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("INCR").arg(key))
    }

    /// `INCRBY key delta`: the value after adding `delta` (a missing key
    /// counts as 0).
    fn incr_by(self, key: impl ToArgs, delta: i64) -> Self::Output<i64> {
        self.queue_command(Command::new("INCRBY").arg(key).arg(delta))
    }

    /// `DECR key`: the value after subtracting 1 (a missing key counts as 0).
    fn decr(self, key: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("DECR").arg(key))
    }

    /// `DECRBY key delta`: the value after subtracting `delta` (a missing
    /// key counts as 0).
    fn decr_by(self, key: impl ToArgs, delta: i64) -> Self::Output<i64> {
        self.queue_command(Command::new("DECRBY").arg(key).arg(delta))
    }

    /// `INCRBYFLOAT key delta`: the value after adding `delta` (a missing
    /// key counts as 0).
    fn incr_by_float(self, key: impl ToArgs, delta: f64) -> Self::Output<f64> {
        self.queue_command(Command::new("INCRBYFLOAT").arg(key).arg(delta))
    }

    /// `APPEND key value`: the length of the string after appending (a
    /// missing key counts as empty).
    fn append(self, key: impl ToArgs, value: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("APPEND").arg(key).arg(value))
    }

    /// `GETDEL key`: the value, deleting the key, or `None` when it did not
    /// exist.
    fn getdel<T: FromValue>(self, key: impl ToArgs) -> Self::Output<Option<T>> {
        self.queue_command(Command::new("GETDEL").arg(key))
    }

    /// `GETEX key EX|PX|EXAT|PXAT|PERSIST`: the value, setting or removing
    /// the key's time to live, or `None` when the key does not exist.
    fn getex<T: FromValue>(self, key: impl ToArgs, expiry: Expiry) -> Self::Output<Option<T>> {
        self.queue_command(Command::new("GETEX").arg(key).arg(expiry))
    }

    /// `STRLEN key`: the length of the string value (0 for a missing key).
    fn strlen(self, key: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("STRLEN").arg(key))
    }

    // Keys.

    /// `DEL key [key ...]`: how many of the keys existed and were removed.
    fn del(self, keys: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("DEL").arg(keys))
    }

    /// `UNLINK key [key ...]`: how many of the keys existed; their memory is
    /// reclaimed in the background.
    fn unlink(self, keys: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("UNLINK").arg(keys))
    }

    /// `EXISTS key [key ...]`: how many of the keys exist (a key named twice
    /// counts twice).
    fn exists(self, keys: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("EXISTS").arg(keys))
    }

    /// `EXPIRE key seconds`: true when the time to live was set, false when
    /// the key does not exist.
    fn expire(self, key: impl ToArgs, seconds: i64) -> Self::Output<bool> {
        self.queue_command(Command::new("EXPIRE").arg(key).arg(seconds))
    }

    /// `PEXPIRE key milliseconds`: true when the time to live was set, false
    /// when the key does not exist.
    fn pexpire(self, key: impl ToArgs, milliseconds: i64) -> Self::Output<bool> {
        self.queue_command(Command::new("PEXPIRE").arg(key).arg(milliseconds))
    }

    /// `EXPIREAT key unix-time-seconds`: true when the expiry was set, false
    /// when the key does not exist. A time in the past deletes the key.
    fn expire_at(self, key: impl ToArgs, unix_seconds: i64) -> Self::Output<bool> {
        self.queue_command(Command::new("EXPIREAT").arg(key).arg(unix_seconds))
    }

    /// `TTL key`: the seconds left to live; -1 when the key has no time to
    /// live, -2 when it does not exist.
    fn ttl(self, key: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("TTL").arg(key))
    }

    /// `PTTL key`: the milliseconds left to live; -1 when the key has no
    /// time to live, -2 when it does not exist.
    fn pttl(self, key: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("PTTL").arg(key))
    }

    /// `PERSIST key`: true when a time to live was removed, false when the
    /// key had none or does not exist.
    fn persist(self, key: impl ToArgs) -> Self::Output<bool> {
        self.queue_command(Command::new("PERSIST").arg(key))
    }

    /// `TYPE key`: the type of the value (`string`, `list`, `set`, `zset`,
    /// `hash`, `stream`), or `none` when the key does not exist.
    fn key_type(self, key: impl ToArgs) -> Self::Output<String> {
        self.queue_command(Command::new("TYPE").arg(key))
    }

    /// `RENAME key newkey`: renames the key, replacing `newkey`; fails with
    /// a server error when `key` does not exist.
    fn rename(self, key: impl ToArgs, new_key: impl ToArgs) -> Self::Output<()> {
        self.queue_command(Command::new("RENAME").arg(key).arg(new_key))
    }

    /// `COPY source destination [REPLACE]`: true when the value was copied;
    /// false when `source` does not exist, or `destination` does and
    /// `replace` is false.
    fn copy(
        self,
        source: impl ToArgs,
        destination: impl ToArgs,
        replace: bool,
    ) -> Self::Output<bool> {
        let replace = replace.then_some("REPLACE");
        self.queue_command(
            Command::new("COPY")
                .arg(source)
                .arg(destination)
                .arg(replace),
        )
    }

    // Hashes.

    /// `HGET key field`: the field's value, or `None` when the field or the
    /// key does not exist.
    fn hget<T: FromValue>(self, key: impl ToArgs, field: impl ToArgs) -> Self::Output<Option<T>> {
        self.queue_command(Command::new("HGET").arg(key).arg(field))
    }

    /// `HSET key field value`: true when the field is new, false when its
    /// value was replaced.
    fn hset(self, key: impl ToArgs, field: impl ToArgs, value: impl ToArgs) -> Self::Output<bool> {
        self.queue_command(Command::new("HSET").arg(key).arg(field).arg(value))
    }

    /// `HSET key field value [field value ...]`: sets every pair (given as a
    /// slice of `(field, value)` tuples); the number of fields that were new.
    fn hset_multiple(self, key: impl ToArgs, pairs: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("HSET").arg(key).arg(pairs))
    }

    /// `HGETALL key`: every field and its value (empty for a missing key).
    fn hgetall<F, V>(self, key: impl ToArgs) -> Self::Output<HashMap<F, V>>
    where
        F: FromValue + Eq + Hash,
        V: FromValue,
    {
        self.queue_command(Command::new("HGETALL").arg(key))
    }

    /// `HDEL key field [field ...]`: how many of the fields existed and were
    /// removed.
    fn hdel(self, key: impl ToArgs, fields: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("HDEL").arg(key).arg(fields))
    }

    /// `HEXISTS key field`: whether the field exists.
    fn hexists(self, key: impl ToArgs, field: impl ToArgs) -> Self::Output<bool> {
        self.queue_command(Command::new("HEXISTS").arg(key).arg(field))
    }

    /// `HINCRBY key field delta`: the field's value after adding `delta` (a
    /// missing field counts as 0).
    fn hincr_by(self, key: impl ToArgs, field: impl ToArgs, delta: i64) -> Self::Output<i64> {
        self.queue_command(Command::new("HINCRBY").arg(key).arg(field).arg(delta))
    }

    /// `HKEYS key`: the field names (empty for a missing key).
    fn hkeys<T: FromValue>(self, key: impl ToArgs) -> Self::Output<Vec<T>> {
        self.queue_command(Command::new("HKEYS").arg(key))
    }

    /// `HVALS key`: the field values (empty for a missing key).
    fn hvals<T: FromValue>(self, key: impl ToArgs) -> Self::Output<Vec<T>> {
        self.queue_command(Command::new("HVALS").arg(key))
    }

    /// `HLEN key`: the number of fields (0 for a missing key).
    fn hlen(self, key: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("HLEN").arg(key))
    }

    /// `HMGET key field [field ...]`: the values in the order of the fields,
    /// `None` for each field that does not exist.
    fn hmget<T: FromValue>(
        self,
        key: impl ToArgs,
        fields: impl ToArgs,
    ) -> Self::Output<Vec<Option<T>>> {
        self.queue_command(Command::new("HMGET").arg(key).arg(fields))
    }

    // Lists.

    /// `LPUSH key value [value ...]`: the list's length after pushing the
    /// values onto its head, one after the other.
    fn lpush(self, key: impl ToArgs, values: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("LPUSH").arg(key).arg(values))
    }

    /// `RPUSH key value [value ...]`: the list's length after appending the
    /// values to its tail.
    fn rpush(self, key: impl ToArgs, values: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("RPUSH").arg(key).arg(values))
    }

    /// `LPOP key`: the first element, removed, or `None` when the list is
    /// empty.
    fn lpop<T: FromValue>(self, key: impl ToArgs) -> Self::Output<Option<T>> {
        self.queue_command(Command::new("LPOP").arg(key))
    }

    /// `LPOP key count`: up to `count` elements from the head, removed
    /// (empty when the list is).
    fn lpop_count<T: FromValue>(self, key: impl ToArgs, count: usize) -> Self::Output<Vec<T>> {
        self.queue_command(Command::new("LPOP").arg(key).arg(count))
    }

    /// `RPOP key`: the last element, removed, or `None` when the list is
    /// empty.
    fn rpop<T: FromValue>(self, key: impl ToArgs) -> Self::Output<Option<T>> {
        self.queue_command(Command::new("RPOP").arg(key))
    }

    /// `RPOP key count`: up to `count` elements from the tail, last first,
    /// removed (empty when the list is).
    fn rpop_count<T: FromValue>(self, key: impl ToArgs, count: usize) -> Self::Output<Vec<T>> {
        self.queue_command(Command::new("RPOP").arg(key).arg(count))
    }

    /// `LRANGE key start stop`: the elements from `start` to `stop`, both
    /// included; negative indexes count from the end (-1 is the last).
    fn lrange<T: FromValue>(self, key: impl ToArgs, start: i64, stop: i64) -> Self::Output<Vec<T>> {
        self.queue_command(Command::new("LRANGE").arg(key).arg(start).arg(stop))
    }

    /// `LLEN key`: the list's length (0 for a missing key).
    fn llen(self, key: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("LLEN").arg(key))
    }

    /// `LREM key count value`: how many elements equal to `value` were
    /// removed: the first `count` from the head if positive, from the tail
    /// if negative, all if 0.
    fn lrem(self, key: impl ToArgs, count: i64, value: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("LREM").arg(key).arg(count).arg(value))
    }

    /// `LTRIM key start stop`: keeps only the elements from `start` to
    /// `stop`, both included.
    fn ltrim(self, key: impl ToArgs, start: i64, stop: i64) -> Self::Output<()> {
        self.queue_command(Command::new("LTRIM").arg(key).arg(start).arg(stop))
    }

    /// `LINDEX key index`: the element at `index` (negative counts from the
    /// end), or `None` when out of range.
    fn lindex<T: FromValue>(self, key: impl ToArgs, index: i64) -> Self::Output<Option<T>> {
        self.queue_command(Command::new("LINDEX").arg(key).arg(index))
    }

    /// `BLPOP key [key ...] timeout`: the key and the first element of the
    /// first non-empty list, removed, waiting up to `timeout_seconds` for
    /// one (0 waits forever); `None` on timeout.
    ///
    /// The reply is awaited for the timeout plus the blocking margin
    /// (`redis_paired::Options::with_blocking_margin`). On a
    /// `PairedConnection` the command runs on a connection of its own, so
    /// it holds up no other caller, however long it waits; dropping the
    /// reply future closes that connection and ends the wait on the server
    /// too. On an `ExclusiveConnection` it holds that connection for as
    /// long as it waits.
    fn blpop<K: FromValue, T: FromValue>(
        self,
        keys: impl ToArgs,
        timeout_seconds: f64,
    ) -> Self::Output<Option<(K, T)>> {
        self.queue_command(Command::new("BLPOP").arg(keys).arg(timeout_seconds))
    }

    /// `BRPOP key [key ...] timeout`: as [`blpop`](Commands::blpop), from
    /// the tail.
    fn brpop<K: FromValue, T: FromValue>(
        self,
        keys: impl ToArgs,
        timeout_seconds: f64,
    ) -> Self::Output<Option<(K, T)>> {
        self.queue_command(Command::new("BRPOP").arg(keys).arg(timeout_seconds))
    }

    /// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`: the element
    /// moved from the `from` end of `source` to the `to` end of
    /// `destination`, waiting up to `timeout_seconds` for one (0 waits
    /// forever); `None` on timeout.
    fn blmove<T: FromValue>(
        self,
        source: impl ToArgs,
        destination: impl ToArgs,
        from: Direction,
        to: Direction,
        timeout_seconds: f64,
    ) -> Self::Output<Option<T>> {
        let cmd = Command::new("BLMOVE")
            .arg(source)
            .arg(destination)
            .arg(from)
            .arg(to);
        self.queue_command(cmd.arg(timeout_seconds))
    }

    // Sets.

    /// `SADD key member [member ...]`: how many of the members were new.
    fn sadd(self, key: impl ToArgs, members: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("SADD").arg(key).arg(members))
    }

    /// `SREM key member [member ...]`: how many of the members were there
    /// and were removed.
    fn srem(self, key: impl ToArgs, members: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("SREM").arg(key).arg(members))
    }

    /// `SMEMBERS key`: every member (empty for a missing key).
    fn smembers<T: FromValue + Eq + Hash>(self, key: impl ToArgs) -> Self::Output<HashSet<T>> {
        self.queue_command(Command::new("SMEMBERS").arg(key))
    }

    /// `SISMEMBER key member`: whether `member` is in the set.
    fn sismember(self, key: impl ToArgs, member: impl ToArgs) -> Self::Output<bool> {
        self.queue_command(Command::new("SISMEMBER").arg(key).arg(member))
    }

    /// `SCARD key`: the number of members (0 for a missing key).
    fn scard(self, key: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("SCARD").arg(key))
    }

    /// `SPOP key`: a random member, removed, or `None` when the set is
    /// empty.
    fn spop<T: FromValue>(self, key: impl ToArgs) -> Self::Output<Option<T>> {
        self.queue_command(Command::new("SPOP").arg(key))
    }

    /// `SINTER key [key ...]`: the members in every one of the sets (a
    /// missing key is an empty set).
    fn sinter<T: FromValue + Eq + Hash>(self, keys: impl ToArgs) -> Self::Output<HashSet<T>> {
        self.queue_command(Command::new("SINTER").arg(keys))
    }

    /// `SUNION key [key ...]`: the members in any of the sets.
    fn sunion<T: FromValue + Eq + Hash>(self, keys: impl ToArgs) -> Self::Output<HashSet<T>> {
        self.queue_command(Command::new("SUNION").arg(keys))
    }

    // Sorted sets.

    /// `ZADD key score member`: true when the member is new, false when its
    /// score was updated.
    fn zadd(self, key: impl ToArgs, member: impl ToArgs, score: f64) -> Self::Output<bool> {
        self.queue_command(Command::new("ZADD").arg(key).arg(score).arg(member))
    }

    /// `ZADD key score member [score member ...]`: adds or updates every
    /// `(member, score)`; the number of members that were new.
    fn zadd_multiple<M: ToArgs>(self, key: impl ToArgs, members: &[(M, f64)]) -> Self::Output<i64> {
        let mut cmd = Command::new("ZADD").arg(key);
        for (member, score) in members {
            cmd.push_arg(*score).push_arg(member);
        }
        self.queue_command(cmd)
    }

    /// `ZREM key member [member ...]`: how many of the members were there and
    /// were removed.
    fn zrem(self, key: impl ToArgs, members: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("ZREM").arg(key).arg(members))
    }

    /// `ZSCORE key member`: the member's score, or `None` when the member or
    /// the key does not exist.
    fn zscore(self, key: impl ToArgs, member: impl ToArgs) -> Self::Output<Option<f64>> {
        self.queue_command(Command::new("ZSCORE").arg(key).arg(member))
    }

    /// `ZINCRBY key delta member`: the member's score after adding `delta`
    /// (a missing member counts as 0).
    fn zincr_by(self, key: impl ToArgs, member: impl ToArgs, delta: f64) -> Self::Output<f64> {
        self.queue_command(Command::new("ZINCRBY").arg(key).arg(delta).arg(member))
    }

    /// `ZRANGE key start stop`: the members ranked `start` to `stop`, both
    /// included, lowest score first; negative ranks count from the end.
    fn zrange<T: FromValue>(self, key: impl ToArgs, start: i64, stop: i64) -> Self::Output<Vec<T>> {
        self.queue_command(Command::new("ZRANGE").arg(key).arg(start).arg(stop))
    }

    /// `ZRANGE key start stop WITHSCORES`: as [`zrange`](Commands::zrange),
    /// each member with its score.
    fn zrange_with_scores<T: FromValue>(
        self,
        key: impl ToArgs,
        start: i64,
        stop: i64,
    ) -> Self::Output<Vec<(T, f64)>> {
        self.queue_command(
            Command::new("ZRANGE")
                .arg(key)
                .arg(start)
                .arg(stop)
                .arg("WITHSCORES"),
        )
    }

    /// `ZRANGEBYSCORE key min max`: the members with a score from `min` to
    /// `max`, lowest first. The bounds are numbers, `"-inf"`/`"+inf"`, or
    /// strings such as `"(1.5"` for an exclusive bound.
    fn zrangebyscore<T: FromValue>(
        self,
        key: impl ToArgs,
        min: impl ToArgs,
        max: impl ToArgs,
    ) -> Self::Output<Vec<T>> {
        self.queue_command(Command::new("ZRANGEBYSCORE").arg(key).arg(min).arg(max))
    }

    /// `ZRANK key member`: the member's rank, 0 for the lowest score, or
    /// `None` when the member or the key does not exist.
    fn zrank(self, key: impl ToArgs, member: impl ToArgs) -> Self::Output<Option<i64>> {
        self.queue_command(Command::new("ZRANK").arg(key).arg(member))
    }

    /// `ZCARD key`: the number of members (0 for a missing key).
    fn zcard(self, key: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("ZCARD").arg(key))
    }

    /// `ZCOUNT key min max`: how many members have a score from `min` to
    /// `max` (bounds as for [`zrangebyscore`](Commands::zrangebyscore)).
    fn zcount(self, key: impl ToArgs, min: impl ToArgs, max: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("ZCOUNT").arg(key).arg(min).arg(max))
    }

    /// `ZPOPMIN key count`: up to `count` members with the lowest scores,
    /// removed, lowest first (empty when the set is).
    fn zpopmin<T: FromValue>(self, key: impl ToArgs, count: usize) -> Self::Output<Vec<(T, f64)>> {
        self.queue_command(Command::new("ZPOPMIN").arg(key).arg(count))
    }

    /// `ZPOPMAX key count`: up to `count` members with the highest scores,
    /// removed, highest first (empty when the set is).
    fn zpopmax<T: FromValue>(self, key: impl ToArgs, count: usize) -> Self::Output<Vec<(T, f64)>> {
        self.queue_command(Command::new("ZPOPMAX").arg(key).arg(count))
    }

    /// `BZPOPMIN key [key ...] timeout`: the key, member and score of the
    /// lowest member of the first non-empty set, removed, waiting up to
    /// `timeout_seconds` for one (0 waits forever); `None` on timeout.
    fn bzpopmin<K: FromValue, T: FromValue>(
        self,
        keys: impl ToArgs,
        timeout_seconds: f64,
    ) -> Self::Output<Option<(K, T, f64)>> {
        self.queue_command(Command::new("BZPOPMIN").arg(keys).arg(timeout_seconds))
    }

    /// `BZPOPMAX key [key ...] timeout`: as [`bzpopmin`](Commands::bzpopmin),
    /// the highest member.
    fn bzpopmax<K: FromValue, T: FromValue>(
        self,
        keys: impl ToArgs,
        timeout_seconds: f64,
    ) -> Self::Output<Option<(K, T, f64)>> {
        self.queue_command(Command::new("BZPOPMAX").arg(keys).arg(timeout_seconds))
    }

    // Streams.

    /// `XADD key * field value [field value ...]`: appends an entry with
    /// the fields (`("temp", 21)`, or a slice of pairs) and an ID the server
    /// picks; the ID.
    fn xadd(self, key: impl ToArgs, fields: impl ToArgs) -> Self::Output<String> {
        self.queue_command(Command::new("XADD").arg(key).arg("*").arg(fields))
    }

    /// `XADD key MAXLEN ~ max_len * field value ...`: as
    /// [`xadd`](Commands::xadd), trimming the stream to about `max_len`
    /// entries (`~`: whole nodes at a time, which is much cheaper).
    fn xadd_capped(
        self,
        key: impl ToArgs,
        max_len: u64,
        fields: impl ToArgs,
    ) -> Self::Output<String> {
        let cmd = Command::new("XADD")
            .arg(key)
            .arg("MAXLEN")
            .arg("~")
            .arg(max_len)
            .arg("*")
            .arg(fields);
        self.queue_command(cmd)
    }

    /// `XLEN key`: how many entries the stream has.
    fn xlen(self, key: impl ToArgs) -> Self::Output<u64> {
        self.queue_command(Command::new("XLEN").arg(key))
    }

    /// `XRANGE key start end [COUNT count]`: entries from `start` to `end`
    /// (`"-"` and `"+"` for the ends), oldest first, at most `count`.
    fn xrange(
        self,
        key: impl ToArgs,
        start: impl ToArgs,
        end: impl ToArgs,
        count: Option<u64>,
    ) -> Self::Output<Vec<StreamEntry>> {
        let mut cmd = Command::new("XRANGE").arg(key).arg(start).arg(end);
        if let Some(count) = count {
            cmd = cmd.arg("COUNT").arg(count);
        }
        self.queue_command(cmd)
    }

    /// `XREVRANGE key end start [COUNT count]`: as
    /// [`xrange`](Commands::xrange), newest first.
    fn xrevrange(
        self,
        key: impl ToArgs,
        end: impl ToArgs,
        start: impl ToArgs,
        count: Option<u64>,
    ) -> Self::Output<Vec<StreamEntry>> {
        let mut cmd = Command::new("XREVRANGE").arg(key).arg(end).arg(start);
        if let Some(count) = count {
            cmd = cmd.arg("COUNT").arg(count);
        }
        self.queue_command(cmd)
    }

    /// `XREAD [COUNT count] [BLOCK ms] STREAMS key ... id ...`: entries after
    /// the given ID of each stream (`"$"`: only new ones, with `block`), at
    /// most `count` a stream. With `block`, waits up to that long for one
    /// (`Duration::ZERO` waits forever); on a shared connection it waits on
    /// a connection of its own, holding up no other caller. Empty on
    /// timeout.
    fn xread(
        self,
        streams: &[(&str, &str)],
        count: Option<u64>,
        block: Option<std::time::Duration>,
    ) -> Self::Output<StreamReads> {
        let mut cmd = Command::new("XREAD");
        read_options(&mut cmd, count, block, false);
        self.queue_command(streams_args(cmd, streams))
    }

    /// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK]
    /// STREAMS key ... id ...`: entries for `consumer` of the consumer
    /// `group` (`">"`: never delivered to the group; another ID: this
    /// consumer's pending entries after it). Blocking as
    /// [`xread`](Commands::xread); with `no_ack` the entries are not kept
    /// pending.
    fn xreadgroup(
        self,
        group: &str,
        consumer: &str,
        streams: &[(&str, &str)],
        count: Option<u64>,
        block: Option<std::time::Duration>,
        no_ack: bool,
    ) -> Self::Output<StreamReads> {
        let mut cmd = Command::new("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer);
        read_options(&mut cmd, count, block, no_ack);
        self.queue_command(streams_args(cmd, streams))
    }

    /// `XGROUP CREATE key group id [MKSTREAM]`: a consumer group that reads
    /// after `id` (`"$"`: only new entries, `"0"`: all of them); with
    /// `make_stream`, the stream is created if missing.
    fn xgroup_create(
        self,
        key: impl ToArgs,
        group: impl ToArgs,
        id: impl ToArgs,
        make_stream: bool,
    ) -> Self::Output<()> {
        let mut cmd = Command::new("XGROUP")
            .arg("CREATE")
            .arg(key)
            .arg(group)
            .arg(id);
        if make_stream {
            cmd = cmd.arg("MKSTREAM");
        }
        self.queue_command(cmd)
    }

    /// `XACK key group id [id ...]`: how many of the entries were pending and
    /// are acknowledged now.
    fn xack(self, key: impl ToArgs, group: impl ToArgs, ids: impl ToArgs) -> Self::Output<u64> {
        self.queue_command(Command::new("XACK").arg(key).arg(group).arg(ids))
    }

    /// `XPENDING key group`: how many entries the group has pending, and
    /// for which consumers.
    fn xpending(self, key: impl ToArgs, group: impl ToArgs) -> Self::Output<PendingSummary> {
        self.queue_command(Command::new("XPENDING").arg(key).arg(group))
    }

    /// `XPENDING key group start end count`: the pending entries from
    /// `start` to `end` (`"-"`, `"+"`), at most `count`, with their
    /// consumer, idle time and delivery count.
    fn xpending_range(
        self,
        key: impl ToArgs,
        group: impl ToArgs,
        start: impl ToArgs,
        end: impl ToArgs,
        count: u64,
    ) -> Self::Output<Vec<PendingEntry>> {
        let cmd = Command::new("XPENDING")
            .arg(key)
            .arg(group)
            .arg(start)
            .arg(end)
            .arg(count);
        self.queue_command(cmd)
    }

    /// `XCLAIM key group consumer min-idle-time id [id ...]`: takes the
    /// entries pending for at least `min_idle` over for `consumer`; the
    /// entries claimed.
    fn xclaim(
        self,
        key: impl ToArgs,
        group: impl ToArgs,
        consumer: impl ToArgs,
        min_idle: std::time::Duration,
        ids: impl ToArgs,
    ) -> Self::Output<Vec<StreamEntry>> {
        let cmd = Command::new("XCLAIM")
            .arg(key)
            .arg(group)
            .arg(consumer)
            .arg(u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX))
            .arg(ids);
        self.queue_command(cmd)
    }

    /// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count]`:
    /// claims up to `count` entries pending for at least `min_idle`, from
    /// `start` (`"0-0"` at first, then [`AutoClaimed::next`]).
    fn xautoclaim(
        self,
        key: impl ToArgs,
        group: impl ToArgs,
        consumer: impl ToArgs,
        min_idle: std::time::Duration,
        start: impl ToArgs,
        count: u64,
    ) -> Self::Output<AutoClaimed> {
        let cmd = Command::new("XAUTOCLAIM")
            .arg(key)
            .arg(group)
            .arg(consumer)
            .arg(u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX))
            .arg(start)
            .arg("COUNT")
            .arg(count);
        self.queue_command(cmd)
    }

    /// `XDEL key id [id ...]`: how many of the entries existed and are
    /// deleted now.
    fn xdel(self, key: impl ToArgs, ids: impl ToArgs) -> Self::Output<u64> {
        self.queue_command(Command::new("XDEL").arg(key).arg(ids))
    }

    /// `XTRIM key MAXLEN [~] max_len`: trims the stream to `max_len` entries
    /// (about that many with `approximate`, which is much cheaper); how
    /// many were deleted.
    fn xtrim(self, key: impl ToArgs, max_len: u64, approximate: bool) -> Self::Output<u64> {
        let mut cmd = Command::new("XTRIM").arg(key).arg("MAXLEN");
        if approximate {
            cmd = cmd.arg("~");
        }
        self.queue_command(cmd.arg(max_len))
    }

    // Geo.

    /// `GEOADD key longitude latitude member [...]`: how many members were
    /// added (not counting those moved).
    fn geoadd<M: ToArgs>(self, key: impl ToArgs, points: &[(f64, f64, M)]) -> Self::Output<i64> {
        let mut cmd = Command::new("GEOADD").arg(key);
        for (longitude, latitude, member) in points {
            cmd.push_arg(*longitude)
                .push_arg(*latitude)
                .push_arg(member);
        }
        self.queue_command(cmd)
    }

    /// `GEOPOS key member [member ...]`: each member's position, `None` for
    /// a member that is not there.
    fn geopos(
        self,
        key: impl ToArgs,
        members: impl ToArgs,
    ) -> Self::Output<Vec<Option<GeoPosition>>> {
        self.queue_command(Command::new("GEOPOS").arg(key).arg(members))
    }

    /// `GEODIST key member1 member2 unit`: the distance between two members,
    /// `None` when either is missing.
    fn geodist(
        self,
        key: impl ToArgs,
        from: impl ToArgs,
        to: impl ToArgs,
        unit: GeoUnit,
    ) -> Self::Output<Option<f64>> {
        self.queue_command(Command::new("GEODIST").arg(key).arg(from).arg(to).arg(unit))
    }

    /// `GEOSEARCH key FROMLONLAT lon lat BYRADIUS radius unit ASC [COUNT
    /// count] WITHCOORD WITHDIST`: the members within `radius` of a point,
    /// nearest first, at most `count`, with their distance and position.
    fn geosearch_radius(
        self,
        key: impl ToArgs,
        center: GeoPosition,
        radius: f64,
        unit: GeoUnit,
        count: Option<u64>,
    ) -> Self::Output<Vec<GeoMatch>> {
        let mut cmd = Command::new("GEOSEARCH")
            .arg(key)
            .arg("FROMLONLAT")
            .arg(center.longitude)
            .arg(center.latitude)
            .arg("BYRADIUS")
            .arg(radius)
            .arg(unit)
            .arg("ASC");
        if let Some(count) = count {
            cmd = cmd.arg("COUNT").arg(count);
        }
        self.queue_command(cmd.arg("WITHCOORD").arg("WITHDIST"))
    }

    // Server and connection.

    /// `PUBLISH channel message`: how many subscribers received the message.
    fn publish(self, channel: impl ToArgs, message: impl ToArgs) -> Self::Output<i64> {
        self.queue_command(Command::new("PUBLISH").arg(channel).arg(message))
    }

    /// `PING`: `PONG`.
    fn ping(self) -> Self::Output<String> {
        self.queue_command(Command::new("PING"))
    }

    /// `DBSIZE`: the number of keys in the selected database.
    fn dbsize(self) -> Self::Output<i64> {
        self.queue_command(Command::new("DBSIZE"))
    }

    /// `FLUSHDB`: deletes every key of the selected database.
    fn flushdb(self) -> Self::Output<()> {
        self.queue_command(Command::new("FLUSHDB"))
    }

    /// `INFO`: the server's report, as text of `# Section` headers and
    /// `field:value` lines.
    fn info(self) -> Self::Output<String> {
        self.queue_command(Command::new("INFO"))
    }

    /// `INFO section [section ...]`: the report's named sections only
    /// (`"server"`, `"memory"`, `"keyspace"`, ...).
    fn info_sections(self, sections: impl ToArgs) -> Self::Output<String> {
        self.queue_command(Command::new("INFO").arg(sections))
    }

    // Every other command of the catalogue, generated (`commands/generated.rs`).
    generated_commands!();
}

impl<T: Target> Commands for T {}

/// `[COUNT count] [BLOCK ms] [NOACK]` of `XREAD` and `XREADGROUP`.
fn read_options(
    cmd: &mut Command,
    count: Option<u64>,
    block: Option<std::time::Duration>,
    no_ack: bool,
) {
    if let Some(count) = count {
        cmd.push_arg("COUNT").push_arg(count);
    }
    if let Some(block) = block {
        let ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX);
        cmd.push_arg("BLOCK").push_arg(ms);
    }
    if no_ack {
        cmd.push_arg("NOACK");
    }
}

/// `STREAMS key ... id ...`: the keys first, then their IDs in the same
/// order.
fn streams_args(mut cmd: Command, streams: &[(&str, &str)]) -> Command {
    cmd.push_arg("STREAMS");
    for (key, _) in streams {
        cmd.push_arg(*key);
    }
    for (_, id) in streams {
        cmd.push_arg(*id);
    }
    cmd
}

/// The options of [`Commands::set_with`]: `SET`'s time to live, condition
/// and `GET`, named after `SET`'s own flags.
///
/// ```
/// use redis_commands::{Expiry, SetOptions};
///
/// // SET key value NX GET PX 1500
/// let options = SetOptions::new().nx().get().expiry(Expiry::Px(1500));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions {
    ttl: Ttl,
    condition: Option<Condition>,
    get: bool,
}

impl SetOptions {
    /// No options: `SET` replaces the value and discards any time to live.
    pub const fn new() -> SetOptions {
        SetOptions {
            ttl: Ttl::Discard,
            condition: None,
            get: false,
        }
    }

    /// `EX`, `PX`, `EXAT` or `PXAT`: the new value's time to live.
    /// [`Expiry::Persist`] is `SET`'s default: no time to live.
    pub const fn expiry(mut self, expiry: Expiry) -> SetOptions {
        self.ttl = match expiry {
            Expiry::Persist => Ttl::Discard,
            other => Ttl::Set(other),
        };
        self
    }

    /// `KEEPTTL`: keep the time to live the key had.
    pub const fn keep_ttl(mut self) -> SetOptions {
        self.ttl = Ttl::Keep;
        self
    }

    /// `NX`: set only if the key does not exist.
    pub const fn nx(mut self) -> SetOptions {
        self.condition = Some(Condition::Nx);
        self
    }

    /// `XX`: set only if the key already exists.
    pub const fn xx(mut self) -> SetOptions {
        self.condition = Some(Condition::Xx);
        self
    }

    /// `GET`: reply with the old value (a null when there was none).
    pub const fn get(mut self) -> SetOptions {
        self.get = true;
        self
    }
}

impl ToArgs for SetOptions {
    fn write_args(&self, cmd: &mut Command) {
        match self.condition {
            Some(Condition::Nx) => cmd.push_bulk(b"NX"),
            Some(Condition::Xx) => cmd.push_bulk(b"XX"),
            None => {}
        }
        if self.get {
            cmd.push_bulk(b"GET");
        }
        match self.ttl {
            Ttl::Discard => {}
            Ttl::Keep => cmd.push_bulk(b"KEEPTTL"),
            Ttl::Set(expiry) => expiry.write_args(cmd),
        }
    }
}

/// A key's time to live: relative (`EX`, `PX`), absolute (`EXAT`, `PXAT`),
/// or none (`PERSIST`). Used by [`Commands::getex`] and
/// [`SetOptions::expiry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// `EX`: expire after this many seconds.
    Ex(u64),
    /// `PX`: expire after this many milliseconds.
    Px(u64),
    /// `EXAT`: expire at this Unix time, in seconds.
    ExAt(u64),
    /// `PXAT`: expire at this Unix time, in milliseconds.
    PxAt(u64),
    /// `PERSIST`: remove the time to live.
    Persist,
}

impl ToArgs for Expiry {
    fn write_args(&self, cmd: &mut Command) {
        let (flag, n): (&[u8], u64) = match *self {
            Expiry::Ex(n) => (b"EX", n),
            Expiry::Px(n) => (b"PX", n),
            Expiry::ExAt(n) => (b"EXAT", n),
            Expiry::PxAt(n) => (b"PXAT", n),
            Expiry::Persist => return cmd.push_bulk(b"PERSIST"),
        };
        cmd.push_bulk(flag);
        cmd.push_int(n);
    }
}

/// An end of a list, for [`Commands::blmove`]: `LEFT` is the head, `RIGHT`
/// the tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `LEFT`: the head, where `LPUSH` adds.
    Left,
    /// `RIGHT`: the tail, where `RPUSH` adds.
    Right,
}

impl ToArgs for Direction {
    fn write_args(&self, cmd: &mut Command) {
        let side: &[u8] = match self {
            Direction::Left => b"LEFT",
            Direction::Right => b"RIGHT",
        };
        cmd.push_bulk(side);
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Ttl {
    /// SET's default: the new value has no time to live.
    #[default]
    Discard,
    Keep,
    Set(Expiry),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Nx,
    Xx,
}

#[cfg(test)]
mod tests {
    use super::*;
    use resp::cmd;

    fn args(cmd: Command) -> Vec<String> {
        cmd.args()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn set_options_spell_sets_flags() {
        let set = |options: SetOptions| args(cmd!("SET", "k", "v", options))[3..].join(" ");
        assert_eq!(set(SetOptions::new()), "");
        assert_eq!(set(SetOptions::new().nx()), "NX");
        assert_eq!(
            set(SetOptions::new().xx().get().keep_ttl()),
            "XX GET KEEPTTL"
        );
        assert_eq!(
            set(SetOptions::new().expiry(Expiry::Ex(60)).nx()),
            "NX EX 60"
        );
        assert_eq!(
            set(SetOptions::new()
                .get()
                .expiry(Expiry::PxAt(1_700_000_000_000))),
            "GET PXAT 1700000000000"
        );
        assert_eq!(
            set(SetOptions::new().keep_ttl().expiry(Expiry::Persist)),
            ""
        );
        assert_eq!(
            set(SetOptions::new().expiry(Expiry::Px(5)).keep_ttl()),
            "KEEPTTL"
        );
    }

    #[test]
    fn expiry_and_direction_spell_their_flags() {
        assert_eq!(
            args(cmd!("GETEX", "k", Expiry::ExAt(7))),
            ["GETEX", "k", "EXAT", "7"]
        );
        assert_eq!(
            args(cmd!("GETEX", "k", Expiry::Persist)),
            ["GETEX", "k", "PERSIST"]
        );
        assert_eq!(
            args(cmd!(
                "BLMOVE",
                "a",
                "b",
                Direction::Left,
                Direction::Right,
                1
            )),
            ["BLMOVE", "a", "b", "LEFT", "RIGHT", "1"]
        );
    }
}

/// Arguments kept for later: one optional argument of a generated
/// builder (`crate::args`), written where the command line places it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArgSlot(Option<Command>);

impl ArgSlot {
    /// Replaces what the slot holds with `args`.
    pub(crate) fn set(&mut self, args: impl ToArgs) {
        self.0 = None;
        self.append(args);
    }

    /// Adds `args` after what the slot holds.
    pub(crate) fn append(&mut self, args: impl ToArgs) {
        // The scratch command's name is a placeholder, never written.
        self.0
            .get_or_insert_with(|| Command::with_capacity("", 32))
            .push_arg(args);
    }

    /// Writes the slot's arguments onto `cmd`.
    pub(crate) fn write(&self, cmd: &mut Command) {
        if let Some(held) = &self.0 {
            for arg in held.args().skip(1) {
                cmd.push_bulk(arg);
            }
        }
    }
}

/// Arguments preceded by how many there are: the `numkeys` of `ZINTER`,
/// `LMPOP`, `EVAL`, ...
pub(crate) struct Counted<A>(pub(crate) A);

impl<A: ToArgs> ToArgs for Counted<A> {
    fn write_args(&self, cmd: &mut Command) {
        let mut held = ArgSlot::default();
        held.set(&self.0);
        let count = held.0.as_ref().map_or(0, |c| c.len() - 1);
        cmd.push_int(count);
        held.write(cmd);
    }
}
