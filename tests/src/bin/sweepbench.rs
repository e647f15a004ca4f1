//! How long the approval timeout service takes to expire 10,000 approvals that are past
//! their deadline, on a SQLite file (the embedded default).
//!
//! ```text
//! sweepbench [--count N] [--batch B]
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: fail loudly"
)]

use std::sync::Arc;
use std::time::Instant;

use chrono::Duration;
use orchestra_application::approvals::{
    ApprovalDeps, ApprovalEvents, ExpireApprovalsHandler, NotificationDispatcher, QueueGauge,
};
use orchestra_application::ports::{
    ApprovalNotifier, ApprovalRepository, Clock, DisabledNotifier, SystemClock,
};
use orchestra_db::{Database, DatabaseTarget, DieselApprovalRepository, Migrations, PoolSettings};
use orchestra_domain::approval::ApprovalTimeoutPolicy;
use orchestra_domain::{ApprovalId, ApprovalKind, ApprovalRequest, ApprovalStatus, NewApproval};
use orchestra_tests::bin_support::flag;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = flag(&args, "--count").map_or(10_000, |s| s.parse().unwrap());
    let batch: u32 = flag(&args, "--batch").map_or(500, |s| s.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let target = DatabaseTarget::parse(&format!(
        "Data Source={}",
        dir.path().join("bench.db").display()
    ))
    .unwrap();
    let db = tokio::task::spawn_blocking(move || Database::open(target, PoolSettings::default()))
        .await
        .unwrap()
        .unwrap();
    Migrations::apply_pending_async(&db).await.unwrap();
    let repo: Arc<dyn ApprovalRepository> = Arc::new(DieselApprovalRepository::new(db.clone()));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let setup = Instant::now();
    let mut tasks = Vec::new();
    for chunk in 0..8 {
        let repo = Arc::clone(&repo);
        tasks.push(tokio::spawn(async move {
            for i in (chunk..count).step_by(8) {
                let created = now - Duration::hours(2);
                let a = ApprovalRequest::open(
                    ApprovalId::new(),
                    NewApproval {
                        session_id: format!("s{}", i % 50),
                        agent_id: "claude-code".into(),
                        tool_name: "Bash".into(),
                        tool_input: serde_json::json!({"command": format!("echo {i}")}),
                        tool_use_id: Some(format!("toolu_{i}")),
                        kind: ApprovalKind::Live,
                        description: None,
                        session_rule: None,
                        risk: Default::default(),
                        working_directory: None,
                        approvals_needed: 1,
                    },
                    created,
                    created + Duration::minutes(30),
                );
                repo.insert(&a).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let setup = setup.elapsed();
    let notifier: Arc<dyn ApprovalNotifier> = Arc::new(DisabledNotifier);
    let handler = ExpireApprovalsHandler::new(
        ApprovalDeps {
            repo: Arc::clone(&repo),
            clock,
            policy: ApprovalTimeoutPolicy::default(),
            events: ApprovalEvents::default(),
            dispatcher: NotificationDispatcher::new(notifier, Arc::clone(&repo)),
            audit: None,
            queue_gauge: QueueGauge::new(Arc::clone(&repo)),
            agent_home: None,
        },
        batch,
    );
    let started = Instant::now();
    let report = handler.sweep().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.expired, count, "every due approval expired");
    assert_eq!(
        repo.count_by_status(ApprovalStatus::Pending).await.unwrap(),
        0
    );
    println!(
        "{{\"bench\":\"sweep\",\"backend\":\"sqlite\",\"approvals\":{count},\"batch\":{batch},\"batches\":{},\"sweep_ms\":{:.1},\"per_second\":{:.0},\"setup_ms\":{:.0}}}",
        report.batches,
        elapsed.as_secs_f64() * 1000.0,
        count as f64 / elapsed.as_secs_f64(),
        setup.as_secs_f64() * 1000.0
    );
}
