//! One more yes on an approval that needs several approvers, in one write transaction: the
//! row is locked and read as stored now, the domain says whether the vote is recorded or
//! decides, and that is stored with its audit event.

use diesel::prelude::*;
use orchestra_application::audit::AuditRecord;
use orchestra_application::ports::{DecideOutcome, RepositoryError, VoteOutcome};
use orchestra_domain::{ApprovalStatus, Decision, VoteStep};

use super::decide::decide_row;
use super::load_approval;
use crate::models::quorum_json;
use crate::schema::approvals;
use crate::{DbConn, map_diesel};

/// Takes the row lock on PostgreSQL (SQLite's `BEGIN IMMEDIATE` already holds the database).
fn lock_row(conn: &mut DbConn, id: &str) -> Result<(), RepositoryError> {
    if let DbConn::Postgresql(pg) = conn {
        diesel::sql_query("SELECT id FROM approvals WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(id)
            .execute(pg)
            .map_err(map_diesel)?;
    }
    Ok(())
}

/// `voter`'s yes on approval `id`, inside the caller's write transaction.
pub(super) fn vote_row(
    conn: &mut DbConn,
    id: &str,
    voter: &str,
    approve: Decision,
    (audit_vote, audit_decide): (Option<&AuditRecord>, Option<&AuditRecord>),
) -> Result<VoteOutcome, RepositoryError> {
    lock_row(conn, id)?;
    let Some(current) = load_approval(conn, id)? else {
        return Ok(VoteOutcome::NotFound);
    };
    let at = approve.decided_at;
    match current.vote(voter, approve) {
        Err(refused) => Ok(VoteOutcome::Refused(refused)),
        Ok(VoteStep::Recorded(votes)) => {
            diesel::update(
                approvals::table
                    .filter(approvals::id.eq(id))
                    .filter(approvals::status.eq(ApprovalStatus::Pending.as_str())),
            )
            .set(approvals::quorum.eq(quorum_json(current.approvals_needed(), &votes)))
            .execute(conn)
            .map_err(map_diesel)?;
            if let Some(record) = audit_vote {
                super::super::audit::append_next(conn, record, at)?;
            }
            let stored = load_approval(conn, id)?.ok_or(RepositoryError::NotFound)?;
            Ok(VoteOutcome::Recorded(stored))
        }
        Ok(VoteStep::Decides(decision)) => {
            Ok(match decide_row(conn, id, &decision, audit_decide)? {
                DecideOutcome::Decided(a) => VoteOutcome::Decided(a),
                DecideOutcome::NotPending(a) => {
                    VoteOutcome::Refused(orchestra_domain::DecideApprovalError::AlreadyDecided {
                        current: a.status(),
                    })
                }
                DecideOutcome::NotFound => VoteOutcome::NotFound,
            })
        }
    }
}
