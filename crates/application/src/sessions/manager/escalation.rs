//! Escalation: a live agent's permission prompt becomes a persisted approval (before anyone
//! is notified); the human's decision becomes the answer to the prompt. Prompts nobody
//! answers in time are parked (denied with interrupt, the session paused, the approval kept
//! Pending); an approval that arrives when no prompt waits (parked, after a crash or restart,
//! a tool the CLI denied by itself) resumes the session with a one-time allow for exactly
//! that call and tells the agent to continue.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestra_domain::{
    ApprovalId, ApprovalKind, ApprovalRequest, ApprovalScope, ApprovalStatus, DecisionOutcome,
    NewApproval, SessionId, SessionStatus, TurnStatus,
};
use serde_json::Value;

use super::{Live, SessionManager, Slot, lock};
use crate::approvals::{
    ApprovalEvent, ApprovalEvents, CancelApprovalHandler, RequestApproval, RequestApprovalHandler,
};
use crate::metrics_names as m;
use crate::ports::{ApprovalFilter, ApprovalRepository, PermissionAnswer, TurnReport};
use crate::sessions::event_log::SessionEvent;

/// How permission prompts are escalated.
#[derive(Debug, Clone)]
pub struct Escalation {
    /// Opens approvals.
    pub request: RequestApprovalHandler,
    /// Withdraws them (session paused or closed).
    pub cancel: CancelApprovalHandler,
    /// Reads their state (decisions made elsewhere).
    pub repo: Arc<dyn ApprovalRepository>,
    /// Decisions made in this process.
    pub events: ApprovalEvents,
    /// How long a prompt may wait before the session is parked.
    pub park_after: Duration,
    /// The approval timeout (the policy's default when `None`).
    pub timeout: Option<chrono::Duration>,
    /// Whether agents ask through `--permission-prompt-tool stdio` (otherwise the CLI denies
    /// by itself and denials become approvals after the turn).
    pub live_prompts: bool,
}

/// A `can_use_tool` request from the pump.
#[derive(Debug, Clone)]
pub(super) struct PermissionRequest {
    pub request_id: String,
    pub tool_name: String,
    pub input: Value,
    pub tool_use_id: Option<String>,
    pub description: Option<String>,
}

/// A prompt waiting for a human.
#[derive(Debug, Clone)]
pub(super) struct PendingPermission {
    request_id: String,
    tool_use_id: Option<String>,
    asked_at: Instant,
}

#[derive(Debug, Clone)]
struct OnceGrant {
    tool: String,
    input: Value,
    updated_input: Option<Value>,
}

/// What a session may do without asking again.
#[derive(Debug, Default)]
pub(super) struct Grants {
    /// Tools allowed for the rest of the session.
    session_tools: HashSet<String>,
    /// Exactly these calls, once each.
    once: Vec<OnceGrant>,
    /// Calls refused or expired: answered with a deny, never asked again.
    refused: Vec<(String, Value)>,
    /// Decisions already acted on (the event and the database poll may both report one).
    handled: HashSet<ApprovalId>,
}

/// How often the escalation tick reads waiting prompts' approvals from the database. Decisions
/// made in this process arrive at once through [`ApprovalEvents`]; the poll is the safety net
/// for decisions made on another node or missed by a lagging listener.
pub const DECISION_POLL_INTERVAL: Duration = Duration::from_secs(2);

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

/// A permission rule for exactly this call where the CLI has one (`Bash(<command>)`), the
/// tool name otherwise.
fn rule_for(tool: &str, input: &Value) -> String {
    match (tool, input.get("command").and_then(Value::as_str)) {
        ("Bash", Some(cmd)) if !cmd.contains(',') && !cmd.contains(')') => format!("Bash({cmd})"),
        _ => tool.to_owned(),
    }
}

impl SessionManager {
    fn escalation(&self) -> Option<&Escalation> {
        self.inner.escalation.as_ref()
    }

    /// Answers from the session's grants, if they cover the call.
    fn answer_from_grants(
        &self,
        id: SessionId,
        tool: &str,
        input: &Value,
    ) -> Option<(PermissionAnswer, &'static str)> {
        let mut grants = lock(&self.inner.grants);
        let g = grants.entry(id).or_default();
        if g.session_tools.contains(tool) {
            return Some((
                PermissionAnswer::Allow {
                    updated_input: None,
                },
                "session_grant",
            ));
        }
        if let Some(pos) = g
            .once
            .iter()
            .position(|o| o.tool == tool && &o.input == input)
        {
            let grant = g.once.remove(pos);
            return Some((
                PermissionAnswer::Allow {
                    updated_input: grant.updated_input,
                },
                "one_time_grant",
            ));
        }
        if g.refused.iter().any(|(t, i)| t == tool && i == input) {
            return Some((
                PermissionAnswer::Deny {
                    message: "This exact tool call was already refused or not approved in time; it will not be asked again.".into(),
                    interrupt: false,
                },
                "refused_before",
            ));
        }
        None
    }

    async fn answer(
        &self,
        id: SessionId,
        live: &Live,
        request_id: &str,
        tool_use_id: Option<&str>,
        answer: PermissionAnswer,
    ) {
        if let Some(t) = tool_use_id {
            live.state().answered.insert(t.to_owned());
        }
        if let Err(err) = live.process.answer_permission(request_id, answer).await {
            tracing::warn!(session.id = %id, error = %err, "could not answer the agent's permission request");
        }
        live.state().last_activity = Instant::now();
    }

    /// A `can_use_tool` request: answered from grants, or persisted as an approval (before
    /// anyone is notified) while the turn waits.
    pub(super) async fn on_permission_request(
        &self,
        id: SessionId,
        live: &Arc<Live>,
        req: PermissionRequest,
    ) {
        let Some(esc) = self.escalation().cloned() else {
            let deny = PermissionAnswer::Deny {
                message: "No human approval channel is configured.".into(),
                interrupt: false,
            };
            self.answer(id, live, &req.request_id, req.tool_use_id.as_deref(), deny)
                .await;
            return;
        };
        if let Some((answer, why)) = self.answer_from_grants(id, &req.tool_name, &req.input) {
            metrics::counter!(m::AGENT_PERMISSIONS_AUTO_ANSWERED_TOTAL, "why" => why).increment(1);
            tracing::info!(session.id = %id, tool = %req.tool_name, why, "permission answered without asking");
            self.answer(
                id,
                live,
                &req.request_id,
                req.tool_use_id.as_deref(),
                answer,
            )
            .await;
            return;
        }
        let opened = esc
            .request
            .handle(RequestApproval {
                request: NewApproval {
                    session_id: id.to_string(),
                    agent_id: live.agent_id.clone(),
                    tool_name: req.tool_name.clone(),
                    tool_input: req.input.clone(),
                    tool_use_id: req.tool_use_id.clone(),
                    kind: ApprovalKind::Live,
                    description: req.description.clone(),
                },
                timeout: esc.timeout,
                await_delivery: false,
            })
            .await;
        match opened {
            Ok((approval, _)) => {
                live.state().pending.insert(
                    approval.id(),
                    PendingPermission {
                        request_id: req.request_id,
                        tool_use_id: req.tool_use_id,
                        asked_at: Instant::now(),
                    },
                );
                self.log(
                    id,
                    SessionEvent::ApprovalRequested {
                        approval_id: approval.id(),
                        tool_name: req.tool_name,
                    },
                );
            }
            Err(err) => {
                // Fail closed: nothing runs without a recorded approval.
                tracing::error!(session.id = %id, error = %err, "could not record the approval; denying the tool call");
                let deny = PermissionAnswer::Deny {
                    message: "Orchestra could not record an approval request for this tool call, so it was not run.".into(),
                    interrupt: false,
                };
                self.answer(id, live, &req.request_id, req.tool_use_id.as_deref(), deny)
                    .await;
            }
        }
    }

    /// After a turn's result: park, escalate the CLI's own denials, send continuations.
    pub(super) async fn after_turn(
        &self,
        id: SessionId,
        live: &Live,
        report: &TurnReport,
        parked: Option<ApprovalId>,
    ) {
        if let Some(approval) = parked {
            let this = self.clone();
            self.spawn_task(async move { this.park_session(id, approval).await });
            return;
        }
        if let Some(esc) = self.escalation().cloned() {
            let answered = live.state().answered.clone();
            for d in report
                .permission_denials
                .iter()
                .filter(|d| !answered.contains(&d.tool_use_id))
            {
                if self
                    .answer_from_grants(id, &d.tool_name, &d.tool_input)
                    .is_some()
                {
                    continue;
                }
                let opened = esc
                    .request
                    .handle(RequestApproval {
                        request: NewApproval {
                            session_id: id.to_string(),
                            agent_id: self.inner.settings.default_agent_id.clone(),
                            tool_name: d.tool_name.clone(),
                            tool_input: d.tool_input.clone(),
                            tool_use_id: Some(d.tool_use_id.clone()),
                            kind: ApprovalKind::Denial,
                            description: Some("The agent's tool call was denied; approve to resume the session with it allowed.".into()),
                        },
                        timeout: esc.timeout,
                        await_delivery: false,
                    })
                    .await;
                match opened {
                    Ok((a, _)) => self.log(
                        id,
                        SessionEvent::ApprovalRequested {
                            approval_id: a.id(),
                            tool_name: d.tool_name.clone(),
                        },
                    ),
                    Err(err) => {
                        tracing::error!(session.id = %id, error = %err, "could not record an approval for a denied tool call")
                    }
                }
            }
        }
        let next = {
            let mut st = live.state();
            if matches!(st.slot, Slot::Idle) && !st.continuations.is_empty() && !st.stopping {
                Some(st.continuations.remove(0))
            } else {
                None
            }
        };
        if let Some(prompt) = next {
            let this = self.clone();
            self.spawn_task(async move {
                if let Err(err) = this.send_message(id, &prompt).await {
                    tracing::warn!(session.id = %id, error = %err, "could not send the continuation prompt");
                }
            });
        }
    }

    async fn park_session(&self, id: SessionId, approval: ApprovalId) {
        let lifecycle = self.lifecycle_lock(id);
        let _guard = lifecycle.lock().await;
        let reason = format!("parked: waiting for a human to decide approval {approval}");
        self.stop_live(id, TurnStatus::Interrupted, &reason).await;
        let now = self.inner.clock.now();
        match self
            .store_transition(id, |s| {
                if s.status() == SessionStatus::Active {
                    s.park(reason.clone(), now)
                } else {
                    Ok(())
                }
            })
            .await
        {
            Ok(_) => {
                metrics::counter!(m::AGENT_SESSIONS_PARKED_TOTAL).increment(1);
                tracing::info!(session.id = %id, approval.id = %approval, "session parked until the approval is decided");
                self.log_status(id, SessionStatus::Paused, Some(reason));
            }
            Err(err) => {
                tracing::error!(session.id = %id, error = %err, "could not park the session")
            }
        }
        self.publish_gauges();
    }

    /// A decision (from any channel, or expiry): answers the waiting prompt, or continues a
    /// session that no longer waits.
    pub async fn on_decided(&self, approval: ApprovalRequest) {
        if approval.request().kind == ApprovalKind::Test
            || approval.status() == ApprovalStatus::Pending
        {
            return;
        }
        let Ok(sid) = approval.request().session_id.parse::<SessionId>() else {
            return;
        };
        let Some(decision) = approval.decision().cloned() else {
            return;
        };
        if decision.outcome == DecisionOutcome::Cancelled && self.live(sid).is_none() {
            // Withdrawn while no process waits (the session was paused or closed): nothing to
            // answer or continue, and a closed session's state must not be recreated.
            self.log_if_open(
                sid,
                SessionEvent::ApprovalDecided {
                    approval_id: approval.id(),
                    status: approval.status(),
                },
            );
            return;
        }
        // Each decision is acted on once, however many times it is reported.
        if !lock(&self.inner.grants)
            .entry(sid)
            .or_default()
            .handled
            .insert(approval.id())
        {
            return;
        }
        let tool = approval.request().tool_name.clone();
        let input = approval.request().tool_input.clone();
        if matches!(
            decision.outcome,
            DecisionOutcome::Rejected | DecisionOutcome::Expired
        ) {
            lock(&self.inner.grants)
                .entry(sid)
                .or_default()
                .refused
                .push((tool.clone(), input.clone()));
        }
        if decision.outcome == DecisionOutcome::Approved && decision.scope == ApprovalScope::Session
        {
            self.allow_for_session(sid, &tool).await;
        }
        if let Some(live) = self.live(sid) {
            let pending = live.state().pending.remove(&approval.id());
            if let Some(p) = pending {
                let answer = if decision.outcome.allows() {
                    PermissionAnswer::Allow {
                        updated_input: decision.updated_input.clone(),
                    }
                } else {
                    PermissionAnswer::Deny {
                        message: deny_message(&approval),
                        interrupt: false,
                    }
                };
                tracing::info!(session.id = %sid, approval.id = %approval.id(), outcome = ?decision.outcome, "answering the agent's permission request");
                self.log(
                    sid,
                    SessionEvent::ApprovalDecided {
                        approval_id: approval.id(),
                        status: approval.status(),
                    },
                );
                self.answer(sid, &live, &p.request_id, p.tool_use_id.as_deref(), answer)
                    .await;
                return;
            }
        }
        self.log(
            sid,
            SessionEvent::ApprovalDecided {
                approval_id: approval.id(),
                status: approval.status(),
            },
        );
        if decision.outcome == DecisionOutcome::Approved {
            self.continue_after_approval(sid, &approval).await;
        }
    }

    async fn allow_for_session(&self, id: SessionId, tool: &str) {
        let fresh = lock(&self.inner.grants)
            .entry(id)
            .or_default()
            .session_tools
            .insert(tool.to_owned());
        if !fresh {
            return;
        }
        // Persisted too, so a resumed process gets it as an allowed tool.
        let rule = tool.to_owned();
        let now = self.inner.clock.now();
        if let Err(err) = self
            .store_transition(id, |s| {
                s.allow_tool(&rule, now);
                Ok(())
            })
            .await
        {
            tracing::warn!(session.id = %id, error = %err, "could not store the session-wide allow");
        }
    }

    async fn continue_after_approval(&self, sid: SessionId, approval: &ApprovalRequest) {
        let Some(esc) = self.escalation().cloned() else {
            return;
        };
        let Some(decision) = approval.decision() else {
            return;
        };
        let lifecycle = self.lifecycle_lock(sid);
        let _guard = lifecycle.lock().await;
        let Ok(Some(session)) = self.inner.sessions.find(sid).await else {
            return;
        };
        if session.status() == SessionStatus::Closed {
            return;
        }
        let tool = approval.request().tool_name.clone();
        let input = approval.request().tool_input.clone();
        lock(&self.inner.grants)
            .entry(sid)
            .or_default()
            .once
            .push(OnceGrant {
                tool: tool.clone(),
                input: input.clone(),
                updated_input: decision.updated_input.clone(),
            });
        let extra = if esc.live_prompts {
            Vec::new()
        } else {
            vec![rule_for(
                &tool,
                decision.updated_input.as_ref().unwrap_or(&input),
            )]
        };
        if !esc.live_prompts && self.live(sid).is_some() {
            // The CLI's allowed tools are fixed at start: restart it with the approved call allowed.
            self.stop_live(
                sid,
                TurnStatus::Interrupted,
                "restarting the agent with the approved tool allowed",
            )
            .await;
        }
        if self.live(sid).is_none() {
            let permit = match self.acquire_slot().await {
                Ok(p) => p,
                Err(err) => {
                    tracing::warn!(session.id = %sid, error = %err, "approved, but no process slot to resume the session");
                    return;
                }
            };
            if let Err(err) = self.spawn(session.spec(), true, extra, permit).await {
                tracing::warn!(session.id = %sid, error = %err, "approved, but the session could not be resumed");
                return;
            }
            let now = self.inner.clock.now();
            if let Err(err) = self
                .store_transition(sid, |s| {
                    if s.status().is_resumable() {
                        s.resume(now)
                    } else {
                        Ok(())
                    }
                })
                .await
            {
                tracing::error!(session.id = %sid, error = %err, "could not mark the resumed session Active");
            }
            self.log_status(
                sid,
                SessionStatus::Active,
                Some(format!("resumed after approval {}", approval.id())),
            );
        }
        let prompt = format!(
            "[orchestra] A human ({}) approved your earlier request to use the {tool} tool with input {}. \
             Continue with the task; that exact call will be allowed once.",
            decision.decided_by,
            decision.updated_input.as_ref().unwrap_or(&input)
        );
        let busy = self
            .live(sid)
            .is_some_and(|l| !matches!(l.state().slot, Slot::Idle));
        if busy {
            if let Some(l) = self.live(sid) {
                l.state().continuations.push(prompt);
            }
        } else if let Err(err) = self.send_message(sid, &prompt).await {
            tracing::warn!(session.id = %sid, error = %err, "could not send the continuation prompt");
        }
        tracing::info!(session.id = %sid, approval.id = %approval.id(), "session continued after approval");
        self.publish_gauges();
    }

    /// Withdraws the session's Pending approvals (it was paused or closed by a client).
    pub(super) async fn cancel_session_approvals(&self, id: SessionId, reason: &str) {
        let Some(esc) = self.escalation().cloned() else {
            return;
        };
        let filter = ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            session_id: Some(id.to_string()),
            kind: None,
        };
        if let Err(err) = esc
            .cancel
            .cancel_all_pending(filter, "orchestra", reason)
            .await
        {
            // They stay Pending: decidable, and expired by the sweeper in time.
            tracing::warn!(session.id = %id, error = %err, "could not cancel the session's pending approvals");
        }
    }

    /// Parks prompts that waited too long, and (every [`DECISION_POLL_INTERVAL`]) picks up
    /// decisions this process did not see happen (another node, a missed event). Run it often
    /// (every few hundred ms): parking reads only memory.
    pub async fn escalation_tick(&self) {
        let Some(esc) = self.escalation().cloned() else {
            return;
        };
        let poll_db = {
            let mut last = lock(&self.inner.last_decision_poll);
            let due = last.is_none_or(|t| t.elapsed() >= DECISION_POLL_INTERVAL);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        let live: Vec<(SessionId, Arc<Live>)> = lock(&self.inner.live)
            .iter()
            .map(|(k, v)| (*k, Arc::clone(v)))
            .collect();
        for (id, l) in live {
            let pending: Vec<(ApprovalId, PendingPermission)> = l
                .state()
                .pending
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            for (approval_id, p) in pending {
                if poll_db
                    && let Ok(Some(a)) = esc.repo.find(approval_id).await
                    && a.status() != ApprovalStatus::Pending
                {
                    self.on_decided(a).await;
                    continue;
                }
                let park_now = {
                    let mut st = l.state();
                    if p.asked_at.elapsed() >= esc.park_after
                        && st.parked.is_none()
                        && !st.stopping
                        && st.pending.contains_key(&approval_id)
                    {
                        st.parked = Some(approval_id);
                        st.pending.remove(&approval_id);
                        // The CLI exits after a deny with interrupt: that exit is ours, not
                        // a crash; `park_session` records it.
                        st.stopping = true;
                        st.stop_outcome = Some((
                            TurnStatus::Interrupted,
                            format!("parked: waiting for a human to decide approval {approval_id}"),
                        ));
                        true
                    } else {
                        false
                    }
                };
                if park_now {
                    tracing::info!(session.id = %id, approval.id = %approval_id, waited_secs = p.asked_at.elapsed().as_secs(), "no decision yet; parking the session");
                    let deny = PermissionAnswer::Deny {
                        message: format!(
                            "Orchestra parked this session: nobody has decided approval {approval_id} yet. \
                             It will continue once the call is approved."
                        ),
                        interrupt: true,
                    };
                    self.answer(id, &l, &p.request_id, p.tool_use_id.as_deref(), deny)
                        .await;
                }
            }
        }
    }

    /// Listens for decisions made in this process and acts on them. Runs until the bus closes.
    pub fn spawn_decision_listener(&self) -> tokio::task::JoinHandle<()> {
        let Some(esc) = self.escalation().cloned() else {
            return self.spawn_task(async {});
        };
        let mut rx = esc.events.subscribe();
        let this = self.clone();
        self.spawn_task(async move {
            loop {
                match rx.recv().await {
                    Ok(ApprovalEvent::Decided(a)) => {
                        let this = this.clone();
                        let task = this.clone();
                        this.spawn_task(async move { task.on_decided(a).await });
                    }
                    Ok(ApprovalEvent::Opened(_)) => {}
                    // Missed some: the tick's database poll catches up.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }
}
