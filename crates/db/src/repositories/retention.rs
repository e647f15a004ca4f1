//! Retention in SQL: which rows are past their time (one condition per kind, the same on
//! both backends), each row as JSON for the archive (PostgreSQL's `row_to_json`, SQLite's
//! `json_object` with blobs in hex), and batched deletes, each one short write transaction.

use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use orchestra_application::ports::{
    ExpiredRow, RepositoryError, RetentionKind, RetentionRepository,
};

use crate::models::to_naive;
use crate::schema::{
    approvals, audit_events, session_event_tails, sessions, transcript_parts, turns,
};
use crate::{Database, DbConn, map_diesel, write_transaction};

/// Retention over a database.
#[derive(Debug, Clone)]
pub struct DieselRetentionRepository {
    db: Database,
}

impl DieselRetentionRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

const CLOSED_SESSIONS: &str =
    "SELECT id FROM sessions WHERE status = 'Closed' AND COALESCE(closed_at, updated_at) < $B";

/// The kind's rows past `$B` (a `WHERE` condition), its delete key, and the keyset step:
/// the condition on `$A` (the last key of the batch before) and the order.
struct Shape {
    condition: String,
    key: &'static str,
    after: &'static str,
    order: &'static str,
}

fn shape(kind: RetentionKind) -> Shape {
    let of_closed = format!("session_id IN ({CLOSED_SESSIONS})");
    match kind {
        RetentionKind::Turns => Shape {
            condition: of_closed,
            key: "id",
            after: "id > $A",
            order: "id",
        },
        RetentionKind::TranscriptParts => Shape {
            condition: of_closed,
            key: "session_id || '/' || CAST(start_offset AS TEXT)",
            // The parts of the last session seen may not all have come yet.
            after: "session_id >= $A",
            order: "session_id, start_offset",
        },
        RetentionKind::EventTails => Shape {
            condition: of_closed,
            key: "session_id",
            after: "session_id > $A",
            order: "session_id",
        },
        RetentionKind::Sessions => Shape {
            condition: "status = 'Closed' AND COALESCE(closed_at, updated_at) < $B".into(),
            key: "id",
            after: "id > $A",
            order: "id",
        },
        RetentionKind::Approvals => Shape {
            condition: "status <> 'Pending' AND acted_on NOT IN ('due', 'acting') \
                 AND notification NOT IN ('pending', 'update_pending') \
                 AND COALESCE(decided_at, created_at) < $B"
                .into(),
            key: "id",
            after: "id > $A",
            order: "id",
        },
        RetentionKind::AuditEvents => Shape {
            condition: "seq <= (SELECT MAX(seq) FROM audit_events WHERE at < $B)".into(),
            key: "CAST(seq AS TEXT)",
            after: "seq > CAST($A AS BIGINT)",
            order: "seq",
        },
    }
}

/// The cut-off `$B`, the keyset `$A` and the limit `$L` as the backend's placeholders,
/// bound in that order.
fn placeholders(sql: &str, conn: &DbConn) -> String {
    match conn {
        DbConn::Sqlite(_) => sql.replace("$B", "?").replace("$A", "?").replace("$L", "?"),
        DbConn::Postgresql(_) => sql
            .replace("$B", "$1")
            .replace("$A", "$2")
            .replace("$L", "$3"),
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = Text)]
    j: String,
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

fn json_expr(conn: &mut DbConn, table: &str) -> Result<String, RepositoryError> {
    match conn {
        DbConn::Postgresql(_) => Ok("row_to_json(x)::text".into()),
        DbConn::Sqlite(c) => {
            let cols: Vec<Column> = diesel::sql_query(format!(
                "SELECT name, type AS kind FROM pragma_table_info('{table}')"
            ))
            .load(c)
            .map_err(map_diesel)?;
            let parts: Vec<String> = cols
                .iter()
                .map(|c| {
                    if c.kind.eq_ignore_ascii_case("blob") {
                        format!("'{0}', hex(\"{0}\")", c.name)
                    } else {
                        format!("'{0}', \"{0}\"", c.name)
                    }
                })
                .collect();
            Ok(format!("json_object({})", parts.join(", ")))
        }
    }
}

#[async_trait]
impl RetentionRepository for DieselRetentionRepository {
    async fn count(
        &self,
        kind: RetentionKind,
        before: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let before = to_naive(before);
        self.db
            .run("retention.count", move |conn| {
                let cond = shape(kind).condition;
                let sql = placeholders(
                    &format!("SELECT COUNT(*) AS n FROM {} WHERE {cond}", kind.table()),
                    conn,
                );
                let row: Count = match conn {
                    DbConn::Sqlite(c) => diesel::sql_query(sql)
                        .bind::<Timestamp, _>(before)
                        .get_result(c),
                    DbConn::Postgresql(c) => diesel::sql_query(sql)
                        .bind::<Timestamp, _>(before)
                        .get_result(c),
                }
                .map_err(map_diesel)?;
                Ok(u64::try_from(row.n).unwrap_or(0))
            })
            .await
    }

    async fn expired(
        &self,
        kind: RetentionKind,
        before: DateTime<Utc>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>, RepositoryError> {
        let before = to_naive(before);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .run("retention.expired", move |conn| {
                let s = shape(kind);
                let json = json_expr(conn, kind.table())?;
                // No key yet: a condition that holds for every row, with `$A` still bound.
                let (step, after) = match after {
                    Some(a) if kind == RetentionKind::TranscriptParts => {
                        let session = a.rsplit_once('/').map_or(a.as_str(), |(s, _)| s);
                        (s.after.to_owned(), session.to_owned())
                    }
                    Some(a) => (s.after.to_owned(), a),
                    None => ("($A IS NULL OR 1 = 1)".to_owned(), String::new()),
                };
                let sql = placeholders(
                    &format!(
                        "SELECT {} AS k, {json} AS j FROM {} x WHERE ({}) AND {step} ORDER BY {} LIMIT $L",
                        s.key,
                        kind.table(),
                        s.condition,
                        s.order
                    ),
                    conn,
                );
                let rows: Vec<Row> = match conn {
                    DbConn::Sqlite(c) => diesel::sql_query(sql)
                        .bind::<Timestamp, _>(before)
                        .bind::<Text, _>(after)
                        .bind::<BigInt, _>(limit)
                        .load(c),
                    DbConn::Postgresql(c) => diesel::sql_query(sql)
                        .bind::<Timestamp, _>(before)
                        .bind::<Text, _>(after)
                        .bind::<BigInt, _>(limit)
                        .load(c),
                }
                .map_err(map_diesel)?;
                rows.into_iter()
                    .map(|r| {
                        let row = serde_json::from_str(&r.j).map_err(|e| {
                            RepositoryError::Corrupt(format!("{}: {e}", kind.table()))
                        })?;
                        Ok(ExpiredRow { key: r.k, row })
                    })
                    .collect()
            })
            .await
    }

    async fn delete(
        &self,
        kind: RetentionKind,
        keys: Vec<String>,
    ) -> Result<(u64, f64), RepositoryError> {
        self.db
            .write("retention.delete", move |conn| {
                let started = Instant::now();
                let n = write_transaction(conn, |c| delete_keys(c, kind, &keys))?;
                Ok((n, started.elapsed().as_secs_f64()))
            })
            .await
    }

    async fn audit_through(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Option<(i64, String)>, RepositoryError> {
        let before = to_naive(before);
        self.db
            .run("retention.audit_through", move |conn| {
                audit_events::table
                    .filter(audit_events::at.lt(before))
                    .order(audit_events::seq.desc())
                    .select((audit_events::seq, audit_events::hash))
                    .first::<(i64, String)>(conn)
                    .optional()
                    .map_err(map_diesel)
            })
            .await
    }
}

fn delete_keys(
    conn: &mut DbConn,
    kind: RetentionKind,
    keys: &[String],
) -> Result<u64, RepositoryError> {
    let n = match kind {
        RetentionKind::Turns => {
            diesel::delete(turns::table.filter(turns::id.eq_any(keys))).execute(conn)
        }
        RetentionKind::EventTails => diesel::delete(
            session_event_tails::table.filter(session_event_tails::session_id.eq_any(keys)),
        )
        .execute(conn),
        RetentionKind::Approvals => {
            diesel::delete(approvals::table.filter(approvals::id.eq_any(keys))).execute(conn)
        }
        RetentionKind::Sessions => {
            diesel::delete(sessions::table.filter(sessions::id.eq_any(keys))).execute(conn)
        }
        RetentionKind::AuditEvents => {
            let seqs: Vec<i64> = keys.iter().filter_map(|k| k.parse().ok()).collect();
            diesel::delete(audit_events::table.filter(audit_events::seq.eq_any(seqs))).execute(conn)
        }
        RetentionKind::TranscriptParts => {
            let mut n = 0;
            for key in keys {
                let Some((session, offset)) = key.rsplit_once('/') else {
                    continue;
                };
                let offset: i64 = offset.parse().unwrap_or(-1);
                n += diesel::delete(
                    transcript_parts::table
                        .filter(transcript_parts::session_id.eq(session))
                        .filter(transcript_parts::start_offset.eq(offset)),
                )
                .execute(conn)
                .map_err(map_diesel)?;
            }
            Ok(n)
        }
    }
    .map_err(map_diesel)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
