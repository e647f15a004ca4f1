//! Where the human channel stands with an approval: the notification outbox's state.
//!
//! `Pending` (the request is not delivered yet) → `Sent` → after the decision
//! `UpdatePending` (the message must show the outcome) → `Updated`. An approval decided
//! before its request was ever delivered goes `Pending` → `UpdatePending` too: the chat then
//! gets one message with the outcome, so no approval is unseen. `Failed`: the update gave up
//! after many attempts. `Disabled`: no channel is configured.

use std::fmt;
use std::str::FromStr;

/// Seconds the immediate delivery attempt (right after the insert, or the decision) has
/// before the outbox may try the same delivery: longer than the notifier's own retries, so
/// the two never send the same request twice.
pub const FIRST_ATTEMPT_LEASE_SECS: i64 = 15;

/// The outbox state of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotificationState {
    /// The request is not delivered yet (retried with backoff while the approval waits).
    #[default]
    Pending,
    /// The request is in the chat.
    Sent,
    /// Decided: the chat must be told (an edit, or a message if the request never went).
    UpdatePending,
    /// The chat shows the outcome.
    Updated,
    /// Gave up telling the chat the outcome.
    Failed,
    /// No human channel is configured.
    Disabled,
}

impl NotificationState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::UpdatePending => "update_pending",
            Self::Updated => "updated",
            Self::Failed => "failed",
            Self::Disabled => "disabled",
        }
    }

    /// The state after a decision: a delivered or undelivered request now needs the outcome
    /// shown; the others stay.
    pub fn after_decision(self) -> Self {
        match self {
            Self::Pending | Self::Sent => Self::UpdatePending,
            other => other,
        }
    }

    /// Whether the outbox still has something to deliver.
    pub fn is_due(self) -> bool {
        matches!(self, Self::Pending | Self::UpdatePending)
    }

    /// The API's word: `pending` (something is still to deliver), `sent` (the chat shows the
    /// latest state), `failed`, `disabled`.
    pub fn public(self) -> &'static str {
        match self {
            Self::Pending | Self::UpdatePending => "pending",
            Self::Sent | Self::Updated => "sent",
            Self::Failed => "failed",
            Self::Disabled => "disabled",
        }
    }
}

impl fmt::Display for NotificationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown stored notification state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown notification state `{0}`")]
pub struct ParseNotificationStateError(String);

impl FromStr for NotificationState {
    type Err = ParseNotificationStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Pending,
            Self::Sent,
            Self::UpdatePending,
            Self::Updated,
            Self::Failed,
            Self::Disabled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| ParseNotificationStateError(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_a_decision_makes_an_update_due() {
        for s in [
            "pending",
            "sent",
            "update_pending",
            "updated",
            "failed",
            "disabled",
        ] {
            assert_eq!(s.parse::<NotificationState>().unwrap().as_str(), s);
        }
        assert!("bogus".parse::<NotificationState>().is_err());
        assert_eq!(
            NotificationState::Pending.after_decision(),
            NotificationState::UpdatePending
        );
        assert_eq!(
            NotificationState::Sent.after_decision(),
            NotificationState::UpdatePending
        );
        assert_eq!(
            NotificationState::Disabled.after_decision(),
            NotificationState::Disabled
        );
        assert!(NotificationState::UpdatePending.is_due());
        assert_eq!(NotificationState::UpdatePending.public(), "pending");
    }
}
