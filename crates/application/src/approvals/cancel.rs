use std::sync::Arc;

use orchestra_domain::{ApprovalId, ApprovalRequest, ApprovalTimeoutPolicy, DecisionOutcome};

use super::decide::{apply_decision, normalize_reason};
use super::{ApprovalEvents, NotificationDispatcher};
use crate::error::AppError;
use crate::ports::{ApprovalRepository, Clock};

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
    repo: Arc<dyn ApprovalRepository>,
    clock: Arc<dyn Clock>,
    policy: ApprovalTimeoutPolicy,
    events: ApprovalEvents,
    dispatcher: NotificationDispatcher,
}

impl CancelApprovalHandler {
    /// A handler over its ports.
    pub fn new(
        repo: Arc<dyn ApprovalRepository>,
        clock: Arc<dyn Clock>,
        policy: ApprovalTimeoutPolicy,
        events: ApprovalEvents,
        dispatcher: NotificationDispatcher,
    ) -> Self {
        Self {
            repo,
            clock,
            policy,
            events,
            dispatcher,
        }
    }

    /// Cancels the approval if it is still Pending.
    ///
    /// # Errors
    /// `NotFound`; `Decide(AlreadyDecided)`; `Invalid` for an oversized reason; `Unavailable`.
    pub async fn handle(&self, cmd: CancelApproval) -> Result<ApprovalRequest, AppError> {
        let reason = normalize_reason(cmd.reason)?;
        let current = self
            .repo
            .find(cmd.id)
            .await?
            .ok_or_else(|| AppError::not_found("approval", cmd.id))?;
        let decision = current.decide(
            DecisionOutcome::Cancelled,
            cmd.cancelled_by,
            reason,
            self.clock.now(),
            &self.policy,
        )?;
        apply_decision(
            &self.repo,
            &self.events,
            &self.dispatcher,
            cmd.id,
            &decision,
        )
        .await
    }
}
