//! Grants: the `ListGrants` query and the `RevokeGrant` command (what humans allowed a
//! session beyond single calls; see [`orchestra_domain::grant`]).

use std::sync::Arc;

use orchestra_domain::{ApprovalId, Grant, GrantState, Revocation, SessionId};

use crate::audit::AuditRecord;
use crate::error::{AppError, ConflictKind};
use crate::metrics_names as m;
use crate::ports::{Clock, GrantRepository, RevokeOutcome, SessionRepository};

/// A grant and where it stands now.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantView {
    /// The grant.
    pub grant: Grant,
    /// Active, expired or revoked, now.
    pub state: GrantState,
}

/// Lists and revokes a session's grants.
#[derive(Debug, Clone)]
pub struct GrantHandlers {
    grants: Arc<dyn GrantRepository>,
    sessions: Arc<dyn SessionRepository>,
    clock: Arc<dyn Clock>,
    /// Whether revocations are written to the audit log (with them, in one transaction).
    audited: bool,
}

impl GrantHandlers {
    /// Handlers over their ports; `audited` writes each revocation's audit event with it.
    pub fn new(
        grants: Arc<dyn GrantRepository>,
        sessions: Arc<dyn SessionRepository>,
        clock: Arc<dyn Clock>,
        audited: bool,
    ) -> Self {
        Self {
            grants,
            sessions,
            clock,
            audited,
        }
    }

    async fn require_session(&self, id: SessionId) -> Result<(), AppError> {
        match self.sessions.find(id).await? {
            Some(_) => Ok(()),
            None => Err(AppError::not_found("session", id)),
        }
    }

    /// The session's grants, oldest first, each with its state now.
    ///
    /// # Errors
    /// `NotFound` for an unknown session; `Unavailable`.
    pub async fn list(&self, session: SessionId) -> Result<Vec<GrantView>, AppError> {
        self.require_session(session).await?;
        let now = self.clock.now();
        Ok(self
            .grants
            .for_session(&session.to_string())
            .await?
            .into_iter()
            .map(|grant| GrantView {
                state: grant.state(now),
                grant,
            })
            .collect())
    }

    /// Revokes the session's grant `id`, by `by`: the next call it would have covered asks
    /// a human again, on every node. Revoking an expired grant is allowed (it is then
    /// shown as revoked).
    ///
    /// # Errors
    /// `NotFound` for an unknown session or grant; `Conflict` when it was revoked already
    /// (the first revocation stands); `Unavailable`.
    pub async fn revoke(
        &self,
        session: SessionId,
        id: ApprovalId,
        by: &str,
    ) -> Result<GrantView, AppError> {
        self.require_session(session).await?;
        let revocation = Revocation {
            by: by.to_owned(),
            at: self.clock.now(),
        };
        let audit = self.audited.then(|| {
            AuditRecord::new(by, "grant.revoke", id).detail(Some(format!("session {session}")))
        });
        match self
            .grants
            .revoke(&session.to_string(), id, &revocation, audit.as_ref())
            .await?
        {
            RevokeOutcome::Revoked(grant) => {
                metrics::counter!(m::GRANTS_REVOKED_TOTAL).increment(1);
                tracing::info!(session.id = %session, grant.id = %id, rule = %grant.terms.rule, revoked_by = by, "grant revoked");
                Ok(GrantView {
                    state: grant.state(revocation.at),
                    grant,
                })
            }
            RevokeOutcome::AlreadyRevoked(grant) => {
                let first = grant.terms.revoked.as_ref().map_or_else(String::new, |r| {
                    format!(" by {} at {}", r.by, r.at.to_rfc3339())
                });
                Err(AppError::conflict(
                    ConflictKind::Concurrent,
                    format!("grant `{id}` was already revoked{first}"),
                ))
            }
            RevokeOutcome::NotFound => Err(AppError::not_found("grant", id)),
        }
    }
}

#[cfg(test)]
mod tests;
