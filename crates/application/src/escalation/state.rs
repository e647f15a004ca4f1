//! What escalation remembers about one session: the prompts its process waits on, the tool
//! uses Orchestra answered, the parked approval, continuations, one-time allows and refusals.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use orchestra_domain::ApprovalId;

use super::grants::CallMemory;

/// A prompt waiting for a human.
#[derive(Debug, Clone)]
pub(crate) struct PendingPrompt {
    /// The control request id to answer.
    pub request_id: String,
    /// Its tool use.
    pub tool_use_id: Option<String>,
    /// When it was asked.
    pub asked_at: Instant,
    /// The `permission_prompt` span: open until the agent is answered.
    pub span: tracing::Span,
}

/// One session's escalation state.
#[derive(Debug, Default)]
pub(crate) struct SessionEscalation {
    /// Prompts of the live process waiting for a human, by approval.
    pub pending: HashMap<ApprovalId, PendingPrompt>,
    /// Tool uses of the live process that Orchestra answered.
    pub answered: HashSet<String>,
    /// The approval the live process's turn was parked on.
    pub parked: Option<ApprovalId>,
    /// Prompts to send once the running turn ends (continuations after approvals).
    pub continuations: VecDeque<String>,
    /// One-time allows and refused calls (outlives processes).
    pub calls: CallMemory,
}

impl SessionEscalation {
    /// Forgets what belonged to the process (prompts, answers, parking, continuations);
    /// one-time allows and refusals stay.
    pub(crate) fn reset_process(&mut self) {
        self.pending.clear();
        self.answered.clear();
        self.parked = None;
        self.continuations.clear();
    }

    /// The oldest prompt that waited longer than `after`, if the session is not parked yet:
    /// it becomes the parked one.
    pub(crate) fn due_park(&mut self, after: Duration) -> Option<(ApprovalId, PendingPrompt)> {
        if self.parked.is_some() {
            return None;
        }
        let (id, _) = self
            .pending
            .iter()
            .filter(|(_, p)| p.asked_at.elapsed() >= after)
            .min_by_key(|(_, p)| p.asked_at)?;
        let id = *id;
        let prompt = self.pending.remove(&id)?;
        self.parked = Some(id);
        Some((id, prompt))
    }
}
