//! `[retention]`: how long closed sessions, decided approvals and audit events are kept,
//! and where they are archived before they are deleted.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;

/// `[retention]` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSection {
    /// Rows older than this many days are archived and deleted (0: kept forever).
    pub days: u32,
    /// Archive rows before deleting them (`false`: delete only).
    pub archive: bool,
    /// Where the archives go.
    pub archive_dir: String,
    /// Rows per delete transaction.
    pub batch_size: u32,
    /// How often the background service runs, seconds.
    pub interval_secs: u64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        Self {
            days: 90,
            archive: true,
            archive_dir: "archive".into(),
            batch_size: 1000,
            interval_secs: 3600,
        }
    }
}

/// `[retention]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Days kept; 0 turns retention off.
    pub days: u32,
    /// Where archives go; `None`: rows are deleted without one.
    pub archive_dir: Option<PathBuf>,
    /// Rows per delete transaction (1 to 10,000).
    pub batch_size: usize,
    /// Seconds between runs (at least 1).
    pub interval_secs: u64,
}

/// Checks `[retention]`.
///
/// # Errors
/// A batch size outside 1 to 10,000, an interval of 0, or an empty archive directory.
pub fn retention(r: RetentionSection) -> Result<RetentionSettings, ConfigError> {
    if !(1..=10_000).contains(&r.batch_size) {
        return Err(super::error::invalid(
            "retention.batch_size",
            "must be 1 to 10000 (each batch is one write transaction)".to_owned(),
        ));
    }
    if r.interval_secs == 0 {
        return Err(super::error::invalid(
            "retention.interval_secs",
            "must be at least 1".to_owned(),
        ));
    }
    if r.archive && r.archive_dir.trim().is_empty() {
        return Err(super::error::invalid(
            "retention.archive_dir",
            "must name a directory (or set retention.archive = false)".to_owned(),
        ));
    }
    Ok(RetentionSettings {
        days: r.days,
        archive_dir: r.archive.then(|| PathBuf::from(r.archive_dir)),
        batch_size: r.batch_size as usize,
        interval_secs: r.interval_secs,
    })
}
