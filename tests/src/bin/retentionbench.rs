//! Retention over 1,000,000 expired rows (issue 11 point 4): 50,000 closed sessions,
//! 400,000 of their turns, 300,000 decided approvals and 250,000 audit events, all past
//! `retention.days`, next to 1,000 open sessions that must stay. Runs the real
//! `RetentionService` (archive on, batches of `--batch`) while a writer commits a small
//! write every 10 ms, and prints how long each delete transaction held the write lock and
//! how long the writer waited.
//!
//! ```text
//! retentionbench --backend sqlite|postgres [--rows-scale F] [--batch N]
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a benchmark tool: fail loudly"
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::RunQueryDsl;
use orchestra_application::audit::AuditTrail;
use orchestra_application::ports::{
    Clock, ExpiredRow, RepositoryError, RetentionArchive, RetentionKind, RetentionRepository,
    SystemClock,
};
use orchestra_application::retention::{RetentionPolicy, RetentionService};
use orchestra_db::{
    Database, DatabaseTarget, DbConn, DieselAuditRepository, DieselRetentionRepository,
    GzipArchive, Migrations, PoolSettings,
};
use orchestra_tests::bin_support::flag;
use orchestra_tests::pg::TestDatabase;

/// Records how long each delete transaction took.
#[derive(Debug)]
struct Timed {
    inner: DieselRetentionRepository,
    batches: Mutex<Vec<f64>>,
}

#[async_trait]
impl RetentionRepository for Timed {
    async fn count(
        &self,
        kind: RetentionKind,
        before: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        self.inner.count(kind, before).await
    }
    async fn expired(
        &self,
        kind: RetentionKind,
        before: DateTime<Utc>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>, RepositoryError> {
        self.inner.expired(kind, before, after, limit).await
    }
    async fn delete(
        &self,
        kind: RetentionKind,
        keys: Vec<String>,
    ) -> Result<(u64, f64), RepositoryError> {
        let r = self.inner.delete(kind, keys).await?;
        self.batches.lock().unwrap().push(r.1);
        Ok(r)
    }
    async fn audit_through(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Option<(i64, String)>, RepositoryError> {
        self.inner.audit_through(before).await
    }
}

fn insert(pg: bool, n: u64, table: &str, cols: &str, exprs: &str) -> String {
    if pg {
        format!("INSERT INTO {table} ({cols}) SELECT {exprs} FROM generate_series(1, {n}) AS g(i)")
    } else {
        format!(
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) \
             INSERT INTO {table} ({cols}) SELECT {exprs} FROM g"
        )
    }
}

async fn exec(db: &Database, sql: String) {
    db.run("bench.sql", move |conn| {
        match conn {
            DbConn::Sqlite(c) => diesel::sql_query(&sql).execute(c),
            DbConn::Postgresql(c) => diesel::sql_query(&sql).execute(c),
        }
        .map(|_| ())
        .map_err(|e| RepositoryError::Unavailable(format!("{sql}: {e}")))
    })
    .await
    .unwrap();
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = flag(&args, "--backend").unwrap_or_else(|| "sqlite".into());
    let scale: f64 = flag(&args, "--rows-scale").map_or(1.0, |s| s.parse().unwrap());
    let batch: usize = flag(&args, "--batch").map_or(1000, |s| s.parse().unwrap());
    let pg = backend == "postgres";
    let dir = tempfile::tempdir().unwrap();
    let _pg_db;
    let target = if pg {
        let t = tokio::task::spawn_blocking(TestDatabase::empty)
            .await
            .unwrap();
        let url = t.url();
        _pg_db = Some(t);
        DatabaseTarget::parse(&url).unwrap()
    } else {
        _pg_db = None;
        DatabaseTarget::parse(&format!(
            "Data Source={}",
            dir.path().join("bench.db").display()
        ))
        .unwrap()
    };
    let db = tokio::task::spawn_blocking(move || Database::open(target, PoolSettings::default()))
        .await
        .unwrap()
        .unwrap();
    Migrations::apply_pending_async(&db).await.unwrap();

    let n = |base: u64| ((base as f64) * scale).round().max(1.0) as u64;
    let (sessions, turns, approvals, audit) = (n(50_000), n(400_000), n(300_000), n(250_000));
    let old = "'2026-01-01 00:00:00'";
    let setup = Instant::now();
    exec(&db, insert(pg, sessions, "sessions",
        "id, agent_id, working_directory, permission_mode, status, created_at, updated_at, closed_at",
        &format!("'s' || i, 'claude-code', '/work', 'default', 'Closed', {old}, {old}, {old}"))).await;
    exec(&db, insert(pg, turns, "turns",
        "id, session_id, seq, prompt, status, started_at, finished_at, result_text",
        &format!("'t' || i, 's' || (((i - 1) % {sessions}) + 1), (i - 1) / {sessions}, 'bench prompt ' || i, 'Completed', {old}, {old}, 'done'"))).await;
    exec(&db, insert(pg, approvals, "approvals",
        "id, session_id, agent_id, tool_name, tool_input, kind, status, created_at, expires_at, decided_by, decided_at, notification, acted_on",
        &format!("'a' || i, 's' || (((i - 1) % {sessions}) + 1), 'claude-code', 'Bash', '{{\"command\":\"ls -la\"}}', 'Live', 'Approved', {old}, {old}, 'key:bench', {old}, 'updated', 'done'"))).await;
    exec(
        &db,
        insert(
            pg,
            audit,
            "audit_events",
            "seq, at, actor, action, target, source, prev_hash, hash",
            &format!(
                "i, {old}, 'key:bench', 'session.create', 's' || i, 'api', 'p' || i, 'h' || i"
            ),
        ),
    )
    .await;
    let kept = 1000;
    exec(&db, insert(pg, kept, "sessions",
        "id, agent_id, working_directory, permission_mode, status, created_at, updated_at",
        "'k' || i, 'claude-code', '/work', 'default', 'Active', '2999-01-01 00:00:00', '2999-01-01 00:00:00'")).await;
    let total = sessions + turns + approvals + audit;
    eprintln!(
        "retentionbench: {backend}: {total} expired rows made in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // A writer beside the run: one small commit every 10 ms, timed.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut waits = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let started = Instant::now();
                let sql = format!(
                    "INSERT INTO channel_state (key, value, updated_at) VALUES ('bench:{i}', 'x', '2026-12-04 00:00:00')"
                );
                db.write("bench.writer", move |conn| {
                    match conn {
                        DbConn::Sqlite(c) => diesel::sql_query(&sql).execute(c),
                        DbConn::Postgresql(c) => diesel::sql_query(&sql).execute(c),
                    }
                    .map(|_| ())
                    .map_err(|e| RepositoryError::Unavailable(e.to_string()))
                })
                .await
                .unwrap();
                waits.push(started.elapsed().as_secs_f64());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            waits
        })
    };

    let timed = Arc::new(Timed {
        inner: DieselRetentionRepository::new(db.clone()),
        batches: Mutex::new(Vec::new()),
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let archive_dir = dir.path().join("archive");
    let service = RetentionService::new(
        timed.clone(),
        Some(Arc::new(GzipArchive::new(archive_dir.clone())) as Arc<dyn RetentionArchive>),
        AuditTrail::new(
            Arc::new(DieselAuditRepository::new(db.clone())),
            clock.clone(),
        ),
        clock,
        RetentionPolicy {
            days: 90,
            batch_size: batch,
        },
    );
    let started = Instant::now();
    let report = service.run().await.unwrap();
    let took = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut waits = writer.await.unwrap();
    waits.sort_by(f64::total_cmp);
    let mut batches = timed.batches.lock().unwrap().clone();
    batches.sort_by(f64::total_cmp);
    assert_eq!(
        report.total(),
        total,
        "every expired row removed: {report:?}"
    );
    let left = service.dry_run().await.unwrap().total();
    assert_eq!(left, 0, "nothing expired left");
    let archive_bytes = report
        .archive
        .as_ref()
        .map_or(0, |p| std::fs::metadata(p).unwrap().len());
    let ms = |s: f64| (s * 10_000.0).round() / 10.0;
    let line = serde_json::json!({
        "bench": "retention",
        "backend": backend,
        "rows": total,
        "batch": batch,
        "batches": batches.len(),
        "seconds": (took * 10.0).round() / 10.0,
        "rows_per_second": (total as f64 / took).round(),
        "lock_ms_p50": ms(pct(&batches, 0.5)),
        "lock_ms_p99": ms(pct(&batches, 0.99)),
        "lock_ms_max": ms(batches.last().copied().unwrap_or(0.0)),
        "writer_commits": waits.len(),
        "writer_ms_p50": ms(pct(&waits, 0.5)),
        "writer_ms_p99": ms(pct(&waits, 0.99)),
        "writer_ms_max": ms(waits.last().copied().unwrap_or(0.0)),
        "archive_mib": ((archive_bytes as f64 / 1_048_576.0) * 10.0).round() / 10.0,
    });
    println!("{line}");
}
