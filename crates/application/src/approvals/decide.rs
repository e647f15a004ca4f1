//! Deciding an approval: the `DecideApproval` command, its handler and the compare-and-set.

use orchestra_domain::grant::MAX_GRANT_MINUTES;
use orchestra_domain::{
    ApprovalId, ApprovalRequest, ApprovalScope, DecideApprovalError, DecisionOutcome, GrantTerms,
};
use serde_json::Value;

use super::{ApprovalDeps, ApprovalEvent, record_decision_metrics};
use crate::audit::AuditRecord;
use crate::error::AppError;
use crate::ports::{DecideOutcome, VoteOutcome};

/// The longest reason a decision may carry.
pub const MAX_REASON_CHARS: usize = 2000;

/// A human's decision on an approval.
#[derive(Debug, Clone, PartialEq)]
pub struct DecideApproval {
    /// Which approval.
    pub id: ApprovalId,
    /// Allow (`true`) or refuse (`false`).
    pub approved: bool,
    /// Who decided (`api`, `telegram:<user id>`, ...).
    pub decided_by: String,
    /// Who counts as one approver (the key's name, `telegram:<user id>`): an approval that
    /// needs several needs that many different ones.
    pub voter: String,
    /// Why.
    pub reason: Option<String>,
    /// For an approval: the tool input to use instead.
    pub updated_input: Option<Value>,
    /// For an approval: once, the session rule, or a rule.
    pub scope: ApprovalScope,
    /// With scope `Rule`: the rule to grant (the approval's session rule when `None`).
    pub rule: Option<String>,
    /// With scope `Session` or `Rule`: the grant ends after this many minutes (it lasts
    /// until the session is closed when `None`).
    pub expires_in_minutes: Option<u32>,
    /// The approval's version the decider saw (`ApprovalRequest::version`): when set and the
    /// approval has changed since, nothing is decided.
    pub expected_version: Option<u32>,
}

/// Handles [`DecideApproval`]: compare-and-set in the repository, then publish and notify.
#[derive(Debug, Clone)]
pub struct DecideApprovalHandler {
    deps: ApprovalDeps,
}

impl DecideApprovalHandler {
    /// A handler over its ports.
    pub fn new(deps: ApprovalDeps) -> Self {
        Self { deps }
    }

    /// Decides the approval, exactly once.
    ///
    /// # Errors
    /// `NotFound`; `Decide(AlreadyDecided)` when another caller won; `Decide(PastDeadline)`
    /// after the deadline; `Invalid` for an oversized reason; `Unavailable`.
    pub async fn handle(&self, cmd: DecideApproval) -> Result<ApprovalRequest, AppError> {
        let span = tracing::info_span!(
            "decision",
            otel.name = "decision",
            orchestra.approval_id = %cmd.id,
            orchestra.decision = if cmd.approved { "approve" } else { "deny" },
            orchestra.decided_by = %cmd.decided_by,
        );
        tracing::Instrument::instrument(self.decide(cmd), span).await
    }

    async fn decide(&self, cmd: DecideApproval) -> Result<ApprovalRequest, AppError> {
        let reason = normalize_reason(cmd.reason.clone())?;
        let outcome = if cmd.approved {
            DecisionOutcome::Approved
        } else {
            DecisionOutcome::Rejected
        };
        let current = self
            .deps
            .repo
            .find(cmd.id)
            .await?
            .ok_or_else(|| AppError::not_found("approval", cmd.id))?;
        if let Some(seen) = cmd.expected_version
            && seen != current.version()
        {
            return Err(AppError::conflict(
                crate::ConflictKind::ApprovalChanged,
                format!(
                    "the approval changed since it was shown (version {seen}, now {}: it is {}{}); nothing was decided, look again",
                    current.version(),
                    current.status(),
                    match current.votes().len() {
                        0 => String::new(),
                        n => format!(" with {n} of {} approvals", current.approvals_needed()),
                    }
                ),
            ));
        }
        let mut decision = current.decide(
            outcome,
            cmd.decided_by.clone(),
            reason,
            self.deps.clock.now(),
            &self.deps.policy,
        )?;
        if cmd.approved {
            decision.grant = grant_terms(
                &current,
                &cmd,
                decision.decided_at,
                self.deps.agent_home.as_deref(),
            )?;
            decision.updated_input = cmd.updated_input;
            decision.scope = cmd.scope;
            if current.approvals_needed() > 1 {
                return apply_vote(&self.deps, &current, &cmd.voter, &decision).await;
            }
        } else if cmd.scope != ApprovalScope::Once
            || cmd.rule.is_some()
            || cmd.expires_in_minutes.is_some()
        {
            return Err(AppError::invalid(
                "scope",
                "a refusal grants nothing: scope, rule and expiresInMinutes go with an approval",
            ));
        }
        apply_decision(&self.deps, &current, &decision).await
    }
}

/// What an approval with `cmd`'s scope grants beyond its call, checked.
fn grant_terms(
    current: &ApprovalRequest,
    cmd: &DecideApproval,
    now: chrono::DateTime<chrono::Utc>,
    home: Option<&str>,
) -> Result<Option<GrantTerms>, AppError> {
    let request = current.request();
    if cmd.scope != ApprovalScope::Once
        && request.risk == orchestra_domain::policy::RiskClass::Critical
    {
        return Err(AppError::invalid(
            "scope",
            "the policy classes this call critical: it is approved once, never granted for a session or a rule",
        ));
    }
    let rule = match cmd.scope {
        ApprovalScope::Once => {
            if cmd.rule.is_some() {
                return Err(AppError::invalid(
                    "rule",
                    "a rule is granted with scope \"rule\"",
                ));
            }
            if cmd.expires_in_minutes.is_some() {
                return Err(AppError::invalid(
                    "expiresInMinutes",
                    "only a grant expires: use it with scope \"session\" or \"rule\"",
                ));
            }
            return Ok(None);
        }
        ApprovalScope::Session => {
            if cmd.rule.is_some() {
                return Err(AppError::invalid(
                    "rule",
                    "scope \"session\" grants the approval's sessionRule; name another rule with scope \"rule\"",
                ));
            }
            request.session_rule.clone().ok_or_else(|| {
                AppError::invalid(
                    "scope",
                    "this call has no permission rule narrower than the whole tool, so it can \
                     only be allowed once; approve it with scope \"once\", or name a rule \
                     with scope \"rule\"",
                )
            })?
        }
        ApprovalScope::Rule => cmd
            .rule
            .clone()
            .or_else(|| request.session_rule.clone())
            .ok_or_else(|| {
                AppError::invalid(
                    "rule",
                    "this call has no suggested rule; name the rule to grant in `rule`",
                )
            })?,
    };
    if request.kind == orchestra_domain::ApprovalKind::Test {
        return Err(AppError::invalid(
            "scope",
            "a test approval has no session to grant anything to",
        ));
    }
    let call = orchestra_domain::policy::ToolCall {
        tool: &request.tool_name,
        input: &request.tool_input,
        working_directory: request.working_directory.as_deref().unwrap_or("/"),
        home,
    };
    orchestra_domain::grant::check_grantable(&rule, &call)
        .map_err(|e| AppError::invalid("rule", e.0))?;
    let expires_at = match cmd.expires_in_minutes {
        None => None,
        Some(m) if (1..=MAX_GRANT_MINUTES).contains(&m) => {
            Some(now + chrono::Duration::minutes(i64::from(m)))
        }
        Some(m) => {
            return Err(AppError::invalid(
                "expiresInMinutes",
                format!(
                    "is {m}; a grant lasts 1 to {MAX_GRANT_MINUTES} minutes (7 days), or omit it for the rest of the session"
                ),
            ));
        }
    };
    Ok(Some(GrantTerms {
        rule,
        expires_at,
        revoked: None,
    }))
}

pub(crate) fn normalize_reason(reason: Option<String>) -> Result<Option<String>, AppError> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    if reason.contains('\0') {
        // No database stores NUL in text, and no human wrote one.
        return Err(AppError::invalid(
            "reason",
            "must not contain NUL characters",
        ));
    }
    let trimmed = reason.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let len = trimmed.chars().count();
    if len > MAX_REASON_CHARS {
        return Err(AppError::invalid(
            "reason",
            format!("is {len} characters long; the limit is {MAX_REASON_CHARS}"),
        ));
    }
    Ok(Some(trimmed.to_owned()))
}

/// The audit event of a decision or cancellation, written with it in one transaction.
fn decision_audit_record(
    current: &ApprovalRequest,
    decision: &orchestra_domain::Decision,
) -> AuditRecord {
    let action = if decision.outcome == DecisionOutcome::Cancelled {
        "approval.cancel"
    } else {
        "approval.decide"
    };
    let grant = decision.grant.as_ref().map_or_else(String::new, |g| {
        format!(
            "; grants {}{}",
            g.rule,
            g.expires_at
                .map(|at| format!(" until {}", at.to_rfc3339()))
                .unwrap_or_default()
        )
    });
    let detail = format!(
        "session {}; tool {}{grant}{}",
        current.request().session_id,
        current.request().tool_name,
        decision
            .reason
            .as_deref()
            .map(|r| format!("; reason: {r}"))
            .unwrap_or_default()
    );
    AuditRecord::new(&decision.decided_by, action, current.id())
        .states("Pending", decision.outcome.status().as_str())
        .detail(Some(detail))
}

/// One approver's yes on an approval that needs several: recorded (the chat is told who
/// approved and how many more are needed), or the decision when it was the last one needed.
async fn apply_vote(
    deps: &ApprovalDeps,
    current: &ApprovalRequest,
    voter: &str,
    approve: &orchestra_domain::Decision,
) -> Result<ApprovalRequest, AppError> {
    let id = current.id();
    let audited = deps.audit.is_some();
    let vote_audit = audited.then(|| {
        AuditRecord::new(voter, "approval.vote", id).detail(Some(format!(
            "session {}; tool {}; needs {} different approvers",
            current.request().session_id,
            current.request().tool_name,
            current.approvals_needed()
        )))
    });
    let decide_audit = audited.then(|| decision_audit_record(current, approve));
    match deps
        .repo
        .vote(
            id,
            voter,
            approve,
            vote_audit.as_ref(),
            decide_audit.as_ref(),
        )
        .await?
    {
        VoteOutcome::Recorded(approval) => {
            metrics::counter!(crate::metrics_names::APPROVAL_VOTES_TOTAL).increment(1);
            tracing::info!(
                approval.id = %id,
                voter,
                votes = approval.votes().len(),
                needed = approval.approvals_needed(),
                "approval vote recorded; another approver is needed"
            );
            deps.dispatcher.spawn_deliver_vote(approval.clone());
            Ok(approval)
        }
        VoteOutcome::Decided(approval) => {
            metrics::counter!(crate::metrics_names::APPROVAL_VOTES_TOTAL).increment(1);
            Ok(after_decided(deps, approval, approve))
        }
        VoteOutcome::Refused(refused) => Err(refused.into()),
        VoteOutcome::NotFound => Err(AppError::not_found("approval", id)),
    }
}

/// What follows a stored decision: metrics, the log line, the bus, the chat.
fn after_decided(
    deps: &ApprovalDeps,
    approval: ApprovalRequest,
    decision: &orchestra_domain::Decision,
) -> ApprovalRequest {
    crate::chaos::point(crate::chaos::DECISION_COMMITTED);
    record_decision_metrics(&approval);
    if decision.grant.is_some() {
        metrics::counter!(crate::metrics_names::GRANTS_CREATED_TOTAL, "scope" => decision.scope.as_str()).increment(1);
    }
    deps.queue_gauge.refresh();
    tracing::info!(
        approval.id = %approval.id(),
        approval.status = approval.status().as_str(),
        decided_by = %approval.decision().map_or(decision.decided_by.as_str(), |d| d.decided_by.as_str()),
        "approval decided"
    );
    deps.events
        .publish(ApprovalEvent::Decided(approval.clone()));
    deps.dispatcher.spawn_deliver_decided(approval.clone());
    approval
}

/// Runs the compare-and-set (with its audit event) and the follow-ups shared by decide and
/// cancel.
pub(crate) async fn apply_decision(
    deps: &ApprovalDeps,
    current: &ApprovalRequest,
    decision: &orchestra_domain::Decision,
) -> Result<ApprovalRequest, AppError> {
    let id = current.id();
    let repo = &deps.repo;
    let audit = deps
        .audit
        .as_ref()
        .map(|_| decision_audit_record(current, decision));
    match repo.decide(id, decision, audit.as_ref()).await? {
        DecideOutcome::Decided(approval) => Ok(after_decided(deps, approval, decision)),
        DecideOutcome::NotPending(approval) => Err(DecideApprovalError::AlreadyDecided {
            current: approval.status(),
        }
        .into()),
        DecideOutcome::NotFound => Err(AppError::not_found("approval", id)),
    }
}
