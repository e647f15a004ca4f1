//! The per-process event pump and turn bookkeeping: every event the agent emits goes to the
//! session's event log; tool uses and results are tracked for the watchdog and the turn's
//! checks; permission requests go to escalation; a result finishes the turn (totals, status,
//! flags); an unexpected exit fails the session.

use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

use orchestra_domain::{ApprovalId, SessionId, Turn, TurnOutcome, TurnStatus, TurnTotals};
use tokio::sync::mpsc;

use super::deps::SessionDeps;
use super::driver::EscalationDriver;
use super::event_log::SessionEvent;
use super::live::Live;
use crate::escalation::PermissionRequest;
use crate::metrics_names as m;
use crate::ports::{AgentEvent, ExitReport, TurnReport};

/// Runs one process's event stream to its end.
#[derive(Debug, Clone)]
pub(crate) struct Pump {
    deps: SessionDeps,
}

/// A success whose tool uses did not all get a result is suspicious: one error line each.
fn missing_results(id: SessionId, live: &Live) -> Vec<String> {
    let (uses, results) = {
        let mut st = live.state();
        (
            std::mem::take(&mut st.turn_tool_uses),
            std::mem::take(&mut st.turn_tool_results),
        )
    };
    let mut missing: Vec<(String, String)> = uses
        .into_iter()
        .filter(|(tool_use, _)| !results.contains(tool_use))
        .collect();
    missing.sort();
    missing
        .into_iter()
        .map(|(tool_use, name)| {
            metrics::counter!(m::AGENT_TURNS_FLAGGED_TOTAL).increment(1);
            tracing::warn!(session.id = %id, tool_use = %tool_use, tool = %name, "turn reports success but a tool use got no result");
            format!("orchestra: tool use {tool_use} ({name}) got no result")
        })
        .collect()
}

fn outcome_of(report: &TurnReport, mut errors: Vec<String>) -> TurnOutcome {
    let mut all = report.errors.clone();
    all.append(&mut errors);
    TurnOutcome {
        subtype: report.subtype.clone(),
        is_error: report.is_error,
        result_text: report.result.clone(),
        terminal_reason: report.terminal_reason.clone(),
        api_error_status: report.api_error_status,
        errors: all,
        totals: totals_of(report),
        duration_api_ms: report.duration_api_ms.unwrap_or(0),
        permission_denials: i64::try_from(report.permission_denials.len()).unwrap_or(i64::MAX),
    }
}

fn totals_of(report: &TurnReport) -> TurnTotals {
    TurnTotals {
        cost_usd: report.cost_usd.unwrap_or(0.0),
        duration_ms: report.duration_ms.unwrap_or(0),
        message_count: report.num_turns.unwrap_or(0),
    }
}

impl Pump {
    pub(crate) fn new(deps: SessionDeps) -> Self {
        Self { deps }
    }

    /// Pumps `events` until the process's `Exited`.
    pub(crate) async fn run(
        &self,
        id: SessionId,
        live: Arc<Live>,
        mut events: mpsc::Receiver<AgentEvent>,
    ) {
        let driver = EscalationDriver::new(self.deps.clone());
        while let Some(event) = events.recv().await {
            self.track(id, &live, &event);
            let event_copy = match &event {
                AgentEvent::PermissionRequest { .. }
                | AgentEvent::Result(_)
                | AgentEvent::Exited(_) => Some(event.clone()),
                _ => None,
            };
            self.deps.log(id, SessionEvent::Agent(event));
            match event_copy {
                Some(AgentEvent::PermissionRequest {
                    request_id,
                    tool_name,
                    input,
                    tool_use_id,
                    description,
                    suggested_rules,
                }) => {
                    let req = PermissionRequest {
                        request_id,
                        tool_name,
                        input,
                        tool_use_id,
                        description,
                        suggested_rules,
                        working_directory: live.working_directory.clone(),
                    };
                    let turn = live.state().turn_span.clone();
                    let span = tracing::info_span!(
                        parent: &turn,
                        "permission_prompt",
                        otel.name = "permission_prompt",
                        orchestra.session_id = %id,
                        orchestra.tool_name = %req.tool_name,
                    );
                    driver
                        .on_permission_request(id, &live, req)
                        .instrument(span)
                        .await;
                }
                Some(AgentEvent::Result(report)) => {
                    // The transcript first: once the turn is seen to end, a crash of this
                    // node must not lose it (another node resumes from the stored copy).
                    if let Some(t) = &self.deps.transcripts {
                        t.capture(id, &live.working_directory).await;
                    }
                    let turn =
                        std::mem::replace(&mut live.state().turn_span, tracing::Span::none());
                    turn.record("orchestra.turn_status", report.subtype.as_str());
                    if let Some(parked) = self
                        .finish_turn(id, &live, &report)
                        .instrument(turn.clone())
                        .await
                    {
                        driver
                            .after_turn(id, &report, parked)
                            .instrument(turn)
                            .await;
                    }
                }
                Some(AgentEvent::Exited(report)) => {
                    // The file is complete now: whoever removes the process from the
                    // registry (this, or the stopper) stores its last lines, then releases
                    // the lease.
                    self.on_exit(id, &live, report).await;
                    break;
                }
                _ => {}
            }
        }
    }

    /// Activity, tools in flight and the turn's tool uses; garbage and unknown lines logged.
    fn track(&self, id: SessionId, live: &Live, event: &AgentEvent) {
        let mut st = live.state();
        st.last_activity = Instant::now();
        match event {
            AgentEvent::ToolUse {
                id: tool_use, name, ..
            } => {
                st.tools_in_flight += 1;
                st.turn_tool_uses.insert(tool_use.clone(), name.clone());
            }
            AgentEvent::ToolResult { tool_use_id, .. } => {
                st.tools_in_flight = st.tools_in_flight.saturating_sub(1);
                st.turn_tool_results.insert(tool_use_id.clone());
            }
            AgentEvent::Garbage { preview, reason } => {
                metrics::counter!(m::AGENT_STREAM_GARBAGE_LINES_TOTAL).increment(1);
                tracing::warn!(session.id = %id, reason = %reason, line = %preview, "agent wrote a line that is not stream-json");
            }
            AgentEvent::OversizedRequest {
                request_id,
                tool_use_id,
                reason,
                ..
            } => {
                metrics::counter!(m::AGENT_OVERSIZED_REQUESTS_TOTAL).increment(1);
                tracing::warn!(session.id = %id, request_id = %request_id, tool_use_id = ?tool_use_id, reason = %reason, "agent control request over the line limit");
                if let (Some(tool_use), Some(e)) = (tool_use_id, &self.deps.escalation) {
                    e.note_answered(id, tool_use);
                }
            }
            AgentEvent::Other { kind, subtype, .. } => {
                tracing::debug!(session.id = %id, kind = %kind, subtype = ?subtype, "agent line of a type Orchestra does not interpret (kept)");
            }
            _ => {}
        }
    }

    /// A result: the totals are recorded (the cost was incurred even with no turn waiting),
    /// the running turn ends. When a turn ended, returns the approval it was parked on, if
    /// it was.
    async fn finish_turn(
        &self,
        id: SessionId,
        live: &Live,
        report: &TurnReport,
    ) -> Option<Option<ApprovalId>> {
        let parked = self.deps.escalation.as_ref().and_then(|e| e.parked(id));
        let flagged = if report.subtype == "success" && !report.is_error {
            missing_results(id, live)
        } else {
            let mut st = live.state();
            st.turn_tool_uses.clear();
            st.turn_tool_results.clear();
            Vec::new()
        };
        let (turn, interrupted, stop_outcome) = {
            let mut st = live.state();
            st.tools_in_flight = 0;
            let interrupted = std::mem::take(&mut st.interrupt_requested) || parked.is_some();
            let stop_outcome = if st.stopping {
                st.stop_outcome.clone()
            } else {
                None
            };
            (st.take_running(), interrupted, stop_outcome)
        };
        let totals = totals_of(report);
        self.record_totals(id, totals).await;
        if totals.cost_usd.is_finite() && totals.cost_usd > 0.0 {
            let (key, root) = live.cost_labels.clone();
            metrics::gauge!(m::AGENT_COST_USD_TOTAL, "key" => key, "root" => root)
                .increment(totals.cost_usd);
        }
        let Some(turn) = turn else {
            tracing::warn!(session.id = %id, subtype = %report.subtype, "result without a running turn (recorded in the totals)");
            return None;
        };
        self.end_turn(
            id,
            live,
            turn,
            report,
            flagged,
            interrupted,
            stop_outcome,
            parked,
        )
        .await
        .then_some(parked)
    }

    /// Adds a turn's figures to its session's totals (what its budget sees), tried three
    /// times; a turn that still could not be added is counted and logged with its cost.
    async fn record_totals(&self, id: SessionId, totals: TurnTotals) {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            match self
                .deps
                .sessions
                .record_turn(id, totals, self.deps.clock.now())
                .await
            {
                Ok(_) => return,
                Err(err) if err.is_not_found() => return,
                Err(err) if attempt < 3 => {
                    tracing::warn!(session.id = %id, attempt, error = %err, "could not record turn totals; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                        .await;
                }
                Err(err) => {
                    metrics::counter!(m::AGENT_TURN_TOTALS_ERRORS_TOTAL).increment(1);
                    tracing::error!(session.id = %id, cost_usd = totals.cost_usd, error = %err, "could not record turn totals; the session's totals and budget miss this turn");
                    return;
                }
            }
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site, each argument a fact of the turn's end"
    )]
    async fn end_turn(
        &self,
        id: SessionId,
        live: &Live,
        mut turn: Turn,
        report: &TurnReport,
        flagged: Vec<String>,
        interrupted: bool,
        stop_outcome: Option<(TurnStatus, String)>,
        parked: Option<ApprovalId>,
    ) -> bool {
        let now = self.deps.clock.now();
        // A turn that ends while Orchestra stops its process for a reason other than a
        // plain interrupt (the watchdog) ends the way the stopper said, with its reason.
        let finished = match (stop_outcome, parked) {
            (Some((status, reason)), _) if status != TurnStatus::Interrupted => {
                turn.abandon(status, reason, now).map(|()| status)
            }
            (_, Some(approval)) => turn
                .abandon(
                    TurnStatus::Interrupted,
                    format!("parked: waiting for a human to decide approval {approval}"),
                    now,
                )
                .map(|()| TurnStatus::Interrupted),
            _ => turn.finish(outcome_of(report, flagged), interrupted, now),
        };
        let Ok(status) = finished else { return false };
        if let Err(err) = self.deps.turns.update(&turn).await {
            tracing::error!(session.id = %id, turn.id = %turn.id(), error = %err, "could not store the turn result");
        }
        let millis = (now - turn.snapshot().started_at).num_milliseconds().max(0);
        #[expect(clippy::cast_precision_loss, reason = "milliseconds fit f64 exactly")]
        metrics::histogram!(m::AGENT_TURN_DURATION_SECONDS).record(millis as f64 / 1000.0);
        metrics::counter!(m::AGENT_TURNS_TOTAL, "outcome" => status.as_str()).increment(1);
        let totals = totals_of(report);
        tracing::info!(
            session.id = %id, turn.id = %turn.id(), turn.status = status.as_str(),
            cost_usd = totals.cost_usd, duration_ms = totals.duration_ms, "turn finished"
        );
        self.deps.log(
            id,
            SessionEvent::TurnFinished {
                turn_id: turn.id(),
                status,
                error: turn.snapshot().error.clone(),
            },
        );
        // Durable before the turn is seen to end: a crash after a client saw it lose no
        // replay.
        self.deps.store_turn_tail(id).await;
        live.turn_ended(turn.id(), status);
        true
    }

    /// The process ended. If Orchestra stopped it, the stopper records what happened;
    /// otherwise it died by itself: its turn is Lost and the session Failed (resumable).
    async fn on_exit(&self, id: SessionId, live: &Arc<Live>, report: ExitReport) {
        if live.state().stopping {
            return;
        }
        // Take the lifecycle lock so this does not race a pause or close starting now.
        let _guard = self.deps.registry.lock_lifecycle(id).await;
        if live.state().stopping || !self.deps.registry.remove_if(id, live) {
            return;
        }
        live.release_slot();
        if let Some(esc) = &self.deps.escalation {
            esc.process_gone(id);
        }
        self.deps.hand_over(id, live).await;
        metrics::counter!(m::AGENT_PROCESS_CRASHES_TOTAL).increment(1);
        let reason = format!("the agent process {}", report.describe());
        tracing::warn!(session.id = %id, reason = %reason, "agent process exited unexpectedly");
        let running = live.state().take_running();
        if let Some(mut turn) = running
            && turn
                .abandon(TurnStatus::Lost, reason.clone(), self.deps.clock.now())
                .is_ok()
        {
            let _ = self.deps.turns.update(&turn).await;
            live.turn_ended(turn.id(), TurnStatus::Lost);
            self.deps.log(
                id,
                SessionEvent::TurnFinished {
                    turn_id: turn.id(),
                    status: TurnStatus::Lost,
                    error: Some(reason.clone()),
                },
            );
        }
        if let Err(err) = self.deps.fail_if_active(id, &reason).await {
            tracing::error!(session.id = %id, error = %err, "could not mark the session failed");
        }
        self.deps.publish_gauges();
    }
}
