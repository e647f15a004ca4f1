//! Agent discovery: which CLI is installed, its version, whether it runs.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::metrics_names as m;
use crate::ports::{AgentInstallation, AgentRuntime, Clock};

/// The latest discovery result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The installation.
    pub installation: AgentInstallation,
    /// When it was checked.
    pub checked_at: DateTime<Utc>,
}

/// Keeps what discovery found, for `GET /api/agents`.
#[derive(Debug)]
pub struct AgentCatalog {
    runtime: Arc<dyn AgentRuntime>,
    clock: Arc<dyn Clock>,
    latest: RwLock<Option<Discovered>>,
}

impl AgentCatalog {
    /// A catalog over the runtime.
    pub fn new(runtime: Arc<dyn AgentRuntime>, clock: Arc<dyn Clock>) -> Self {
        Self {
            runtime,
            clock,
            latest: RwLock::new(None),
        }
    }

    /// Runs discovery now and keeps the result.
    pub async fn refresh(&self) -> Discovered {
        let installation = self.runtime.discover().await;
        metrics::gauge!(m::AGENT_DISCOVERY_AGENTS).set(if installation.available {
            1.0
        } else {
            0.0
        });
        if installation.available {
            tracing::info!(agent = %installation.id, path = %installation.path, version = ?installation.version, "agent discovered");
        } else {
            tracing::warn!(agent = %installation.id, path = %installation.path, error = ?installation.error, "agent CLI not available");
        }
        let found = Discovered {
            installation,
            checked_at: self.clock.now(),
        };
        *self
            .latest
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(found.clone());
        found
    }

    /// The latest result, running discovery when there is none yet.
    pub async fn current(&self) -> Discovered {
        let cached = self
            .latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match cached {
            Some(d) => d,
            None => self.refresh().await,
        }
    }
}
