//! Diagnostics bodies (PascalCase): database, circuit breaker, service metrics and Telegram status.

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /api/diagnostics/database`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseDiagnosticsResponse {
    /// `Connected` or `Disconnected`.
    pub status: String,
    /// `sqlite` or `postgresql`.
    pub backend: Option<String>,
    /// Where (file, or host:port/database), without secrets.
    pub location: Option<String>,
    /// Server version.
    pub server_version: Option<String>,
    /// Pooled connections in use.
    pub connections_active: u32,
    /// Pooled connections idle.
    pub connections_idle: u32,
    /// Maximum pool size.
    pub max_pool_size: u32,
    /// Newest applied migration.
    pub migration_version: Option<String>,
    /// Applied migrations.
    pub applied_migrations: usize,
    /// Known migrations not applied.
    pub pending_migrations: usize,
    /// Round trip, milliseconds.
    pub response_time_ms: f64,
    /// Why it is disconnected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /api/diagnostics/circuit-breaker`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CircuitBreakerResponse {
    /// `Closed`, `Open` or `HalfOpen`.
    pub state: String,
    /// What it protects.
    pub name: String,
    /// Whether the protected channel is enabled.
    pub enabled: bool,
    /// The last error seen, without secrets.
    pub last_error: Option<String>,
}

/// `GET /api/diagnostics/metrics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceMetricsResponse {
    /// Pending approvals.
    pub queue_size: u64,
    /// Approvals whose message (request or outcome) the chat has not got yet; the outbox
    /// retries them.
    pub notifications_pending: u64,
    /// Whether Telegram works (true when disabled).
    pub telegram_service_healthy: bool,
    /// Whether Telegram is enabled.
    pub telegram_enabled: bool,
    /// Circuit breaker state.
    pub circuit_breaker_state: String,
    /// Sessions by status.
    pub sessions: std::collections::BTreeMap<String, u64>,
    /// Seconds since start.
    pub uptime_seconds: i64,
    /// Version.
    pub version: String,
    /// Environment.
    pub environment: String,
}

/// `GET /api/diagnostics/telegram/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TelegramStatusResponse {
    /// Mode, chat id, seconds since the last success (no secrets).
    pub details: std::collections::BTreeMap<String, String>,
    /// Whether Telegram is enabled.
    pub enabled: bool,
    /// Whether recent calls worked.
    pub healthy: bool,
    /// Circuit breaker state.
    pub circuit_breaker_state: String,
    /// The channel.
    pub channel: String,
    /// The last error, without secrets.
    pub last_error: Option<String>,
}
