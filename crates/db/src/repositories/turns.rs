//! Turns in SQL: the turn repository, including marking running turns lost.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use orchestra_application::ports::{Page, PageRequest, RepositoryError, TurnRepository};
use orchestra_domain::SessionId;

use super::{offset_limit, to_count};
use crate::models::{TurnProgress, TurnRow, to_naive};
use crate::schema::turns;
use crate::{Database, map_diesel};

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
            .write("turns.insert", move |conn| {
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
            .write("turns.update", move |conn| {
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
    ) -> Result<Vec<SessionId>, RepositoryError> {
        let ids: Option<Vec<String>> =
            sessions_filter.map(|s| s.iter().map(ToString::to_string).collect());
        let reason = reason.to_owned();
        let now = to_naive(now);
        self.db
            .write("turns.abandon_running", move |conn| {
                let target = turns::table
                    .filter(turns::status.eq(orchestra_domain::TurnStatus::Running.as_str()));
                let set = (
                    turns::status.eq(orchestra_domain::TurnStatus::Lost.as_str()),
                    turns::error.eq(&reason),
                    turns::finished_at.eq(now),
                );
                let sessions: Vec<String> = match &ids {
                    Some(ids) => diesel::update(target.filter(turns::session_id.eq_any(ids)))
                        .set(set)
                        .returning(turns::session_id)
                        .get_results(conn),
                    None => diesel::update(target)
                        .set(set)
                        .returning(turns::session_id)
                        .get_results(conn),
                }
                .map_err(map_diesel)?;
                sessions
                    .iter()
                    .map(|s| {
                        s.parse().map_err(|_| {
                            RepositoryError::Corrupt(format!("turn of session {s:?}: not a UUID"))
                        })
                    })
                    .collect()
            })
            .await
    }
}
