//! The sessions' event logs: made on first use, dropped when a session is closed, and
//! evicted when a session has been idle (no process, no subscriber, nothing new) for a while,
//! so memory follows the sessions in use, not every session ever opened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use orchestra_domain::SessionId;

use super::event_log::{EventLog, LogBounds};
use crate::metrics_names as m;

/// The sessions' event logs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLogs {
    bounds: LogBounds,
    logs: Arc<Mutex<HashMap<SessionId, Arc<EventLog>>>>,
}

/// What an eviction pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogsReport {
    /// Logs evicted by this pass.
    pub evicted: usize,
    /// Logs left.
    pub logs: usize,
    /// Bytes they hold (estimated).
    pub bytes: usize,
}

impl EventLogs {
    /// Logs that keep within `bounds` each.
    pub fn new(bounds: LogBounds) -> Self {
        Self {
            bounds,
            logs: Arc::default(),
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<SessionId, Arc<EventLog>>> {
        self.logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session's log, made on first use.
    pub fn get(&self, id: SessionId) -> Arc<EventLog> {
        let bounds = self.bounds;
        let log = Arc::clone(
            self.map()
                .entry(id)
                .or_insert_with(|| Arc::new(EventLog::new(id, bounds))),
        );
        log.touch();
        log
    }

    /// Puts `log` in as the session's log unless it has one by now; returns the one it has.
    pub(crate) fn insert_if_absent(&self, id: SessionId, log: EventLog) -> Arc<EventLog> {
        let log = Arc::clone(self.map().entry(id).or_insert_with(|| Arc::new(log)));
        log.touch();
        log
    }

    /// Puts `log` in as the session's log in place of the one it has (whose followers see
    /// nothing more and reconnect); returns it.
    pub(crate) fn replace(&self, id: SessionId, log: EventLog) -> Arc<EventLog> {
        let log = Arc::new(log);
        self.map().insert(id, Arc::clone(&log));
        log.touch();
        log
    }

    /// The bounds each log keeps to.
    pub(crate) fn bounds(&self) -> LogBounds {
        self.bounds
    }

    /// The session's log if it has one.
    pub fn existing(&self, id: SessionId) -> Option<Arc<EventLog>> {
        self.map().get(&id).cloned()
    }

    /// Drops a closed session's log.
    pub fn remove(&self, id: SessionId) {
        self.map().remove(&id);
    }

    /// Drops the logs unused for `idle` whose session has no live process (`is_live`) and
    /// no subscriber, then, while the logs of sessions without a process (and without a
    /// subscriber) hold more than `idle_budget` bytes together, the least recently used of
    /// them; publishes how many logs and bytes are held.
    pub fn evict_idle(
        &self,
        idle: Duration,
        idle_budget: usize,
        is_live: impl Fn(SessionId) -> bool,
    ) -> LogsReport {
        let mut report = LogsReport::default();
        let mut map = self.map();
        map.retain(|id, log| {
            let evict = log.is_idle(idle) && !is_live(*id);
            if evict {
                report.evicted += 1;
                tracing::debug!(session.id = %id, "idle session's event log evicted");
            } else {
                report.bytes += log.held().0;
            }
            !evict
        });
        let mut unlive: Vec<(std::time::Instant, SessionId, usize)> = map
            .iter()
            .filter(|(id, log)| !is_live(**id) && !log.is_followed())
            .map(|(id, log)| (log.last_used(), *id, log.held().0))
            .collect();
        let mut unlive_bytes: usize = unlive.iter().map(|(_, _, b)| b).sum();
        if unlive_bytes > idle_budget {
            unlive.sort_unstable_by_key(|(used, _, _)| *used);
            for (_, id, bytes) in unlive {
                if unlive_bytes <= idle_budget {
                    break;
                }
                map.remove(&id);
                unlive_bytes -= bytes;
                report.bytes -= bytes;
                report.evicted += 1;
                tracing::debug!(session.id = %id, "event log evicted to keep idle logs within their byte budget");
            }
        }
        report.logs = map.len();
        drop(map);
        #[expect(clippy::cast_precision_loss, reason = "counts and sizes fit f64 well")]
        {
            metrics::gauge!(m::AGENT_EVENT_LOGS).set(report.logs as f64);
            metrics::gauge!(m::AGENT_EVENT_LOG_BYTES).set(report.bytes as f64);
        }
        metrics::counter!(m::AGENT_EVENT_LOGS_EVICTED_TOTAL).increment(report.evicted as u64);
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::SessionEvent;
    use chrono::{DateTime, Utc};

    #[tokio::test]
    async fn idle_logs_are_evicted_unless_followed_or_live() {
        let logs = EventLogs::new(LogBounds::default());
        let (idle, followed, live) = (SessionId::new(), SessionId::new(), SessionId::new());
        for id in [idle, followed, live] {
            logs.get(id).append(
                DateTime::<Utc>::UNIX_EPOCH,
                SessionEvent::StatusChanged {
                    status: orchestra_domain::SessionStatus::Active,
                    reason: None,
                },
            );
        }
        let _sub = logs.get(followed).subscribe(None);
        // Nothing is idle for an hour yet.
        let report = logs.evict_idle(Duration::from_secs(3600), usize::MAX, |_| false);
        assert_eq!((report.evicted, report.logs), (0, 3));
        assert!(report.bytes > 0);
        let report = logs.evict_idle(Duration::ZERO, usize::MAX, |id| id == live);
        assert_eq!((report.evicted, report.logs), (1, 2));
        assert!(logs.existing(idle).is_none());
        assert!(logs.existing(followed).is_some() && logs.existing(live).is_some());
        // An evicted session's log starts again on use.
        assert_eq!(logs.get(idle).next_seq(), 1);
    }

    #[tokio::test]
    async fn logs_without_a_process_keep_within_their_byte_budget_oldest_out_first() {
        let logs = EventLogs::new(LogBounds::default());
        let ids: Vec<SessionId> = (0..4).map(|_| SessionId::new()).collect();
        for id in &ids {
            logs.get(*id).append(
                DateTime::<Utc>::UNIX_EPOCH,
                SessionEvent::StatusChanged {
                    status: orchestra_domain::SessionStatus::Active,
                    reason: Some("x".repeat(1000)),
                },
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let each = logs.existing(ids[0]).unwrap().held().0;
        let live = ids[0];
        // Room for two idle logs: the live one stays, the oldest idle one goes.
        let report = logs.evict_idle(Duration::from_secs(3600), 2 * each, |id| id == live);
        assert_eq!((report.evicted, report.logs), (1, 3), "{report:?}");
        assert!(
            logs.existing(ids[1]).is_none(),
            "the least recently used idle log"
        );
        assert!(logs.existing(live).is_some() && logs.existing(ids[3]).is_some());
        assert_eq!(report.bytes, 3 * each);
    }
}
