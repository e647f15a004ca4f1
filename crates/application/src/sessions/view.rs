//! What the live side of sessions looks like right now: a session's process and turn, its
//! event log, and the slots in use.

use std::sync::Arc;

use orchestra_domain::{ApprovalId, SessionId, TurnId};

use super::deps::SessionDeps;
use super::event_log::EventLog;

/// What a live session looks like right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveInfo {
    /// OS process id.
    pub pid: Option<u32>,
    /// The running turn.
    pub current_turn: Option<TurnId>,
    /// Seconds since the last output.
    pub idle_seconds: u64,
    /// Approvals the agent waits for.
    pub pending_approvals: Vec<ApprovalId>,
}

/// Reads the live side of sessions.
#[derive(Debug, Clone)]
pub struct LiveSessions {
    deps: SessionDeps,
}

impl LiveSessions {
    /// A view over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self { deps }
    }

    /// What the live process of a session is doing, if it has one.
    pub fn info(&self, id: SessionId) -> Option<LiveInfo> {
        let live = self.deps.registry.get(id)?;
        let st = live.state();
        Some(LiveInfo {
            pid: live.process.pid(),
            current_turn: st.running_turn(),
            idle_seconds: st.last_activity.elapsed().as_secs(),
            pending_approvals: self
                .deps
                .escalation
                .as_ref()
                .map(|e| e.pending_approvals(id))
                .unwrap_or_default(),
        })
    }

    /// Refuses (409 `session_owned_elsewhere`) when another live node runs the session:
    /// its events are in that node's log, not in this one's.
    ///
    /// # Errors
    /// That conflict, or the database's error.
    pub async fn ensure_served_here(&self, id: SessionId) -> Result<(), crate::error::AppError> {
        self.deps.ensure_not_elsewhere(id).await
    }

    /// The session's event log (created on first use; started from the last turn its last
    /// suspension stored when this node has none).
    pub async fn event_log(&self, id: SessionId) -> Arc<EventLog> {
        self.deps.restored_log(id).await
    }

    /// Live processes now.
    pub fn live_count(&self) -> usize {
        self.deps.registry.live_count()
    }

    /// Process slots in all.
    pub fn max_processes(&self) -> usize {
        self.deps.registry.capacity()
    }

    /// Callers waiting for a slot.
    pub fn queued(&self) -> usize {
        self.deps.registry.queued()
    }
}
