//! Grants in SQL: the `grant_*` columns of the approvals whose decisions made them.

use async_trait::async_trait;
use diesel::prelude::*;
use orchestra_application::audit::AuditRecord;
use orchestra_application::ports::{GrantRepository, RepositoryError, RevokeOutcome};
use orchestra_domain::{ApprovalId, ApprovalRequest, ApprovalStatus, Grant, Revocation};

use super::approvals::load_approval;
use crate::models::{ApprovalRow, to_naive};
use crate::schema::approvals;
use crate::{Database, map_diesel};

/// Grants in SQL.
#[derive(Debug, Clone)]
pub struct DieselGrantRepository {
    db: Database,
}

impl DieselGrantRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn grant_of(approval: Option<ApprovalRequest>, session_id: &str) -> Option<Grant> {
    approval
        .as_ref()
        .and_then(Grant::of)
        .filter(|g| g.session_id == session_id)
}

#[async_trait]
impl GrantRepository for DieselGrantRepository {
    async fn for_session(&self, session_id: &str) -> Result<Vec<Grant>, RepositoryError> {
        let session_id = session_id.to_owned();
        self.db
            .run("grants.for_session", move |conn| {
                approvals::table
                    .filter(approvals::session_id.eq(&session_id))
                    .filter(approvals::grant_rule.is_not_null())
                    .filter(approvals::status.eq(ApprovalStatus::Approved.as_str()))
                    .order((approvals::decided_at.asc(), approvals::id.asc()))
                    .select(ApprovalRow::as_select())
                    .load::<ApprovalRow>(conn)
                    .map_err(map_diesel)?
                    .into_iter()
                    .map(|row| ApprovalRequest::try_from(row).map(|a| Grant::of(&a)))
                    .filter_map(Result::transpose)
                    .collect()
            })
            .await
    }

    async fn revoke(
        &self,
        session_id: &str,
        id: ApprovalId,
        revocation: &Revocation,
        audit: Option<&AuditRecord>,
    ) -> Result<RevokeOutcome, RepositoryError> {
        let session_id = session_id.to_owned();
        let id = id.to_string();
        let (by, at) = (revocation.by.clone(), revocation.at);
        let audit = audit.cloned();
        self.db
            .write("grants.revoke", move |conn| {
                crate::write_transaction(conn, |conn| {
                    // The compare-and-set: only a grant not yet revoked changes.
                    let changed = diesel::update(
                        approvals::table
                            .filter(approvals::id.eq(&id))
                            .filter(approvals::session_id.eq(&session_id))
                            .filter(approvals::status.eq(ApprovalStatus::Approved.as_str()))
                            .filter(approvals::grant_rule.is_not_null())
                            .filter(approvals::grant_revoked_at.is_null()),
                    )
                    .set((
                        approvals::grant_revoked_at.eq(to_naive(at)),
                        approvals::grant_revoked_by.eq(&by),
                    ))
                    .execute(conn)
                    .map_err(map_diesel)?;
                    if changed == 1
                        && let Some(record) = &audit
                    {
                        super::audit::append_next(conn, record, at)?;
                    }
                    let grant = grant_of(load_approval(conn, &id)?, &session_id);
                    Ok(match (changed, grant) {
                        (_, None) => RevokeOutcome::NotFound,
                        (1, Some(g)) => RevokeOutcome::Revoked(g),
                        (_, Some(g)) => RevokeOutcome::AlreadyRevoked(g),
                    })
                })
            })
            .await
    }
}
