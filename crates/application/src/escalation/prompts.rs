//! Asking: a `can_use_tool` request is answered from the session's grants or becomes a Live
//! approval (persisted before anyone is notified); a tool call the CLI denied by itself
//! becomes a Denial approval after the turn.

use std::time::Instant;

use orchestra_domain::policy::{PolicyAction, RiskClass, ToolCall};
use orchestra_domain::{ApprovalId, ApprovalKind, NewApproval, SessionId};
use serde_json::Value;
use tracing::Instrument;

use super::Escalation;
use super::state::PendingPrompt;
use crate::approvals::RequestApproval;
use crate::metrics_names as m;
use crate::ports::{PermissionAnswer, TurnReport};

/// A `can_use_tool` request from the agent.
#[derive(Debug, Clone)]
pub struct PermissionRequest {
    /// The control request id to answer.
    pub request_id: String,
    /// The tool.
    pub tool_name: String,
    /// Its input.
    pub input: Value,
    /// Its tool use.
    pub tool_use_id: Option<String>,
    /// What the call does, in the CLI's words.
    pub description: Option<String>,
    /// The allow rules the CLI proposes for calls like this one.
    pub suggested_rules: Vec<String>,
    /// The session's working directory (for path rules and roots).
    pub working_directory: String,
}

/// What became of a permission request.
#[derive(Debug, Clone)]
pub enum Prompted {
    /// Answer the agent now.
    Answer(PermissionAnswer),
    /// A human is asked; the agent waits for this approval.
    Waiting(ApprovalId),
    /// The server's policy decided (`allow` or `deny`, by `rule`): answer now, and audit it.
    ByPolicy {
        /// The answer.
        answer: PermissionAnswer,
        /// `allow` or `deny`.
        verdict: &'static str,
        /// The rule that decided (`position: text`).
        rule: String,
    },
}

impl Escalation {
    /// How many different approvers a call of this risk class needs.
    fn approvals_needed(&self, risk: orchestra_domain::policy::RiskClass) -> u32 {
        if risk == orchestra_domain::policy::RiskClass::Critical {
            self.settings().critical_approvers.max(1)
        } else {
            1
        }
    }

    /// A `can_use_tool` request: answered from the grants, or persisted as an approval
    /// (before anyone is notified) that the agent waits for. Fails closed: when the approval
    /// cannot be recorded, the call is denied.
    pub async fn ask(&self, id: SessionId, agent_id: &str, req: PermissionRequest) -> Prompted {
        // The server's policy first: a deny beats a grant, an allow needs no human.
        let call = ToolCall {
            tool: &req.tool_name,
            input: &req.input,
            working_directory: &req.working_directory,
            home: self.settings().agent_home.as_deref(),
        };
        let verdict = self.settings().policy.evaluate(&call);
        let rule = verdict.rule.as_ref().map_or_else(
            || "none (the default)".to_owned(),
            |(i, t)| format!("{i}: {t}"),
        );
        metrics::counter!(m::POLICY_VERDICTS_TOTAL, "verdict" => verdict.action.as_str(), "risk" => verdict.risk.as_str()).increment(1);
        match verdict.action {
            PolicyAction::Deny => {
                tracing::warn!(session.id = %id, tool = %req.tool_name, rule = %rule, "the server's policy denies the tool call");
                return Prompted::ByPolicy {
                    answer: PermissionAnswer::Deny {
                        message: format!(
                            "Orchestra's policy denies this call (rule {rule}); no human was asked."
                        ),
                        interrupt: false,
                    },
                    verdict: "deny",
                    rule,
                };
            }
            PolicyAction::Allow => {
                tracing::info!(session.id = %id, tool = %req.tool_name, rule = %rule, "the server's policy allows the tool call");
                return Prompted::ByPolicy {
                    answer: PermissionAnswer::Allow {
                        updated_input: None,
                    },
                    verdict: "allow",
                    rule,
                };
            }
            PolicyAction::Ask => {
                tracing::debug!(session.id = %id, tool = %req.tool_name, rule = %rule, risk = verdict.risk.as_str(), "the server's policy asks a human");
            }
        }
        // Then what humans granted the session (stored, so a revocation or an expiry counts
        // on every node at once). When they cannot be read, a human is asked. A call the
        // policy classes critical is never answered from a grant: it needs its own quorum.
        let grant = if verdict.risk == RiskClass::Critical {
            Ok(None)
        } else {
            self.covering_grant(id, &call).await
        };
        match grant {
            Ok(Some(grant)) => {
                metrics::counter!(m::AGENT_PERMISSIONS_AUTO_ANSWERED_TOTAL, "why" => "session_grant").increment(1);
                tracing::info!(session.id = %id, tool = %req.tool_name, grant.id = %grant.id, rule = %grant.terms.rule, "permission answered from a grant");
                return Prompted::Answer(PermissionAnswer::Allow {
                    updated_input: None,
                });
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(session.id = %id, error = %err, "could not read the session's grants; asking a human");
            }
        }
        if let Some((answer, why)) = self.with(id, |s| s.calls.answer(&req.tool_name, &req.input)) {
            metrics::counter!(m::AGENT_PERMISSIONS_AUTO_ANSWERED_TOTAL, "why" => why).increment(1);
            tracing::info!(session.id = %id, tool = %req.tool_name, why, "permission answered without asking");
            return Prompted::Answer(answer);
        }
        crate::chaos::point(crate::chaos::PERMISSION_ASKED);
        // The prompt waits under the approval's id before the approval exists: a decision
        // made the instant it becomes visible (REST, Telegram) then finds the prompt to answer.
        let approval_id = ApprovalId::new();
        self.with(id, |s| {
            s.pending.insert(
                approval_id,
                PendingPrompt {
                    request_id: req.request_id.clone(),
                    tool_use_id: req.tool_use_id.clone(),
                    asked_at: Instant::now(),
                    span: tracing::Span::current(),
                },
            );
        });
        // A critical call is approved once: no grant is offered for it.
        let session_rule = (verdict.risk != RiskClass::Critical)
            .then(|| super::session_rule(&call, &req.suggested_rules))
            .flatten();
        let span = tracing::info_span!(
            "approval",
            otel.name = "approval",
            orchestra.session_id = %id,
            orchestra.approval_id = %approval_id,
            orchestra.tool_name = %req.tool_name,
        );
        let opened = self
            .deps()
            .request
            .handle_with_id(
                approval_id,
                RequestApproval {
                    request: NewApproval {
                        session_id: id.to_string(),
                        agent_id: agent_id.to_owned(),
                        tool_name: req.tool_name,
                        tool_input: req.input,
                        tool_use_id: req.tool_use_id,
                        kind: ApprovalKind::Live,
                        description: req.description,
                        session_rule,
                        risk: verdict.risk,
                        working_directory: Some(req.working_directory),
                        approvals_needed: self.approvals_needed(verdict.risk),
                    },
                    timeout: self.settings().timeout,
                    await_delivery: false,
                },
            )
            .instrument(span)
            .await;
        match opened {
            Ok(_) => Prompted::Waiting(approval_id),
            Err(err) => {
                self.with(id, |s| s.pending.remove(&approval_id));
                tracing::error!(session.id = %id, error = %err, "could not record the approval; denying the tool call");
                Prompted::Answer(PermissionAnswer::Deny {
                    message: "Orchestra could not record an approval request for this tool call, so it was not run.".into(),
                    interrupt: false,
                })
            }
        }
    }

    /// After a turn: each tool call the CLI denied by itself (not one Orchestra answered,
    /// refused before, covered by a grant, or denied by the server's policy) becomes a
    /// Denial approval with the policy's risk class; approving it resumes the session with
    /// the call allowed. Returns the approvals opened, with their tools.
    pub async fn escalate_denials(
        &self,
        id: SessionId,
        agent_id: &str,
        working_directory: &str,
        report: &TurnReport,
    ) -> Vec<(ApprovalId, String)> {
        let mut opened = Vec::new();
        for d in &report.permission_denials {
            let skip = self.with(id, |s| {
                s.answered.contains(&d.tool_use_id)
                    || s.calls.is_refused(&d.tool_name, &d.tool_input)
            });
            if skip {
                continue;
            }
            let call = ToolCall {
                tool: &d.tool_name,
                input: &d.tool_input,
                working_directory,
                home: self.settings().agent_home.as_deref(),
            };
            let verdict = self.settings().policy.evaluate(&call);
            metrics::counter!(m::POLICY_VERDICTS_TOTAL, "verdict" => verdict.action.as_str(), "risk" => verdict.risk.as_str()).increment(1);
            if verdict.action == PolicyAction::Deny {
                // Not run (the CLI denied it), and nobody may allow it.
                let rule = verdict
                    .rule
                    .map(|(i, t)| format!("{i}: {t}"))
                    .unwrap_or_default();
                tracing::info!(session.id = %id, tool = %d.tool_name, rule = %rule, "a call the CLI denied is also denied by the server's policy; no approval");
                continue;
            }
            if verdict.risk != RiskClass::Critical
                && matches!(self.covering_grant(id, &call).await, Ok(Some(_)))
            {
                // Granted: the CLI gets the grant at its next start.
                continue;
            }
            let result = self
                .deps()
                .request
                .handle(RequestApproval {
                    request: NewApproval {
                        session_id: id.to_string(),
                        agent_id: agent_id.to_owned(),
                        tool_name: d.tool_name.clone(),
                        tool_input: d.tool_input.clone(),
                        tool_use_id: Some(d.tool_use_id.clone()),
                        kind: ApprovalKind::Denial,
                        description: Some("The agent's tool call was denied; approve to resume the session with it allowed.".into()),
                        session_rule: super::exact_rule(&d.tool_name, &d.tool_input)
                            .filter(|r| {
                                verdict.risk != RiskClass::Critical
                                    && orchestra_domain::grant::check_grantable(r, &call).is_ok()
                            }),
                        risk: verdict.risk,
                        working_directory: Some(working_directory.to_owned()),
                        approvals_needed: self.approvals_needed(verdict.risk),
                    },
                    timeout: self.settings().timeout,
                    await_delivery: false,
                })
                .await;
            match result {
                Ok((a, _)) => opened.push((a.id(), d.tool_name.clone())),
                Err(err) => {
                    tracing::error!(session.id = %id, error = %err, "could not record an approval for a denied tool call");
                }
            }
        }
        opened
    }
}
