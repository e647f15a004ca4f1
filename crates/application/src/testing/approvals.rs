//! The in-memory approval repository: compare-and-set decisions, the outbox's leases and
//! the acted-on claims, as the SQL repository does them.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orchestra_domain::{
    ActedOn, ApprovalId, ApprovalRequest, ApprovalStatus, Decision, NotificationState,
};

use super::{lock, page_of};
use crate::ports::{
    ApprovalFilter, ApprovalRepository, DecideOutcome, Page, PageRequest, RepositoryError,
};

/// Approvals in a map.
#[derive(Debug, Default)]
pub struct InMemoryApprovalRepository {
    rows: Mutex<HashMap<ApprovalId, ApprovalRequest>>,
    warned: Mutex<std::collections::HashSet<ApprovalId>>,
    escalated: Mutex<std::collections::HashSet<ApprovalId>>,
    audited: Mutex<Vec<crate::audit::AuditRecord>>,
    /// When each approval's next delivery is due (the outbox lease).
    notify_after: Mutex<HashMap<ApprovalId, DateTime<Utc>>>,
    /// Who claimed each decision being acted on, and when.
    acting: Mutex<HashMap<ApprovalId, (String, DateTime<Utc>)>>,
    /// How many times `count_by_status` ran.
    counts: std::sync::atomic::AtomicUsize,
}

/// The immediate attempt's head start over the outbox.
fn lease() -> chrono::Duration {
    chrono::Duration::seconds(orchestra_domain::notification::FIRST_ATTEMPT_LEASE_SECS)
}

/// Rewrites an approval's outbox fields.
fn with_outbox(row: &mut ApprovalRequest, f: impl FnOnce(&mut orchestra_domain::ApprovalSnapshot)) {
    let mut snap = row.snapshot().clone();
    f(&mut snap);
    *row = ApprovalRequest::restore(snap);
}

impl InMemoryApprovalRepository {
    /// The audit records written with decisions, in order.
    pub fn audited(&self) -> Vec<crate::audit::AuditRecord> {
        lock(&self.audited).clone()
    }

    /// How many times the Pending rows were counted.
    pub fn counts_taken(&self) -> usize {
        self.counts.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl ApprovalRepository for InMemoryApprovalRepository {
    async fn insert(&self, approval: &ApprovalRequest) -> Result<(), RepositoryError> {
        let mut rows = lock(&self.rows);
        if rows.contains_key(&approval.id()) {
            return Err(RepositoryError::Conflict(format!(
                "approval {} exists",
                approval.id()
            )));
        }
        // As the databases' unique index: one Pending budget approval per session.
        let budget = |a: &ApprovalRequest| {
            a.request().kind == orchestra_domain::ApprovalKind::Budget
                && a.status() == orchestra_domain::ApprovalStatus::Pending
        };
        if budget(approval)
            && rows
                .values()
                .any(|a| budget(a) && a.request().session_id == approval.request().session_id)
        {
            return Err(RepositoryError::Conflict(format!(
                "session {} has a Pending budget approval",
                approval.request().session_id
            )));
        }
        rows.insert(approval.id(), approval.clone());
        lock(&self.notify_after).insert(approval.id(), approval.created_at() + lease());
        Ok(())
    }

    async fn find(&self, id: ApprovalId) -> Result<Option<ApprovalRequest>, RepositoryError> {
        Ok(lock(&self.rows).get(&id).cloned())
    }

    async fn list(
        &self,
        filter: &ApprovalFilter,
        page: PageRequest,
    ) -> Result<Page<ApprovalRequest>, RepositoryError> {
        let mut rows: Vec<ApprovalRequest> = lock(&self.rows)
            .values()
            .filter(|a| filter.status.is_none_or(|s| a.status() == s))
            .filter(|a| filter.kind.is_none_or(|k| a.request().kind == k))
            .filter(|a| {
                filter
                    .session_id
                    .as_ref()
                    .is_none_or(|s| &a.request().session_id == s)
            })
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            b.created_at()
                .cmp(&a.created_at())
                .then(b.id().cmp(&a.id()))
        });
        if filter.oldest_first {
            rows.reverse();
        }
        Ok(page_of(rows, page))
    }

    async fn decide(
        &self,
        id: ApprovalId,
        decision: &Decision,
        audit: Option<&crate::audit::AuditRecord>,
    ) -> Result<DecideOutcome, RepositoryError> {
        let mut rows = lock(&self.rows);
        let Some(row) = rows.get_mut(&id) else {
            return Ok(DecideOutcome::NotFound);
        };
        if row.status() != ApprovalStatus::Pending {
            return Ok(DecideOutcome::NotPending(row.clone()));
        }
        row.apply(decision.clone());
        lock(&self.notify_after).insert(id, decision.decided_at + lease());
        lock(&self.audited).extend(audit.cloned());
        Ok(DecideOutcome::Decided(row.clone()))
    }

    async fn vote(
        &self,
        id: ApprovalId,
        voter: &str,
        approve: &Decision,
        audit_vote: Option<&crate::audit::AuditRecord>,
        audit_decide: Option<&crate::audit::AuditRecord>,
    ) -> Result<crate::ports::VoteOutcome, RepositoryError> {
        use crate::ports::VoteOutcome;
        let mut rows = lock(&self.rows);
        let Some(row) = rows.get_mut(&id) else {
            return Ok(VoteOutcome::NotFound);
        };
        match row.vote(voter, approve.clone()) {
            Err(refused) => Ok(VoteOutcome::Refused(refused)),
            Ok(orchestra_domain::VoteStep::Recorded(votes)) => {
                with_outbox(row, |s| s.votes = votes);
                lock(&self.audited).extend(audit_vote.cloned());
                Ok(VoteOutcome::Recorded(row.clone()))
            }
            Ok(orchestra_domain::VoteStep::Decides(decision)) => {
                with_outbox(row, |s| s.votes.clone_from(&decision.votes));
                lock(&self.notify_after).insert(id, decision.decided_at + lease());
                row.apply(decision);
                lock(&self.audited).extend(audit_decide.cloned());
                Ok(VoteOutcome::Decided(row.clone()))
            }
        }
    }

    async fn expire_due(
        &self,
        cutoff: DateTime<Utc>,
        decided_at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let mut rows = lock(&self.rows);
        let mut out = Vec::new();
        for row in rows.values_mut() {
            if out.len() >= limit as usize {
                break;
            }
            if row.status() == ApprovalStatus::Pending && row.expires_at() < cutoff {
                row.apply(Decision {
                    outcome: orchestra_domain::DecisionOutcome::Expired,
                    decided_by: "system:timeout".into(),
                    decided_at,
                    reason: Some("no decision before the deadline".into()),
                    updated_input: None,
                    scope: orchestra_domain::ApprovalScope::Once,
                    grant: None,
                    votes: Vec::new(),
                });
                out.push(row.clone());
            }
        }
        Ok(out)
    }

    async fn set_notification_ref(
        &self,
        id: ApprovalId,
        reference: &str,
    ) -> Result<(), RepositoryError> {
        let mut rows = lock(&self.rows);
        let row = rows.get_mut(&id).ok_or(RepositoryError::NotFound)?;
        row.set_notification_ref(reference);
        let pending = row.status() == ApprovalStatus::Pending;
        with_outbox(row, |s| {
            s.notify_attempts = 0;
            s.notify_error = None;
            if s.notification.is_due() {
                s.notification = if pending {
                    NotificationState::Sent
                } else {
                    NotificationState::UpdatePending
                };
            }
        });
        lock(&self.notify_after).remove(&id);
        Ok(())
    }

    async fn set_notification_state(
        &self,
        id: ApprovalId,
        state: NotificationState,
    ) -> Result<(), RepositoryError> {
        if let Some(row) = lock(&self.rows).get_mut(&id) {
            with_outbox(row, |s| {
                s.notification = state;
                if state == NotificationState::Updated {
                    s.notify_attempts = 0;
                    s.notify_error = None;
                }
            });
        }
        Ok(())
    }

    async fn record_notify_failure(
        &self,
        id: ApprovalId,
        error: &str,
        retry_at: DateTime<Utc>,
        give_up: bool,
    ) -> Result<(), RepositoryError> {
        if let Some(row) = lock(&self.rows).get_mut(&id)
            && row.notification().is_due()
        {
            with_outbox(row, |s| {
                s.notify_attempts += 1;
                s.notify_error = Some(error.chars().take(500).collect());
                if give_up && s.notification == NotificationState::UpdatePending {
                    s.notification = NotificationState::Failed;
                }
            });
            lock(&self.notify_after).insert(id, retry_at);
        }
        Ok(())
    }

    async fn claim_due_notifications(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let rows = lock(&self.rows);
        let mut after = lock(&self.notify_after);
        let mut due: Vec<&ApprovalRequest> = rows
            .values()
            .filter(|a| a.notification().is_due())
            .filter(|a| after.get(&a.id()).is_none_or(|t| *t <= now))
            .collect();
        due.sort_by_key(|a| a.created_at());
        due.truncate(limit as usize);
        for a in &due {
            after.insert(a.id(), lease_until);
        }
        Ok(due.into_iter().cloned().collect())
    }

    async fn release_first_attempt_leases(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let rows = lock(&self.rows);
        let mut after = lock(&self.notify_after);
        let mut n = 0;
        for a in rows.values() {
            if a.notification().is_due()
                && a.notify_attempts() == 0
                && after.get(&a.id()).is_some_and(|t| *t > now)
            {
                after.insert(a.id(), now);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn count_notifications_due(&self) -> Result<u64, RepositoryError> {
        Ok(lock(&self.rows)
            .values()
            .filter(|a| a.notification().is_due())
            .count() as u64)
    }

    async fn claim_action(
        &self,
        id: ApprovalId,
        node: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut rows = lock(&self.rows);
        let Some(row) = rows.get_mut(&id).filter(|r| r.acted_on() == ActedOn::Due) else {
            return Ok(false);
        };
        with_outbox(row, |s| s.acted_on = ActedOn::Acting);
        lock(&self.acting).insert(id, (node.to_owned(), at));
        Ok(true)
    }

    async fn finish_action(
        &self,
        id: ApprovalId,
        outcome: ActedOn,
        _at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        if let Some(row) = lock(&self.rows)
            .get_mut(&id)
            .filter(|r| r.acted_on() == ActedOn::Acting)
        {
            with_outbox(row, |s| s.acted_on = outcome);
        }
        lock(&self.acting).remove(&id);
        Ok(())
    }

    async fn list_unacted(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let decided_at = |a: &ApprovalRequest| a.decision().map(|d| d.decided_at);
        let mut due: Vec<ApprovalRequest> = lock(&self.rows)
            .values()
            .filter(|a| a.acted_on() == ActedOn::Due)
            .filter(|a| decided_at(a).is_some_and(|t| t < before))
            .cloned()
            .collect();
        due.sort_by_key(decided_at);
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn abandon_actions(
        &self,
        node: &str,
        stale_before: DateTime<Utc>,
        _at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let mut rows = lock(&self.rows);
        let mut acting = lock(&self.acting);
        let gone: Vec<ApprovalId> = acting
            .iter()
            .filter(|(_, (n, at))| n == node || *at < stale_before)
            .map(|(id, _)| *id)
            .take(limit as usize)
            .collect();
        let mut out = Vec::new();
        for id in gone {
            acting.remove(&id);
            if let Some(row) = rows.get_mut(&id) {
                with_outbox(row, |s| s.acted_on = ActedOn::Uncertain);
                out.push(row.clone());
            }
        }
        Ok(out)
    }

    async fn count_by_status(&self, status: ApprovalStatus) -> Result<u64, RepositoryError> {
        self.counts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(lock(&self.rows)
            .values()
            .filter(|a| a.status() == status)
            .count() as u64)
    }

    async fn claim_escalations(
        &self,
        created_before: DateTime<Utc>,
        _now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let rows = lock(&self.rows);
        let mut escalated = lock(&self.escalated);
        let mut out = Vec::new();
        for a in rows.values() {
            if out.len() >= limit as usize {
                break;
            }
            if a.status() == ApprovalStatus::Pending
                && a.request().risk != orchestra_domain::policy::RiskClass::Low
                && a.created_at() < created_before
                && escalated.insert(a.id())
            {
                out.push(a.clone());
            }
        }
        Ok(out)
    }

    async fn add_notification_ref(
        &self,
        id: ApprovalId,
        reference: &str,
    ) -> Result<(), RepositoryError> {
        let mut rows = lock(&self.rows);
        let row = rows.get_mut(&id).ok_or(RepositoryError::NotFound)?;
        let all = match row.notification_ref() {
            Some(old) => format!("{old} {reference}"),
            None => reference.to_owned(),
        };
        row.set_notification_ref(all);
        Ok(())
    }

    async fn claim_expiry_warnings(
        &self,
        before: DateTime<Utc>,
        _now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, RepositoryError> {
        let rows = lock(&self.rows);
        let mut warned = lock(&self.warned);
        let mut out = Vec::new();
        for a in rows.values() {
            if out.len() >= limit as usize {
                break;
            }
            if a.status() == ApprovalStatus::Pending
                && a.expires_at() < before
                && warned.insert(a.id())
            {
                out.push(a.clone());
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl crate::ports::GrantRepository for InMemoryApprovalRepository {
    async fn for_session(
        &self,
        session_id: &str,
    ) -> Result<Vec<orchestra_domain::Grant>, RepositoryError> {
        let mut grants: Vec<_> = lock(&self.rows)
            .values()
            .filter_map(orchestra_domain::Grant::of)
            .filter(|g| g.session_id == session_id)
            .collect();
        grants.sort_by_key(|g| (g.granted_at, g.id));
        Ok(grants)
    }

    async fn revoke(
        &self,
        session_id: &str,
        id: ApprovalId,
        revocation: &orchestra_domain::Revocation,
        audit: Option<&crate::audit::AuditRecord>,
    ) -> Result<crate::ports::RevokeOutcome, RepositoryError> {
        use crate::ports::RevokeOutcome;
        let mut rows = lock(&self.rows);
        let Some(row) = rows.get_mut(&id) else {
            return Ok(RevokeOutcome::NotFound);
        };
        let Some(grant) = orchestra_domain::Grant::of(row).filter(|g| g.session_id == session_id)
        else {
            return Ok(RevokeOutcome::NotFound);
        };
        if grant.terms.revoked.is_some() {
            return Ok(RevokeOutcome::AlreadyRevoked(grant));
        }
        with_outbox(row, |s| {
            if let Some(g) = s.decision.as_mut().and_then(|d| d.grant.as_mut()) {
                g.revoked = Some(revocation.clone());
            }
        });
        lock(&self.audited).extend(audit.cloned());
        let revoked = orchestra_domain::Grant::of(row).ok_or(RepositoryError::NotFound)?;
        Ok(RevokeOutcome::Revoked(revoked))
    }
}
