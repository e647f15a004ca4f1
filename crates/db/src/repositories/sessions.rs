//! Sessions in SQL: the session repository with its optimistic-version update and turn totals.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use orchestra_application::ports::{
    Page, PageRequest, RepositoryError, SessionFilter, SessionRepository,
};
use orchestra_domain::{AgentSession, SessionId, SessionStatus, TurnTotals};

use super::{offset_limit, to_count};
use crate::models::{SessionRow, to_naive};
use crate::schema::sessions;
use crate::{Database, DbConn, map_diesel};

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
            .write("sessions.insert", move |conn| {
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
            .write("sessions.update", move |conn| {
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
                    sessions::budget_usd.eq(row.budget_usd),
                    sessions::turn_budget.eq(row.turn_budget),
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
            .write("sessions.record_turn", move |conn| {
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
