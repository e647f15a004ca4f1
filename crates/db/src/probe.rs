//! The database probe behind `/health` and `/api/diagnostics/database`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::Text;
use orchestra_application::metrics_names as m;
use orchestra_application::ports::{DatabaseProbe, DatabaseStatus, RepositoryError};

use super::{Database, DbConn, Migrations, map_diesel};

#[derive(QueryableByName)]
struct VersionRow {
    #[diesel(sql_type = Text)]
    v: String,
}

/// Probes the pool and the server.
#[derive(Debug, Clone)]
pub struct DieselDatabaseProbe {
    db: Database,
}

impl DieselDatabaseProbe {
    /// A probe over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    fn publish_pool_gauges(&self, up: bool) {
        let (active, idle) = self.db.pool_state();
        metrics::gauge!(m::DB_POOL_CONNECTIONS_ACTIVE).set(f64::from(active));
        metrics::gauge!(m::DB_POOL_CONNECTIONS_IDLE).set(f64::from(idle));
        metrics::gauge!(m::DB_POOL_MAX_SIZE).set(f64::from(self.db.max_size()));
        metrics::gauge!(m::DB_UP).set(if up { 1.0 } else { 0.0 });
    }
}

fn server_version(conn: &mut DbConn) -> Result<String, RepositoryError> {
    let sql = match conn {
        DbConn::Sqlite(_) => "SELECT 'SQLite ' || sqlite_version() AS v",
        DbConn::Postgresql(_) => "SELECT current_setting('server_version') AS v",
    };
    let row: VersionRow = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).get_result(c),
        DbConn::Postgresql(c) => diesel::sql_query(sql).get_result(c),
    }
    .map_err(map_diesel)?;
    Ok(if matches!(conn, DbConn::Postgresql(_)) {
        format!("PostgreSQL {}", row.v)
    } else {
        row.v
    })
}

#[async_trait]
impl DatabaseProbe for DieselDatabaseProbe {
    async fn status(&self) -> Result<DatabaseStatus, RepositoryError> {
        // Pool figures are read before the probe takes its own connection.
        let (active, idle) = self.db.pool_state();
        let result = self
            .db
            .run("probe.status", |conn| {
                let started = Instant::now();
                diesel::sql_query("SELECT 1")
                    .execute(conn)
                    .map_err(map_diesel)?;
                let latency = started.elapsed();
                let version = server_version(conn)?;
                let migrations = Migrations::state(conn)?;
                Ok((latency, version, migrations))
            })
            .await;
        self.publish_pool_gauges(result.is_ok());
        let (latency, version, migrations) = result?;
        Ok(DatabaseStatus {
            backend: self.db.backend().as_str(),
            location: self.db.location(),
            connections_active: active,
            connections_idle: idle,
            max_pool_size: self.db.max_size(),
            migration_version: migrations.current_version().map(str::to_owned),
            applied_migrations: migrations.applied(),
            pending_migrations: migrations.pending(),
            server_version: Some(version),
            latency,
        })
    }

    async fn ping(&self) -> Result<Duration, RepositoryError> {
        let result = self
            .db
            .run("probe.ping", |conn| {
                let started = Instant::now();
                diesel::sql_query("SELECT 1")
                    .execute(conn)
                    .map_err(map_diesel)?;
                Ok(started.elapsed())
            })
            .await;
        self.publish_pool_gauges(result.is_ok());
        result
    }
}
