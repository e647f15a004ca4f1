//! Idle suspension and LRU eviction over the fakes: a suspended session stays Active and the
//! next message resumes it; a busy process is never suspended.

use std::time::Duration;

use orchestra_domain::{SessionId, SessionStatus};
use serde_json::json;

use super::tests::{Fixture, create, fixture_with};
use super::*;
use crate::error::AppError;
use crate::testing::FakeInput;

fn suspending(after: Duration) -> Fixture {
    fixture_with(Duration::from_secs(600), |s| SessionSettings {
        idle_suspend: Some(after),
        ..s
    })
}

impl Fixture {
    async fn turn(&self, id: SessionId, n: usize, prompt: &str) {
        let (turn, mut done) = self.commands.send.handle(id, prompt).await.unwrap();
        let process = self.runtime.process(n).await;
        process
            .wait_for(|i| *i == FakeInput::User(prompt.into()))
            .await;
        process.finish_turn(0.01).await;
        // The watch still holds the previous turn's end: wait for this one's.
        done.wait_for(|d| d.is_some_and(|(t, _)| t == turn.id()))
            .await
            .unwrap();
    }

    fn kinds(&self, id: SessionId) -> Vec<String> {
        let (events, _) = self.deps.logs.get(id).since(0);
        events.iter().map(|e| e.event.kind().to_owned()).collect()
    }
}

#[tokio::test]
async fn an_idle_process_is_suspended_and_the_next_message_resumes_it() {
    let f = suspending(Duration::ZERO);
    let s = f.commands.create.handle(create()).await.unwrap();
    f.turn(s.id(), 0, "one").await;
    let report = f.commands.health.run().await;
    assert_eq!(report.suspended, 1);
    assert!(f.runtime.process(0).await.is_stopped());
    assert_eq!(f.commands.live.live_count(), 0);
    assert_eq!(
        f.status(s.id()).await,
        SessionStatus::Active,
        "it stays Active"
    );
    assert!(f.kinds(s.id()).iter().any(|k| k == "agent_suspended"));
    assert_eq!(
        f.deps.registry.lifecycle_entries(),
        0,
        "a suspended session keeps no lock entry"
    );

    // The next message starts a process with --resume and runs the turn on it.
    f.turn(s.id(), 1, "two").await;
    let launches = f.runtime.launches();
    assert_eq!(launches.len(), 2);
    assert!(launches[1].resume, "the conversation continues");
    assert_eq!(f.commands.live.live_count(), 1);
    let kinds = f.kinds(s.id());
    let resumed = kinds.iter().position(|k| *k == "agent_resumed").unwrap();
    let started = kinds.iter().rposition(|k| *k == "turn_started").unwrap();
    assert!(resumed < started, "{kinds:?}");
}

#[tokio::test]
async fn a_session_suspended_before_its_first_prompt_starts_a_new_conversation() {
    let f = suspending(Duration::ZERO);
    let s = f.commands.create.handle(create()).await.unwrap();
    assert_eq!(f.commands.health.run().await.suspended, 1);
    f.turn(s.id(), 1, "first").await;
    // The CLI keeps no conversation before a prompt: `--resume` would not find one.
    assert!(!f.runtime.launches()[1].resume);
}

#[tokio::test]
async fn a_running_turn_or_a_prompt_waiting_on_a_human_is_never_suspended() {
    let f = suspending(Duration::ZERO);
    let running = f.commands.create.handle(create()).await.unwrap();
    f.commands.send.handle(running.id(), "busy").await.unwrap();
    let asking = f.commands.create.handle(create()).await.unwrap();
    let mut opened = f.events.subscribe();
    f.commands.send.handle(asking.id(), "ask").await.unwrap();
    f.runtime
        .process(1)
        .await
        .ask("r1", "Bash", json!({"command": "make"}))
        .await;
    super::tests::next_opened(&mut opened).await;
    assert_eq!(f.commands.health.run().await.suspended, 0);
    assert_eq!(f.commands.live.live_count(), 2);
    // Nothing is idle, so a third session finds no slot.
    let err = f.commands.create.handle(create()).await.unwrap_err();
    assert!(matches!(err, AppError::Overloaded { .. }), "{err:?}");
}

#[tokio::test]
async fn a_full_node_suspends_the_least_recently_used_idle_process() {
    // Never for idleness: only to free a slot.
    let f = fixture_with(Duration::from_secs(600), |s| s);
    let a = f.commands.create.handle(create()).await.unwrap();
    f.turn(a.id(), 0, "a1").await;
    let b = f.commands.create.handle(create()).await.unwrap();
    f.turn(b.id(), 1, "b1").await;
    // A third session takes a's slot (a was used least recently).
    let c = f.commands.create.handle(create()).await.unwrap();
    assert!(f.runtime.process(0).await.is_stopped());
    assert!(!f.runtime.process(1).await.is_stopped());
    assert_eq!(f.commands.live.live_count(), 2);
    assert_eq!(f.status(a.id()).await, SessionStatus::Active);
    // A message to a suspends b, now the least recently used, and resumes a.
    f.turn(a.id(), 3, "a2").await;
    assert!(f.runtime.process(1).await.is_stopped());
    assert!(!f.runtime.process(2).await.is_stopped(), "c is newer");
    assert!(f.runtime.launches()[3].resume);
    for id in [a.id(), b.id(), c.id()] {
        assert_eq!(f.status(id).await, SessionStatus::Active);
    }
}

#[tokio::test]
async fn a_suspended_sessions_log_keeps_only_its_last_turn() {
    let f = suspending(Duration::ZERO);
    let s = f.commands.create.handle(create()).await.unwrap();
    f.turn(s.id(), 0, "one").await;
    f.turn(s.id(), 0, "two").await;
    let before = f.deps.logs.get(s.id()).held().0;
    assert_eq!(f.commands.health.run().await.suspended, 1);
    let kinds = f.kinds(s.id());
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("turn_started"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "turn_started").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("agent_suspended"),
        "{kinds:?}"
    );
    assert!(f.deps.logs.get(s.id()).held().0 < before);
}

#[tokio::test]
async fn a_message_during_a_suspension_waits_for_it_then_resumes_the_session() {
    let f = suspending(Duration::ZERO);
    let s = f.commands.create.handle(create()).await.unwrap();
    f.turn(s.id(), 0, "one").await;
    let first = f.runtime.process(0).await;
    first.hold_stops();
    let health = f.commands.health.clone();
    let suspension = tokio::spawn(async move { health.run().await });
    first.wait_stop_begun().await;
    // The suspension is midway (claimed, its process not gone yet): a message now waits.
    let send = f.commands.send.clone();
    let id = s.id();
    let message = tokio::spawn(async move { send.handle(id, "two").await.map(|(t, _)| t) });
    tokio::task::yield_now().await;
    assert!(
        !message.is_finished(),
        "the message waits for the suspension"
    );
    first.release_stop();
    assert_eq!(suspension.await.unwrap().suspended, 1);
    let turn = message
        .await
        .unwrap()
        .expect("the message is served, not refused");
    let second = f.runtime.process(1).await;
    second
        .wait_for(|i| *i == FakeInput::User("two".into()))
        .await;
    assert!(f.runtime.launches()[1].resume);
    assert_eq!(turn.snapshot().seq, 2);
}
