//! Request and response bodies. They exist only here; handlers convert them to commands
//! and queries of the application layer.

use chrono::{DateTime, Utc};
use orchestra_application::ports::{Page, PageRequest};
use orchestra_domain::{AgentSession, ApprovalRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// `?page=&pageSize=` (1-based page).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct PagingQuery {
    /// 1-based page number (default 1).
    pub page: Option<u64>,
    /// Rows per page, 1 to 1000 (default 50).
    pub page_size: Option<u32>,
}

impl PagingQuery {
    /// The page request, validated.
    ///
    /// # Errors
    /// 400 for page 0 or a page size outside 1..=1000.
    pub fn to_page_request(&self) -> Result<PageRequest, ApiError> {
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(ApiError::bad_request(
                "page",
                "page is 1-based; it must be at least 1",
            ));
        }
        let limit = self.page_size.unwrap_or(PageRequest::DEFAULT_LIMIT);
        if limit == 0 || limit > PageRequest::MAX_LIMIT {
            return Err(ApiError::bad_request(
                "pageSize",
                format!("pageSize must be between 1 and {}", PageRequest::MAX_LIMIT),
            ));
        }
        let offset = (page - 1)
            .checked_mul(u64::from(limit))
            .ok_or_else(|| ApiError::bad_request("page", "page is too large"))?;
        Ok(PageRequest { offset, limit })
    }
}

/// A page of results.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageResponse<T: ToSchema> {
    /// The rows.
    pub items: Vec<T>,
    /// Rows matching in all.
    pub total: u64,
    /// This page (1-based).
    pub page: u64,
    /// Rows per page.
    pub page_size: u32,
}

impl<T: ToSchema> PageResponse<T> {
    /// Converts a page of domain values.
    pub fn from_page<D>(page: Page<D>, f: impl Fn(&D) -> T) -> Self {
        let size = page.request.limit.max(1);
        Self {
            items: page.items.iter().map(f).collect(),
            total: page.total,
            page: page.request.offset / u64::from(size) + 1,
            page_size: size,
        }
    }
}

/// An approval request as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalResponse {
    /// Id.
    pub id: String,
    /// The waiting session.
    pub session_id: String,
    /// The asking agent.
    pub agent_id: String,
    /// The tool.
    pub tool_name: String,
    /// The tool's input.
    pub tool_input: Value,
    /// The CLI's tool use id.
    pub tool_use_id: Option<String>,
    /// `Live`, `Denial` or `Test`.
    pub kind: String,
    /// What the agent said it is doing.
    pub description: Option<String>,
    /// `Pending`, `Approved`, `Rejected`, `Expired` or `Cancelled`.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Deadline.
    pub expires_at: DateTime<Utc>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// Why.
    pub reason: Option<String>,
    /// The input to use instead, when approved with changes.
    pub updated_input: Option<Value>,
    /// `Once` or `Session`, when decided.
    pub scope: Option<String>,
    /// Whether a human channel got a message for it.
    pub notified: bool,
}

impl From<&ApprovalRequest> for ApprovalResponse {
    fn from(a: &ApprovalRequest) -> Self {
        let r = a.request();
        let d = a.decision();
        Self {
            id: a.id().to_string(),
            session_id: r.session_id.clone(),
            agent_id: r.agent_id.clone(),
            tool_name: r.tool_name.clone(),
            tool_input: r.tool_input.clone(),
            tool_use_id: r.tool_use_id.clone(),
            kind: r.kind.as_str().to_owned(),
            description: r.description.clone(),
            status: a.status().as_str().to_owned(),
            created_at: a.created_at(),
            expires_at: a.expires_at(),
            decided_by: d.map(|d| d.decided_by.clone()),
            decided_at: d.map(|d| d.decided_at),
            reason: d.and_then(|d| d.reason.clone()),
            updated_input: d.and_then(|d| d.updated_input.clone()),
            scope: d.map(|d| d.scope.as_str().to_owned()),
            notified: a.notification_ref().is_some(),
        }
    }
}

/// `GET /api/approvals` filters.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalListQuery {
    /// Only this status (`Pending`, `Approved`, ...).
    pub status: Option<String>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only this kind (`Live`, `Denial`, `Test`).
    pub kind: Option<String>,
    /// 1-based page number.
    pub page: Option<u64>,
    /// Rows per page (1 to 1000, default 50).
    pub page_size: Option<u32>,
}

/// `POST /api/approvals/{id}/approve`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecideApprovalRequest {
    /// `true` to allow, `false` to refuse.
    pub approved: bool,
    /// Why (shown to the agent when refused).
    #[serde(default)]
    pub reason: Option<String>,
    /// Who decides (recorded as `api:<decidedBy>`; `api` when absent).
    #[serde(default)]
    pub decided_by: Option<String>,
    /// Allow with this input instead of the requested one.
    #[serde(default)]
    pub updated_input: Option<Value>,
    /// `once` (default) or `session`: allow this tool for the rest of the session.
    #[serde(default)]
    pub scope: Option<String>,
}

/// `POST /api/approvals/{id}/cancel`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelApprovalRequest {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/approvals/test`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTestApprovalRequest {
    /// The tool name to show (default `TestTool`).
    #[serde(default)]
    pub tool_name: Option<String>,
    /// The session label to show (default `test-session`).
    #[serde(default)]
    pub session_id: Option<String>,
}

/// The answer to `POST /api/approvals/test`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestApprovalResponse {
    /// The approval created.
    pub approval: ApprovalResponse,
    /// `delivered`, `disabled` or `failed`.
    pub notification: String,
    /// Why delivery failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_error: Option<String>,
}

/// The answer to `DELETE /api/approvals/test`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelTestApprovalsResponse {
    /// How many test approvals were cancelled.
    pub cancelled: usize,
    /// Their ids.
    pub ids: Vec<String>,
}

/// An agent session as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    /// Id (also the Claude Code session id).
    pub id: String,
    /// The agent.
    pub agent_id: String,
    /// Working directory.
    pub working_directory: String,
    /// Model override.
    pub model: Option<String>,
    /// Permission mode.
    pub permission_mode: String,
    /// Tools allowed without asking.
    pub allowed_tools: Vec<String>,
    /// Tools always refused.
    pub disallowed_tools: Vec<String>,
    /// `Active`, `Paused`, `Closed` or `Failed`.
    pub status: String,
    /// Total cost in US dollars.
    pub total_cost_usd: f64,
    /// Total turn time in milliseconds.
    pub total_duration_ms: i64,
    /// Total messages.
    pub message_count: i64,
    /// Turns with a result.
    pub turn_count: i64,
    /// Why it failed last.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<&AgentSession> for SessionResponse {
    fn from(s: &AgentSession) -> Self {
        let spec = s.spec();
        let t = s.totals();
        Self {
            id: s.id().to_string(),
            agent_id: spec.agent_id.clone(),
            working_directory: spec.working_directory.clone(),
            model: spec.model.clone(),
            permission_mode: spec.permission_mode.as_str().to_owned(),
            allowed_tools: spec.allowed_tools.clone(),
            disallowed_tools: spec.disallowed_tools.clone(),
            status: s.status().as_str().to_owned(),
            total_cost_usd: t.cost_usd,
            total_duration_ms: t.duration_ms,
            message_count: t.message_count,
            turn_count: t.turn_count,
            last_error: s.last_error().map(str::to_owned),
            created_at: s.created_at(),
            updated_at: s.updated_at(),
            closed_at: s.closed_at(),
        }
    }
}

/// `GET /api/sessions` filters.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct SessionListQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this agent.
    pub agent_id: Option<String>,
    /// 1-based page number.
    pub page: Option<u64>,
    /// Rows per page (1 to 1000, default 50).
    pub page_size: Option<u32>,
}

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

/// `POST /api/sessions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// Absolute path of an existing directory the agent works in.
    pub working_directory: String,
    /// The agent (default `claude-code`).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Model (`--model`).
    #[serde(default)]
    pub model: Option<String>,
    /// `default`, `acceptEdits`, `bypassPermissions` or `plan`.
    #[serde(default)]
    pub permission_mode: Option<String>,
    /// Tool rules allowed without asking (`--allowedTools`), e.g. `Read`, `Bash(git status:*)`.
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    /// Tool rules always refused (`--disallowedTools`).
    #[serde(default)]
    pub disallowed_tools: Vec<String>,
    /// Appended to the system prompt.
    #[serde(default)]
    pub append_system_prompt: Option<String>,
    /// Agentic turns per prompt at most (`--max-turns`).
    #[serde(default)]
    pub max_turns: Option<u32>,
}

/// `POST /api/sessions/{id}/messages`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendMessageRequest {
    /// The prompt.
    pub prompt: String,
    /// Wait for the turn's result (200) instead of answering at once (202).
    #[serde(default)]
    pub wait: bool,
    /// With `wait`: how long to wait at most (default 300, max 3600); 202 when it runs longer.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// A turn.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TurnResponse {
    /// Id.
    pub id: String,
    /// Session.
    pub session_id: String,
    /// 1-based number in the session.
    pub seq: i64,
    /// The prompt.
    pub prompt: String,
    /// `Running`, `Completed`, `Failed`, `Interrupted` or `Lost`.
    pub status: String,
    /// Sent.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The final text.
    pub result: Option<String>,
    /// The CLI's `is_error`.
    pub is_error: Option<bool>,
    /// The CLI's `subtype`.
    pub subtype: Option<String>,
    /// `terminal_reason`.
    pub terminal_reason: Option<String>,
    /// HTTP status of a failed API call.
    pub api_error_status: Option<i64>,
    /// Cost in US dollars.
    pub cost_usd: Option<f64>,
    /// Duration, ms.
    pub duration_ms: Option<i64>,
    /// Time in the API, ms.
    pub duration_api_ms: Option<i64>,
    /// Messages exchanged.
    pub message_count: Option<i64>,
    /// Tool calls denied.
    pub permission_denials: Option<i64>,
    /// Errors the CLI reported, and Orchestra's flags (`orchestra: tool use ... got no result`).
    pub errors: Vec<String>,
    /// Why it did not complete.
    pub error: Option<String>,
}

impl From<&orchestra_domain::Turn> for TurnResponse {
    fn from(t: &orchestra_domain::Turn) -> Self {
        let s = t.snapshot();
        let o = s.outcome.as_ref();
        Self {
            id: s.id.to_string(),
            session_id: s.session_id.to_string(),
            seq: s.seq,
            prompt: s.prompt.clone(),
            status: s.status.as_str().to_owned(),
            started_at: s.started_at,
            finished_at: s.finished_at,
            result: o.and_then(|o| o.result_text.clone()),
            is_error: o.map(|o| o.is_error),
            subtype: o.map(|o| o.subtype.clone()),
            terminal_reason: o.and_then(|o| o.terminal_reason.clone()),
            api_error_status: o.and_then(|o| o.api_error_status),
            cost_usd: o.map(|o| o.totals.cost_usd),
            duration_ms: o.map(|o| o.totals.duration_ms),
            duration_api_ms: o.map(|o| o.duration_api_ms),
            message_count: o.map(|o| o.totals.message_count),
            permission_denials: o.map(|o| o.permission_denials),
            errors: o.map(|o| o.errors.clone()).unwrap_or_default(),
            error: s.error.clone(),
        }
    }
}

/// A live agent process.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveProcessResponse {
    /// OS process id.
    pub pid: Option<u32>,
    /// The running turn.
    pub current_turn_id: Option<String>,
    /// Seconds since its last output.
    pub idle_seconds: u64,
    /// Approvals the agent is waiting for.
    pub pending_approvals: Vec<String>,
}

/// A session with its live process, if any.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetailResponse {
    /// The session.
    #[serde(flatten)]
    pub session: SessionResponse,
    /// Its process, while it has one.
    pub process: Option<LiveProcessResponse>,
}

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

/// `GET /api/sessions/{id}/events` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct EventsQuery {
    /// Replay buffered events after this sequence number (the `id:` of the last event seen;
    /// the `Last-Event-ID` header does the same).
    pub after: Option<u64>,
}

/// `GET /api/sessions/{id}/turns` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct TurnListQuery {
    /// 1-based page number.
    pub page: Option<u64>,
    /// Rows per page (1 to 1000, default 50).
    pub page_size: Option<u32>,
}
