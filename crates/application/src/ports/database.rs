//! The database probe port: what the database looks like right now, for diagnostics.

use std::time::Duration;

use async_trait::async_trait;

use super::RepositoryError;

/// What the database looks like right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseStatus {
    /// `sqlite` or `postgresql`.
    pub backend: &'static str,
    /// Where it is, with any password removed (a file path, or `host:port/database`).
    pub location: String,
    /// Pooled connections in use.
    pub connections_active: u32,
    /// Pooled connections idle.
    pub connections_idle: u32,
    /// Maximum pool size.
    pub max_pool_size: u32,
    /// The newest applied migration, if any.
    pub migration_version: Option<String>,
    /// How many migrations are applied.
    pub applied_migrations: usize,
    /// How many known migrations are not applied.
    pub pending_migrations: usize,
    /// The server's version string.
    pub server_version: Option<String>,
    /// How long the round trip took.
    pub latency: Duration,
}

/// Health and statistics of the database.
#[async_trait]
pub trait DatabaseProbe: Send + Sync + std::fmt::Debug {
    /// Runs a round trip and reads pool and migration state.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when no connection can be had or the query fails.
    async fn status(&self) -> Result<DatabaseStatus, RepositoryError>;

    /// A cheap liveness round trip (`SELECT 1`).
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the database does not answer.
    async fn ping(&self) -> Result<Duration, RepositoryError>;
}
