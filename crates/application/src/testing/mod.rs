//! In-memory fakes of the ports, for handler tests here and for developers swapping
//! adapters in integration tests. They honour the ports' contracts (compare-and-set,
//! optimistic versions, ordering) so a test against them means something.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use orchestra_domain::{
    AgentSession, ApprovalId, ApprovalRequest, ApprovalStatus, SessionId, SessionStatus, Turn,
    TurnId, TurnStatus, TurnTotals,
};

use crate::ports::{
    ApprovalNotifier, Clock, DatabaseProbe, DatabaseStatus, NotifierStatus, NotifyError, Page,
    PageRequest, RepositoryError, SessionFilter, SessionRepository, TurnRepository,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// A clock at a fixed, arbitrary instant (2024-01-01T00:00:00Z).
    pub fn fixed() -> Self {
        Self::at(
            Utc.timestamp_opt(1_704_067_200, 0)
                .single()
                .unwrap_or_default(),
        )
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = lock(&self.now);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

fn page_of<T: Clone>(mut rows: Vec<T>, page: PageRequest) -> Page<T> {
    let total = rows.len() as u64;
    let start = usize::try_from(page.offset)
        .unwrap_or(usize::MAX)
        .min(rows.len());
    let items: Vec<T> = rows.drain(start..).take(page.limit as usize).collect();
    Page {
        items,
        total,
        request: page,
    }
}

/// Sessions in a map.
#[derive(Debug, Default)]
pub struct InMemorySessionRepository {
    rows: Mutex<HashMap<SessionId, AgentSession>>,
}

#[async_trait]
impl SessionRepository for InMemorySessionRepository {
    async fn insert(&self, session: &AgentSession) -> Result<(), RepositoryError> {
        let mut rows = lock(&self.rows);
        if rows.contains_key(&session.id()) {
            return Err(RepositoryError::Conflict(format!(
                "session {} exists",
                session.id()
            )));
        }
        rows.insert(session.id(), session.clone());
        Ok(())
    }

    async fn find(&self, id: SessionId) -> Result<Option<AgentSession>, RepositoryError> {
        Ok(lock(&self.rows).get(&id).cloned())
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        page: PageRequest,
    ) -> Result<Page<AgentSession>, RepositoryError> {
        let mut rows: Vec<AgentSession> = lock(&self.rows)
            .values()
            .filter(|s| filter.status.is_none_or(|st| s.status() == st))
            .filter(|s| {
                filter
                    .agent_id
                    .as_ref()
                    .is_none_or(|a| &s.spec().agent_id == a)
            })
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            b.created_at()
                .cmp(&a.created_at())
                .then(b.id().cmp(&a.id()))
        });
        Ok(page_of(rows, page))
    }

    async fn update(
        &self,
        session: &AgentSession,
        expected_version: i64,
    ) -> Result<(), RepositoryError> {
        let mut rows = lock(&self.rows);
        let row = rows
            .get_mut(&session.id())
            .ok_or(RepositoryError::NotFound)?;
        if row.version() != expected_version {
            return Err(RepositoryError::Conflict(format!(
                "session {} is at version {}, not {expected_version}",
                session.id(),
                row.version()
            )));
        }
        // Lifecycle only: totals belong to `record_turn` (as in the SQL adapter).
        let mut snapshot = session.snapshot().clone();
        snapshot.totals = row.totals();
        *row = AgentSession::restore(snapshot);
        Ok(())
    }

    async fn record_turn(
        &self,
        id: SessionId,
        turn: TurnTotals,
        now: DateTime<Utc>,
    ) -> Result<AgentSession, RepositoryError> {
        let mut rows = lock(&self.rows);
        let row = rows.get_mut(&id).ok_or(RepositoryError::NotFound)?;
        row.record_turn(turn, now);
        Ok(row.clone())
    }

    async fn count_by_status(&self) -> Result<Vec<(SessionStatus, u64)>, RepositoryError> {
        let rows = lock(&self.rows);
        Ok(SessionStatus::ALL
            .into_iter()
            .map(|st| {
                (
                    st,
                    rows.values().filter(|s| s.status() == st).count() as u64,
                )
            })
            .collect())
    }
}

/// A probe that answers from memory.
#[derive(Debug, Default)]
pub struct InMemoryDatabaseProbe;

#[async_trait]
impl DatabaseProbe for InMemoryDatabaseProbe {
    async fn status(&self) -> Result<DatabaseStatus, RepositoryError> {
        Ok(DatabaseStatus {
            backend: "memory",
            location: "memory".into(),
            connections_active: 0,
            connections_idle: 1,
            max_pool_size: 1,
            migration_version: None,
            applied_migrations: 0,
            pending_migrations: 0,
            server_version: None,
            latency: Duration::ZERO,
        })
    }

    async fn ping(&self) -> Result<Duration, RepositoryError> {
        Ok(Duration::ZERO)
    }
}

/// A notifier that records what it was asked to deliver and can be told to fail.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    pending: Mutex<Vec<ApprovalId>>,
    decided: Mutex<Vec<(ApprovalId, ApprovalStatus)>>,
    failing: Mutex<bool>,
}

impl RecordingNotifier {
    /// A shared recording notifier.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Makes every following call fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    /// The approvals delivered as Pending.
    pub fn pending(&self) -> Vec<ApprovalId> {
        lock(&self.pending).clone()
    }

    /// The decision updates delivered.
    pub fn decided(&self) -> Vec<(ApprovalId, ApprovalStatus)> {
        lock(&self.decided).clone()
    }
}

#[async_trait]
impl ApprovalNotifier for RecordingNotifier {
    async fn notify_pending(
        &self,
        approval: &ApprovalRequest,
    ) -> Result<Option<String>, NotifyError> {
        if *lock(&self.failing) {
            return Err(NotifyError::Failed("told to fail".into()));
        }
        lock(&self.pending).push(approval.id());
        Ok(Some(format!("recording:{}", approval.id())))
    }

    async fn notify_decided(&self, approval: &ApprovalRequest) -> Result<(), NotifyError> {
        if *lock(&self.failing) {
            return Err(NotifyError::Failed("told to fail".into()));
        }
        lock(&self.decided).push((approval.id(), approval.status()));
        Ok(())
    }

    fn status(&self) -> NotifierStatus {
        NotifierStatus {
            channel: "recording",
            enabled: true,
            healthy: !*lock(&self.failing),
            circuit_state: "Closed",
            last_error: None,
            details: Vec::new(),
        }
    }
}

/// Turns in a map.
#[derive(Debug, Default)]
pub struct InMemoryTurnRepository {
    rows: Mutex<HashMap<TurnId, Turn>>,
}

#[async_trait]
impl TurnRepository for InMemoryTurnRepository {
    async fn insert(&self, turn: &Turn) -> Result<(), RepositoryError> {
        let mut rows = lock(&self.rows);
        let dup = rows.values().any(|t| {
            t.session_id() == turn.session_id() && t.snapshot().seq == turn.snapshot().seq
        });
        if dup || rows.contains_key(&turn.id()) {
            return Err(RepositoryError::Conflict(format!(
                "turn {} exists",
                turn.id()
            )));
        }
        rows.insert(turn.id(), turn.clone());
        Ok(())
    }

    async fn update(&self, turn: &Turn) -> Result<(), RepositoryError> {
        let mut rows = lock(&self.rows);
        let row = rows.get_mut(&turn.id()).ok_or(RepositoryError::NotFound)?;
        *row = turn.clone();
        Ok(())
    }

    async fn find(&self, id: TurnId) -> Result<Option<Turn>, RepositoryError> {
        Ok(lock(&self.rows).get(&id).cloned())
    }

    async fn list(
        &self,
        session: SessionId,
        page: PageRequest,
    ) -> Result<Page<Turn>, RepositoryError> {
        let mut rows: Vec<Turn> = lock(&self.rows)
            .values()
            .filter(|t| t.session_id() == session)
            .cloned()
            .collect();
        rows.sort_by_key(|t| std::cmp::Reverse(t.snapshot().seq));
        Ok(page_of(rows, page))
    }

    async fn last_seq(&self, session: SessionId) -> Result<i64, RepositoryError> {
        Ok(lock(&self.rows)
            .values()
            .filter(|t| t.session_id() == session)
            .map(|t| t.snapshot().seq)
            .max()
            .unwrap_or(0))
    }

    async fn abandon_running(
        &self,
        sessions: Option<&[SessionId]>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, RepositoryError> {
        let mut lost = Vec::new();
        for t in lock(&self.rows).values_mut() {
            if t.status() == TurnStatus::Running
                && sessions.is_none_or(|s| s.contains(&t.session_id()))
            {
                let _ = t.abandon(TurnStatus::Lost, reason, now);
                lost.push(t.session_id());
            }
        }
        Ok(lost)
    }
}

mod approvals;
mod event_tails;
mod keys;
mod leases;
mod runtime;
mod transcripts;

pub use approvals::InMemoryApprovalRepository;
pub use event_tails::InMemoryEventTailRepository;
pub use keys::InMemoryApiKeyRepository;
pub use leases::InMemoryLeaseRepository;
pub use runtime::{FakeAgentProcess, FakeAgentRuntime, FakeInput};
pub use transcripts::{InMemoryTranscriptFiles, InMemoryTranscriptRepository};
