//! Health bodies: the liveness and readiness answer and its checks.

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /health` and `/health/ready`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// `Healthy` or `Unhealthy`.
    pub status: String,
    /// Each check.
    pub checks: Vec<HealthCheck>,
    /// Service version.
    pub version: String,
    /// Seconds since start.
    pub uptime_seconds: i64,
}

/// One health check.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// What is checked (`database`).
    pub name: String,
    /// `Healthy` or `Unhealthy`.
    pub status: String,
    /// How long the check took.
    pub duration_ms: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
