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
    async fn last(&self) -> Result<Option<AuditEvent>, RepositoryError> {
        Ok(self.0.lock().unwrap().last().cloned())
    }
    async fn append(&self, event: &AuditEvent) -> Result<(), RepositoryError> {
        let mut log = self.0.lock().unwrap();
        if log.iter().any(|e| e.seq == event.seq) {
            return Err(RepositoryError::Conflict("seq taken".into()));
        }
        log.push(event.clone());
        Ok(())
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
