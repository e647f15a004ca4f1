//! Retention wiring: the service from `[retention]`, `orchestra retention run [--dry-run]`,
//! and the background service (on one node: the `retention:runner` lease).

use std::sync::Arc;
use std::time::Duration;

use orchestra_application::audit::AuditTrail;
use orchestra_application::leases::{NodeLeases, RETENTION_RUNNER};
use orchestra_application::ports::{Clock, RetentionArchive, SystemClock};
use orchestra_application::retention::{RetentionPolicy, RetentionReport, RetentionService};
use orchestra_db::{Database, DieselAuditRepository, DieselRetentionRepository, GzipArchive};
use tokio::task::JoinHandle;

use crate::Settings;
use crate::background::Shutdown;

/// The service for these settings.
pub fn service(
    settings: &Settings,
    db: Database,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
) -> RetentionService {
    let r = &settings.retention;
    let archive = r
        .archive_dir
        .clone()
        .map(|dir| Arc::new(GzipArchive::new(dir)) as Arc<dyn RetentionArchive>);
    RetentionService::new(
        Arc::new(DieselRetentionRepository::new(db)),
        archive,
        audit,
        clock,
        RetentionPolicy {
            days: r.days,
            batch_size: r.batch_size,
        },
    )
}

/// `orchestra retention run [--dry-run]`.
///
/// # Errors
/// When the database or the archive fails.
pub async fn run_cli(settings: &Settings, dry_run: bool) -> anyhow::Result<()> {
    if settings.retention.days == 0 {
        println!("retention is off (retention.days = 0): nothing is removed");
        return Ok(());
    }
    let db = crate::adapters::open_database(settings, false).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let audit = AuditTrail::new(
        Arc::new(DieselAuditRepository::new(db.clone())),
        clock.clone(),
    );
    let svc = service(settings, db, audit, clock);
    if dry_run {
        let report = svc.dry_run().await?;
        println!(
            "dry run: rows older than {} ({} days) that a run would archive and delete:",
            report.before.format("%Y-%m-%d %H:%M:%S UTC"),
            settings.retention.days
        );
        print_rows(&report);
        return Ok(());
    }
    let report = svc.run().await?;
    println!(
        "removed rows older than {} ({} days):",
        report.before.format("%Y-%m-%d %H:%M:%S UTC"),
        settings.retention.days
    );
    print_rows(&report);
    match &report.archive {
        Some(path) => println!("archive: {}", path.display()),
        None if settings.retention.archive_dir.is_none() => {
            println!("archive: none (retention.archive = false)");
        }
        None => println!("archive: none (nothing to remove)"),
    }
    println!(
        "{} delete transactions, the longest {:.1} ms",
        report.batches,
        report.longest_batch_secs * 1000.0
    );
    Ok(())
}

fn print_rows(report: &RetentionReport) {
    for (kind, n) in &report.rows {
        println!("  {:<20} {n}", kind.table());
    }
    println!("  {:<20} {}", "total", report.total());
}

/// The retention service: every `retention.interval_secs` (the first run after at most a
/// minute), on the node that holds the `retention:runner` lease. Logs "RetentionService
/// started".
pub fn spawn(
    service: RetentionService,
    leases: NodeLeases,
    interval: Duration,
    mut shutdown: Shutdown,
) -> Option<JoinHandle<()>> {
    let policy = service.policy();
    if policy.days == 0 {
        tracing::info!("RetentionService off (retention.days = 0): nothing is ever removed");
        return None;
    }
    Some(tokio::spawn(async move {
        tracing::info!(
            days = policy.days,
            batch_size = policy.batch_size,
            interval_secs = interval.as_secs(),
            "RetentionService started: closed sessions, decided approvals and audit events older than {} days are archived and deleted",
            policy.days
        );
        let mut wait = interval.min(Duration::from_secs(60));
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.wait() => break,
            }
            wait = interval;
            if !leases.lead(RETENTION_RUNNER).await {
                continue;
            }
            if let Err(err) = service.run().await {
                tracing::error!(error = %err, "retention run failed; the next run tries again");
            }
        }
        tracing::info!("RetentionService stopped");
    }))
}
