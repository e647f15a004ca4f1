//! `orchestra backup` and `orchestra restore`, on SQLite and PostgreSQL.
//!
//! Both check what they write or read: SQLite's `PRAGMA integrity_check`, a readable
//! `pg_dump` archive, the schema version (a backup made by a newer build is refused) and the
//! row count of every table, which must be the same after a restore as in the backup. A
//! restore refuses to overwrite a live database (one that holds data, that a process has
//! open, or whose leases say a node runs on it) without `--force`.

mod holders;
mod pg_dump;
mod pg_tools;
mod sqlite;

use std::path::{Path, PathBuf};

use anyhow::bail;
use orchestra_db::inventory::TableCounts;
use orchestra_db::{Backend, DatabaseTarget, MigrationState, Migrations};

use crate::Settings;

/// What `orchestra backup` and `orchestra restore` were asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The backup file (written by `backup`, read by `restore`).
    pub file: PathBuf,
    /// Overwrite a live database.
    pub force: bool,
    /// Where `pg_dump` and `pg_restore` are (default: `PATH`, then the newest
    /// `/usr/lib/postgresql/*/bin`).
    pub pg_bin_dir: Option<PathBuf>,
}

/// `orchestra backup --output FILE`.
///
/// # Errors
/// When the file exists, the database cannot be read, the copy fails its check, or
/// `pg_dump` cannot be found or fails (its message is shown).
pub async fn backup(settings: &Settings, req: Request) -> anyhow::Result<()> {
    if req.file.exists() {
        bail!("{} exists; choose a new file", req.file.display());
    }
    let summary = match &settings.database.target {
        DatabaseTarget::Sqlite { path } => sqlite::backup(settings, path, &req.file).await?,
        target @ DatabaseTarget::Postgres { .. } => pg_dump::backup(settings, target, &req).await?,
    };
    println!(
        "backed up {} to {} ({} bytes)",
        settings.database.target.location(),
        req.file.display(),
        std::fs::metadata(&req.file).map_or(0, |m| m.len())
    );
    summary.print();
    Ok(())
}

/// `orchestra restore FILE [--force]`.
///
/// # Errors
/// When the backup is not one of this backend's, fails its check, was made by a newer
/// build, the database is live and `--force` was not given, or the restored database's
/// row counts differ from the backup's.
pub async fn restore(settings: &Settings, req: Request) -> anyhow::Result<()> {
    if !req.file.is_file() {
        bail!("{}: no such file", req.file.display());
    }
    let summary = match &settings.database.target {
        DatabaseTarget::Sqlite { path } => sqlite::restore(path, &req).await?,
        target @ DatabaseTarget::Postgres { .. } => {
            pg_dump::restore(settings, target, &req).await?
        }
    };
    println!(
        "restored {} from {}",
        settings.database.target.location(),
        req.file.display()
    );
    summary.print();
    if summary.pending > 0 {
        println!(
            "{} migration(s) of this build are not in the backup: `orchestra migrate apply` (or a Development start) applies them",
            summary.pending
        );
    }
    Ok(())
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The newest migration it has.
    pub version: Option<String>,
    /// How many of this build's migrations it lacks.
    pub pending: usize,
    /// Rows by table.
    pub counts: TableCounts,
}

impl Summary {
    fn from_versions(
        backend: Backend,
        versions: &[String],
        counts: TableCounts,
    ) -> anyhow::Result<Self> {
        let known = Migrations::known(backend)?;
        let unknown: Vec<&String> = versions.iter().filter(|v| !known.contains(v)).collect();
        if !unknown.is_empty() {
            bail!(
                "the backup has migrations this build does not know ({}): it was made by a newer Orchestra; restore it with that version",
                unknown
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(Self {
            version: versions.iter().max().cloned(),
            pending: known.iter().filter(|k| !versions.contains(k)).count(),
            counts,
        })
    }

    fn from_state(
        backend: Backend,
        state: &MigrationState,
        counts: TableCounts,
    ) -> anyhow::Result<Self> {
        let mut versions: Vec<String> = state
            .migrations
            .iter()
            .filter(|m| m.applied)
            .map(|m| m.version.clone())
            .collect();
        versions.extend(state.unknown.iter().cloned());
        Self::from_versions(backend, &versions, counts)
    }

    fn print(&self) {
        println!(
            "schema version: {}",
            self.version.as_deref().unwrap_or("(no migrations)")
        );
        let rows: Vec<String> = self
            .counts
            .iter()
            .filter(|(t, _)| !t.starts_with("__"))
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        println!("rows: {}", rows.join(", "));
    }
}

/// Compares the restored database's counts with the backup's.
fn check_counts(expected: &TableCounts, actual: &TableCounts) -> anyhow::Result<()> {
    let differ: Vec<String> = expected
        .iter()
        .filter(|(t, n)| actual.get(*t) != Some(n))
        .map(|(t, n)| {
            format!(
                "{t}: {n} in the backup, {} restored",
                actual
                    .get(t)
                    .map_or_else(|| "none".into(), ToString::to_string)
            )
        })
        .collect();
    if differ.is_empty() {
        Ok(())
    } else {
        bail!(
            "the restored database differs from the backup: {}",
            differ.join("; ")
        )
    }
}

/// Why a database may not be overwritten without `--force`, if it may not.
fn live_reasons(data_rows: u64, nodes: &[String], holders: &[u32]) -> Vec<String> {
    let mut why = Vec::new();
    if data_rows > 0 {
        why.push(format!("it holds {data_rows} rows"));
    }
    if !nodes.is_empty() {
        why.push(format!(
            "node(s) {} hold leases on it (a server runs on it)",
            nodes.join(", ")
        ));
    }
    if !holders.is_empty() {
        why.push(format!(
            "process(es) {} have it open (stop the server first)",
            holders
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    why
}

fn refuse_live(location: &str, why: &[String], holders: &[u32], force: bool) -> anyhow::Result<()> {
    if why.is_empty() {
        return Ok(());
    }
    if !holders.is_empty() {
        // A replaced file would be written on by its holders, unseen: what they write after
        // would be lost. Not even --force.
        bail!(
            "refusing to overwrite the live database {location}, even with --force: {}",
            why.join("; ")
        );
    }
    if force {
        println!("overwriting {location} (--force): {}", why.join("; "));
        return Ok(());
    }
    bail!(
        "refusing to overwrite the live database {location}: {}; stop every server on it and pass --force to replace it",
        why.join("; ")
    )
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
