//! Create a session: validate, take a process slot, store it Active and start its agent.

use orchestra_domain::{AgentSession, PermissionMode, SessionStatus};

use super::deps::SessionDeps;
use super::supervisor::Supervisor;
use super::suspend;
use super::validate;
use crate::error::AppError;
use crate::metrics_names as m;

/// Create a session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateSession {
    /// Absolute working directory (must exist).
    pub working_directory: String,
    /// Agent id (default `claude-code`).
    pub agent_id: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Permission mode.
    pub permission_mode: Option<PermissionMode>,
    /// Allowed tool rules.
    pub allowed_tools: Vec<String>,
    /// Disallowed tool rules.
    pub disallowed_tools: Vec<String>,
    /// System prompt addition.
    pub append_system_prompt: Option<String>,
    /// Max agentic turns per prompt.
    pub max_turns: Option<u32>,
    /// Who asks (`key:ci`), for the audit log.
    pub created_by: Option<String>,
    /// What the session may spend, USD (within the server's budget for its directory).
    pub max_budget_usd: Option<f64>,
    /// How many turns the session may run (within the server's cap for its directory).
    pub max_session_turns: Option<u32>,
}

/// Handles [`CreateSession`].
#[derive(Debug, Clone)]
pub struct CreateSessionHandler {
    deps: SessionDeps,
    supervisor: Supervisor,
}

impl CreateSessionHandler {
    /// A handler over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self {
            supervisor: Supervisor::new(deps.clone()),
            deps,
        }
    }

    /// Creates a session and starts its agent. A session whose agent cannot start is kept
    /// as Failed (and can be resumed once the cause is fixed); the error says why.
    ///
    /// # Errors
    /// `Invalid` for bad settings; `Overloaded` when no process slot frees up in time;
    /// `Agent` when the CLI does not start; `Unavailable`.
    pub async fn handle(&self, cmd: CreateSession) -> Result<AgentSession, AppError> {
        let d = &self.deps;
        let created_by = cmd.created_by.clone().unwrap_or_else(|| "orchestra".into());
        let spec = validate::new_session(cmd, d.runtime.as_ref(), &d.settings).await?;
        let permit = suspend::acquire_slot(d, spec.id).await?;
        let id = spec.id;
        let _guard = d.registry.lock_lifecycle(id).await;
        let mut session = AgentSession::start(spec.clone(), d.clock.now());
        d.sessions.insert(&session).await?;
        metrics::counter!(m::AGENT_SESSIONS_CREATED_TOTAL).increment(1);
        tracing::info!(session.id = %id, working_directory = %spec.working_directory, created_by = %created_by, "session created");
        if let Some(audit) = &d.audit {
            let detail = format!(
                "working directory {}; permission mode {}; allowed tools [{}]",
                spec.working_directory,
                spec.permission_mode,
                spec.allowed_tools.join(", ")
            );
            audit
                .record(
                    crate::audit::AuditRecord::new(&created_by, "session.create", id)
                        .states("-", "Active")
                        .detail(Some(detail)),
                )
                .await;
        }
        if let Err(err) = self
            .supervisor
            .start(&spec, false, Vec::new(), permit)
            .await
        {
            let version = session.version();
            session.fail(format!("agent failed to start: {err}"), d.clock.now())?;
            d.sessions.update(&session, version).await?;
            d.log_status(
                id,
                SessionStatus::Failed,
                session.last_error().map(str::to_owned),
            );
            d.publish_gauges();
            return Err(err);
        }
        d.log_status(id, SessionStatus::Active, None);
        Ok(session)
    }
}
