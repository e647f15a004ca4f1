//! The diesel repositories. One code path for both backends.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use orchestra_application::ports::{
    ApprovalFilter, ApprovalRepository, DecideOutcome, Page, PageRequest, RepositoryError,
    SessionFilter, SessionRepository, TurnRepository,
};
use orchestra_domain::{
    AgentSession, ApprovalId, ApprovalRequest, ApprovalStatus, Decision, SessionId, SessionStatus,
    TurnTotals,
};

use super::models::{ApprovalRow, SessionRow, TurnProgress, TurnRow, to_naive};
use super::schema::{approvals, sessions, turns};
use super::{Database, DbConn, map_diesel};

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

fn offset_limit(page: PageRequest) -> (i64, i64) {
    (
        i64::try_from(page.offset).unwrap_or(i64::MAX),
        i64::from(page.limit),
    )
}

fn to_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Approvals in SQL.
#[derive(Debug, Clone)]
pub struct DieselApprovalRepository {
    db: Database,
}

impl DieselApprovalRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn load_approval(conn: &mut DbConn, id: &str) -> Result<Option<ApprovalRequest>, RepositoryError> {
    approvals::table
        .find(id)
        .select(ApprovalRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_diesel)?
        .map(ApprovalRequest::try_from)
        .transpose()
}

/// Runs an `UPDATE approvals ... RETURNING id` built by `sql` from the backend's three
/// placeholders (bound to `set_at`, `cutoff` and `limit`, in that order), then loads the
/// approvals it changed. One statement, so it is atomic on both backends and takes
/// SQLite's write lock at once (a read-then-write transaction could fail with
/// SQLITE_BUSY).
fn claim_approvals(
    conn: &mut DbConn,
    sql: &dyn Fn([&str; 3]) -> String,
    set_at: NaiveDateTime,
    cutoff: NaiveDateTime,
    limit: u32,
) -> Result<Vec<ApprovalRequest>, RepositoryError> {
    let rows: Vec<IdRow> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql(["?", "?", "?"]))
            .bind::<Timestamp, _>(set_at)
            .bind::<Timestamp, _>(cutoff)
            .bind::<BigInt, _>(i64::from(limit))
            .load(c),
        DbConn::Postgresql(c) => diesel::sql_query(sql(["$1", "$2", "$3"]))
            .bind::<Timestamp, _>(set_at)
            .bind::<Timestamp, _>(cutoff)
            .bind::<BigInt, _>(i64::from(limit))
            .load(c),
    }
    .map_err(map_diesel)?;
    let ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    approvals::table
        .filter(approvals::id.eq_any(&ids))
        .select(ApprovalRow::as_select())
        .load::<ApprovalRow>(conn)
        .map_err(map_diesel)?
        .into_iter()
        .map(ApprovalRequest::try_from)
        .collect()
}

#[async_trait]
impl ApprovalRepository for DieselApprovalRepository {
    async fn insert(&self, approval: &ApprovalRequest) -> Result<(), RepositoryError> {
        let row = ApprovalRow::from(approval);
        self.db
            .run("approvals.insert", move |conn| {
                diesel::insert_into(approvals::table)
                    .values(&row)
                    .execute(conn)
                    .map(|_| ())
                    .map_err(map_diesel)
            })
            .await
    }

    async fn find(&self, id: ApprovalId) -> Result<Option<ApprovalRequest>, RepositoryError> {
        let id = id.to_string();
        self.db
            .run("approvals.find", move |conn| load_approval(conn, &id))
            .await
    }

    async fn list(
        &self,
        filter: &ApprovalFilter,
        page: PageRequest,
    ) -> Result<Page<ApprovalRequest>, RepositoryError> {
        let filter = filter.clone();
        self.db
            .run("approvals.list", move |conn| {
                let build = || {
                    let mut q = approvals::table.into_boxed();
                    if let Some(status) = filter.status {
                        q = q.filter(approvals::status.eq(status.as_str()));
                    }
                    if let Some(kind) = filter.kind {
                        q = q.filter(approvals::kind.eq(kind.as_str()));
                    }
                    if let Some(session) = &filter.session_id {
                        q = q.filter(approvals::session_id.eq(session.clone()));
                    }
                    q
                };
                let total: i64 = build().count().get_result(conn).map_err(map_diesel)?;
                let (offset, limit) = offset_limit(page);
                let rows: Vec<ApprovalRow> = build()
                    .order((approvals::created_at.desc(), approvals::id.desc()))
                    .offset(offset)
                    .limit(limit)
                    .select(ApprovalRow::as_select())
                    .load(conn)
                    .map_err(map_diesel)?;
                let items = rows
                    .into_iter()
                    .map(ApprovalRequest::try_from)
                    .collect::<Result<_, _>>()?;
                Ok(Page {
                    items,
                    total: to_count(total),
                    request: page,
                })
            })
            .await
    }

    async fn decide(
        &self,
        id: ApprovalId,
        decision: &Decision,
    ) -> Result<DecideOutcome, RepositoryError> {
        let id = id.to_string();
        let status = decision.outcome.status().as_str();
        let decided_by = decision.decided_by.clone();
        let decided_at = to_naive(decision.decided_at);
        let reason = decision.reason.clone();
        let updated_input = decision.updated_input.as_ref().map(ToString::to_string);
        let scope = decision.scope.as_str();
        self.db
            .run("approvals.decide", move |conn| {
                // The compare-and-set: only a Pending row changes, in one statement.
                let changed = diesel::update(
                    approvals::table
                        .filter(approvals::id.eq(&id))
                        .filter(approvals::status.eq(ApprovalStatus::Pending.as_str())),
                )
                .set((
                    approvals::status.eq(status),
                    approvals::decided_by.eq(decided_by),
                    approvals::decided_at.eq(decided_at),
                    approvals::reason.eq(reason),
                    approvals::updated_input.eq(updated_input),
                    approvals::scope.eq(scope),
                ))
                .execute(conn)
                .map_err(map_diesel)?;
                Ok(match (changed, load_approval(conn, &id)?) {
                    (_, None) => DecideOutcome::NotFound,
                    (1, Some(a)) => DecideOutcome::Decided(a),
                    (_, Some(a)) => DecideOutcome::NotPending(a),
                })
            })
            .await
    }

    async fn expire_due(
        &self,
        cutoff: DateTime<Utc>,
        decided_at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let cutoff = to_naive(cutoff);
        let decided_at = to_naive(decided_at);
        self.db
            .run("approvals.expire_due", move |conn| {
                // `status = Pending` is checked again by the UPDATE itself: on PostgreSQL a
                // concurrent sweeper that picked the same rows skips those another committed.
                let sql = |p: [&str; 3]| {
                    format!(
                        "UPDATE approvals SET status = 'Expired', decided_by = 'system:timeout', decided_at = {}, \
                         reason = 'no decision before the deadline' \
                         WHERE status = 'Pending' AND id IN (SELECT id FROM approvals WHERE status = 'Pending' \
                         AND expires_at < {} ORDER BY expires_at LIMIT {}) RETURNING id",
                        p[0], p[1], p[2]
                    )
                };
                claim_approvals(conn, &sql, decided_at, cutoff, limit)
            })
            .await
    }

    async fn set_notification_ref(
        &self,
        id: ApprovalId,
        reference: &str,
    ) -> Result<(), RepositoryError> {
        let id = id.to_string();
        let reference = reference.to_owned();
        self.db
            .run("approvals.set_notification_ref", move |conn| {
                let n = diesel::update(approvals::table.find(&id))
                    .set(approvals::notification_ref.eq(reference))
                    .execute(conn)
                    .map_err(map_diesel)?;
                if n == 0 {
                    Err(RepositoryError::NotFound)
                } else {
                    Ok(())
                }
            })
            .await
    }

    async fn count_by_status(&self, status: ApprovalStatus) -> Result<u64, RepositoryError> {
        self.db
            .run("approvals.count", move |conn| {
                approvals::table
                    .filter(approvals::status.eq(status.as_str()))
                    .count()
                    .get_result::<i64>(conn)
                    .map(to_count)
                    .map_err(map_diesel)
            })
            .await
    }

    async fn claim_expiry_warnings(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let before = to_naive(before);
        let now = to_naive(now);
        self.db
            .run("approvals.claim_expiry_warnings", move |conn| {
                let sql = |p: [&str; 3]| {
                    format!(
                        "UPDATE approvals SET warned_at = {} WHERE status = 'Pending' AND warned_at IS NULL \
                         AND id IN (SELECT id FROM approvals WHERE status = 'Pending' AND warned_at IS NULL \
                         AND expires_at < {} ORDER BY expires_at LIMIT {}) RETURNING id",
                        p[0], p[1], p[2]
                    )
                };
                claim_approvals(conn, &sql, now, before, limit)
            })
            .await
    }
}
/// Sessions in SQL.
#[derive(Debug, Clone)]
pub struct DieselSessionRepository {
    db: Database,
}

impl DieselSessionRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn load_session(conn: &mut DbConn, id: &str) -> Result<Option<AgentSession>, RepositoryError> {
    sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_diesel)?
        .map(AgentSession::try_from)
        .transpose()
}

#[async_trait]
impl SessionRepository for DieselSessionRepository {
    async fn insert(&self, session: &AgentSession) -> Result<(), RepositoryError> {
        let row = SessionRow::from(session);
        self.db
            .run("sessions.insert", move |conn| {
                diesel::insert_into(sessions::table)
                    .values(&row)
                    .execute(conn)
                    .map(|_| ())
                    .map_err(map_diesel)
            })
            .await
    }

    async fn find(&self, id: SessionId) -> Result<Option<AgentSession>, RepositoryError> {
        let id = id.to_string();
        self.db
            .run("sessions.find", move |conn| load_session(conn, &id))
            .await
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        page: PageRequest,
    ) -> Result<Page<AgentSession>, RepositoryError> {
        let filter = filter.clone();
        self.db
            .run("sessions.list", move |conn| {
                let build = || {
                    let mut q = sessions::table.into_boxed();
                    if let Some(status) = filter.status {
                        q = q.filter(sessions::status.eq(status.as_str()));
                    }
                    if let Some(agent) = &filter.agent_id {
                        q = q.filter(sessions::agent_id.eq(agent.clone()));
                    }
                    q
                };
                let total: i64 = build().count().get_result(conn).map_err(map_diesel)?;
                let (offset, limit) = offset_limit(page);
                let rows: Vec<SessionRow> = build()
                    .order((sessions::created_at.desc(), sessions::id.desc()))
                    .offset(offset)
                    .limit(limit)
                    .select(SessionRow::as_select())
                    .load(conn)
                    .map_err(map_diesel)?;
                let items = rows
                    .into_iter()
                    .map(AgentSession::try_from)
                    .collect::<Result<_, _>>()?;
                Ok(Page {
                    items,
                    total: to_count(total),
                    request: page,
                })
            })
            .await
    }

    async fn update(
        &self,
        session: &AgentSession,
        expected_version: i64,
    ) -> Result<(), RepositoryError> {
        let row = SessionRow::from(session);
        self.db
            .run("sessions.update", move |conn| {
                // Lifecycle fields only: totals are changed by `record_turn` alone, so a
                // status change never overwrites a concurrently recorded turn.
                let n = diesel::update(
                    sessions::table.filter(sessions::id.eq(&row.id)).filter(sessions::version.eq(expected_version)),
                )
                .set((
                    sessions::status.eq(&row.status),
                    sessions::last_error.eq(&row.last_error),
                    sessions::closed_at.eq(row.closed_at),
                    sessions::updated_at.eq(row.updated_at),
                    sessions::version.eq(row.version),
                    sessions::model.eq(&row.model),
                    sessions::permission_mode.eq(&row.permission_mode),
                    sessions::allowed_tools.eq(&row.allowed_tools),
                    sessions::disallowed_tools.eq(&row.disallowed_tools),
                ))
                .execute(conn)
                .map_err(map_diesel)?;
                if n == 1 {
                    return Ok(());
                }
                match sessions::table
                    .find(&row.id)
                    .select(sessions::version)
                    .first::<i64>(conn)
                    .optional()
                    .map_err(map_diesel)?
                {
                    None => Err(RepositoryError::NotFound),
                    Some(v) => Err(RepositoryError::Conflict(format!(
                        "session {} changed concurrently (version {v}, expected {expected_version})",
                        row.id
                    ))),
                }
            })
            .await
    }

    async fn record_turn(
        &self,
        id: SessionId,
        turn: TurnTotals,
        now: DateTime<Utc>,
    ) -> Result<AgentSession, RepositoryError> {
        let id = id.to_string();
        let cost = if turn.cost_usd.is_finite() && turn.cost_usd > 0.0 {
            turn.cost_usd
        } else {
            0.0
        };
        let duration = turn.duration_ms.max(0);
        let messages = turn.message_count.max(0);
        let now = to_naive(now);
        self.db
            .run("sessions.record_turn", move |conn| {
                let n = diesel::update(sessions::table.find(&id))
                    .set((
                        sessions::total_cost_usd.eq(sessions::total_cost_usd + cost),
                        sessions::total_duration_ms.eq(sessions::total_duration_ms + duration),
                        sessions::message_count.eq(sessions::message_count + messages),
                        sessions::turn_count.eq(sessions::turn_count + 1_i64),
                        sessions::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .map_err(map_diesel)?;
                if n == 0 {
                    return Err(RepositoryError::NotFound);
                }
                load_session(conn, &id)?.ok_or(RepositoryError::NotFound)
            })
            .await
    }

    async fn count_by_status(&self) -> Result<Vec<(SessionStatus, u64)>, RepositoryError> {
        self.db
            .run("sessions.count_by_status", move |conn| {
                let rows: Vec<(String, i64)> = sessions::table
                    .group_by(sessions::status)
                    .select((sessions::status, diesel::dsl::count_star()))
                    .load(conn)
                    .map_err(map_diesel)?;
                Ok(SessionStatus::ALL
                    .into_iter()
                    .map(|st| {
                        let n = rows
                            .iter()
                            .find(|(s, _)| s == st.as_str())
                            .map_or(0, |(_, n)| *n);
                        (st, to_count(n))
                    })
                    .collect())
            })
            .await
    }
}

/// Turns in SQL.
#[derive(Debug, Clone)]
pub struct DieselTurnRepository {
    db: Database,
}

impl DieselTurnRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl TurnRepository for DieselTurnRepository {
    async fn insert(&self, turn: &orchestra_domain::Turn) -> Result<(), RepositoryError> {
        let row = TurnRow::from(turn);
        self.db
            .run("turns.insert", move |conn| {
                diesel::insert_into(turns::table)
                    .values(&row)
                    .execute(conn)
                    .map(|_| ())
                    .map_err(map_diesel)
            })
            .await
    }

    async fn update(&self, turn: &orchestra_domain::Turn) -> Result<(), RepositoryError> {
        let id = turn.id().to_string();
        let progress = TurnProgress::from(turn);
        self.db
            .run("turns.update", move |conn| {
                let n = diesel::update(turns::table.find(&id))
                    .set(&progress)
                    .execute(conn)
                    .map_err(map_diesel)?;
                if n == 0 {
                    Err(RepositoryError::NotFound)
                } else {
                    Ok(())
                }
            })
            .await
    }

    async fn find(
        &self,
        id: orchestra_domain::TurnId,
    ) -> Result<Option<orchestra_domain::Turn>, RepositoryError> {
        let id = id.to_string();
        self.db
            .run("turns.find", move |conn| {
                turns::table
                    .find(&id)
                    .select(TurnRow::as_select())
                    .first(conn)
                    .optional()
                    .map_err(map_diesel)?
                    .map(orchestra_domain::Turn::try_from)
                    .transpose()
            })
            .await
    }

    async fn list(
        &self,
        session: SessionId,
        page: PageRequest,
    ) -> Result<Page<orchestra_domain::Turn>, RepositoryError> {
        let session = session.to_string();
        self.db
            .run("turns.list", move |conn| {
                let total: i64 = turns::table
                    .filter(turns::session_id.eq(&session))
                    .count()
                    .get_result(conn)
                    .map_err(map_diesel)?;
                let (offset, limit) = offset_limit(page);
                let rows: Vec<TurnRow> = turns::table
                    .filter(turns::session_id.eq(&session))
                    .order(turns::seq.desc())
                    .offset(offset)
                    .limit(limit)
                    .select(TurnRow::as_select())
                    .load(conn)
                    .map_err(map_diesel)?;
                let items = rows
                    .into_iter()
                    .map(orchestra_domain::Turn::try_from)
                    .collect::<Result<_, _>>()?;
                Ok(Page {
                    items,
                    total: to_count(total),
                    request: page,
                })
            })
            .await
    }

    async fn last_seq(&self, session: SessionId) -> Result<i64, RepositoryError> {
        let session = session.to_string();
        self.db
            .run("turns.last_seq", move |conn| {
                turns::table
                    .filter(turns::session_id.eq(&session))
                    .select(diesel::dsl::max(turns::seq))
                    .first::<Option<i64>>(conn)
                    .map(Option::unwrap_or_default)
                    .map_err(map_diesel)
            })
            .await
    }

    async fn abandon_running(
        &self,
        sessions_filter: Option<&[SessionId]>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let ids: Option<Vec<String>> =
            sessions_filter.map(|s| s.iter().map(ToString::to_string).collect());
        let reason = reason.to_owned();
        let now = to_naive(now);
        self.db
            .run("turns.abandon_running", move |conn| {
                let target = turns::table
                    .filter(turns::status.eq(orchestra_domain::TurnStatus::Running.as_str()));
                let set = (
                    turns::status.eq(orchestra_domain::TurnStatus::Lost.as_str()),
                    turns::error.eq(&reason),
                    turns::finished_at.eq(now),
                );
                let n = match &ids {
                    Some(ids) => diesel::update(target.filter(turns::session_id.eq_any(ids)))
                        .set(set)
                        .execute(conn),
                    None => diesel::update(target).set(set).execute(conn),
                }
                .map_err(map_diesel)?;
                Ok(n as u64)
            })
            .await
    }
}

/// Channel state (the Telegram update offset) in SQL.
#[derive(Debug, Clone)]
pub struct DieselChannelStateRepository {
    db: Database,
}

impl DieselChannelStateRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl orchestra_application::ports::ChannelStateRepository for DieselChannelStateRepository {
    async fn get(&self, key: &str) -> Result<Option<String>, RepositoryError> {
        let key = key.to_owned();
        self.db
            .run("channel_state.get", move |conn| {
                super::schema::channel_state::table
                    .find(&key)
                    .select(super::schema::channel_state::value)
                    .first::<String>(conn)
                    .optional()
                    .map_err(map_diesel)
            })
            .await
    }

    async fn set(&self, key: &str, value: &str, now: DateTime<Utc>) -> Result<(), RepositoryError> {
        let (key, value, now) = (key.to_owned(), value.to_owned(), to_naive(now));
        self.db
            .run("channel_state.set", move |conn| {
                // An upsert: the same statement on both backends, with their placeholders.
                let sql = |p: [&str; 3]| {
                    format!(
                        "INSERT INTO channel_state (key, value, updated_at) VALUES ({}, {}, {}) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                        p[0], p[1], p[2]
                    )
                };
                match conn {
                    DbConn::Sqlite(c) => diesel::sql_query(sql(["?", "?", "?"]))
                        .bind::<Text, _>(&key)
                        .bind::<Text, _>(&value)
                        .bind::<Timestamp, _>(now)
                        .execute(c),
                    DbConn::Postgresql(c) => diesel::sql_query(sql(["$1", "$2", "$3"]))
                        .bind::<Text, _>(&key)
                        .bind::<Text, _>(&value)
                        .bind::<Timestamp, _>(now)
                        .execute(c),
                }
                .map(|_| ())
                .map_err(map_diesel)
            })
            .await
    }
}
