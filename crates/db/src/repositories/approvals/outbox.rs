//! The notification outbox's SQL: what the chat was sent, what is due again, what failed.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use orchestra_application::ports::RepositoryError;
use orchestra_domain::{ApprovalId, ApprovalRequest};

use super::claim_approvals;
use crate::models::to_naive;
use crate::repositories::to_count;
use crate::schema::approvals;
use crate::{Database, map_diesel};

pub(super) async fn set_notification_ref(
    db: &Database,
    id: ApprovalId,
    reference: &str,
) -> Result<(), RepositoryError> {
    let id = id.to_string();
    let reference = reference.to_owned();
    db.write("approvals.set_notification_ref", move |conn| {
        let n = diesel::update(approvals::table.find(&id))
            .set((
                approvals::notification_ref.eq(reference),
                approvals::notify_attempts.eq(0),
                approvals::notify_error.eq(None::<String>),
                approvals::notify_after.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)
            .map_err(map_diesel)?;
        if n == 0 {
            return Err(RepositoryError::NotFound);
        }
        // Sent; or, decided while it was being sent, its update is due now.
        let due = || {
            approvals::table
                .filter(approvals::id.eq(&id))
                .filter(approvals::notification.eq_any(["pending", "update_pending"]))
        };
        diesel::update(due().filter(approvals::status.eq("Pending")))
            .set(approvals::notification.eq("sent"))
            .execute(conn)
            .map_err(map_diesel)?;
        diesel::update(due().filter(approvals::status.ne("Pending")))
            .set(approvals::notification.eq("update_pending"))
            .execute(conn)
            .map_err(map_diesel)?;
        Ok(())
    })
    .await
}

pub(super) async fn add_notification_ref(
    db: &Database,
    id: ApprovalId,
    reference: &str,
) -> Result<(), RepositoryError> {
    let id = id.to_string();
    let reference = reference.to_owned();
    db.write("approvals.add_notification_ref", move |conn| {
        // One statement: a first delivery that lands at the same time is not overwritten.
        let n = diesel::update(approvals::table.find(&id))
            .set(
                approvals::notification_ref.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::Text>,
                >(
                    "CASE WHEN notification_ref IS NULL THEN "
                )
                .bind::<diesel::sql_types::Text, _>(reference.clone())
                .sql(" ELSE notification_ref || ' ' || ")
                .bind::<diesel::sql_types::Text, _>(reference)
                .sql(" END")),
            )
            .execute(conn)
            .map_err(map_diesel)?;
        if n == 0 {
            return Err(RepositoryError::NotFound);
        }
        Ok(())
    })
    .await
}

pub(super) async fn set_notification_state(
    db: &Database,
    id: ApprovalId,
    state: orchestra_domain::NotificationState,
) -> Result<(), RepositoryError> {
    let id = id.to_string();
    db.write("approvals.set_notification_state", move |conn| {
        let row = approvals::table.filter(approvals::id.eq(&id));
        if state == orchestra_domain::NotificationState::Updated {
            diesel::update(row)
                .set((
                    approvals::notification.eq(state.as_str()),
                    approvals::notify_attempts.eq(0),
                    approvals::notify_error.eq(None::<String>),
                ))
                .execute(conn)
        } else {
            diesel::update(row)
                .set(approvals::notification.eq(state.as_str()))
                .execute(conn)
        }
        .map(|_| ())
        .map_err(map_diesel)
    })
    .await
}

pub(super) async fn record_notify_failure(
    db: &Database,
    id: ApprovalId,
    error: &str,
    retry_at: DateTime<Utc>,
    give_up: bool,
) -> Result<(), RepositoryError> {
    let id = id.to_string();
    let error: String = error.chars().take(500).collect();
    let retry_at = to_naive(retry_at);
    db.write("approvals.record_notify_failure", move |conn| {
        let row = approvals::table
            .filter(approvals::id.eq(&id))
            .filter(approvals::notification.eq_any(["pending", "update_pending"]));
        diesel::update(row)
            .set((
                approvals::notify_attempts.eq(approvals::notify_attempts + 1),
                approvals::notify_error.eq(Some(error)),
                approvals::notify_after.eq(Some(retry_at)),
            ))
            .execute(conn)
            .map_err(map_diesel)?;
        if give_up {
            diesel::update(
                approvals::table
                    .filter(approvals::id.eq(&id))
                    .filter(approvals::notification.eq("update_pending")),
            )
            .set(approvals::notification.eq("failed"))
            .execute(conn)
            .map_err(map_diesel)?;
        }
        Ok(())
    })
    .await
}

pub(super) async fn claim_due_notifications(
    db: &Database,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ApprovalRequest>, RepositoryError> {
    let now = to_naive(now);
    let lease_until = to_naive(lease_until);
    db
        .write("approvals.claim_due_notifications", move |conn| {
            let sql = |p: [&str; 3]| {
                format!(
                    "UPDATE approvals SET notify_after = {0} WHERE notification IN ('pending', 'update_pending') \
                     AND (notify_after IS NULL OR notify_after <= {1}) \
                     AND id IN (SELECT id FROM approvals WHERE notification IN ('pending', 'update_pending') \
                     AND (notify_after IS NULL OR notify_after <= {1}) ORDER BY created_at LIMIT {2}) RETURNING id",
                    p[0], p[1], p[2]
                )
            };
            claim_approvals(conn, &sql, lease_until, now, limit)
        })
        .await
}

pub(super) async fn release_first_attempt_leases(
    db: &Database,
    now: DateTime<Utc>,
) -> Result<u64, RepositoryError> {
    let now = to_naive(now);
    db.write("approvals.release_first_attempt_leases", move |conn| {
        diesel::update(
            approvals::table
                .filter(approvals::notification.eq_any(["pending", "update_pending"]))
                .filter(approvals::notify_attempts.eq(0))
                .filter(approvals::notify_after.gt(now)),
        )
        .set(approvals::notify_after.eq(Some(now)))
        .execute(conn)
        .map(|n| n as u64)
        .map_err(map_diesel)
    })
    .await
}

pub(super) async fn count_notifications_due(db: &Database) -> Result<u64, RepositoryError> {
    db.run("approvals.count_notifications_due", move |conn| {
        approvals::table
            .filter(approvals::notification.eq_any(["pending", "update_pending"]))
            .count()
            .get_result::<i64>(conn)
            .map(to_count)
            .map_err(map_diesel)
    })
    .await
}
