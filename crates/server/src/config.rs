//! Typed settings, layered: built-in defaults for the environment < the config file
//! (`config/<environment>.toml`, or `--config FILE`) < environment variables.
//!
//! Environment variables accept the deployment guide's names (`DB_CONNECTION_STRING`,
//! `ConnectionStrings__DefaultConnection`, `TELEGRAM_BOT_TOKEN`, `TelegramEscalation__*`,
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, ...) and `ORCHESTRA__SECTION__KEY` for every key; each name
//! also works as `NAME_FILE` (the value is read from that file, for mounted secrets).
//! Secrets are `SecretString`s: `Debug` and `check-config` never show them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use orchestra_db::{DatabaseTarget, PoolSettings};
use orchestra_telemetry::LogFormat;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Where the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    /// A developer's machine: SQLite, no Telegram, migrations applied at start, detailed logs.
    #[default]
    Development,
    /// Production-like: PostgreSQL, Telegram on.
    Staging,
    /// Production: PostgreSQL, Telegram on, migrations only when told.
    Production,
}

impl Environment {
    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "Development",
            Self::Staging => "Staging",
            Self::Production => "Production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" | "local" => Ok(Self::Development),
            "staging" | "stage" => Ok(Self::Staging),
            "production" | "prod" => Ok(Self::Production),
            other => Err(ConfigError::Invalid {
                key: "environment".into(),
                message: format!("`{other}` is not Development, Staging or Production"),
            }),
        }
    }
}

/// Why the configuration cannot be used. Never contains a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is wrong.
    #[error("{key}: {message}")]
    Invalid {
        /// The setting (file key or environment variable).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A required value is missing.
    #[error("{key} is required: {hint}")]
    Missing {
        /// The setting.
        key: String,
        /// How to provide it.
        hint: String,
    },
    /// The config file cannot be read or parsed.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The file and environment layers, before validation. Every key is optional in the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSettings {
    server: RawServer,
    database: RawDatabase,
    telegram: RawTelegram,
    approvals: RawApprovals,
    telemetry: RawTelemetry,
    claude: RawClaude,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawClaude {
    #[serde(skip_serializing_if = "Option::is_none")]
    binary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    home: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_live_processes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spawn_queue_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    startup_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inactivity_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    health_check_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    discovery_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_prompt_chars: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_buffer: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_line_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_working_directories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pass_env: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_interrupt_grace_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_eof_grace_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sigint_grace_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sigterm_grace_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sigkill_grace_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    live_permission_prompts: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawServer {
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shutdown_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    swagger_enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawDatabase {
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_pool_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_idle: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connect_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_migrate: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawTelegram {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bot_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_user_ids: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    poll_timeout_secs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_base_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_max_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_consecutive_failures: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_failure_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_min_calls: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_window_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_open_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawApprovals {
    #[serde(skip_serializing_if = "Option::is_none")]
    default_timeout_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_timeout_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sweep_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grace_period_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sweep_batch_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    park_after_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warn_before_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawTelemetry {
    #[serde(skip_serializing_if = "Option::is_none")]
    log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    otlp_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_name: Option<String>,
}

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
    /// The Bot API base URL (tests point it at a fake).
    pub api_base_url: String,
    /// Users allowed to decide (empty: anyone in the chat).
    pub allowed_user_ids: Vec<i64>,
    /// `polling` (getUpdates) or `webhook`.
    pub mode: TelegramMode,
    /// The public URL Telegram posts updates to (webhook mode).
    pub webhook_url: Option<String>,
    /// The webhook's secret token (Telegram sends it back in a header).
    pub webhook_secret: Option<SecretString>,
    /// Long-poll wait, seconds.
    pub poll_timeout_secs: u32,
    /// Attempts per call, first delay and longest delay (ms).
    pub retry: (u32, u64, u64),
    /// Circuit breaker: consecutive failures, failure rate, minimum calls, window (s), open (s).
    pub breaker: (u32, f64, u32, u64, u64),
}

/// How Telegram updates arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelegramMode {
    /// Orchestra polls `getUpdates` (one node should poll).
    Polling,
    /// Telegram posts to `/api/telegram/webhook` (any node can take them).
    Webhook,
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
    /// Longest stdout line.
    pub max_line_bytes: usize,
    /// Allowed working directory roots (empty: any).
    pub allowed_working_directories: Vec<String>,
    /// Extra variables passed from Orchestra's environment.
    pub pass_env: Vec<String>,
    /// Extra environment for the CLI (values may be secrets; never shown).
    pub env: Vec<(String, SecretString)>,
    /// Stop ladder deadlines, ms: interrupt, EOF, SIGINT, SIGTERM, SIGKILL.
    pub stop_grace_ms: [u64; 5],
    /// Live permission prompts (`--permission-prompt-tool stdio`).
    pub live_permission_prompts: bool,
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
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
}

/// Where settings come from: the process environment, or a map (tests).
pub trait EnvSource {
    /// The variable's value.
    fn var(&self, name: &str) -> Option<String>;

    /// Every variable name.
    fn names(&self) -> Vec<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn names(&self) -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

/// Reads `NAME` or `NAME_FILE` (not both).
fn read_var(env: &dyn EnvSource, name: &str) -> Result<Option<String>, ConfigError> {
    let direct = env.var(name).filter(|v| !v.is_empty());
    let file_var = format!("{name}_FILE");
    let from_file = match env.var(&file_var).filter(|v| !v.is_empty()) {
        None => None,
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| invalid(&file_var, format!("cannot read {path}: {e}")))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
    };
    match (direct, from_file) {
        (Some(_), Some(_)) => Err(invalid(
            name,
            format!("set either {name} or {file_var}, not both"),
        )),
        (d, f) => Ok(d.or(f)),
    }
}

/// The first set variable of `names` (later names are the more specific and win).
fn read_any(env: &dyn EnvSource, names: &[&str]) -> Result<Option<(String, String)>, ConfigError> {
    let mut found = None;
    for name in names {
        if let Some(v) = read_var(env, name)? {
            found = Some(((*name).to_owned(), v));
        }
    }
    Ok(found)
}

fn parse_as<T: FromStr>(key: &str, value: &str, what: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| invalid(key, format!("expected {what}")))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(key, "expected true or false")),
    }
}

/// The environment variable names of each setting, in increasing precedence.
pub const ENV_NAMES: &[(&str, &[&str])] = &[
    (
        "environment",
        &["ASPNETCORE_ENVIRONMENT", "ORCHESTRA_ENVIRONMENT"],
    ),
    ("server.host", &["ORCHESTRA__SERVER__HOST"]),
    ("server.port", &["ORCHESTRA__SERVER__PORT"]),
    ("server.workers", &["ORCHESTRA__SERVER__WORKERS"]),
    (
        "server.shutdown_timeout_secs",
        &["ORCHESTRA__SERVER__SHUTDOWN_TIMEOUT_SECS"],
    ),
    (
        "server.swagger_enabled",
        &["ORCHESTRA__SERVER__SWAGGER_ENABLED"],
    ),
    (
        "database.connection_string",
        &[
            "ConnectionStrings__DefaultConnection",
            "DB_CONNECTION_STRING",
            "ORCHESTRA__DATABASE__CONNECTION_STRING",
        ],
    ),
    (
        "database.max_pool_size",
        &["ORCHESTRA__DATABASE__MAX_POOL_SIZE"],
    ),
    ("database.min_idle", &["ORCHESTRA__DATABASE__MIN_IDLE"]),
    (
        "database.connect_timeout_secs",
        &["ORCHESTRA__DATABASE__CONNECT_TIMEOUT_SECS"],
    ),
    (
        "database.auto_migrate",
        &["ORCHESTRA__DATABASE__AUTO_MIGRATE"],
    ),
    (
        "telegram.enabled",
        &[
            "TelegramEscalation__Enabled",
            "ORCHESTRA__TELEGRAM__ENABLED",
        ],
    ),
    (
        "telegram.bot_token",
        &[
            "TelegramEscalation__BotToken",
            "TELEGRAM_BOT_TOKEN",
            "ORCHESTRA__TELEGRAM__BOT_TOKEN",
        ],
    ),
    (
        "telegram.chat_id",
        &[
            "TelegramEscalation__ChatId",
            "TELEGRAM_CHAT_ID",
            "ORCHESTRA__TELEGRAM__CHAT_ID",
        ],
    ),
    (
        "telegram.api_base_url",
        &["ORCHESTRA__TELEGRAM__API_BASE_URL"],
    ),
    (
        "telegram.allowed_user_ids",
        &["ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS"],
    ),
    (
        "approvals.default_timeout_minutes",
        &["ORCHESTRA__APPROVALS__DEFAULT_TIMEOUT_MINUTES"],
    ),
    (
        "approvals.max_timeout_minutes",
        &["ORCHESTRA__APPROVALS__MAX_TIMEOUT_MINUTES"],
    ),
    (
        "approvals.sweep_interval_secs",
        &["ORCHESTRA__APPROVALS__SWEEP_INTERVAL_SECS"],
    ),
    (
        "approvals.grace_period_secs",
        &["ORCHESTRA__APPROVALS__GRACE_PERIOD_SECS"],
    ),
    (
        "approvals.sweep_batch_size",
        &["ORCHESTRA__APPROVALS__SWEEP_BATCH_SIZE"],
    ),
    ("telemetry.log_level", &["ORCHESTRA__TELEMETRY__LOG_LEVEL"]),
    (
        "telemetry.log_format",
        &["ORCHESTRA__TELEMETRY__LOG_FORMAT"],
    ),
    (
        "telemetry.otlp_endpoint",
        &[
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "ORCHESTRA__TELEMETRY__OTLP_ENDPOINT",
        ],
    ),
    (
        "telemetry.service_name",
        &["OTEL_SERVICE_NAME", "ORCHESTRA__TELEMETRY__SERVICE_NAME"],
    ),
    ("telegram.mode", &["ORCHESTRA__TELEGRAM__MODE"]),
    (
        "telegram.webhook_url",
        &["ORCHESTRA__TELEGRAM__WEBHOOK_URL"],
    ),
    (
        "telegram.webhook_secret",
        &["ORCHESTRA__TELEGRAM__WEBHOOK_SECRET"],
    ),
    (
        "telegram.poll_timeout_secs",
        &["ORCHESTRA__TELEGRAM__POLL_TIMEOUT_SECS"],
    ),
    (
        "telegram.retry_attempts",
        &["ORCHESTRA__TELEGRAM__RETRY_ATTEMPTS"],
    ),
    (
        "telegram.retry_base_ms",
        &["ORCHESTRA__TELEGRAM__RETRY_BASE_MS"],
    ),
    (
        "telegram.retry_max_ms",
        &["ORCHESTRA__TELEGRAM__RETRY_MAX_MS"],
    ),
    (
        "telegram.breaker_consecutive_failures",
        &["ORCHESTRA__TELEGRAM__BREAKER_CONSECUTIVE_FAILURES"],
    ),
    (
        "telegram.breaker_failure_rate",
        &["ORCHESTRA__TELEGRAM__BREAKER_FAILURE_RATE"],
    ),
    (
        "telegram.breaker_min_calls",
        &["ORCHESTRA__TELEGRAM__BREAKER_MIN_CALLS"],
    ),
    (
        "telegram.breaker_window_secs",
        &["ORCHESTRA__TELEGRAM__BREAKER_WINDOW_SECS"],
    ),
    (
        "telegram.breaker_open_secs",
        &["ORCHESTRA__TELEGRAM__BREAKER_OPEN_SECS"],
    ),
    (
        "approvals.default_timeout_secs",
        &["ORCHESTRA__APPROVALS__DEFAULT_TIMEOUT_SECS"],
    ),
    (
        "approvals.max_timeout_secs",
        &["ORCHESTRA__APPROVALS__MAX_TIMEOUT_SECS"],
    ),
    (
        "approvals.park_after_secs",
        &["ORCHESTRA__APPROVALS__PARK_AFTER_SECS"],
    ),
    (
        "approvals.warn_before_secs",
        &["ORCHESTRA__APPROVALS__WARN_BEFORE_SECS"],
    ),
    (
        "claude.live_permission_prompts",
        &["ORCHESTRA__CLAUDE__LIVE_PERMISSION_PROMPTS"],
    ),
    ("claude.binary", &["ORCHESTRA__CLAUDE__BINARY"]),
    ("claude.home", &["ORCHESTRA__CLAUDE__HOME"]),
    ("claude.runtime_dir", &["ORCHESTRA__CLAUDE__RUNTIME_DIR"]),
    ("claude.node_id", &["ORCHESTRA__CLAUDE__NODE_ID"]),
    (
        "claude.max_live_processes",
        &["ORCHESTRA__CLAUDE__MAX_LIVE_PROCESSES"],
    ),
    (
        "claude.spawn_queue_timeout_secs",
        &["ORCHESTRA__CLAUDE__SPAWN_QUEUE_TIMEOUT_SECS"],
    ),
    (
        "claude.startup_timeout_secs",
        &["ORCHESTRA__CLAUDE__STARTUP_TIMEOUT_SECS"],
    ),
    (
        "claude.inactivity_timeout_secs",
        &["ORCHESTRA__CLAUDE__INACTIVITY_TIMEOUT_SECS"],
    ),
    (
        "claude.tool_timeout_secs",
        &["ORCHESTRA__CLAUDE__TOOL_TIMEOUT_SECS"],
    ),
    (
        "claude.health_check_interval_secs",
        &["ORCHESTRA__CLAUDE__HEALTH_CHECK_INTERVAL_SECS"],
    ),
    (
        "claude.discovery_interval_secs",
        &["ORCHESTRA__CLAUDE__DISCOVERY_INTERVAL_SECS"],
    ),
    ("claude.max_retries", &["ORCHESTRA__CLAUDE__MAX_RETRIES"]),
    (
        "claude.api_timeout_ms",
        &["ORCHESTRA__CLAUDE__API_TIMEOUT_MS"],
    ),
    (
        "claude.max_prompt_chars",
        &["ORCHESTRA__CLAUDE__MAX_PROMPT_CHARS"],
    ),
    ("claude.event_buffer", &["ORCHESTRA__CLAUDE__EVENT_BUFFER"]),
    (
        "claude.max_line_bytes",
        &["ORCHESTRA__CLAUDE__MAX_LINE_BYTES"],
    ),
    (
        "claude.allowed_working_directories",
        &["ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES"],
    ),
    ("claude.pass_env", &["ORCHESTRA__CLAUDE__PASS_ENV"]),
    (
        "claude.stop_interrupt_grace_ms",
        &["ORCHESTRA__CLAUDE__STOP_INTERRUPT_GRACE_MS"],
    ),
    (
        "claude.stop_eof_grace_ms",
        &["ORCHESTRA__CLAUDE__STOP_EOF_GRACE_MS"],
    ),
    (
        "claude.stop_sigint_grace_ms",
        &["ORCHESTRA__CLAUDE__STOP_SIGINT_GRACE_MS"],
    ),
    (
        "claude.stop_sigterm_grace_ms",
        &["ORCHESTRA__CLAUDE__STOP_SIGTERM_GRACE_MS"],
    ),
    (
        "claude.stop_sigkill_grace_ms",
        &["ORCHESTRA__CLAUDE__STOP_SIGKILL_GRACE_MS"],
    ),
];

/// Variables named `ORCHESTRA__CLAUDE__ENV__<NAME>` set `<NAME>` in the CLI's environment.
pub const CLAUDE_ENV_PREFIX: &str = "ORCHESTRA__CLAUDE__ENV__";

fn names_of(key: &str) -> &'static [&'static str] {
    ENV_NAMES
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(&[], |(_, n)| n)
}

fn apply_env(raw: &mut RawSettings, env: &dyn EnvSource) -> Result<(), ConfigError> {
    for (key, names) in ENV_NAMES {
        let Some((var, value)) = read_any(env, names)? else {
            continue;
        };
        let v = value.as_str();
        match *key {
            "environment" => {}
            "server.host" => raw.server.host = Some(v.trim().to_owned()),
            "server.port" => raw.server.port = Some(parse_as(&var, v, "a port number (0-65535)")?),
            "server.workers" => {
                raw.server.workers = Some(parse_as(&var, v, "a number of worker threads")?)
            }
            "server.shutdown_timeout_secs" => {
                raw.server.shutdown_timeout_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "server.swagger_enabled" => raw.server.swagger_enabled = Some(parse_bool(&var, v)?),
            "database.connection_string" => raw.database.connection_string = Some(value),
            "database.max_pool_size" => {
                raw.database.max_pool_size = Some(parse_as(&var, v, "a pool size")?)
            }
            "database.min_idle" => {
                raw.database.min_idle = Some(parse_as(&var, v, "a number of connections")?)
            }
            "database.connect_timeout_secs" => {
                raw.database.connect_timeout_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "database.auto_migrate" => raw.database.auto_migrate = Some(parse_bool(&var, v)?),
            "telegram.enabled" => raw.telegram.enabled = Some(parse_bool(&var, v)?),
            "telegram.bot_token" => raw.telegram.bot_token = Some(value),
            "telegram.chat_id" => {
                raw.telegram.chat_id = Some(parse_as(&var, v, "a numeric chat id")?)
            }
            "telegram.api_base_url" => raw.telegram.api_base_url = Some(v.trim().to_owned()),
            "telegram.allowed_user_ids" => {
                raw.telegram.allowed_user_ids = Some(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| parse_as(&var, s, "comma-separated numeric user ids"))
                        .collect::<Result<_, _>>()?,
                );
            }
            "approvals.default_timeout_minutes" => {
                raw.approvals.default_timeout_minutes = Some(parse_as(&var, v, "minutes")?);
            }
            "approvals.max_timeout_minutes" => {
                raw.approvals.max_timeout_minutes = Some(parse_as(&var, v, "minutes")?)
            }
            "approvals.sweep_interval_secs" => {
                raw.approvals.sweep_interval_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "approvals.grace_period_secs" => {
                raw.approvals.grace_period_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "approvals.sweep_batch_size" => {
                raw.approvals.sweep_batch_size = Some(parse_as(&var, v, "a batch size")?)
            }
            "telemetry.log_level" => raw.telemetry.log_level = Some(v.trim().to_owned()),
            "telemetry.log_format" => raw.telemetry.log_format = Some(v.trim().to_owned()),
            "telemetry.otlp_endpoint" => raw.telemetry.otlp_endpoint = Some(v.trim().to_owned()),
            "telemetry.service_name" => raw.telemetry.service_name = Some(v.trim().to_owned()),
            "telegram.mode" => raw.telegram.mode = Some(v.trim().to_owned()),
            "telegram.webhook_url" => raw.telegram.webhook_url = Some(v.trim().to_owned()),
            "telegram.webhook_secret" => raw.telegram.webhook_secret = Some(v.trim().to_owned()),
            "telegram.poll_timeout_secs" => {
                raw.telegram.poll_timeout_secs = Some(parse_as(&var, v, "a number")?)
            }
            "telegram.retry_attempts" => {
                raw.telegram.retry_attempts = Some(parse_as(&var, v, "a number")?)
            }
            "telegram.retry_base_ms" => {
                raw.telegram.retry_base_ms = Some(parse_as(&var, v, "a number")?)
            }
            "telegram.retry_max_ms" => {
                raw.telegram.retry_max_ms = Some(parse_as(&var, v, "a number")?)
            }
            "telegram.breaker_consecutive_failures" => {
                raw.telegram.breaker_consecutive_failures = Some(parse_as(&var, v, "a number")?)
            }
            "telegram.breaker_failure_rate" => {
                raw.telegram.breaker_failure_rate = Some(parse_as(&var, v, "a number")?)
            }
            "telegram.breaker_min_calls" => {
                raw.telegram.breaker_min_calls = Some(parse_as(&var, v, "a number")?)
            }
            "telegram.breaker_window_secs" => {
                raw.telegram.breaker_window_secs = Some(parse_as(&var, v, "a number")?)
            }
            "telegram.breaker_open_secs" => {
                raw.telegram.breaker_open_secs = Some(parse_as(&var, v, "a number")?)
            }
            "approvals.default_timeout_secs" => {
                raw.approvals.default_timeout_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "approvals.max_timeout_secs" => {
                raw.approvals.max_timeout_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "approvals.park_after_secs" => {
                raw.approvals.park_after_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "approvals.warn_before_secs" => {
                raw.approvals.warn_before_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "claude.live_permission_prompts" => {
                raw.claude.live_permission_prompts = Some(parse_bool(&var, v)?)
            }
            "claude.binary" => raw.claude.binary = Some(v.trim().to_owned()),
            "claude.home" => raw.claude.home = Some(v.trim().to_owned()),
            "claude.runtime_dir" => raw.claude.runtime_dir = Some(v.trim().to_owned()),
            "claude.node_id" => raw.claude.node_id = Some(v.trim().to_owned()),
            "claude.max_live_processes" => {
                raw.claude.max_live_processes = Some(parse_as(&var, v, "a number")?)
            }
            "claude.spawn_queue_timeout_secs" => {
                raw.claude.spawn_queue_timeout_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "claude.startup_timeout_secs" => {
                raw.claude.startup_timeout_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "claude.inactivity_timeout_secs" => {
                raw.claude.inactivity_timeout_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "claude.tool_timeout_secs" => {
                raw.claude.tool_timeout_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "claude.health_check_interval_secs" => {
                raw.claude.health_check_interval_secs = Some(parse_as(&var, v, "seconds")?);
            }
            "claude.discovery_interval_secs" => {
                raw.claude.discovery_interval_secs = Some(parse_as(&var, v, "seconds")?)
            }
            "claude.max_retries" => raw.claude.max_retries = Some(parse_as(&var, v, "a number")?),
            "claude.api_timeout_ms" => {
                raw.claude.api_timeout_ms = Some(parse_as(&var, v, "milliseconds")?)
            }
            "claude.max_prompt_chars" => {
                raw.claude.max_prompt_chars = Some(parse_as(&var, v, "a number")?)
            }
            "claude.event_buffer" => raw.claude.event_buffer = Some(parse_as(&var, v, "a number")?),
            "claude.max_line_bytes" => {
                raw.claude.max_line_bytes = Some(parse_as(&var, v, "bytes")?)
            }
            "claude.allowed_working_directories" => {
                raw.claude.allowed_working_directories = Some(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            "claude.pass_env" => {
                raw.claude.pass_env = Some(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            "claude.stop_interrupt_grace_ms" => {
                raw.claude.stop_interrupt_grace_ms = Some(parse_as(&var, v, "milliseconds")?)
            }
            "claude.stop_eof_grace_ms" => {
                raw.claude.stop_eof_grace_ms = Some(parse_as(&var, v, "milliseconds")?)
            }
            "claude.stop_sigint_grace_ms" => {
                raw.claude.stop_sigint_grace_ms = Some(parse_as(&var, v, "milliseconds")?)
            }
            "claude.stop_sigterm_grace_ms" => {
                raw.claude.stop_sigterm_grace_ms = Some(parse_as(&var, v, "milliseconds")?)
            }
            "claude.stop_sigkill_grace_ms" => {
                raw.claude.stop_sigkill_grace_ms = Some(parse_as(&var, v, "milliseconds")?)
            }
            _ => {}
        }
    }
    Ok(())
}

/// `ORCHESTRA__CLAUDE__ENV__<NAME>` (or `<NAME>_FILE`, read like every other variable) goes
/// into the agent's environment as `<NAME>`.
fn apply_claude_env(raw: &mut RawSettings, env: &dyn EnvSource) -> Result<(), ConfigError> {
    let names: BTreeSet<String> = env
        .names()
        .into_iter()
        .filter(|k| k.starts_with(CLAUDE_ENV_PREFIX))
        .map(|k| {
            k.strip_suffix("_FILE")
                .map_or_else(|| k.clone(), str::to_owned)
        })
        .collect();
    for name in names {
        if let Some(value) = read_var(env, &name)? {
            let key = name[CLAUDE_ENV_PREFIX.len()..].to_owned();
            raw.claude
                .env
                .get_or_insert_with(BTreeMap::new)
                .insert(key, value);
        }
    }
    Ok(())
}

fn default_node_id(target: &DatabaseTarget) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let location = match target {
        DatabaseTarget::Sqlite { path } => std::fs::canonicalize(path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| {
                std::env::current_dir()
                    .map(|d| d.join(path).display().to_string())
                    .unwrap_or_default()
            }),
        DatabaseTarget::Postgres { .. } => target.location(),
    };
    let key = format!("{}|{location}", host.trim());
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("node-{hash:016x}")
}

fn defaults(environment: Environment) -> RawSettings {
    let dev = environment == Environment::Development;
    RawSettings {
        server: RawServer {
            host: Some("0.0.0.0".into()),
            port: Some(5284),
            workers: None,
            shutdown_timeout_secs: Some(30),
            swagger_enabled: Some(true),
        },
        database: RawDatabase {
            connection_string: dev.then(|| "Data Source=orchestra.db".into()),
            max_pool_size: None,
            min_idle: Some(1),
            connect_timeout_secs: Some(5),
            auto_migrate: Some(dev),
        },
        telegram: RawTelegram {
            enabled: Some(!dev),
            bot_token: None,
            chat_id: None,
            api_base_url: Some("https://api.telegram.org".into()),
            allowed_user_ids: Some(Vec::new()),
            ..RawTelegram::default()
        },
        approvals: RawApprovals {
            default_timeout_minutes: Some(30),
            max_timeout_minutes: Some(120),
            sweep_interval_secs: Some(30),
            grace_period_secs: Some(0),
            sweep_batch_size: Some(500),
            ..RawApprovals::default()
        },
        claude: RawClaude::default(),
        telemetry: RawTelemetry {
            log_level: Some(if dev { "info,orchestra=debug" } else { "info" }.into()),
            log_format: Some(if dev { "text" } else { "json" }.into()),
            otlp_endpoint: None,
            service_name: Some("orchestra".into()),
        },
    }
}

fn merge(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

impl Settings {
    /// Loads settings from the process environment and the config file
    /// (`$ORCHESTRA_CONFIG_DIR/<environment>.toml`, `config/` by default).
    ///
    /// # Errors
    /// [`ConfigError`] for anything missing, unreadable or invalid.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let dir = std::env::var("ORCHESTRA_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        Self::load_from(config_file, &ProcessEnv, Path::new(&dir))
    }

    /// Loads settings from `env`, the explicit `config_file` or `<config_dir>/<environment>.toml`.
    ///
    /// # Errors
    /// [`ConfigError`] for anything missing, unreadable or invalid.
    pub fn load_from(
        config_file: Option<&Path>,
        env: &dyn EnvSource,
        config_dir: &Path,
    ) -> Result<Self, ConfigError> {
        let environment = match read_any(env, names_of("environment"))? {
            Some((_, v)) => v.parse()?,
            None => Environment::default(),
        };
        let mut merged = toml::Value::try_from(defaults(environment))
            .map_err(|e| invalid("defaults", e.to_string()))?;
        let explicit = config_file.map(Path::to_path_buf).or_else(|| {
            read_var(env, "ORCHESTRA_CONFIG")
                .ok()
                .flatten()
                .map(PathBuf::from)
        });
        let file = match explicit {
            Some(p) => Some(p),
            None => {
                let p = config_dir.join(format!(
                    "{}.toml",
                    environment.as_str().to_ascii_lowercase()
                ));
                p.is_file().then_some(p)
            }
        };
        if let Some(path) = &file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let value: toml::Value = toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            merge(&mut merged, value);
        }
        let mut raw: RawSettings =
            merged
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::File {
                    path: file
                        .as_ref()
                        .map_or_else(|| "defaults".into(), |p| p.display().to_string()),
                    message: e.to_string(),
                })?;
        apply_env(&mut raw, env)?;
        apply_claude_env(&mut raw, env)?;
        Self::validate(environment, raw, file)
    }

    fn validate(
        environment: Environment,
        raw: RawSettings,
        config_file: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let cs = raw.database.connection_string.filter(|s| !s.trim().is_empty()).ok_or_else(|| ConfigError::Missing {
            key: "database.connection_string".into(),
            hint: format!(
                "{environment} has no default database; set DB_CONNECTION_STRING (or ConnectionStrings__DefaultConnection, \
                 or [database] connection_string in the config file)"
            ),
        })?;
        let target = DatabaseTarget::parse(&cs)
            .map_err(|e| invalid("database.connection_string", e.to_string()))?;
        let default_pool = match target.backend() {
            orchestra_db::Backend::Sqlite => 8,
            orchestra_db::Backend::Postgres => 16,
        };
        // `MaxPoolSize=` in the connection string is the most specific setting: it wins
        // over `database.max_pool_size` (which the shipped config files set).
        let max_size = target
            .max_pool_size()
            .or(raw.database.max_pool_size)
            .unwrap_or(default_pool);
        if max_size == 0 || max_size > 1000 {
            return Err(invalid(
                "database.max_pool_size",
                "must be between 1 and 1000",
            ));
        }
        let pool = PoolSettings {
            max_size,
            min_idle: raw.database.min_idle.unwrap_or(1).min(max_size),
            connection_timeout: std::time::Duration::from_secs(
                raw.database.connect_timeout_secs.unwrap_or(5).max(1),
            ),
        };

        let telegram_enabled = raw.telegram.enabled.unwrap_or(false);
        let bot_token = raw
            .telegram
            .bot_token
            .filter(|t| !t.trim().is_empty())
            .map(SecretString::from);
        if telegram_enabled && bot_token.is_none() {
            return Err(ConfigError::Missing {
                key: "telegram.bot_token".into(),
                hint: "Telegram is enabled; set TELEGRAM_BOT_TOKEN (or TelegramEscalation__BotToken, or a _FILE variant), \
                       or disable it with TelegramEscalation__Enabled=false"
                    .into(),
            });
        }
        if telegram_enabled && raw.telegram.chat_id.is_none() {
            return Err(ConfigError::Missing {
                key: "telegram.chat_id".into(),
                hint: "Telegram is enabled; set TELEGRAM_CHAT_ID (or TelegramEscalation__ChatId)"
                    .into(),
            });
        }
        let api_base_url = raw
            .telegram
            .api_base_url
            .unwrap_or_else(|| "https://api.telegram.org".into());
        if !(api_base_url.starts_with("http://") || api_base_url.starts_with("https://")) {
            return Err(invalid(
                "telegram.api_base_url",
                "must be an http:// or https:// URL",
            ));
        }

        let default_minutes = raw.approvals.default_timeout_minutes.unwrap_or(30);
        let max_minutes = raw.approvals.max_timeout_minutes.unwrap_or(120);
        let mode = match raw
            .telegram
            .mode
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("polling") => TelegramMode::Polling,
            Some("webhook") => TelegramMode::Webhook,
            Some(_) => return Err(invalid("telegram.mode", "expected polling or webhook")),
        };
        let webhook_secret = raw
            .telegram
            .webhook_secret
            .clone()
            .filter(|s| !s.trim().is_empty())
            .map(SecretString::from);
        if telegram_enabled && mode == TelegramMode::Webhook {
            if raw
                .telegram
                .webhook_url
                .as_deref()
                .is_none_or(|u| !u.starts_with("https://") && !u.starts_with("http://"))
            {
                return Err(ConfigError::Missing {
                    key: "telegram.webhook_url".into(),
                    hint: "webhook mode needs the public URL of /api/telegram/webhook (ORCHESTRA__TELEGRAM__WEBHOOK_URL)".into(),
                });
            }
            if webhook_secret.is_none() {
                return Err(ConfigError::Missing {
                    key: "telegram.webhook_secret".into(),
                    hint: "webhook mode needs a secret token (ORCHESTRA__TELEGRAM__WEBHOOK_SECRET or _FILE)".into(),
                });
            }
        }
        let approvals = ApprovalSettings {
            default_timeout_minutes: default_minutes,
            max_timeout_minutes: max_minutes,
            sweep_interval_secs: raw.approvals.sweep_interval_secs.unwrap_or(30),
            grace_period_secs: raw.approvals.grace_period_secs.unwrap_or(0),
            sweep_batch_size: raw.approvals.sweep_batch_size.unwrap_or(500),
            default_timeout_secs: raw
                .approvals
                .default_timeout_secs
                .unwrap_or(u64::from(default_minutes) * 60),
            max_timeout_secs: raw
                .approvals
                .max_timeout_secs
                .unwrap_or(u64::from(max_minutes) * 60),
            park_after_secs: raw.approvals.park_after_secs.unwrap_or(240),
            warn_before_secs: raw.approvals.warn_before_secs.unwrap_or(300),
        };
        if approvals.default_timeout_secs == 0
            || approvals.default_timeout_secs > approvals.max_timeout_secs
        {
            return Err(invalid(
                "approvals.default_timeout_secs",
                "the default timeout must be at least 1 s and at most the maximum timeout",
            ));
        }
        if approvals.park_after_secs == 0 {
            return Err(invalid("approvals.park_after_secs", "must be at least 1"));
        }
        if approvals.default_timeout_minutes == 0
            || approvals.default_timeout_minutes > approvals.max_timeout_minutes
        {
            return Err(invalid(
                "approvals.default_timeout_minutes",
                format!(
                    "must be between 1 and max_timeout_minutes ({})",
                    approvals.max_timeout_minutes
                ),
            ));
        }
        if approvals.sweep_interval_secs == 0 {
            return Err(invalid(
                "approvals.sweep_interval_secs",
                "must be at least 1",
            ));
        }
        if approvals.sweep_batch_size == 0 {
            return Err(invalid("approvals.sweep_batch_size", "must be at least 1"));
        }

        let log_format = match raw
            .telemetry
            .log_format
            .as_deref()
            .unwrap_or("text")
            .to_ascii_lowercase()
            .as_str()
        {
            "text" | "pretty" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(invalid("telemetry.log_format", "expected text or json")),
        };
        let otlp_endpoint = raw.telemetry.otlp_endpoint.filter(|e| !e.trim().is_empty());
        if let Some(e) = &otlp_endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(invalid(
                "telemetry.otlp_endpoint",
                "must be an http:// or https:// URL (OTLP over HTTP)",
            ));
        }

        let c = raw.claude;
        let node_id = c
            .node_id
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| default_node_id(&target));
        if !node_id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
            || node_id.len() > 100
        {
            return Err(invalid(
                "claude.node_id",
                "must be 1-100 letters, digits, - _ or .",
            ));
        }
        let claude = ClaudeConfig {
            binary: c
                .binary
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| "claude".into()),
            home: c.home.filter(|h| !h.trim().is_empty()),
            runtime_dir: c
                .runtime_dir
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| {
                    std::env::temp_dir()
                        .join(format!("orchestra-{node_id}"))
                        .display()
                        .to_string()
                }),
            node_id,
            max_live_processes: c.max_live_processes.unwrap_or(32).max(1),
            spawn_queue_timeout_secs: c.spawn_queue_timeout_secs.unwrap_or(30),
            startup_timeout_secs: c.startup_timeout_secs.unwrap_or(30).max(1),
            inactivity_timeout_secs: c.inactivity_timeout_secs.unwrap_or(600).max(1),
            tool_timeout_secs: c.tool_timeout_secs.unwrap_or(3600).max(1),
            health_check_interval_secs: c.health_check_interval_secs.unwrap_or(15).max(1),
            discovery_interval_secs: c.discovery_interval_secs.unwrap_or(300).max(1),
            max_retries: c.max_retries.unwrap_or(2),
            api_timeout_ms: c.api_timeout_ms.unwrap_or(120_000).max(1000),
            max_prompt_chars: c.max_prompt_chars.unwrap_or(100_000).max(1),
            event_buffer: c.event_buffer.unwrap_or(2000).max(16),
            max_line_bytes: c.max_line_bytes.unwrap_or(64 * 1024 * 1024).max(64 * 1024),
            allowed_working_directories: c.allowed_working_directories.unwrap_or_default(),
            pass_env: c.pass_env.unwrap_or_default(),
            env: c
                .env
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
            stop_grace_ms: [
                c.stop_interrupt_grace_ms.unwrap_or(3000),
                c.stop_eof_grace_ms.unwrap_or(3000),
                c.stop_sigint_grace_ms.unwrap_or(3000),
                c.stop_sigterm_grace_ms.unwrap_or(3000),
                c.stop_sigkill_grace_ms.unwrap_or(5000),
            ],
            live_permission_prompts: c.live_permission_prompts.unwrap_or(true),
        };
        for dir in &claude.allowed_working_directories {
            if !dir.starts_with('/') {
                return Err(invalid(
                    "claude.allowed_working_directories",
                    format!("`{dir}` is not absolute"),
                ));
            }
        }

        Ok(Self {
            claude,
            environment,
            server: ServerSettings {
                host: raw.server.host.unwrap_or_else(|| "0.0.0.0".into()),
                port: raw.server.port.unwrap_or(5284),
                workers: raw.server.workers.filter(|w| *w > 0),
                shutdown_timeout_secs: raw.server.shutdown_timeout_secs.unwrap_or(30),
                swagger_enabled: raw.server.swagger_enabled.unwrap_or(true),
            },
            database: DatabaseSettings {
                target,
                pool,
                auto_migrate: raw
                    .database
                    .auto_migrate
                    .unwrap_or(environment == Environment::Development),
            },
            telegram: TelegramSettings {
                enabled: telegram_enabled,
                bot_token,
                chat_id: raw.telegram.chat_id,
                api_base_url,
                allowed_user_ids: raw.telegram.allowed_user_ids.unwrap_or_default(),
                mode,
                webhook_url: raw.telegram.webhook_url.filter(|u| !u.trim().is_empty()),
                webhook_secret,
                poll_timeout_secs: raw.telegram.poll_timeout_secs.unwrap_or(25).clamp(1, 50),
                retry: (
                    raw.telegram.retry_attempts.unwrap_or(3).max(1),
                    raw.telegram.retry_base_ms.unwrap_or(1000).max(1),
                    raw.telegram.retry_max_ms.unwrap_or(16_000).max(1),
                ),
                breaker: (
                    raw.telegram
                        .breaker_consecutive_failures
                        .unwrap_or(5)
                        .max(1),
                    raw.telegram
                        .breaker_failure_rate
                        .unwrap_or(0.5)
                        .clamp(0.0, 1.0),
                    raw.telegram.breaker_min_calls.unwrap_or(10),
                    raw.telegram.breaker_window_secs.unwrap_or(30).max(1),
                    raw.telegram.breaker_open_secs.unwrap_or(30).max(1),
                ),
            },
            approvals,
            telemetry: TelemetrySettings {
                log_level: raw.telemetry.log_level.unwrap_or_else(|| "info".into()),
                log_format,
                otlp_endpoint,
                service_name: raw
                    .telemetry
                    .service_name
                    .unwrap_or_else(|| "orchestra".into()),
            },
            config_file,
        })
    }

    /// The effective configuration as TOML, secrets replaced by `[redacted]`.
    pub fn to_redacted_toml(&self) -> String {
        let q = |s: &str| format!("{s:?}");
        let unset = || "\"\"  # not set".to_owned();
        let sections: Vec<(&str, Vec<(&str, String)>)> = vec![
            (
                "",
                vec![
                    ("environment", q(self.environment.as_str())),
                    (
                        "config_file",
                        self.config_file
                            .as_ref()
                            .map_or_else(unset, |p| q(&p.display().to_string())),
                    ),
                ],
            ),
            (
                "server",
                vec![
                    ("host", q(&self.server.host)),
                    ("port", self.server.port.to_string()),
                    (
                        "workers",
                        self.server
                            .workers
                            .map_or_else(|| "0  # one per core".into(), |w| w.to_string()),
                    ),
                    (
                        "shutdown_timeout_secs",
                        self.server.shutdown_timeout_secs.to_string(),
                    ),
                    ("swagger_enabled", self.server.swagger_enabled.to_string()),
                ],
            ),
            (
                "database",
                vec![
                    ("backend", q(self.database.target.backend().as_str())),
                    ("location", q(&self.database.target.location())),
                    ("connection_string", q("[redacted]")),
                    ("max_pool_size", self.database.pool.max_size.to_string()),
                    ("min_idle", self.database.pool.min_idle.to_string()),
                    (
                        "connect_timeout_secs",
                        self.database.pool.connection_timeout.as_secs().to_string(),
                    ),
                    ("auto_migrate", self.database.auto_migrate.to_string()),
                ],
            ),
            (
                "telegram",
                vec![
                    ("enabled", self.telegram.enabled.to_string()),
                    (
                        "bot_token",
                        self.telegram
                            .bot_token
                            .as_ref()
                            .map_or_else(unset, |_| q("[redacted]")),
                    ),
                    (
                        "chat_id",
                        self.telegram
                            .chat_id
                            .map_or_else(|| "0  # not set".into(), |c| c.to_string()),
                    ),
                    ("api_base_url", q(&self.telegram.api_base_url)),
                    (
                        "allowed_user_ids",
                        format!("{:?}", self.telegram.allowed_user_ids),
                    ),
                    (
                        "mode",
                        q(match self.telegram.mode {
                            TelegramMode::Polling => "polling",
                            TelegramMode::Webhook => "webhook",
                        }),
                    ),
                    (
                        "webhook_url",
                        self.telegram.webhook_url.as_deref().map_or_else(unset, q),
                    ),
                    (
                        "webhook_secret",
                        self.telegram
                            .webhook_secret
                            .as_ref()
                            .map_or_else(unset, |_| q("[redacted]")),
                    ),
                    (
                        "poll_timeout_secs",
                        self.telegram.poll_timeout_secs.to_string(),
                    ),
                    ("retry_attempts", self.telegram.retry.0.to_string()),
                    ("retry_base_ms", self.telegram.retry.1.to_string()),
                    ("retry_max_ms", self.telegram.retry.2.to_string()),
                    (
                        "breaker_consecutive_failures",
                        self.telegram.breaker.0.to_string(),
                    ),
                    ("breaker_failure_rate", self.telegram.breaker.1.to_string()),
                    ("breaker_min_calls", self.telegram.breaker.2.to_string()),
                    ("breaker_window_secs", self.telegram.breaker.3.to_string()),
                    ("breaker_open_secs", self.telegram.breaker.4.to_string()),
                ],
            ),
            (
                "approvals",
                vec![
                    (
                        "default_timeout_minutes",
                        self.approvals.default_timeout_minutes.to_string(),
                    ),
                    (
                        "max_timeout_minutes",
                        self.approvals.max_timeout_minutes.to_string(),
                    ),
                    (
                        "sweep_interval_secs",
                        self.approvals.sweep_interval_secs.to_string(),
                    ),
                    (
                        "grace_period_secs",
                        self.approvals.grace_period_secs.to_string(),
                    ),
                    (
                        "sweep_batch_size",
                        self.approvals.sweep_batch_size.to_string(),
                    ),
                    (
                        "default_timeout_secs",
                        self.approvals.default_timeout_secs.to_string(),
                    ),
                    (
                        "max_timeout_secs",
                        self.approvals.max_timeout_secs.to_string(),
                    ),
                    (
                        "park_after_secs",
                        self.approvals.park_after_secs.to_string(),
                    ),
                    (
                        "warn_before_secs",
                        self.approvals.warn_before_secs.to_string(),
                    ),
                ],
            ),
            ("claude", self.claude_lines()),
            (
                "telemetry",
                vec![
                    ("log_level", q(&self.telemetry.log_level)),
                    (
                        "log_format",
                        q(match self.telemetry.log_format {
                            LogFormat::Text => "text",
                            LogFormat::Json => "json",
                        }),
                    ),
                    (
                        "otlp_endpoint",
                        self.telemetry
                            .otlp_endpoint
                            .as_deref()
                            .map_or_else(unset, q),
                    ),
                    ("service_name", q(&self.telemetry.service_name)),
                ],
            ),
        ];
        let mut out = String::new();
        for (section, lines) in sections {
            if !section.is_empty() {
                out.push_str(&format!("\n[{section}]\n"));
            }
            for (k, v) in lines {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    }

    fn claude_lines(&self) -> Vec<(&'static str, String)> {
        let c = &self.claude;
        let q = |s: &str| format!("{s:?}");
        let [interrupt, eof, sigint, sigterm, sigkill] = c.stop_grace_ms;
        vec![
            ("binary", q(&c.binary)),
            (
                "home",
                c.home
                    .as_deref()
                    .map_or_else(|| "\"\"  # Orchestra's HOME".to_owned(), q),
            ),
            ("runtime_dir", q(&c.runtime_dir)),
            ("node_id", q(&c.node_id)),
            ("max_live_processes", c.max_live_processes.to_string()),
            (
                "spawn_queue_timeout_secs",
                c.spawn_queue_timeout_secs.to_string(),
            ),
            ("startup_timeout_secs", c.startup_timeout_secs.to_string()),
            (
                "inactivity_timeout_secs",
                c.inactivity_timeout_secs.to_string(),
            ),
            ("tool_timeout_secs", c.tool_timeout_secs.to_string()),
            (
                "health_check_interval_secs",
                c.health_check_interval_secs.to_string(),
            ),
            (
                "discovery_interval_secs",
                c.discovery_interval_secs.to_string(),
            ),
            ("max_retries", c.max_retries.to_string()),
            ("api_timeout_ms", c.api_timeout_ms.to_string()),
            ("max_prompt_chars", c.max_prompt_chars.to_string()),
            ("event_buffer", c.event_buffer.to_string()),
            ("max_line_bytes", c.max_line_bytes.to_string()),
            (
                "allowed_working_directories",
                format!("{:?}", c.allowed_working_directories),
            ),
            ("pass_env", format!("{:?}", c.pass_env)),
            (
                "live_permission_prompts",
                c.live_permission_prompts.to_string(),
            ),
            ("stop_interrupt_grace_ms", interrupt.to_string()),
            ("stop_eof_grace_ms", eof.to_string()),
            ("stop_sigint_grace_ms", sigint.to_string()),
            ("stop_sigterm_grace_ms", sigterm.to_string()),
            ("stop_sigkill_grace_ms", sigkill.to_string()),
            (
                "env",
                // Names only: the values may be secrets.
                format!(
                    "{{ {} }}",
                    c.env
                        .iter()
                        .map(|(k, _)| format!("{k} = \"[redacted]\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        ]
    }

    /// The bot token, for the Telegram adapter only.
    pub fn telegram_token(&self) -> Option<&str> {
        self.telegram
            .bot_token
            .as_ref()
            .map(ExposeSecret::expose_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_from(None, &env(pairs), Path::new("/nonexistent"))
    }

    #[test]
    fn development_defaults_to_sqlite_on_5284_without_telegram() {
        let s = load(&[]).unwrap();
        assert_eq!(s.environment, Environment::Development);
        assert_eq!(s.server.port, 5284);
        assert_eq!(
            s.database.target,
            DatabaseTarget::Sqlite {
                path: "orchestra.db".into()
            }
        );
        assert!(s.database.auto_migrate);
        assert!(!s.telegram.enabled);
    }

    #[test]
    fn production_needs_a_database_and_telegram_credentials() {
        let err = load(&[("ASPNETCORE_ENVIRONMENT", "Production")]).unwrap_err();
        assert!(err.to_string().contains("DB_CONNECTION_STRING"), "{err}");
        let err = load(&[
            ("ASPNETCORE_ENVIRONMENT", "Production"),
            (
                "ConnectionStrings__DefaultConnection",
                "Host=db;Database=o;Username=app;Password=pw",
            ),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("TELEGRAM_BOT_TOKEN"), "{err}");
    }

    #[test]
    fn the_seeds_production_variables_are_understood_and_secrets_stay_hidden() {
        let s = load(&[
            ("ASPNETCORE_ENVIRONMENT", "Production"),
            (
                "ConnectionStrings__DefaultConnection",
                "Host=db;Database=o;Username=app;Password=pw-XYZ;MaxPoolSize=100",
            ),
            ("TelegramEscalation__BotToken", "123:token-XYZ"),
            ("TelegramEscalation__ChatId", "-1001"),
            ("TelegramEscalation__Enabled", "true"),
        ])
        .unwrap();
        assert_eq!(s.environment, Environment::Production);
        assert!(!s.database.auto_migrate);
        assert_eq!(s.database.pool.max_size, 100);
        assert_eq!(s.telegram.chat_id, Some(-1001));
        assert_eq!(s.telegram_token(), Some("123:token-XYZ"));
        let shown = format!("{s:?}\n{}", s.to_redacted_toml());
        assert!(
            !shown.contains("pw-XYZ") && !shown.contains("token-XYZ"),
            "{shown}"
        );
    }

    #[test]
    fn file_variants_read_secrets_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "42:from-file\n").unwrap();
        let s = load(&[
            ("TELEGRAM_BOT_TOKEN_FILE", token.to_str().unwrap()),
            ("TELEGRAM_CHAT_ID", "7"),
            ("TelegramEscalation__Enabled", "true"),
        ])
        .unwrap();
        assert_eq!(s.telegram_token(), Some("42:from-file"));
        // The agent's environment takes `_FILE` too: the key, not the path, reaches the CLI.
        let key = dir.path().join("api-key");
        std::fs::write(&key, "sk-from-file\n").unwrap();
        let s = load(&[
            (
                "ORCHESTRA__CLAUDE__ENV__ANTHROPIC_API_KEY_FILE",
                key.to_str().unwrap(),
            ),
            ("ORCHESTRA__CLAUDE__ENV__PLAIN", "p"),
        ])
        .unwrap();
        let agent_env: Vec<(&str, &str)> = s
            .claude
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(
            agent_env,
            vec![("ANTHROPIC_API_KEY", "sk-from-file"), ("PLAIN", "p")]
        );
        let err = load(&[
            ("TELEGRAM_BOT_TOKEN", "x"),
            ("TELEGRAM_BOT_TOKEN_FILE", token.to_str().unwrap()),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("not both"));
    }

    #[test]
    fn environment_beats_file_and_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("development.toml"),
            "[server]\nport = 6000\nworkers = 3\n[approvals]\ndefault_timeout_minutes = 10\n",
        )
        .unwrap();
        let s = Settings::load_from(
            None,
            &env(&[("ORCHESTRA__SERVER__PORT", "7000")]),
            dir.path(),
        )
        .unwrap();
        assert_eq!(s.server.port, 7000);
        assert_eq!(s.server.workers, Some(3));
        assert_eq!(s.approvals.default_timeout_minutes, 10);
        assert_eq!(s.config_file, Some(dir.path().join("development.toml")));
    }

    #[test]
    fn check_config_shows_every_setting() {
        let s = load(&[
            ("ORCHESTRA__CLAUDE__ENV__ANTHROPIC_API_KEY", "sk-secret-XYZ"),
            ("TelegramEscalation__BotToken", "1:token-XYZ"),
        ])
        .unwrap();
        let shown = s.to_redacted_toml();
        assert!(
            !shown.contains("secret-XYZ") && !shown.contains("token-XYZ"),
            "{shown}"
        );
        for (key, _) in ENV_NAMES {
            let (section, name) = key.split_once('.').unwrap_or(("", key));
            let body = if section.is_empty() {
                shown.split("\n[").next()
            } else {
                shown
                    .split(&format!("\n[{section}]\n"))
                    .nth(1)
                    .and_then(|rest| rest.split("\n[").next())
            }
            .unwrap_or_else(|| panic!("no [{section}] in:\n{shown}"));
            assert!(
                body.lines().any(|l| l.starts_with(&format!("{name} = "))),
                "check-config does not show {key}:\n{shown}"
            );
        }
        assert!(
            shown.contains("ANTHROPIC_API_KEY = \"[redacted]\""),
            "{shown}"
        );
    }

    #[test]
    fn the_shipped_config_files_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        for environment in ["Development", "Staging", "Production"] {
            let s = Settings::load_from(
                None,
                &env(&[
                    ("ORCHESTRA_ENVIRONMENT", environment),
                    (
                        "DB_CONNECTION_STRING",
                        "Host=db;Database=o;Username=u;Password=p",
                    ),
                    ("TELEGRAM_BOT_TOKEN", "1:x"),
                    ("TELEGRAM_CHAT_ID", "1"),
                ]),
                &dir,
            )
            .unwrap_or_else(|e| panic!("{environment}: {e}"));
            assert!(s.config_file.is_some(), "{environment} has a config file");
            // `MaxPoolSize=` in the connection string beats the file's `max_pool_size`.
            let s = Settings::load_from(
                None,
                &env(&[
                    ("ORCHESTRA_ENVIRONMENT", environment),
                    (
                        "DB_CONNECTION_STRING",
                        "Host=db;Database=o;Username=u;Password=p;MaxPoolSize=7",
                    ),
                    ("TELEGRAM_BOT_TOKEN", "1:x"),
                    ("TELEGRAM_CHAT_ID", "1"),
                ]),
                &dir,
            )
            .unwrap();
            assert_eq!(s.database.pool.max_size, 7, "{environment}");
        }
    }

    #[test]
    fn typos_and_bad_values_are_reported_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("development.toml"), "[server]\nprot = 1\n").unwrap();
        let err = Settings::load_from(None, &env(&[]), dir.path()).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
        let err = load(&[("ORCHESTRA__SERVER__PORT", "http")]).unwrap_err();
        assert!(err.to_string().contains("ORCHESTRA__SERVER__PORT"), "{err}");
        let err = load(&[("ORCHESTRA_ENVIRONMENT", "moon")]).unwrap_err();
        assert!(err.to_string().contains("moon"), "{err}");
        let err = load(&[("ORCHESTRA__APPROVALS__DEFAULT_TIMEOUT_MINUTES", "500")]).unwrap_err();
        assert!(err.to_string().contains("default_timeout"), "{err}");
    }
}
