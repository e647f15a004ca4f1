//! The grants port: what humans allowed beyond one call, stored on the approvals whose
//! decisions made them (see [`orchestra_domain::grant`]).

use async_trait::async_trait;
use orchestra_domain::{ApprovalId, Grant, Revocation};

use super::RepositoryError;
use crate::audit::AuditRecord;

/// What a revocation did.
#[derive(Debug, Clone, PartialEq)]
pub enum RevokeOutcome {
    /// It is revoked now.
    Revoked(Grant),
    /// It already was (the first revocation stands).
    AlreadyRevoked(Grant),
    /// The session has no grant with that id.
    NotFound,
}

/// Reads and revokes grants.
#[async_trait]
pub trait GrantRepository: Send + Sync + std::fmt::Debug {
    /// Every grant of the session (active, expired or revoked), oldest first.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn for_session(&self, session_id: &str) -> Result<Vec<Grant>, RepositoryError>;

    /// Revokes the session's grant `id` unless it already is; with `audit`, appends that
    /// event in the same transaction.
    ///
    /// # Errors
    /// `Unavailable` or `Corrupt`.
    async fn revoke(
        &self,
        session_id: &str,
        id: ApprovalId,
        revocation: &Revocation,
        audit: Option<&AuditRecord>,
    ) -> Result<RevokeOutcome, RepositoryError>;
}
