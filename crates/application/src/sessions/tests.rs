//! Session and escalation logic over the in-memory fakes and the fake agent runtime: no
//! process is spawned, so each rule is checked on its own.

use std::sync::Arc;
use std::time::Duration;

use orchestra_domain::{ApprovalScope, ApprovalStatus, SessionStatus, TurnStatus};
use serde_json::json;

use super::*;
use crate::approvals::{
    ApprovalDeps, ApprovalEvent, ApprovalEvents, CancelApprovalHandler, DecideApproval,
    DecideApprovalHandler, NotificationDispatcher, RequestApprovalHandler,
};
use crate::error::{AppError, ConflictKind};
use crate::escalation::{Escalation, EscalationDeps, EscalationSettings};
use crate::ports::{
    ApprovalNotifier, ApprovalRepository, Clock, PermissionAnswer, SessionRepository,
};
use crate::testing::{
    FakeAgentRuntime, FakeInput, InMemoryApprovalRepository, InMemorySessionRepository,
    InMemoryTurnRepository, ManualClock, RecordingNotifier,
};

pub(super) struct Fixture {
    pub(super) deps: SessionDeps,
    pub(super) runtime: Arc<FakeAgentRuntime>,
    sessions: Arc<dyn SessionRepository>,
    approvals: Arc<dyn ApprovalRepository>,
    pub(super) events: ApprovalEvents,
    decide: DecideApprovalHandler,
    grants: crate::grants::GrantHandlers,
    pub(super) commands: SessionCommands,
    _driver: tokio::task::JoinHandle<()>,
}

fn fixture(park_after: Duration) -> Fixture {
    fixture_with(park_after, |s| s)
}

/// A fixture whose session settings `tune` changes (2 slots, a 50 ms queue by default).
pub(super) fn fixture_with(
    park_after: Duration,
    tune: impl FnOnce(SessionSettings) -> SessionSettings,
) -> Fixture {
    let runtime = FakeAgentRuntime::shared();
    let sessions: Arc<dyn SessionRepository> = Arc::new(InMemorySessionRepository::default());
    let approval_store = Arc::new(InMemoryApprovalRepository::default());
    let approvals: Arc<dyn ApprovalRepository> = approval_store.clone();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::fixed());
    let events = ApprovalEvents::default();
    let notifier: Arc<dyn ApprovalNotifier> = RecordingNotifier::shared();
    let approval_deps = ApprovalDeps {
        repo: approvals.clone(),
        clock: clock.clone(),
        policy: orchestra_domain::ApprovalTimeoutPolicy::default(),
        events: events.clone(),
        dispatcher: NotificationDispatcher::new(notifier, approvals.clone()),
        audit: None,
        queue_gauge: crate::approvals::QueueGauge::new(approvals.clone()),
        agent_home: None,
    };
    let escalation = Escalation::new(
        EscalationDeps {
            request: RequestApprovalHandler::new(approval_deps.clone()),
            cancel: CancelApprovalHandler::new(approval_deps.clone()),
            repo: approvals.clone(),
            events: events.clone(),
            grants: approval_store.clone(),
            clock: clock.clone(),
        },
        EscalationSettings {
            park_after,
            timeout: None,
            live_prompts: true,
            node_id: "test-node".into(),
            ..EscalationSettings::default()
        },
    );
    let deps = SessionDeps::new(
        sessions.clone(),
        Arc::new(InMemoryTurnRepository::default()),
        runtime.clone(),
        clock,
        tune(SessionSettings {
            max_live_processes: 2,
            spawn_queue_timeout: Duration::from_millis(50),
            // Tests of suspension turn it on; elsewhere an idle process stays.
            idle_suspend: None,
            ..SessionSettings::default()
        }),
        Some(escalation),
    );
    let commands = SessionCommands::new(&deps);
    let driver = commands.escalation.clone();
    Fixture {
        deps: deps.clone(),
        _driver: tokio::spawn(async move { driver.run(std::future::pending()).await }),
        decide: DecideApprovalHandler::new(approval_deps),
        grants: crate::grants::GrantHandlers::new(
            approval_store,
            sessions.clone(),
            Arc::new(ManualClock::fixed()),
            false,
        ),
        runtime,
        sessions,
        approvals,
        events,
        commands,
    }
}

pub(super) fn create() -> CreateSession {
    CreateSession {
        working_directory: "/srv/work".into(),
        ..CreateSession::default()
    }
}

impl Fixture {
    pub(super) async fn status(&self, id: orchestra_domain::SessionId) -> SessionStatus {
        self.sessions.find(id).await.unwrap().unwrap().status()
    }

    /// Waits until the session has `status`.
    async fn wait_status(&self, id: orchestra_domain::SessionId, status: SessionStatus) {
        for _ in 0..500 {
            if self.status(id).await == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "session never became {status:?}; it is {:?}",
            self.status(id).await
        );
    }

    async fn decide(&self, id: orchestra_domain::ApprovalId, approved: bool, scope: ApprovalScope) {
        self.decide
            .handle(DecideApproval {
                id,
                approved,
                decided_by: "tester".into(),
                voter: "tester".into(),
                reason: None,
                updated_input: None,
                scope,
                rule: None,
                expires_in_minutes: None,
                expected_version: None,
            })
            .await
            .unwrap();
    }
}

/// The next approval opened on the bus.
pub(super) async fn next_opened(
    rx: &mut tokio::sync::broadcast::Receiver<ApprovalEvent>,
) -> orchestra_domain::ApprovalId {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Ok(ApprovalEvent::Opened(a))) => return a.id(),
            Ok(Ok(_)) => {}
            other => panic!("no approval opened: {other:?}"),
        }
    }
}

fn is_answer(request: &str) -> impl Fn(&FakeInput) -> bool + '_ {
    move |i| matches!(i, FakeInput::Answer { request_id, .. } if request_id == request)
}

#[tokio::test]
async fn a_turn_runs_and_its_cost_adds_to_the_session() {
    let f = fixture(Duration::from_secs(600));
    let session = f.commands.create.handle(create()).await.unwrap();
    let process = f.runtime.process(0).await;
    let (turn, mut done) = f.commands.send.handle(session.id(), "hello").await.unwrap();
    process
        .wait_for(|i| *i == FakeInput::User("hello".into()))
        .await;
    process.finish_turn(0.25).await;
    done.wait_for(Option::is_some).await.unwrap();
    assert_eq!(*done.borrow(), Some((turn.id(), TurnStatus::Completed)));
    let stored = f.sessions.find(session.id()).await.unwrap().unwrap();
    assert!((stored.totals().cost_usd - 0.25).abs() < 1e-9);
    assert_eq!(stored.totals().turn_count, 1);
}

#[tokio::test]
async fn a_second_prompt_while_a_turn_runs_is_a_conflict() {
    let f = fixture(Duration::from_secs(600));
    let session = f.commands.create.handle(create()).await.unwrap();
    f.commands.send.handle(session.id(), "one").await.unwrap();
    let err = f
        .commands
        .send
        .handle(session.id(), "two")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AppError::Conflict {
                kind: ConflictKind::TurnInProgress,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_crash_fails_the_session_and_loses_the_running_turn() {
    let f = fixture(Duration::from_secs(600));
    let session = f.commands.create.handle(create()).await.unwrap();
    let (_, mut done) = f.commands.send.handle(session.id(), "work").await.unwrap();
    f.runtime.process(0).await.crash(1).await;
    done.wait_for(Option::is_some).await.unwrap();
    assert_eq!(done.borrow().map(|(_, s)| s), Some(TurnStatus::Lost));
    f.wait_status(session.id(), SessionStatus::Failed).await;
    assert_eq!(f.commands.live.live_count(), 0);
}

#[tokio::test]
async fn pause_stops_the_process_and_resume_continues_the_conversation() {
    let f = fixture(Duration::from_secs(600));
    let session = f.commands.create.handle(create()).await.unwrap();
    let first = f.runtime.process(0).await;
    let (_, mut done) = f.commands.send.handle(session.id(), "one").await.unwrap();
    first.finish_turn(0.0).await;
    done.wait_for(Option::is_some).await.unwrap();
    f.commands.pause.handle(session.id()).await.unwrap();
    assert!(first.is_stopped());
    assert_eq!(f.status(session.id()).await, SessionStatus::Paused);
    f.commands.resume.handle(session.id()).await.unwrap();
    f.runtime.process(1).await;
    let launches = f.runtime.launches();
    assert_eq!((launches[0].resume, launches[1].resume), (false, true));
    let err = f.commands.resume.handle(session.id()).await.unwrap_err();
    assert!(matches!(err, AppError::Transition(_)), "{err:?}");
}

#[tokio::test]
async fn the_process_cap_refuses_a_session_when_no_slot_frees_up() {
    let f = fixture(Duration::from_secs(600));
    // Both slots run a turn: nothing idle to suspend.
    for _ in 0..2 {
        let s = f.commands.create.handle(create()).await.unwrap();
        f.commands.send.handle(s.id(), "busy").await.unwrap();
    }
    let err = f.commands.create.handle(create()).await.unwrap_err();
    assert!(matches!(err, AppError::Overloaded { .. }), "{err:?}");
}

#[tokio::test]
async fn a_permission_request_waits_for_a_human_and_the_decision_answers_it() {
    let f = fixture(Duration::from_secs(600));
    let mut opened = f.events.subscribe();
    let session = f.commands.create.handle(create()).await.unwrap();
    let process = f.runtime.process(0).await;
    f.commands
        .send
        .handle(session.id(), "list files")
        .await
        .unwrap();
    process.ask("r1", "Bash", json!({"command": "ls"})).await;
    let approval = next_opened(&mut opened).await;
    assert_eq!(
        f.commands
            .live
            .info(session.id())
            .unwrap()
            .pending_approvals,
        vec![approval]
    );
    assert!(
        !process.inputs().iter().any(is_answer("r1")),
        "answered before a decision"
    );
    f.decide(approval, true, ApprovalScope::Once).await;
    let answer = process.wait_for(is_answer("r1")).await;
    assert_eq!(
        answer,
        FakeInput::Answer {
            request_id: "r1".into(),
            answer: PermissionAnswer::Allow {
                updated_input: None
            }
        }
    );
    assert!(
        f.commands
            .live
            .info(session.id())
            .unwrap()
            .pending_approvals
            .is_empty()
    );
}

#[tokio::test]
async fn allow_for_session_answers_the_same_tool_again_without_asking() {
    let f = fixture(Duration::from_secs(600));
    let mut opened = f.events.subscribe();
    let session = f.commands.create.handle(create()).await.unwrap();
    let process = f.runtime.process(0).await;
    process
        .ask("r1", "Bash", json!({"command": "cargo test"}))
        .await;
    let approval = next_opened(&mut opened).await;
    f.decide(approval, true, ApprovalScope::Session).await;
    process.wait_for(is_answer("r1")).await;
    process
        .ask("r2", "Bash", json!({"command": "cargo test"}))
        .await;
    let second = process.wait_for(is_answer("r2")).await;
    assert!(matches!(
        second,
        FakeInput::Answer {
            answer: PermissionAnswer::Allow { .. },
            ..
        }
    ));
    let pending = f
        .approvals
        .count_by_status(ApprovalStatus::Pending)
        .await
        .unwrap();
    assert_eq!(pending, 0, "the second call must not open an approval");
    let grants = f.grants.list(session.id()).await.unwrap();
    assert_eq!(
        grants
            .iter()
            .map(|g| g.grant.terms.rule.as_str())
            .collect::<Vec<_>>(),
        vec!["Bash(cargo test)"],
        "exactly the command (no suggestion came), never the bare tool"
    );
    assert!(
        f.sessions
            .find(session.id())
            .await
            .unwrap()
            .unwrap()
            .spec()
            .allowed_tools
            .is_empty(),
        "a grant is not handed to the CLI"
    );
    // Another command of the same tool is asked again.
    process
        .ask("r3", "Bash", json!({"command": "cargo publish"}))
        .await;
    next_opened(&mut opened).await;
}

#[tokio::test]
async fn a_refused_call_asked_again_is_denied_without_asking() {
    let f = fixture(Duration::from_secs(600));
    let mut opened = f.events.subscribe();
    f.commands.create.handle(create()).await.unwrap();
    let process = f.runtime.process(0).await;
    let input = json!({"command": "rm -rf build"});
    process.ask("r1", "Bash", input.clone()).await;
    let approval = next_opened(&mut opened).await;
    f.decide(approval, false, ApprovalScope::Once).await;
    let first = process.wait_for(is_answer("r1")).await;
    assert!(matches!(
        first,
        FakeInput::Answer {
            answer: PermissionAnswer::Deny {
                interrupt: false,
                ..
            },
            ..
        }
    ));
    process.ask("r2", "Bash", input).await;
    let second = process.wait_for(is_answer("r2")).await;
    assert!(matches!(
        second,
        FakeInput::Answer {
            answer: PermissionAnswer::Deny { .. },
            ..
        }
    ));
}

#[tokio::test]
async fn an_unanswered_prompt_parks_the_session_and_approval_continues_it_once() {
    let f = fixture(Duration::ZERO);
    let mut opened = f.events.subscribe();
    let session = f.commands.create.handle(create()).await.unwrap();
    let first = f.runtime.process(0).await;
    f.commands
        .send
        .handle(session.id(), "deploy")
        .await
        .unwrap();
    let input = json!({"command": "make deploy"});
    first.ask("r1", "Bash", input.clone()).await;
    let approval = next_opened(&mut opened).await;
    // Parked: denied with interrupt; the CLI then ends the turn.
    let park = first.wait_for(is_answer("r1")).await;
    assert!(
        matches!(
            park,
            FakeInput::Answer {
                answer: PermissionAnswer::Deny {
                    interrupt: true,
                    ..
                },
                ..
            }
        ),
        "{park:?}"
    );
    first
        .emit(crate::ports::AgentEvent::Result(crate::ports::TurnReport {
            subtype: "error_during_execution".into(),
            is_error: true,
            ..Default::default()
        }))
        .await;
    f.wait_status(session.id(), SessionStatus::Paused).await;
    assert!(first.is_stopped());
    assert_eq!(
        f.approvals.find(approval).await.unwrap().unwrap().status(),
        ApprovalStatus::Pending,
        "parking keeps the approval"
    );
    // Approved later: the session resumes and is told to continue; that call runs once.
    f.decide(approval, true, ApprovalScope::Once).await;
    let second = f.runtime.process(1).await;
    assert!(f.runtime.launches()[1].resume);
    second
        .wait_for(|i| matches!(i, FakeInput::User(p) if p.starts_with("[orchestra] A human (tester) approved")))
        .await;
    f.wait_status(session.id(), SessionStatus::Active).await;
    second.ask("r2", "Bash", input.clone()).await;
    let allowed = second.wait_for(is_answer("r2")).await;
    assert!(matches!(
        allowed,
        FakeInput::Answer {
            answer: PermissionAnswer::Allow { .. },
            ..
        }
    ));
    second.ask("r3", "Bash", input).await;
    next_opened(&mut opened).await; // asked again: the one-time grant is used up
}

#[tokio::test]
async fn closing_a_session_withdraws_its_approvals_and_forgets_it() {
    let f = fixture(Duration::from_secs(600));
    let mut opened = f.events.subscribe();
    let session = f.commands.create.handle(create()).await.unwrap();
    f.runtime
        .process(0)
        .await
        .ask("r1", "Bash", json!({"command": "ls"}))
        .await;
    let approval = next_opened(&mut opened).await;
    f.commands.close.handle(session.id()).await.unwrap();
    assert_eq!(
        f.approvals.find(approval).await.unwrap().unwrap().status(),
        ApprovalStatus::Cancelled
    );
    assert_eq!(f.commands.live.live_count(), 0);
    assert!(f.commands.live.info(session.id()).is_none());
}

#[tokio::test]
async fn failing_a_session_that_is_not_active_changes_and_logs_nothing() {
    let f = fixture(Duration::from_secs(600));
    let session = f.commands.create.handle(create()).await.unwrap();
    f.commands.pause.handle(session.id()).await.unwrap();
    f.deps
        .fail_if_active(session.id(), "the agent died")
        .await
        .unwrap();
    assert_eq!(f.status(session.id()).await, SessionStatus::Paused);
    let (events, _) = f.deps.logs.get(session.id()).since(0);
    assert!(
        !events.iter().any(|e| matches!(
            e.event,
            super::event_log::SessionEvent::StatusChanged {
                status: SessionStatus::Failed,
                ..
            }
        )),
        "no Failed event for a session that did not fail"
    );
}

#[tokio::test]
async fn lifecycle_steps_on_unknown_sessions_leave_no_lock_entries() {
    let f = fixture(Duration::from_secs(600));
    let before = f.deps.registry.lifecycle_entries();
    for _ in 0..200 {
        let unknown = orchestra_domain::SessionId::new();
        assert!(matches!(
            f.commands.pause.handle(unknown).await,
            Err(AppError::NotFound { .. })
        ));
        assert!(f.commands.close.handle(unknown).await.is_err());
    }
    assert_eq!(f.deps.registry.lifecycle_entries(), before);
}
