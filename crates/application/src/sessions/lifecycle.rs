//! Pause, resume and close: one "lock, check, act, transition, store" path for the three
//! lifecycle commands.

use orchestra_domain::{AgentSession, SessionId, SessionStatus, TransitionError, TurnStatus};

use super::deps::SessionDeps;
use super::supervisor::Supervisor;
use super::suspend;
use super::validate;
use crate::error::{AppError, ConflictKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Pause,
    Resume,
    Close,
}

impl Step {
    fn apply(
        self,
        s: &mut AgentSession,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), TransitionError> {
        match self {
            Self::Pause => s.pause(now),
            Self::Resume => s.resume(now),
            Self::Close => s.close(now),
        }
    }

    fn status(self) -> SessionStatus {
        match self {
            Self::Pause => SessionStatus::Paused,
            Self::Resume => SessionStatus::Active,
            Self::Close => SessionStatus::Closed,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Self::Pause => "the session was paused",
            Self::Resume => "the session was resumed",
            Self::Close => "the session was closed",
        }
    }
}

#[derive(Debug, Clone)]
struct Lifecycle {
    deps: SessionDeps,
    supervisor: Supervisor,
}

impl Lifecycle {
    fn new(deps: SessionDeps) -> Self {
        Self {
            supervisor: Supervisor::new(deps.clone()),
            deps,
        }
    }

    async fn run(&self, id: SessionId, step: Step) -> Result<AgentSession, AppError> {
        let d = &self.deps;
        // An unknown id is refused before it gets a lock entry (the map holds only sessions
        // that exist).
        d.load(id).await?;
        let _guard = d.registry.lock_lifecycle(id).await;
        d.ensure_not_elsewhere(id).await?;
        // Refuse a step the status does not allow before touching the process.
        let current = d.load(id).await?;
        step.apply(&mut current.clone(), d.clock.now())?;
        match step {
            Step::Pause | Step::Close => {
                self.supervisor
                    .stop(id, TurnStatus::Interrupted, step.reason())
                    .await;
                if let Some(esc) = &d.escalation {
                    esc.cancel_pending(id, step.reason()).await;
                }
            }
            Step::Resume => {
                if d.registry.is_live(id) {
                    return Err(AppError::conflict(
                        ConflictKind::AgentRunning,
                        "the session already has a running agent",
                    ));
                }
                // The policy may have changed since the session started: its mode and every
                // allowed tool a human did not grant ("for the session") must still pass.
                let granted = match &d.escalation {
                    Some(esc) => esc.granted_rules(id).await?,
                    None => Vec::new(),
                };
                let client_allowed: Vec<String> = current
                    .spec()
                    .allowed_tools
                    .iter()
                    .filter(|r| !granted.contains(r))
                    .cloned()
                    .collect();
                validate::within_policy(
                    current.spec().permission_mode,
                    &client_allowed,
                    &d.settings.policy,
                )?;
                let permit = suspend::acquire_slot(d, id).await?;
                let resume = suspend::has_conversation(d, id).await?;
                self.supervisor
                    .start(current.spec(), resume, Vec::new(), permit)
                    .await?;
            }
        }
        let now = d.clock.now();
        let session = d.transition(id, |s| step.apply(s, now)).await?;
        d.log_status(id, step.status(), None);
        if step == Step::Close {
            d.drop_log(id).await;
            d.registry.forget(id);
            if let Some(esc) = &d.escalation {
                esc.forget(id);
            }
        }
        tracing::info!(session.id = %id, status = step.status().as_str(), "session {}", match step {
            Step::Pause => "paused",
            Step::Resume => "resumed",
            Step::Close => "closed",
        });
        d.publish_gauges();
        Ok(session)
    }
}

/// Handles "pause a session": its process is stopped, the conversation kept.
#[derive(Debug, Clone)]
pub struct PauseSessionHandler(Lifecycle);

impl PauseSessionHandler {
    /// A handler over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self(Lifecycle::new(deps))
    }

    /// Pauses an Active session; its pending approvals are withdrawn.
    ///
    /// # Errors
    /// `NotFound`; `Transition` unless Active; `Unavailable`.
    pub async fn handle(&self, id: SessionId) -> Result<AgentSession, AppError> {
        self.0.run(id, Step::Pause).await
    }
}

/// Handles "resume a session": a new process continues the conversation (`--resume`).
#[derive(Debug, Clone)]
pub struct ResumeSessionHandler(Lifecycle);

impl ResumeSessionHandler {
    /// A handler over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self(Lifecycle::new(deps))
    }

    /// Resumes a Paused or Failed session.
    ///
    /// # Errors
    /// `NotFound`; `Transition` unless Paused or Failed; `Conflict` (`AgentRunning`);
    /// `Overloaded`; `Agent`; `Unavailable`.
    pub async fn handle(&self, id: SessionId) -> Result<AgentSession, AppError> {
        self.0.run(id, Step::Resume).await
    }
}

/// Handles "close a session" for good; a live process is stopped first.
#[derive(Debug, Clone)]
pub struct CloseSessionHandler(Lifecycle);

impl CloseSessionHandler {
    /// A handler over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self(Lifecycle::new(deps))
    }

    /// Closes a session; its pending approvals are withdrawn, its in-memory state dropped.
    ///
    /// # Errors
    /// `NotFound`; `Transition` when already Closed; `Unavailable`.
    pub async fn handle(&self, id: SessionId) -> Result<AgentSession, AppError> {
        self.0.run(id, Step::Close).await
    }
}
