//! The per-session event log behind `GET /api/sessions/{id}/events`: a bounded, sequenced
//! buffer plus a broadcast, so a client that reconnects with the last id it saw gets
//! everything after it that is still buffered, then the live stream, with no gap between.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use orchestra_domain::{SessionId, SessionStatus, TurnId, TurnStatus};
use tokio::sync::broadcast;

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
    /// The session's status changed.
    StatusChanged {
        /// The new status.
        status: SessionStatus,
        /// Why.
        reason: Option<String>,
    },
}

impl SessionEvent {
    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Agent(e) => e.kind(),
            Self::TurnStarted { .. } => "turn_started",
            Self::TurnFinished { .. } => "turn_finished",
            Self::StatusChanged { .. } => "status_changed",
            Self::ApprovalRequested { .. } => "approval_requested",
            Self::ApprovalDecided { .. } => "approval_decided",
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
    /// Events from now on.
    pub live: broadcast::Receiver<Arc<LoggedEvent>>,
}

#[derive(Debug)]
struct Inner {
    next: u64,
    buf: VecDeque<Arc<LoggedEvent>>,
    capacity: usize,
    /// Sequence number of the latest `TurnStarted`.
    turn_start: Option<u64>,
}

/// A bounded, sequenced event log with live fan-out.
#[derive(Debug)]
pub struct EventLog {
    session_id: SessionId,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<LoggedEvent>>,
}

impl EventLog {
    /// A log keeping the last `capacity` events.
    pub fn new(session_id: SessionId, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (tx, _) = broadcast::channel(capacity);
        Self {
            session_id,
            inner: Mutex::new(Inner {
                next: 1,
                buf: VecDeque::new(),
                capacity,
                turn_start: None,
            }),
            tx,
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
        let seq = inner.next;
        inner.next += 1;
        if matches!(event, SessionEvent::TurnStarted { .. }) {
            inner.turn_start = Some(seq);
        }
        let logged = Arc::new(LoggedEvent {
            seq,
            at,
            session_id: self.session_id,
            event,
        });
        inner.buf.push_back(Arc::clone(&logged));
        while inner.buf.len() > inner.capacity {
            inner.buf.pop_front();
        }
        // Sent under the lock, so a subscriber's backlog and live feed never overlap or gap.
        let _ = self.tx.send(logged);
        seq
    }

    /// Everything after `after` plus the live feed. Without `after`, the replay starts at the
    /// latest turn (so a client that connects mid-turn sees that turn from its start).
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        let inner = self.lock();
        let live = self.tx.subscribe();
        let after = after.or_else(|| inner.turn_start.map(|s| s.saturating_sub(1)));
        let (backlog, gap) = Self::after_locked(&inner, after);
        Subscription { backlog, gap, live }
    }

    /// The buffered events after `after` (to catch up after lagging behind the live feed).
    pub fn since(&self, after: u64) -> (Vec<Arc<LoggedEvent>>, bool) {
        Self::after_locked(&self.lock(), Some(after))
    }

    fn after_locked(inner: &Inner, after: Option<u64>) -> (Vec<Arc<LoggedEvent>>, bool) {
        let after = after.unwrap_or(0);
        let oldest = inner.buf.front().map_or(inner.next, |e| e.seq);
        let gap = after + 1 < oldest && after + 1 < inner.next;
        (
            inner
                .buf
                .iter()
                .filter(|e| e.seq > after)
                .cloned()
                .collect(),
            gap,
        )
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.lock().next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: i64) -> SessionEvent {
        SessionEvent::TurnStarted {
            turn_id: TurnId::new(),
            seq: n,
        }
    }

    #[tokio::test]
    async fn a_reconnecting_subscriber_gets_what_it_missed_then_the_live_feed() {
        let log = EventLog::new(SessionId::new(), 100);
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
        let log = EventLog::new(SessionId::new(), 3);
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
        let everything = EventLog::new(SessionId::new(), 3).subscribe(None);
        assert!(!everything.gap);
    }
}
