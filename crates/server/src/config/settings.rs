//! The validated settings the service runs with (what `load` returns).

use std::path::PathBuf;

use orchestra_db::{DatabaseTarget, PoolSettings};
use orchestra_telemetry::LogFormat;
use secrecy::{ExposeSecret, SecretString};

use super::environment::Environment;

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Listen address.
    pub host: String,
    /// Listen port (5284; 0 picks a free one).
    pub port: u16,
    /// Worker threads (default: one per core).
    pub workers: Option<usize>,
    /// How long in-flight requests get on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Whether `/swagger` is served.
    pub swagger_enabled: bool,
    /// Web origins that may call the API from a browser.
    pub allowed_origins: Vec<String>,
    /// HTTPS certificate and key files, when served directly.
    pub tls: Option<crate::tls::TlsFiles>,
    /// A proxy in front terminates TLS.
    pub tls_terminated_by_proxy: bool,
    /// The second listener for `/metrics` and `/health*` (host, port), when configured.
    pub ops_listener: Option<(String, u16)>,
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Where the database is (parsed from the secret connection string).
    pub target: DatabaseTarget,
    /// Pool sizing.
    pub pool: PoolSettings,
    /// Whether pending migrations are applied at start.
    pub auto_migrate: bool,
}

/// Telegram settings.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    /// Whether approvals go to Telegram.
    pub enabled: bool,
    /// The bot token.
    pub bot_token: Option<SecretString>,
    /// The chat that gets approval messages.
    pub chat_id: Option<i64>,
    /// The chat that gets approvals nobody decided in time.
    pub escalation_chat_id: Option<i64>,
    /// The Bot API base URL (tests point it at a fake).
    pub api_base_url: String,
    /// Users the bot listens to (empty: anyone in the chat).
    pub allowed_user_ids: Vec<i64>,
    /// Users with the approver role (empty: every allowed user).
    pub approvers: Vec<i64>,
    /// `polling` (getUpdates) or `webhook`.
    pub mode: TelegramMode,
    /// The public URL Telegram posts updates to (webhook mode).
    pub webhook_url: Option<String>,
    /// The webhook's secret token (Telegram sends it back in a header).
    pub webhook_secret: Option<SecretString>,
    /// Long-poll wait, seconds.
    pub poll_timeout_secs: u32,
    /// Minutes of the "Allow <rule> for N min" button (0: none).
    pub grant_minutes: u32,
    /// How calls are retried.
    pub retry: TelegramRetry,
    /// When the circuit breaker opens.
    pub breaker: TelegramBreaker,
}

/// How Telegram calls are retried (exponential, jittered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelegramRetry {
    /// Attempts per call.
    pub attempts: u32,
    /// First delay, ms.
    pub base_ms: u64,
    /// Longest delay, ms.
    pub max_ms: u64,
}

/// When the Telegram circuit breaker opens, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TelegramBreaker {
    /// Consecutive failures that open it.
    pub consecutive_failures: u32,
    /// Failure rate (0-1) that opens it.
    pub failure_rate: f64,
    /// Calls in the window before the rate counts.
    pub min_calls: u32,
    /// The rate's window, seconds.
    pub window_secs: u64,
    /// How long it stays open, seconds.
    pub open_secs: u64,
}

/// How Telegram updates arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelegramMode {
    /// Orchestra polls `getUpdates` (one node should poll).
    Polling,
    /// Telegram posts to `/api/telegram/webhook` (any node can take them).
    Webhook,
}

impl TelegramMode {
    /// The name in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::Webhook => "webhook",
        }
    }
}

/// Approval timeout settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalSettings {
    /// Default wait, minutes.
    pub default_timeout_minutes: u32,
    /// Longest wait, minutes.
    pub max_timeout_minutes: u32,
    /// Sweep interval, seconds.
    pub sweep_interval_secs: u64,
    /// Grace after the deadline, seconds.
    pub grace_period_secs: u64,
    /// Rows expired per database round trip.
    pub sweep_batch_size: u32,
    /// Default wait, seconds (from `default_timeout_secs` or the minutes).
    pub default_timeout_secs: u64,
    /// Longest wait, seconds.
    pub max_timeout_secs: u64,
    /// How long a live prompt waits before its session is parked, seconds.
    pub park_after_secs: u64,
    /// Warn this long before an approval expires, seconds (0: no warning).
    pub warn_before_secs: u64,
    /// Different approvers a `critical` call needs.
    pub critical_approvers: u32,
    /// Escalate `high` and `critical` approvals after this long without a decision,
    /// seconds (0: never).
    pub escalate_after_secs: u64,
}

/// Telemetry settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// Log filter.
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
    /// OTLP/HTTP endpoint for spans.
    pub otlp_endpoint: Option<String>,
    /// `service.name`.
    pub service_name: String,
    /// The log file, when lines go to one.
    pub log_file: Option<orchestra_telemetry::LogFileSettings>,
}

/// Claude Code agent settings.
#[derive(Debug, Clone)]
pub struct ClaudeConfig {
    /// The CLI binary.
    pub binary: String,
    /// `HOME` for the CLI.
    pub home: Option<String>,
    /// Parent of the per-process temp dirs.
    pub runtime_dir: String,
    /// This node's id: marks its agent processes (orphan cleanup after a crash).
    pub node_id: String,
    /// Live processes at most.
    pub max_live_processes: usize,
    /// How long a create or resume waits for a slot.
    pub spawn_queue_timeout_secs: u64,
    /// How long the CLI gets to start.
    pub startup_timeout_secs: u64,
    /// Silence (no tool running) before a turn counts as hung.
    pub inactivity_timeout_secs: u64,
    /// Silence while a tool runs before a turn counts as hung.
    pub tool_timeout_secs: u64,
    /// Health check interval.
    pub health_check_interval_secs: u64,
    /// Idle time before a session's process is suspended, seconds; 0 never.
    pub idle_suspend_secs: u64,
    /// Agent transcripts kept in the database.
    pub store_transcripts: bool,
    /// The CLI's own OpenTelemetry export is on.
    pub telemetry: bool,
    /// Discovery interval.
    pub discovery_interval_secs: u64,
    /// `CLAUDE_CODE_MAX_RETRIES`.
    pub max_retries: u32,
    /// `API_TIMEOUT_MS`.
    pub api_timeout_ms: u64,
    /// Longest prompt.
    pub max_prompt_chars: usize,
    /// Events buffered per session.
    pub event_buffer: usize,
    /// Bytes buffered per session.
    pub event_buffer_bytes: usize,
    /// Longest payload in the event log.
    pub event_payload_max_bytes: usize,
    /// Idle time before a session's event log is dropped, seconds.
    pub event_log_idle_secs: u64,
    /// Bytes the event logs of sessions without a process hold together at most.
    pub idle_event_logs_max_bytes: usize,
    /// Longest stdout line.
    pub max_line_bytes: usize,
    /// Allowed working directory roots (empty: any).
    pub allowed_working_directories: Vec<String>,
    /// Extra variables passed from Orchestra's environment.
    pub pass_env: Vec<String>,
    /// Extra environment for the CLI (values may be secrets; never shown).
    pub env: Vec<(String, SecretString)>,
    /// Stop ladder deadlines.
    pub stop_grace: StopGrace,
    /// Live permission prompts (`--permission-prompt-tool stdio`).
    pub live_permission_prompts: bool,
    /// The user agents run as.
    pub run_as: Option<orchestra_claude::RunAs>,
    /// Address-space limit of each agent process, MiB.
    pub max_memory_mb: Option<u64>,
    /// Processes the agent user may have at once.
    pub max_tasks: Option<u64>,
}

/// The stop ladder's deadlines, ms: each step waits this long before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopGrace {
    /// After the interrupt control request.
    pub interrupt_ms: u64,
    /// After closing stdin.
    pub eof_ms: u64,
    /// After SIGINT.
    pub sigint_ms: u64,
    /// After SIGTERM.
    pub sigterm_ms: u64,
    /// After SIGKILL.
    pub sigkill_ms: u64,
}

/// What sessions may ask for.
#[derive(Debug, Clone, Default)]
pub struct PolicySettings {
    /// Permission modes a session may ask for.
    pub permission_modes: Vec<orchestra_domain::PermissionMode>,
    /// Tool rules a client may pre-allow.
    pub client_allowed_tools: Vec<String>,
    /// Tools no session may use.
    pub denied_tools: Vec<String>,
    /// The tool policy (`policy.rules`).
    pub tools: orchestra_domain::policy::ToolPolicy,
}

/// API authentication.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// `/api/*` without keys (Development on loopback only).
    pub insecure_disabled: bool,
    /// An admin key to make sure exists at start.
    pub bootstrap_admin_key: Option<SecretString>,
}

/// `[node]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// Lease length, seconds (at least 3).
    pub lease_secs: u64,
    /// This node's URL for others, if given.
    pub advertise_url: Option<String>,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Development, Staging or Production.
    pub environment: Environment,
    /// HTTP server.
    pub server: ServerSettings,
    /// Database.
    pub database: DatabaseSettings,
    /// Telegram.
    pub telegram: TelegramSettings,
    /// Approvals.
    pub approvals: ApprovalSettings,
    /// Telemetry.
    pub telemetry: TelemetrySettings,
    /// Claude Code agents.
    pub claude: ClaudeConfig,
    /// API authentication.
    pub auth: AuthSettings,
    /// What sessions may ask for.
    pub policy: PolicySettings,
    /// This node among the others.
    pub node: NodeSettings,
    /// What is kept, and for how long.
    pub retention: super::RetentionSettings,
    /// What sessions may spend.
    pub budgets: orchestra_application::sessions::BudgetSettings,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
}

impl Settings {
    /// The bot token, for the Telegram adapter only.
    pub fn telegram_token(&self) -> Option<&str> {
        self.telegram
            .bot_token
            .as_ref()
            .map(ExposeSecret::expose_secret)
    }
}
