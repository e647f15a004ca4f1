//! After a start: stop what an earlier Orchestra left running and make the database
//! truthful; at shutdown: pause every live session so it comes back resumable.

use orchestra_domain::{SessionId, SessionStatus};

use super::deps::SessionDeps;
use super::lifecycle::PauseSessionHandler;
use crate::error::AppError;
use crate::ports::{PageRequest, SessionFilter};

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

    /// Stops agent processes an earlier Orchestra left behind; sessions that were Active
    /// have no process any more (Failed, and resumable); turns that were running are Lost.
    /// Returns (sessions failed, turns lost).
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be updated.
    pub async fn recover(&self) -> Result<(usize, u64), AppError> {
        let d = &self.deps;
        let orphans = d.runtime.reap_orphans().await;
        if orphans.found > 0 {
            tracing::warn!(
                found = orphans.found,
                stopped = orphans.stopped,
                "stopped agent processes left by an earlier Orchestra"
            );
        }
        let lost = d
            .turns
            .abandon_running(
                None,
                "Orchestra stopped while the turn was running",
                d.clock.now(),
            )
            .await?;
        let reason = "Orchestra stopped while the session was active; resume it to continue";
        let mut failed = 0;
        for id in self.active_sessions().await? {
            if !d.registry.is_live(id) && d.fail_if_active(id, reason).await.is_ok() {
                failed += 1;
            }
        }
        if failed > 0 || lost > 0 {
            tracing::warn!(
                sessions_failed = failed,
                turns_lost = lost,
                "recovered state after an unclean stop"
            );
        }
        d.publish_gauges();
        Ok((failed, lost))
    }

    /// Graceful shutdown: every live session is paused (its process stopped with the
    /// ladder, its running turn Interrupted), so after a restart it is Paused and resumable.
    pub async fn shutdown(&self) {
        let pause = PauseSessionHandler::new(self.deps.clone());
        let tasks: Vec<_> = self
            .deps
            .registry
            .ids()
            .into_iter()
            .map(|id| {
                let pause = pause.clone();
                self.deps.spawn_task(async move {
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
