//! Embedded migrations, one folder per backend with the same directory names
//! (`migrations/{sqlite,postgres}/<version>_<name>/{up,down}.sql`).

use diesel::migration::{Migration, MigrationSource};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use orchestra_application::ports::RepositoryError;

use super::{Backend, Database, DbConn};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The SQL of each migration, for `orchestra migrate print`. A test checks that this list
/// names exactly the embedded migrations, in order.
macro_rules! migration_sql {
    ($name:literal) => {
        (
            $name,
            [
                include_str!(concat!("../../../migrations/sqlite/", $name, "/up.sql")),
                include_str!(concat!("../../../migrations/sqlite/", $name, "/down.sql")),
            ],
            [
                include_str!(concat!("../../../migrations/postgres/", $name, "/up.sql")),
                include_str!(concat!("../../../migrations/postgres/", $name, "/down.sql")),
            ],
        )
    };
}

const SQL: &[(&str, [&str; 2], [&str; 2])] = &[
    migration_sql!("2026-11-27-000001_create_sessions_and_approvals"),
    migration_sql!("2026-11-27-000002_create_turns"),
    migration_sql!("2026-11-27-000003_escalation_state"),
    migration_sql!("2026-12-02-000001_api_keys"),
    migration_sql!("2026-12-02-000002_audit_events"),
    migration_sql!("2026-12-02-000003_session_created_by"),
    migration_sql!("2026-12-02-000004_approval_session_rule"),
    migration_sql!("2026-12-02-000005_audit_request_origin"),
    migration_sql!("2026-12-02-000006_notification_outbox"),
    migration_sql!("2026-12-02-000007_decision_acted_on"),
    migration_sql!("2026-12-03-000001_transcript_parts"),
    migration_sql!("2026-12-03-000002_leases"),
    migration_sql!("2026-12-04-000001_decision_notify"),
    migration_sql!("2026-12-04-000002_session_event_tails"),
    migration_sql!("2026-12-04-000003_approval_risk"),
    migration_sql!("2026-12-04-000004_approval_grants"),
    migration_sql!("2026-12-04-000005_approval_votes"),
    migration_sql!("2026-12-04-000006_approval_escalation"),
    migration_sql!("2026-12-04-000007_session_budgets"),
    migration_sql!("2026-12-07-000001_one_pending_budget_approval"),
];

/// One migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationInfo {
    /// The version (the digits of the directory name).
    pub version: String,
    /// The directory name.
    pub name: String,
    /// Whether the database has it.
    pub applied: bool,
}

/// The database's migration state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Every known migration, oldest first.
    pub migrations: Vec<MigrationInfo>,
    /// Versions the database has that this build does not know: a newer build made them.
    pub unknown: Vec<String>,
}

impl MigrationState {
    /// Known migrations not yet applied.
    pub fn pending(&self) -> usize {
        self.migrations.iter().filter(|m| !m.applied).count()
    }

    /// Applied migrations.
    pub fn applied(&self) -> usize {
        self.migrations.iter().filter(|m| m.applied).count()
    }

    /// The newest applied version.
    pub fn current_version(&self) -> Option<&str> {
        self.migrations
            .iter()
            .rev()
            .find(|m| m.applied)
            .map(|m| m.version.as_str())
    }
}

fn err(e: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::Unavailable(format!("migration: {e}"))
}

/// Applies, reverts and inspects migrations.
#[derive(Debug, Clone, Copy)]
pub struct Migrations;

fn names<DB: diesel::backend::Backend>(
    source: &EmbeddedMigrations,
) -> Result<Vec<(String, String)>, RepositoryError>
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    let list: Vec<Box<dyn Migration<DB>>> =
        MigrationSource::<DB>::migrations(source).map_err(err)?;
    Ok(list
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect())
}

impl Migrations {
    /// The migration state (blocking; call off the async runtime).
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be read.
    pub fn state(conn: &mut DbConn) -> Result<MigrationState, RepositoryError> {
        let (known, applied) = match conn {
            DbConn::Sqlite(c) => (
                names::<diesel::sqlite::Sqlite>(&SQLITE)?,
                c.applied_migrations().map_err(err)?,
            ),
            DbConn::Postgresql(c) => (
                names::<diesel::pg::Pg>(&POSTGRES)?,
                c.applied_migrations().map_err(err)?,
            ),
        };
        let applied: Vec<String> = applied.iter().map(ToString::to_string).collect();
        let unknown = applied
            .iter()
            .filter(|v| !known.iter().any(|(k, _)| k == *v))
            .cloned()
            .collect();
        Ok(MigrationState {
            unknown,
            migrations: known
                .into_iter()
                .map(|(version, name)| MigrationInfo {
                    applied: applied.contains(&version),
                    version,
                    name,
                })
                .collect(),
        })
    }

    /// Applies every pending migration; returns the versions applied.
    ///
    /// # Errors
    /// `Unavailable` when a migration fails (it is rolled back where the backend allows).
    pub fn apply_pending(conn: &mut DbConn) -> Result<Vec<String>, RepositoryError> {
        let done = match conn {
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE).map_err(err)?,
            DbConn::Postgresql(c) => c.run_pending_migrations(POSTGRES).map_err(err)?,
        };
        Ok(done.iter().map(ToString::to_string).collect())
    }

    /// Reverts the newest applied migration; returns its version.
    ///
    /// # Errors
    /// `Unavailable` when nothing is applied or the down migration fails.
    pub fn revert_last(conn: &mut DbConn) -> Result<String, RepositoryError> {
        let v = match conn {
            DbConn::Sqlite(c) => c.revert_last_migration(SQLITE).map_err(err)?,
            DbConn::Postgresql(c) => c.revert_last_migration(POSTGRES).map_err(err)?,
        };
        Ok(v.to_string())
    }

    /// Applies pending migrations on a pooled connection, off the async runtime.
    ///
    /// # Errors
    /// As [`Self::apply_pending`].
    pub async fn apply_pending_async(db: &Database) -> Result<Vec<String>, RepositoryError> {
        db.run("migrations.apply", Self::apply_pending).await
    }

    /// Reads the migration state on a pooled connection, off the async runtime.
    ///
    /// # Errors
    /// As [`Self::state`].
    pub async fn state_async(db: &Database) -> Result<MigrationState, RepositoryError> {
        db.run("migrations.state", Self::state).await
    }

    /// The versions this build knows for `backend`, oldest first.
    ///
    /// # Errors
    /// `Unavailable` when the embedded migrations cannot be listed.
    pub fn known(backend: Backend) -> Result<Vec<String>, RepositoryError> {
        let list = match backend {
            Backend::Sqlite => names::<diesel::sqlite::Sqlite>(&SQLITE)?,
            Backend::Postgres => names::<diesel::pg::Pg>(&POSTGRES)?,
        };
        Ok(list.into_iter().map(|(v, _)| v).collect())
    }

    /// The SQL of every migration for `backend`, `up` or `down` (`down` newest first).
    pub fn sql(backend: Backend, up: bool) -> String {
        let idx = usize::from(!up);
        let pick = |(name, sqlite, pg): &(&str, [&str; 2], [&str; 2])| {
            let body = match backend {
                Backend::Sqlite => sqlite[idx],
                Backend::Postgres => pg[idx],
            };
            format!(
                "-- {name} ({})\n{}\n",
                if up { "up" } else { "down" },
                body.trim_end()
            )
        };
        if up {
            SQL.iter().map(pick).collect()
        } else {
            SQL.iter().rev().map(pick).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printable_sql_lists_exactly_the_embedded_migrations_for_both_backends() {
        let printable: Vec<&str> = SQL.iter().map(|(n, _, _)| *n).collect();
        let sqlite: Vec<String> = names::<diesel::sqlite::Sqlite>(&SQLITE)
            .unwrap()
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        let pg: Vec<String> = names::<diesel::pg::Pg>(&POSTGRES)
            .unwrap()
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(sqlite, printable);
        assert_eq!(pg, printable);
    }

    #[test]
    fn down_sql_comes_newest_first_and_mentions_drop() {
        let down = Migrations::sql(Backend::Postgres, false);
        assert!(down.contains("DROP TABLE approvals"));
        assert!(Migrations::sql(Backend::Sqlite, true).contains("CREATE TABLE sessions"));
    }
}
