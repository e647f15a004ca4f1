//! Cancelling approvals: the `CancelApproval` command, one at a time or every Pending match.

use orchestra_domain::{ApprovalId, ApprovalRequest, ApprovalStatus, DecisionOutcome};

use super::ApprovalDeps;
use super::decide::{apply_decision, normalize_reason};
use crate::error::AppError;
use crate::ports::{ApprovalFilter, PageRequest};

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
        apply_decision(&self.deps, &current, &decision).await
    }

    /// Cancels every Pending approval that `filter` matches (its status is ignored), page by
    /// page, until none is left. One decided by someone else meanwhile is skipped.
    ///
    /// # Errors
    /// `Invalid` for an oversized reason; `Unavailable`. What was cancelled before an error
    /// stays cancelled.
    pub async fn cancel_all_pending(
        &self,
        filter: ApprovalFilter,
        cancelled_by: &str,
        reason: &str,
    ) -> Result<Vec<ApprovalRequest>, AppError> {
        let filter = ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            ..filter
        };
        let mut cancelled = Vec::new();
        loop {
            let page = self
                .deps
                .repo
                .list(
                    &filter,
                    PageRequest {
                        offset: 0,
                        limit: PageRequest::MAX_LIMIT,
                    },
                )
                .await?;
            if page.items.is_empty() {
                break;
            }
            let mut progressed = false;
            for approval in page.items {
                match self
                    .handle(CancelApproval {
                        id: approval.id(),
                        cancelled_by: cancelled_by.to_owned(),
                        reason: Some(reason.to_owned()),
                    })
                    .await
                {
                    Ok(a) => {
                        progressed = true;
                        cancelled.push(a);
                    }
                    // Decided by someone else meanwhile: nothing to cancel.
                    Err(AppError::Decide(_) | AppError::NotFound { .. }) => progressed = true,
                    Err(other) => return Err(other),
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(cancelled)
    }
}
