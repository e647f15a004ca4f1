//! Retention: rows past their keeping time, read for the archive and deleted in small
//! batches (each its own short transaction).

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::RepositoryError;

/// What retention removes, in the order it removes them (children before their session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RetentionKind {
    /// Turns of closed sessions.
    Turns,
    /// Stored transcripts of closed sessions (deleted a session at a time).
    TranscriptParts,
    /// Stored event tails of closed sessions.
    EventTails,
    /// Decided approvals that were carried out and whose chat message is settled.
    Approvals,
    /// Closed sessions.
    Sessions,
    /// Audit events (the oldest, in order: the chain's start moves forward).
    AuditEvents,
}

impl RetentionKind {
    /// Every kind, in removal order.
    pub const ALL: [Self; 6] = [
        Self::Turns,
        Self::TranscriptParts,
        Self::EventTails,
        Self::Approvals,
        Self::Sessions,
        Self::AuditEvents,
    ];

    /// The table.
    pub fn table(self) -> &'static str {
        match self {
            Self::Turns => "turns",
            Self::TranscriptParts => "transcript_parts",
            Self::EventTails => "session_event_tails",
            Self::Approvals => "approvals",
            Self::Sessions => "sessions",
            Self::AuditEvents => "audit_events",
        }
    }
}

/// One row past its time: the key it is deleted by, and the whole row as JSON for the
/// archive.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiredRow {
    /// The delete key (a transcript's parts share their session's id).
    pub key: String,
    /// The row, every column.
    pub row: serde_json::Value,
}

/// Reads and deletes expired rows.
#[async_trait]
pub trait RetentionRepository: Send + Sync + std::fmt::Debug {
    /// How many rows of `kind` are older than `before`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count(
        &self,
        kind: RetentionKind,
        before: DateTime<Utc>,
    ) -> Result<u64, RepositoryError>;

    /// Up to `limit` rows of `kind` older than `before`, in key order, after the key
    /// `after` (the last key of the batch before: the scan starts past what was deleted).
    /// Audit events go in `seq` order up to the newest one older than `before`
    /// ([`Self::audit_through`]); a transcript's parts all come with their session's first.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn expired(
        &self,
        kind: RetentionKind,
        before: DateTime<Utc>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>, RepositoryError>;

    /// Deletes the rows of `kind` with these keys in one transaction; returns the rows
    /// deleted and how long the transaction held its write lock, seconds.
    ///
    /// # Errors
    /// `Unavailable` (nothing is deleted then).
    async fn delete(
        &self,
        kind: RetentionKind,
        keys: Vec<String>,
    ) -> Result<(u64, f64), RepositoryError>;

    /// The newest audit event older than `before`: `(seq, hash)`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn audit_through(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Option<(i64, String)>, RepositoryError>;
}

/// Where archived rows go.
#[async_trait]
pub trait RetentionArchive: Send + Sync + std::fmt::Debug {
    /// Starts a new archive file.
    ///
    /// # Errors
    /// When it cannot be made.
    async fn open(&self, at: DateTime<Utc>) -> std::io::Result<Box<dyn ArchiveFile>>;
}

/// An archive being written: each row a JSON line `{"table": ..., "row": {...}}`.
#[async_trait]
pub trait ArchiveFile: Send {
    /// Appends rows and makes them durable (before they are deleted).
    ///
    /// # Errors
    /// When they cannot be written.
    async fn write(&mut self, table: &'static str, rows: &[ExpiredRow]) -> std::io::Result<()>;

    /// Finishes the file; returns where it is.
    ///
    /// # Errors
    /// When it cannot be finished.
    async fn finish(self: Box<Self>) -> std::io::Result<PathBuf>;
}
