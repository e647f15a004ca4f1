//! After a start: stop what an earlier Orchestra left running and make the database
//! truthful; at shutdown: suspend the idle live sessions and pause the busy ones, so every
//! one comes back resumable.

use std::collections::HashSet;

use orchestra_domain::{SessionId, SessionStatus};

use super::deps::SessionDeps;
use super::lifecycle::PauseSessionHandler;
use crate::error::AppError;
use crate::ports::{PageRequest, SessionFilter};

/// What start-up recovery found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Sessions whose running turn was lost: Failed (resumable).
    pub sessions_failed: usize,
    /// Turns that were running: Lost.
    pub turns_lost: usize,
    /// Active sessions with no process and nothing lost: they stay Active, suspended.
    pub sessions_suspended: usize,
}

/// Recovery at start and pausing at shutdown.
#[derive(Debug, Clone)]
pub struct SessionRecovery {
    deps: SessionDeps,
}

impl SessionRecovery {
    /// Recovery over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self { deps }
    }

    async fn active_sessions(&self) -> Result<Vec<SessionId>, AppError> {
        let mut active = Vec::new();
        let mut offset = 0;
        loop {
            let filter = SessionFilter {
                status: Some(SessionStatus::Active),
                agent_id: None,
            };
            let page = self
                .deps
                .sessions
                .list(&filter, PageRequest { offset, limit: 500 })
                .await?;
            let n = page.items.len();
            active.extend(page.items.into_iter().map(|s| s.id()));
            if n < 500 {
                return Ok(active);
            }
            offset += 500;
        }
    }

    /// Stops agent processes an earlier Orchestra left behind and makes the database
    /// truthful: turns that were running are Lost and their sessions Failed (resumable);
    /// Active sessions that ran no turn lost nothing and stay Active, suspended (the next
    /// message resumes them).
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be updated.
    pub async fn recover(&self) -> Result<Recovered, AppError> {
        let d = &self.deps;
        let orphans = d.runtime.reap_orphans().await;
        if orphans.found > 0 {
            tracing::warn!(
                found = orphans.found,
                stopped = orphans.stopped,
                "stopped agent processes left by an earlier Orchestra"
            );
        }
        let lost_in: HashSet<SessionId> = d
            .turns
            .abandon_running(
                None,
                "Orchestra stopped while the turn was running",
                d.clock.now(),
            )
            .await?
            .into_iter()
            .collect();
        let reason = "Orchestra stopped while a turn was running; resume the session to continue";
        let mut out = Recovered {
            turns_lost: lost_in.len(),
            ..Recovered::default()
        };
        for id in self.active_sessions().await? {
            if d.registry.is_live(id) {
                continue;
            }
            if !lost_in.contains(&id) {
                out.sessions_suspended += 1;
            } else if d.fail_if_active(id, reason).await.is_ok() {
                out.sessions_failed += 1;
            }
        }
        if out.sessions_failed > 0 || out.turns_lost > 0 {
            tracing::warn!(
                sessions_failed = out.sessions_failed,
                turns_lost = out.turns_lost,
                "recovered state after an unclean stop"
            );
        }
        d.publish_gauges();
        Ok(out)
    }

    /// Graceful shutdown: an idle live session is suspended (its process stopped with the
    /// ladder; it stays Active and its next message resumes it, here after the restart or
    /// on another node); a session that runs a turn or waits on a human is paused (its
    /// running turn Interrupted), so after a restart it is Paused and resumable, and its
    /// client sees why.
    pub async fn shutdown(&self) {
        // First no new process (a decision carried out now waits for the restart, `due`),
        // then every one there is.
        self.deps.registry.close_for_shutdown().await;
        let pause = PauseSessionHandler::new(self.deps.clone());
        let suspender = super::suspend::Suspender::new(self.deps.clone());
        let tasks: Vec<_> = self
            .deps
            .registry
            .ids()
            .into_iter()
            .map(|id| {
                let (pause, suspender) = (pause.clone(), suspender.clone());
                self.deps.spawn_task(async move {
                    if suspender.suspend_for_shutdown(id).await {
                        return;
                    }
                    if let Err(err) = pause.handle(id).await {
                        tracing::warn!(session.id = %id, error = %err, "could not pause the session at shutdown");
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}
