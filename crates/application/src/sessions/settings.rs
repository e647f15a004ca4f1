//! The session side's limits and timeouts.

use std::time::Duration;

use orchestra_domain::PermissionMode;

/// Limits and timeouts of the session handlers.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// The agent id new sessions get.
    pub default_agent_id: String,
    /// Live CLI processes at most.
    pub max_live_processes: usize,
    /// How long a create or resume waits for a free process slot.
    pub spawn_queue_timeout: Duration,
    /// A running turn with no output for this long (no tool running) is hung.
    pub inactivity_timeout: Duration,
    /// The same while a tool runs (tools may be silent for long).
    pub tool_timeout: Duration,
    /// A session whose process runs no turn and waits on no human for this long has its
    /// process stopped (it stays Active; the next message resumes it). `None`: never.
    pub idle_suspend: Option<Duration>,
    /// Longest prompt, in characters.
    pub max_prompt_chars: usize,
    /// What each session's event log keeps for reconnecting clients.
    pub event_log: super::LogBounds,
    /// A session's event log unused this long (no process, no subscriber) is dropped.
    pub event_log_idle: Duration,
    /// Bytes the event logs of sessions without a process may hold together (the least
    /// recently used are dropped beyond it).
    pub idle_event_log_bytes: usize,
    /// Absolute directories a session may work in (and below); empty allows any.
    pub allowed_working_directories: Vec<String>,
    /// What a client may ask for.
    pub policy: SessionPolicy,
    /// What sessions may spend.
    pub budgets: BudgetSettings,
}

/// What sessions may spend (`[budgets]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetSettings {
    /// The budget of a session under no root below, USD (`None`: none).
    pub session_usd: Option<f64>,
    /// Budgets by working-directory root (`/srv/ci` -> 5.0): the longest root a session's
    /// directory is under decides; a client may ask for less, never more.
    pub roots: Vec<(String, f64)>,
    /// What the sessions one API key started may spend in a UTC day, USD (`None`: no cap).
    pub daily_key_usd: Option<f64>,
    /// The turn cap of a session under no root below (`None`: none).
    pub session_turns: Option<u32>,
    /// Turn caps by working-directory root (the longest root decides).
    pub root_turns: Vec<(String, u32)>,
}

impl BudgetSettings {
    /// The server's budget for a session working in `dir`.
    pub fn for_directory(&self, dir: &str) -> Option<f64> {
        self.longest_root(dir)
            .map(|(_, usd)| *usd)
            .or(self.session_usd)
    }

    /// The server's turn cap for a session working in `dir`.
    pub fn turns_for_directory(&self, dir: &str) -> Option<u32> {
        self.root_turns
            .iter()
            .filter(|(root, _)| super::validate::within_roots(dir, std::slice::from_ref(root)))
            .max_by_key(|(root, _)| root.len())
            .map(|(_, n)| *n)
            .or(self.session_turns)
    }

    /// The configured root `dir` is under (the longest), if any.
    pub fn root_of(&self, dir: &str) -> Option<&str> {
        self.longest_root(dir).map(|(root, _)| root.as_str())
    }

    fn longest_root(&self, dir: &str) -> Option<&(String, f64)> {
        self.roots
            .iter()
            .filter(|(root, _)| super::validate::within_roots(dir, std::slice::from_ref(root)))
            .max_by_key(|(root, _)| root.len())
    }
}

/// What a client may ask for when it starts a session; nothing it sends widens this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Permission modes a session may ask for.
    pub permission_modes: Vec<PermissionMode>,
    /// Tool rules a client may pre-allow, exactly as written.
    pub client_allowed_tools: Vec<String>,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            permission_modes: vec![PermissionMode::Default, PermissionMode::Plan],
            client_allowed_tools: vec!["Read".into(), "Glob".into(), "Grep".into()],
        }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            default_agent_id: "claude-code".into(),
            max_live_processes: 32,
            spawn_queue_timeout: Duration::from_secs(30),
            inactivity_timeout: Duration::from_secs(600),
            tool_timeout: Duration::from_secs(3600),
            idle_suspend: Some(Duration::from_secs(300)),
            max_prompt_chars: 100_000,
            event_log: super::LogBounds::default(),
            event_log_idle: Duration::from_secs(600),
            idle_event_log_bytes: 64 * 1024 * 1024,
            allowed_working_directories: Vec::new(),
            policy: SessionPolicy::default(),
            budgets: BudgetSettings::default(),
        }
    }
}
