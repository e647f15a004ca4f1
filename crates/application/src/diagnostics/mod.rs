//! Diagnostics queries: database state and the service's health.

use std::sync::Arc;
use std::time::Duration;

use crate::error::AppError;
use crate::ports::{DatabaseProbe, DatabaseStatus};

/// Reads the database's state for `/api/diagnostics/database`.
#[derive(Debug, Clone)]
pub struct DatabaseDiagnosticsHandler {
    probe: Arc<dyn DatabaseProbe>,
}

impl DatabaseDiagnosticsHandler {
    /// A handler over the probe.
    pub fn new(probe: Arc<dyn DatabaseProbe>) -> Self {
        Self { probe }
    }

    /// The database's state.
    ///
    /// # Errors
    /// `Unavailable` when the database does not answer.
    pub async fn handle(&self) -> Result<DatabaseStatus, AppError> {
        Ok(self.probe.status().await?)
    }

    /// A liveness round trip.
    ///
    /// # Errors
    /// `Unavailable` when the database does not answer.
    pub async fn ping(&self) -> Result<Duration, AppError> {
        Ok(self.probe.ping().await?)
    }
}
