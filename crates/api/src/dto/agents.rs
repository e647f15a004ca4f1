//! Agent bodies: an installed agent CLI and its process slots.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// An installed agent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentResponse {
    /// `claude-code`.
    pub id: String,
    /// The CLI binary.
    pub path: String,
    /// Its version.
    pub version: Option<String>,
    /// Whether it runs.
    pub available: bool,
    /// Why not.
    pub error: Option<String>,
    /// When discovery last looked.
    pub checked_at: DateTime<Utc>,
    /// Processes running now.
    pub live_processes: usize,
    /// The cap on live processes.
    pub max_processes: usize,
    /// Callers waiting for a process slot.
    pub queued: usize,
}
