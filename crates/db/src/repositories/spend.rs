//! What the sessions one key started spent: a sum over their turns, in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Double, Text, Timestamp};
use orchestra_application::ports::{RepositoryError, SpendRepository};

use crate::models::to_naive;
use crate::{Database, DbConn, map_diesel};

/// Spend in SQL.
#[derive(Debug, Clone)]
pub struct DieselSpendRepository {
    db: Database,
}

impl DieselSpendRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[derive(QueryableByName)]
struct Usd {
    #[diesel(sql_type = Double)]
    usd: f64,
}

#[async_trait]
impl SpendRepository for DieselSpendRepository {
    async fn spent_by_key_since(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<f64, RepositoryError> {
        let key = key.to_owned();
        let since = to_naive(since);
        self.db
            .run("spend.by_key_since", move |conn| {
                let sql = |p: [&str; 2]| {
                    format!(
                        "SELECT CAST(COALESCE(SUM(t.cost_usd), 0) AS DOUBLE PRECISION) AS usd \
                         FROM turns t JOIN sessions s ON s.id = t.session_id \
                         WHERE s.created_by = {} AND t.started_at >= {}",
                        p[0], p[1]
                    )
                };
                let row: Usd = match conn {
                    DbConn::Sqlite(c) => diesel::sql_query(sql(["?1", "?2"]))
                        .bind::<Text, _>(&key)
                        .bind::<Timestamp, _>(since)
                        .get_result(c),
                    DbConn::Postgresql(c) => diesel::sql_query(sql(["$1", "$2"]))
                        .bind::<Text, _>(&key)
                        .bind::<Timestamp, _>(since)
                        .get_result(c),
                }
                .map_err(map_diesel)?;
                Ok(row.usd)
            })
            .await
    }
}
