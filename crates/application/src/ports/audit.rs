//! The audit log port: an append-only sequence of events, each with the hash of the one
//! before it.

use async_trait::async_trait;

use super::RepositoryError;
use crate::audit::AuditEvent;

/// Stores audit events.
#[async_trait]
pub trait AuditRepository: Send + Sync + std::fmt::Debug {
    /// The newest event, if any.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn last(&self) -> Result<Option<AuditEvent>, RepositoryError>;

    /// Appends `event`, whose `seq` must be the next one.
    ///
    /// # Errors
    /// `Conflict` when another writer took that `seq` first (read `last` again and retry);
    /// `Unavailable`.
    async fn append(&self, event: &AuditEvent) -> Result<(), RepositoryError>;

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
