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
    /// Approvals escalated to the second chat.
    pub escalated: usize,
}

/// Expires Pending approvals past their deadline (plus grace). Run periodically by the
/// approval timeout service; safe to run on several nodes at once (each row is expired by
/// exactly one atomic update).
#[derive(Debug, Clone)]
pub struct ExpireApprovalsHandler {
    deps: ApprovalDeps,
    batch_size: u32,
    warn_before: chrono::Duration,
    escalate_after: Option<chrono::Duration>,
}

impl ExpireApprovalsHandler {
    /// A handler over its ports; each database round trip expires up to `batch_size` rows.
    pub fn new(deps: ApprovalDeps, batch_size: u32) -> Self {
        Self {
            deps,
            batch_size: batch_size.max(1),
            warn_before: chrono::Duration::zero(),
            escalate_after: None,
        }
    }

    /// Also escalates `high` and `critical` approvals with no decision after
    /// `escalate_after` (once each) to the notifier's escalation channel.
    #[must_use]
    pub fn with_escalation(mut self, escalate_after: chrono::Duration) -> Self {
        self.escalate_after = Some(escalate_after);
        self
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
        if let Some(after) = self.escalate_after {
            loop {
                let due = self
                    .deps
                    .repo
                    .claim_escalations(now - after, now, self.batch_size)
                    .await?;
                let n = due.len();
                report.escalated += n;
                for approval in due {
                    metrics::counter!(crate::metrics_names::ESCALATION_APPROVALS_ESCALATED_TOTAL, "risk" => approval.request().risk.as_str()).increment(1);
                    tracing::warn!(approval.id = %approval.id(), risk = approval.request().risk.as_str(), created_at = %approval.created_at(), "no decision in time; escalating the approval to the second chat");
                    if let Some(audit) = &self.deps.audit {
                        audit
                            .record(
                                crate::audit::AuditRecord::new(
                                    "orchestra",
                                    "approval.escalate",
                                    approval.id(),
                                )
                                .detail(Some(format!(
                                    "session {}; no decision after {} s",
                                    approval.request().session_id,
                                    after.num_seconds()
                                ))),
                            )
                            .await;
                    }
                    self.deps.dispatcher.spawn_deliver_escalated(approval);
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
