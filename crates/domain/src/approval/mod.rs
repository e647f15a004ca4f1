//! Approval requests: a tool call (or a test) waiting for a human decision.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::ids::ApprovalId;

/// Where an approval is in its life. Only `Pending` can change, and only once.
///
/// ```text
///   Pending --approve--> Approved
///   Pending --reject---> Rejected
///   Pending --expire---> Expired     (the deadline passed)
///   Pending --cancel---> Cancelled   (withdrawn: session closed, test cleaned up, ...)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    /// Waiting for a human.
    Pending,
    /// A human allowed it.
    Approved,
    /// A human refused it.
    Rejected,
    /// Nobody decided before the deadline.
    Expired,
    /// Withdrawn before anyone decided.
    Cancelled,
}

impl ApprovalStatus {
    /// Every status, in a stable order.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Expired,
        Self::Cancelled,
    ];

    /// The canonical name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
            Self::Expired => "Expired",
            Self::Cancelled => "Cancelled",
        }
    }

    /// Whether no further change is possible.
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`ApprovalStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown approval status `{0}` (expected Pending, Approved, Rejected, Expired or Cancelled)"
)]
pub struct ParseApprovalStatusError(String);

impl FromStr for ApprovalStatus {
    type Err = ParseApprovalStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseApprovalStatusError(s.chars().take(40).collect()))
    }
}

/// How a final decision came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionOutcome {
    /// Allowed.
    Approved,
    /// Refused.
    Rejected,
    /// Timed out.
    Expired,
    /// Withdrawn.
    Cancelled,
}

impl DecisionOutcome {
    /// The status an approval has after this outcome.
    pub fn status(self) -> ApprovalStatus {
        match self {
            Self::Approved => ApprovalStatus::Approved,
            Self::Rejected => ApprovalStatus::Rejected,
            Self::Expired => ApprovalStatus::Expired,
            Self::Cancelled => ApprovalStatus::Cancelled,
        }
    }

    /// Whether the tool may run.
    pub fn allows(self) -> bool {
        self == Self::Approved
    }
}

/// Why an approval exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalKind {
    /// A live `can_use_tool` prompt of a running agent.
    Live,
    /// A tool call the CLI already denied (`permission_denials`); approving resumes the session.
    Denial,
    /// Created by `POST /api/approvals/test` to check the escalation path.
    Test,
    /// A session spent its budget: approving raises it (`raiseUsd` in the input).
    Budget,
}

impl ApprovalKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 4] = [Self::Live, Self::Denial, Self::Test, Self::Budget];

    /// The canonical name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "Live",
            Self::Denial => "Denial",
            Self::Test => "Test",
            Self::Budget => "Budget",
        }
    }
}

impl FromStr for ApprovalKind {
    type Err = ParseApprovalStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseApprovalStatusError(s.chars().take(40).collect()))
    }
}

/// How far an approval reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ApprovalScope {
    /// This one tool call.
    #[default]
    Once,
    /// The approval's session rule (the CLI's suggestion) for the rest of the session.
    Session,
    /// A rule the approver named (or the suggestion), for the session or a time.
    Rule,
}

impl ApprovalScope {
    /// The canonical name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Once => "Once",
            Self::Session => "Session",
            Self::Rule => "Rule",
        }
    }
}

impl FromStr for ApprovalScope {
    type Err = ParseApprovalStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            v if v.eq_ignore_ascii_case("once") => Ok(Self::Once),
            v if v.eq_ignore_ascii_case("session") => Ok(Self::Session),
            v if v.eq_ignore_ascii_case("rule") => Ok(Self::Rule),
            other => Err(ParseApprovalStatusError(other.chars().take(40).collect())),
        }
    }
}

/// A final decision: who, what, when, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What was decided.
    pub outcome: DecisionOutcome,
    /// Who decided (`api`, `telegram:<user id>`, `system:timeout`, ...).
    pub decided_by: String,
    /// When.
    pub decided_at: DateTime<Utc>,
    /// Why, if given.
    pub reason: Option<String>,
    /// For an approval: the tool input to use instead of the requested one.
    pub updated_input: Option<Value>,
    /// For an approval: once, for the session, or for a rule.
    pub scope: ApprovalScope,
    /// For an approval with scope `Session` or `Rule`: what it allows beyond this call.
    pub grant: Option<crate::grant::GrantTerms>,
    /// For an approval that needed several approvers: each one's yes, in order (the last
    /// one made the decision). Empty when one approver was enough.
    pub votes: Vec<crate::vote::Vote>,
}

/// Why a decision was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideApprovalError {
    /// The approval was already decided; the first decision stands.
    #[error("approval was already decided: it is {current}")]
    AlreadyDecided {
        /// The status it has.
        current: ApprovalStatus,
    },
    /// This approver already said yes; another approver must.
    #[error("{by} already approved this; it needs {needed} different approvers")]
    AlreadyVoted {
        /// The approver.
        by: String,
        /// How many it needs.
        needed: u32,
    },
    /// The deadline passed; it can only expire now.
    #[error("approval expired at {expires_at}")]
    PastDeadline {
        /// The deadline.
        expires_at: DateTime<Utc>,
    },
}

/// The timeout rules for approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalTimeoutPolicy {
    /// Used when the request names no timeout.
    pub default_timeout: Duration,
    /// No approval waits longer than this.
    pub max_timeout: Duration,
    /// Extra time after the deadline before an approval is expired.
    pub grace: Duration,
}

impl Default for ApprovalTimeoutPolicy {
    fn default() -> Self {
        Self {
            default_timeout: Duration::minutes(30),
            max_timeout: Duration::minutes(120),
            grace: Duration::zero(),
        }
    }
}

impl ApprovalTimeoutPolicy {
    /// The deadline of an approval created at `created_at`, asking for `requested`
    /// (clamped to `1 s ..= max_timeout`).
    pub fn deadline(
        &self,
        created_at: DateTime<Utc>,
        requested: Option<Duration>,
    ) -> DateTime<Utc> {
        let timeout = requested.unwrap_or(self.default_timeout).clamp(
            Duration::seconds(1),
            self.max_timeout.max(Duration::seconds(1)),
        );
        created_at + timeout
    }

    /// Whether an approval with this deadline is due for expiry at `now`.
    pub fn is_due(&self, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now >= expires_at + self.grace
    }
}

/// What a new approval asks.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    /// The session that waits (an Orchestra session id or, for tests, any label).
    pub session_id: String,
    /// The agent that asks.
    pub agent_id: String,
    /// The tool it wants to use.
    pub tool_name: String,
    /// The tool's input.
    pub tool_input: Value,
    /// The CLI's `tool_use_id`, when known.
    pub tool_use_id: Option<String>,
    /// Why the approval exists.
    pub kind: ApprovalKind,
    /// A short human-readable description (the CLI's `description`).
    pub description: Option<String>,
    /// The rule an "allow for this session" decision grants (`Bash(npm test:*)`); `None`
    /// when the call can only be allowed once.
    pub session_rule: Option<String>,
    /// How much it matters, from the server's policy (`high` when no rule said).
    pub risk: crate::policy::RiskClass,
    /// The session's working directory when it asked (path rules are relative to it).
    pub working_directory: Option<String>,
    /// How many different approvers must say yes (1 for most; `approvals.critical_approvers`
    /// for a critical call). One no refuses it.
    pub approvals_needed: u32,
}

/// The stored form of an approval, for repositories.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalSnapshot {
    /// The id.
    pub id: ApprovalId,
    /// What was asked.
    pub request: NewApproval,
    /// The status.
    pub status: ApprovalStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its deadline.
    pub expires_at: DateTime<Utc>,
    /// The decision, once there is one.
    pub decision: Option<Decision>,
    /// Where the notifier delivered it (e.g. `telegram:<chat>:<message>`), once delivered.
    pub notification_ref: Option<String>,
    /// Where the human channel stands with it.
    pub notification: crate::NotificationState,
    /// Delivery attempts that failed since the last success.
    pub notify_attempts: i32,
    /// The last delivery failure, until a delivery succeeds.
    pub notify_error: Option<String>,
    /// Whether the decision has been carried out on the session.
    pub acted_on: crate::ActedOn,
    /// The yeses so far, while it needs more than one (kept once decided).
    pub votes: Vec<crate::vote::Vote>,
}

/// A tool call (or a test) waiting for a human decision.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRequest {
    state: ApprovalSnapshot,
}

impl ApprovalRequest {
    /// Opens a new Pending approval with the given deadline.
    pub fn open(
        id: ApprovalId,
        request: NewApproval,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            state: ApprovalSnapshot {
                id,
                request,
                status: ApprovalStatus::Pending,
                created_at: now,
                expires_at,
                decision: None,
                notification_ref: None,
                notification: crate::NotificationState::Pending,
                notify_attempts: 0,
                notify_error: None,
                acted_on: crate::ActedOn::Waiting,
                votes: Vec::new(),
            },
        }
    }

    /// Rebuilds an approval from its stored form.
    pub fn restore(snapshot: ApprovalSnapshot) -> Self {
        Self { state: snapshot }
    }

    /// The stored form.
    pub fn snapshot(&self) -> &ApprovalSnapshot {
        &self.state
    }

    /// The id.
    pub fn id(&self) -> ApprovalId {
        self.state.id
    }

    /// What was asked.
    pub fn request(&self) -> &NewApproval {
        &self.state.request
    }

    /// The status.
    pub fn status(&self) -> ApprovalStatus {
        self.state.status
    }

    /// Creation time.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.state.created_at
    }

    /// Deadline.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.state.expires_at
    }

    /// The decision, if any.
    pub fn decision(&self) -> Option<&Decision> {
        self.state.decision.as_ref()
    }

    /// Where the notifier delivered it.
    pub fn notification_ref(&self) -> Option<&str> {
        self.state.notification_ref.as_deref()
    }

    /// Records where the notifier delivered it.
    pub fn set_notification_ref(&mut self, reference: impl Into<String>) {
        self.state.notification_ref = Some(reference.into());
    }

    /// Where the human channel stands with it.
    pub fn notification(&self) -> crate::NotificationState {
        self.state.notification
    }

    /// Failed delivery attempts since the last success.
    pub fn notify_attempts(&self) -> i32 {
        self.state.notify_attempts
    }

    /// The last delivery failure, until a delivery succeeds.
    pub fn notify_error(&self) -> Option<&str> {
        self.state.notify_error.as_deref()
    }

    /// Whether the decision has been carried out on the session.
    pub fn acted_on(&self) -> crate::ActedOn {
        self.state.acted_on
    }

    /// The yeses so far (while it needs several approvers).
    pub fn votes(&self) -> &[crate::vote::Vote] {
        &self.state.votes
    }

    /// How many times what a decider sees of it has changed: 1 when opened, one more per
    /// vote, one more when it left Pending. A decision that names an older version (a page
    /// that showed a stale state) is refused.
    pub fn version(&self) -> u32 {
        let votes = u32::try_from(self.state.votes.len()).unwrap_or(u32::MAX - 2);
        1 + votes + u32::from(self.state.status != ApprovalStatus::Pending)
    }

    /// How many different approvers must say yes (at least 1).
    pub fn approvals_needed(&self) -> u32 {
        self.state.request.approvals_needed.max(1)
    }

    /// Checks that `outcome` may be applied now and builds the decision.
    ///
    /// Human outcomes (approve / reject) are refused past the deadline; expiry is refused
    /// before it. Cancellation is always possible while Pending.
    ///
    /// # Errors
    /// [`DecideApprovalError::AlreadyDecided`] when not Pending;
    /// [`DecideApprovalError::PastDeadline`] for a human decision after `expires_at + grace`.
    pub fn decide(
        &self,
        outcome: DecisionOutcome,
        decided_by: impl Into<String>,
        reason: Option<String>,
        now: DateTime<Utc>,
        policy: &ApprovalTimeoutPolicy,
    ) -> Result<Decision, DecideApprovalError> {
        if self.state.status != ApprovalStatus::Pending {
            return Err(DecideApprovalError::AlreadyDecided {
                current: self.state.status,
            });
        }
        let due = policy.is_due(self.state.expires_at, now);
        if matches!(
            outcome,
            DecisionOutcome::Approved | DecisionOutcome::Rejected
        ) && due
        {
            return Err(DecideApprovalError::PastDeadline {
                expires_at: self.state.expires_at,
            });
        }
        Ok(Decision {
            outcome,
            decided_by: decided_by.into(),
            decided_at: now,
            reason,
            updated_input: None,
            scope: ApprovalScope::Once,
            grant: None,
            votes: Vec::new(),
        })
    }

    /// Applies a decision built by [`Self::decide`] (after the repository accepted it).
    pub fn apply(&mut self, decision: Decision) {
        self.state.notification = self.state.notification.after_decision();
        self.state.acted_on =
            crate::ActedOn::after_decision(self.state.request.kind == ApprovalKind::Test);
        self.state.status = decision.outcome.status();
        self.state.decision = Some(decision);
    }
}

#[cfg(test)]
mod tests;
