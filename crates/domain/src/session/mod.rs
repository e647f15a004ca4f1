//! Agent sessions: one Claude Code conversation that Orchestra runs and accounts for.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::ids::SessionId;

/// Where a session is in its life.
///
/// ```text
///   Active --pause--> Paused --resume--> Active
///   Active --fail---> Failed --resume--> Active
///   Active | Paused | Failed --close--> Closed   (terminal)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    /// A process runs (or is being started) for this session.
    Active,
    /// Stopped on purpose; the conversation can be resumed.
    Paused,
    /// Ended; nothing more can happen.
    Closed,
    /// The process died or could not be started; the conversation can be resumed.
    Failed,
}

impl SessionStatus {
    /// Every status, in a stable order (used for metrics and filters).
    pub const ALL: [Self; 4] = [Self::Active, Self::Paused, Self::Closed, Self::Failed];

    /// The canonical name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Paused => "Paused",
            Self::Closed => "Closed",
            Self::Failed => "Failed",
        }
    }

    /// Whether the session can be resumed from this status.
    pub fn is_resumable(self) -> bool {
        matches!(self, Self::Paused | Self::Failed)
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`SessionStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown session status `{0}` (expected Active, Paused, Closed or Failed)")]
pub struct ParseSessionStatusError(String);

impl FromStr for SessionStatus {
    type Err = ParseSessionStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseSessionStatusError(s.chars().take(40).collect()))
    }
}

/// The CLI's permission mode (`--permission-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PermissionMode {
    /// Ask for anything not allowed by rules.
    #[default]
    Default,
    /// File edits inside the working directory are allowed without asking.
    AcceptEdits,
    /// Nothing is asked. Refused by the CLI as root unless sandboxed.
    BypassPermissions,
    /// Plan only; no tools that change anything.
    Plan,
}

impl PermissionMode {
    /// Every mode.
    pub const ALL: [Self; 4] = [
        Self::Default,
        Self::AcceptEdits,
        Self::BypassPermissions,
        Self::Plan,
    ];

    /// The CLI's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::AcceptEdits => "acceptEdits",
            Self::BypassPermissions => "bypassPermissions",
            Self::Plan => "plan",
        }
    }
}

impl fmt::Display for PermissionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission mode name the CLI does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission mode `{0}` (expected default, acceptEdits, bypassPermissions or plan)")]
pub struct ParsePermissionModeError(String);

impl FromStr for PermissionMode {
    type Err = ParsePermissionModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParsePermissionModeError(s.chars().take(40).collect()))
    }
}

/// What one turn's result adds to its session.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TurnTotals {
    /// Cost reported by the CLI for this turn, in US dollars.
    pub cost_usd: f64,
    /// Wall time of the turn as the CLI reports it, in milliseconds.
    pub duration_ms: i64,
    /// Messages exchanged in the turn (the CLI's `num_turns`).
    pub message_count: i64,
}

/// Running totals of a session.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SessionTotals {
    /// Total cost in US dollars.
    pub cost_usd: f64,
    /// Total turn time in milliseconds.
    pub duration_ms: i64,
    /// Total messages.
    pub message_count: i64,
    /// Number of turns that produced a result.
    pub turn_count: i64,
}

impl SessionTotals {
    fn add(&mut self, turn: TurnTotals) {
        // Negative or non-finite figures from a misbehaving CLI must not corrupt the totals.
        if turn.cost_usd.is_finite() && turn.cost_usd > 0.0 {
            self.cost_usd += turn.cost_usd;
        }
        self.duration_ms = self.duration_ms.saturating_add(turn.duration_ms.max(0));
        self.message_count = self.message_count.saturating_add(turn.message_count.max(0));
        self.turn_count = self.turn_count.saturating_add(1);
    }
}

/// A lifecycle step that is not allowed from the current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a session that is {from}")]
pub struct TransitionError {
    /// The status the session was in.
    pub from: SessionStatus,
    /// The attempted action (`pause`, `resume`, `close`, `fail`, `start a turn in`).
    pub action: &'static str,
}

/// Everything needed to start a new session.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// The session id (also the CLI's `--session-id`).
    pub id: SessionId,
    /// The agent that runs it (an agent profile name, `claude-code` by default).
    pub agent_id: String,
    /// Absolute working directory of the agent.
    pub working_directory: String,
    /// Model override, if any.
    pub model: Option<String>,
    /// Permission mode.
    pub permission_mode: PermissionMode,
    /// Tool rules that are allowed without asking (`--allowedTools`).
    pub allowed_tools: Vec<String>,
    /// Tool rules that are always refused (`--disallowedTools`).
    pub disallowed_tools: Vec<String>,
    /// Text appended to the system prompt.
    pub append_system_prompt: Option<String>,
    /// Maximum agentic turns per prompt.
    pub max_turns: Option<u32>,
    /// Who started it (`key:ci`); `None` for sessions from before this was recorded.
    pub created_by: Option<String>,
    /// The budget it started with, in USD (`None`: no budget); each budget approval raises
    /// the current one by this much.
    pub max_budget_usd: Option<f64>,
    /// The turns it started with (`None`: no cap); each budget approval raises the current
    /// cap by this many.
    pub max_session_turns: Option<u32>,
}

/// The stored form of a session, for repositories. Build one with
/// [`AgentSession::snapshot`] and turn it back with [`AgentSession::restore`].
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSnapshot {
    /// See [`NewSession`].
    pub spec: NewSession,
    /// Current status.
    pub status: SessionStatus,
    /// Running totals.
    pub totals: SessionTotals,
    /// Why the session failed last, if it did.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version, bumped by every lifecycle step (not by turn totals).
    pub version: i64,
    /// What it may spend in all, in USD, raised by approved budget approvals (`None`: no
    /// budget).
    pub budget_usd: Option<f64>,
    /// How many turns it may run in all, raised by approved budget approvals (`None`: no
    /// cap).
    pub turn_budget: Option<u32>,
}

/// One Claude Code conversation run by Orchestra.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSession {
    state: SessionSnapshot,
}

impl AgentSession {
    /// A new session, Active from the start (its process is started right after).
    pub fn start(spec: NewSession, now: DateTime<Utc>) -> Self {
        Self {
            state: SessionSnapshot {
                budget_usd: spec.max_budget_usd,
                turn_budget: spec.max_session_turns,
                spec,
                status: SessionStatus::Active,
                totals: SessionTotals::default(),
                last_error: None,
                created_at: now,
                updated_at: now,
                closed_at: None,
                version: 0,
            },
        }
    }

    /// Rebuilds a session from its stored form.
    pub fn restore(snapshot: SessionSnapshot) -> Self {
        Self { state: snapshot }
    }

    /// The stored form.
    pub fn snapshot(&self) -> &SessionSnapshot {
        &self.state
    }

    /// The id.
    pub fn id(&self) -> SessionId {
        self.state.spec.id
    }

    /// How the session was configured.
    pub fn spec(&self) -> &NewSession {
        &self.state.spec
    }

    /// The status.
    pub fn status(&self) -> SessionStatus {
        self.state.status
    }

    /// The totals.
    pub fn totals(&self) -> SessionTotals {
        self.state.totals
    }

    /// Why it failed last.
    pub fn last_error(&self) -> Option<&str> {
        self.state.last_error.as_deref()
    }

    /// Creation time.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.state.created_at
    }

    /// Last change.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.state.updated_at
    }

    /// Closing time.
    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.state.closed_at
    }

    /// Optimistic-concurrency version.
    pub fn version(&self) -> i64 {
        self.state.version
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.state.updated_at = now;
        self.state.version += 1;
    }

    fn require(
        &self,
        allowed: &[SessionStatus],
        action: &'static str,
    ) -> Result<(), TransitionError> {
        if allowed.contains(&self.state.status) {
            Ok(())
        } else {
            Err(TransitionError {
                from: self.state.status,
                action,
            })
        }
    }

    /// Whether a turn may be sent now.
    ///
    /// # Errors
    /// [`TransitionError`] unless the session is Active.
    pub fn ensure_accepts_turns(&self) -> Result<(), TransitionError> {
        self.require(&[SessionStatus::Active], "start a turn in")
    }

    /// Active -> Paused.
    ///
    /// # Errors
    /// [`TransitionError`] from any other status.
    pub fn pause(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.require(&[SessionStatus::Active], "pause")?;
        self.state.status = SessionStatus::Paused;
        self.touch(now);
        Ok(())
    }

    /// Active -> Paused by Orchestra itself, with the reason (kept in `last_error` until the
    /// session is resumed): a session parked while it waits for a human.
    ///
    /// # Errors
    /// [`TransitionError`] from any status but Active.
    pub fn park(
        &mut self,
        reason: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.pause(now)?;
        let mut reason: String = reason.into();
        truncate_chars(&mut reason, 2000);
        self.state.last_error = Some(reason);
        Ok(())
    }

    /// Paused | Failed -> Active.
    ///
    /// # Errors
    /// [`TransitionError`] from Active or Closed.
    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.require(&[SessionStatus::Paused, SessionStatus::Failed], "resume")?;
        self.state.status = SessionStatus::Active;
        self.state.last_error = None;
        self.touch(now);
        Ok(())
    }

    /// Active -> Failed, keeping the reason. The session stays resumable.
    ///
    /// # Errors
    /// [`TransitionError`] unless the session is Active.
    pub fn fail(
        &mut self,
        reason: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.require(&[SessionStatus::Active], "fail")?;
        self.state.status = SessionStatus::Failed;
        let mut reason: String = reason.into();
        truncate_chars(&mut reason, 2000);
        self.state.last_error = Some(reason);
        self.touch(now);
        Ok(())
    }

    /// Any status but Closed -> Closed.
    ///
    /// # Errors
    /// [`TransitionError`] when already Closed.
    pub fn close(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.require(
            &[
                SessionStatus::Active,
                SessionStatus::Paused,
                SessionStatus::Failed,
            ],
            "close",
        )?;
        self.state.status = SessionStatus::Closed;
        self.state.closed_at = Some(now);
        self.touch(now);
        Ok(())
    }

    /// Adds one turn's figures to the totals. Allowed in every status: the cost was
    /// incurred even when the result arrives while the session is being paused or closed.
    /// Totals commute, so this does not bump the version (only lifecycle steps do).
    pub fn record_turn(&mut self, turn: TurnTotals, now: DateTime<Utc>) {
        self.state.totals.add(turn);
        self.state.updated_at = now;
    }

    /// What it may spend in all, in USD (`None`: no budget).
    pub fn budget_usd(&self) -> Option<f64> {
        self.state.budget_usd
    }

    /// Whether it spent its budget: no next turn starts until a human raises it.
    pub fn budget_exhausted(&self) -> bool {
        self.state
            .budget_usd
            .is_some_and(|b| self.state.totals.cost_usd >= b)
    }

    /// How many turns it may run in all (`None`: no cap).
    pub fn turn_budget(&self) -> Option<u32> {
        self.state.turn_budget
    }

    /// Whether it ran all the turns its cap allows.
    pub fn turns_exhausted(&self) -> bool {
        self.state
            .turn_budget
            .is_some_and(|b| self.state.totals.turn_count >= i64::from(b))
    }

    /// Raises the turn cap to `by` more than the session ran (an approved budget approval;
    /// never lower than it was). No-op without a cap.
    pub fn raise_turns(&mut self, by: u32, now: DateTime<Utc>) {
        let ran = u32::try_from(self.state.totals.turn_count).unwrap_or(u32::MAX);
        if let Some(b) = &mut self.state.turn_budget
            && by > 0
        {
            *b = (*b).max(ran).saturating_add(by);
            self.touch(now);
        }
    }

    /// Raises the budget to `by` USD more than the session spent ("allow $5 more"; a turn
    /// that went past the budget is not taken out of the raise; never lower than it was).
    /// No-op without a budget or for a raise that is not positive.
    pub fn raise_budget(&mut self, by: f64, now: DateTime<Utc>) {
        let spent = self.state.totals.cost_usd;
        if let Some(b) = &mut self.state.budget_usd
            && by.is_finite()
            && by > 0.0
        {
            *b = b.max(spent) + by;
            self.touch(now);
        }
    }
}

fn truncate_chars(s: &mut String, max: usize) {
    if let Some((idx, _)) = s.char_indices().nth(max) {
        s.truncate(idx);
    }
}

#[cfg(test)]
mod tests;
