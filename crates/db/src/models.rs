//! Row structs and their conversions to and from domain types. Domain types never derive
//! diesel traits; a row that does not convert is reported as corrupt, not guessed at.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use orchestra_application::ports::RepositoryError;
use orchestra_domain::approval::ApprovalSnapshot;
use orchestra_domain::session::SessionSnapshot;
use orchestra_domain::{
    AgentSession, ApprovalRequest, Decision, DecisionOutcome, NewApproval, NewSession,
    SessionTotals,
};

use super::schema::{approvals, sessions, turns};

fn corrupt(what: &str, detail: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::Corrupt(format!("{what}: {detail}"))
}

pub(crate) fn to_naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

fn to_utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionRow {
    pub id: String,
    pub agent_id: String,
    pub working_directory: String,
    pub model: Option<String>,
    pub permission_mode: String,
    pub allowed_tools: String,
    pub disallowed_tools: String,
    pub append_system_prompt: Option<String>,
    pub max_turns: Option<i32>,
    pub status: String,
    pub total_cost_usd: f64,
    pub total_duration_ms: i64,
    pub message_count: i64,
    pub turn_count: i64,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_by: Option<String>,
    pub max_budget_usd: Option<f64>,
    pub budget_usd: Option<f64>,
    pub max_session_turns: Option<i32>,
    pub turn_budget: Option<i32>,
}

impl From<&AgentSession> for SessionRow {
    fn from(s: &AgentSession) -> Self {
        let snap = s.snapshot();
        let spec = &snap.spec;
        Self {
            id: spec.id.to_string(),
            agent_id: spec.agent_id.clone(),
            working_directory: spec.working_directory.clone(),
            model: spec.model.clone(),
            permission_mode: spec.permission_mode.as_str().to_owned(),
            allowed_tools: serde_json::to_string(&spec.allowed_tools)
                .unwrap_or_else(|_| "[]".into()),
            disallowed_tools: serde_json::to_string(&spec.disallowed_tools)
                .unwrap_or_else(|_| "[]".into()),
            append_system_prompt: spec.append_system_prompt.clone(),
            max_turns: spec.max_turns.and_then(|n| i32::try_from(n).ok()),
            status: snap.status.as_str().to_owned(),
            total_cost_usd: snap.totals.cost_usd,
            total_duration_ms: snap.totals.duration_ms,
            message_count: snap.totals.message_count,
            turn_count: snap.totals.turn_count,
            last_error: snap.last_error.clone(),
            created_at: to_naive(snap.created_at),
            updated_at: to_naive(snap.updated_at),
            closed_at: snap.closed_at.map(to_naive),
            version: snap.version,
            created_by: spec.created_by.clone(),
            max_budget_usd: spec.max_budget_usd,
            budget_usd: snap.budget_usd,
            max_session_turns: spec
                .max_session_turns
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            turn_budget: snap
                .turn_budget
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        }
    }
}

impl TryFrom<SessionRow> for AgentSession {
    type Error = RepositoryError;

    fn try_from(r: SessionRow) -> Result<Self, Self::Error> {
        let tools = |field: &str, v: &str| -> Result<Vec<String>, RepositoryError> {
            serde_json::from_str(v).map_err(|e| corrupt(&format!("session {} {field}", r.id), e))
        };
        Ok(AgentSession::restore(SessionSnapshot {
            spec: NewSession {
                id: r.id.parse().map_err(|e| corrupt("session id", e))?,
                agent_id: r.agent_id.clone(),
                working_directory: r.working_directory.clone(),
                model: r.model.clone(),
                permission_mode: r
                    .permission_mode
                    .parse()
                    .map_err(|e| corrupt("permission mode", e))?,
                allowed_tools: tools("allowed_tools", &r.allowed_tools)?,
                disallowed_tools: tools("disallowed_tools", &r.disallowed_tools)?,
                append_system_prompt: r.append_system_prompt.clone(),
                max_turns: r.max_turns.and_then(|n| u32::try_from(n).ok()),
                created_by: r.created_by.clone(),
                max_budget_usd: r.max_budget_usd,
                max_session_turns: r
                    .max_session_turns
                    .map(u32::try_from)
                    .transpose()
                    .map_err(|e| corrupt("session max_session_turns", e))?,
            },
            status: r.status.parse().map_err(|e| corrupt("session status", e))?,
            totals: SessionTotals {
                cost_usd: r.total_cost_usd,
                duration_ms: r.total_duration_ms,
                message_count: r.message_count,
                turn_count: r.turn_count,
            },
            last_error: r.last_error,
            created_at: to_utc(r.created_at),
            updated_at: to_utc(r.updated_at),
            closed_at: r.closed_at.map(to_utc),
            version: r.version,
            budget_usd: r.budget_usd,
            turn_budget: r
                .turn_budget
                .map(u32::try_from)
                .transpose()
                .map_err(|e| corrupt("session turn_budget", e))?,
        }))
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = approvals)]
pub(crate) struct ApprovalRow {
    pub id: String,
    pub session_id: String,
    pub agent_id: String,
    pub tool_name: String,
    pub tool_input: String,
    pub tool_use_id: Option<String>,
    pub kind: String,
    pub description: Option<String>,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub reason: Option<String>,
    pub updated_input: Option<String>,
    pub scope: String,
    pub notification_ref: Option<String>,
    pub session_rule: Option<String>,
    pub notification: String,
    pub notify_attempts: i32,
    pub notify_error: Option<String>,
    pub notify_after: Option<NaiveDateTime>,
    pub acted_on: String,
    pub risk: String,
    pub working_directory: Option<String>,
    pub grant_rule: Option<String>,
    pub grant_expires_at: Option<NaiveDateTime>,
    pub grant_revoked_at: Option<NaiveDateTime>,
    pub grant_revoked_by: Option<String>,
    pub quorum: Option<String>,
}

impl From<&ApprovalRequest> for ApprovalRow {
    fn from(a: &ApprovalRequest) -> Self {
        let snap = a.snapshot();
        let req = &snap.request;
        let d = snap.decision.as_ref();
        let grant = d.and_then(|d| d.grant.as_ref());
        Self {
            id: snap.id.to_string(),
            session_id: req.session_id.clone(),
            agent_id: req.agent_id.clone(),
            tool_name: req.tool_name.clone(),
            tool_input: req.tool_input.to_string(),
            tool_use_id: req.tool_use_id.clone(),
            kind: req.kind.as_str().to_owned(),
            description: req.description.clone(),
            status: snap.status.as_str().to_owned(),
            created_at: to_naive(snap.created_at),
            expires_at: to_naive(snap.expires_at),
            decided_by: d.map(|d| d.decided_by.clone()),
            decided_at: d.map(|d| to_naive(d.decided_at)),
            reason: d.and_then(|d| d.reason.clone()),
            updated_input: d.and_then(|d| d.updated_input.as_ref().map(ToString::to_string)),
            scope: d.map_or("Once", |d| d.scope.as_str()).to_owned(),
            notification_ref: snap.notification_ref.clone(),
            session_rule: req.session_rule.clone(),
            notification: snap.notification.as_str().to_owned(),
            notify_attempts: snap.notify_attempts,
            notify_error: snap.notify_error.clone(),
            // The immediate attempt's head start over the outbox.
            notify_after: snap.notification.is_due().then(|| {
                to_naive(
                    snap.created_at
                        + chrono::Duration::seconds(
                            orchestra_domain::notification::FIRST_ATTEMPT_LEASE_SECS,
                        ),
                )
            }),
            acted_on: snap.acted_on.as_str().to_owned(),
            risk: req.risk.as_str().to_owned(),
            working_directory: req.working_directory.clone(),
            grant_rule: grant.map(|g| g.rule.clone()),
            grant_expires_at: grant.and_then(|g| g.expires_at.map(to_naive)),
            grant_revoked_at: grant.and_then(|g| g.revoked.as_ref().map(|r| to_naive(r.at))),
            grant_revoked_by: grant.and_then(|g| g.revoked.as_ref().map(|r| r.by.clone())),
            quorum: quorum_json(req.approvals_needed, &snap.votes),
        }
    }
}

impl TryFrom<ApprovalRow> for ApprovalRequest {
    type Error = RepositoryError;

    fn try_from(r: ApprovalRow) -> Result<Self, Self::Error> {
        let status: orchestra_domain::ApprovalStatus = r
            .status
            .parse()
            .map_err(|e| corrupt("approval status", e))?;
        let grant = r.grant_rule.map(|rule| orchestra_domain::GrantTerms {
            rule,
            expires_at: r.grant_expires_at.map(to_utc),
            revoked: r.grant_revoked_at.map(|at| orchestra_domain::Revocation {
                by: r.grant_revoked_by.unwrap_or_default(),
                at: to_utc(at),
            }),
        });
        let (approvals_needed, votes) = parse_quorum(r.quorum.as_deref())?;
        let decision = match (status, r.decided_by, r.decided_at) {
            (orchestra_domain::ApprovalStatus::Pending, _, _) => None,
            (final_status, Some(decided_by), Some(decided_at)) => Some(Decision {
                outcome: match final_status {
                    orchestra_domain::ApprovalStatus::Approved => DecisionOutcome::Approved,
                    orchestra_domain::ApprovalStatus::Rejected => DecisionOutcome::Rejected,
                    orchestra_domain::ApprovalStatus::Expired => DecisionOutcome::Expired,
                    _ => DecisionOutcome::Cancelled,
                },
                decided_by,
                decided_at: to_utc(decided_at),
                reason: r.reason,
                updated_input: r
                    .updated_input
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(|e| corrupt("approval updated_input", e))?,
                scope: r.scope.parse().map_err(|e| corrupt("approval scope", e))?,
                grant,
                votes: if final_status == orchestra_domain::ApprovalStatus::Approved {
                    votes.clone()
                } else {
                    Vec::new()
                },
            }),
            (_, _, _) => {
                return Err(corrupt(
                    "approval",
                    format!("{} is {} without a decision", r.id, r.status),
                ));
            }
        };
        Ok(ApprovalRequest::restore(ApprovalSnapshot {
            id: r.id.parse().map_err(|e| corrupt("approval id", e))?,
            request: NewApproval {
                session_id: r.session_id,
                agent_id: r.agent_id,
                tool_name: r.tool_name,
                tool_input: serde_json::from_str(&r.tool_input)
                    .map_err(|e| corrupt("approval tool_input", e))?,
                tool_use_id: r.tool_use_id,
                kind: r.kind.parse().map_err(|e| corrupt("approval kind", e))?,
                description: r.description,
                session_rule: r.session_rule,
                risk: orchestra_domain::policy::RiskClass::parse(&r.risk)
                    .ok_or_else(|| corrupt("approval risk", &r.risk))?,
                working_directory: r.working_directory,
                approvals_needed,
            },
            status,
            created_at: to_utc(r.created_at),
            expires_at: to_utc(r.expires_at),
            decision,
            notification_ref: r.notification_ref,
            notification: r
                .notification
                .parse()
                .map_err(|e| corrupt("approval notification", e))?,
            notify_attempts: r.notify_attempts,
            notify_error: r.notify_error,
            acted_on: r
                .acted_on
                .parse()
                .map_err(|e| corrupt("approval acted_on", e))?,
            votes,
        }))
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = turns)]
pub(crate) struct TurnRow {
    pub id: String,
    pub session_id: String,
    pub seq: i64,
    pub prompt: String,
    pub started_at: NaiveDateTime,
    /// The columns a turn's end writes.
    #[diesel(embed)]
    pub progress: TurnProgress,
}

/// What changes on a turn after it started (its outcome): the update writes only these, not
/// the prompt (up to 100k characters) again.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = turns, treat_none_as_null = true)]
pub(crate) struct TurnProgress {
    pub status: String,
    pub finished_at: Option<NaiveDateTime>,
    pub subtype: Option<String>,
    pub is_error: Option<bool>,
    pub result_text: Option<String>,
    pub terminal_reason: Option<String>,
    pub api_error_status: Option<i64>,
    pub errors: Option<String>,
    pub cost_usd: Option<f64>,
    pub duration_ms: Option<i64>,
    pub duration_api_ms: Option<i64>,
    pub message_count: Option<i64>,
    pub permission_denials: Option<i64>,
    pub error: Option<String>,
}

impl From<&orchestra_domain::Turn> for TurnProgress {
    fn from(t: &orchestra_domain::Turn) -> Self {
        let s = t.snapshot();
        let o = s.outcome.as_ref();
        Self {
            status: s.status.as_str().to_owned(),
            finished_at: s.finished_at.map(to_naive),
            subtype: o.map(|o| o.subtype.clone()),
            is_error: o.map(|o| o.is_error),
            result_text: o.and_then(|o| o.result_text.clone()),
            terminal_reason: o.and_then(|o| o.terminal_reason.clone()),
            api_error_status: o.and_then(|o| o.api_error_status),
            errors: o
                .filter(|o| !o.errors.is_empty())
                .and_then(|o| serde_json::to_string(&o.errors).ok()),
            cost_usd: o.map(|o| o.totals.cost_usd),
            duration_ms: o.map(|o| o.totals.duration_ms),
            duration_api_ms: o.map(|o| o.duration_api_ms),
            message_count: o.map(|o| o.totals.message_count),
            permission_denials: o.map(|o| o.permission_denials),
            error: s.error.clone(),
        }
    }
}

impl From<&orchestra_domain::Turn> for TurnRow {
    fn from(t: &orchestra_domain::Turn) -> Self {
        let s = t.snapshot();
        Self {
            id: s.id.to_string(),
            session_id: s.session_id.to_string(),
            seq: s.seq,
            prompt: s.prompt.clone(),
            started_at: to_naive(s.started_at),
            progress: TurnProgress::from(t),
        }
    }
}

impl TryFrom<TurnRow> for orchestra_domain::Turn {
    type Error = RepositoryError;

    fn try_from(r: TurnRow) -> Result<Self, Self::Error> {
        let p = r.progress;
        let outcome = match p.subtype {
            None => None,
            Some(subtype) => Some(orchestra_domain::TurnOutcome {
                subtype,
                is_error: p.is_error.unwrap_or(false),
                result_text: p.result_text,
                terminal_reason: p.terminal_reason,
                api_error_status: p.api_error_status,
                errors: p
                    .errors
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(|e| corrupt("turn errors", e))?
                    .unwrap_or_default(),
                totals: orchestra_domain::TurnTotals {
                    cost_usd: p.cost_usd.unwrap_or(0.0),
                    duration_ms: p.duration_ms.unwrap_or(0),
                    message_count: p.message_count.unwrap_or(0),
                },
                duration_api_ms: p.duration_api_ms.unwrap_or(0),
                permission_denials: p.permission_denials.unwrap_or(0),
            }),
        };
        Ok(orchestra_domain::Turn::restore(
            orchestra_domain::TurnSnapshot {
                id: r.id.parse().map_err(|e| corrupt("turn id", e))?,
                session_id: r
                    .session_id
                    .parse()
                    .map_err(|e| corrupt("turn session id", e))?,
                seq: r.seq,
                prompt: r.prompt,
                status: p.status.parse().map_err(|e| corrupt("turn status", e))?,
                started_at: to_utc(r.started_at),
                finished_at: p.finished_at.map(to_utc),
                outcome,
                error: p.error,
            },
        ))
    }
}

/// The quorum column: `{"needed": N, "votes": [{"by", "at"}]}`; `None` when one approver
/// decides (and nobody voted).
pub(crate) fn quorum_json(needed: u32, votes: &[orchestra_domain::Vote]) -> Option<String> {
    (needed > 1 || !votes.is_empty()).then(|| {
        let votes: Vec<serde_json::Value> = votes
            .iter()
            .map(|v| serde_json::json!({ "by": v.by, "at": v.at.to_rfc3339() }))
            .collect();
        serde_json::json!({ "needed": needed, "votes": votes }).to_string()
    })
}

fn parse_quorum(
    stored: Option<&str>,
) -> Result<(u32, Vec<orchestra_domain::Vote>), RepositoryError> {
    let Some(text) = stored else {
        return Ok((1, Vec::new()));
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| corrupt("approval quorum", e))?;
    let needed = value["needed"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| corrupt("approval quorum", "no `needed`"))?;
    let votes = value["votes"]
        .as_array()
        .ok_or_else(|| corrupt("approval quorum", "no `votes`"))?;
    let votes = votes
        .iter()
        .map(|v| {
            let by = v["by"]
                .as_str()
                .ok_or_else(|| corrupt("approval quorum", "a vote has no `by`"))?;
            let at = v["at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .ok_or_else(|| corrupt("approval quorum", "a vote has no time"))?;
            Ok(orchestra_domain::Vote {
                by: by.to_owned(),
                at: at.with_timezone(&chrono::Utc),
            })
        })
        .collect::<Result<_, RepositoryError>>()?;
    Ok((needed, votes))
}
