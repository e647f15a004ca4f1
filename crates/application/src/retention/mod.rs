//! Retention: closed sessions (with their turns, transcripts and event tails), decided
//! approvals and audit events older than `retention.days` are archived (JSON lines,
//! gzipped) and then deleted, in batches that each hold the write lock briefly.
//!
//! Order and safety: a batch is written to the archive and made durable before it is
//! deleted, so a crash between the two repeats rows in the next archive rather than losing
//! them. Only settled rows go: an approval whose decision is still being carried out or
//! whose chat message still waits for its edit stays. Audit events go oldest first, after a
//! `retention.purge` event names the last one removed, so `orchestra audit verify` can tell
//! a retention run from a deletion.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::audit::{AuditRecord, AuditTrail};
use crate::error::AppError;
use crate::metrics_names as m;
use crate::ports::{Clock, RetentionArchive, RetentionKind, RetentionRepository};

/// The audit action of a retention run that removes audit events.
pub const PURGE_ACTION: &str = "retention.purge";

/// What is kept and how it is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Rows older than this many days go (0: retention is off).
    pub days: u32,
    /// Rows per batch (per delete transaction).
    pub batch_size: usize,
}

/// What a run removed (or, dry, would remove).
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionReport {
    /// Rows older than this went.
    pub before: DateTime<Utc>,
    /// Rows by table, in removal order.
    pub rows: Vec<(RetentionKind, u64)>,
    /// The archive written, if any.
    pub archive: Option<PathBuf>,
    /// Delete transactions run.
    pub batches: u64,
    /// The longest a delete transaction held the write lock, seconds.
    pub longest_batch_secs: f64,
}

impl RetentionReport {
    /// Every row removed.
    pub fn total(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }
}

/// Runs retention.
#[derive(Debug, Clone)]
pub struct RetentionService {
    repo: Arc<dyn RetentionRepository>,
    archive: Option<Arc<dyn RetentionArchive>>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    policy: RetentionPolicy,
}

impl RetentionService {
    /// A service; `archive` `None` deletes without archiving (`retention.archive = false`).
    pub fn new(
        repo: Arc<dyn RetentionRepository>,
        archive: Option<Arc<dyn RetentionArchive>>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
        policy: RetentionPolicy,
    ) -> Self {
        Self {
            repo,
            archive,
            audit,
            clock,
            policy,
        }
    }

    /// The policy.
    pub fn policy(&self) -> RetentionPolicy {
        self.policy
    }

    fn before(&self) -> DateTime<Utc> {
        self.clock.now() - Duration::days(i64::from(self.policy.days))
    }

    /// What a run would remove now, without removing anything.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be read.
    pub async fn dry_run(&self) -> Result<RetentionReport, AppError> {
        let before = self.before();
        let mut rows = Vec::new();
        for kind in RetentionKind::ALL {
            rows.push((kind, self.repo.count(kind, before).await?));
        }
        Ok(RetentionReport {
            before,
            rows,
            archive: None,
            batches: 0,
            longest_batch_secs: 0.0,
        })
    }

    /// Archives and deletes every row past its time.
    ///
    /// # Errors
    /// `Unavailable` when the database fails, or the archive cannot be written (nothing
    /// not yet archived is deleted then).
    pub async fn run(&self) -> Result<RetentionReport, AppError> {
        let result = self.run_inner().await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(m::RETENTION_RUNS_TOTAL, "outcome" => outcome).increment(1);
        result
    }

    async fn run_inner(&self) -> Result<RetentionReport, AppError> {
        let plan = self.dry_run().await?;
        let mut report = RetentionReport {
            rows: Vec::new(),
            ..plan.clone()
        };
        if plan.total() == 0 {
            report.rows = plan.rows;
            return Ok(report);
        }
        let mut file = match &self.archive {
            Some(a) => Some(a.open(self.clock.now()).await.map_err(archive_error)?),
            None => None,
        };
        for kind in RetentionKind::ALL {
            if kind == RetentionKind::AuditEvents
                && let Some((seq, hash)) = self.repo.audit_through(plan.before).await?
            {
                self.audit
                    .record(
                        AuditRecord::new("orchestra", PURGE_ACTION, "audit_events").detail(Some(
                            json!({"throughSeq": seq, "throughHash": hash, "before": plan.before})
                                .to_string(),
                        )),
                    )
                    .await;
            }
            let mut removed = 0;
            let mut after: Option<String> = None;
            loop {
                let rows = self
                    .repo
                    .expired(
                        kind,
                        plan.before,
                        after.clone(),
                        self.policy.batch_size.max(1),
                    )
                    .await?;
                let Some(last) = rows.last() else {
                    break;
                };
                after = Some(last.key.clone());
                if let Some(f) = file.as_mut() {
                    f.write(kind.table(), &rows).await.map_err(archive_error)?;
                }
                let mut keys: Vec<String> = rows.into_iter().map(|r| r.key).collect();
                keys.dedup();
                let (n, secs) = self.repo.delete(kind, keys).await?;
                metrics::counter!(m::RETENTION_ROWS_DELETED_TOTAL, "table" => kind.table())
                    .increment(n);
                metrics::histogram!(m::RETENTION_BATCH_SECONDS).record(secs);
                report.batches += 1;
                report.longest_batch_secs = report.longest_batch_secs.max(secs);
                removed += n;
            }
            report.rows.push((kind, removed));
        }
        if let Some(f) = file {
            report.archive = Some(f.finish().await.map_err(archive_error)?);
        }
        tracing::info!(
            rows = report.total(),
            batches = report.batches,
            longest_batch_ms = report.longest_batch_secs * 1000.0,
            archive = ?report.archive,
            before = %report.before,
            "retention run removed rows"
        );
        Ok(report)
    }
}

fn archive_error(err: std::io::Error) -> AppError {
    AppError::Unavailable {
        what: "the retention archive",
        source: Box::new(err),
    }
}
