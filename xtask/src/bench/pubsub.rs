//! The `pubsub` section: messages a second delivered to one subscriber,
//! `redis-pubsub` against redis-rs's async `PubSub` and a fred `Client`
//! subscribed to the channel, on one throwaway server.
//!
//! Every run gets a fresh runtime, a fresh subscriber connection and a fresh
//! publisher, which is a `redis-paired` connection for every contender. The
//! publisher keeps up to a window of messages in flight past what the
//! subscriber has counted, so neither the server's output buffer for the
//! subscriber nor the subscriber's own buffer can overflow, and a subscriber
//! that stops counting cannot hang the run: the publisher stops waiting for
//! it after a while, and the run ends once nothing has arrived for that long.
//! A subscriber that missed messages is reported with what it got.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use resp::cmd;
use tokio::sync::Notify;

use crate::clients::{Client, Fred, Ours, Target};
use crate::live::{self, Row};
use crate::measure::{race, Contender, Role, Sample, Versus};
use crate::Options;

/// Every case of this section.
pub(crate) const CASES: &[&str] = &["pubsub/receive/64B", "pubsub/receive/16KiB"];

/// The peers, in the order of the ratio columns.
const PEERS: &[&str] = &[RedisRs::NAME, FredSubscriber::NAME];

/// The channel every message goes to.
const CHANNEL: &str = "bench:channel";

/// How long the publisher waits for the subscriber to make room, and how
/// long the run waits for a message, before giving up on the rest.
const STALL: Duration = Duration::from_secs(2);

/// Each subscriber's buffer of messages not yet read, where it has one to
/// set: `redis-pubsub`'s default, and fred's broadcast capacity (fred's
/// default of 32 would drop messages at any useful window). redis-rs's is
/// unbounded.
const BUFFER: usize = 1024;

/// Runs the selected cases, then a summary of `redis-pubsub`'s ratios.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let plan = [
        Case {
            name: CASES[0],
            size: 64,
            messages: 400_000,
            window: 1000,
        },
        Case {
            name: CASES[1],
            size: 16 * 1024,
            messages: 40_000,
            window: 256,
        },
    ];
    let server =
        xtask::RedisServer::start().map_err(|e| format!("cannot start redis-server: {e}"))?;
    let target = Target {
        url: server.url(),
        port: server.port(),
    };
    println!(
        "(the publisher is a redis-paired connection for every contender, so its share of \
         the cpu, which is the whole process's, is the same for all; per-subscriber buffers: \
         redis-pubsub {BUFFER} messages (its default), fred's broadcast capacity set to \
         {BUFFER} (its default is 32), redis-rs unbounded)"
    );
    live::print_legend();
    let mut summary = Vec::new();
    for case in plan.iter().filter(|c| options.selects(c.name)) {
        let versus = run_case(options, &target, case)?;
        summary.push((case.name.to_string(), versus));
    }
    live::print_summary(OursSubscriber::NAME, "message", PEERS, &summary);
    Ok(())
}

#[derive(Debug)]
struct Case {
    name: &'static str,
    /// The payload size.
    size: usize,
    messages: u64,
    /// How many messages the publisher may be ahead of the subscriber.
    window: u64,
}

/// What a run delivered.
#[derive(Debug, Clone, Copy, Default)]
struct Received {
    /// Messages with the payload's length.
    good: u64,
    /// Messages of another length, or on another channel.
    bad: u64,
    /// Messages the subscriber said it dropped.
    lagged: u64,
    /// The run ended because nothing arrived for a while.
    stalled: bool,
}

fn run_case(options: &Options, target: &Target, case: &Case) -> Result<Vec<Versus>, String> {
    let payload: Bytes = (0..case.size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut contenders = Vec::new();
    add::<OursSubscriber>(&mut contenders, options, target, case, &payload);
    add::<RedisRs>(&mut contenders, options, target, case, &payload);
    add::<FredSubscriber>(&mut contenders, options, target, case, &payload);
    let results = race(options, contenders);
    live::check_outputs(case.name, &results)?;
    let mut rows = Vec::new();
    for runs in &results {
        let mut row = Row::from_runs(runs, case.messages);
        let short: Vec<&Received> = runs
            .outputs
            .iter()
            .flatten()
            .filter(|r| r.good != case.messages || r.bad > 0 || r.lagged > 0 || r.stalled)
            .collect();
        if let Some(worst) = short.iter().min_by_key(|r| r.good) {
            row.note = format!(
                "  INCOMPLETE in {} of {} runs: worst got {} of {} ({} wrong, {} dropped by the \
                 client{}); rates count every message published",
                short.len(),
                runs.outputs.len(),
                worst.good,
                case.messages,
                worst.bad,
                worst.lagged,
                if worst.stalled { ", stalled" } else { "" }
            );
        }
        rows.push(row);
    }
    let what = format!(
        "{} messages of {} bytes published on one channel, up to {} ahead of the \
         subscriber, from the first PUBLISH to the last message received",
        case.messages, case.size, case.window
    );
    Ok(live::print_table(
        case.name,
        &what,
        "msg",
        &rows,
        PEERS,
        options.budget,
    ))
}

/// Adds the contender `S` of the case, unless `--only` leaves it out.
fn add<'a, S: Subscriber>(
    contenders: &mut Vec<Contender<'a, Result<Received, String>>>,
    options: &Options,
    target: &'a Target,
    case: &'a Case,
    payload: &'a Bytes,
) {
    if !live::includes(options, S::NAME, S::ROLE) {
        return;
    }
    let failed = |e| {
        let sample = Sample {
            wall: Duration::ZERO,
            cpu: None,
        };
        (sample, Err(e))
    };
    contenders.push(Contender {
        name: S::NAME,
        role: S::ROLE,
        run: Box::new(move || {
            let runtime = match live::runtime() {
                Ok(runtime) => runtime,
                Err(e) => return failed(e),
            };
            let connected = runtime.block_on(async {
                let publisher = Ours::connect(target).await?;
                let subscriber = S::subscribe(target, CHANNEL).await?;
                Ok::<_, String>((publisher, subscriber))
            });
            let (publisher, subscriber) = match connected {
                Ok(both) => both,
                Err(e) => return failed(e),
            };
            let cpu_before = live::process_cpu_time();
            let outcome = runtime.block_on(exchange(publisher, subscriber, case, payload.clone()));
            let cpu = live::process_cpu_time()
                .zip(cpu_before)
                .and_then(|(after, before)| after.checked_sub(before));
            match outcome {
                Ok((wall, received, subscriber)) => {
                    if let Some(subscriber) = subscriber {
                        runtime.block_on(subscriber.close());
                    }
                    (Sample { wall, cpu }, Ok(received))
                }
                Err(e) => failed(e),
            }
        }),
    });
}

/// What the subscriber and the publisher share: how many messages the
/// subscriber has counted, and a signal to the publisher now and then.
#[derive(Debug, Default)]
struct Progress {
    counted: AtomicU64,
    room: Notify,
}

/// The timed part: publishes the case's messages while the subscriber
/// counts them. Returns the time from the first publish to the last
/// message received, what was received, and the subscriber unless it had
/// to be abandoned.
async fn exchange<S: Subscriber>(
    publisher: Ours,
    subscriber: S,
    case: &Case,
    payload: Bytes,
) -> Result<(Duration, Received, Option<S>), String> {
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let mut counting = tokio::spawn(count(
        subscriber,
        case.messages,
        payload.len(),
        case.window,
        Arc::clone(&progress),
    ));
    let publishing = tokio::spawn(publish(
        publisher,
        payload,
        case.messages,
        case.window,
        Arc::clone(&progress),
    ));
    let mut seen = 0;
    let mut last_change = Instant::now();
    let (end, received, subscriber) = loop {
        tokio::select! {
            counted = &mut counting => {
                let end = Instant::now();
                let (subscriber, received) = counted.map_err(|e| format!("subscriber failed: {e}"))??;
                break (end, received, Some(subscriber));
            }
            () = tokio::time::sleep(STALL / 20) => {
                let now = progress.counted.load(Ordering::Acquire);
                if now != seen {
                    seen = now;
                    last_change = Instant::now();
                } else if publishing.is_finished() && last_change.elapsed() >= STALL {
                    counting.abort();
                    let received = Received {
                        good: now,
                        stalled: true,
                        ..Received::default()
                    };
                    break (last_change, received, None);
                }
            }
        }
    };
    let reached = publishing
        .await
        .map_err(|e| format!("publisher failed: {e}"))??;
    if reached != case.messages {
        // The subscriber was not subscribed for some of the run (a peer whose
        // subscribe returns before the server confirms it, say): its count
        // is short and flagged, and the run goes on.
        println!(
            "  note: PUBLISH reached {reached} subscribers over {} messages, expected one each",
            case.messages
        );
    }
    Ok((end.duration_since(start), received, subscriber))
}

/// Publishes `messages` copies of `payload`, at most `window` past what the
/// subscriber has counted; returns the sum of PUBLISH's replies (the
/// subscribers each message reached).
async fn publish(
    publisher: Ours,
    payload: Bytes,
    messages: u64,
    window: u64,
    progress: Arc<Progress>,
) -> Result<u64, String> {
    let conn = publisher.connection();
    let mut in_flight = VecDeque::with_capacity(window as usize);
    let mut reached = 0;
    let mut paced = true;
    for sent in 0..messages {
        while paced && sent - progress.counted.load(Ordering::Acquire) >= window {
            // The subscriber signals every quarter window, and a window is
            // out, so a signal is due unless it stopped counting.
            if tokio::time::timeout(STALL, progress.room.notified())
                .await
                .is_err()
            {
                paced = false;
            }
        }
        in_flight.push_back(conn.send::<u64>(cmd!("PUBLISH", CHANNEL, &payload[..])));
        if in_flight.len() as u64 >= window {
            if let Some(reply) = in_flight.pop_front() {
                reached += reply.await.map_err(|e| e.to_string())?;
            }
        }
    }
    for reply in in_flight {
        reached += reply.await.map_err(|e| e.to_string())?;
    }
    Ok(reached)
}

/// Counts what the subscriber receives until `messages` have arrived or
/// its stream ends.
async fn count<S: Subscriber>(
    mut subscriber: S,
    messages: u64,
    len: usize,
    window: u64,
    progress: Arc<Progress>,
) -> Result<(S, Received), String> {
    let signal_every = (window / 4).max(1);
    let mut received = Received::default();
    while received.good + received.bad < messages {
        match subscriber.next().await {
            Some(Item::Payload(n)) => {
                if n == len {
                    received.good += 1;
                } else {
                    received.bad += 1;
                }
                let counted = received.good + received.bad;
                progress.counted.store(counted, Ordering::Release);
                if counted % signal_every == 0 {
                    progress.room.notify_one();
                }
            }
            Some(Item::Lagged(n)) => received.lagged += n,
            Some(Item::Foreign) => received.bad += 1,
            None => break,
        }
    }
    Ok((subscriber, received))
}

/// What a subscriber's stream yielded.
#[derive(Debug)]
enum Item {
    /// A message on the channel, with a payload of this length.
    Payload(usize),
    /// The client dropped this many messages.
    Lagged(u64),
    /// A message on another channel, or of a kind not expected.
    Foreign,
}

/// A connection subscribed to one channel.
trait Subscriber: Send + Sized + 'static {
    const NAME: &'static str;
    const ROLE: Role;

    /// Connects and subscribes; resolves once the server confirmed.
    fn subscribe(
        target: &Target,
        channel: &str,
    ) -> impl Future<Output = Result<Self, String>> + Send;

    /// The next item, or `None` when the stream ended.
    fn next(&mut self) -> impl Future<Output = Option<Item>> + Send;

    /// Closes the connection the way the client asks to be closed.
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// `redis_pubsub::PubsubConnection` with default options (RESP3) and one
/// `Subscription` stream.
struct OursSubscriber {
    _conn: redis_pubsub::PubsubConnection,
    subscription: redis_pubsub::Subscription,
}

impl Subscriber for OursSubscriber {
    const NAME: &'static str = "redis-pubsub";
    const ROLE: Role = Role::Ours;

    async fn subscribe(target: &Target, channel: &str) -> Result<Self, String> {
        let config = redis_conn::ConnectionConfig::from_url(&target.url)
            .map_err(|e| format!("bad url {}: {e}", target.url))?;
        let conn = redis_pubsub::PubsubConnection::connect(&config)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let subscription = conn
            .subscribe(channel.to_string())
            .await
            .map_err(|e| format!("cannot subscribe: {e}"))?;
        Ok(OursSubscriber {
            _conn: conn,
            subscription,
        })
    }

    async fn next(&mut self) -> Option<Item> {
        Some(match self.subscription.next().await? {
            redis_pubsub::Event::Message(m) if m.channel() == CHANNEL => {
                Item::Payload(m.payload().len())
            }
            redis_pubsub::Event::Lagged(n) => Item::Lagged(n),
            _ => Item::Foreign,
        })
    }

    async fn close(self) {}
}

/// redis-rs 1.x: the async `PubSub` of `Client::get_async_pubsub` (RESP2,
/// a connection of its own), read through `into_on_message`.
struct RedisRs(redis::aio::PubSubStream);

impl Subscriber for RedisRs {
    const NAME: &'static str = "redis-rs";
    const ROLE: Role = Role::Peer;

    async fn subscribe(target: &Target, channel: &str) -> Result<Self, String> {
        let client = redis::Client::open(target.url.as_str()).map_err(|e| e.to_string())?;
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        pubsub
            .subscribe(channel)
            .await
            .map_err(|e| format!("cannot subscribe: {e}"))?;
        Ok(RedisRs(pubsub.into_on_message()))
    }

    async fn next(&mut self) -> Option<Item> {
        let msg = self.0.next().await?;
        Some(if msg.get_channel_name() == CHANNEL {
            Item::Payload(msg.get_payload_bytes().len())
        } else {
            Item::Foreign
        })
    }

    async fn close(self) {}
}

/// fred 10: a `Client` (fred's defaults but for the broadcast capacity)
/// subscribed to the channel, read through its `message_rx` receiver.
struct FredSubscriber {
    client: Fred,
    rx: tokio::sync::broadcast::Receiver<fred::types::Message>,
}

impl Subscriber for FredSubscriber {
    const NAME: &'static str = "fred";
    const ROLE: Role = Role::Peer;

    async fn subscribe(target: &Target, channel: &str) -> Result<Self, String> {
        use fred::prelude::{EventInterface, PubsubInterface};
        let client = Fred::connect_with(target, Some(BUFFER)).await?;
        let rx = client.client().message_rx();
        client
            .client()
            .subscribe(channel)
            .await
            .map_err(|e| format!("cannot subscribe: {e}"))?;
        Ok(FredSubscriber { client, rx })
    }

    async fn next(&mut self) -> Option<Item> {
        use tokio::sync::broadcast::error::RecvError;
        Some(match self.rx.recv().await {
            Ok(msg) => match msg.value.as_bytes() {
                Some(payload) if &*msg.channel == CHANNEL => Item::Payload(payload.len()),
                _ => Item::Foreign,
            },
            Err(RecvError::Lagged(n)) => Item::Lagged(n),
            Err(RecvError::Closed) => return None,
        })
    }

    async fn close(self) {
        self.client.close().await;
    }
}
