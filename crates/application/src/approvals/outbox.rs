//! The notification outbox: every approval whose delivery is due (a request never delivered,
//! an outcome the chat does not show yet) is retried by a background pass, with backoff
//! (recorded on the approval by the dispatcher) and never while the breaker is open, until it
//! is delivered, or (an outcome update) given up after many attempts. Deliveries are
//! claimed with a lease, so one pass on one node sends each.

use std::sync::Arc;

use orchestra_domain::{ApprovalStatus, NotificationState};

use super::NotificationDispatcher;
use crate::metrics_names as m;
use crate::ports::{ApprovalRepository, Clock, RepositoryError};

/// Deliveries one pass takes at most.
pub const OUTBOX_BATCH: u32 = 50;

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxReport {
    /// Requests tried.
    pub requests: usize,
    /// Outcome updates tried.
    pub updates: usize,
    /// Skipped because the channel's breaker is open.
    pub breaker_open: bool,
}

/// Runs outbox passes.
#[derive(Debug, Clone)]
pub struct NotificationOutbox {
    repo: Arc<dyn ApprovalRepository>,
    dispatcher: NotificationDispatcher,
    clock: Arc<dyn Clock>,
}

impl NotificationOutbox {
    /// An outbox over the approvals, delivering through `dispatcher`.
    pub fn new(
        repo: Arc<dyn ApprovalRepository>,
        dispatcher: NotificationDispatcher,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            dispatcher,
            clock,
        }
    }

    /// At start: deliveries leased to a first attempt are due now (the attempts of this
    /// node's last run died with it). On several nodes, one still in flight elsewhere may
    /// then be sent twice: a duplicate message, never a missing one.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn take_over_at_start(&self) -> Result<u64, RepositoryError> {
        let n = self
            .repo
            .release_first_attempt_leases(self.clock.now())
            .await?;
        if n > 0 {
            tracing::info!(
                deliveries = n,
                "notification outbox took over deliveries an earlier run had in flight"
            );
        }
        Ok(n)
    }

    /// One pass: claims what is due and delivers it, one at a time.
    ///
    /// # Errors
    /// `Unavailable` when the approvals cannot be read.
    pub async fn pass(&self) -> Result<OutboxReport, RepositoryError> {
        let mut report = OutboxReport::default();
        let due = self.repo.count_notifications_due().await?;
        #[allow(clippy::cast_precision_loss, reason = "a gauge")]
        metrics::gauge!(m::ESCALATION_NOTIFICATIONS_PENDING).set(due as f64);
        if due == 0 {
            return Ok(report);
        }
        let status = self.dispatcher.notifier().status();
        if !status.enabled {
            return Ok(report);
        }
        if status.circuit_state == "Open" {
            report.breaker_open = true;
            return Ok(report);
        }
        let now = self.clock.now();
        let lease = now
            + chrono::Duration::seconds(orchestra_domain::notification::FIRST_ATTEMPT_LEASE_SECS);
        for approval in self
            .repo
            .claim_due_notifications(now, lease, OUTBOX_BATCH)
            .await?
        {
            match (approval.notification(), approval.status()) {
                (NotificationState::Pending, ApprovalStatus::Pending) => {
                    report.requests += 1;
                    self.dispatcher.deliver_pending(&approval).await;
                }
                (NotificationState::UpdatePending, _) => {
                    report.updates += 1;
                    self.dispatcher.deliver_decided(&approval).await;
                }
                _ => {}
            }
        }
        Ok(report)
    }
}
