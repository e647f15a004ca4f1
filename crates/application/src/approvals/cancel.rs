use orchestra_domain::{ApprovalId, ApprovalRequest, DecisionOutcome};

use super::ApprovalDeps;
use super::decide::{apply_decision, normalize_reason};
use crate::error::AppError;

/// Withdraw a Pending approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelApproval {
    /// Which approval.
    pub id: ApprovalId,
    /// Who cancels.
    pub cancelled_by: String,
    /// Why.
    pub reason: Option<String>,
}

/// Handles [`CancelApproval`] with the same compare-and-set as a decision.
#[derive(Debug, Clone)]
pub struct CancelApprovalHandler {
    deps: ApprovalDeps,
}

impl CancelApprovalHandler {
    /// A handler over its ports.
    pub fn new(deps: ApprovalDeps) -> Self {
        Self { deps }
    }

    /// Cancels the approval if it is still Pending.
    ///
    /// # Errors
    /// `NotFound`; `Decide(AlreadyDecided)`; `Invalid` for an oversized reason; `Unavailable`.
    pub async fn handle(&self, cmd: CancelApproval) -> Result<ApprovalRequest, AppError> {
        let reason = normalize_reason(cmd.reason)?;
        let current = self
            .deps
            .repo
            .find(cmd.id)
            .await?
            .ok_or_else(|| AppError::not_found("approval", cmd.id))?;
        let decision = current.decide(
            DecisionOutcome::Cancelled,
            cmd.cancelled_by,
            reason,
            self.deps.clock.now(),
            &self.deps.policy,
        )?;
        apply_decision(
            &self.deps.repo,
            &self.deps.events,
            &self.deps.dispatcher,
            cmd.id,
            &decision,
        )
        .await
    }
}
