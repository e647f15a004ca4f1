//! Budgets: a session that spent its budget (`maxBudgetUsd`, or the server's for its
//! directory) starts no next turn until a human raises it. The raise is asked as an approval
//! of kind `Budget`, through the same flow as tool calls (Telegram, REST), and carried out
//! through the same acted-on claim, so it happens once.

use orchestra_domain::{
    AgentSession, ApprovalKind, ApprovalRequest, ApprovalStatus, DecisionOutcome, NewApproval,
    SessionId,
};
use serde_json::{Value, json};

use super::deps::SessionDeps;
use crate::approvals::RequestApproval;
use crate::error::{AppError, ConflictKind};
use crate::metrics_names as m;
use crate::ports::{ApprovalFilter, PageRequest};

/// The tool name a budget approval shows.
pub const BUDGET_TOOL: &str = "budget";

/// Before a client's message: refused when the session spent its budget (a `Budget`
/// approval asks a human to raise it, opened if none waits).
pub(crate) async fn check_before_turn(
    d: &SessionDeps,
    session: &AgentSession,
    sent_by: Option<&str>,
) -> Result<(), AppError> {
    // The session's turns count against the key that started it; a key past its own daily
    // budget sends no message to any session.
    let owner = session.spec().created_by.as_deref();
    for key in [owner, sent_by.filter(|k| Some(*k) != owner)]
        .into_iter()
        .flatten()
    {
        check_daily_key(d, session, key).await?;
    }
    let Some(what) = spent_what(session) else {
        return Ok(());
    };
    let which = if session.budget_exhausted() {
        "session"
    } else {
        "turns"
    };
    metrics::counter!(m::AGENT_BUDGET_REFUSALS_TOTAL, "budget" => which).increment(1);
    let asked = match ensure_approval(d, session).await {
        Ok(Some(id)) => format!("; approval {id} asks a human to raise it"),
        Ok(None) => "; no approval channel is configured to raise it".to_owned(),
        Err(err) => {
            tracing::warn!(session.id = %session.id(), error = %err, "could not open the budget approval");
            "; the approval to raise it could not be recorded, try again".to_owned()
        }
    };
    Err(AppError::conflict(
        ConflictKind::BudgetExhausted,
        format!("the session {what}{asked}"),
    ))
}

/// `$4.80`, or `$0.0052` below a dollar.
fn usd(x: f64) -> String {
    if x.abs() < 1.0 {
        format!("${x:.4}")
    } else {
        format!("${x:.2}")
    }
}

/// What the session spent of its limits, in words, when it spent one (USD or turns).
fn spent_what(session: &AgentSession) -> Option<String> {
    let mut parts = Vec::new();
    if session.budget_exhausted() {
        parts.push(format!(
            "spent {} of its {} budget",
            usd(session.totals().cost_usd),
            usd(session.budget_usd().unwrap_or_default())
        ));
    }
    if session.turns_exhausted() {
        parts.push(format!(
            "ran {} of its {} turns",
            session.totals().turn_count,
            session.turn_budget().unwrap_or_default()
        ));
    }
    (!parts.is_empty()).then(|| parts.join(" and "))
}

/// Refused when the sessions `key` started spent its daily budget (`budgets.daily_key_usd`,
/// per UTC day): no approval raises that; it resets at midnight UTC.
async fn check_daily_key(
    d: &SessionDeps,
    session: &AgentSession,
    key: &str,
) -> Result<(), AppError> {
    let (Some(cap), Some(spend)) = (d.settings.budgets.daily_key_usd, &d.spend) else {
        return Ok(());
    };
    let now = d.clock.now();
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(now, |t| t.and_utc());
    let spent = spend.spent_by_key_since(key, midnight).await?;
    if spent < cap {
        return Ok(());
    }
    metrics::counter!(m::AGENT_BUDGET_REFUSALS_TOTAL, "budget" => "daily_key").increment(1);
    tracing::warn!(session.id = %session.id(), key, spent, cap, "the key spent its daily budget; message refused");
    Err(AppError::conflict(
        ConflictKind::BudgetExhausted,
        format!(
            "the sessions of key `{key}` spent ${spent:.4} today, its daily budget is ${cap:.2} \
             (budgets.daily_key_usd); it resets at 00:00 UTC"
        ),
    ))
}

/// After a turn: when the session spent its budget, the approval to raise it is opened at
/// once, so a human sees it before the next message.
pub(crate) async fn after_turn(d: &SessionDeps, id: SessionId) {
    let Ok(session) = d.load(id).await else {
        return;
    };
    if spent_what(&session).is_some()
        && let Err(err) = ensure_approval(d, &session).await
    {
        tracing::warn!(session.id = %id, error = %err, "could not open the budget approval");
    }
}

/// The Pending budget approval of the session, or a new one. `None` without escalation.
async fn ensure_approval(
    d: &SessionDeps,
    session: &AgentSession,
) -> Result<Option<orchestra_domain::ApprovalId>, AppError> {
    let Some(esc) = &d.escalation else {
        return Ok(None);
    };
    // One at a time on this node; across nodes the database keeps one Pending budget
    // approval per session (a unique index), and the opener that lost takes the winner's.
    let _one_at_a_time = d.budget_lock.lock().await;
    if let Some(id) = waiting_budget_approval(esc, session.id()).await? {
        return Ok(Some(id));
    }
    // Only what was spent is raised, each by what the session started with.
    let budget = session.budget_usd().unwrap_or_default();
    let spent = session.totals().cost_usd;
    let mut input = serde_json::Map::new();
    let mut asks = Vec::new();
    if session.budget_exhausted() {
        let raise = session.spec().max_budget_usd.unwrap_or(budget);
        input.insert("spentUsd".into(), json!(spent));
        input.insert("budgetUsd".into(), json!(budget));
        input.insert("raiseUsd".into(), json!(raise));
        asks.push(format!(
            "spent ${spent:.2} of ${budget:.2}; allow ${raise:.2} more"
        ));
    }
    if session.turns_exhausted() {
        let cap = session.turn_budget().unwrap_or_default();
        let raise = session.spec().max_session_turns.unwrap_or(cap);
        input.insert("turns".into(), json!(session.totals().turn_count));
        input.insert("turnBudget".into(), json!(cap));
        input.insert("raiseTurns".into(), json!(raise));
        asks.push(format!(
            "ran {} of {cap} turns; allow {raise} more",
            session.totals().turn_count
        ));
    }
    let opened = esc
        .deps()
        .request
        .handle(RequestApproval {
            request: NewApproval {
                session_id: session.id().to_string(),
                agent_id: session.spec().agent_id.clone(),
                tool_name: BUDGET_TOOL.into(),
                tool_input: Value::Object(input),
                tool_use_id: None,
                kind: ApprovalKind::Budget,
                description: Some(format!("Session {} {}?", session.id(), asks.join("; "))),
                session_rule: None,
                risk: Default::default(),
                working_directory: Some(session.spec().working_directory.clone()),
                approvals_needed: 1,
            },
            timeout: esc.settings().timeout,
            await_delivery: false,
        })
        .await;
    let approval = match opened {
        Ok((approval, _)) => approval,
        Err(AppError::Conflict { .. }) => {
            // Another node opened it between our look and our insert.
            if let Some(id) = waiting_budget_approval(esc, session.id()).await? {
                return Ok(Some(id));
            }
            return Err(AppError::conflict(
                ConflictKind::Concurrent,
                "the session's budget approval changed meanwhile; try again",
            ));
        }
        Err(err) => return Err(err),
    };
    tracing::info!(session.id = %session.id(), approval.id = %approval.id(), spent, budget, "the session spent its budget; a human is asked to raise it");
    Ok(Some(approval.id()))
}

/// The session's Pending budget approval, if one waits.
async fn waiting_budget_approval(
    esc: &crate::escalation::Escalation,
    id: SessionId,
) -> Result<Option<orchestra_domain::ApprovalId>, AppError> {
    let filter = ApprovalFilter {
        status: Some(ApprovalStatus::Pending),
        session_id: Some(id.to_string()),
        kind: Some(ApprovalKind::Budget),
        oldest_first: false,
    };
    let waiting = esc
        .deps()
        .repo
        .list(
            &filter,
            PageRequest {
                offset: 0,
                limit: 1,
            },
        )
        .await?;
    Ok(waiting.items.first().map(ApprovalRequest::id))
}

/// Carries out a decided budget approval: an approval raises the session's budget by
/// `raiseUsd` (the edited input's, when an admin changed it). True when done (or nothing
/// to do); false to retry.
pub(crate) async fn act(d: &SessionDeps, approval: &ApprovalRequest) -> bool {
    let Ok(id) = approval.request().session_id.parse::<SessionId>() else {
        return true;
    };
    let Some(decision) = approval.decision() else {
        return true;
    };
    if decision.outcome != DecisionOutcome::Approved {
        return true;
    }
    let input = decision
        .updated_input
        .as_ref()
        .unwrap_or(&approval.request().tool_input);
    let raise = input.get("raiseUsd").and_then(Value::as_f64).unwrap_or(0.0);
    let raise_turns = input
        .get("raiseTurns")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    let now = d.clock.now();
    match d
        .transition(id, |s| {
            s.raise_budget(raise, now);
            s.raise_turns(raise_turns, now);
            Ok(())
        })
        .await
    {
        Ok(s) => {
            metrics::counter!(m::AGENT_BUDGET_RAISES_TOTAL).increment(1);
            tracing::info!(session.id = %id, approval.id = %approval.id(), raise, raise_turns, budget = ?s.budget_usd(), turns = ?s.turn_budget(), "session budget raised");
            true
        }
        Err(AppError::NotFound { .. }) => true,
        Err(err) => {
            tracing::warn!(session.id = %id, error = %err, "could not raise the session budget; retried");
            false
        }
    }
}
