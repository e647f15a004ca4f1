//! The session and turn queries: get, list and count, over the repositories.

use std::sync::Arc;

use orchestra_domain::{AgentSession, SessionId};

use crate::error::AppError;
use crate::ports::{Page, PageRequest, SessionFilter, SessionRepository};

/// Reads one session.
#[derive(Debug, Clone)]
pub struct GetSessionHandler {
    repo: Arc<dyn SessionRepository>,
}

impl GetSessionHandler {
    /// A handler over the repository.
    pub fn new(repo: Arc<dyn SessionRepository>) -> Self {
        Self { repo }
    }

    /// The session.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    pub async fn handle(&self, id: SessionId) -> Result<AgentSession, AppError> {
        self.repo
            .find(id)
            .await?
            .ok_or_else(|| AppError::not_found("session", id))
    }
}

/// List sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSessions {
    /// Filters.
    pub filter: SessionFilter,
    /// Which page.
    pub page: PageRequest,
}

/// Lists sessions, newest first.
#[derive(Debug, Clone)]
pub struct ListSessionsHandler {
    repo: Arc<dyn SessionRepository>,
}

impl ListSessionsHandler {
    /// A handler over the repository.
    pub fn new(repo: Arc<dyn SessionRepository>) -> Self {
        Self { repo }
    }

    /// One page.
    ///
    /// # Errors
    /// `Invalid` for a bad page size; `Unavailable`.
    pub async fn handle(&self, query: ListSessions) -> Result<Page<AgentSession>, AppError> {
        crate::paging::validate_page(query.page)?;
        Ok(self.repo.list(&query.filter, query.page).await?)
    }
}

/// Counts sessions by status (diagnostics, metrics).
#[derive(Debug, Clone)]
pub struct CountSessionsHandler {
    repo: Arc<dyn SessionRepository>,
}

impl CountSessionsHandler {
    /// A handler over the repository.
    pub fn new(repo: Arc<dyn SessionRepository>) -> Self {
        Self { repo }
    }

    /// Counts by status; every status is present.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn handle(&self) -> Result<Vec<(orchestra_domain::SessionStatus, u64)>, AppError> {
        let counts = self.repo.count_by_status().await?;
        for (status, n) in &counts {
            #[expect(clippy::cast_precision_loss, reason = "session counts fit f64 exactly")]
            metrics::gauge!(crate::metrics_names::AGENT_SESSIONS, "status" => status.as_str())
                .set(*n as f64);
        }
        Ok(counts)
    }
}

/// Reads one turn of a session.
#[derive(Debug, Clone)]
pub struct GetTurnHandler {
    repo: Arc<dyn crate::ports::TurnRepository>,
}

impl GetTurnHandler {
    /// A handler over the repository.
    pub fn new(repo: Arc<dyn crate::ports::TurnRepository>) -> Self {
        Self { repo }
    }

    /// The turn, if it belongs to the session.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    pub async fn handle(
        &self,
        session: SessionId,
        turn: orchestra_domain::TurnId,
    ) -> Result<orchestra_domain::Turn, AppError> {
        self.repo
            .find(turn)
            .await?
            .filter(|t| t.session_id() == session)
            .ok_or_else(|| AppError::not_found("turn", turn))
    }
}

/// Lists a session's turns, newest first.
#[derive(Debug, Clone)]
pub struct ListTurnsHandler {
    repo: Arc<dyn crate::ports::TurnRepository>,
}

impl ListTurnsHandler {
    /// A handler over the repository.
    pub fn new(repo: Arc<dyn crate::ports::TurnRepository>) -> Self {
        Self { repo }
    }

    /// One page.
    ///
    /// # Errors
    /// `Invalid` for a bad page size; `Unavailable`.
    pub async fn handle(
        &self,
        session: SessionId,
        page: PageRequest,
    ) -> Result<Page<orchestra_domain::Turn>, AppError> {
        crate::paging::validate_page(page)?;
        Ok(self.repo.list(session, page).await?)
    }
}
