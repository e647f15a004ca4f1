//! Carrying decisions out, in SQL: the claim (`due` -> `acting`), its end, the decisions
//! nobody acted on, and the claims a stopped node left (`uncertain`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use orchestra_application::ports::RepositoryError;
use orchestra_domain::{ActedOn, ApprovalId, ApprovalRequest};

use super::load_approval;
use crate::models::{ApprovalRow, to_naive};
use crate::schema::approvals;
use crate::{Database, map_diesel};

pub(super) async fn claim_action(
    db: &Database,
    id: ApprovalId,
    node: &str,
    at: DateTime<Utc>,
) -> Result<bool, RepositoryError> {
    let id = id.to_string();
    let node = node.to_owned();
    let at = to_naive(at);
    db.write("approvals.claim_action", move |conn| {
        diesel::update(
            approvals::table
                .filter(approvals::id.eq(&id))
                .filter(approvals::acted_on.eq(ActedOn::Due.as_str())),
        )
        .set((
            approvals::acted_on.eq(ActedOn::Acting.as_str()),
            approvals::acted_by.eq(Some(node)),
            approvals::acted_at.eq(Some(at)),
        ))
        .execute(conn)
        .map(|n| n == 1)
        .map_err(map_diesel)
    })
    .await
}

pub(super) async fn finish_action(
    db: &Database,
    id: ApprovalId,
    outcome: ActedOn,
    at: DateTime<Utc>,
) -> Result<(), RepositoryError> {
    let id = id.to_string();
    let at = to_naive(at);
    db.write("approvals.finish_action", move |conn| {
        diesel::update(
            approvals::table
                .filter(approvals::id.eq(&id))
                .filter(approvals::acted_on.eq(ActedOn::Acting.as_str())),
        )
        .set((
            approvals::acted_on.eq(outcome.as_str()),
            approvals::acted_at.eq(Some(at)),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(map_diesel)
    })
    .await
}

pub(super) async fn list_unacted(
    db: &Database,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ApprovalRequest>, RepositoryError> {
    let before = to_naive(before);
    db.run("approvals.list_unacted", move |conn| {
        approvals::table
            .filter(approvals::acted_on.eq(ActedOn::Due.as_str()))
            .filter(approvals::decided_at.lt(before))
            .order((approvals::decided_at.asc(), approvals::id.asc()))
            .limit(i64::from(limit))
            .select(ApprovalRow::as_select())
            .load::<ApprovalRow>(conn)
            .map_err(map_diesel)?
            .into_iter()
            .map(ApprovalRequest::try_from)
            .collect()
    })
    .await
}

pub(super) async fn abandon_actions(
    db: &Database,
    node: &str,
    stale_before: DateTime<Utc>,
    at: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ApprovalRequest>, RepositoryError> {
    let node = node.to_owned();
    let stale_before = to_naive(stale_before);
    let at = to_naive(at);
    db.write("approvals.abandon_actions", move |conn| {
        let ids: Vec<String> = approvals::table
            .filter(approvals::acted_on.eq(ActedOn::Acting.as_str()))
            .filter(
                approvals::acted_by
                    .eq(&node)
                    .or(approvals::acted_at.lt(stale_before)),
            )
            .order(approvals::acted_at.asc())
            .limit(i64::from(limit))
            .select(approvals::id)
            .load(conn)
            .map_err(map_diesel)?;
        let mut out = Vec::new();
        for id in ids {
            // Still acting (compare-and-set): a claim that ended meanwhile is left.
            let changed = diesel::update(
                approvals::table
                    .filter(approvals::id.eq(&id))
                    .filter(approvals::acted_on.eq(ActedOn::Acting.as_str())),
            )
            .set((
                approvals::acted_on.eq(ActedOn::Uncertain.as_str()),
                approvals::acted_at.eq(Some(at)),
            ))
            .execute(conn)
            .map_err(map_diesel)?;
            if changed == 1 {
                out.extend(load_approval(conn, &id)?);
            }
        }
        Ok(out)
    })
    .await
}
