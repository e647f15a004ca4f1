//! Channel state (the Telegram update offset) in SQL: a key-value get and upsert.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};
use orchestra_application::ports::RepositoryError;

use crate::models::to_naive;
use crate::{Database, DbConn, map_diesel};

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
                crate::schema::channel_state::table
                    .find(&key)
                    .select(crate::schema::channel_state::value)
                    .first::<String>(conn)
                    .optional()
                    .map_err(map_diesel)
            })
            .await
    }

    async fn set(&self, key: &str, value: &str, now: DateTime<Utc>) -> Result<(), RepositoryError> {
        let (key, value, now) = (key.to_owned(), value.to_owned(), to_naive(now));
        self.db
            .write("channel_state.set", move |conn| {
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
