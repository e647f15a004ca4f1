//! Opening an approval: the `RequestApproval` command, validated, stored, published, notified.

use chrono::Duration;
use orchestra_domain::{ApprovalId, ApprovalRequest, BoundedText, NewApproval};

use super::{ApprovalDeps, ApprovalEvent};
use crate::error::{AppError, InvalidInput};
use crate::metrics_names as m;

/// The largest tool input (as JSON text) an approval stores.
pub const MAX_TOOL_INPUT_BYTES: usize = 256 * 1024;

/// Open an approval and tell humans about it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestApproval {
    /// What is asked.
    pub request: NewApproval,
    /// How long to wait; the policy's default when `None`, clamped to its maximum.
    pub timeout: Option<Duration>,
    /// Whether to wait for the notification to be delivered before returning.
    pub await_delivery: bool,
}

/// Handles [`RequestApproval`]: validate, persist (before anyone is notified), publish, notify.
#[derive(Debug, Clone)]
pub struct RequestApprovalHandler {
    deps: ApprovalDeps,
}

impl RequestApprovalHandler {
    /// A handler over its ports.
    pub fn new(deps: ApprovalDeps) -> Self {
        Self { deps }
    }

    /// Opens the approval. Returns it, and the delivery outcome when `await_delivery`.
    ///
    /// # Errors
    /// `Invalid` for an empty or oversized field; `Unavailable` when it cannot be stored.
    pub async fn handle(
        &self,
        cmd: RequestApproval,
    ) -> Result<(ApprovalRequest, Option<super::Delivery>), AppError> {
        self.handle_with_id(ApprovalId::new(), cmd).await
    }

    /// Opens the approval under an id the caller chose beforehand, so that it can get ready
    /// for a decision before the approval becomes visible to anyone who could decide it.
    ///
    /// # Errors
    /// As [`Self::handle`]; `Conflict` when the id is taken.
    pub async fn handle_with_id(
        &self,
        id: ApprovalId,
        cmd: RequestApproval,
    ) -> Result<(ApprovalRequest, Option<super::Delivery>), AppError> {
        let mut request = cmd.request;
        request.tool_name = BoundedText::<200>::parse("tool_name", &request.tool_name)
            .map_err(InvalidInput::from)?
            .into_string();
        request.session_id = BoundedText::<200>::parse("session_id", &request.session_id)
            .map_err(InvalidInput::from)?
            .into_string();
        request.agent_id = BoundedText::<200>::parse("agent_id", &request.agent_id)
            .map_err(InvalidInput::from)?
            .into_string();
        let input_len = request.tool_input.to_string().len();
        if input_len > MAX_TOOL_INPUT_BYTES {
            return Err(AppError::invalid(
                "tool_input",
                format!("is {input_len} bytes as JSON; the limit is {MAX_TOOL_INPUT_BYTES}"),
            ));
        }

        let now = self.deps.clock.now();
        let expires_at = self.deps.policy.deadline(now, cmd.timeout);
        let approval = ApprovalRequest::open(id, request, now, expires_at);
        self.deps.repo.insert(&approval).await?;
        crate::chaos::point(crate::chaos::APPROVAL_INSERTED);

        metrics::counter!(m::ESCALATION_QUEUE_ENQUEUE_TOTAL).increment(1);
        self.deps.queue_gauge.refresh();
        tracing::info!(
            approval.id = %approval.id(),
            approval.kind = approval.request().kind.as_str(),
            session.id = %approval.request().session_id,
            tool.name = %approval.request().tool_name,
            expires_at = %approval.expires_at(),
            "approval requested"
        );
        self.deps
            .events
            .publish(ApprovalEvent::Opened(approval.clone()));

        if cmd.await_delivery {
            let delivery = self.deps.dispatcher.deliver_pending(&approval).await;
            let mut approval = approval;
            if let super::Delivery::Delivered(Some(reference)) = &delivery {
                approval.set_notification_ref(reference.clone());
            }
            Ok((approval, Some(delivery)))
        } else {
            self.deps.dispatcher.spawn_deliver_pending(approval.clone());
            Ok((approval, None))
        }
    }
}
