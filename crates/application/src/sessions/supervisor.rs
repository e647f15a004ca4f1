//! Starting and stopping a session's agent process: spawn it into a slot with its event
//! pump, stop it with the runtime's ladder and end its running turn, answer its permission
//! requests.

use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

use orchestra_domain::{NewSession, SessionId, TurnStatus};
use tokio::sync::OwnedSemaphorePermit;

use super::deps::SessionDeps;
use super::event_log::SessionEvent;
use super::live::Live;
use super::pump::Pump;
use crate::error::AppError;
use crate::metrics_names as m;
use crate::ports::{AgentLaunch, ExitReport, PermissionAnswer};

/// Starts, stops and answers agent processes.
#[derive(Debug, Clone)]
pub(crate) struct Supervisor {
    deps: SessionDeps,
}

impl Supervisor {
    pub(crate) fn new(deps: SessionDeps) -> Self {
        Self { deps }
    }

    /// Starts the session's CLI in `permit`'s slot (a new conversation, or `--resume`), with
    /// `extra_allowed_tools` for this process only, and its event pump.
    pub(crate) async fn start(
        &self,
        spec: &NewSession,
        resume: bool,
        mut extra_allowed_tools: Vec<String>,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), AppError> {
        let id = spec.id;
        let mut session = spec.clone();
        if resume && let Some(esc) = &self.deps.escalation {
            // Grants are Orchestra's to enforce (or, without live prompts, this process's).
            let granted = esc.rules_for_start(id, &mut session.allowed_tools).await?;
            extra_allowed_tools.extend(granted);
        }
        // Not once Orchestra is stopping: its shutdown would not see the process.
        let Some(_starting) = self.deps.registry.begin_start() else {
            return Err(AppError::Unavailable {
                what: "agent processes",
                source: "Orchestra is stopping: no agent process starts now".into(),
            });
        };
        // Only with the session's lease: no two nodes ever run one session.
        if let Some(leases) = &self.deps.leases {
            leases.take_session(id).await?;
        }
        if resume {
            if let Some(t) = &self.deps.transcripts {
                t.restore_for_resume(id, &spec.working_directory).await;
            }
            // Its events go on from the last turn its last suspension stored (here or on
            // another node that ran it since).
            self.deps.restore_log(id, true).await;
        }
        let span = tracing::info_span!(
            "agent.spawn",
            otel.name = "agent.spawn",
            orchestra.session_id = %id,
            orchestra.resume = resume,
            process.pid = tracing::field::Empty,
        );
        let ask_rules = self
            .deps
            .escalation
            .as_ref()
            .map(|esc| esc.settings().policy.ask_first(&spec.working_directory))
            .unwrap_or_default();
        let launch = AgentLaunch {
            session,
            resume,
            extra_allowed_tools,
            ask_rules,
            traceparent: self.deps.trace.traceparent(&span),
        };
        let spawned = self
            .deps
            .runtime
            .spawn(launch)
            .instrument(span.clone())
            .await;
        if let Ok(s) = &spawned
            && let Some(pid) = s.process.pid()
        {
            span.record("process.pid", i64::from(pid));
        }
        match spawned {
            Ok(spawned) => {
                metrics::counter!(m::AGENT_PROCESS_SPAWNS_TOTAL).increment(1);
                if let Some(esc) = &self.deps.escalation {
                    esc.process_started(id);
                }
                let root = self
                    .deps
                    .settings
                    .budgets
                    .root_of(&spec.working_directory)
                    .unwrap_or("other")
                    .to_owned();
                let key = spec.created_by.clone().unwrap_or_else(|| "unknown".into());
                let live = Arc::new(
                    Live::new(
                        spawned.process,
                        spec.agent_id.clone(),
                        spec.working_directory.clone(),
                        permit,
                    )
                    .with_cost_labels(key, root),
                );
                self.deps.registry.insert(id, Arc::clone(&live));
                tracing::info!(session.id = %id, pid = ?live.process.pid(), resume, "agent process started");
                let pump = Pump::new(self.deps.clone());
                self.deps
                    .spawn_detached(async move { pump.run(id, live, spawned.events).await });
                self.deps.publish_gauges();
                Ok(())
            }
            Err(err) => {
                metrics::counter!(m::AGENT_PROCESS_SPAWN_FAILURES_TOTAL).increment(1);
                tracing::warn!(session.id = %id, error = %err, "agent process failed to start");
                if let Some(leases) = &self.deps.leases {
                    leases.release_session(id).await;
                }
                Err(err.into())
            }
        }
    }

    /// Stops the session's live process (if any) and ends its running turn as
    /// `turn_status` with `reason`.
    pub(crate) async fn stop(
        &self,
        id: SessionId,
        turn_status: TurnStatus,
        reason: &str,
    ) -> Option<ExitReport> {
        let live = self.deps.registry.get(id)?;
        live.state().begin_stop(turn_status, reason);
        let span = tracing::info_span!(
            "agent.stop",
            otel.name = "agent.stop",
            orchestra.session_id = %id,
            process.pid = live.process.pid().map(i64::from),
            orchestra.stop_reason = reason,
            orchestra.stop_step = tracing::field::Empty,
        );
        let report = live.process.stop().instrument(span.clone()).await;
        span.record("orchestra.stop_step", format!("{:?}", report.stop_step));
        tracing::info!(parent: &span, session.id = %id, exit = %report.describe(), step = ?report.stop_step, "agent process stopped");
        let running = live.state().take_running();
        if let Some(mut turn) = running
            && turn
                .abandon(turn_status, reason, self.deps.clock.now())
                .is_ok()
        {
            let _ = self.deps.turns.update(&turn).await;
            live.turn_ended(turn.id(), turn.status());
            self.deps.log(
                id,
                SessionEvent::TurnFinished {
                    turn_id: turn.id(),
                    status: turn.status(),
                    error: Some(reason.to_owned()),
                },
            );
        }
        self.deps.registry.remove(id);
        // The process has exited: its slot is free now, before the hand-over's writes.
        live.release_slot();
        if let Some(esc) = &self.deps.escalation {
            esc.process_gone(id);
        }
        self.deps.hand_over(id, &live).await;
        self.deps.publish_gauges();
        Some(report)
    }

    /// Answers a permission request of the live process `live`.
    pub(crate) async fn answer(
        &self,
        id: SessionId,
        live: &Live,
        request_id: &str,
        tool_use_id: Option<&str>,
        answer: PermissionAnswer,
    ) {
        if let (Some(esc), Some(t)) = (&self.deps.escalation, tool_use_id) {
            esc.note_answered(id, t);
        }
        if let Err(err) = live.process.answer_permission(request_id, answer).await {
            tracing::warn!(session.id = %id, error = %err, "could not answer the agent's permission request");
        }
        live.state().last_activity = Instant::now();
    }
}
