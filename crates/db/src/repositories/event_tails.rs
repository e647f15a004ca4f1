//! Event-log tails in SQL: one row per session, replaced on each save, DEFLATE-compressed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use orchestra_application::ports::{EventTailRepository, RepositoryError, StoredTail};
use orchestra_domain::SessionId;

use super::deflate::{compress, decompress};
use crate::models::to_naive;
use crate::schema::session_event_tails as t;
use crate::{Database, map_diesel};

/// Event-log tails in SQL.
#[derive(Debug, Clone)]
pub struct DieselEventTailRepository {
    db: Database,
}

impl DieselEventTailRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl EventTailRepository for DieselEventTailRepository {
    async fn save(
        &self,
        session: SessionId,
        tail: StoredTail,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        let session = session.to_string();
        let next_seq = i64::try_from(tail.next_seq)
            .map_err(|_| RepositoryError::Conflict("event sequence out of range".into()))?;
        let raw_len = i64::try_from(tail.events.len())
            .map_err(|_| RepositoryError::Conflict("event log tail too large".into()))?;
        let stored_at = to_naive(at);
        self.db
            .write("event_tails.save", move |conn| {
                let data = compress(&tail.events, "an event log tail")?;
                // Replace, in one transaction (diesel's upsert is not in the multi-backend
                // connection).
                crate::write_transaction(conn, |conn| {
                    diesel::delete(t::table.filter(t::session_id.eq(&session)))
                        .execute(conn)
                        .map_err(map_diesel)?;
                    diesel::insert_into(t::table)
                        .values((
                            t::session_id.eq(&session),
                            t::next_seq.eq(next_seq),
                            t::raw_len.eq(raw_len),
                            t::data.eq(&data),
                            t::stored_at.eq(stored_at),
                        ))
                        .execute(conn)
                        .map_err(map_diesel)
                })?;
                Ok(())
            })
            .await
    }

    async fn load(&self, session: SessionId) -> Result<Option<StoredTail>, RepositoryError> {
        let session = session.to_string();
        self.db
            .run("event_tails.load", move |conn| {
                let row: Option<(i64, i64, Vec<u8>)> = t::table
                    .filter(t::session_id.eq(&session))
                    .select((t::next_seq, t::raw_len, t::data))
                    .first(conn)
                    .optional()
                    .map_err(map_diesel)?;
                let Some((next_seq, raw_len, data)) = row else {
                    return Ok(None);
                };
                let corrupt = |what: &str| {
                    RepositoryError::Corrupt(format!("event log tail of {session}: {what}"))
                };
                let raw_len = usize::try_from(raw_len).map_err(|_| corrupt("negative length"))?;
                let next_seq = u64::try_from(next_seq).map_err(|_| corrupt("negative sequence"))?;
                let events = decompress(&data, raw_len, "a stored event log tail")?;
                Ok(Some(StoredTail { next_seq, events }))
            })
            .await
    }

    async fn delete(&self, session: SessionId) -> Result<(), RepositoryError> {
        let session = session.to_string();
        self.db
            .write("event_tails.delete", move |conn| {
                diesel::delete(t::table.filter(t::session_id.eq(&session)))
                    .execute(conn)
                    .map_err(map_diesel)?;
                Ok(())
            })
            .await
    }
}
