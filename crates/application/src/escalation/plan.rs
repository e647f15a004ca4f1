//! Deciding what a decision means for the session: answer the waiting prompt, or continue a
//! session that no longer waits; and which prompts are parked. Pure state changes; the
//! sessions side carries the plan out.

use std::time::Duration;

use orchestra_domain::{
    ApprovalId, ApprovalKind, ApprovalRequest, ApprovalStatus, DecisionOutcome, SessionId,
};
use serde_json::Value;

use super::Escalation;
use crate::ports::PermissionAnswer;

/// What to do about one decision.
#[derive(Debug, Clone)]
pub struct DecisionPlan {
    /// The session.
    pub session_id: SessionId,
    /// The approval.
    pub approval_id: ApprovalId,
    /// Its new status.
    pub status: ApprovalStatus,
    /// Log the decision only if the session still has an event log (it may be closed).
    pub log_only_if_open: bool,
    /// What to do to the agent.
    pub action: PlanAction,
}

/// What a decision does to the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanAction {
    /// Nothing (a denial nobody waits for; a withdrawal).
    None,
    /// Answer the prompt the live process waits on.
    Answer {
        /// The control request id.
        request_id: String,
        /// Its tool use.
        tool_use_id: Option<String>,
        /// The answer.
        answer: PermissionAnswer,
        /// The prompt's span (the answer is its `control_response` child).
        span: tracing::Span,
    },
    /// No prompt waits: allow exactly this call once and continue the session.
    Continue {
        /// The tool.
        tool: String,
        /// The input asked for.
        input: Value,
        /// The input the approver edited, if any.
        updated_input: Option<Value>,
        /// Who decided.
        decided_by: String,
    },
}

/// A prompt that waited too long: the sessions side denies it with interrupt and parks the
/// session.
#[derive(Debug, Clone)]
pub struct Park {
    /// The session.
    pub session_id: SessionId,
    /// The approval it waits for (kept Pending).
    pub approval_id: ApprovalId,
    /// The control request to deny.
    pub request_id: String,
    /// Its tool use.
    pub tool_use_id: Option<String>,
    /// How long it waited.
    pub waited: Duration,
}

/// What the model is told when a call is not run.
fn deny_message(approval: &ApprovalRequest) -> String {
    let Some(d) = approval.decision() else {
        return "The tool call was not approved.".into();
    };
    let reason = d
        .reason
        .as_deref()
        .map(|r| format!(" Reason: {r}"))
        .unwrap_or_default();
    match d.outcome {
        DecisionOutcome::Rejected => {
            format!("A human denied this tool call ({}).{reason}", d.decided_by)
        }
        DecisionOutcome::Expired => {
            "Nobody approved this tool call in time; it was not run.".into()
        }
        DecisionOutcome::Cancelled => {
            format!("The approval request was withdrawn; the tool call was not run.{reason}")
        }
        DecisionOutcome::Approved => "The tool call was approved.".into(),
    }
}

impl Escalation {
    /// What `approval`'s decision means. `None` when there is nothing to do: a test
    /// approval, one still Pending, or a decision already acted on (each is acted on once,
    /// however often it is reported). `live` says whether the session has a process now.
    pub fn plan(&self, approval: &ApprovalRequest, live: bool) -> Option<DecisionPlan> {
        if matches!(
            approval.request().kind,
            ApprovalKind::Test | ApprovalKind::Budget
        ) || approval.status() == ApprovalStatus::Pending
        {
            return None;
        }
        let session_id = approval.request().session_id.parse::<SessionId>().ok()?;
        let decision = approval.decision()?.clone();
        let mut plan = DecisionPlan {
            session_id,
            approval_id: approval.id(),
            status: approval.status(),
            log_only_if_open: false,
            action: PlanAction::None,
        };
        if decision.outcome == DecisionOutcome::Cancelled && !live {
            // Withdrawn while no process waits (paused or closed): nothing to answer or
            // continue, and a closed session's state must not be recreated.
            plan.log_only_if_open = true;
            return Some(plan);
        }
        let tool = approval.request().tool_name.clone();
        let input = approval.request().tool_input.clone();
        let waiting = self.with(session_id, |s| {
            if !s.calls.first_time(approval.id()) {
                return Err(());
            }
            if matches!(
                decision.outcome,
                DecisionOutcome::Rejected | DecisionOutcome::Expired
            ) {
                s.calls.refuse(&tool, &input);
            }
            Ok(s.pending.remove(&approval.id()))
        });
        let Ok(waiting) = waiting else {
            return None;
        };
        plan.action = match waiting {
            Some(prompt) => PlanAction::Answer {
                request_id: prompt.request_id,
                tool_use_id: prompt.tool_use_id,
                span: prompt.span,
                answer: if decision.outcome.allows() {
                    PermissionAnswer::Allow {
                        updated_input: decision.updated_input.clone(),
                    }
                } else {
                    PermissionAnswer::Deny {
                        message: deny_message(approval),
                        interrupt: false,
                    }
                },
            },
            None if decision.outcome == DecisionOutcome::Approved => PlanAction::Continue {
                tool,
                input,
                updated_input: decision.updated_input.clone(),
                decided_by: decision.decided_by.clone(),
            },
            None => PlanAction::None,
        };
        Some(plan)
    }

    /// Allows exactly this call once (the continuation after an approval will ask for it).
    pub(crate) fn grant_once(
        &self,
        id: SessionId,
        tool: &str,
        input: &Value,
        updated_input: Option<Value>,
    ) {
        self.with(id, |s| s.calls.allow_once(tool, input, updated_input));
    }
}
