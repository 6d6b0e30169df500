//! How long a command's reply may take: the default, or for a blocking
//! command its own timeout argument plus a margin; and whether the command
//! blocks.

use std::time::Duration;

use resp::Command;

/// How a command waits for its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// The reply timeout (`None`: as long as the server takes, for a
    /// blocking command given timeout 0).
    pub(crate) timeout: Option<Duration>,
    /// The command blocks: its clock starts only once it is the oldest on
    /// the socket, when the server starts on it, not while it waits behind
    /// slow commands.
    pub(crate) blocks: bool,
    /// It blocks on something other than the connection's own writes, so
    /// it may run on a connection of its own (BLPOP, XREAD BLOCK, ...; not
    /// WAIT, which waits for the replication of this connection's writes).
    pub(crate) movable: bool,
}

/// The [`Timing`] of `cmd`.
///
/// Blocking commands carry their own timeout, so the default would either
/// cut them short or wait far too long: BLPOP, BRPOP, BRPOPLPUSH, BLMOVE,
/// BZPOPMIN and BZPOPMAX (last argument, seconds), BLMPOP and BZMPOP (first
/// argument, seconds), XREAD and XREADGROUP with `BLOCK` (milliseconds), WAIT
/// and WAITAOF (last argument, milliseconds).
pub(crate) fn timing(name: &[u8], cmd: &Command, default: Duration, margin: Duration) -> Timing {
    let Some((blocks, movable)) = blocking_time(name, cmd) else {
        return Timing {
            timeout: Some(default),
            blocks: false,
            movable: false,
        };
    };
    let timeout = match blocks {
        Blocks::Forever => None,
        Blocks::For(t) => Some(t.saturating_add(margin)),
    };
    Timing {
        timeout,
        blocks: true,
        movable,
    }
}

#[derive(Debug, PartialEq)]
enum Blocks {
    Forever,
    For(Duration),
}

/// How long `cmd` blocks, and whether it may move to a connection of its
/// own; `None` when it does not block (or its timeout makes no sense, which
/// the server will say).
fn blocking_time(name: &[u8], cmd: &Command) -> Option<(Blocks, bool)> {
    // Every blocking command starts with B, X or W: skip the rest cheaply.
    if !matches!(name.first(), Some(b'b' | b'B' | b'x' | b'X' | b'w' | b'W')) {
        return None;
    }
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    let last = || cmd.args().last();
    let (arg, unit_ms, movable) = if [
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BLMOVE",
        "BZPOPMIN",
        "BZPOPMAX",
    ]
    .iter()
    .any(|n| is(n))
    {
        (last()?, false, true)
    } else if is("BLMPOP") || is("BZMPOP") {
        (cmd.args().nth(1)?, false, true)
    } else if is("WAIT") || is("WAITAOF") {
        (last()?, true, false)
    } else if is("XREAD") || is("XREADGROUP") {
        // Options come before STREAMS; after it, "block" is a stream name.
        let mut args = cmd
            .args()
            .take_while(|a| !a.eq_ignore_ascii_case(b"STREAMS"));
        args.find(|a| a.eq_ignore_ascii_case(b"BLOCK"))?;
        (args.next()?, true, true)
    } else {
        return None;
    };
    let amount: f64 = std::str::from_utf8(arg).ok()?.parse().ok()?;
    if !(amount.is_finite() && amount >= 0.0) {
        return None;
    }
    if amount == 0.0 {
        return Some((Blocks::Forever, movable));
    }
    let seconds = if unit_ms { amount / 1000.0 } else { amount };
    Duration::try_from_secs_f64(seconds)
        .ok()
        .map(|t| (Blocks::For(t), movable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use resp::cmd;

    const DEFAULT: Duration = Duration::from_secs(30);
    const MARGIN: Duration = Duration::from_secs(5);

    fn timeout(cmd: Command) -> Option<Duration> {
        timing(cmd.name(), &cmd, DEFAULT, MARGIN).timeout
    }

    fn movable(cmd: Command) -> bool {
        timing(cmd.name(), &cmd, DEFAULT, MARGIN).movable
    }

    #[test]
    fn blocking_commands_use_their_own_timeout() {
        let secs = |s: f64| Some(Duration::from_secs_f64(s) + MARGIN);
        assert_eq!(timeout(cmd!("GET", "k")), Some(DEFAULT));
        assert_eq!(timeout(cmd!("BLPOP", "a", "b", 2)), secs(2.0));
        assert_eq!(timeout(cmd!("brpop", "a", "0.5")), secs(0.5));
        assert_eq!(timeout(cmd!("BLPOP", "a", 0)), None);
        assert_eq!(
            timeout(cmd!("BLMOVE", "a", "b", "LEFT", "RIGHT", 3)),
            secs(3.0)
        );
        assert_eq!(timeout(cmd!("BZPOPMIN", "z", 1)), secs(1.0));
        assert_eq!(timeout(cmd!("BLMPOP", 4, 2, "a", "b", "LEFT")), secs(4.0));
        assert_eq!(timeout(cmd!("BZMPOP", 0, 1, "z", "MIN")), None);
        assert_eq!(
            timeout(cmd!(
                "XREAD", "COUNT", 1, "BLOCK", 1500, "STREAMS", "s", "$"
            )),
            secs(1.5)
        );
        assert_eq!(timeout(cmd!("XREAD", "STREAMS", "s", "0")), Some(DEFAULT));
        assert_eq!(
            timeout(cmd!("XREAD", "STREAMS", "block", "0")),
            Some(DEFAULT)
        );
        assert_eq!(
            timeout(cmd!(
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "block",
                0,
                "STREAMS",
                "s",
                ">"
            )),
            None
        );
        assert_eq!(timeout(cmd!("WAIT", 1, 250)), secs(0.25));
        assert_eq!(timeout(cmd!("WAITAOF", 1, 0, 0)), None);
    }

    #[test]
    fn waiting_for_replication_stays_on_its_connection() {
        assert!(movable(cmd!("BLPOP", "a", 0)));
        assert!(movable(cmd!("XREAD", "BLOCK", 10, "STREAMS", "s", "$")));
        assert!(!movable(cmd!("XREAD", "STREAMS", "s", "$")));
        assert!(!movable(cmd!("WAIT", 1, 0)));
        assert!(!movable(cmd!("WAITAOF", 1, 0, 100)));
        assert!(!movable(cmd!("GET", "k")));
        let wait = cmd!("WAIT", 1, 100);
        assert!(timing(wait.name(), &wait, DEFAULT, MARGIN).blocks);
    }

    #[test]
    fn nonsense_arguments_keep_the_default() {
        assert_eq!(timeout(cmd!("BLPOP", "a", "soon")), Some(DEFAULT));
        assert_eq!(timeout(cmd!("BLPOP", "a", "-1")), Some(DEFAULT));
        assert_eq!(timeout(cmd!("BLPOP", "a", "inf")), Some(DEFAULT));
        assert_eq!(timeout(cmd!("BLPOP")), Some(DEFAULT));
        assert_eq!(timeout(cmd!("BITCOUNT", "k")), Some(DEFAULT));
    }
}
