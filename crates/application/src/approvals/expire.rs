//! The expiry sweep: expires Pending approvals past their deadline and sends expiry warnings.

use super::{ApprovalDeps, ApprovalEvent, record_decision_metrics};
use crate::error::AppError;

/// What one sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// Approvals expired by this sweep.
    pub expired: usize,
    /// Batches it took.
    pub batches: usize,
    /// Expiry warnings sent.
    pub warned: usize,
}

/// Expires Pending approvals past their deadline (plus grace). Run periodically by the
/// approval timeout service; safe to run on several nodes at once (each row is expired by
/// exactly one atomic update).
#[derive(Debug, Clone)]
pub struct ExpireApprovalsHandler {
    deps: ApprovalDeps,
    batch_size: u32,
    warn_before: chrono::Duration,
}

impl ExpireApprovalsHandler {
    /// A handler over its ports; each database round trip expires up to `batch_size` rows.
    pub fn new(deps: ApprovalDeps, batch_size: u32) -> Self {
        Self {
            deps,
            batch_size: batch_size.max(1),
            warn_before: chrono::Duration::zero(),
        }
    }

    /// Also warns about approvals that expire within `warn_before` (once each).
    #[must_use]
    pub fn with_warning(mut self, warn_before: chrono::Duration) -> Self {
        self.warn_before = warn_before;
        self
    }

    /// Expires everything that is due now.
    ///
    /// # Errors
    /// `Unavailable` when the database fails; what was expired before that stays expired.
    pub async fn sweep(&self) -> Result<SweepReport, AppError> {
        let now = self.deps.clock.now();
        let cutoff = now - self.deps.policy.grace;
        let mut report = SweepReport::default();
        loop {
            let expired = self
                .deps
                .repo
                .expire_due(cutoff, now, self.batch_size)
                .await?;
            report.batches += 1;
            let n = expired.len();
            report.expired += n;
            for approval in expired {
                record_decision_metrics(&approval);
                tracing::info!(approval.id = %approval.id(), expires_at = %approval.expires_at(), "approval expired");
                if let Some(audit) = &self.deps.audit {
                    audit
                        .record(
                            crate::audit::AuditRecord::new(
                                "orchestra",
                                "approval.expire",
                                approval.id(),
                            )
                            .states("Pending", approval.status().as_str())
                            .detail(Some(format!("session {}", approval.request().session_id))),
                        )
                        .await;
                }
                self.deps
                    .events
                    .publish(ApprovalEvent::Decided(approval.clone()));
                self.deps.dispatcher.spawn_deliver_decided(approval);
            }
            if n < self.batch_size as usize {
                break;
            }
        }
        if self.warn_before > chrono::Duration::zero() {
            loop {
                let soon = self
                    .deps
                    .repo
                    .claim_expiry_warnings(now + self.warn_before, now, self.batch_size)
                    .await?;
                let n = soon.len();
                report.warned += n;
                for approval in soon {
                    tracing::info!(approval.id = %approval.id(), expires_at = %approval.expires_at(), "approval expires soon; warning sent");
                    self.deps.dispatcher.spawn_deliver_expiring(approval);
                }
                if n < self.batch_size as usize {
                    break;
                }
            }
        }
        self.deps.queue_gauge.refresh();
        Ok(report)
    }
}
