//! The audit log: who did what, when, from where, and the state before and after, for every
//! session start, decision, cancellation and key change. Each event carries the SHA-256 of
//! the one before it, so a changed or deleted row is found by [`AuditTrail::verify`].

mod context;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::metrics_names as m;
use crate::ports::{AuditRepository, Clock, RepositoryError};

pub use context::RequestContext;

/// The hash the first event chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened (the caller's part of an event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Who (`key:ci`, `telegram:42 (@alice)`, `orchestra`, `cli`).
    pub actor: String,
    /// What (`session.create`, `approval.decide`, `approval.cancel`, `key.create`,
    /// `key.revoke`).
    pub action: String,
    /// On what (a session, approval or key).
    pub target: String,
    /// From where (`api`, `telegram`, `cli`, `orchestra`).
    pub source: String,
    /// The state before.
    pub before: Option<String>,
    /// The state after.
    pub after: Option<String>,
    /// More (a reason, a role).
    pub detail: Option<String>,
    /// The request it came with (`X-Request-Id`), when it came with one.
    pub request_id: Option<String>,
    /// The client's address, for a request over HTTP.
    pub client_addr: Option<String>,
}

impl AuditRecord {
    /// A record of `action` on `target` by `actor`, its source read from the actor's kind,
    /// with the request id and client address of the request being handled
    /// ([`RequestContext`]).
    pub fn new(actor: &str, action: &str, target: impl ToString) -> Self {
        let ctx = RequestContext::current();
        let source = match actor.split_once(':').map(|(kind, _)| kind) {
            Some("key") => "api",
            Some("telegram") => "telegram",
            _ => actor,
        };
        Self {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_string(),
            source: source.to_owned(),
            before: None,
            after: None,
            detail: None,
            request_id: ctx.request_id,
            client_addr: ctx.client_addr,
        }
    }

    /// With the states before and after.
    #[must_use]
    pub fn states(mut self, before: impl ToString, after: impl ToString) -> Self {
        self.before = Some(before.to_string());
        self.after = Some(after.to_string());
        self
    }

    /// With a detail.
    #[must_use]
    pub fn detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its place in the log, from 1, without gaps.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened.
    pub record: AuditRecord,
    /// The hash of the event before (or [`GENESIS`]).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and every field.
    pub hash: String,
}

impl AuditEvent {
    /// The event that follows `last` (or starts the log) with `record`, at `at`.
    pub fn next(last: Option<&AuditEvent>, record: &AuditRecord, at: DateTime<Utc>) -> Self {
        let (seq, prev) = last.map_or((1, GENESIS.to_owned()), |e| (e.seq + 1, e.hash.clone()));
        Self {
            seq,
            at,
            hash: event_hash(seq, at, record, &prev),
            record: record.clone(),
            prev_hash: prev,
        }
    }
}

fn field(h: &mut Sha256, value: Option<&str>) {
    // Length-prefixed, so no two different events hash the same text.
    let v = value.unwrap_or("\u{0}none");
    h.update(v.len().to_le_bytes());
    h.update(v.as_bytes());
}

/// The hash of an event with these fields.
pub fn event_hash(seq: i64, at: DateTime<Utc>, r: &AuditRecord, prev_hash: &str) -> String {
    let mut h = Sha256::new();
    field(&mut h, Some(prev_hash));
    field(&mut h, Some(&seq.to_string()));
    field(&mut h, Some(&at.timestamp_micros().to_string()));
    for v in [&r.actor, &r.action, &r.target, &r.source] {
        field(&mut h, Some(v));
    }
    for v in [&r.before, &r.after, &r.detail] {
        field(&mut h, v.as_deref());
    }
    // Added later: hashed only when present, so events from before keep their hashes (and
    // adding one to an old event still changes its hash).
    if r.request_id.is_some() || r.client_addr.is_some() {
        for v in [&r.request_id, &r.client_addr] {
            field(&mut h, v.as_deref());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Events checked.
    pub checked: u64,
    /// Problems, each naming the event (`seq 12: ...`).
    pub problems: Vec<String>,
    /// The oldest events, removed by retention (`retention.purge` covers them).
    pub removed_by_retention: u64,
}

/// Appends to and checks the audit log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    repo: Arc<dyn AuditRepository>,
    clock: Arc<dyn Clock>,
}

impl AuditTrail {
    /// A trail over its repository.
    pub fn new(repo: Arc<dyn AuditRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    /// Appends `record`. An audit failure never undoes what was done; it is logged and
    /// counted (`audit_append_failures_total`).
    pub async fn record(&self, record: AuditRecord) {
        if let Err(err) = self.try_record(&record).await {
            metrics::counter!(m::AUDIT_APPEND_FAILURES_TOTAL).increment(1);
            tracing::error!(audit.action = %record.action, audit.target = %record.target, error = %err, "could not append to the audit log");
        }
    }

    async fn try_record(&self, record: &AuditRecord) -> Result<(), RepositoryError> {
        self.repo.append(record, self.clock.now()).await.map(|_| ())
    }

    /// A page of events, newest first, and the total.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn page(&self, offset: u64, limit: u32) -> Result<(Vec<AuditEvent>, u64), AppError> {
        Ok(self.repo.page(offset, limit).await?)
    }

    /// Walks the whole log: every event's hash must match its fields, chain to the one
    /// before, and no `seq` may be missing. A log whose oldest events were removed by
    /// retention starts later: a `retention.purge` event in it must cover them (and, when it
    /// names the very event before the first one left, its hash must be the one the first
    /// event chains to).
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn verify(&self) -> Result<VerifyReport, AppError> {
        let mut report = VerifyReport::default();
        let head = self.repo.after(0, 1).await?.into_iter().next();
        let head = head.filter(|e| e.seq > 1);
        let (mut expected_seq, mut prev) = match &head {
            Some(e) => (e.seq, e.prev_hash.clone()),
            None => (1_i64, GENESIS.to_owned()),
        };
        let mut purges: Vec<(i64, String)> = Vec::new();
        loop {
            let batch = self.repo.after(expected_seq - 1, 1000).await?;
            if batch.is_empty() {
                break;
            }
            for e in batch {
                report.checked += 1;
                if e.seq != expected_seq {
                    report.problems.push(format!(
                        "seq {expected_seq}: missing (the next event is seq {}): deleted",
                        e.seq
                    ));
                }
                if e.prev_hash != prev {
                    report.problems.push(format!(
                        "seq {}: does not chain to the event before it (one was changed or deleted)",
                        e.seq
                    ));
                }
                if event_hash(e.seq, e.at, &e.record, &e.prev_hash) != e.hash {
                    report.problems.push(format!(
                        "seq {}: its content does not match its hash: changed",
                        e.seq
                    ));
                }
                if e.record.action == crate::retention::PURGE_ACTION
                    && let Some(p) = purge_bound(e.record.detail.as_deref())
                {
                    purges.push(p);
                }
                expected_seq = e.seq + 1;
                prev = e.hash;
            }
        }
        if let Some(first) = head {
            let gone = first.seq - 1;
            report.removed_by_retention = u64::try_from(gone).unwrap_or(0);
            match purges.iter().find(|(through, _)| *through >= gone) {
                None => report.problems.push(if gone == 1 {
                    "seq 1: missing, and no retention run removed it: deleted".to_owned()
                } else {
                    format!("seq 1-{gone}: missing, and no retention run removed them: deleted")
                }),
                Some((through, hash)) if *through == gone && *hash != first.prev_hash => {
                    report.problems.push(format!(
                        "seq {}: does not chain to the last event retention removed (one was changed)",
                        first.seq
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(report)
    }
}

/// `(throughSeq, throughHash)` of a `retention.purge` event's detail.
fn purge_bound(detail: Option<&str>) -> Option<(i64, String)> {
    let v: serde_json::Value = serde_json::from_str(detail?).ok()?;
    Some((
        v["throughSeq"].as_i64()?,
        v["throughHash"].as_str()?.to_owned(),
    ))
}

#[cfg(test)]
mod tests;
