//! Interrupt the running turn of a session.

use orchestra_domain::{SessionId, TurnId};

use super::deps::SessionDeps;
use crate::error::{AppError, ConflictKind};

/// Handles "interrupt the running turn".
#[derive(Debug, Clone)]
pub struct InterruptTurnHandler {
    deps: SessionDeps,
}

impl InterruptTurnHandler {
    /// A handler over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self { deps }
    }

    /// Interrupts the running turn; it ends Interrupted when the agent answers.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` (`NoTurnInProgress`, `AgentNotRunning`); `Agent`.
    pub async fn handle(&self, id: SessionId) -> Result<TurnId, AppError> {
        let session = self.deps.load(id).await?;
        session.ensure_accepts_turns()?;
        self.deps.ensure_not_elsewhere(id).await?;
        let live = self.deps.registry.get(id).ok_or_else(|| {
            AppError::conflict(
                ConflictKind::AgentNotRunning,
                "the session's agent process is not running",
            )
        })?;
        let turn_id = {
            let mut st = live.state();
            let Some(turn_id) = st.running_turn() else {
                return Err(AppError::conflict(
                    ConflictKind::NoTurnInProgress,
                    "no turn is running",
                ));
            };
            st.interrupt_requested = true;
            turn_id
        };
        live.process.interrupt().await?;
        tracing::info!(session.id = %id, turn.id = %turn_id, "turn interrupt requested");
        Ok(turn_id)
    }
}
