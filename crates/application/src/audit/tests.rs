//! The audit trail over an in-memory log: appends chain, and verify names a changed or
//! deleted event.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::*;
use crate::testing::ManualClock;

#[derive(Debug, Default)]
struct MemoryLog(Mutex<Vec<AuditEvent>>);

#[async_trait]
impl AuditRepository for MemoryLog {
    async fn append(
        &self,
        record: &AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<AuditEvent, RepositoryError> {
        let mut log = self.0.lock().unwrap();
        let event = AuditEvent::next(log.last(), record, at);
        log.push(event.clone());
        Ok(event)
    }
    async fn after(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, RepositoryError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.seq > after)
            .take(limit as usize)
            .cloned()
            .collect())
    }
    async fn page(
        &self,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<AuditEvent>, u64), RepositoryError> {
        let log = self.0.lock().unwrap();
        let items = log
            .iter()
            .rev()
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        Ok((items, log.len() as u64))
    }
}

async fn trail_with(n: usize) -> (AuditTrail, Arc<MemoryLog>) {
    let log = Arc::new(MemoryLog::default());
    let trail = AuditTrail::new(log.clone(), Arc::new(ManualClock::fixed()));
    for i in 0..n {
        trail
            .record(AuditRecord::new("key:ci", "approval.decide", i).states("Pending", "Approved"))
            .await;
    }
    (trail, log)
}

#[tokio::test]
async fn appended_events_chain_and_verify() {
    let (trail, log) = trail_with(5).await;
    let events = log.0.lock().unwrap().clone();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(events[0].prev_hash, GENESIS);
    assert_eq!(events[1].prev_hash, events[0].hash);
    assert_eq!(events[0].record.source, "api");
    let report = trail.verify().await.unwrap();
    assert_eq!((report.checked, report.problems.len()), (5, 0));
}

#[tokio::test]
async fn a_changed_event_is_named() {
    let (trail, log) = trail_with(4).await;
    log.0.lock().unwrap()[2].record.actor = "key:someone-else".into();
    let report = trail.verify().await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].starts_with("seq 3:"),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn a_deleted_event_is_named() {
    let (trail, log) = trail_with(4).await;
    log.0.lock().unwrap().remove(1);
    let report = trail.verify().await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("seq 2: missing")),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn deleting_the_newest_event_is_invisible_to_the_chain_alone() {
    // What a hash chain cannot show by itself: the last event removed. The count of events
    // in metrics and backups is the operator's check for that (docs/security.md).
    let (trail, log) = trail_with(3).await;
    log.0.lock().unwrap().pop();
    assert!(trail.verify().await.unwrap().problems.is_empty());
}

#[tokio::test]
async fn the_request_context_is_recorded_and_hashed() {
    let log = Arc::new(MemoryLog::default());
    let trail = AuditTrail::new(log.clone(), Arc::new(ManualClock::fixed()));
    let ctx = RequestContext {
        request_id: Some("req-7".into()),
        client_addr: Some("10.0.0.9:41000".into()),
    };
    // Made inside the scope, as a handler makes it.
    ctx.scope(async {
        trail
            .record(AuditRecord::new("key:ci", "session.create", "s1"))
            .await;
    })
    .await;
    trail
        .record(AuditRecord::new("orchestra", "approval.expire", "a1"))
        .await;
    let events = log.0.lock().unwrap().clone();
    assert_eq!(events[0].record.request_id.as_deref(), Some("req-7"));
    assert_eq!(
        events[0].record.client_addr.as_deref(),
        Some("10.0.0.9:41000")
    );
    assert_eq!(events[1].record.request_id, None, "outside a request");
    assert!(trail.verify().await.unwrap().problems.is_empty());
    // Changing where it came from is found like any other change.
    log.0.lock().unwrap()[0].record.client_addr = Some("127.0.0.1:1".into());
    assert!(trail.verify().await.unwrap().problems[0].starts_with("seq 1:"));
    // An event from before these fields existed keeps its hash.
    let mut old = AuditRecord::new("cli", "key.create", "ci");
    old.request_id = None;
    old.client_addr = None;
    let mut with_empty = old.clone();
    with_empty.request_id = Some(String::new());
    assert_ne!(
        event_hash(1, events[1].at, &old, GENESIS),
        event_hash(1, events[1].at, &with_empty, GENESIS)
    );
}
