//! The agent runtime port: start Claude Code agents and talk to them.

use async_trait::async_trait;
use orchestra_domain::NewSession;
use serde_json::Value;
use tokio::sync::mpsc;

/// Why the runtime could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The CLI could not be started (missing binary, bad flags, exited at start).
    #[error("the agent could not be started: {0}")]
    SpawnFailed(String),
    /// The CLI did not become ready in time.
    #[error("the agent did not start within {0} s")]
    StartTimeout(u64),
    /// The process is gone.
    #[error("the agent process has exited")]
    Exited,
    /// Writing to the process failed.
    #[error("cannot write to the agent: {0}")]
    Io(String),
    /// The CLI is not installed or not runnable.
    #[error("agent CLI unavailable: {0}")]
    Unavailable(String),
}

/// What to start.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentLaunch {
    /// The session (its id is the CLI's session id).
    pub session: NewSession,
    /// `--resume` (an existing conversation) instead of `--session-id` (a new one).
    pub resume: bool,
    /// Tool rules allowed for this process only (deny-then-resume after an approval).
    pub extra_allowed_tools: Vec<String>,
    /// Rules the CLI must ask about even when it would allow the call by itself (the
    /// server's deny and ask rules for the session's directory): asked, Orchestra's policy
    /// judges the call.
    pub ask_rules: Vec<String>,
    /// The W3C `traceparent` of the span that starts it (`TRACEPARENT` in its environment:
    /// the CLI's own spans join that trace when its telemetry is on).
    pub traceparent: Option<String>,
}

/// A tool call the CLI denied, from a result's `permission_denials`.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionDenial {
    /// The tool.
    pub tool_name: String,
    /// Its `tool_use_id`.
    pub tool_use_id: String,
    /// Its input.
    pub tool_input: Value,
}

/// A turn's result line, normalized.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnReport {
    /// `success`, `error_during_execution`, ...
    pub subtype: String,
    /// Whether it is an error (API errors come as `success` with `is_error`).
    pub is_error: bool,
    /// The final text.
    pub result: Option<String>,
    /// `total_cost_usd`.
    pub cost_usd: Option<f64>,
    /// `duration_ms`.
    pub duration_ms: Option<i64>,
    /// `duration_api_ms`.
    pub duration_api_ms: Option<i64>,
    /// `num_turns` (messages exchanged).
    pub num_turns: Option<i64>,
    /// `terminal_reason`.
    pub terminal_reason: Option<String>,
    /// `api_error_status`.
    pub api_error_status: Option<i64>,
    /// `errors`.
    pub errors: Vec<String>,
    /// `permission_denials`.
    pub permission_denials: Vec<PermissionDenial>,
    /// The CLI's session id.
    pub session_id: Option<String>,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitReport {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Whether Orchestra asked it to stop.
    pub requested: bool,
    /// The stop-ladder step that ended it (`eof`, `sigint`, `sigterm`, `sigkill`), if stopped.
    pub stop_step: Option<String>,
    /// The last lines of its stderr.
    pub stderr_tail: String,
    /// Orphaned tool processes that were killed after it ended.
    pub orphans_killed: usize,
}

impl ExitReport {
    /// A one-line description (`exited with code 1`, `killed by signal 9`).
    pub fn describe(&self) -> String {
        let how = match (self.code, self.signal) {
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "ended".to_owned(),
        };
        let tail = self.stderr_tail.trim();
        if tail.is_empty() {
            how
        } else {
            let tail: String = tail
                .chars()
                .rev()
                .take(400)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{how}; stderr: {tail}")
        }
    }
}

/// What the agent did, normalized from the CLI's stream-json lines.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// `system/init`: a turn began.
    Init {
        /// The CLI's session id.
        session_id: String,
        /// The model.
        model: Option<String>,
        /// The tools on offer.
        tools: Vec<String>,
        /// The CLI version.
        version: Option<String>,
    },
    /// Assistant text.
    AssistantText {
        /// The text.
        text: String,
    },
    /// Assistant thinking.
    Thinking {
        /// The text.
        text: String,
    },
    /// The assistant asks for a tool.
    ToolUse {
        /// `tool_use_id`.
        id: String,
        /// Tool name.
        name: String,
        /// Tool input.
        input: Value,
    },
    /// A tool's result (or its denial).
    ToolResult {
        /// `tool_use_id`.
        tool_use_id: String,
        /// The result text (truncated for very large results).
        content: String,
        /// Whether it is an error or a denial.
        is_error: bool,
    },
    /// The CLI retries a failed API call.
    ApiRetry {
        /// Attempt number.
        attempt: i64,
        /// Attempts allowed.
        max_retries: i64,
        /// Delay before the retry.
        delay_ms: i64,
        /// HTTP status of the failure.
        error_status: Option<i64>,
    },
    /// The CLI asks whether a tool may run (`can_use_tool`).
    PermissionRequest {
        /// The control request id to answer.
        request_id: String,
        /// Tool name.
        tool_name: String,
        /// Tool input.
        input: Value,
        /// `tool_use_id`.
        tool_use_id: Option<String>,
        /// What the tool call does, in the CLI's words.
        description: Option<String>,
        /// The allow rules the CLI proposes for calls like this one (`Bash(npm test:*)`).
        suggested_rules: Vec<String>,
    },
    /// The CLI denied a tool without asking (`system/permission_denied`).
    PermissionDenied {
        /// Tool name.
        tool_name: String,
        /// `tool_use_id`.
        tool_use_id: Option<String>,
        /// Why.
        message: Option<String>,
    },
    /// A control request on a line over the length limit, answered by the connector without
    /// being read whole: a `can_use_tool` is denied (no human is asked about an input nobody
    /// can be shown), anything else refused.
    OversizedRequest {
        /// The CLI's request id.
        request_id: String,
        /// The tool, when known.
        tool_name: Option<String>,
        /// Its `tool_use_id`, when known (its denial in the result is Orchestra's own).
        tool_use_id: Option<String>,
        /// What was done and why.
        reason: String,
        /// The line's first bytes.
        preview: String,
    },
    /// The turn's result.
    Result(TurnReport),
    /// A line of a type or subtype Orchestra does not interpret, kept as it came.
    Other {
        /// `type`.
        kind: String,
        /// `subtype`.
        subtype: Option<String>,
        /// The whole line.
        raw: Value,
    },
    /// A line that is not JSON (or too long); counted and logged, not fatal.
    Garbage {
        /// The first bytes, for the log.
        preview: String,
        /// What was wrong.
        reason: String,
    },
    /// The process ended. Always the last event.
    Exited(ExitReport),
}

impl AgentEvent {
    /// A short type name for logs and SSE (`assistant_text`, `tool_use`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Init { .. } => "init",
            Self::AssistantText { .. } => "assistant_text",
            Self::Thinking { .. } => "thinking",
            Self::ToolUse { .. } => "tool_use",
            Self::ToolResult { .. } => "tool_result",
            Self::ApiRetry { .. } => "api_retry",
            Self::PermissionRequest { .. } => "permission_request",
            Self::PermissionDenied { .. } => "permission_denied",
            Self::Result(_) => "result",
            Self::Other { .. } => "other",
            Self::Garbage { .. } => "garbage",
            Self::OversizedRequest { .. } => "oversized_request",
            Self::Exited(_) => "exited",
        }
    }
}

/// An answer to a permission request.
#[derive(Debug, Clone, PartialEq)]
pub enum PermissionAnswer {
    /// Run it, possibly with edited input.
    Allow {
        /// Input to use instead.
        updated_input: Option<Value>,
    },
    /// Do not run it; `message` is what the model is told.
    Deny {
        /// Told to the model.
        message: String,
        /// Also stop the turn.
        interrupt: bool,
    },
}

/// A running agent process.
#[async_trait]
pub trait AgentProcess: Send + Sync + std::fmt::Debug {
    /// The OS process id.
    fn pid(&self) -> Option<u32>;

    /// Sends a user message (starts a turn).
    ///
    /// # Errors
    /// `Exited` or `Io` when the message cannot be written.
    async fn send_user_message(&self, text: &str) -> Result<(), RuntimeError>;

    /// Interrupts the running turn (the CLI answers with an aborted result).
    ///
    /// # Errors
    /// `Exited` or `Io`.
    async fn interrupt(&self) -> Result<(), RuntimeError>;

    /// Answers a `can_use_tool` request.
    ///
    /// # Errors
    /// `Exited` or `Io`.
    async fn answer_permission(
        &self,
        request_id: &str,
        answer: PermissionAnswer,
    ) -> Result<(), RuntimeError>;

    /// Stops the process with the stop ladder (interrupt, stdin EOF, SIGINT, SIGTERM,
    /// SIGKILL; then orphaned tool processes) and reports how it ended. Idempotent.
    async fn stop(&self) -> ExitReport;
}

/// A started agent: its process and its event stream (ends with [`AgentEvent::Exited`]).
#[derive(Debug)]
pub struct SpawnedAgent {
    /// The process.
    pub process: std::sync::Arc<dyn AgentProcess>,
    /// Its events.
    pub events: mpsc::Receiver<AgentEvent>,
}

/// An agent installation found by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInstallation {
    /// The agent id (`claude-code`).
    pub id: String,
    /// The binary.
    pub path: String,
    /// Its version (`2.1.328`).
    pub version: Option<String>,
    /// Whether it runs.
    pub available: bool,
    /// Why not.
    pub error: Option<String>,
}

/// What the orphan sweep found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrphanReport {
    /// Processes of an earlier Orchestra found.
    pub found: usize,
    /// Processes stopped.
    pub stopped: usize,
}

/// Starts agents.
#[async_trait]
pub trait AgentRuntime: Send + Sync + std::fmt::Debug {
    /// Starts the CLI for a session and waits until it is ready.
    ///
    /// # Errors
    /// `SpawnFailed`, `StartTimeout`, `Unavailable`.
    async fn spawn(&self, launch: AgentLaunch) -> Result<SpawnedAgent, RuntimeError>;

    /// Finds the CLI and its version.
    async fn discover(&self) -> AgentInstallation;

    /// Checks that `path` is an existing directory the agent can work in; returns its
    /// canonical form.
    ///
    /// # Errors
    /// A message saying what is wrong with the path.
    async fn check_working_directory(&self, path: &str) -> Result<String, String>;

    /// Finds and stops agent processes left by an earlier Orchestra of this node (after a
    /// crash or `kill -9`), without touching anything else.
    async fn reap_orphans(&self) -> OrphanReport;
}
