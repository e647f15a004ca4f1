//! Escalation: what stands between an agent's request to use a tool and the tool running.
//!
//! A live agent's permission prompt is answered from the session's grants or becomes a
//! persisted approval (before anyone is notified) while the turn waits; a decision becomes
//! the answer to the prompt, or, when no prompt waits any more (parked, a restart, a call the
//! CLI denied by itself), a one-time grant and a continuation of the session. [`Escalation`]
//! owns that state (waiting prompts, grants, the parked approval, continuations) and decides
//! what should happen; the sessions side ([`crate::sessions`]) carries it out on the live
//! process. Decisions reach it by one path: the [`decisions::DecisionFeed`] (the in-process
//! event bus, with the database poll feeding the same channel).

pub mod decisions;
mod grants;
mod plan;
mod prompts;
mod rules;
mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use orchestra_domain::{ApprovalId, ApprovalStatus, SessionId};

pub use decisions::{DECISION_POLL_INTERVAL, DecisionFeed};
pub use plan::{DecisionPlan, Park, PlanAction};
pub use prompts::{PermissionRequest, Prompted};
pub(crate) use rules::{exact_rule, session_rule};
use state::SessionEscalation;

use crate::approvals::{ApprovalEvents, CancelApprovalHandler, RequestApprovalHandler};
use crate::ports::{ApprovalFilter, ApprovalRepository, Clock, GrantRepository};

/// How permission prompts are escalated.
#[derive(Debug, Clone)]
pub struct EscalationSettings {
    /// How long a prompt may wait before the session is parked.
    pub park_after: Duration,
    /// The approval timeout (the policy's default when `None`).
    pub timeout: Option<chrono::Duration>,
    /// Whether agents ask through `--permission-prompt-tool stdio` (otherwise the CLI denies
    /// by itself and denials become approvals after the turn).
    pub live_prompts: bool,
    /// This node's id: it claims the decisions it carries out under this name.
    pub node_id: String,
    /// The server's tool policy (`policy.rules`), judged before any human is asked.
    pub policy: std::sync::Arc<orchestra_domain::policy::ToolPolicy>,
    /// The agents' HOME, for `~/` rules.
    pub agent_home: Option<String>,
    /// How many different approvers a `critical` call needs (`approvals.critical_approvers`).
    pub critical_approvers: u32,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        Self {
            park_after: Duration::from_secs(240),
            timeout: None,
            live_prompts: true,
            node_id: "local".into(),
            policy: std::sync::Arc::default(),
            agent_home: None,
            critical_approvers: 2,
        }
    }
}

/// The approval handlers escalation uses.
#[derive(Debug, Clone)]
pub struct EscalationDeps {
    /// Opens approvals.
    pub request: RequestApprovalHandler,
    /// Withdraws them (session paused or closed).
    pub cancel: CancelApprovalHandler,
    /// Reads their state (decisions made elsewhere).
    pub repo: Arc<dyn ApprovalRepository>,
    /// Decisions made in this process.
    pub events: ApprovalEvents,
    /// The grants humans made (on the approvals' decisions).
    pub grants: Arc<dyn GrantRepository>,
    /// The time (grants expire).
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug)]
struct Inner {
    deps: EscalationDeps,
    settings: EscalationSettings,
    sessions: Mutex<HashMap<SessionId, SessionEscalation>>,
}

/// Escalation's state and rules. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Escalation {
    inner: Arc<Inner>,
}

impl Escalation {
    /// Escalation over the approval handlers.
    pub fn new(deps: EscalationDeps, settings: EscalationSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                deps,
                settings,
                sessions: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &EscalationSettings {
        &self.inner.settings
    }

    /// Every rule a human ever granted the session (active, expired or revoked). They are
    /// Orchestra's to enforce: none is handed to the CLI from the session's allowed tools
    /// (sessions from before grants were stored have them there).
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn granted_rules(
        &self,
        id: SessionId,
    ) -> Result<Vec<String>, crate::ports::RepositoryError> {
        let grants = self.inner.deps.grants.for_session(&id.to_string()).await?;
        Ok(grants.into_iter().map(|g| g.terms.rule).collect())
    }

    /// The rules a new process of the session is started with beyond its spec: none with
    /// live prompts (Orchestra answers each call from the grants, so a revocation or expiry
    /// counts at once); without them the CLI decides alone, so the active grants are handed
    /// to it (and count from its next start). The session's allowed tools lose every rule a
    /// human granted either way.
    ///
    /// # Errors
    /// `Unavailable`: the process is not started rather than started with a revoked grant.
    pub(crate) async fn rules_for_start(
        &self,
        id: SessionId,
        allowed_tools: &mut Vec<String>,
    ) -> Result<Vec<String>, crate::ports::RepositoryError> {
        let grants = self.inner.deps.grants.for_session(&id.to_string()).await?;
        allowed_tools.retain(|r| !grants.iter().any(|g| &g.terms.rule == r));
        if self.inner.settings.live_prompts {
            return Ok(Vec::new());
        }
        let now = self.inner.deps.clock.now();
        Ok(grants
            .into_iter()
            .filter(|g| g.state(now) == orchestra_domain::GrantState::Active)
            .map(|g| g.terms.rule)
            .collect())
    }

    /// The active grant of the session that covers `call`, if any.
    ///
    /// # Errors
    /// `Unavailable`.
    pub(crate) async fn covering_grant(
        &self,
        id: SessionId,
        call: &orchestra_domain::policy::ToolCall<'_>,
    ) -> Result<Option<orchestra_domain::Grant>, crate::ports::RepositoryError> {
        let grants = self.inner.deps.grants.for_session(&id.to_string()).await?;
        let now = self.inner.deps.clock.now();
        Ok(grants.into_iter().find(|g| g.covers(call, now)))
    }

    pub(crate) fn deps(&self) -> &EscalationDeps {
        &self.inner.deps
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<SessionId, SessionEscalation>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the session's state, creating it.
    fn with<R>(&self, id: SessionId, f: impl FnOnce(&mut SessionEscalation) -> R) -> R {
        f(self.sessions().entry(id).or_default())
    }

    /// Runs `f` on the session's state if it has any.
    fn with_existing<R>(
        &self,
        id: SessionId,
        f: impl FnOnce(&mut SessionEscalation) -> R,
    ) -> Option<R> {
        self.sessions().get_mut(&id).map(f)
    }

    /// A new process started for the session: nothing of an earlier process waits.
    pub(crate) fn process_started(&self, id: SessionId) {
        self.with(id, SessionEscalation::reset_process);
    }

    /// The session's process is gone: its prompts can no longer be answered (their
    /// approvals stay Pending; a decision continues the session).
    pub(crate) fn process_gone(&self, id: SessionId) {
        self.with_existing(id, SessionEscalation::reset_process);
    }

    /// The session is closed: forget it.
    pub(crate) fn forget(&self, id: SessionId) {
        self.sessions().remove(&id);
    }

    /// Approvals the session's agent waits for now.
    pub fn pending_approvals(&self, id: SessionId) -> Vec<ApprovalId> {
        self.with_existing(id, |s| s.pending.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Whether the agent waits for a human (its watchdog must not count that time).
    pub fn is_waiting_on_human(&self, id: SessionId) -> bool {
        self.with_existing(id, |s| !s.pending.is_empty())
            .unwrap_or(false)
    }

    /// The approval the session's running turn was parked on, if any.
    pub(crate) fn parked(&self, id: SessionId) -> Option<ApprovalId> {
        self.with_existing(id, |s| s.parked).flatten()
    }

    /// Orchestra answered this tool use itself (its denial in the result is not escalated).
    pub(crate) fn note_answered(&self, id: SessionId, tool_use_id: &str) {
        self.with(id, |s| {
            s.answered.insert(tool_use_id.to_owned());
        });
    }

    /// A prompt to send once the running turn ends.
    pub(crate) fn queue_continuation(&self, id: SessionId, prompt: String) {
        self.with(id, |s| s.continuations.push_back(prompt));
    }

    /// Whether continuations wait to be sent to the session's process.
    pub(crate) fn has_continuations(&self, id: SessionId) -> bool {
        self.with_existing(id, |s| !s.continuations.is_empty())
            .unwrap_or(false)
    }

    /// The next queued continuation.
    pub(crate) fn next_continuation(&self, id: SessionId) -> Option<String> {
        self.with_existing(id, |s| s.continuations.pop_front())
            .flatten()
    }

    /// Prompts that waited longer than `park_after`, among `live` sessions: each is marked
    /// parked (no longer pending) and returned for the sessions side to deny with interrupt.
    pub(crate) fn due_parks(&self, live: &[SessionId]) -> Vec<Park> {
        let park_after = self.inner.settings.park_after;
        let mut sessions = self.sessions();
        live.iter()
            .filter_map(|id| {
                let s = sessions.get_mut(id)?;
                s.due_park(park_after).map(|(approval_id, prompt)| Park {
                    session_id: *id,
                    approval_id,
                    request_id: prompt.request_id,
                    tool_use_id: prompt.tool_use_id,
                    waited: prompt.asked_at.elapsed(),
                })
            })
            .collect()
    }

    /// Withdraws the session's Pending approvals (it was paused or closed by a client).
    pub(crate) async fn cancel_pending(&self, id: SessionId, reason: &str) {
        let filter = ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            session_id: Some(id.to_string()),
            kind: None,
            oldest_first: false,
        };
        if let Err(err) = self
            .inner
            .deps
            .cancel
            .cancel_all_pending(filter, "orchestra", reason)
            .await
        {
            // They stay Pending: decidable, and expired by the sweeper in time.
            tracing::warn!(session.id = %id, error = %err, "could not cancel the session's pending approvals");
        }
    }

    /// Whether a live prompt here waits for `id`.
    fn is_waiting(&self, id: ApprovalId) -> bool {
        self.sessions()
            .values()
            .any(|s| s.pending.contains_key(&id))
    }

    /// The approvals live prompts wait for, by session.
    fn waiting(&self) -> Vec<ApprovalId> {
        self.sessions()
            .values()
            .flat_map(|s| s.pending.keys().copied())
            .collect()
    }
}
