//! Deciding an approval: the `DecideApproval` command, its handler and the compare-and-set.

use orchestra_domain::{
    ApprovalId, ApprovalRequest, ApprovalScope, DecideApprovalError, DecisionOutcome,
};
use serde_json::Value;

use super::{ApprovalDeps, ApprovalEvent, record_decision_metrics};
use crate::audit::AuditRecord;
use crate::error::AppError;
use crate::ports::DecideOutcome;

/// The longest reason a decision may carry.
pub const MAX_REASON_CHARS: usize = 2000;

/// A human's decision on an approval.
#[derive(Debug, Clone, PartialEq)]
pub struct DecideApproval {
    /// Which approval.
    pub id: ApprovalId,
    /// Allow (`true`) or refuse (`false`).
    pub approved: bool,
    /// Who decided (`api`, `telegram:<user id>`, ...).
    pub decided_by: String,
    /// Why.
    pub reason: Option<String>,
    /// For an approval: the tool input to use instead.
    pub updated_input: Option<Value>,
    /// For an approval: once or for the rest of the session.
    pub scope: ApprovalScope,
}

/// Handles [`DecideApproval`]: compare-and-set in the repository, then publish and notify.
#[derive(Debug, Clone)]
pub struct DecideApprovalHandler {
    deps: ApprovalDeps,
}

impl DecideApprovalHandler {
    /// A handler over its ports.
    pub fn new(deps: ApprovalDeps) -> Self {
        Self { deps }
    }

    /// Decides the approval, exactly once.
    ///
    /// # Errors
    /// `NotFound`; `Decide(AlreadyDecided)` when another caller won; `Decide(PastDeadline)`
    /// after the deadline; `Invalid` for an oversized reason; `Unavailable`.
    pub async fn handle(&self, cmd: DecideApproval) -> Result<ApprovalRequest, AppError> {
        let span = tracing::info_span!(
            "decision",
            otel.name = "decision",
            orchestra.approval_id = %cmd.id,
            orchestra.decision = if cmd.approved { "approve" } else { "deny" },
            orchestra.decided_by = %cmd.decided_by,
        );
        tracing::Instrument::instrument(self.decide(cmd), span).await
    }

    async fn decide(&self, cmd: DecideApproval) -> Result<ApprovalRequest, AppError> {
        let reason = normalize_reason(cmd.reason)?;
        let outcome = if cmd.approved {
            DecisionOutcome::Approved
        } else {
            DecisionOutcome::Rejected
        };
        let current = self
            .deps
            .repo
            .find(cmd.id)
            .await?
            .ok_or_else(|| AppError::not_found("approval", cmd.id))?;
        let mut decision = current.decide(
            outcome,
            cmd.decided_by,
            reason,
            self.deps.clock.now(),
            &self.deps.policy,
        )?;
        if cmd.approved {
            if cmd.scope == ApprovalScope::Session && current.request().session_rule.is_none() {
                return Err(AppError::invalid(
                    "scope",
                    "this call has no permission rule narrower than the whole tool, so it can \
                     only be allowed once; approve it with scope \"once\"",
                ));
            }
            decision.updated_input = cmd.updated_input;
            decision.scope = cmd.scope;
        }
        apply_decision(&self.deps, &current, &decision).await
    }
}

pub(crate) fn normalize_reason(reason: Option<String>) -> Result<Option<String>, AppError> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    if reason.contains('\0') {
        // No database stores NUL in text, and no human wrote one.
        return Err(AppError::invalid(
            "reason",
            "must not contain NUL characters",
        ));
    }
    let trimmed = reason.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let len = trimmed.chars().count();
    if len > MAX_REASON_CHARS {
        return Err(AppError::invalid(
            "reason",
            format!("is {len} characters long; the limit is {MAX_REASON_CHARS}"),
        ));
    }
    Ok(Some(trimmed.to_owned()))
}

/// The audit event of a decision or cancellation, written with it in one transaction.
fn decision_audit_record(
    current: &ApprovalRequest,
    decision: &orchestra_domain::Decision,
) -> AuditRecord {
    let action = if decision.outcome == DecisionOutcome::Cancelled {
        "approval.cancel"
    } else {
        "approval.decide"
    };
    let detail = format!(
        "session {}; tool {}{}",
        current.request().session_id,
        current.request().tool_name,
        decision
            .reason
            .as_deref()
            .map(|r| format!("; reason: {r}"))
            .unwrap_or_default()
    );
    AuditRecord::new(&decision.decided_by, action, current.id())
        .states("Pending", decision.outcome.status().as_str())
        .detail(Some(detail))
}

/// Runs the compare-and-set (with its audit event) and the follow-ups shared by decide and
/// cancel.
pub(crate) async fn apply_decision(
    deps: &ApprovalDeps,
    current: &ApprovalRequest,
    decision: &orchestra_domain::Decision,
) -> Result<ApprovalRequest, AppError> {
    let id = current.id();
    let (repo, events, dispatcher) = (&deps.repo, &deps.events, &deps.dispatcher);
    let audit = deps
        .audit
        .as_ref()
        .map(|_| decision_audit_record(current, decision));
    match repo.decide(id, decision, audit.as_ref()).await? {
        DecideOutcome::Decided(approval) => {
            crate::chaos::point(crate::chaos::DECISION_COMMITTED);
            record_decision_metrics(&approval);
            deps.queue_gauge.refresh();
            tracing::info!(
                approval.id = %approval.id(),
                approval.status = approval.status().as_str(),
                decided_by = %decision.decided_by,
                "approval decided"
            );
            events.publish(ApprovalEvent::Decided(approval.clone()));
            dispatcher.spawn_deliver_decided(approval.clone());
            Ok(approval)
        }
        DecideOutcome::NotPending(approval) => Err(DecideApprovalError::AlreadyDecided {
            current: approval.status(),
        }
        .into()),
        DecideOutcome::NotFound => Err(AppError::not_found("approval", id)),
    }
}
