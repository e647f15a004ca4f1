//! The agent health check: stops agents whose running turn has been silent too long (time
//! waiting on a human does not count), marking turn and session Failed; suspends idle
//! processes; and evicts the event logs of idle sessions.

use super::deps::SessionDeps;
use super::live::Slot;
use super::supervisor::Supervisor;
use super::suspend::Suspender;
use orchestra_domain::TurnStatus;
use std::sync::Arc;

/// What the health check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthReport {
    /// Live processes.
    pub live: usize,
    /// Hung agents stopped by this check.
    pub hung_stopped: usize,
    /// Idle processes suspended by this check.
    pub suspended: usize,
    /// Sessions' event logs left in memory after idle ones were evicted.
    pub event_logs: usize,
}

/// Runs the health check.
#[derive(Debug, Clone)]
pub struct AgentHealthCheck {
    deps: SessionDeps,
    supervisor: Supervisor,
}

impl AgentHealthCheck {
    /// A check over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self {
            supervisor: Supervisor::new(deps.clone()),
            deps,
        }
    }

    /// One pass over the live processes.
    pub async fn run(&self) -> HealthReport {
        let d = &self.deps;
        let live = d.registry.all();
        let mut report = HealthReport {
            live: live.len(),
            hung_stopped: 0,
            suspended: 0,
            event_logs: 0,
        };
        for (id, l) in live {
            let waiting_on_human = d
                .escalation
                .as_ref()
                .is_some_and(|e| e.is_waiting_on_human(id));
            let silent_for = {
                let st = l.state();
                if st.stopping || !matches!(st.slot, Slot::Running(_)) || waiting_on_human {
                    continue;
                }
                let limit = if st.tools_in_flight > 0 {
                    d.settings.tool_timeout
                } else {
                    d.settings.inactivity_timeout
                };
                let silent = st.last_activity.elapsed();
                if silent <= limit {
                    continue;
                }
                silent
            };
            let reason = format!(
                "no output from the agent for {} s during a turn; it was stopped",
                silent_for.as_secs()
            );
            tracing::warn!(session.id = %id, silent_secs = silent_for.as_secs(), "agent hung; stopping it");
            let _guard = d.registry.lock_lifecycle(id).await;
            // While we waited for the lock the session may have been paused and resumed:
            // stop only the process we found silent, and only if it still is.
            let still_hung = d.registry.get(id).is_some_and(|now_live| {
                Arc::ptr_eq(&now_live, &l) && {
                    let st = l.state();
                    !st.stopping && st.last_activity.elapsed() >= silent_for
                }
            });
            if !still_hung {
                continue;
            }
            if self
                .supervisor
                .stop(id, TurnStatus::Failed, &reason)
                .await
                .is_some()
            {
                if let Err(err) = d.fail_if_active(id, &reason).await {
                    tracing::error!(session.id = %id, error = %err, "could not mark the hung session failed");
                }
                report.hung_stopped += 1;
            }
        }
        if let Some(after) = d.settings.idle_suspend {
            report.suspended = Suspender::new(d.clone()).suspend_idle(after).await;
        }
        d.registry.prune_locks();
        let logs = d.logs.evict_idle(
            d.settings.event_log_idle,
            d.settings.idle_event_log_bytes,
            |id| d.registry.get(id).is_some(),
        );
        report.event_logs = logs.logs;
        report
    }
}
