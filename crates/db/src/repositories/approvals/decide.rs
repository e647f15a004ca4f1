//! The decision's compare-and-set: one statement that decides a Pending approval, queues the
//! chat's update in the outbox and marks the decision due to be acted on, with its audit
//! event and (for an approval that needed several approvers) its votes.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
use orchestra_application::audit::AuditRecord;
use orchestra_application::ports::{DecideOutcome, RepositoryError};
use orchestra_domain::{ApprovalStatus, Decision};

use super::{lease_after, load_approval};
use crate::models::{quorum_json, to_naive};
use crate::schema::approvals;
use crate::{DbConn, map_diesel};

/// Decides approval `id` if it is still Pending, inside the caller's write transaction.
pub(super) fn decide_row(
    conn: &mut DbConn,
    id: &str,
    decision: &Decision,
    audit: Option<&AuditRecord>,
) -> Result<DecideOutcome, RepositoryError> {
    let audit_at = decision.decided_at;
    let status = decision.outcome.status().as_str();
    let decided_by = decision.decided_by.clone();
    let decided_at = to_naive(decision.decided_at);
    let reason = decision.reason.clone();
    let updated_input = decision.updated_input.as_ref().map(ToString::to_string);
    let scope = decision.scope.as_str();
    let grant_rule = decision.grant.as_ref().map(|g| g.rule.clone());
    let grant_expires_at = decision
        .grant
        .as_ref()
        .and_then(|g| g.expires_at.map(to_naive));
    // The compare-and-set: only a Pending row changes, in one statement,
    // which also queues the chat's update in the outbox and marks the
    // decision due to be acted on (a test approval has no session to tell).
    // One statement, not four: on PostgreSQL each UPDATE of the row writes
    // a new row version and index entries.
    let lease = lease_after(decided_at);
    let changed = diesel::update(
        approvals::table
            .filter(approvals::id.eq(id))
            .filter(approvals::status.eq(ApprovalStatus::Pending.as_str())),
    )
    .set((
        (
            approvals::status.eq(status),
            approvals::decided_by.eq(decided_by),
            approvals::decided_at.eq(decided_at),
            approvals::reason.eq(reason),
            approvals::updated_input.eq(updated_input),
            approvals::scope.eq(scope),
            approvals::grant_rule.eq(grant_rule),
            approvals::grant_expires_at.eq(grant_expires_at),
        ),
        (
            approvals::notification.eq(sql::<Text>(
                "CASE WHEN notification IN ('pending', 'sent') \
                     THEN 'update_pending' ELSE notification END",
            )),
            approvals::notify_attempts.eq(sql::<Integer>(
                "CASE WHEN notification IN ('pending', 'sent') \
                     THEN 0 ELSE notify_attempts END",
            )),
            approvals::notify_error.eq(sql::<Nullable<Text>>(
                "CASE WHEN notification IN ('pending', 'sent') \
                     THEN NULL ELSE notify_error END",
            )),
            approvals::notify_after.eq(sql::<Nullable<Timestamp>>(
                "CASE WHEN notification IN ('pending', 'sent') THEN ",
            )
            .bind::<Timestamp, _>(lease)
            .sql(" ELSE notify_after END")),
            approvals::acted_on.eq(sql::<Text>(
                "CASE WHEN kind = 'Test' THEN 'done' ELSE 'due' END",
            )),
        ),
    ))
    .execute(conn)
    .map_err(map_diesel)?;
    if changed == 1 && !decision.votes.is_empty() {
        // The approvers who made it, kept with it.
        let needed = u32::try_from(decision.votes.len()).unwrap_or(u32::MAX);
        diesel::update(approvals::table.filter(approvals::id.eq(&id)))
            .set(approvals::quorum.eq(quorum_json(needed, &decision.votes)))
            .execute(conn)
            .map_err(map_diesel)?;
    }
    if changed == 1
        && let Some(record) = audit
    {
        // In the same transaction: no decision without its audit event.
        super::super::audit::append_next(conn, record, audit_at)?;
    }
    Ok(match (changed, load_approval(conn, id)?) {
        (_, None) => DecideOutcome::NotFound,
        (1, Some(a)) => DecideOutcome::Decided(a),
        (_, Some(a)) => DecideOutcome::NotPending(a),
    })
}
