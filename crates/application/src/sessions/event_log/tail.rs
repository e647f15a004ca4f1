//! A log's tail in the database: what a suspension stores (the buffered events in their
//! wire form) and the log a later start makes of it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use orchestra_domain::SessionId;

use super::{EventLog, LogBounds, LoggedEvent, SessionEvent};
use crate::ports::StoredTail;
use crate::sessions::event_bounds::approx_bytes;

impl EventLog {
    /// The buffered events in their wire form (one JSON object per line) and the next
    /// sequence number: what a suspended session keeps in the database for its replay.
    pub(crate) fn tail(&self) -> StoredTail {
        self.tail_from(None)
    }

    /// [`Self::tail`] of the last turn only (from its `turn_started`), leaving the log as it
    /// is: what is stored when a turn ends, so that a crash of this node loses no replay.
    pub(crate) fn last_turn_tail(&self) -> StoredTail {
        let start = self.lock().turn_start;
        self.tail_from(start)
    }

    fn tail_from(&self, start: Option<u64>) -> StoredTail {
        let inner = self.lock();
        let mut events = Vec::with_capacity(inner.bytes);
        for (e, _) in inner
            .buf
            .iter()
            .filter(|(e, _)| start.is_none_or(|s| e.seq >= s))
        {
            // A `Value` always serializes.
            let _ = serde_json::to_writer(&mut events, &crate::sessions::event_json(e));
            events.push(b'\n');
        }
        StoredTail {
            next_seq: inner.next,
            events,
        }
    }

    /// A log that starts with a stored tail's events (as [`SessionEvent::Restored`]) and
    /// goes on from its sequence number.
    ///
    /// # Errors
    /// What is wrong with the stored tail (it is then not used).
    pub(crate) fn restored(
        session_id: SessionId,
        bounds: LogBounds,
        tail: &StoredTail,
    ) -> Result<Self, String> {
        let log = Self::new(session_id, bounds);
        {
            let mut inner = log.lock();
            for line in tail.events.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let mut v: serde_json::Value =
                    serde_json::from_slice(line).map_err(|e| format!("an event: {e}"))?;
                let seq = v["seq"].as_u64().ok_or("an event without its seq")?;
                let at = v["at"]
                    .as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .ok_or("an event without its time")?
                    .with_timezone(&Utc);
                let kind = v["type"]
                    .as_str()
                    .ok_or("an event without its type")?
                    .to_owned();
                if seq < inner.next {
                    return Err(format!("event {seq} out of order"));
                }
                if kind == "turn_started" {
                    inner.turn_start = Some(seq);
                }
                let event = SessionEvent::Restored {
                    kind,
                    data: v["data"].take(),
                };
                let size = approx_bytes(&event);
                inner.buf.push_back((
                    Arc::new(LoggedEvent {
                        seq,
                        at,
                        session_id,
                        event,
                    }),
                    size,
                ));
                inner.bytes += size;
                inner.next = seq + 1;
            }
            if tail.next_seq < inner.next {
                return Err(format!(
                    "next sequence {} is behind its events ({})",
                    tail.next_seq, inner.next
                ));
            }
            inner.next = tail.next_seq;
        }
        Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use orchestra_domain::TurnId;
    use serde_json::json;

    use super::*;
    use crate::ports::AgentEvent;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn a_tail_comes_back_as_the_same_wire_events_and_numbering() {
        let id = SessionId::new();
        let log = EventLog::new(id, LogBounds::default());
        let turn = TurnId::new();
        log.append(at(1), SessionEvent::AgentResumed);
        log.append(
            at(2),
            SessionEvent::TurnStarted {
                turn_id: turn,
                seq: 1,
            },
        );
        log.append(
            at(3),
            SessionEvent::Agent(AgentEvent::ToolUse {
                id: "t1".into(),
                name: "Bash".into(),
                input: json!({"command": "echo <hi> & \u{1F600}"}),
            }),
        );
        log.append(at(4), SessionEvent::AgentSuspended { reason: "idle" });
        let tail = log.tail();
        let back = EventLog::restored(id, LogBounds::default(), &tail).unwrap();
        let wire = |l: &EventLog| -> Vec<serde_json::Value> {
            l.since(0)
                .0
                .iter()
                .map(|e| crate::sessions::event_json(e))
                .collect()
        };
        assert_eq!(wire(&back), wire(&log));
        assert_eq!(back.next_seq(), 5);
        // A subscriber without a point starts at the last turn, as before.
        let sub = back.subscribe(None);
        assert_eq!(sub.backlog.first().map(|e| e.seq), Some(2));
        assert_eq!(
            sub.backlog.first().map(|e| e.event.kind()),
            Some("turn_started")
        );
        // New events go on from there.
        assert_eq!(back.append(at(5), SessionEvent::AgentResumed), 5);
    }

    #[test]
    fn a_damaged_tail_is_refused() {
        let id = SessionId::new();
        let refused = |events: &str, next_seq: u64| {
            EventLog::restored(
                id,
                LogBounds::default(),
                &StoredTail {
                    next_seq,
                    events: events.as_bytes().to_vec(),
                },
            )
            .is_err()
        };
        let ok = r#"{"seq":3,"at":"2026-12-03T00:00:00Z","type":"agent_resumed","data":{}}"#;
        assert!(!refused(ok, 4));
        assert!(refused(ok, 2), "next sequence behind its events");
        assert!(refused("not json", 1));
        assert!(refused(r#"{"seq":1,"type":"x","data":{}}"#, 2), "no time");
        assert!(refused(&format!("{ok}\n{ok}"), 4), "out of order");
    }
}
