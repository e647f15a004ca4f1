//! The config file's shape: one struct per `[section]`, each with its defaults written once.
//!
//! These structs are what the layers (defaults < file < environment) are merged into. A key
//! whose default is `None` is derived at validation (pool size from the backend, timeouts in
//! seconds from the minutes, node id from the host) or simply unset.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::environment::Environment;

/// A secret value: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Secret {
    /// The name the key tracer sees (`schema::Kind::Secret`).
    pub const NAME: &'static str = "Secret";
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(Self::NAME, &self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_newtype_struct<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Secret, D::Error> {
                String::deserialize(d).map(Secret)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
        }
        d.deserialize_newtype_struct(Self::NAME, V)
    }
}

/// The whole file: every key is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sections {
    /// `[server]`.
    pub server: ServerSection,
    /// `[database]`.
    pub database: DatabaseSection,
    /// `[telegram]`.
    pub telegram: TelegramSection,
    /// `[approvals]`.
    pub approvals: ApprovalsSection,
    /// `[telemetry]`.
    pub telemetry: TelemetrySection,
    /// `[claude]`.
    pub claude: ClaudeSection,
    /// `[auth]`.
    pub auth: AuthSection,
    /// `[policy]`.
    pub policy: PolicySection,
    /// `[node]`.
    pub node: NodeSection,
    /// `[retention]`.
    pub retention: super::retention::RetentionSection,
    /// `[budgets]`.
    pub budgets: super::budgets::BudgetsSection,
}

/// `[node]`: this node among the others on one database (docs/adr/0004-several-nodes.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// A lease (a session's, the Telegram poller's) outlives a node that stops renewing it
    /// by this long, seconds; renewed every third of it.
    pub lease_secs: u64,
    /// Where the other nodes and clients reach this node (`http(s)://host:port`), shown to a
    /// client that asks the wrong node for a session.
    pub advertise_url: Option<String>,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            lease_secs: 15,
            advertise_url: None,
        }
    }
}

/// `[policy]`: what a client may ask for when it starts a session. Nothing a client sends
/// can widen it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySection {
    /// Permission modes a session may ask for (`default`, `plan`, `acceptEdits`,
    /// `bypassPermissions`).
    pub permission_modes: Vec<String>,
    /// Tool rules a client may pre-allow in `allowedTools`, exactly as written (Claude
    /// Code's rule syntax: `Read`, `Bash(git status:*)`).
    pub client_allowed_tools: Vec<String>,
    /// Tools no session may use, whatever it asks (`--disallowedTools` on every agent).
    pub denied_tools: Vec<String>,
    /// What happens to a tool call the agent asks about, before any human is asked:
    /// `allow|ask[:low|high|critical]|deny <rule> [in <root> ...]`, the first match deciding.
    pub rules: Vec<String>,
}

impl Default for PolicySection {
    fn default() -> Self {
        Self {
            permission_modes: vec!["default".into(), "plan".into()],
            client_allowed_tools: vec!["Read".into(), "Glob".into(), "Grep".into()],
            denied_tools: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// Serve `/api/*` without API keys. Development on a loopback address only; logged
    /// loudly at start. Anyone (and any agent) on the host can then approve anything.
    pub insecure_disabled: bool,
    /// An admin key (`orch_` + 64 hex) to create at start if no key has its hash, named
    /// `bootstrap-admin` (for containers: mount it and use `_FILE`).
    pub bootstrap_admin_key: Option<Secret>,
}

impl Sections {
    /// The built-in defaults of `environment`: the five keys that differ by environment are
    /// set here, everything else comes from each section's `Default`.
    pub fn for_environment(environment: Environment) -> Self {
        let dev = environment == Environment::Development;
        let mut s = Self::default();
        s.database.connection_string = dev.then(|| Secret("Data Source=orchestra.db".into()));
        s.database.auto_migrate = dev;
        s.telegram.enabled = !dev;
        if !dev {
            s.telemetry.log_level = "info".into();
            s.telemetry.log_format = "json".into();
        }
        s
    }
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks a free one).
    pub port: u16,
    /// Worker threads (unset or 0: one per core).
    pub workers: Option<usize>,
    /// How long in-flight requests get on shutdown, seconds.
    pub shutdown_timeout_secs: u64,
    /// Whether `/swagger` is served.
    pub swagger_enabled: bool,
    /// Web origins (`https://console.example.com`) that may call the API from a browser.
    pub allowed_origins: Vec<String>,
    /// PEM certificate chain: serve HTTPS (reloaded on SIGHUP).
    pub tls_cert_file: Option<String>,
    /// PEM private key of the certificate.
    pub tls_key_file: Option<String>,
    /// A proxy in front terminates TLS (Production then starts without certificates).
    pub tls_terminated_by_proxy: bool,
    /// A second, plain-HTTP listener for `/metrics` and `/health*` only; when set, `/metrics`
    /// leaves the main listener (unset or 0: everything on the main one).
    pub ops_port: Option<u16>,
    /// The second listener's address.
    pub ops_host: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 5284,
            workers: None,
            shutdown_timeout_secs: 30,
            swagger_enabled: true,
            allowed_origins: Vec::new(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_terminated_by_proxy: false,
            ops_port: None,
            ops_host: "127.0.0.1".into(),
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSection {
    /// The connection string (Development: `Data Source=orchestra.db`; otherwise required).
    pub connection_string: Option<Secret>,
    /// Pool size (unset: 8 for SQLite, 16 for PostgreSQL; `MaxPoolSize=` wins).
    pub max_pool_size: Option<u32>,
    /// Idle connections kept.
    pub min_idle: u32,
    /// Connect (and pool checkout) timeout, seconds.
    pub connect_timeout_secs: u64,
    /// Whether pending migrations are applied at start (Development: true).
    pub auto_migrate: bool,
    /// SQLite's `synchronous`: `full` (default: every commit, every decision, synced to
    /// disk) or `normal` (faster; a power loss may lose the last commits).
    pub sqlite_synchronous: String,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            connection_string: None,
            max_pool_size: None,
            min_idle: 1,
            connect_timeout_secs: 5,
            auto_migrate: false,
            sqlite_synchronous: "full".into(),
        }
    }
}

/// `[telegram]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramSection {
    /// Whether approvals go to Telegram (Development: false).
    pub enabled: bool,
    /// The bot token.
    pub bot_token: Option<Secret>,
    /// The chat that gets approval messages.
    pub chat_id: Option<i64>,
    /// The chat that gets `high` and `critical` approvals nobody decided in
    /// `approvals.escalate_after_secs` (unset: no escalation).
    pub escalation_chat_id: Option<i64>,
    /// The Bot API base URL.
    pub api_base_url: String,
    /// Users the bot listens to (empty: anyone in the chat).
    pub allowed_user_ids: Vec<i64>,
    /// Users with the approver role (empty: every allowed user); the others may only view.
    pub approvers: Vec<i64>,
    /// `polling` or `webhook`.
    pub mode: String,
    /// The public URL of `/api/telegram/webhook` (webhook mode).
    pub webhook_url: Option<String>,
    /// The webhook's secret token (webhook mode).
    pub webhook_secret: Option<Secret>,
    /// Long-poll wait, seconds (1-50).
    pub poll_timeout_secs: u32,
    /// Minutes of the "Allow <rule> for N min" button (0: no such button; at most 10080).
    pub grant_minutes: u32,
    /// Attempts per call.
    pub retry_attempts: u32,
    /// First retry delay, ms.
    pub retry_base_ms: u64,
    /// Longest retry delay, ms.
    pub retry_max_ms: u64,
    /// Breaker: consecutive failures that open it.
    pub breaker_consecutive_failures: u32,
    /// Breaker: failure rate that opens it.
    pub breaker_failure_rate: f64,
    /// Breaker: calls in the window before the rate counts.
    pub breaker_min_calls: u32,
    /// Breaker: the rate's window, seconds.
    pub breaker_window_secs: u64,
    /// Breaker: how long it stays open, seconds.
    pub breaker_open_secs: u64,
}

impl Default for TelegramSection {
    fn default() -> Self {
        Self {
            enabled: false,
            bot_token: None,
            chat_id: None,
            escalation_chat_id: None,
            api_base_url: "https://api.telegram.org".into(),
            allowed_user_ids: Vec::new(),
            approvers: Vec::new(),
            mode: "polling".into(),
            webhook_url: None,
            webhook_secret: None,
            poll_timeout_secs: 25,
            grant_minutes: 30,
            retry_attempts: 3,
            retry_base_ms: 1000,
            retry_max_ms: 16_000,
            breaker_consecutive_failures: 5,
            breaker_failure_rate: 0.5,
            breaker_min_calls: 10,
            breaker_window_secs: 30,
            breaker_open_secs: 30,
        }
    }
}

/// `[approvals]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsSection {
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
    /// Default wait, seconds (unset: the minutes).
    pub default_timeout_secs: Option<u64>,
    /// Longest wait, seconds (unset: the minutes).
    pub max_timeout_secs: Option<u64>,
    /// How long a live prompt waits before its session is parked, seconds.
    pub park_after_secs: u64,
    /// Warn this long before an approval expires, seconds (0: no warning).
    pub warn_before_secs: u64,
    /// Different approvers a `critical` call needs (1-5; 1 weakens the default).
    pub critical_approvers: u32,
    /// A `high` or `critical` approval with no decision this long goes to the escalation
    /// chat too, seconds (0: never).
    pub escalate_after_secs: u64,
}

impl Default for ApprovalsSection {
    fn default() -> Self {
        Self {
            default_timeout_minutes: 30,
            max_timeout_minutes: 120,
            sweep_interval_secs: 30,
            grace_period_secs: 0,
            sweep_batch_size: 500,
            default_timeout_secs: None,
            max_timeout_secs: None,
            park_after_secs: 240,
            warn_before_secs: 300,
            critical_approvers: 2,
            escalate_after_secs: 600,
        }
    }
}

/// `[telemetry]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySection {
    /// Log filter (Development: `info,orchestra=debug`).
    pub log_level: String,
    /// `text` or `json` (Development: text).
    pub log_format: String,
    /// OTLP/HTTP endpoint for spans.
    pub otlp_endpoint: Option<String>,
    /// `service.name`.
    pub service_name: String,
    /// Log lines go to this file instead of stdout (`--log-file` sets it too).
    pub log_file: Option<String>,
    /// The log file is rotated (renamed to `.1`, ...) once larger than this.
    pub log_file_max_bytes: u64,
    /// Rotated log files kept.
    pub log_file_keep: usize,
}

impl Default for TelemetrySection {
    fn default() -> Self {
        Self {
            log_level: "info,orchestra=debug".into(),
            log_format: "text".into(),
            otlp_endpoint: None,
            service_name: "orchestra".into(),
            log_file: None,
            log_file_max_bytes: 100 * 1024 * 1024,
            log_file_keep: 10,
        }
    }
}

/// `[claude]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaudeSection {
    /// The CLI binary.
    pub binary: String,
    /// `HOME` for the CLI (unset: Orchestra's).
    pub home: Option<String>,
    /// Parent of the per-process temp dirs (unset: `$TMPDIR/orchestra-<node id>`).
    pub runtime_dir: Option<String>,
    /// This node's id (unset: derived from the host name and the database location).
    pub node_id: Option<String>,
    /// Live processes at most.
    pub max_live_processes: usize,
    /// How long a create or resume waits for a slot, seconds.
    pub spawn_queue_timeout_secs: u64,
    /// How long the CLI gets to start, seconds.
    pub startup_timeout_secs: u64,
    /// Silence (no tool running) before a turn counts as hung, seconds.
    pub inactivity_timeout_secs: u64,
    /// Silence while a tool runs before a turn counts as hung, seconds.
    pub tool_timeout_secs: u64,
    /// Health check interval, seconds.
    pub health_check_interval_secs: u64,
    /// An idle session's process is stopped after this long (it stays Active), seconds;
    /// 0 never.
    pub idle_suspend_secs: u64,
    /// Keep each session's agent transcript in the database, so that any node (or this
    /// one after losing its disk) can resume it.
    pub store_transcripts: bool,
    /// Switch the CLI's own OpenTelemetry export on, to `telemetry.otlp_endpoint`.
    pub telemetry: bool,
    /// Discovery interval, seconds.
    pub discovery_interval_secs: u64,
    /// `CLAUDE_CODE_MAX_RETRIES`.
    pub max_retries: u32,
    /// `API_TIMEOUT_MS`.
    pub api_timeout_ms: u64,
    /// Longest prompt, characters.
    pub max_prompt_chars: usize,
    /// Events buffered per session.
    pub event_buffer: usize,
    /// Bytes buffered per session (estimated).
    pub event_buffer_bytes: usize,
    /// Longest payload (text, tool input, ...) in the event log, bytes; longer ones are cut.
    pub event_payload_max_bytes: usize,
    /// An idle session's event log is dropped after this long, seconds.
    pub event_log_idle_secs: u64,
    /// Bytes the event logs of sessions without a process hold together at most.
    pub idle_event_logs_max_bytes: usize,
    /// Longest stdout line, bytes.
    pub max_line_bytes: usize,
    /// Allowed working directory roots (empty: any).
    pub allowed_working_directories: Vec<String>,
    /// Extra variables passed from Orchestra's environment.
    pub pass_env: Vec<String>,
    /// Extra environment for the CLI (values are secrets).
    pub env: BTreeMap<String, Secret>,
    /// Stop ladder: interrupt grace, ms.
    pub stop_interrupt_grace_ms: u64,
    /// Stop ladder: EOF grace, ms.
    pub stop_eof_grace_ms: u64,
    /// Stop ladder: SIGINT grace, ms.
    pub stop_sigint_grace_ms: u64,
    /// Stop ladder: SIGTERM grace, ms.
    pub stop_sigterm_grace_ms: u64,
    /// Stop ladder: SIGKILL grace, ms.
    pub stop_sigkill_grace_ms: u64,
    /// Live permission prompts (`--permission-prompt-tool stdio`).
    pub live_permission_prompts: bool,
    /// Run agents as this user (Orchestra runs as root), each session with its own HOME.
    pub run_as_user: Option<String>,
    /// Address-space limit of each agent process, MiB.
    pub max_memory_mb: Option<u64>,
    /// Processes the agent user may have at once.
    pub max_tasks: Option<u64>,
}

impl Default for ClaudeSection {
    fn default() -> Self {
        Self {
            binary: "claude".into(),
            home: None,
            runtime_dir: None,
            node_id: None,
            max_live_processes: 32,
            spawn_queue_timeout_secs: 30,
            startup_timeout_secs: 30,
            inactivity_timeout_secs: 600,
            tool_timeout_secs: 3600,
            health_check_interval_secs: 15,
            idle_suspend_secs: 300,
            store_transcripts: true,
            telemetry: false,
            discovery_interval_secs: 300,
            max_retries: 2,
            api_timeout_ms: 120_000,
            max_prompt_chars: 100_000,
            event_buffer: 2000,
            event_buffer_bytes: 1024 * 1024,
            event_payload_max_bytes: 16 * 1024,
            event_log_idle_secs: 600,
            idle_event_logs_max_bytes: 64 * 1024 * 1024,
            max_line_bytes: 4 * 1024 * 1024,
            allowed_working_directories: Vec::new(),
            pass_env: Vec::new(),
            env: BTreeMap::new(),
            stop_interrupt_grace_ms: 3000,
            stop_eof_grace_ms: 3000,
            stop_sigint_grace_ms: 3000,
            stop_sigterm_grace_ms: 3000,
            stop_sigkill_grace_ms: 5000,
            live_permission_prompts: true,
            run_as_user: None,
            max_memory_mb: None,
            max_tasks: None,
        }
    }
}
