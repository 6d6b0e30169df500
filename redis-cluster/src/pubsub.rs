//! Publish/subscribe on a cluster: `SSUBSCRIBE` at the node that owns the
//! channel's slot, `SUBSCRIBE` and `PSUBSCRIBE` at one node (the cluster
//! passes every `PUBLISH` to all), each subscription following its node's
//! replacement after a failover.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use redis_conn::{ClusterError, Error};
use redis_pubsub::{Event, Kind, Subscription};
use tokio::sync::mpsc;

use crate::connection::Inner;
use crate::redirect::Redirect;
use crate::slot::key_slot;
use crate::topology::NodeAddr;

/// How many events wait for a slow reader before newer messages are
/// dropped for it (and counted in an [`Event::Lagged`]).
const BUFFER: usize = 1024;

/// How often a subscription whose node is gone checks where it should be.
const RECHECK: Duration = Duration::from_millis(200);

/// The events of a cluster subscription: the [`Event`]s of `redis-pubsub`.
///
/// When the node it lives on goes away, or ends a sharded subscription
/// because the channel's slot moved, the stream yields
/// [`Event::Disconnected`]; once the cluster names another node for it (the
/// replica promoted in a failover, the slot's new owner), it subscribes
/// there and yields [`Event::Resubscribed`]. Messages published in between are lost, as on a
/// single server. Dropping the stream unsubscribes.
#[derive(Debug)]
pub struct ClusterSubscription {
    events: mpsc::Receiver<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl Stream for ClusterSubscription {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for ClusterSubscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Subscribes to `names` of `kind` and starts the task that keeps the
/// subscription where it belongs.
pub(crate) async fn subscribe(
    inner: Arc<Inner>,
    kind: Kind,
    names: Vec<Bytes>,
) -> Result<ClusterSubscription, Error> {
    // A sharded subscription lives with its channels' slot; they must share
    // one, as the server requires.
    let slot = match kind {
        Kind::Shard => {
            let mut slots = names.iter().map(|n| key_slot(n));
            let first = slots.next();
            if slots.any(|s| Some(s) != first) {
                return Err(Error::Cluster(ClusterError::CrossSlotTransaction));
            }
            first
        }
        _ => None,
    };
    let node = inner.owner(slot)?;
    let subscription = subscribe_at(&inner, &node, kind, &names).await?;
    let (tx, events) = mpsc::channel(BUFFER);
    let task = tokio::spawn(follow(inner, kind, names, slot, node, subscription, tx));
    Ok(ClusterSubscription { events, task })
}

async fn subscribe_at(
    inner: &Inner,
    node: &NodeAddr,
    kind: Kind,
    names: &[Bytes],
) -> Result<Subscription, Error> {
    let conn = inner.pubsub_node(node).await?;
    let names = names.to_vec();
    match kind {
        Kind::Channel => conn.subscribe(names).await,
        Kind::Pattern => conn.psubscribe(names).await,
        Kind::Shard => conn.ssubscribe(names).await,
    }
}

/// Passes events on; after a disconnection, moves the subscription when the
/// cluster says it belongs elsewhere now.
async fn follow(
    inner: Arc<Inner>,
    kind: Kind,
    names: Vec<Bytes>,
    slot: Option<u16>,
    mut node: NodeAddr,
    mut subscription: Subscription,
    tx: mpsc::Sender<Event>,
) {
    let mut lagged = 0u64;
    let mut disconnected = false;
    loop {
        let event = if disconnected {
            match tokio::time::timeout(RECHECK, subscription.next()).await {
                Ok(event) => event,
                Err(_) => {
                    // Still down: is another node the right one now?
                    let _ = inner.refresh().await;
                    let target = match slot {
                        Some(_) => inner.owner(slot).ok(),
                        None if inner.is_primary(&node) => Some(node.clone()),
                        None => inner.owner(None).ok(),
                    };
                    // A view that still names this node may be stale: a
                    // shard channel's slot that moved is answered with
                    // `MOVED` by its old owner, which says where it went.
                    let target = match target {
                        Some(target) if target == node && slot.is_some() => {
                            match subscribe_at(&inner, &node, kind, &names).await {
                                Ok(again) => {
                                    subscription = again;
                                    disconnected = false;
                                    if !forward(&tx, Event::Resubscribed, &mut lagged).await {
                                        return;
                                    }
                                    continue;
                                }
                                Err(error) => match Redirect::of(&error) {
                                    Some(Redirect::Moved { slot, addr }) => {
                                        inner.moved(slot, &addr);
                                        Some(addr)
                                    }
                                    _ => None,
                                },
                            }
                        }
                        other => other,
                    };
                    if let Some(target) = target.filter(|t| *t != node) {
                        if let Ok(moved) = subscribe_at(&inner, &target, kind, &names).await {
                            tracing::info!(from = %node, to = %target, "subscription moved");
                            subscription = moved;
                            node = target;
                            disconnected = false;
                            if !forward(&tx, Event::Resubscribed, &mut lagged).await {
                                return;
                            }
                        }
                    }
                    continue;
                }
            }
        } else {
            tokio::select! {
                event = subscription.next() => event,
                () = tx.closed() => return,
            }
        };
        let Some(event) = event else {
            // The node's connection ended for good: the reader is told by
            // the end of the stream.
            return;
        };
        match &event {
            Event::Disconnected(_) => disconnected = true,
            Event::Resubscribed => disconnected = false,
            _ => {}
        }
        if !forward(&tx, event, &mut lagged).await {
            return;
        }
    }
}

/// Hands `event` to the reader. A message the reader has no room for is
/// dropped and counted, the count handed over as [`Event::Lagged`] once
/// there is room, so that a slow reader never holds the subscription back;
/// other events wait for room. False once the reader is gone.
async fn forward(tx: &mpsc::Sender<Event>, event: Event, lagged: &mut u64) -> bool {
    if *lagged > 0 && tx.try_send(Event::Lagged(*lagged)).is_ok() {
        *lagged = 0;
    }
    match event {
        Event::Message(_) => match tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                *lagged += 1;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        },
        other => tx.send(other).await.is_ok(),
    }
}
