//! The audit log in SQL: read the newest event, append the next, read in order or by page.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use orchestra_application::audit::{AuditEvent, AuditRecord};
use orchestra_application::ports::{AuditRepository, RepositoryError};

use crate::models::to_naive;
use crate::schema::audit_events;
use crate::{Database, DbConn, map_diesel};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
struct AuditRow {
    seq: i64,
    at: chrono::NaiveDateTime,
    actor: String,
    action: String,
    target: String,
    source: String,
    before_state: Option<String>,
    after_state: Option<String>,
    detail: Option<String>,
    prev_hash: String,
    hash: String,
    request_id: Option<String>,
    client_addr: Option<String>,
}

impl From<&AuditEvent> for AuditRow {
    fn from(e: &AuditEvent) -> Self {
        let r = &e.record;
        Self {
            seq: e.seq,
            at: to_naive(e.at),
            actor: r.actor.clone(),
            action: r.action.clone(),
            target: r.target.clone(),
            source: r.source.clone(),
            before_state: r.before.clone(),
            after_state: r.after.clone(),
            detail: r.detail.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
            request_id: r.request_id.clone(),
            client_addr: r.client_addr.clone(),
        }
    }
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        Self {
            seq: r.seq,
            at: r.at.and_utc(),
            record: AuditRecord {
                actor: r.actor,
                action: r.action,
                target: r.target,
                source: r.source,
                before: r.before_state,
                after: r.after_state,
                detail: r.detail,
                request_id: r.request_id,
                client_addr: r.client_addr,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// Any constant: the PostgreSQL advisory lock that makes appends one at a time across nodes.
const AUDIT_APPEND_LOCK: i64 = 0x6f72_6368_6175_6474; // "orchaudt"

/// Appends `record` as the next event. Must run inside a transaction: on PostgreSQL it takes
/// a transaction-scoped advisory lock first, so concurrent writers (tasks, nodes) queue
/// instead of racing for the same `seq`; on SQLite the transaction already holds the write
/// lock (it wrote first, or is IMMEDIATE).
pub(crate) fn append_next(
    conn: &mut DbConn,
    record: &AuditRecord,
    at: DateTime<Utc>,
) -> Result<AuditEvent, RepositoryError> {
    if let DbConn::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(AUDIT_APPEND_LOCK)
            .execute(pg)
            .map_err(map_diesel)?;
    }
    let last = audit_events::table
        .order(audit_events::seq.desc())
        .select(AuditRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_diesel)?
        .map(AuditEvent::from);
    let event = AuditEvent::next(last.as_ref(), record, at);
    diesel::insert_into(audit_events::table)
        .values(&AuditRow::from(&event))
        .execute(conn)
        .map_err(map_diesel)?;
    Ok(event)
}

/// The audit log in SQL.
#[derive(Debug, Clone)]
pub struct DieselAuditRepository {
    db: Database,
}

impl DieselAuditRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AuditRepository for DieselAuditRepository {
    async fn append(
        &self,
        record: &AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<AuditEvent, RepositoryError> {
        let record = record.clone();
        self.db
            .write("audit.append", move |conn| {
                crate::write_transaction(conn, |conn| append_next(conn, &record, at))
            })
            .await
    }

    async fn after(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, RepositoryError> {
        let rows = self
            .db
            .run("audit.after", move |conn| {
                audit_events::table
                    .filter(audit_events::seq.gt(after))
                    .order(audit_events::seq.asc())
                    .limit(i64::from(limit))
                    .select(AuditRow::as_select())
                    .load(conn)
                    .map_err(map_diesel)
            })
            .await?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    async fn page(
        &self,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<AuditEvent>, u64), RepositoryError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let (rows, total) = self
            .db
            .run("audit.page", move |conn| {
                let rows = audit_events::table
                    .order(audit_events::seq.desc())
                    .offset(offset)
                    .limit(i64::from(limit))
                    .select(AuditRow::as_select())
                    .load(conn)
                    .map_err(map_diesel)?;
                let total: i64 = audit_events::table
                    .count()
                    .get_result(conn)
                    .map_err(map_diesel)?;
                Ok((rows, total))
            })
            .await?;
        Ok((
            rows.into_iter().map(AuditEvent::from).collect(),
            u64::try_from(total).unwrap_or(0),
        ))
    }
}
