//! Test approvals for the smoke check: creating one and cancelling them all.

use orchestra_domain::{ApprovalKind, ApprovalRequest, ApprovalStatus, NewApproval};
use serde_json::json;

use super::{CancelApprovalHandler, Delivery, RequestApproval, RequestApprovalHandler};
use crate::error::AppError;
use crate::ports::ApprovalFilter;

/// The agent id test approvals carry.
pub const TEST_AGENT_ID: &str = "orchestra-smoke-test";

/// Create a test approval (the deployment guide's smoke step 5.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTestApproval {
    /// The tool name to show.
    pub tool_name: String,
    /// The session label to show.
    pub session_id: String,
}

/// What creating a test approval did.
#[derive(Debug, Clone, PartialEq)]
pub struct TestApprovalCreated {
    /// The approval.
    pub approval: ApprovalRequest,
    /// Whether a message went to the notifier.
    pub delivery: Delivery,
}

/// Handles [`CreateTestApproval`]: a real approval of kind Test, delivered like any other.
#[derive(Debug, Clone)]
pub struct CreateTestApprovalHandler {
    request: RequestApprovalHandler,
}

impl CreateTestApprovalHandler {
    /// A handler that opens approvals through `request`.
    pub fn new(request: RequestApprovalHandler) -> Self {
        Self { request }
    }

    /// Creates the test approval and waits for its delivery.
    ///
    /// # Errors
    /// `Invalid` for empty or oversized names; `Unavailable`.
    pub async fn handle(&self, cmd: CreateTestApproval) -> Result<TestApprovalCreated, AppError> {
        let (approval, delivery) = self
            .request
            .handle(RequestApproval {
                request: NewApproval {
                    session_id: cmd.session_id,
                    agent_id: TEST_AGENT_ID.to_owned(),
                    tool_name: cmd.tool_name,
                    tool_input: json!({ "test": true, "note": "Smoke test approval created via POST /api/approvals/test" }),
                    tool_use_id: None,
                    kind: ApprovalKind::Test,
                    description: Some("Smoke test approval; safe to approve, deny or ignore.".to_owned()),
                    session_rule: None,
                    risk: Default::default(),
                    working_directory: None,
                    approvals_needed: 1,
                },
                timeout: None,
                await_delivery: true,
            })
            .await?;
        Ok(TestApprovalCreated {
            approval,
            delivery: delivery.unwrap_or(Delivery::Disabled),
        })
    }
}

/// Handles the smoke test's clean-up (step 5.7): cancels every Pending test approval.
#[derive(Debug, Clone)]
pub struct CancelTestApprovalsHandler {
    cancel: CancelApprovalHandler,
}

impl CancelTestApprovalsHandler {
    /// A handler that cancels test approvals through `cancel`.
    pub fn new(cancel: CancelApprovalHandler) -> Self {
        Self { cancel }
    }

    /// Cancels all Pending test approvals; returns the cancelled ones.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn handle(&self, cancelled_by: String) -> Result<Vec<ApprovalRequest>, AppError> {
        let filter = ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            kind: Some(ApprovalKind::Test),
            session_id: None,
            oldest_first: false,
        };
        self.cancel
            .cancel_all_pending(filter, &cancelled_by, "test approval cleaned up")
            .await
    }
}
