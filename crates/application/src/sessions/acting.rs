//! Each decision carried out exactly once, across crashes and nodes.
//!
//! A decision is committed `due` (with its audit event). The node that carries it out claims
//! it first (`due` → `acting`, a compare-and-set), tells the agent, then records it `done`.
//! A crash before the claim leaves it `due`: the recovery pass (at start, then every
//! [`UNACTED_PASS_INTERVAL`]) carries it out, so an approved call runs and a denial is
//! recorded. A crash after the claim leaves it `acting`: the answer may already be with the
//! agent, so it is marked `uncertain` and never sent again — a tool runs at most once, and
//! the rare case is counted, logged and shown on the approval.

use std::time::Duration;

use orchestra_domain::{ActedOn, ApprovalRequest, SessionId};

use super::driver::EscalationDriver;
use crate::escalation::Escalation;
use crate::metrics_names as m;

/// How often decisions nobody acted on are looked for.
pub const UNACTED_PASS_INTERVAL: Duration = Duration::from_secs(5);

/// A claim older than this belongs to a node that stopped midway.
const ACTING_LEASE_SECS: i64 = 60;

/// How long the immediate path has before the pass takes a decision over (either may win
/// the claim; this only keeps the pass from racing it needlessly).
const UNACTED_GRACE_MILLIS: i64 = 1000;

/// Decisions handled per pass, at most.
const PASS_LIMIT: u32 = 100;

impl EscalationDriver {
    /// A decision (any channel, or expiry): claimed, carried out, recorded. A decision
    /// already claimed or done is left.
    pub async fn on_decided(&self, approval: ApprovalRequest) {
        self.claim_and_act(approval).await;
    }

    /// True when this call carried the decision out.
    async fn claim_and_act(&self, approval: ApprovalRequest) -> bool {
        let Some(esc) = self.escalation() else {
            return false;
        };
        if approval.acted_on() != ActedOn::Due {
            return false;
        }
        let id = approval.id();
        if let Ok(sid) = approval.request().session_id.parse::<SessionId>()
            && !self.deps.registry.is_live(sid)
            && (self.session_unreadable(sid).await || self.runs_elsewhere(sid).await)
        {
            return false;
        }
        let repo = &esc.deps().repo;
        let node = &esc.settings().node_id;
        match repo.claim_action(id, node, self.deps.clock.now()).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(err) => {
                metrics::counter!(m::ESCALATION_DECISION_ACTION_ERRORS_TOTAL).increment(1);
                tracing::warn!(approval.id = %id, error = %err, "could not claim the decision; the recovery pass retries it");
                return false;
            }
        }
        if !self.act(esc, &approval).await {
            // Nothing reached the agent: the next pass (or the restart) tries again.
            metrics::counter!(m::ESCALATION_DECISION_ACTION_ERRORS_TOTAL).increment(1);
            tracing::warn!(approval.id = %id, session.id = %approval.request().session_id, "the decision could not be carried out now; it stays due and is tried again");
            if let Err(err) = repo
                .finish_action(id, ActedOn::Due, self.deps.clock.now())
                .await
            {
                tracing::warn!(approval.id = %id, error = %err, "could not put the decision back as due; it will show as uncertain");
            }
            return false;
        }
        if let Err(err) = repo
            .finish_action(id, ActedOn::Done, self.deps.clock.now())
            .await
        {
            metrics::counter!(m::ESCALATION_DECISION_ACTION_ERRORS_TOTAL).increment(1);
            tracing::warn!(approval.id = %id, error = %err, "the decision was carried out but could not be recorded as such; it will show as uncertain");
        }
        true
    }

    /// Whether the decision must wait for the next pass: the database cannot say what the
    /// session is now. A session Active without a process here and without another live
    /// node's lease is suspended: acting on the decision resumes it (here), under its
    /// lifecycle lock, so it never races a message that wakes it.
    async fn session_unreadable(&self, sid: SessionId) -> bool {
        self.deps.sessions.find(sid).await.is_err()
    }

    /// Whether another live node runs the session: that node carries the decision out (it
    /// polls the decisions of its waiting prompts); a lease that cannot be read waits too.
    async fn runs_elsewhere(&self, sid: SessionId) -> bool {
        let Some(leases) = &self.deps.leases else {
            return false;
        };
        !matches!(leases.owner_elsewhere(sid).await, Ok(None))
    }

    /// Marks `uncertain` the decisions a stopped node left midway: at start this node's
    /// earlier run's, always any claim older than the lease.
    pub(super) async fn abandon_interrupted(&self, esc: &Escalation, at_start: bool) {
        let now = self.deps.clock.now();
        // Node ids are never empty: outside the start, no claim matches by node.
        let node = if at_start {
            esc.settings().node_id.as_str()
        } else {
            ""
        };
        let stale_before = now - chrono::Duration::seconds(ACTING_LEASE_SECS);
        match esc
            .deps()
            .repo
            .abandon_actions(node, stale_before, now, PASS_LIMIT)
            .await
        {
            Ok(abandoned) => {
                for a in abandoned {
                    metrics::counter!(m::ESCALATION_DECISIONS_UNCERTAIN_TOTAL).increment(1);
                    tracing::error!(
                        approval.id = %a.id(),
                        session.id = %a.request().session_id,
                        approval.status = a.status().as_str(),
                        "Orchestra stopped while telling the agent about this decision; it may or may not have reached the agent and is not sent again: check the session"
                    );
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not look for interrupted decisions; retrying next pass");
            }
        }
    }

    /// Carries out the decisions nobody acted on (at start, all of them: nothing of this
    /// node is in flight yet).
    pub(super) async fn act_on_unacted(&self, esc: &Escalation, at_start: bool) {
        let grace = if at_start { 0 } else { UNACTED_GRACE_MILLIS };
        let before = self.deps.clock.now() - chrono::Duration::milliseconds(grace);
        let due = match esc.deps().repo.list_unacted(before, PASS_LIMIT).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for decisions nobody acted on; retrying next pass");
                return;
            }
        };
        for approval in due {
            let (id, sid) = (approval.id(), approval.request().session_id.clone());
            if self.claim_and_act(approval).await {
                metrics::counter!(m::ESCALATION_DECISIONS_RECOVERED_TOTAL).increment(1);
                tracing::info!(approval.id = %id, session.id = %sid, "carried out a decision nobody had acted on");
            }
        }
    }
}
