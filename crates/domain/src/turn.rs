//! Turns: one prompt sent to an agent and what came of it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::ids::{SessionId, TurnId};
use crate::session::TurnTotals;

/// Where a turn is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnStatus {
    /// Sent; no result yet.
    Running,
    /// The CLI reported success.
    Completed,
    /// The CLI reported an error (an API error, max turns, ...), or the turn could not run.
    Failed,
    /// Stopped on request (interrupt, pause, close).
    Interrupted,
    /// The agent process went away without a result (crash, hang, restart of Orchestra).
    Lost,
}

impl TurnStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Interrupted,
        Self::Lost,
    ];

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Interrupted => "Interrupted",
            Self::Lost => "Lost",
        }
    }
}

impl fmt::Display for TurnStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not a [`TurnStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown turn status `{0}`")]
pub struct ParseTurnStatusError(String);

impl FromStr for TurnStatus {
    type Err = ParseTurnStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseTurnStatusError(s.chars().take(40).collect()))
    }
}

/// What the CLI's result line said about a turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnOutcome {
    /// The CLI's `subtype` (`success`, `error_during_execution`, `error_max_turns`, ...).
    pub subtype: String,
    /// The CLI's `is_error`.
    pub is_error: bool,
    /// The final text, when there is one.
    pub result_text: Option<String>,
    /// `terminal_reason` (`completed`, `aborted_tools`, `api_error`, ...).
    pub terminal_reason: Option<String>,
    /// The HTTP status of a failed API call.
    pub api_error_status: Option<i64>,
    /// Error strings the CLI gave.
    pub errors: Vec<String>,
    /// Cost, duration and messages.
    pub totals: TurnTotals,
    /// Time spent in the API, ms.
    pub duration_api_ms: i64,
    /// Tool calls the CLI denied in this turn.
    pub permission_denials: i64,
}

impl TurnOutcome {
    /// Classifies a result truthfully: the CLI reports API errors as `subtype: success` with
    /// `is_error: true`, and interrupts as `error_during_execution` / `aborted_tools`.
    pub fn status(&self, interrupt_requested: bool) -> TurnStatus {
        match (self.subtype.as_str(), self.is_error) {
            ("success", false) => TurnStatus::Completed,
            ("error_during_execution", _) if interrupt_requested => TurnStatus::Interrupted,
            _ => TurnStatus::Failed,
        }
    }

    /// A one-line reason for a failed turn.
    pub fn error_summary(&self) -> Option<String> {
        if !self.is_error && self.subtype == "success" {
            return None;
        }
        let mut parts = vec![format!("{} (is_error: {})", self.subtype, self.is_error)];
        if let Some(status) = self.api_error_status {
            parts.push(format!("API status {status}"));
        }
        if let Some(reason) = &self.terminal_reason {
            parts.push(reason.clone());
        }
        if self.is_error
            && let Some(text) = &self.result_text
        {
            parts.push(text.chars().take(500).collect());
        }
        parts.extend(
            self.errors
                .iter()
                .map(|e| e.chars().take(500).collect::<String>()),
        );
        Some(parts.join(": "))
    }
}

/// The stored form of a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnSnapshot {
    /// Id.
    pub id: TurnId,
    /// Session.
    pub session_id: SessionId,
    /// 1-based number within the session.
    pub seq: i64,
    /// The prompt.
    pub prompt: String,
    /// Status.
    pub status: TurnStatus,
    /// Sent at.
    pub started_at: DateTime<Utc>,
    /// Finished at.
    pub finished_at: Option<DateTime<Utc>>,
    /// The result, once there is one.
    pub outcome: Option<TurnOutcome>,
    /// Why it failed or was lost, in Orchestra's words.
    pub error: Option<String>,
}

/// One prompt and its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    state: TurnSnapshot,
}

/// A change to a turn that is already finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the turn is already {0}")]
pub struct TurnFinishedError(pub TurnStatus);

impl Turn {
    /// A new Running turn.
    pub fn start(
        id: TurnId,
        session_id: SessionId,
        seq: i64,
        prompt: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            state: TurnSnapshot {
                id,
                session_id,
                seq,
                prompt,
                status: TurnStatus::Running,
                started_at: now,
                finished_at: None,
                outcome: None,
                error: None,
            },
        }
    }

    /// Rebuilds a turn from storage.
    pub fn restore(snapshot: TurnSnapshot) -> Self {
        Self { state: snapshot }
    }

    /// The stored form.
    pub fn snapshot(&self) -> &TurnSnapshot {
        &self.state
    }

    /// Id.
    pub fn id(&self) -> TurnId {
        self.state.id
    }

    /// Session.
    pub fn session_id(&self) -> SessionId {
        self.state.session_id
    }

    /// Status.
    pub fn status(&self) -> TurnStatus {
        self.state.status
    }

    /// The result.
    pub fn outcome(&self) -> Option<&TurnOutcome> {
        self.state.outcome.as_ref()
    }

    fn require_running(&self) -> Result<(), TurnFinishedError> {
        if self.state.status == TurnStatus::Running {
            Ok(())
        } else {
            Err(TurnFinishedError(self.state.status))
        }
    }

    /// Records the CLI's result.
    ///
    /// # Errors
    /// [`TurnFinishedError`] when the turn already finished.
    pub fn finish(
        &mut self,
        outcome: TurnOutcome,
        interrupt_requested: bool,
        now: DateTime<Utc>,
    ) -> Result<TurnStatus, TurnFinishedError> {
        self.require_running()?;
        let status = outcome.status(interrupt_requested);
        self.state.error = if status == TurnStatus::Completed {
            None
        } else {
            outcome.error_summary()
        };
        self.state.status = status;
        self.state.outcome = Some(outcome);
        self.state.finished_at = Some(now);
        Ok(status)
    }

    /// Ends the turn without a result (`Lost`, `Failed` or `Interrupted`), with a reason.
    ///
    /// # Errors
    /// [`TurnFinishedError`] when the turn already finished.
    pub fn abandon(
        &mut self,
        status: TurnStatus,
        reason: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Result<(), TurnFinishedError> {
        self.require_running()?;
        self.state.status = if status == TurnStatus::Running || status == TurnStatus::Completed {
            TurnStatus::Lost
        } else {
            status
        };
        self.state.error = Some(reason.into());
        self.state.finished_at = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn outcome(subtype: &str, is_error: bool) -> TurnOutcome {
        TurnOutcome {
            subtype: subtype.into(),
            is_error,
            ..Default::default()
        }
    }

    #[test]
    fn an_api_error_reported_as_success_is_a_failed_turn() {
        let mut o = outcome("success", true);
        o.api_error_status = Some(500);
        o.result_text = Some("API Error: 500".into());
        assert_eq!(o.status(false), TurnStatus::Failed);
        assert!(o.error_summary().unwrap().contains("API status 500"));
        assert_eq!(
            outcome("success", false).status(false),
            TurnStatus::Completed
        );
        assert!(outcome("success", false).error_summary().is_none());
    }

    #[test]
    fn aborted_tools_is_interrupted_only_when_we_asked() {
        assert_eq!(
            outcome("error_during_execution", true).status(true),
            TurnStatus::Interrupted
        );
        assert_eq!(
            outcome("error_during_execution", true).status(false),
            TurnStatus::Failed
        );
        assert_eq!(
            outcome("error_max_turns", true).status(false),
            TurnStatus::Failed
        );
    }

    #[test]
    fn a_turn_finishes_once() {
        let mut turn = Turn::start(TurnId::new(), SessionId::new(), 1, "hi".into(), t(0));
        assert_eq!(
            turn.finish(outcome("success", false), false, t(1)).unwrap(),
            TurnStatus::Completed
        );
        assert_eq!(
            turn.finish(outcome("success", false), false, t(2)),
            Err(TurnFinishedError(TurnStatus::Completed))
        );
        assert!(turn.abandon(TurnStatus::Lost, "x", t(3)).is_err());
    }

    #[test]
    fn an_abandoned_turn_keeps_its_reason() {
        let mut turn = Turn::start(TurnId::new(), SessionId::new(), 1, "hi".into(), t(0));
        turn.abandon(TurnStatus::Lost, "process exited with code 3", t(1))
            .unwrap();
        assert_eq!(turn.status(), TurnStatus::Lost);
        assert_eq!(
            turn.snapshot().error.as_deref(),
            Some("process exited with code 3")
        );
    }
}
