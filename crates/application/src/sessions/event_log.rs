//! The per-session event log behind `GET /api/sessions/{id}/events`: a bounded, sequenced
//! buffer plus a broadcast, so a client that reconnects with the last id it saw gets
//! everything after it that is still buffered, then the live stream, with no gap between.
//!
//! The buffer keeps to a count and a byte budget, and large payloads are cut before they
//! are logged ([`super::event_bounds`]), so a chatty agent cannot grow it without bound.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use orchestra_domain::{SessionId, SessionStatus, TurnId, TurnStatus};
use tokio::sync::broadcast;

use super::event_bounds::{approx_bytes, cut_payloads};

mod tail;
use crate::metrics_names as m;
use crate::ports::AgentEvent;

/// Something that happened in a session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// An event from the agent process.
    Agent(AgentEvent),
    /// Orchestra sent a prompt.
    TurnStarted {
        /// The turn.
        turn_id: TurnId,
        /// Its number in the session.
        seq: i64,
    },
    /// A turn ended.
    TurnFinished {
        /// The turn.
        turn_id: TurnId,
        /// How it ended.
        status: TurnStatus,
        /// Why, when it did not complete.
        error: Option<String>,
    },
    /// A tool call waits for a human decision.
    ApprovalRequested {
        /// The approval.
        approval_id: orchestra_domain::ApprovalId,
        /// The tool.
        tool_name: String,
    },
    /// A human (or the timeout) decided.
    ApprovalDecided {
        /// The approval.
        approval_id: orchestra_domain::ApprovalId,
        /// How.
        status: orchestra_domain::ApprovalStatus,
    },
    /// The session's idle process was stopped; it stays Active and the next message starts
    /// it again.
    AgentSuspended {
        /// `idle` or `evicted`.
        reason: &'static str,
    },
    /// A message started a suspended session's process again.
    AgentResumed,
    /// The session's status changed.
    StatusChanged {
        /// The new status.
        status: SessionStatus,
        /// Why.
        reason: Option<String>,
    },
    /// An event of a suspended session's last turn, read back from the database in its
    /// wire form (the log was evicted, the node restarted, or another node ran it).
    Restored {
        /// Its SSE event name.
        kind: String,
        /// Its `data`.
        data: serde_json::Value,
    },
}

impl SessionEvent {
    /// The SSE event name.
    pub fn kind(&self) -> &str {
        match self {
            Self::Restored { kind, .. } => kind,
            Self::Agent(e) => e.kind(),
            Self::TurnStarted { .. } => "turn_started",
            Self::TurnFinished { .. } => "turn_finished",
            Self::StatusChanged { .. } => "status_changed",
            Self::ApprovalRequested { .. } => "approval_requested",
            Self::ApprovalDecided { .. } => "approval_decided",
            Self::AgentSuspended { .. } => "agent_suspended",
            Self::AgentResumed => "agent_resumed",
        }
    }
}

/// An event with its place in the session's log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// 1-based, increasing by one per event within the session (for this process's life).
    pub seq: u64,
    /// When Orchestra saw it.
    pub at: DateTime<Utc>,
    /// The session.
    pub session_id: SessionId,
    /// What happened.
    pub event: SessionEvent,
}

/// What a subscriber gets: the buffered events after its point, whether some it asked for
/// were already dropped from the buffer, and the live feed.
#[derive(Debug)]
pub struct Subscription {
    /// Buffered events after the requested point, oldest first.
    pub backlog: Vec<Arc<LoggedEvent>>,
    /// The first event after the requested point is no longer buffered.
    pub gap: bool,
    /// The point the backlog starts after: the one asked for, or 0 when the client names a
    /// point this log never reached (the log was started again, after a restart or an
    /// eviction), so it gets everything there is.
    pub after: u64,
    /// Events from now on.
    pub live: broadcast::Receiver<Arc<LoggedEvent>>,
}

/// How much a session's log keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBounds {
    /// Events at most.
    pub events: usize,
    /// Bytes at most (estimated; the newest event is always kept).
    pub bytes: usize,
    /// Bytes of one payload (a text, a tool input, ...) at most; longer ones are cut.
    pub payload_bytes: usize,
}

impl Default for LogBounds {
    fn default() -> Self {
        Self {
            events: 2000,
            bytes: 1024 * 1024,
            payload_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug)]
struct Inner {
    next: u64,
    /// The buffered events with their estimated sizes.
    buf: VecDeque<(Arc<LoggedEvent>, usize)>,
    bytes: usize,
    bounds: LogBounds,
    /// Sequence number of the latest `TurnStarted`.
    turn_start: Option<u64>,
    /// When an event was last appended or the log last handed out.
    last_used: Instant,
    /// The live feed, made on the first subscription: a broadcast channel allocates all its
    /// slots up front, which thousands of unwatched sessions' logs should not pay for.
    tx: Option<broadcast::Sender<Arc<LoggedEvent>>>,
}

/// Slots of a log's live feed; a subscriber that falls further behind catches up from the
/// buffer.
const FEED_SLOTS: usize = 256;

impl Inner {
    fn receivers(&self) -> usize {
        self.tx
            .as_ref()
            .map_or(0, broadcast::Sender::receiver_count)
    }
}

/// A bounded, sequenced event log with live fan-out.
#[derive(Debug)]
pub struct EventLog {
    session_id: SessionId,
    inner: Mutex<Inner>,
}

impl EventLog {
    /// A log keeping within `bounds`.
    pub fn new(session_id: SessionId, bounds: LogBounds) -> Self {
        let bounds = LogBounds {
            events: bounds.events.max(1),
            bytes: bounds.bytes.max(1),
            payload_bytes: bounds.payload_bytes.max(64),
        };
        Self {
            session_id,
            inner: Mutex::new(Inner {
                next: 1,
                buf: VecDeque::new(),
                bytes: 0,
                bounds,
                turn_start: None,
                last_used: Instant::now(),
                tx: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends an event and publishes it; returns its sequence number.
    pub fn append(&self, at: DateTime<Utc>, event: SessionEvent) -> u64 {
        let mut inner = self.lock();
        let (event, cut) = cut_payloads(event, inner.bounds.payload_bytes);
        if cut {
            metrics::counter!(m::AGENT_EVENT_PAYLOADS_TRUNCATED_TOTAL).increment(1);
        }
        let size = approx_bytes(&event);
        let seq = inner.next;
        inner.next += 1;
        inner.last_used = Instant::now();
        if matches!(event, SessionEvent::TurnStarted { .. }) {
            inner.turn_start = Some(seq);
        }
        let logged = Arc::new(LoggedEvent {
            seq,
            at,
            session_id: self.session_id,
            event,
        });
        inner.buf.push_back((Arc::clone(&logged), size));
        inner.bytes += size;
        while inner.buf.len() > 1
            && (inner.buf.len() > inner.bounds.events || inner.bytes > inner.bounds.bytes)
        {
            if let Some((_, dropped)) = inner.buf.pop_front() {
                inner.bytes -= dropped;
            }
        }
        // Sent under the lock, so a subscriber's backlog and live feed never overlap or gap.
        if let Some(tx) = &inner.tx {
            let _ = tx.send(logged);
        }
        seq
    }

    /// Everything after `after` plus the live feed. Without `after`, the replay starts at the
    /// latest turn (so a client that connects mid-turn sees that turn from its start).
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        let mut inner = self.lock();
        let bounds = inner.bounds;
        let live = inner
            .tx
            .get_or_insert_with(|| broadcast::channel(bounds.events.min(FEED_SLOTS)).0)
            .subscribe();
        let after = after.or_else(|| inner.turn_start.map(|s| s.saturating_sub(1)));
        let (backlog, gap, after) = Self::after_locked(&inner, after);
        Subscription {
            backlog,
            gap,
            after,
            live,
        }
    }

    /// The buffered events after `after` (to catch up after lagging behind the live feed).
    pub fn since(&self, after: u64) -> (Vec<Arc<LoggedEvent>>, bool) {
        let (events, gap, _) = Self::after_locked(&self.lock(), Some(after));
        (events, gap)
    }

    fn after_locked(inner: &Inner, after: Option<u64>) -> (Vec<Arc<LoggedEvent>>, bool, u64) {
        let asked = after.unwrap_or(0);
        // A point this log never reached: it was started again; everything is new.
        let restarted = asked >= inner.next;
        let after = if restarted { 0 } else { asked };
        let oldest = inner.buf.front().map_or(inner.next, |(e, _)| e.seq);
        let gap = restarted || (after + 1 < oldest && after + 1 < inner.next);
        (
            inner
                .buf
                .iter()
                .filter(|(e, _)| e.seq > after)
                .map(|(e, _)| Arc::clone(e))
                .collect(),
            gap,
            after,
        )
    }

    /// Drops what came before the latest turn (a suspended session keeps its last turn for
    /// replay, not its whole history). Returns the bytes freed.
    pub(crate) fn keep_last_turn(&self) -> usize {
        let mut inner = self.lock();
        let Some(start) = inner.turn_start else {
            return 0;
        };
        let mut freed = 0;
        while inner.buf.front().is_some_and(|(e, _)| e.seq < start) {
            if let Some((_, size)) = inner.buf.pop_front() {
                freed += size;
            }
        }
        inner.bytes -= freed;
        freed
    }

    /// When the log was last used.
    pub(crate) fn last_used(&self) -> Instant {
        self.lock().last_used
    }

    /// Whether anyone follows the live feed.
    pub(crate) fn is_followed(&self) -> bool {
        self.lock().receivers() > 0
    }

    /// Bytes held (estimated) and events buffered.
    pub fn held(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.bytes, inner.buf.len())
    }

    /// Marks the log as used now (it was handed out, so it is about to be followed).
    pub(crate) fn touch(&self) {
        self.lock().last_used = Instant::now();
    }

    /// Whether the log was not used for `idle` and nobody follows the live feed.
    pub(crate) fn is_idle(&self, idle: std::time::Duration) -> bool {
        let inner = self.lock();
        inner.last_used.elapsed() >= idle && inner.receivers() == 0
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.lock().next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(n: usize) -> LogBounds {
        LogBounds {
            events: n,
            ..LogBounds::default()
        }
    }

    fn ev(n: i64) -> SessionEvent {
        SessionEvent::TurnStarted {
            turn_id: TurnId::new(),
            seq: n,
        }
    }

    #[tokio::test]
    async fn a_reconnecting_subscriber_gets_what_it_missed_then_the_live_feed() {
        let log = EventLog::new(SessionId::new(), events(100));
        for i in 0..5 {
            log.append(DateTime::<Utc>::UNIX_EPOCH, ev(i));
        }
        let mut sub = log.subscribe(Some(3));
        assert_eq!(
            sub.backlog.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert!(!sub.gap);
        log.append(DateTime::<Utc>::UNIX_EPOCH, ev(6));
        assert_eq!(sub.live.recv().await.unwrap().seq, 6);
    }

    #[tokio::test]
    async fn a_subscriber_older_than_the_buffer_is_told_about_the_gap() {
        let log = EventLog::new(SessionId::new(), events(3));
        for i in 0..10 {
            log.append(DateTime::<Utc>::UNIX_EPOCH, ev(i));
        }
        let sub = log.subscribe(Some(2));
        assert!(sub.gap);
        assert_eq!(
            sub.backlog.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        let fresh = log.subscribe(Some(10));
        assert!(!fresh.gap && fresh.backlog.is_empty());
        let everything = EventLog::new(SessionId::new(), events(3)).subscribe(None);
        assert!(!everything.gap);
    }

    #[test]
    fn the_log_keeps_to_its_byte_budget_and_cuts_large_payloads() {
        let log = EventLog::new(
            SessionId::new(),
            LogBounds {
                events: 10_000,
                bytes: 64 * 1024,
                payload_bytes: 4096,
            },
        );
        for _ in 0..1000 {
            log.append(
                DateTime::<Utc>::UNIX_EPOCH,
                SessionEvent::Agent(AgentEvent::AssistantText {
                    text: "x".repeat(100_000),
                }),
            );
        }
        let (bytes, count) = log.held();
        assert!(bytes <= 64 * 1024, "{bytes}");
        assert!(
            (10..20).contains(&count),
            "{count} events of about 4 KB each"
        );
        let (kept, gap) = log.since(0);
        assert!(gap, "the first events are gone");
        let SessionEvent::Agent(AgentEvent::AssistantText { text }) = &kept[0].event else {
            panic!("{:?}", kept[0])
        };
        assert!(text.len() < 4200 && text.ends_with("100000 bytes in all]"));
        // One event over the whole budget is still kept (it is the newest).
        let tiny = EventLog::new(
            SessionId::new(),
            LogBounds {
                events: 10,
                bytes: 10,
                payload_bytes: 4096,
            },
        );
        tiny.append(DateTime::<Utc>::UNIX_EPOCH, ev(1));
        tiny.append(DateTime::<Utc>::UNIX_EPOCH, ev(2));
        assert_eq!(
            tiny.since(0).0.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![2]
        );
    }

    #[tokio::test]
    async fn a_client_ahead_of_a_restarted_log_gets_everything_and_is_told() {
        let log = EventLog::new(SessionId::new(), events(100));
        log.append(DateTime::<Utc>::UNIX_EPOCH, ev(1));
        log.append(DateTime::<Utc>::UNIX_EPOCH, ev(2));
        // The client saw seq 40 from the log before a restart or an eviction.
        let mut sub = log.subscribe(Some(40));
        assert!(sub.gap);
        assert_eq!(sub.after, 0);
        assert_eq!(
            sub.backlog.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        log.append(DateTime::<Utc>::UNIX_EPOCH, ev(3));
        assert_eq!(sub.live.recv().await.unwrap().seq, 3);
        // Caught up exactly: no gap.
        let sub = log.subscribe(Some(3));
        assert!(!sub.gap && sub.backlog.is_empty() && sub.after == 3);
    }
}
