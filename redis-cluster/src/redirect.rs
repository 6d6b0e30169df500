//! What a cluster's error replies ask of a client: `MOVED` and `ASK` send a
//! command to another node, `TRYAGAIN` and `CLUSTERDOWN` ask it to wait.
//! Each means the command did not run, so sending it again sends nothing
//! twice.

use redis_conn::Error;

use crate::topology::NodeAddr;

/// A reply that asks for the command to be sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// `MOVED slot host:port`: the slot lives there now, for good.
    Moved {
        /// The slot of the command's keys.
        slot: u16,
        /// Its owner.
        addr: NodeAddr,
    },
    /// `ASK slot host:port`: the slot is being migrated and this key is
    /// already there; ask that node once, after `ASKING`.
    Ask {
        /// The slot of the command's keys.
        slot: u16,
        /// The node importing the slot.
        addr: NodeAddr,
    },
    /// `TRYAGAIN`: a multi-key command whose keys are split by a migration
    /// in progress; try again shortly.
    TryAgain,
    /// `CLUSTERDOWN`: the cluster cannot serve the slot now (a failover in
    /// progress); try again shortly.
    ClusterDown,
    /// `LOADING`: the node (a replica just started or resynchronising) is
    /// loading its data set; the slot's primary is asked instead, shortly.
    Loading,
}

impl Redirect {
    /// The code of the reply that asked: `MOVED`, `ASK`, `TRYAGAIN`,
    /// `CLUSTERDOWN` or `LOADING`.
    pub fn code(&self) -> &'static str {
        match self {
            Redirect::Moved { .. } => "MOVED",
            Redirect::Ask { .. } => "ASK",
            Redirect::TryAgain => "TRYAGAIN",
            Redirect::ClusterDown => "CLUSTERDOWN",
            Redirect::Loading => "LOADING",
        }
    }

    /// The redirect `error` asks for, if it is one.
    pub fn of(error: &Error) -> Option<Redirect> {
        let Error::Server(reply) = error else {
            return None;
        };
        let message = reply.message();
        match reply.code() {
            "MOVED" | "ASK" => {
                let mut parts = message.split_ascii_whitespace();
                let slot = parts.next()?.parse().ok()?;
                let addr = NodeAddr::parse(parts.next()?)?;
                Some(if reply.code() == "MOVED" {
                    Redirect::Moved { slot, addr }
                } else {
                    Redirect::Ask { slot, addr }
                })
            }
            "TRYAGAIN" => Some(Redirect::TryAgain),
            "CLUSTERDOWN" => Some(Redirect::ClusterDown),
            "LOADING" => Some(Redirect::Loading),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &str) -> Error {
        Error::Server(resp::ServerError::new(text.to_string()))
    }

    #[test]
    fn redirects_are_read_from_error_replies() {
        let addr = |s| NodeAddr::parse(s).unwrap();
        let cases = [
            (
                "MOVED 3999 127.0.0.1:6381",
                Some(Redirect::Moved {
                    slot: 3999,
                    addr: addr("127.0.0.1:6381"),
                }),
            ),
            (
                "ASK 3999 10.0.0.2:7000",
                Some(Redirect::Ask {
                    slot: 3999,
                    addr: addr("10.0.0.2:7000"),
                }),
            ),
            (
                "MOVED 3999 [::1]:7000",
                Some(Redirect::Moved {
                    slot: 3999,
                    addr: addr("[::1]:7000"),
                }),
            ),
            (
                "TRYAGAIN Multiple keys request during rehashing of slot",
                Some(Redirect::TryAgain),
            ),
            (
                "CLUSTERDOWN The cluster is down",
                Some(Redirect::ClusterDown),
            ),
            (
                "LOADING Redis is loading the dataset in memory",
                Some(Redirect::Loading),
            ),
            ("MOVED", None),
            ("MOVED x 127.0.0.1:1", None),
            ("MOVED 1 nowhere", None),
            ("ERR wrong number of arguments", None),
            ("WRONGTYPE Operation against a key", None),
        ];
        for (text, expected) in cases {
            assert_eq!(Redirect::of(&server(text)), expected, "{text}");
        }
        assert_eq!(Redirect::of(&Error::Closed), None);
    }
}
