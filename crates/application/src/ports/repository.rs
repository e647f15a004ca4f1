//! The repository ports: approvals, sessions, turns and channel state, with paging and errors.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orchestra_domain::{
    AgentSession, ApprovalId, ApprovalKind, ApprovalRequest, ApprovalStatus, Decision, SessionId,
    SessionStatus, TurnTotals,
};

/// Why a repository call failed. Adapters map their driver errors to these at the seam.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or a version check refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or the query failed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored row cannot be turned into a domain value.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl RepositoryError {
    /// Whether the row was missing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }

    /// Whether a uniqueness or version rule refused the write.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict(_))
    }
}

/// Which slice of a list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u32,
}

impl PageRequest {
    /// The largest page a caller may ask for.
    pub const MAX_LIMIT: u32 = 1000;
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: u32 = 50;
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// One page of a list, with the total count of matching rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// How many rows match in all.
    pub total: u64,
    /// The request that produced this page.
    pub request: PageRequest,
}

/// Filters for listing approvals. `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalFilter {
    /// Only this status.
    pub status: Option<ApprovalStatus>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only this kind.
    pub kind: Option<ApprovalKind>,
    /// Oldest first (the default is newest first).
    pub oldest_first: bool,
}

/// What a compare-and-set decision did.
#[derive(Debug, Clone, PartialEq)]
pub enum DecideOutcome {
    /// This call decided it; here is the stored result.
    Decided(ApprovalRequest),
    /// It was not Pending any more; here is what it is now.
    NotPending(ApprovalRequest),
    /// There is no such approval.
    NotFound,
}

/// What one more yes did to an approval that needs several approvers.
#[derive(Debug, Clone, PartialEq)]
pub enum VoteOutcome {
    /// Recorded; it stays Pending for more.
    Recorded(ApprovalRequest),
    /// It was the last yes needed: decided, here is the stored result.
    Decided(ApprovalRequest),
    /// Not counted (decided already, or this approver said yes already).
    Refused(orchestra_domain::DecideApprovalError),
    /// There is no such approval.
    NotFound,
}

/// Stores approvals. Decisions are compare-and-set: only a Pending approval can be
/// decided, exactly once, even when several callers (REST, Telegram, the timeout sweeper,
/// other nodes) race.
#[async_trait]
pub trait ApprovalRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new approval.
    ///
    /// # Errors
    /// [`RepositoryError::Conflict`] when the id exists; `Unavailable` otherwise.
    async fn insert(&self, approval: &ApprovalRequest) -> Result<(), RepositoryError>;

    /// Reads one approval.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`; a missing row is `Ok(None)`.
    async fn find(&self, id: ApprovalId) -> Result<Option<ApprovalRequest>, RepositoryError>;

    /// Lists approvals, newest first.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn list(
        &self,
        filter: &ApprovalFilter,
        page: PageRequest,
    ) -> Result<Page<ApprovalRequest>, RepositoryError>;

    /// Applies `decision` if and only if the approval is still Pending, atomically; with
    /// `audit`, appends that audit event in the same transaction (both or neither).
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`; losing the race is `Ok(DecideOutcome::NotPending)`.
    async fn decide(
        &self,
        id: ApprovalId,
        decision: &Decision,
        audit: Option<&crate::audit::AuditRecord>,
    ) -> Result<DecideOutcome, RepositoryError>;

    /// One more yes, by `voter`, on an approval that needs several approvers, atomically:
    /// the approval is read as stored now, [`ApprovalRequest::vote`] says whether the vote is
    /// recorded (with `audit_vote`) or decides it as `approve` (with `audit_decide`), and
    /// that is stored.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn vote(
        &self,
        id: ApprovalId,
        voter: &str,
        approve: &Decision,
        audit_vote: Option<&crate::audit::AuditRecord>,
        audit_decide: Option<&crate::audit::AuditRecord>,
    ) -> Result<VoteOutcome, RepositoryError>;

    /// Expires, atomically, up to `limit` Pending approvals whose deadline is before
    /// `cutoff`, and returns them as they are now.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn expire_due(
        &self,
        cutoff: DateTime<Utc>,
        decided_at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError>;

    /// Records where the notifier delivered an approval's request: it is `sent` (or, when
    /// it was decided meanwhile, its update is due at once); failures are forgotten.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable` otherwise.
    async fn set_notification_ref(
        &self,
        id: ApprovalId,
        reference: &str,
    ) -> Result<(), RepositoryError>;

    /// Sets the notification state (`updated` after the chat shows the outcome, `disabled`
    /// with no channel); `updated` forgets failures.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn set_notification_state(
        &self,
        id: ApprovalId,
        state: orchestra_domain::NotificationState,
    ) -> Result<(), RepositoryError>;

    /// Records a failed delivery: one more attempt, its error, the next try at `retry_at`;
    /// with `give_up`, the state becomes `failed`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn record_notify_failure(
        &self,
        id: ApprovalId,
        error: &str,
        retry_at: DateTime<Utc>,
        give_up: bool,
    ) -> Result<(), RepositoryError>;

    /// Claims, atomically, up to `limit` approvals whose delivery is due at `now` (state
    /// `pending` or `update_pending`), leasing them until `lease_until` so no other node or
    /// pass takes the same delivery; returns them.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn claim_due_notifications(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError>;

    /// Makes due at `now` every delivery leased to a first attempt (none failed yet) that is
    /// not due yet: at start, this node's attempts in flight died with its last run. Returns
    /// how many.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn release_first_attempt_leases(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError>;

    /// How many approvals have a delivery due (state `pending` or `update_pending`).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count_notifications_due(&self) -> Result<u64, RepositoryError>;

    /// Claims the carrying out of a decision for `node` at `at`: `due` → `acting`, atomically.
    /// False when it is not due (another path or node has it, or it is done).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn claim_action(
        &self,
        id: ApprovalId,
        node: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Ends the carrying out of a decision: `acting` → `outcome` (`done`).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn finish_action(
        &self,
        id: ApprovalId,
        outcome: orchestra_domain::ActedOn,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError>;

    /// Up to `limit` decisions not acted on yet (`due`) that were made before `before`,
    /// oldest first.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn list_unacted(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError>;

    /// Marks `uncertain`, atomically, up to `limit` decisions left `acting` by `node` (an
    /// earlier run of this node) or by any node since before `stale_before`; returns them.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn abandon_actions(
        &self,
        node: &str,
        stale_before: DateTime<Utc>,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError>;

    /// Counts approvals by status.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count_by_status(&self, status: ApprovalStatus) -> Result<u64, RepositoryError>;

    /// Claims, atomically, up to `limit` Pending approvals that expire before `before` and
    /// have not been warned about yet (marks them warned at `now`); returns them.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn claim_expiry_warnings(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError>;

    /// Claims, atomically, up to `limit` Pending approvals of risk `high` or `critical`
    /// created before `created_before` and not escalated yet (marks them escalated at
    /// `now`); returns them.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn claim_escalations(
        &self,
        created_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError>;

    /// Adds one more place the approval's message is (`telegram:<chat>:<message>`, after a
    /// space), without touching the others.
    ///
    /// # Errors
    /// `NotFound`; `Unavailable`.
    async fn add_notification_ref(
        &self,
        id: ApprovalId,
        reference: &str,
    ) -> Result<(), RepositoryError>;
}

/// Small key/value state of the human channels (the Telegram update offset).
#[async_trait]
pub trait ChannelStateRepository: Send + Sync + std::fmt::Debug {
    /// The value of `key`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn get(&self, key: &str) -> Result<Option<String>, RepositoryError>;

    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn set(&self, key: &str, value: &str, now: DateTime<Utc>) -> Result<(), RepositoryError>;
}

/// Filters for listing sessions. `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only this status.
    pub status: Option<SessionStatus>,
    /// Only this agent.
    pub agent_id: Option<String>,
}

/// Stores agent sessions. Status changes are optimistic: `update` succeeds only when the
/// stored version is the one the caller read.
#[async_trait]
pub trait SessionRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new session.
    ///
    /// # Errors
    /// [`RepositoryError::Conflict`] when the id exists; `Unavailable` otherwise.
    async fn insert(&self, session: &AgentSession) -> Result<(), RepositoryError>;

    /// Reads one session.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`; a missing row is `Ok(None)`.
    async fn find(&self, id: SessionId) -> Result<Option<AgentSession>, RepositoryError>;

    /// Lists sessions, newest first.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn list(
        &self,
        filter: &SessionFilter,
        page: PageRequest,
    ) -> Result<Page<AgentSession>, RepositoryError>;

    /// Stores `session` if the stored version is `expected_version`.
    ///
    /// # Errors
    /// `Conflict` when the version moved on, `NotFound` for an unknown id, `Unavailable` otherwise.
    async fn update(
        &self,
        session: &AgentSession,
        expected_version: i64,
    ) -> Result<(), RepositoryError>;

    /// Adds one turn's figures to the session's totals atomically (no version check: totals
    /// commute) and returns the session as stored.
    ///
    /// # Errors
    /// `NotFound` for an unknown id, `Unavailable` otherwise.
    async fn record_turn(
        &self,
        id: SessionId,
        turn: TurnTotals,
        now: DateTime<Utc>,
    ) -> Result<AgentSession, RepositoryError>;

    /// Counts sessions by status.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count_by_status(&self) -> Result<Vec<(SessionStatus, u64)>, RepositoryError>;
}

/// Stores turns.
#[async_trait]
pub trait TurnRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new turn.
    ///
    /// # Errors
    /// `Conflict` when the id or (session, seq) exists; `Unavailable` otherwise.
    async fn insert(&self, turn: &orchestra_domain::Turn) -> Result<(), RepositoryError>;

    /// Stores a finished turn's status and outcome.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable` otherwise.
    async fn update(&self, turn: &orchestra_domain::Turn) -> Result<(), RepositoryError>;

    /// Reads one turn.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn find(
        &self,
        id: orchestra_domain::TurnId,
    ) -> Result<Option<orchestra_domain::Turn>, RepositoryError>;

    /// Lists a session's turns, newest first.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn list(
        &self,
        session: SessionId,
        page: PageRequest,
    ) -> Result<Page<orchestra_domain::Turn>, RepositoryError>;

    /// The highest turn number of a session (0 when none).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn last_seq(&self, session: SessionId) -> Result<i64, RepositoryError>;

    /// Marks every Running turn of the given sessions (all sessions when `None`) as `Lost`
    /// with `reason`; returns the session of each turn it marked.
    ///
    /// # Errors
    /// `Unavailable`; `Corrupt` for a stored session id that is not a UUID.
    async fn abandon_running(
        &self,
        sessions: Option<&[SessionId]>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, RepositoryError>;
}
