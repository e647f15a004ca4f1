//! Handler tests over the in-memory fakes.

use std::sync::Arc;

use chrono::Duration;
use orchestra_domain::{
    ApprovalKind, ApprovalScope, ApprovalStatus, ApprovalTimeoutPolicy, DecideApprovalError,
    NewApproval,
};
use serde_json::json;

use super::*;
use crate::error::AppError;
use crate::ports::{ApprovalNotifier, ApprovalRepository, Clock};
use crate::testing::{InMemoryApprovalRepository, ManualClock, RecordingNotifier};

struct Fixture {
    repo: Arc<dyn ApprovalRepository>,
    clock: Arc<ManualClock>,
    notifier: Arc<RecordingNotifier>,
    events: ApprovalEvents,
    request: RequestApprovalHandler,
    decide: DecideApprovalHandler,
    cancel: CancelApprovalHandler,
    expire: ExpireApprovalsHandler,
}

fn fixture() -> Fixture {
    let repo: Arc<dyn ApprovalRepository> = Arc::new(InMemoryApprovalRepository::default());
    let clock = Arc::new(ManualClock::fixed());
    let notifier = RecordingNotifier::shared();
    let events = ApprovalEvents::default();
    let dispatcher = NotificationDispatcher::new(
        Arc::clone(&notifier) as Arc<dyn ApprovalNotifier>,
        Arc::clone(&repo),
    );
    let policy = ApprovalTimeoutPolicy::default();
    let c: Arc<dyn Clock> = clock.clone();
    let deps = ApprovalDeps {
        repo: repo.clone(),
        clock: c,
        policy,
        events: events.clone(),
        dispatcher,
        audit: None,
        queue_gauge: QueueGauge::new(repo.clone()),
        agent_home: None,
    };
    Fixture {
        request: RequestApprovalHandler::new(deps.clone()),
        decide: DecideApprovalHandler::new(deps.clone()),
        cancel: CancelApprovalHandler::new(deps.clone()),
        expire: ExpireApprovalsHandler::new(deps, 3),
        repo,
        clock,
        notifier,
        events,
    }
}

fn new_approval(tool: &str) -> NewApproval {
    NewApproval {
        session_id: "session-1".into(),
        agent_id: "claude-code".into(),
        tool_name: tool.into(),
        tool_input: json!({"command": "rm -rf build"}),
        tool_use_id: Some("toolu_1".into()),
        kind: ApprovalKind::Live,
        description: None,
        session_rule: None,
        risk: Default::default(),
        working_directory: None,
        approvals_needed: 1,
    }
}

async fn open(f: &Fixture, timeout: Option<Duration>) -> orchestra_domain::ApprovalRequest {
    f.request
        .handle(RequestApproval {
            request: new_approval("Bash"),
            timeout,
            await_delivery: true,
        })
        .await
        .unwrap()
        .0
}

fn decide_cmd(id: orchestra_domain::ApprovalId, approved: bool, by: &str) -> DecideApproval {
    DecideApproval {
        id,
        approved,
        decided_by: by.into(),
        voter: by.into(),
        reason: Some("looks fine".into()),
        updated_input: None,
        scope: ApprovalScope::Once,
        rule: None,
        expires_in_minutes: None,
        expected_version: None,
    }
}

#[tokio::test]
async fn a_requested_approval_is_stored_pending_before_the_notifier_hears_of_it() {
    let f = fixture();
    let mut rx = f.events.subscribe();
    let a = open(&f, None).await;
    assert_eq!(a.status(), ApprovalStatus::Pending);
    assert_eq!(a.expires_at(), a.created_at() + Duration::minutes(30));
    assert!(matches!(rx.recv().await.unwrap(), ApprovalEvent::Opened(x) if x.id() == a.id()));
    assert_eq!(f.notifier.pending(), vec![a.id()]);
    let stored = f.repo.find(a.id()).await.unwrap().unwrap();
    assert_eq!(
        stored.notification_ref(),
        Some(format!("recording:{}", a.id()).as_str())
    );
}

#[tokio::test]
async fn a_failing_notifier_does_not_fail_the_request() {
    let f = fixture();
    f.notifier.set_failing(true);
    let (a, delivery) = f
        .request
        .handle(RequestApproval {
            request: new_approval("Bash"),
            timeout: None,
            await_delivery: true,
        })
        .await
        .unwrap();
    assert!(matches!(delivery, Some(Delivery::Failed(_))));
    assert_eq!(
        f.repo.find(a.id()).await.unwrap().unwrap().status(),
        ApprovalStatus::Pending
    );
}

#[tokio::test]
async fn empty_tool_names_and_huge_inputs_are_refused() {
    let f = fixture();
    let err = f
        .request
        .handle(RequestApproval {
            request: new_approval("  "),
            timeout: None,
            await_delivery: false,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Invalid(ref i) if i.field == "tool_name"),
        "{err:?}"
    );
    let mut big = new_approval("Bash");
    big.tool_input = json!({"x": "a".repeat(300 * 1024)});
    let err = f
        .request
        .handle(RequestApproval {
            request: big,
            timeout: None,
            await_delivery: false,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Invalid(ref i) if i.field == "tool_input"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_decision_is_recorded_once_and_the_second_caller_gets_a_conflict() {
    let f = fixture();
    let a = open(&f, None).await;
    let decided = f
        .decide
        .handle(decide_cmd(a.id(), true, "api"))
        .await
        .unwrap();
    assert_eq!(decided.status(), ApprovalStatus::Approved);
    assert_eq!(
        decided.decision().unwrap().reason.as_deref(),
        Some("looks fine")
    );
    let err = f
        .decide
        .handle(decide_cmd(a.id(), false, "telegram:1"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::Decide(DecideApprovalError::AlreadyDecided {
            current: ApprovalStatus::Approved
        })
    ));
    assert_eq!(
        f.repo
            .find(a.id())
            .await
            .unwrap()
            .unwrap()
            .decision()
            .unwrap()
            .decided_by,
        "api"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_racing_deciders_exactly_one_wins() {
    let f = fixture();
    let id = open(&f, None).await.id();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let h = f.decide.clone();
        tasks.push(tokio::spawn(async move {
            h.handle(decide_cmd(id, i % 2 == 0, &format!("user{i}")))
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(AppError::Decide(DecideApprovalError::AlreadyDecided { .. })) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn deciding_an_unknown_approval_is_not_found() {
    let f = fixture();
    let err = f
        .decide
        .handle(decide_cmd(orchestra_domain::ApprovalId::new(), true, "api"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::NotFound {
            what: "approval",
            ..
        }
    ));
}

#[tokio::test]
async fn the_sweeper_expires_only_what_is_due_in_batches() {
    let f = fixture();
    let short: Vec<_> = futures_lite_join(&f, 7, Some(Duration::minutes(1))).await;
    let long = open(&f, Some(Duration::minutes(60))).await;
    f.clock.advance(Duration::minutes(2));
    let report = f.expire.sweep().await.unwrap();
    assert_eq!(report.expired, 7);
    assert_eq!(report.batches, 3);
    for a in short {
        assert_eq!(
            f.repo.find(a.id()).await.unwrap().unwrap().status(),
            ApprovalStatus::Expired
        );
    }
    assert_eq!(
        f.repo.find(long.id()).await.unwrap().unwrap().status(),
        ApprovalStatus::Pending
    );
    assert_eq!(f.expire.sweep().await.unwrap().expired, 0);
}

#[tokio::test]
async fn a_human_cannot_approve_after_the_deadline() {
    let f = fixture();
    let a = open(&f, Some(Duration::minutes(1))).await;
    f.clock.advance(Duration::minutes(2));
    let err = f
        .decide
        .handle(decide_cmd(a.id(), true, "api"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::Decide(DecideApprovalError::PastDeadline { .. })
    ));
}

#[tokio::test]
async fn cancelling_tells_the_notifier_and_cannot_happen_twice() {
    let f = fixture();
    let a = open(&f, None).await;
    let c = f
        .cancel
        .handle(CancelApproval {
            id: a.id(),
            cancelled_by: "api".into(),
            reason: None,
        })
        .await
        .unwrap();
    assert_eq!(c.status(), ApprovalStatus::Cancelled);
    assert!(
        f.cancel
            .handle(CancelApproval {
                id: a.id(),
                cancelled_by: "api".into(),
                reason: None
            })
            .await
            .is_err()
    );
    // The decided-update is delivered in the background.
    for _ in 0..100 {
        if !f.notifier.decided().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        f.notifier.decided(),
        vec![(a.id(), ApprovalStatus::Cancelled)]
    );
}

#[tokio::test]
async fn test_approvals_are_created_and_cleaned_up_without_touching_others() {
    let f = fixture();
    let create = CreateTestApprovalHandler::new(f.request.clone());
    let cleanup = CancelTestApprovalsHandler::new(f.cancel.clone());
    let live = open(&f, None).await;
    let t1 = create
        .handle(CreateTestApproval {
            tool_name: "TestTool".into(),
            session_id: "test-session".into(),
        })
        .await
        .unwrap();
    let t2 = create
        .handle(CreateTestApproval {
            tool_name: "TestTool".into(),
            session_id: "test-session".into(),
        })
        .await
        .unwrap();
    assert!(t1.delivery.is_delivered());
    assert_eq!(t1.approval.request().kind, ApprovalKind::Test);
    let cancelled = cleanup.handle("api".into()).await.unwrap();
    let mut ids: Vec<_> = cancelled.iter().map(|a| a.id()).collect();
    ids.sort();
    let mut expected = vec![t1.approval.id(), t2.approval.id()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        f.repo.find(live.id()).await.unwrap().unwrap().status(),
        ApprovalStatus::Pending
    );
    assert!(cleanup.handle("api".into()).await.unwrap().is_empty());
}

async fn futures_lite_join(
    f: &Fixture,
    n: usize,
    timeout: Option<Duration>,
) -> Vec<orchestra_domain::ApprovalRequest> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(open(f, timeout).await);
    }
    out
}
