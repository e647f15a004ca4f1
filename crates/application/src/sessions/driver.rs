//! The sessions side of escalation: carries out on live processes what
//! [`Escalation`](crate::escalation::Escalation) decides — answer a permission request,
//! record approvals the agent waits for, park a prompt nobody answers, continue a session
//! after an approval — and runs the loop that feeds it decisions and parks.

use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

use orchestra_domain::{ApprovalId, ApprovalRequest, SessionId, SessionStatus, TurnStatus};
use serde_json::Value;

use super::deps::SessionDeps;
use super::event_log::SessionEvent;
use super::live::{Live, Slot};
use super::send::SendMessageHandler;
use super::supervisor::Supervisor;
use crate::escalation::{DecisionFeed, Escalation, Park, PermissionRequest, PlanAction, Prompted};
use crate::metrics_names as m;
use crate::ports::{PermissionAnswer, TurnReport};

/// How often prompts are checked for parking (reads only memory).
pub const PARK_CHECK_INTERVAL: Duration = Duration::from_millis(250);

pub use super::acting::UNACTED_PASS_INTERVAL;

/// Carries out escalation on the sessions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EscalationDriver {
    pub(super) deps: SessionDeps,
    supervisor: Supervisor,
}

/// A continuation after an approval that found no waiting prompt.
struct Continuation {
    approval_id: ApprovalId,
    tool: String,
    input: Value,
    updated_input: Option<Value>,
    decided_by: String,
}

impl EscalationDriver {
    /// The driver over the session handlers' dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self {
            supervisor: Supervisor::new(deps.clone()),
            deps,
        }
    }

    pub(super) fn escalation(&self) -> Option<&Escalation> {
        self.deps.escalation.as_ref()
    }

    /// A `can_use_tool` request of `live`: answered now, or recorded as an approval the
    /// turn waits for. Without escalation every request is denied.
    pub(crate) async fn on_permission_request(
        &self,
        id: SessionId,
        live: &Live,
        req: PermissionRequest,
    ) {
        let (request_id, tool_use_id, tool_name) = (
            req.request_id.clone(),
            req.tool_use_id.clone(),
            req.tool_name.clone(),
        );
        let prompted = match self.escalation() {
            Some(esc) => esc.ask(id, &live.agent_id, req).await,
            None => Prompted::Answer(PermissionAnswer::Deny {
                message: "No human approval channel is configured.".into(),
                interrupt: false,
            }),
        };
        match prompted {
            Prompted::Answer(answer) => {
                self.supervisor
                    .answer(id, live, &request_id, tool_use_id.as_deref(), answer)
                    .await;
            }
            Prompted::ByPolicy {
                answer,
                verdict,
                rule,
            } => {
                // A call no human saw: the audit log says which rule let it run or not.
                if let Some(audit) = &self.deps.audit {
                    audit
                        .record(
                            crate::audit::AuditRecord::new(
                                "policy",
                                &format!("policy.{verdict}"),
                                id,
                            )
                            .detail(Some(
                                serde_json::json!({ "tool": tool_name, "rule": rule }).to_string(),
                            )),
                        )
                        .await;
                }
                self.supervisor
                    .answer(id, live, &request_id, tool_use_id.as_deref(), answer)
                    .await;
            }
            Prompted::Waiting(approval_id) => self.deps.log(
                id,
                SessionEvent::ApprovalRequested {
                    approval_id,
                    tool_name,
                },
            ),
        }
    }

    /// After a turn ended: park the session if the turn was parked; otherwise escalate the
    /// CLI's own denials and send the next continuation.
    pub(crate) async fn after_turn(
        &self,
        id: SessionId,
        report: &TurnReport,
        parked: Option<ApprovalId>,
    ) {
        if let Some(approval) = parked {
            let this = self.clone();
            self.deps
                .spawn_task(async move { this.park_session(id, approval).await });
            return;
        }
        super::budget::after_turn(&self.deps, id).await;
        let Some(esc) = self.escalation() else { return };
        if !report.permission_denials.is_empty() {
            self.escalate_denials(esc, id, report).await;
        }
        let idle = self.deps.registry.get(id).is_some_and(|l| {
            let st = l.state();
            matches!(st.slot, Slot::Idle) && !st.stopping
        });
        if let Some(prompt) = idle.then(|| esc.next_continuation(id)).flatten() {
            let send = SendMessageHandler::new(self.deps.clone());
            self.deps.spawn_task(async move {
                if let Err(err) = send.handle(id, &prompt).await {
                    tracing::warn!(session.id = %id, error = %err, "could not send the continuation prompt");
                }
            });
        }
    }

    /// The CLI's own denials of a turn become approvals (in the session's event log too).
    async fn escalate_denials(&self, esc: &Escalation, id: SessionId, report: &TurnReport) {
        let working_directory = match self.deps.registry.get(id) {
            Some(live) => live.working_directory.clone(),
            None => match self.deps.load(id).await {
                Ok(s) => s.spec().working_directory.clone(),
                Err(err) => {
                    // Its denials stay in the turn's result; nothing ran.
                    tracing::warn!(session.id = %id, error = %err, "could not read the session to escalate the CLI's denials");
                    return;
                }
            },
        };
        let agent_id = &self.deps.settings.default_agent_id;
        for (approval_id, tool_name) in esc
            .escalate_denials(id, agent_id, &working_directory, report)
            .await
        {
            self.deps.log(
                id,
                SessionEvent::ApprovalRequested {
                    approval_id,
                    tool_name,
                },
            );
        }
    }

    /// Denies, with interrupt, every prompt that waited longer than `park_after`; the
    /// turn's end then parks its session.
    pub async fn park_due(&self) {
        let Some(esc) = self.escalation() else { return };
        let candidates: Vec<SessionId> = self
            .deps
            .registry
            .all()
            .into_iter()
            .filter(|(_, l)| !l.state().stopping)
            .map(|(id, _)| id)
            .collect();
        for park in esc.due_parks(&candidates) {
            self.park_prompt(park).await;
        }
    }

    async fn park_prompt(&self, park: Park) {
        let Park {
            session_id: id,
            approval_id,
            ..
        } = park;
        let Some(live) = self.deps.registry.get(id) else {
            return;
        };
        // The CLI exits after a deny with interrupt: that exit is ours, not a crash.
        live.state().begin_stop(
            TurnStatus::Interrupted,
            &format!("parked: waiting for a human to decide approval {approval_id}"),
        );
        tracing::info!(session.id = %id, approval.id = %approval_id, waited_secs = park.waited.as_secs(), "no decision yet; parking the session");
        let deny = PermissionAnswer::Deny {
            message: format!(
                "Orchestra parked this session: nobody has decided approval {approval_id} yet. \
                 It will continue once the call is approved."
            ),
            interrupt: true,
        };
        self.supervisor
            .answer(
                id,
                &live,
                &park.request_id,
                park.tool_use_id.as_deref(),
                deny,
            )
            .await;
    }

    async fn park_session(&self, id: SessionId, approval: ApprovalId) {
        let _guard = self.deps.registry.lock_lifecycle(id).await;
        let reason = format!("parked: waiting for a human to decide approval {approval}");
        self.supervisor
            .stop(id, TurnStatus::Interrupted, &reason)
            .await;
        let now = self.deps.clock.now();
        let parked = self
            .deps
            .transition(id, |s| {
                if s.status() == SessionStatus::Active {
                    s.park(reason.clone(), now)
                } else {
                    Ok(())
                }
            })
            .await;
        match parked {
            Ok(_) => {
                metrics::counter!(m::AGENT_SESSIONS_PARKED_TOTAL).increment(1);
                tracing::info!(session.id = %id, approval.id = %approval, "session parked until the approval is decided");
                self.deps
                    .log_status(id, SessionStatus::Paused, Some(reason));
            }
            Err(err) => {
                tracing::error!(session.id = %id, error = %err, "could not park the session")
            }
        }
        self.deps.publish_gauges();
    }

    /// Carries out a claimed decision: answers the waiting prompt, or continues a session
    /// that no longer waits. False when it could not be carried out yet (the session could
    /// not be read or resumed, its process went away, Orchestra is stopping): the decision
    /// goes back to `due` for the next pass or the restart.
    pub(super) async fn act(&self, esc: &Escalation, approval: &ApprovalRequest) -> bool {
        if approval.request().kind == orchestra_domain::ApprovalKind::Budget {
            return super::budget::act(&self.deps, approval).await;
        }
        let Ok(sid) = approval.request().session_id.parse::<SessionId>() else {
            return true;
        };
        let Some(plan) = esc.plan(approval, self.deps.registry.is_live(sid)) else {
            return true;
        };
        let decided = SessionEvent::ApprovalDecided {
            approval_id: plan.approval_id,
            status: plan.status,
        };
        if plan.log_only_if_open {
            self.deps.log_if_open(sid, decided);
            return true;
        }
        self.deps.log(sid, decided);
        match plan.action {
            PlanAction::None => true,
            PlanAction::Answer {
                request_id,
                tool_use_id,
                answer,
                span,
            } => {
                let Some(live) = self.deps.registry.get(sid) else {
                    return false;
                };
                let response = tracing::info_span!(
                    parent: &span,
                    "control_response",
                    otel.name = "control_response",
                    orchestra.session_id = %sid,
                    orchestra.approval_id = %plan.approval_id,
                    orchestra.decision = ?plan.status,
                );
                async {
                    tracing::info!(session.id = %sid, approval.id = %plan.approval_id, status = ?plan.status, "answering the agent's permission request");
                    self.supervisor
                        .answer(sid, &live, &request_id, tool_use_id.as_deref(), answer)
                        .await;
                }
                .instrument(response)
                .await;
                crate::chaos::point(crate::chaos::DECISION_ANSWERED);
                true
            }
            PlanAction::Continue {
                tool,
                input,
                updated_input,
                decided_by,
            } => {
                let c = Continuation {
                    approval_id: plan.approval_id,
                    tool,
                    input,
                    updated_input,
                    decided_by,
                };
                self.continue_after_approval(esc, sid, c).await
            }
        }
    }

    /// True when the session was continued, or is closed (nothing to continue).
    async fn continue_after_approval(
        &self,
        esc: &Escalation,
        sid: SessionId,
        c: Continuation,
    ) -> bool {
        let _guard = self.deps.registry.lock_lifecycle(sid).await;
        let session = match self.deps.sessions.find(sid).await {
            Ok(Some(s)) if s.status() != SessionStatus::Closed => s,
            Ok(_) => {
                // A decision about a closed or unknown session: keep no lock entry for it.
                self.deps.registry.forget(sid);
                return true;
            }
            Err(_) => return false,
        };
        esc.grant_once(sid, &c.tool, &c.input, c.updated_input.clone());
        let allowed = c.updated_input.as_ref().unwrap_or(&c.input);
        let live_prompts = esc.settings().live_prompts;
        let extra = if live_prompts {
            Vec::new()
        } else {
            // The restarted CLI needs the call pre-allowed: exactly this command where a rule
            // can say so, else the tool for that one process.
            vec![crate::escalation::exact_rule(&c.tool, allowed).unwrap_or_else(|| c.tool.clone())]
        };
        if !live_prompts && self.deps.registry.is_live(sid) {
            // The CLI's allowed tools are fixed at start: restart it with the call allowed.
            self.supervisor
                .stop(
                    sid,
                    TurnStatus::Interrupted,
                    "restarting the agent with the approved tool allowed",
                )
                .await;
        }
        if !self.deps.registry.is_live(sid)
            && !self.resume(sid, &session, extra, c.approval_id).await
        {
            return false;
        }
        let prompt = format!(
            "[orchestra] A human ({}) approved your earlier request to use the {} tool with input {allowed}. \
             Continue with the task; that exact call will be allowed once.",
            c.decided_by, c.tool
        );
        let busy = self
            .deps
            .registry
            .get(sid)
            .is_some_and(|l| !matches!(l.state().slot, Slot::Idle));
        if busy {
            esc.queue_continuation(sid, prompt);
        } else if let Err(err) = SendMessageHandler::new(self.deps.clone())
            .handle(sid, &prompt)
            .await
        {
            tracing::warn!(session.id = %sid, error = %err, "could not send the continuation prompt");
            self.deps.publish_gauges();
            return false;
        }
        tracing::info!(session.id = %sid, approval.id = %c.approval_id, "session continued after approval");
        self.deps.publish_gauges();
        true
    }

    /// Starts a process for a session that has none, after an approval. False when it
    /// could not.
    async fn resume(
        &self,
        sid: SessionId,
        session: &orchestra_domain::AgentSession,
        extra: Vec<String>,
        approval: ApprovalId,
    ) -> bool {
        let permit = match super::suspend::acquire_slot(&self.deps, sid).await {
            Ok(p) => p,
            Err(err) => {
                tracing::warn!(session.id = %sid, error = %err, "approved, but no process slot to resume the session");
                return false;
            }
        };
        if let Err(err) = self
            .supervisor
            .start(session.spec(), true, extra, permit)
            .await
        {
            tracing::warn!(session.id = %sid, error = %err, "approved, but the session could not be resumed");
            return false;
        }
        let now = self.deps.clock.now();
        let resumed = self
            .deps
            .transition(sid, |s| {
                if s.status().is_resumable() {
                    s.resume(now)
                } else {
                    Ok(())
                }
            })
            .await;
        if let Err(err) = resumed {
            tracing::error!(session.id = %sid, error = %err, "could not mark the resumed session Active");
        }
        self.deps.log_status(
            sid,
            SessionStatus::Active,
            Some(format!("resumed after approval {approval}")),
        );
        true
    }

    /// Feeds decisions (the bus, with the database poll on the same path) to
    /// [`Self::on_decided`], each on its own task, parks prompts nobody answers, and carries
    /// out decisions nobody acted on (a crash, another node's), until `stop` resolves or the
    /// bus closes. Its first pass takes over what an earlier run of this node left.
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        let Some(esc) = self.escalation() else {
            stop.await;
            return;
        };
        let mut feed = DecisionFeed::new(esc);
        let mut parks = tokio::time::interval(PARK_CHECK_INTERVAL);
        parks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut unacted = tokio::time::interval_at(
            tokio::time::Instant::now() + UNACTED_PASS_INTERVAL,
            UNACTED_PASS_INTERVAL,
        );
        unacted.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.abandon_interrupted(esc, true).await;
        self.act_on_unacted(esc, true).await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                decided = feed.next() => {
                    let Some(approval) = decided else { break };
                    let this = self.clone();
                    self.deps.spawn_task(async move { this.on_decided(approval).await });
                }
                _ = parks.tick() => self.park_due().await,
                _ = unacted.tick() => {
                    self.abandon_interrupted(esc, false).await;
                    self.act_on_unacted(esc, false).await;
                }
            }
        }
    }
}
