//! Approvals: ask a human, record the decision exactly once, expire what nobody decided.
//!
//! Commands: [`RequestApprovalHandler`], [`CreateTestApprovalHandler`],
//! [`CancelTestApprovalsHandler`], [`DecideApprovalHandler`], [`CancelApprovalHandler`],
//! [`ExpireApprovalsHandler`]. Queries: [`GetApprovalHandler`], [`ListApprovalsHandler`].

mod cancel;
mod channel;
mod decide;
mod events;
mod expire;
mod file_preview;
mod notify;
mod outbox;
mod query;
mod queue_gauge;
mod request;
mod test_approval;

pub use cancel::{CancelApproval, CancelApprovalHandler};
pub use channel::{
    ChannelAction, ChannelCallback, ChannelDecision, ChannelPolicy, ChannelRole,
    DecideFromChannelHandler,
};
pub use decide::{DecideApproval, DecideApprovalHandler};
pub use events::{ApprovalEvent, ApprovalEvents};
pub use expire::{ExpireApprovalsHandler, SweepReport};
pub use file_preview::{FilePreview, FilePreviewHandler, MAX_PREVIEW_BYTES};
pub use notify::{Delivery, MAX_UPDATE_ATTEMPTS, NotificationDispatcher, retry_delay};
pub use outbox::{NotificationOutbox, OUTBOX_BATCH, OutboxReport};
pub use query::{GetApprovalHandler, ListApprovals, ListApprovalsHandler};
pub use queue_gauge::{MIN_REFRESH_INTERVAL, QueueGauge};
pub use request::{RequestApproval, RequestApprovalHandler};
pub use test_approval::{
    CancelTestApprovalsHandler, CreateTestApproval, CreateTestApprovalHandler, TestApprovalCreated,
};

use std::sync::Arc;

use orchestra_domain::{ApprovalRequest, DecisionOutcome};

use crate::metrics_names as m;
use crate::ports::ApprovalRepository;

/// What every approval command handler works with.
#[derive(Debug, Clone)]
pub struct ApprovalDeps {
    /// Where approvals are stored.
    pub repo: Arc<dyn ApprovalRepository>,
    /// The time.
    pub clock: Arc<dyn crate::ports::Clock>,
    /// Deadlines.
    pub policy: orchestra_domain::ApprovalTimeoutPolicy,
    /// Decisions made in this process.
    pub events: ApprovalEvents,
    /// Tells humans.
    pub dispatcher: NotificationDispatcher,
    /// Records decisions and cancellations in the audit log (none in some tests).
    pub audit: Option<crate::audit::AuditTrail>,
    /// `escalation_queue_size`, refreshed after each change.
    pub queue_gauge: QueueGauge,
    /// The agents' home (`claude.home`), for `~/` in the rules a decision grants.
    pub agent_home: Option<String>,
}

/// Counts a decision in the escalation metrics.
pub(crate) fn record_decision_metrics(approval: &ApprovalRequest) {
    let Some(decision) = approval.decision() else {
        return;
    };
    metrics::counter!(m::ESCALATION_QUEUE_DEQUEUE_TOTAL).increment(1);
    let name = match decision.outcome {
        DecisionOutcome::Approved => m::ESCALATION_APPROVALS_ACCEPTED_TOTAL,
        DecisionOutcome::Rejected => m::ESCALATION_APPROVALS_REJECTED_TOTAL,
        DecisionOutcome::Expired => m::ESCALATION_APPROVALS_TIMEOUT_TOTAL,
        DecisionOutcome::Cancelled => m::ESCALATION_APPROVALS_CANCELLED_TOTAL,
    };
    metrics::counter!(name).increment(1);
    let waited = (decision.decided_at - approval.created_at())
        .num_milliseconds()
        .max(0);
    #[expect(
        clippy::cast_precision_loss,
        reason = "milliseconds of waiting fit f64 exactly"
    )]
    metrics::histogram!(
        m::ESCALATION_RESPONSE_TIME_SECONDS,
        "channel" => decision_channel(&decision.decided_by),
        "outcome" => decision.outcome.status().as_str()
    )
    .record(waited as f64 / 1000.0);
}

/// Where a decision came from, for metrics (a fixed set: `decided_by` holds user names).
pub(crate) fn decision_channel(decided_by: &str) -> &'static str {
    match decided_by.split(':').next().unwrap_or_default() {
        "telegram" => "telegram",
        "key" => "api",
        "system" => "system",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
