//! Session bodies: the session as shown, list filters, create, message and live process.

use chrono::{DateTime, Utc};
use orchestra_domain::AgentSession;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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
    /// Who started it (`key:ci`); null for sessions from before this was recorded.
    pub created_by: Option<String>,
    /// What it may spend in all, USD, raised by approved budget approvals (`null`: no
    /// budget).
    pub budget_usd: Option<f64>,
    /// How many turns it may run in all, raised by approved budget approvals (`null`: no
    /// cap).
    pub turn_budget: Option<u32>,
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
            created_by: spec.created_by.clone(),
            budget_usd: s.budget_usd(),
            turn_budget: s.turn_budget(),
            created_at: s.created_at(),
            updated_at: s.updated_at(),
            closed_at: s.closed_at(),
        }
    }
}

/// `GET /api/sessions` filters.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionListQuery {
    /// Only this status.
    #[param(schema_with = crate::openapi_rules::session_statuses)]
    pub status: Option<String>,
    /// Only this agent.
    pub agent_id: Option<String>,
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<u32>,
}

/// `POST /api/sessions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// Absolute path of an existing directory the agent works in (within the server's
    /// `policy.working_roots`, when set).
    #[schema(pattern = "^/")]
    pub working_directory: String,
    /// The agent (default `claude-code`).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Model (`--model`).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._:/\\[\\]-]{1,100}$")]
    pub model: Option<String>,
    /// `default`, `acceptEdits`, `bypassPermissions` or `plan` (as the server's policy allows).
    #[serde(default)]
    #[schema(schema_with = crate::openapi_rules::permission_modes)]
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
    #[serde(deserialize_with = "super::int::optional")]
    #[schema(minimum = 1, maximum = 1000)]
    pub max_turns: Option<u32>,
    /// What the session may spend, USD (at most the server's budget for its directory,
    /// `budgets`); once spent, a message gets 409 `budget_exhausted` and a `Budget` approval
    /// asks a human to allow as much again.
    #[serde(default)]
    #[schema(exclusive_minimum = 0, maximum = 100000)]
    pub max_budget_usd: Option<f64>,
    /// How many turns the session may run (at most the server's cap for its directory);
    /// then, as with `maxBudgetUsd`, a `Budget` approval asks a human for as many again.
    #[serde(default)]
    #[serde(deserialize_with = "super::int::optional")]
    #[schema(minimum = 1, maximum = 100000)]
    pub max_session_turns: Option<u32>,
}

/// `POST /api/sessions/{id}/messages`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendMessageRequest {
    /// The prompt (not only spaces; at most `claude.max_prompt_chars` characters).
    #[schema(pattern = "^[^\\u0000]*\\S[^\\u0000]*$")]
    pub prompt: String,
    /// Wait for the turn's result (200) instead of answering at once (202).
    #[serde(default)]
    pub wait: bool,
    /// With `wait`: how long to wait at most (default 300, max 3600); 202 when it runs longer.
    #[serde(default)]
    #[serde(deserialize_with = "super::int::optional")]
    #[schema(minimum = 1, maximum = 3600)]
    pub timeout_seconds: Option<u64>,
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
    /// Active with no process: its idle process was stopped (or Orchestra restarted), and
    /// the next message starts it again with `--resume`.
    pub suspended: bool,
}

/// The largest `after` (2^53 - 1: a sequence number is exact in every JSON reader).
pub const MAX_EVENT_SEQ: u64 = 9_007_199_254_740_991;

/// One Server-Sent Event of `GET /api/sessions/{id}/events`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SseEvent {
    /// Its kind (`assistant_text`, `gap`, ...; docs/api.md lists them).
    pub event: Option<String>,
    /// A JSON document: `{"seq", "at", "data"}`, or `{"firstAvailableSeq"}` for `gap`.
    pub data: String,
    /// Its sequence number (send it back as `Last-Event-ID` or `?after=`).
    pub id: Option<String>,
    /// The reconnect delay, milliseconds (on the first event).
    pub retry: Option<u64>,
}

/// `GET /api/sessions/{id}/events` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventsQuery {
    /// Replay buffered events after this sequence number (the `id:` of the last event seen;
    /// the `Last-Event-ID` header does the same).
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_u64)]
    pub after: Option<u64>,
}
