//! Persistence with diesel over SQLite and PostgreSQL through one code path.
//!
//! The connection type is a `#[derive(MultiConnection)]` enum ([`DbConn`]), chosen by the
//! connection string ([`DatabaseTarget`]), never by trial. Queries that differ per backend
//! are an explicit `match` on the variant, kept to the few that need it. diesel is
//! synchronous: every call runs on tokio's blocking pool via [`Database::run`].

mod archive;
mod connection_string;
pub mod inventory;
mod listen;
mod migrations;
mod models;
mod probe;
mod repositories;
pub mod schema;
mod tool_conninfo;
mod totals;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use orchestra_application::metrics_names as m;
use orchestra_application::ports::RepositoryError;

pub use archive::GzipArchive;
pub use connection_string::{Backend, ConnectionStringError, DatabaseTarget, Sensitive};
pub use listen::{DECISIONS_CHANNEL, DecisionListener};
pub use migrations::{MigrationInfo, MigrationState, Migrations};
pub use probe::DieselDatabaseProbe;
pub use repositories::{
    DieselApiKeyRepository, DieselApprovalRepository, DieselAuditRepository,
    DieselChannelStateRepository, DieselEventTailRepository, DieselGrantRepository,
    DieselLeaseRepository, DieselRetentionRepository, DieselSessionRepository,
    DieselSpendRepository, DieselTranscriptRepository, DieselTurnRepository,
};
pub use tool_conninfo::ToolConninfo;
pub use totals::TOTAL_TTL;

/// One database connection, SQLite or PostgreSQL.
/// Makes the SQLite file and its WAL companions readable by their owner only: they hold
/// every approval and session, and agents (or other local users) must not read them.
fn restrict_to_owner(path: &str) {
    use std::os::unix::fs::PermissionsExt;
    for file in [
        path.to_owned(),
        format!("{path}-wal"),
        format!("{path}-shm"),
    ] {
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.is_file()
            && meta.permissions().mode() & 0o077 != 0
            && let Err(err) =
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(file = %file, error = %err, "could not make the database file private");
        }
    }
}

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL.
    Postgresql(diesel::PgConnection),
    /// SQLite.
    Sqlite(diesel::SqliteConnection),
}

impl fmt::Debug for DbConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Postgresql(_) => "DbConn::Postgresql",
            Self::Sqlite(_) => "DbConn::Sqlite",
        })
    }
}

/// The r2d2 manager: connects to the target's backend and reports real errors (the derived
/// `establish` would try every backend and discard why each failed).
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    target: DatabaseTarget,
    sqlite_full_sync: bool,
}

impl ConnectionManager {
    /// A manager for `target` (SQLite with `synchronous = FULL`).
    pub fn new(target: DatabaseTarget) -> Self {
        Self {
            target,
            sqlite_full_sync: true,
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        match &self.target {
            DatabaseTarget::Postgres { conninfo, .. } => {
                diesel::PgConnection::establish(conninfo.expose())
                    .map(DbConn::Postgresql)
                    .map_err(diesel::r2d2::Error::ConnectionError)
            }
            DatabaseTarget::Sqlite { path } => {
                let mut conn = diesel::SqliteConnection::establish(path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // WAL lets readers run while one writer writes; busy_timeout makes writers
                // queue instead of failing with SQLITE_BUSY.
                for pragma in [
                    "PRAGMA busy_timeout = 5000",
                    "PRAGMA journal_mode = WAL",
                    // FULL: a commit (a decision) is on disk before it is acted on, even
                    // across a power loss; NORMAL only across a process crash.
                    if self.sqlite_full_sync {
                        "PRAGMA synchronous = FULL"
                    } else {
                        "PRAGMA synchronous = NORMAL"
                    },
                    "PRAGMA foreign_keys = ON",
                ] {
                    diesel::sql_query(pragma)
                        .execute(&mut conn)
                        .map_err(diesel::r2d2::Error::QueryError)?;
                }
                restrict_to_owner(path);
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections the pool opens.
    pub max_size: u32,
    /// Idle connections kept open.
    pub min_idle: u32,
    /// How long a caller waits for a connection.
    pub connection_timeout: Duration,
    /// SQLite: `synchronous = FULL` (every commit synced) rather than `NORMAL`.
    pub sqlite_full_sync: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 10,
            min_idle: 1,
            connection_timeout: Duration::from_secs(5),
            sqlite_full_sync: true,
        }
    }
}

/// The database: a pool plus what we know about it. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool<ConnectionManager>,
    target: Arc<DatabaseTarget>,
    max_size: u32,
    /// SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
    /// SQLite's busy handler (1, 2, 5, ... up to 100 ms a step) while holding a pooled
    /// connection that readers then wait for. Writers of this process queue here instead,
    /// before they take a connection (measured: bench/README.md, mixed load). `None` on
    /// PostgreSQL.
    write_gate: Option<Arc<std::sync::Mutex<()>>>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.target.backend())
            .field("location", &self.target.location())
            .field("max_size", &self.max_size)
            .finish_non_exhaustive()
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenDatabaseError {
    /// The first connection failed.
    #[error("cannot connect to the {backend} database at {location}: {reason}")]
    Connect {
        /// The backend.
        backend: Backend,
        /// Where, without secrets.
        location: String,
        /// The driver's reason.
        reason: String,
    },
}

impl Database {
    /// Builds the pool and makes one connection to prove the database answers.
    ///
    /// # Errors
    /// [`OpenDatabaseError::Connect`] when no connection can be made within the timeout.
    pub fn open(target: DatabaseTarget, settings: PoolSettings) -> Result<Self, OpenDatabaseError> {
        let max_size = settings.max_size.max(1);
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(settings.min_idle.min(max_size)))
            .connection_timeout(settings.connection_timeout)
            .test_on_check_out(false)
            .build_unchecked(ConnectionManager {
                target: target.clone(),
                sqlite_full_sync: settings.sqlite_full_sync,
            });
        let write_gate =
            (target.backend() == Backend::Sqlite).then(|| Arc::new(std::sync::Mutex::new(())));
        let db = Self {
            pool,
            target: Arc::new(target),
            max_size,
            write_gate,
        };
        db.checkout().map_err(|err| OpenDatabaseError::Connect {
            backend: db.target.backend(),
            location: db.target.location(),
            reason: err.to_string(),
        })?;
        Ok(db)
    }

    /// What it connects to (the connection string stays hidden in it).
    pub fn target(&self) -> &DatabaseTarget {
        &self.target
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.target.backend()
    }

    /// Where it is, without secrets.
    pub fn location(&self) -> String {
        self.target.location()
    }

    /// The pool's maximum size.
    pub fn max_size(&self) -> u32 {
        self.max_size
    }

    /// Connections in use and idle.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.connections.saturating_sub(state.idle_connections),
            state.idle_connections,
        )
    }

    /// A connection from the pool, blocking. Use only off the async runtime.
    ///
    /// # Errors
    /// `Unavailable` when the pool times out.
    pub fn checkout(&self) -> Result<PooledConnection<ConnectionManager>, RepositoryError> {
        self.pool
            .get()
            .map_err(|err| RepositoryError::Unavailable(err.to_string()))
    }

    /// Runs `f` with a pooled connection on the blocking pool, timing it as `operation`.
    /// A panic inside `f` becomes `Unavailable` instead of tearing down the caller.
    ///
    /// # Errors
    /// Whatever `f` returns, or `Unavailable` when no connection can be had.
    pub async fn run<T, F>(&self, operation: &'static str, f: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, RepositoryError> + Send + 'static,
    {
        self.run_as(operation, false, f).await
    }

    /// [`Self::run`] for an operation that writes: on SQLite it first waits its turn among
    /// this process's writers, so at most one of them holds a connection while waiting for
    /// the database's write lock.
    ///
    /// # Errors
    /// Whatever `f` returns, or `Unavailable` when no connection can be had.
    pub async fn write<T, F>(&self, operation: &'static str, f: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, RepositoryError> + Send + 'static,
    {
        self.run_as(operation, true, f).await
    }

    async fn run_as<T, F>(
        &self,
        operation: &'static str,
        writes: bool,
        f: F,
    ) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, RepositoryError> + Send + 'static,
    {
        let db = self.clone();
        let started = Instant::now();
        // The query's span is a child of the caller's (the request, the turn): the blocking
        // thread enters it, so the query shows under what asked for it.
        // Only under a caller's span: a background pass's queries are not traces of their own.
        let span = if tracing::Span::current().is_none() {
            tracing::Span::none()
        } else {
            tracing::info_span!(
                "db.query",
                otel.name = operation,
                otel.kind = "client",
                db.system = match self.backend() {
                    Backend::Sqlite => "sqlite",
                    Backend::Postgres => "postgresql",
                },
                db.operation.name = operation,
                otel.status_code = tracing::field::Empty,
            )
        };
        let in_span = span.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _entered = in_span.enter();
            let _turn = match (&db.write_gate, writes) {
                (Some(gate), true) => Some(
                    gate.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                ),
                _ => None,
            };
            let mut conn = db.checkout()?;
            f(&mut conn)
        })
        .await
        .unwrap_or_else(|join_err| {
            tracing::error!(db.operation = operation, error = %join_err, "database task panicked");
            Err(RepositoryError::Unavailable(format!(
                "database task failed: {operation}"
            )))
        });
        metrics::histogram!(m::DB_QUERY_DURATION_SECONDS, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        if let Err(err) = &result
            && matches!(
                err,
                RepositoryError::Unavailable(_) | RepositoryError::Corrupt(_)
            )
        {
            metrics::counter!(m::DB_ERRORS_TOTAL, "operation" => operation).increment(1);
            span.record("otel.status_code", "ERROR");
        }
        result
    }
}

/// Runs `f` in a write transaction: on SQLite `BEGIN IMMEDIATE` (the write lock at once, so
/// a read-then-write cannot fail with SQLITE_BUSY half way), on PostgreSQL an ordinary
/// transaction. `f`'s error rolls it back.
pub(crate) fn write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, RepositoryError>,
) -> Result<T, RepositoryError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    #[derive(Debug)]
    enum TxError {
        Diesel(diesel::result::Error),
        Repo(RepositoryError),
    }
    impl From<diesel::result::Error> for TxError {
        fn from(e: diesel::result::Error) -> Self {
            Self::Diesel(e)
        }
    }
    if let DbConn::Sqlite(c) = conn {
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE").map_err(map_diesel)?;
        let result = f(conn);
        let DbConn::Sqlite(c) = conn else {
            return Err(RepositoryError::Unavailable(
                "the connection changed backend inside a transaction".into(),
            ));
        };
        return match result {
            Ok(value) => match AnsiTransactionManager::commit_transaction(c) {
                Ok(()) => Ok(value),
                Err(err) => {
                    let _ = AnsiTransactionManager::rollback_transaction(c);
                    Err(map_diesel(err))
                }
            },
            Err(err) => {
                AnsiTransactionManager::rollback_transaction(c).map_err(map_diesel)?;
                Err(err)
            }
        };
    }
    conn.transaction::<T, TxError, _>(|c| f(c).map_err(TxError::Repo))
        .map_err(|e| match e {
            TxError::Diesel(d) => map_diesel(d),
            TxError::Repo(r) => r,
        })
}

/// Maps a diesel error to the port's error at the seam.
pub(crate) fn map_diesel(err: diesel::result::Error) -> RepositoryError {
    use diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::NotFound => RepositoryError::NotFound,
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            RepositoryError::Conflict(info.message().to_owned())
        }
        Error::DeserializationError(e) => RepositoryError::Corrupt(e.to_string()),
        other => RepositoryError::Unavailable(other.to_string()),
    }
}

/// Writes a consistent copy of a SQLite database to `path` while it is in use
/// (`VACUUM INTO`). Blocking; run it through [`Database::run`].
///
/// # Errors
/// `Unavailable` when the copy fails; `Conflict` when the database is PostgreSQL.
pub fn sqlite_backup(conn: &mut DbConn, path: &str) -> Result<(), RepositoryError> {
    match conn {
        DbConn::Sqlite(c) => diesel::sql_query("VACUUM INTO ?")
            .bind::<diesel::sql_types::Text, _>(path)
            .execute(c)
            .map(|_| ())
            .map_err(map_diesel),
        DbConn::Postgresql(_) => Err(RepositoryError::Conflict(
            "backup copies SQLite only; use pg_dump".into(),
        )),
    }
}
