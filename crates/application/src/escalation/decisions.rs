//! The one path by which decisions reach waiting agents: the in-process event bus, which
//! also carries the database's announcements of decisions made on other nodes (PostgreSQL's
//! `LISTEN/NOTIFY`), with the database poll (an announcement missed while the listener was
//! reconnecting, or by a lagging subscriber) feeding the same stream.

use std::collections::VecDeque;
use std::time::Duration;

use orchestra_domain::{ApprovalId, ApprovalRequest, ApprovalStatus};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::Escalation;
use crate::approvals::ApprovalEvent;

/// How often the feed reads the approvals that live prompts wait for from the database.
/// Decisions made in this process arrive at once through the bus, and so do those of other
/// nodes on PostgreSQL (announced by the database); the poll is the safety net for an
/// announcement that was missed.
pub const DECISION_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A stream of decided approvals.
#[derive(Debug)]
pub struct DecisionFeed {
    escalation: Escalation,
    events: broadcast::Receiver<ApprovalEvent>,
    polled: VecDeque<ApprovalRequest>,
    next_poll: Instant,
    interval: Duration,
}

impl DecisionFeed {
    /// A feed that starts listening now.
    pub fn new(escalation: &Escalation) -> Self {
        Self {
            events: escalation.deps().events.subscribe(),
            escalation: escalation.clone(),
            polled: VecDeque::new(),
            next_poll: Instant::now() + DECISION_POLL_INTERVAL,
            interval: DECISION_POLL_INTERVAL,
        }
    }

    /// The next decision. `None` once the bus is closed.
    pub async fn next(&mut self) -> Option<ApprovalRequest> {
        loop {
            if let Some(a) = self.polled.pop_front() {
                return Some(a);
            }
            tokio::select! {
                event = self.events.recv() => match event {
                    Ok(ApprovalEvent::Decided(a)) => return Some(a),
                    Ok(ApprovalEvent::DecidedInDatabase(id)) => self.read_if_waiting(id).await,
                    Ok(ApprovalEvent::Opened(_)) => {}
                    // Missed some: read the database now.
                    Err(RecvError::Lagged(_)) => self.poll().await,
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(self.next_poll) => self.poll().await,
            }
        }
    }

    /// An approval the database says left Pending: read if a live prompt here waits for it
    /// (a duplicate of a decision already delivered is harmless: acting on a decision is a
    /// compare-and-set).
    async fn read_if_waiting(&mut self, id: ApprovalId) {
        if !self.escalation.is_waiting(id) {
            return;
        }
        match self.escalation.deps().repo.find(id).await {
            Ok(Some(a)) if a.status() != ApprovalStatus::Pending => self.polled.push_back(a),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(approval.id = %id, error = %err, "could not read an approval decided elsewhere; the poll retries");
            }
        }
    }

    async fn poll(&mut self) {
        self.next_poll = Instant::now() + self.interval;
        for id in self.escalation.waiting() {
            match self.escalation.deps().repo.find(id).await {
                Ok(Some(a)) if a.status() != ApprovalStatus::Pending => self.polled.push_back(a),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(approval.id = %id, error = %err, "could not read a waiting approval");
                    break;
                }
            }
        }
    }
}
