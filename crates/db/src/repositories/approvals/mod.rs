//! Approvals in SQL: the repository (requests, lists, decisions, expiry), its row loader and
//! the atomic claim of due rows; the outbox's SQL is in `outbox.rs`, carrying decisions out
//! in `acting.rs`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use orchestra_application::audit::AuditRecord;
use orchestra_application::ports::{
    ApprovalFilter, ApprovalRepository, DecideOutcome, Page, PageRequest, RepositoryError,
    VoteOutcome,
};
use orchestra_domain::{ActedOn, ApprovalId, ApprovalRequest, ApprovalStatus, Decision};

use super::{IdRow, offset_limit, to_count};
use crate::models::{ApprovalRow, to_naive};
use crate::schema::approvals;
use crate::totals::{TotalsCache, page_total};
use crate::{Database, DbConn, map_diesel};

mod acting;
mod decide;
mod outbox;
mod vote;

/// Approvals in SQL.
#[derive(Debug, Clone)]
pub struct DieselApprovalRepository {
    db: Database,
    /// List totals; every write that adds a row or changes a status marks them stale.
    totals: std::sync::Arc<TotalsCache>,
}

impl DieselApprovalRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            totals: std::sync::Arc::default(),
        }
    }
}

/// The cache key of a list filter.
fn filter_key(filter: &ApprovalFilter) -> String {
    format!(
        "{}|{}|{}",
        filter.status.map_or("", |s| s.as_str()),
        filter.kind.map_or("", |k| k.as_str()),
        filter.session_id.as_deref().unwrap_or("")
    )
}

pub(super) fn load_approval(
    conn: &mut DbConn,
    id: &str,
) -> Result<Option<ApprovalRequest>, RepositoryError> {
    approvals::table
        .find(id)
        .select(ApprovalRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_diesel)?
        .map(ApprovalRequest::try_from)
        .transpose()
}

/// Runs an `UPDATE approvals ... RETURNING id` built by `sql` from the backend's three
/// placeholders (bound to `set_at`, `cutoff` and `limit`, in that order), then loads the
/// approvals it changed. One statement, so it is atomic on both backends and takes
/// SQLite's write lock at once (a read-then-write transaction could fail with
/// SQLITE_BUSY).
/// When the outbox may take over a delivery whose immediate attempt starts at `t`.
pub(super) fn lease_after(t: NaiveDateTime) -> NaiveDateTime {
    t + chrono::Duration::seconds(orchestra_domain::notification::FIRST_ATTEMPT_LEASE_SECS)
}

pub(super) fn claim_approvals(
    conn: &mut DbConn,
    sql: &dyn Fn([&str; 3]) -> String,
    set_at: NaiveDateTime,
    cutoff: NaiveDateTime,
    limit: u32,
) -> Result<Vec<ApprovalRequest>, RepositoryError> {
    let rows: Vec<IdRow> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql(["?1", "?2", "?3"]))
            .bind::<Timestamp, _>(set_at)
            .bind::<Timestamp, _>(cutoff)
            .bind::<BigInt, _>(i64::from(limit))
            .load(c),
        DbConn::Postgresql(c) => diesel::sql_query(sql(["$1", "$2", "$3"]))
            .bind::<Timestamp, _>(set_at)
            .bind::<Timestamp, _>(cutoff)
            .bind::<BigInt, _>(i64::from(limit))
            .load(c),
    }
    .map_err(map_diesel)?;
    let ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    approvals::table
        .filter(approvals::id.eq_any(&ids))
        .select(ApprovalRow::as_select())
        .load::<ApprovalRow>(conn)
        .map_err(map_diesel)?
        .into_iter()
        .map(ApprovalRequest::try_from)
        .collect()
}

#[async_trait]
impl ApprovalRepository for DieselApprovalRepository {
    async fn insert(&self, approval: &ApprovalRequest) -> Result<(), RepositoryError> {
        let row = ApprovalRow::from(approval);
        let result = self
            .db
            .write("approvals.insert", move |conn| {
                diesel::insert_into(approvals::table)
                    .values(&row)
                    .execute(conn)
                    .map(|_| ())
                    .map_err(map_diesel)
            })
            .await;
        // After the write: a total counted before it is now stale.
        self.totals.changed();
        result
    }

    async fn find(&self, id: ApprovalId) -> Result<Option<ApprovalRequest>, RepositoryError> {
        let id = id.to_string();
        self.db
            .run("approvals.find", move |conn| load_approval(conn, &id))
            .await
    }

    async fn list(
        &self,
        filter: &ApprovalFilter,
        page: PageRequest,
    ) -> Result<Page<ApprovalRequest>, RepositoryError> {
        let filter = filter.clone();
        let key = filter_key(&filter);
        let generation = self.totals.generation();
        let cached = self.totals.get(&key);
        let (page, counted) = self
            .db
            .run("approvals.list", move |conn| {
                let build = || {
                    let mut q = approvals::table.into_boxed();
                    if let Some(status) = filter.status {
                        q = q.filter(approvals::status.eq(status.as_str()));
                    }
                    if let Some(kind) = filter.kind {
                        q = q.filter(approvals::kind.eq(kind.as_str()));
                    }
                    if let Some(session) = &filter.session_id {
                        q = q.filter(approvals::session_id.eq(session.clone()));
                    }
                    q
                };
                let (offset, limit) = offset_limit(page);
                let ordered = if filter.oldest_first {
                    build().order((approvals::created_at.asc(), approvals::id.asc()))
                } else {
                    build().order((approvals::created_at.desc(), approvals::id.desc()))
                };
                let rows: Vec<ApprovalRow> = ordered
                    .offset(offset)
                    .limit(limit)
                    .select(ApprovalRow::as_select())
                    .load(conn)
                    .map_err(map_diesel)?;
                let (total, counted) =
                    page_total(page.offset, u64::from(page.limit), rows.len(), || {
                        if let Some(total) = cached {
                            return Ok(total);
                        }
                        let n: i64 = build().count().get_result(conn).map_err(map_diesel)?;
                        Ok(to_count(n))
                    })?;
                let items = rows
                    .into_iter()
                    .map(ApprovalRequest::try_from)
                    .collect::<Result<_, _>>()?;
                Ok((
                    Page {
                        items,
                        total,
                        request: page,
                    },
                    counted && cached.is_none(),
                ))
            })
            .await?;
        if counted {
            self.totals.put(key, generation, page.total);
        }
        Ok(page)
    }

    async fn decide(
        &self,
        id: ApprovalId,
        decision: &Decision,
        audit: Option<&AuditRecord>,
    ) -> Result<DecideOutcome, RepositoryError> {
        let id = id.to_string();
        let decision = decision.clone();
        let audit = audit.cloned();
        let result = self
            .db
            .write("approvals.decide", move |conn| {
                crate::write_transaction(conn, |conn| {
                    decide::decide_row(conn, &id, &decision, audit.as_ref())
                })
            })
            .await;
        // After the write: a total counted before it is now stale.
        self.totals.changed();
        result
    }

    async fn vote(
        &self,
        id: ApprovalId,
        voter: &str,
        approve: &Decision,
        audit_vote: Option<&AuditRecord>,
        audit_decide: Option<&AuditRecord>,
    ) -> Result<VoteOutcome, RepositoryError> {
        let id = id.to_string();
        let voter = voter.to_owned();
        let approve = approve.clone();
        let audits = (audit_vote.cloned(), audit_decide.cloned());
        let result = self
            .db
            .write("approvals.vote", move |conn| {
                crate::write_transaction(conn, |conn| {
                    vote::vote_row(
                        conn,
                        &id,
                        &voter,
                        approve,
                        (audits.0.as_ref(), audits.1.as_ref()),
                    )
                })
            })
            .await;
        self.totals.changed();
        result
    }

    async fn expire_due(
        &self,
        cutoff: DateTime<Utc>,
        decided_at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let cutoff = to_naive(cutoff);
        let decided_at = to_naive(decided_at);
        let result = self.db
            .write("approvals.expire_due", move |conn| {
                // `status = Pending` is checked again by the UPDATE itself: on PostgreSQL a
                // concurrent sweeper that picked the same rows skips those another committed.
                let sql = |p: [&str; 3]| {
                    format!(
                        "UPDATE approvals SET status = 'Expired', decided_by = 'system:timeout', decided_at = {0}, \
                         reason = 'no decision before the deadline', \
                         notification = CASE WHEN notification IN ('pending', 'sent') THEN 'update_pending' ELSE notification END, \
                         notify_attempts = 0, notify_error = NULL, notify_after = {0}, \
                         acted_on = CASE WHEN kind = 'Test' THEN 'done' ELSE 'due' END \
                         WHERE status = 'Pending' AND id IN (SELECT id FROM approvals WHERE status = 'Pending' \
                         AND expires_at < {1} ORDER BY expires_at LIMIT {2}) RETURNING id",
                        p[0], p[1], p[2]
                    )
                };
                claim_approvals(conn, &sql, decided_at, cutoff, limit)
            })
            .await;
        // After the write: a total counted before it is now stale.
        self.totals.changed();
        result
    }

    async fn set_notification_ref(
        &self,
        id: ApprovalId,
        reference: &str,
    ) -> Result<(), RepositoryError> {
        outbox::set_notification_ref(&self.db, id, reference).await
    }

    async fn set_notification_state(
        &self,
        id: ApprovalId,
        state: orchestra_domain::NotificationState,
    ) -> Result<(), RepositoryError> {
        outbox::set_notification_state(&self.db, id, state).await
    }

    async fn record_notify_failure(
        &self,
        id: ApprovalId,
        error: &str,
        retry_at: DateTime<Utc>,
        give_up: bool,
    ) -> Result<(), RepositoryError> {
        outbox::record_notify_failure(&self.db, id, error, retry_at, give_up).await
    }

    async fn claim_due_notifications(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        outbox::claim_due_notifications(&self.db, now, lease_until, limit).await
    }

    async fn release_first_attempt_leases(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        outbox::release_first_attempt_leases(&self.db, now).await
    }

    async fn count_notifications_due(&self) -> Result<u64, RepositoryError> {
        outbox::count_notifications_due(&self.db).await
    }

    async fn count_by_status(&self, status: ApprovalStatus) -> Result<u64, RepositoryError> {
        self.db
            .run("approvals.count", move |conn| {
                approvals::table
                    .filter(approvals::status.eq(status.as_str()))
                    .count()
                    .get_result::<i64>(conn)
                    .map(to_count)
                    .map_err(map_diesel)
            })
            .await
    }

    async fn claim_expiry_warnings(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let before = to_naive(before);
        let now = to_naive(now);
        self.db
            .write("approvals.claim_expiry_warnings", move |conn| {
                let sql = |p: [&str; 3]| {
                    format!(
                        "UPDATE approvals SET warned_at = {} WHERE status = 'Pending' AND warned_at IS NULL \
                         AND id IN (SELECT id FROM approvals WHERE status = 'Pending' AND warned_at IS NULL \
                         AND expires_at < {} ORDER BY expires_at LIMIT {}) RETURNING id",
                        p[0], p[1], p[2]
                    )
                };
                claim_approvals(conn, &sql, now, before, limit)
            })
            .await
    }

    async fn claim_escalations(
        &self,
        created_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let created_before = to_naive(created_before);
        let now = to_naive(now);
        self.db
            .write("approvals.claim_escalations", move |conn| {
                let sql = |p: [&str; 3]| {
                    format!(
                        "UPDATE approvals SET escalated_at = {} WHERE status = 'Pending' AND escalated_at IS NULL \
                         AND id IN (SELECT id FROM approvals WHERE status = 'Pending' AND escalated_at IS NULL \
                         AND risk IN ('high', 'critical') AND created_at < {} ORDER BY created_at LIMIT {}) RETURNING id",
                        p[0], p[1], p[2]
                    )
                };
                claim_approvals(conn, &sql, now, created_before, limit)
            })
            .await
    }

    async fn add_notification_ref(
        &self,
        id: ApprovalId,
        reference: &str,
    ) -> Result<(), RepositoryError> {
        outbox::add_notification_ref(&self.db, id, reference).await
    }

    async fn claim_action(
        &self,
        id: ApprovalId,
        node: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        acting::claim_action(&self.db, id, node, at).await
    }

    async fn finish_action(
        &self,
        id: ApprovalId,
        outcome: ActedOn,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        acting::finish_action(&self.db, id, outcome, at).await
    }

    async fn list_unacted(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        acting::list_unacted(&self.db, before, limit).await
    }

    async fn abandon_actions(
        &self,
        node: &str,
        stale_before: DateTime<Utc>,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        acting::abandon_actions(&self.db, node, stale_before, at, limit).await
    }
}
