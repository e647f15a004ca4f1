//! Idle suspension through the API with the fake CLI, on SQLite and PostgreSQL: an idle
//! session's process is stopped while the session stays Active, the next message resumes it
//! in the same request, and a full node suspends its least recently used idle process
//! instead of refusing (issue 10, point 1).

use std::time::Duration;

use orchestra_claude::procfs;
use orchestra_tests::sse::read_until;
use orchestra_tests::{Backend, TestApp, TestAppOptions, counter};
use serde_json::json;

use crate::escalation::{tool_log, wait_for_pending};

async fn app(backend: Backend, home: &std::path::Path, extra: &[(&str, &str)]) -> TestApp {
    let mut options = TestAppOptions::default().fake_cli(home);
    for (k, v) in extra {
        options = options.with(k, *v);
    }
    TestApp::spawn_with(backend, options).await
}

/// The node's live CLI processes.
fn clis(app: &TestApp) -> usize {
    procfs::scan(&app.settings.claude.node_id).len()
}

async fn an_idle_session_is_suspended_and_the_next_message_resumes_it(backend: Backend) {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let app = app(
        backend,
        home.path(),
        &[
            ("ORCHESTRA__CLAUDE__IDLE_SUSPEND_SECS", "1"),
            ("ORCHESTRA__CLAUDE__HEALTH_CHECK_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let id = app.create_session(work.path(), json!({})).await;
    let (status, t) = app.turn(&id, "one").await;
    assert_eq!(
        (status, t["result"].as_str()),
        (200, Some("echo: one (history: 0)"))
    );

    let s = app
        .wait_for_json(
            &format!("/api/sessions/{id}"),
            Duration::from_secs(20),
            |s| s["suspended"] == true,
        )
        .await;
    assert_eq!(s["status"], "Active", "{s}");
    assert!(s["process"].is_null() && s["lastError"].is_null(), "{s}");
    assert_eq!(clis(&app), 0, "its CLI process is gone");
    let metrics = app.metrics_text().await;
    assert_eq!(
        counter(&metrics, "agent_sessions_suspended_total{reason=\"idle\"}"),
        1,
        "{metrics}"
    );
    let (_, agents) = app.get_json("/api/agents").await;
    assert_eq!(agents[0]["liveProcesses"], 0);

    // One request: the process starts with --resume, then the turn runs on it.
    let (status, t) = app.turn(&id, "two").await;
    assert_eq!(
        (status, t["result"].as_str()),
        (200, Some("echo: two (history: 1)")),
        "{t}"
    );
    let (_, s) = app.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(s["suspended"], false, "{s}");
    assert!(s["process"]["pid"].is_u64(), "{s}");
    assert_eq!(
        counter(&app.metrics_text().await, "agent_sessions_woken_total"),
        1
    );
    // A watcher sees both, in order, before the second turn.
    let second = t["id"].as_str().unwrap().to_owned();
    let events = read_until(
        &app.client,
        &app.url(&format!("/api/sessions/{id}/events")),
        Some(0),
        Duration::from_secs(10),
        |e| e.event == "turn_finished" && e.data["data"]["turnId"] == second.as_str(),
    )
    .await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    let suspended = kinds.iter().position(|k| *k == "agent_suspended").unwrap();
    let resumed = kinds.iter().position(|k| *k == "agent_resumed").unwrap();
    let second_turn = kinds.iter().rposition(|k| *k == "turn_started").unwrap();
    assert!(suspended < resumed && resumed < second_turn, "{kinds:?}");
    app.shutdown().await;
}

async fn a_full_node_serves_every_session_in_turn(backend: Backend) {
    // The issue's report: two slots, five sessions, each sends a prompt in turn. All are
    // served; at most two CLIs ever run; each conversation survives its suspensions.
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let app = app(
        backend,
        home.path(),
        &[
            ("ORCHESTRA__CLAUDE__MAX_LIVE_PROCESSES", "2"),
            ("ORCHESTRA__CLAUDE__SPAWN_QUEUE_TIMEOUT_SECS", "5"),
        ],
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_session(work.path(), json!({})).await);
        assert!(clis(&app) <= 2, "at most two CLIs");
    }
    for round in 0..2 {
        for id in &ids {
            let (status, t) = app.turn(id, "hello").await;
            assert_eq!(
                (status, t["result"].as_str()),
                (
                    200,
                    Some(format!("echo: hello (history: {round})").as_str())
                ),
                "{t}"
            );
            assert!(clis(&app) <= 2, "at most two CLIs");
        }
    }
    let (_, listed) = app.get_json("/api/sessions?status=Active").await;
    assert_eq!(listed["total"], 5, "every session stays Active: {listed}");
    let metrics = app.metrics_text().await;
    // 3 creates and 10 turns each needed a slot held by an idle process (the least
    // recently used: always one this loop is done with); the 10 turns each woke one.
    assert_eq!(
        counter(
            &metrics,
            "agent_sessions_suspended_total{reason=\"evicted\"}"
        ),
        13,
        "{metrics}"
    );
    assert_eq!(counter(&metrics, "agent_sessions_woken_total"), 10);
    assert_eq!(
        counter(&metrics, "agent_sessions_suspended_total{reason=\"idle\"}"),
        0
    );
    app.shutdown().await;
}

async fn a_decision_for_a_suspended_session_resumes_it_and_runs_the_call_once(backend: Backend) {
    // The CLI denied a call by itself (no live prompt holds the process), the session went
    // idle and was suspended; the human's approval resumes it and the call runs once.
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let app = app(
        backend,
        home.path(),
        &[
            ("ORCHESTRA__CLAUDE__LIVE_PERMISSION_PROMPTS", "false"),
            ("ORCHESTRA__CLAUDE__IDLE_SUSPEND_SECS", "1"),
            ("ORCHESTRA__CLAUDE__HEALTH_CHECK_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let id = app.create_session(work.path(), json!({})).await;
    let (_, t) = app
        .turn(&id, r#"SILENT_DENY Bash {"command":"echo hi"}"#)
        .await;
    assert_eq!(t["permissionDenials"], 1, "{t}");
    let approval = wait_for_pending(&app, &id).await;
    app.wait_for_json(
        &format!("/api/sessions/{id}"),
        Duration::from_secs(20),
        |s| s["suspended"] == true,
    )
    .await;
    let (status, _) = app
        .post_json(
            &format!("/api/approvals/{approval}/approve"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 200);
    let turns = app
        .wait_for_json(
            &format!("/api/sessions/{id}/turns"),
            Duration::from_secs(15),
            |t| t["total"] == 2 && t["items"][0]["status"] == "Completed",
        )
        .await;
    assert_eq!(
        turns["items"][0]["result"],
        r#"tool ran: {"command":"echo hi"}"#
    );
    let ran = tool_log(home.path(), &id);
    assert_eq!(ran.len(), 1, "the tool ran once: {ran:?}");
    let a = app
        .wait_for_json(
            &format!("/api/approvals/{approval}"),
            Duration::from_secs(10),
            |a| a["actedOn"] == "done",
        )
        .await;
    assert_eq!(a["status"], "Approved", "{a}");
    app.shutdown().await;
}

async fn the_last_turn_replays_after_a_suspension_and_a_restart(backend: Backend) {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let extra = [
        ("ORCHESTRA__CLAUDE__IDLE_SUSPEND_SECS", "1"),
        ("ORCHESTRA__CLAUDE__HEALTH_CHECK_INTERVAL_SECS", "1"),
    ];
    let first = app(backend, home.path(), &extra).await;
    let id = first.create_session(work.path(), json!({})).await;
    let (_, t) = first.turn(&id, "one").await;
    let events_url = format!("/api/sessions/{id}/events");
    first
        .wait_for_json(
            &format!("/api/sessions/{id}"),
            Duration::from_secs(20),
            |s| s["suspended"] == true,
        )
        .await;
    // What a watcher saw of the turn, up to the suspension.
    let seen = read_until(
        &first.client,
        &first.url(&events_url),
        None,
        Duration::from_secs(10),
        |e| e.event == "agent_suspended",
    )
    .await;
    assert_eq!(
        seen[0].event, "turn_started",
        "the replay starts at the last turn"
    );
    assert!(
        seen.iter()
            .any(|e| e.event == "turn_finished" && e.data["data"]["turnId"] == t["id"]),
        "{seen:?}"
    );
    let store = first.shutdown_keep_store().await;

    // A restarted node has no log in memory: it replays the stored one, the same events
    // with the same ids.
    let mut options = TestAppOptions::default()
        .fake_cli(home.path())
        .with("DB_CONNECTION_STRING", store.connection_string());
    for (k, v) in extra {
        options = options.with(k, v);
    }
    let second = TestApp::spawn_with(backend, options).await;
    let replayed = read_until(
        &second.client,
        &second.url(&events_url),
        None,
        Duration::from_secs(10),
        |e| e.event == "agent_suspended",
    )
    .await;
    let view = |events: &[orchestra_tests::sse::SseEvent]| -> Vec<(Option<u64>, String, serde_json::Value)> {
        events
            .iter()
            .map(|e| (e.id, e.event.clone(), e.data.clone()))
            .collect()
    };
    assert_eq!(view(&replayed), view(&seen));
    assert_eq!(
        counter(
            &second.metrics_text().await,
            "agent_event_tail_restores_total"
        ),
        1
    );
    // The session goes on; its new events follow the stored ones, with no gap.
    let last = seen.last().unwrap().id.unwrap();
    let (status, t) = second.turn(&id, "two").await;
    assert_eq!(
        (status, t["result"].as_str()),
        (200, Some("echo: two (history: 1)")),
        "{t}"
    );
    let after = read_until(
        &second.client,
        &second.url(&events_url),
        Some(last),
        Duration::from_secs(10),
        |e| e.event == "turn_finished",
    )
    .await;
    assert_eq!(after[0].id, Some(last + 1), "{after:?}");
    assert!(after.iter().all(|e| e.event != "gap"), "{after:?}");
    second.shutdown().await;
    drop(store);
}

both_backends!(
    the_last_turn_replays_after_a_suspension_and_a_restart,
    an_idle_session_is_suspended_and_the_next_message_resumes_it,
    a_full_node_serves_every_session_in_turn,
    a_decision_for_a_suspended_session_resumes_it_and_runs_the_call_once,
);
