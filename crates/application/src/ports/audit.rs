//! The audit log port: an append-only sequence of events, each with the hash of the one
//! before it.

use async_trait::async_trait;

use super::RepositoryError;
use chrono::{DateTime, Utc};

use crate::audit::{AuditEvent, AuditRecord};

/// Stores audit events.
#[async_trait]
pub trait AuditRepository: Send + Sync + std::fmt::Debug {
    /// Appends `record` as the next event, at `at`: reads the newest event, chains to it
    /// ([`AuditEvent::next`]) and inserts, atomically with respect to every other writer
    /// (other tasks and nodes).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn append(
        &self,
        record: &AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<AuditEvent, RepositoryError>;

    /// Up to `limit` events with `seq` greater than `after`, oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn after(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, RepositoryError>;

    /// Up to `limit` events, newest first, skipping `offset`; and the total.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn page(
        &self,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<AuditEvent>, u64), RepositoryError>;
}
