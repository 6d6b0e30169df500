//! `MasterWatch`: a master's failovers as its sentinels announce them,
//! followed live, so that connections stop writing to a master as soon as a
//! failover of it starts and move as soon as the new master is named.
//!
//! Without it a healthy connection would learn of a failover only when the
//! old master hangs up on it, which Redis's sentinels do seconds after the
//! promotion (when they turn the old master into a replica, a resync that
//! throws away every write it took in between). Every write acknowledged by
//! the old master after the promotion would be lost, and nobody told.
//!
//! One watch runs per set of sentinels and master name in the process,
//! shared by every connection that follows that master, and stops with the
//! last of them. It keeps one subscription on every sentinel (only the
//! sentinel leading a failover announces its steps, and any of them may
//! lead), and asks every sentinel for the master every second as well, in
//! case an announcement was missed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use resp::{Command, FromValue, Value};
use tokio::sync::{mpsc, watch};

use crate::{Address, Connection, ConnectionConfig, Result};

/// How often every sentinel is asked for the master (`SENTINEL MASTER`), a
/// backstop for announcements missed while a subscription was down.
const POLL_PERIOD: Duration = Duration::from_secs(1);

/// How long a hold lasts with no further news of the failover. A failover
/// announces a step every few hundred milliseconds; one silent for this
/// long has stalled, and the periodic reports then decide.
const HOLD_LIMIT: Duration = Duration::from_secs(10);

/// How long a sentinel's report counts: three periods, so that one missed
/// answer does not drop it, and a sentinel that died stops counting.
const REPORT_TTL: Duration = Duration::from_secs(3);

/// The longest wait between two attempts to reach a sentinel.
const MAX_RETRY: Duration = Duration::from_secs(1);

/// The channels on which a sentinel announces the steps of a failover
/// (the leader) and the new master (every sentinel, as it learns of it).
const CHANNELS: [&str; 17] = [
    "+try-failover",
    "+elected-leader",
    "+failover-state-select-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+slave-reconf-sent",
    "+slave-reconf-inprog",
    "+slave-reconf-done",
    "+failover-end-for-timeout",
    "+failover-end",
    "+switch-master",
    "-failover-abort-not-elected",
    "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout",
];

/// A live view of one master, as its sentinels announce it: where it is,
/// and whether a failover of it is under way.
///
/// The connections of `redis-paired` and `redis-pubsub` that reach a
/// master through a [`Sentinel`](Address::Sentinel) address each hold one:
/// while a failover is under way they hold new commands back (a write the
/// old master takes after the promotion would be lost), and once the
/// sentinels name the new master they finish what is on the wire and move
/// to it. [`connect`](crate::connect) goes straight to the master a watch
/// knows of, rather than asking a sentinel that may not have heard of the
/// failover yet.
///
/// All the watches of one set of sentinels and master name share one task
/// in the background; it ends with the last watch.
pub struct MasterWatch {
    watched: Arc<Watched>,
    rx: watch::Receiver<View>,
    next: Option<NextChange>,
}

/// The wait for the next change, which hands the receiver back.
type NextChange = Pin<Box<dyn Future<Output = Option<watch::Receiver<View>>> + Send>>;

impl MasterWatch {
    /// A watch of the master that `config` leads to, starting the task that
    /// watches it unless one runs already.
    ///
    /// `None` unless `config`'s address is a [`Sentinel`](Address::Sentinel)
    /// one leading to the master (not [to a
    /// replica](ConnectionConfig::with_sentinel_replica)), or when called
    /// outside a tokio runtime.
    pub fn follow(config: &ConnectionConfig) -> Option<MasterWatch> {
        let Key {
            id,
            sentinels,
            master,
        } = key(config)?;
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let mut watches = lock_watches();
        if let Some(watched) = find(&mut watches, &id) {
            return Some(MasterWatch::new(watched));
        }
        let (tx, rx) = watch::channel(View::default());
        let configs = sentinels
            .iter()
            .map(|(host, port)| crate::sentinel::sentinel_config(config, host, *port))
            .collect();
        let task = runtime
            .spawn(run(configs, master.to_owned(), tx))
            .abort_handle();
        let watched = Arc::new(Watched { task, rx });
        watches.push((id, Arc::downgrade(&watched)));
        Some(MasterWatch::new(watched))
    }

    /// A watch of the master `config` leads to if one runs already: never
    /// starts one.
    pub(crate) fn existing(config: &ConnectionConfig) -> Option<MasterWatch> {
        let key = key(config)?;
        find(&mut lock_watches(), &key.id).map(MasterWatch::new)
    }

    /// The master's host and port as the sentinels last named it; `None`
    /// until the first of them answered.
    pub fn master(&self) -> Option<(String, u16)> {
        self.rx.borrow().master.clone()
    }

    /// Whether a failover of the master is under way: from its first step
    /// (`+try-failover`) until the sentinels name the new master
    /// (`+switch-master`) or give up.
    pub fn is_failing_over(&self) -> bool {
        self.rx.borrow().failing_over
    }

    /// Ready when the view changed since it was last looked at through this
    /// watch. A watch whose task is gone (its runtime shut down) never is.
    pub fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let next = self.next.get_or_insert_with(|| {
            let mut rx = self.rx.clone();
            Box::pin(async move { rx.changed().await.ok().map(|()| rx) })
        });
        match next.as_mut().poll(cx) {
            Poll::Ready(Some(rx)) => {
                self.rx = rx;
                self.next = None;
                Poll::Ready(())
            }
            Poll::Ready(None) => {
                self.next = Some(Box::pin(std::future::pending()));
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits until the view changed; see [`poll_changed`](Self::poll_changed).
    pub async fn changed(&mut self) {
        std::future::poll_fn(|cx| self.poll_changed(cx)).await;
    }

    fn new(watched: Arc<Watched>) -> MasterWatch {
        let rx = watched.rx.clone();
        MasterWatch {
            watched,
            rx,
            next: None,
        }
    }
}

impl std::fmt::Debug for MasterWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let view = self.rx.borrow();
        f.debug_struct("MasterWatch")
            .field("master", &view.master)
            .field("failing_over", &view.failing_over)
            .field("running", &!self.watched.task.is_finished())
            .finish()
    }
}

/// What a watch knows of its master.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct View {
    master: Option<(String, u16)>,
    failing_over: bool,
}

/// One step of a failover, as a sentinel announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The failover started or went on: hold new commands.
    Progress,
    /// The new master was named.
    Switch(String, u16),
    /// The failover was given up; the master stays.
    Abort,
}

/// What one sentinel answered to `SENTINEL MASTER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    master: (String, u16),
    epoch: u64,
    failing_over: bool,
}

/// The pure core of a watch: announcements and reports in, a view out.
#[derive(Debug)]
pub(crate) struct Tracker {
    master: Option<(String, u16)>,
    /// The highest config epoch a report carried; a report of a lower or
    /// equal one never changes the master (a sentinel that has not heard of
    /// the last failover yet).
    epoch: Option<u64>,
    /// While a failover is under way, when the hold ends without news.
    hold_until: Option<Instant>,
    /// Each sentinel's last report and when it came.
    reports: Vec<Option<(Instant, Report)>>,
}

impl Tracker {
    pub(crate) fn new(sentinels: usize) -> Tracker {
        Tracker {
            master: None,
            epoch: None,
            hold_until: None,
            reports: vec![None; sentinels],
        }
    }

    pub(crate) fn step(&mut self, step: Step, now: Instant) {
        match step {
            Step::Progress => self.hold_until = Some(now + HOLD_LIMIT),
            Step::Switch(host, port) => {
                self.master = Some((host, port));
                self.hold_until = None;
                // Reports from before the switch may still say a failover
                // is under way; the next round says how things stand.
                self.reports.iter_mut().for_each(|r| *r = None);
            }
            Step::Abort => {
                self.hold_until = None;
                self.reports.iter_mut().for_each(|r| *r = None);
            }
        }
    }

    pub(crate) fn report(&mut self, sentinel: usize, report: Option<Report>, now: Instant) {
        if let Some(report) = &report {
            if self.epoch.is_none_or(|epoch| report.epoch > epoch) || self.master.is_none() {
                self.epoch = Some(report.epoch);
                self.master = Some(report.master.clone());
            }
        }
        if let Some(slot) = self.reports.get_mut(sentinel) {
            *slot = report.map(|report| (now, report));
        }
    }

    pub(crate) fn view(&self, now: Instant) -> View {
        let held = self.hold_until.is_some_and(|until| until > now);
        let reported = self.reports.iter().flatten().any(|(at, report)| {
            report.failing_over && now.saturating_duration_since(*at) < REPORT_TTL
        });
        View {
            master: self.master.clone(),
            failing_over: held || reported,
        }
    }

    /// When the view may change with no news: a hold or a report running
    /// out.
    pub(crate) fn next_expiry(&self, now: Instant) -> Option<Instant> {
        let reports = self
            .reports
            .iter()
            .flatten()
            .filter(|(_, report)| report.failing_over)
            .map(|(at, _)| *at + REPORT_TTL);
        self.hold_until
            .into_iter()
            .chain(reports)
            .filter(|at| *at > now)
            .min()
    }
}

/// What an announcement on `channel` means for the master named `name`;
/// `None` for another master or a message that is not understood.
///
/// Sentinel's messages are `<instance> <name> <ip> <port> @ <master>
/// <ip> <port>`, without the part from `@` on when the instance is the
/// master itself, and `+switch-master` is `<master> <old ip> <old port>
/// <new ip> <new port>`.
pub(crate) fn parse(channel: &[u8], payload: &[u8], name: &str) -> Option<Step> {
    let channel = std::str::from_utf8(channel).ok()?;
    let payload = std::str::from_utf8(payload).ok()?;
    let words: Vec<&str> = payload.split(' ').collect();
    if channel == "+switch-master" {
        return match words.as_slice() {
            [master, _, _, host, port] if *master == name => {
                Some(Step::Switch((*host).to_owned(), port.parse().ok()?))
            }
            _ => None,
        };
    }
    let master = match words.iter().position(|w| *w == "@") {
        Some(at) => words.get(at + 1)?,
        None => words.get(1)?,
    };
    if *master != name || !CHANNELS.contains(&channel) {
        return None;
    }
    Some(if channel.starts_with("-failover-abort") {
        Step::Abort
    } else {
        Step::Progress
    })
}

/// A `SENTINEL MASTER` reply (field names and values, alternating, or a
/// map on RESP3) as a report.
pub(crate) fn parse_report(reply: Value) -> Option<Report> {
    let fields: Vec<(String, String)> = FromValue::from_value(reply).ok()?;
    let field = |name: &str| crate::sentinel::field(&fields, name);
    let flags = field("flags")?;
    Some(Report {
        master: (field("ip")?.to_owned(), field("port")?.parse().ok()?),
        epoch: field("config-epoch")?.parse().ok()?,
        failing_over: flags.split(',').any(|flag| flag == "failover_in_progress"),
    })
}

/// The task behind the watches, and what keeps it running.
struct Watched {
    task: tokio::task::AbortHandle,
    /// Whether the task still runs: its sender is dropped when it ends.
    rx: watch::Receiver<View>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Watches = Vec<(String, Weak<Watched>)>;

static WATCHES: Mutex<Watches> = Mutex::new(Vec::new());

fn lock_watches() -> std::sync::MutexGuard<'static, Watches> {
    // The list stays consistent whatever panicked while holding it.
    WATCHES.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running watch for `key`, dropping the entries of watches that ended.
fn find(watches: &mut Watches, key: &str) -> Option<Arc<Watched>> {
    watches.retain(|(_, watched)| {
        watched
            .upgrade()
            .is_some_and(|watched| watched.rx.has_changed().is_ok())
    });
    watches
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, watched)| watched.upgrade())
}

/// What identifies a watch (the sentinels, their credentials and the
/// master's name), with the sentinels and the name; `None` unless `config`
/// leads to a master through sentinels.
fn key(config: &ConnectionConfig) -> Option<Key<'_>> {
    let Address::Sentinel { sentinels, master } = config.address() else {
        return None;
    };
    if config.sentinel_replica() {
        return None;
    }
    // Kept in memory only, never shown: it holds the sentinels' password.
    let id = format!(
        "{sentinels:?}\n{master}\n{:?}\n{:?}",
        config.sentinel_username(),
        config.sentinel_password()
    );
    Some(Key {
        id,
        sentinels,
        master,
    })
}

/// See [`key`].
struct Key<'a> {
    id: String,
    sentinels: &'a [(String, u16)],
    master: &'a str,
}

/// What the listeners and the poller tell the task.
enum Update {
    Step(Step),
    Report(usize, Option<Report>),
}

/// Follows the sentinels and publishes the view until every watch is gone
/// (the task is then aborted).
async fn run(sentinels: Vec<ConnectionConfig>, master: String, tx: watch::Sender<View>) {
    let (updates, mut rx) = mpsc::channel(64);
    let mut tasks = tokio::task::JoinSet::new();
    for config in &sentinels {
        tasks.spawn(listen(config.clone(), master.clone(), updates.clone()));
    }
    tasks.spawn(poll(sentinels.clone(), master.clone(), updates));
    let mut tracker = Tracker::new(sentinels.len());
    loop {
        let update = match tracker.next_expiry(Instant::now()) {
            Some(at) => {
                // Time running out is news too: the view is looked at again.
                tokio::time::timeout_at(tokio::time::Instant::from_std(at), rx.recv())
                    .await
                    .unwrap_or_default()
            }
            None => rx.recv().await,
        };
        let now = Instant::now();
        match update {
            Some(Update::Step(step)) => {
                tracing::info!(master, ?step, "a sentinel announced a failover step");
                tracker.step(step, now);
            }
            Some(Update::Report(sentinel, report)) => tracker.report(sentinel, report, now),
            None => {}
        }
        let view = tracker.view(now);
        tx.send_if_modified(|old| {
            let changed = *old != view;
            if changed {
                tracing::debug!(master, ?view, "the master's view changed");
                *old = view;
            }
            changed
        });
    }
}

/// Keeps a subscription to the failover announcements of one sentinel,
/// connecting again whenever it is lost.
async fn listen(config: ConnectionConfig, master: String, updates: mpsc::Sender<Update>) {
    let mut wait = Duration::from_millis(100);
    loop {
        match subscribe(&config, &master, &updates).await {
            Ok(()) => return, // the task is going away
            Err(error) => {
                tracing::debug!(sentinel = %config.address(), %error, "sentinel subscription lost")
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY);
    }
}

/// One subscription's life: `Ok` only when the task is going away.
async fn subscribe(
    config: &ConnectionConfig,
    master: &str,
    updates: &mpsc::Sender<Update>,
) -> Result<()> {
    let mut conn = crate::connect(config).await?;
    let subscribe = CHANNELS
        .iter()
        .fold(Command::new("SUBSCRIBE"), |cmd, channel| cmd.arg(*channel));
    SinkExt::send(&mut conn, subscribe).await?;
    while let Some(frame) = conn.next().await {
        let items = match frame? {
            Value::Array(items) | Value::Push(items) => items,
            _ => continue,
        };
        let [kind, channel, payload] = items.as_slice() else {
            continue;
        };
        if kind.as_bytes() != Some(b"message") {
            continue;
        }
        let (Some(channel), Some(payload)) = (channel.as_bytes(), payload.as_bytes()) else {
            continue;
        };
        if let Some(step) = parse(channel, payload, master) {
            if updates.send(Update::Step(step)).await.is_err() {
                return Ok(());
            }
        }
    }
    Err(crate::Error::from(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the sentinel closed the connection",
    )))
}

/// Asks every sentinel for the master each [`POLL_PERIOD`], keeping one
/// connection to each.
async fn poll(sentinels: Vec<ConnectionConfig>, master: String, updates: mpsc::Sender<Update>) {
    let mut conns: Vec<Option<Connection>> = sentinels.iter().map(|_| None).collect();
    loop {
        let asks = conns
            .iter_mut()
            .zip(&sentinels)
            .map(|(conn, config)| ask(conn, config, &master));
        let reports = futures_util::future::join_all(asks).await;
        for (sentinel, report) in reports.into_iter().enumerate() {
            if updates
                .send(Update::Report(sentinel, report))
                .await
                .is_err()
            {
                return;
            }
        }
        tokio::time::sleep(POLL_PERIOD).await;
    }
}

/// One sentinel's report, over `conn` (opened if need be, dropped on
/// failure); `None` when it did not answer in time or knows no such master.
async fn ask(
    conn: &mut Option<Connection>,
    config: &ConnectionConfig,
    master: &str,
) -> Option<Report> {
    let exchange = async {
        if conn.is_none() {
            *conn = Some(crate::connect(config).await?);
        }
        let Some(open) = conn.as_mut() else {
            return Ok(None);
        };
        let reply = open.send(resp::cmd!("SENTINEL", "MASTER", master)).await?;
        Ok::<_, crate::Error>(parse_report(reply))
    };
    match tokio::time::timeout(config.connect_timeout().min(POLL_PERIOD), exchange).await {
        Ok(Ok(report)) => report,
        Ok(Err(error)) => {
            tracing::debug!(sentinel = %config.address(), %error, "a sentinel did not report the master");
            *conn = None;
            None
        }
        Err(_elapsed) => {
            *conn = None;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "mymaster";

    fn report(port: u16, epoch: u64, failing_over: bool) -> Option<Report> {
        Some(Report {
            master: ("127.0.0.1".to_owned(), port),
            epoch,
            failing_over,
        })
    }

    fn at(tracker: &Tracker, now: Instant) -> (Option<u16>, bool) {
        let view = tracker.view(now);
        (view.master.map(|(_, port)| port), view.failing_over)
    }

    #[test]
    fn announcements_are_read_for_their_master_only() {
        let cases: &[(&str, &str, Option<Step>)] = &[
            (
                "+try-failover",
                "master mymaster 127.0.0.1 6379",
                Some(Step::Progress),
            ),
            ("+try-failover", "master other 127.0.0.1 6379", None),
            (
                "+promoted-slave",
                "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379",
                Some(Step::Progress),
            ),
            (
                "+selected-slave",
                "slave 127.0.0.1:6380 127.0.0.1 6380 @ other 127.0.0.1 6379",
                None,
            ),
            (
                "+switch-master",
                "mymaster 127.0.0.1 6379 127.0.0.1 6380",
                Some(Step::Switch("127.0.0.1".to_owned(), 6380)),
            ),
            (
                "+switch-master",
                "other 127.0.0.1 6379 127.0.0.1 6380",
                None,
            ),
            (
                "+switch-master",
                "mymaster 127.0.0.1 6379 127.0.0.1 port",
                None,
            ),
            ("+switch-master", "mymaster", None),
            (
                "-failover-abort-no-good-slave",
                "master mymaster 127.0.0.1 6379",
                Some(Step::Abort),
            ),
            ("+sdown", "master mymaster 127.0.0.1 6379", None),
            ("+try-failover", "", None),
            ("+try-failover", "master", None),
        ];
        for (channel, payload, expected) in cases {
            assert_eq!(
                &parse(channel.as_bytes(), payload.as_bytes(), NAME),
                expected,
                "{channel} {payload}"
            );
        }
        assert_eq!(parse(b"+try-failover", b"\xff master", NAME), None);
    }

    #[test]
    fn a_failover_holds_from_its_first_step_until_the_switch() {
        let now = Instant::now();
        let mut tracker = Tracker::new(3);
        assert_eq!(at(&tracker, now), (None, false));
        tracker.report(0, report(6379, 0, false), now);
        assert_eq!(at(&tracker, now), (Some(6379), false));
        tracker.step(Step::Progress, now);
        assert_eq!(at(&tracker, now), (Some(6379), true));
        assert_eq!(tracker.next_expiry(now), Some(now + HOLD_LIMIT));
        // A sentinel that does not lead the failover reports no failover:
        // the hold stays.
        tracker.report(1, report(6379, 0, false), now);
        assert_eq!(at(&tracker, now), (Some(6379), true));
        tracker.step(Step::Switch("127.0.0.1".to_owned(), 6380), now);
        assert_eq!(at(&tracker, now), (Some(6380), false));
        // A sentinel that has not heard of the switch yet changes nothing.
        tracker.report(2, report(6379, 0, false), now);
        assert_eq!(at(&tracker, now), (Some(6380), false));
        // The leader's report of the new epoch agrees.
        tracker.report(0, report(6380, 1, false), now);
        assert_eq!(at(&tracker, now), (Some(6380), false));
    }

    #[test]
    fn an_aborted_failover_releases_the_hold() {
        let now = Instant::now();
        let mut tracker = Tracker::new(1);
        tracker.report(0, report(6379, 4, true), now);
        tracker.step(Step::Progress, now);
        assert_eq!(at(&tracker, now), (Some(6379), true));
        tracker.step(Step::Abort, now);
        assert_eq!(at(&tracker, now), (Some(6379), false));
    }

    #[test]
    fn a_hold_without_news_runs_out() {
        let now = Instant::now();
        let mut tracker = Tracker::new(1);
        tracker.step(Step::Progress, now);
        assert!(tracker.view(now + HOLD_LIMIT / 2).failing_over);
        assert!(!tracker.view(now + HOLD_LIMIT).failing_over);
        // A report of a failover in progress holds for its own time.
        let later = now + HOLD_LIMIT;
        tracker.report(0, report(6379, 1, true), later);
        assert!(tracker.view(later).failing_over);
        assert_eq!(tracker.next_expiry(later), Some(later + REPORT_TTL));
        assert!(!tracker.view(later + REPORT_TTL).failing_over);
        assert_eq!(tracker.next_expiry(later + REPORT_TTL), None);
    }

    #[test]
    fn the_highest_epoch_names_the_master() {
        let now = Instant::now();
        let mut tracker = Tracker::new(3);
        tracker.report(0, report(6379, 3, false), now);
        tracker.report(1, report(6380, 5, false), now);
        tracker.report(2, report(6379, 3, false), now);
        assert_eq!(at(&tracker, now), (Some(6380), false));
        // A sentinel that did not answer keeps the view as it is.
        tracker.report(1, None, now);
        assert_eq!(at(&tracker, now), (Some(6380), false));
    }

    #[test]
    fn reports_are_read_on_both_protocols() {
        let bulk = |s: &str| Value::BulkString(bytes::Bytes::copy_from_slice(s.as_bytes()));
        let fields = [
            ("name", "mymaster"),
            ("ip", "10.0.0.1"),
            ("port", "6379"),
            ("flags", "master,failover_in_progress"),
            ("config-epoch", "7"),
        ];
        let flat = Value::Array(
            fields
                .iter()
                .flat_map(|(k, v)| [bulk(k), bulk(v)])
                .collect(),
        );
        let expected = Some(Report {
            master: ("10.0.0.1".to_owned(), 6379),
            epoch: 7,
            failing_over: true,
        });
        assert_eq!(parse_report(flat), expected);
        let map = Value::Map(fields.iter().map(|(k, v)| (bulk(k), bulk(v))).collect());
        assert_eq!(parse_report(map), expected);
        assert_eq!(parse_report(Value::Array(vec![bulk("ip")])), None);
        assert_eq!(parse_report(Value::Null), None);
    }
}
