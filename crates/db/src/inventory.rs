//! What a database holds, for backup and restore: its tables and their row counts, SQLite's
//! own integrity check, and the lease a running node keeps. Blocking; run it through
//! [`crate::Database::run`] or on a connection of its own.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use orchestra_application::ports::RepositoryError;

use crate::{DbConn, map_diesel};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A connection of its own to a SQLite file, with none of the pool's settings (no WAL
/// switch, no writes): to read a backup.
///
/// # Errors
/// `Unavailable` when the file cannot be opened.
pub fn open_sqlite(path: &str) -> Result<DbConn, RepositoryError> {
    diesel::SqliteConnection::establish(path)
        .map(DbConn::Sqlite)
        .map_err(|e| RepositoryError::Unavailable(format!("cannot open {path}: {e}")))
}

/// Row counts by table.
pub type TableCounts = BTreeMap<String, u64>;

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The database's own tables (with diesel's migration table), by name.
///
/// # Errors
/// `Unavailable` when the catalogue cannot be read.
pub fn tables(conn: &mut DbConn) -> Result<Vec<String>, RepositoryError> {
    let rows: Vec<Name> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .load(c),
        DbConn::Postgresql(c) => diesel::sql_query(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
        )
        .load(c),
    }
    .map_err(map_diesel)?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// Every table's row count.
///
/// # Errors
/// `Unavailable` when a table cannot be read (a damaged SQLite file, for one).
pub fn table_counts(conn: &mut DbConn) -> Result<TableCounts, RepositoryError> {
    let mut counts = TableCounts::new();
    for table in tables(conn)? {
        let sql = format!("SELECT COUNT(*) AS n FROM {}", quote_ident(&table));
        let row: Count = match conn {
            DbConn::Sqlite(c) => diesel::sql_query(sql).get_result(c),
            DbConn::Postgresql(c) => diesel::sql_query(sql).get_result(c),
        }
        .map_err(map_diesel)?;
        counts.insert(table, u64::try_from(row.n).unwrap_or(0));
    }
    Ok(counts)
}

/// The rows that hold an operator's data (every table but diesel's migration list and the
/// leases, which only say who runs what now).
pub fn data_rows(counts: &TableCounts) -> u64 {
    counts
        .iter()
        .filter(|(t, _)| !matches!(t.as_str(), "__diesel_schema_migrations" | "leases"))
        .map(|(_, n)| n)
        .sum()
}

/// SQLite's `PRAGMA integrity_check`: `Ok(())` when it says `ok`, else its findings. A
/// PostgreSQL database has no such check (its pages carry their own checksums).
///
/// # Errors
/// `Corrupt` with the findings; `Unavailable` when the check cannot run.
pub fn integrity_check(conn: &mut DbConn) -> Result<(), RepositoryError> {
    #[derive(QueryableByName)]
    struct Finding {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let DbConn::Sqlite(c) = conn else {
        return Ok(());
    };
    let findings: Vec<Finding> = diesel::sql_query("PRAGMA integrity_check")
        .load(c)
        .map_err(map_diesel)?;
    let findings: Vec<String> = findings.into_iter().map(|f| f.integrity_check).collect();
    if findings.len() == 1 && findings[0] == "ok" {
        Ok(())
    } else {
        Err(RepositoryError::Corrupt(findings.join("; ")))
    }
}

/// The nodes that hold a lease that has not expired: servers running on this database now.
///
/// # Errors
/// `Unavailable` when the leases cannot be read (a database before the leases migration has
/// none: an empty list).
pub fn live_nodes(conn: &mut DbConn) -> Result<Vec<String>, RepositoryError> {
    if !tables(conn)?.iter().any(|t| t == "leases") {
        return Ok(Vec::new());
    }
    let now = chrono_now();
    let rows: Vec<Name> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT DISTINCT node_id AS name FROM leases WHERE expires_at > ? ORDER BY 1",
        )
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .load(c),
        DbConn::Postgresql(c) => diesel::sql_query(
            "SELECT DISTINCT node_id AS name FROM leases WHERE expires_at > $1 ORDER BY 1",
        )
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .load(c),
    }
    .map_err(map_diesel)?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// Drops the tables of `drop` (PostgreSQL, in one transaction, with what depends on them).
///
/// # Errors
/// `Unavailable` when a drop fails (nothing is dropped then).
pub fn drop_tables(conn: &mut DbConn, drop: &[String]) -> Result<(), RepositoryError> {
    if drop.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "DROP TABLE IF EXISTS {} CASCADE",
        drop.iter()
            .map(|t| quote_ident(t))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match conn {
        DbConn::Sqlite(c) => c.transaction(|c| diesel::sql_query(sql).execute(c)),
        DbConn::Postgresql(c) => c.transaction(|c| diesel::sql_query(sql).execute(c)),
    }
    .map(|_| ())
    .map_err(map_diesel)
}

#[expect(
    clippy::disallowed_methods,
    reason = "an operator's command outside the application: no Clock port here"
)]
fn chrono_now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
