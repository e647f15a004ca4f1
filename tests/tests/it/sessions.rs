//! Agent sessions over REST with the fake CLI (`fake-claude`): lifecycle, turns, totals,
//! events, and the faults the real CLI will not produce on demand. Every test runs on
//! SQLite and on PostgreSQL.

use std::time::Duration;

use orchestra_claude::procfs;
use orchestra_tests::sse::read_until;
use orchestra_tests::{Backend, TestApp, TestAppOptions};
use serde_json::json;

struct Fixture {
    app: TestApp,
    work: tempfile::TempDir,
    _home: tempfile::TempDir,
}

async fn fixture(backend: Backend, extra: &[(&str, &str)]) -> Fixture {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut options = TestAppOptions::default().fake_cli(home.path());
    for (k, v) in extra {
        options = options.with(k, *v);
    }
    let app = TestApp::spawn_with(backend, options).await;
    Fixture {
        app,
        work,
        _home: home,
    }
}

fn pid_alive(pid: u64) -> bool {
    procfs::stat(i32::try_from(pid).unwrap())
        .is_some_and(|(state, _, _, _)| state != 'Z' && state != 'X')
}

/// Processes carrying this session's markers (the CLI and its tools).
fn session_processes(app: &TestApp, session: &str) -> Vec<procfs::MarkedProcess> {
    procfs::scan(&app.settings.claude.node_id)
        .into_iter()
        .filter(|p| p.session == session)
        .collect()
}

async fn a_turn_runs_and_its_totals_add_up(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let (status, created) = f.app.post_json("/api/sessions", &json!({"workingDirectory": f.work.path(), "model": "fake-model", "allowedTools": ["Read"]})).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "Active");
    assert!(created["process"]["pid"].as_u64().is_some_and(pid_alive));
    let id = created["id"].as_str().unwrap();

    let (status, turn) = f.app.turn(id, "hi COST 0.25").await;
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["status"], "Completed");
    assert_eq!(turn["result"], "echo: hi COST 0.25 (history: 0)");
    assert_eq!(turn["costUsd"], 0.25);
    assert_eq!(turn["seq"], 1);
    let (_, turn2) = f.app.turn(id, "again").await;
    assert_eq!(turn2["result"], "echo: again (history: 1)");

    let (_, s) = f.app.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(
        (s["turnCount"].as_i64(), s["messageCount"].as_i64()),
        (Some(2), Some(2))
    );
    assert!(
        (s["totalCostUsd"].as_f64().unwrap() - 0.26).abs() < 1e-9,
        "{s}"
    );
    let (_, turns) = f.app.get_json(&format!("/api/sessions/{id}/turns")).await;
    assert_eq!(turns["total"], 2);
    assert_eq!(turns["items"][0]["seq"], 2, "newest first");
    let (_, listed) = f.app.get_json("/api/sessions?status=Active").await;
    assert_eq!(listed["items"][0]["id"], id);
    let (_, agents) = f.app.get_json("/api/agents").await;
    assert_eq!(agents[0]["version"], "9.9.9");
    assert_eq!(agents[0]["liveProcesses"], 1);
    let metrics = f.app.metrics_text().await;
    for line in [
        "agent_sessions_created_total 1",
        "agent_process_spawns_total 1",
        "agent_processes_live 1",
        "agent_turns_total{outcome=\"Completed\"} 2",
        "agent_turn_duration_seconds_count 2",
    ] {
        assert!(metrics.contains(line), "{line} missing");
    }
    let cost: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("agent_cost_usd_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        (cost - 0.26).abs() < 1e-9,
        "cost gauge, by key and root: {metrics}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let m = f.app.metrics_text().await;
        if m.contains("agent_sessions{status=\"Active\"} 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sessions-by-status gauge never showed the session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.app.shutdown().await;
}

async fn pause_stops_the_process_and_resume_continues_the_conversation(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    f.app.turn(&id, "first").await;
    let (_, before) = f.app.get_json(&format!("/api/sessions/{id}")).await;
    let pid = before["process"]["pid"].as_u64().unwrap();

    let (status, paused) = f
        .app
        .post_json(&format!("/api/sessions/{id}/pause"), &json!({}))
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["status"], "Paused");
    assert!(paused["process"].is_null());
    assert!(!pid_alive(pid), "the CLI process is gone after pause");
    assert!(session_processes(&f.app, &id).is_empty());

    let (status, body) = f.app.send(&id, "x").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_session_state"))
    );
    let (status, body) = f
        .app
        .post_json(&format!("/api/sessions/{id}/pause"), &json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_session_state"))
    );

    let (status, resumed) = f
        .app
        .post_json(&format!("/api/sessions/{id}/resume"), &json!({}))
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "Active");
    assert_ne!(resumed["process"]["pid"].as_u64(), Some(pid));
    let (_, turn) = f.app.turn(&id, "second").await;
    assert_eq!(
        turn["result"], "echo: second (history: 1)",
        "the resumed process knows the earlier prompt"
    );

    let (status, closed) = f.app.delete_json(&format!("/api/sessions/{id}")).await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("Closed")));
    assert!(session_processes(&f.app, &id).is_empty());
    let (status, _) = f
        .app
        .post_json(&format!("/api/sessions/{id}/resume"), &json!({}))
        .await;
    assert_eq!(status, 409);
    // A closed session's event stream would never end: it is refused, clearly.
    let (status, body) = f.app.get_json(&format!("/api/sessions/{id}/events")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("session_closed")),
        "{body}"
    );
    f.app.shutdown().await;
}

async fn an_interrupted_turn_ends_interrupted_and_the_session_goes_on(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (status, turn) = f.app.send(&id, "SLOW 60000").await;
    assert_eq!((status, turn["status"].as_str()), (202, Some("Running")));
    let turn_id = turn["id"].as_str().unwrap().to_owned();
    let (status, body) = f.app.send(&id, "second").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("turn_in_progress"))
    );

    let (status, _) = f
        .app
        .post_json(&format!("/api/sessions/{id}/interrupt"), &json!({}))
        .await;
    assert_eq!(status, 202);
    let done = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{id}/turns/{turn_id}"),
            Duration::from_secs(10),
            |t| t["status"] != "Running",
        )
        .await;
    assert_eq!(done["status"], "Interrupted", "{done}");
    assert_eq!(done["subtype"], "error_during_execution");
    let (status, body) = f
        .app
        .post_json(&format!("/api/sessions/{id}/interrupt"), &json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("no_turn_in_progress"))
    );
    let (_, next) = f.app.turn(&id, "after").await;
    assert_eq!(next["status"], "Completed");
    f.app.shutdown().await;
}

async fn a_crash_mid_turn_fails_the_session_which_stays_resumable(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    f.app.turn(&id, "one").await;
    let (status, turn) = f.app.turn(&id, "CRASH now").await;
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["status"], "Lost");
    assert!(turn["error"].as_str().unwrap().contains("code 3"), "{turn}");
    let s = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{id}"),
            Duration::from_secs(5),
            |s| s["status"] == "Failed",
        )
        .await;
    assert!(
        s["lastError"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{s}"
    );
    assert!(s["process"].is_null());
    let (status, _) = f
        .app
        .post_json(&format!("/api/sessions/{id}/resume"), &json!({}))
        .await;
    assert_eq!(status, 200);
    let (_, after) = f.app.turn(&id, "three").await;
    assert_eq!(after["result"], "echo: three (history: 2)");
    let metrics = f.app.metrics_text().await;
    assert!(
        metrics.contains("agent_process_crashes_total 1"),
        "crash counted"
    );
    f.app.shutdown().await;
}

async fn a_silent_agent_is_stopped_by_the_watchdog(backend: Backend) {
    let f = fixture(
        backend,
        &[("ORCHESTRA__CLAUDE__INACTIVITY_TIMEOUT_SECS", "1")],
    )
    .await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f.app.send(&id, "SILENCE").await;
    let turn_id = turn["id"].as_str().unwrap();
    let done = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{id}/turns/{turn_id}"),
            Duration::from_secs(15),
            |t| t["status"] != "Running",
        )
        .await;
    assert_eq!(done["status"], "Failed", "{done}");
    assert!(
        done["error"].as_str().unwrap().contains("no output"),
        "{done}"
    );
    let s = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{id}"),
            Duration::from_secs(5),
            |s| s["status"] == "Failed",
        )
        .await;
    assert!(s["lastError"].as_str().unwrap().contains("no output"));
    assert!(session_processes(&f.app, &id).is_empty());
    f.app.shutdown().await;
}

async fn stderr_floods_huge_lines_and_garbage_do_not_stall_or_kill_a_turn(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (_, t1) = f.app.turn(&id, "STDERR_FLOOD 30").await;
    assert_eq!(t1["status"], "Completed", "{t1}");
    let (_, t2) = f.app.turn(&id, "HUGE_LINE 3").await;
    assert_eq!(
        t2["result"],
        format!("huge answer of {} bytes", 3 * 1024 * 1024)
    );
    // Over the 4 MiB line limit: skipped and reported, and the turn still ends.
    let (_, t_over) = f.app.turn(&id, "HUGE_LINE 5").await;
    assert_eq!(t_over["status"], "Completed", "{t_over}");
    let (_, t3) = f.app.turn(&id, "GARBAGE").await;
    assert_eq!(t3["status"], "Completed");
    let events = read_until(
        &f.app.client,
        &f.app.url(&format!("/api/sessions/{id}/events?after=0")),
        None,
        Duration::from_secs(10),
        |e| e.event == "turn_finished" && e.data["data"]["turnId"] == t3["id"],
    )
    .await;
    // The event log keeps a cut copy (16 KiB by default); the turn's result had it whole.
    assert!(
        events.iter().any(|e| {
            e.event == "assistant_text"
                && e.data["data"]["text"].as_str().is_some_and(|t| {
                    t.len() < 17 * 1024
                        && t.ends_with(&format!("…[truncated: {} bytes in all]", 3 * 1024 * 1024))
                })
        }),
        "the 3 MiB text is cut in the log"
    );
    let garbage: Vec<_> = events.iter().filter(|e| e.event == "garbage").collect();
    assert_eq!(
        garbage.len(),
        3,
        "the oversized line and the non-JSON lines are reported: {garbage:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.event == "other" && e.data["data"]["kind"] == "mystery"),
        "unknown types are kept"
    );
    assert!(
        events
            .iter()
            .any(|e| e.event == "other" && e.data["data"]["subtype"] == "brand_new"),
        "unknown subtypes are kept"
    );
    f.app.shutdown().await;
}

async fn an_agent_ignoring_sigterm_is_killed_and_its_tools_with_it(backend: Backend) {
    let f = fixture(
        backend,
        &[("ORCHESTRA__CLAUDE__ENV__FAKE_CLAUDE_IGNORE_SIGNALS", "1")],
    )
    .await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    f.app.send(&id, "TOOL_SLEEP").await;
    // Wait until the tool (`sleep 300`, in its own process group) runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while session_processes(&f.app, &id).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the tool never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = session_processes(&f.app, &id);
    let (status, paused) = f
        .app
        .post_json(&format!("/api/sessions/{id}/pause"), &json!({}))
        .await;
    assert_eq!(
        (status, paused["status"].as_str()),
        (200, Some("Paused")),
        "{paused}"
    );
    for p in &before {
        assert!(!procfs::alive(p), "process {} survived the stop", p.pid);
    }
    let events = read_until(
        &f.app.client,
        &f.app.url(&format!("/api/sessions/{id}/events")),
        Some(0),
        Duration::from_secs(5),
        |e| e.event == "exited",
    )
    .await;
    let exited = events.last().unwrap();
    assert_eq!(exited.data["data"]["stopStep"], "sigkill", "{exited:?}");
    assert!(
        exited.data["data"]["orphansKilled"].as_u64().unwrap() >= 1,
        "the orphaned tool was killed: {exited:?}"
    );
    f.app.shutdown().await;
}

async fn two_clients_acting_at_once_never_start_two_processes(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    f.app
        .post_json(&format!("/api/sessions/{id}/pause"), &json!({}))
        .await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = f.app.client.clone();
        let url = f.app.url(&format!("/api/sessions/{id}/resume"));
        tasks.push(tokio::spawn(async move {
            client.post(url).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 409, 409, 409]);
    assert_eq!(
        session_processes(&f.app, &id).len(),
        1,
        "exactly one CLI process"
    );

    let mut sends = Vec::new();
    for i in 0..3 {
        let client = f.app.client.clone();
        let url = f.app.url(&format!("/api/sessions/{id}/messages"));
        sends.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"prompt": format!("SLOW 500 #{i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in sends {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![202, 409, 409]);
    f.app.shutdown().await;
}

async fn the_process_cap_queues_then_refuses(backend: Backend) {
    let f = fixture(
        backend,
        &[
            ("ORCHESTRA__CLAUDE__MAX_LIVE_PROCESSES", "1"),
            ("ORCHESTRA__CLAUDE__SPAWN_QUEUE_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let a = f.app.create_session(f.work.path(), json!({})).await;
    // Its process is busy with a turn, so it cannot be suspended to free the slot.
    let (status, _) = f
        .app
        .post_json(
            &format!("/api/sessions/{a}/messages"),
            &json!({"prompt": "SILENCE"}),
        )
        .await;
    assert_eq!(status, 202);
    let (status, body) = f
        .app
        .post_json("/api/sessions", &json!({"workingDirectory": f.work.path()}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("agent_capacity_exhausted")),
        "{body}"
    );
    // A queued create gets the slot as soon as it frees up.
    let client = f.app.client.clone();
    let url = f.app.url("/api/sessions");
    let dir = f.work.path().display().to_string();
    let queued = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"workingDirectory": dir}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.app
        .post_json(&format!("/api/sessions/{a}/pause"), &json!({}))
        .await;
    assert_eq!(queued.await.unwrap(), 201);
    f.app.shutdown().await;
}

async fn bad_session_input_gets_clear_4xx(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let file = f.work.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let cases = vec![
        (
            400,
            "validation_failed",
            f.app
                .post_json(
                    "/api/sessions",
                    &json!({"workingDirectory": "/no/such/dir"}),
                )
                .await,
        ),
        (
            400,
            "validation_failed",
            f.app
                .post_json(
                    "/api/sessions",
                    &json!({"workingDirectory": "relative/dir"}),
                )
                .await,
        ),
        (
            400,
            "validation_failed",
            f.app
                .post_json("/api/sessions", &json!({"workingDirectory": file}))
                .await,
        ),
        (
            400,
            "invalid_body",
            f.app.post_json("/api/sessions", &json!({})).await,
        ),
        (
            400,
            "validation_failed",
            f.app
                .post_json(
                    "/api/sessions",
                    &json!({"workingDirectory": f.work.path(), "permissionMode": "yolo"}),
                )
                .await,
        ),
        (
            400,
            "validation_failed",
            f.app
                .post_json(
                    "/api/sessions",
                    &json!({"workingDirectory": f.work.path(), "allowedTools": ["a,b"]}),
                )
                .await,
        ),
        (
            400,
            "validation_failed",
            f.app
                .post_json(
                    "/api/sessions",
                    &json!({"workingDirectory": f.work.path(), "maxTurns": 0}),
                )
                .await,
        ),
        (400, "validation_failed", f.app.send(&id, "   ").await),
        (
            400,
            "validation_failed",
            f.app.send(&id, &"x".repeat(100_001)).await,
        ),
        (
            400,
            "invalid_body",
            f.app
                .post_json(
                    &format!("/api/sessions/{id}/messages"),
                    &json!({"prompt": 5}),
                )
                .await,
        ),
        (
            404,
            "session_not_found",
            f.app
                .post_json(
                    &format!("/api/sessions/{}/messages", uuid::Uuid::new_v4()),
                    &json!({"prompt": "x"}),
                )
                .await,
        ),
        (
            404,
            "session_not_found",
            f.app
                .post_json(
                    &format!("/api/sessions/{}/pause", uuid::Uuid::new_v4()),
                    &json!({}),
                )
                .await,
        ),
        (
            404,
            "turn_not_found",
            f.app
                .get_json(&format!(
                    "/api/sessions/{id}/turns/{}",
                    uuid::Uuid::new_v4()
                ))
                .await,
        ),
        (
            400,
            "validation_failed",
            f.app
                .get_json(&format!("/api/sessions/{id}/turns/nope"))
                .await,
        ),
    ];
    for (i, (want, code, (status, body))) in cases.into_iter().enumerate() {
        assert_eq!(
            (status, body["code"].as_str()),
            (want, Some(code)),
            "case {i}: {body}"
        );
    }
    let (_, listed) = f.app.get_json("/api/sessions").await;
    assert_eq!(listed["total"], 1, "nothing half-created");
    f.app.shutdown().await;
}

async fn a_cli_that_fails_at_start_gives_502_and_a_failed_session(backend: Backend) {
    let f = fixture(
        backend,
        &[("ORCHESTRA__CLAUDE__ENV__FAKE_CLAUDE_EXIT_AT_START", "7")],
    )
    .await;
    let (status, body) = f
        .app
        .post_json("/api/sessions", &json!({"workingDirectory": f.work.path()}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("agent_start_failed")),
        "{body}"
    );
    // Issue 8: the 502 body carries neither the CLI's stderr nor its path (the log does);
    // the session it concerns shows why it failed.
    let message = body["message"].as_str().unwrap();
    assert!(
        !message.contains("told to fail") && !message.contains("fake-claude"),
        "{body}"
    );
    let (_, listed) = f.app.get_json("/api/sessions?status=Failed").await;
    assert_eq!(listed["total"], 1);
    let last_error = listed["items"][0]["lastError"].as_str().unwrap_or_default();
    assert!(
        last_error.contains("code 7") && last_error.contains("told to fail"),
        "the failed session says why: {listed}"
    );
    let metrics = f.app.metrics_text().await;
    assert!(
        metrics.contains("agent_process_spawn_failures_total 1"),
        "spawn failure counted"
    );
    assert!(
        listed["items"][0]["lastError"]
            .as_str()
            .unwrap()
            .contains("failed to start")
    );
    f.app.shutdown().await;
}

async fn a_reconnecting_event_stream_misses_nothing(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (_, t) = f.app.turn(&id, "hello").await;
    let url = f.app.url(&format!("/api/sessions/{id}/events"));
    let first = read_until(&f.app.client, &url, Some(0), Duration::from_secs(5), |e| {
        e.event == "init"
    })
    .await;
    let last = first.last().unwrap().id.unwrap();
    let rest = read_until(
        &f.app.client,
        &url,
        Some(last),
        Duration::from_secs(5),
        |e| e.event == "turn_finished",
    )
    .await;
    let ids: Vec<u64> = first
        .iter()
        .chain(rest.iter())
        .filter_map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "contiguous, no duplicates: {ids:?}"
    );
    let kinds: Vec<&str> = first
        .iter()
        .chain(rest.iter())
        .map(|e| e.event.as_str())
        .collect();
    for kind in [
        "status_changed",
        "turn_started",
        "init",
        "assistant_text",
        "result",
        "turn_finished",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(rest.last().unwrap().data["data"]["turnId"], t["id"]);
    // A client without Last-Event-ID gets the current (latest) turn from its start, then
    // follows the next turn live.
    let client = f.app.client.clone();
    let live_url = url.clone();
    let reader = tokio::spawn(async move {
        read_until(&client, &live_url, None, Duration::from_secs(10), |e| {
            e.event == "assistant_text" && e.data["data"]["text"] == "echo: live (history: 1)"
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.app.turn(&id, "live").await;
    let live = reader.await.unwrap();
    assert_eq!(
        live[0].event, "turn_started",
        "replay starts at the latest turn: {live:?}"
    );
    assert_eq!(live[0].data["data"]["turnId"], t["id"]);
    f.app.shutdown().await;
}

/// A graceful stop suspends the idle sessions (they stay Active; the next message after the
/// restart resumes them, with no resume call) and pauses the busy ones (their running turn
/// Interrupted, so their clients see why); no agent process outlives it.
async fn shutdown_suspends_idle_sessions_and_pauses_busy_ones(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let idle = f.app.create_session(f.work.path(), json!({})).await;
    f.app.turn(&idle, "x").await;
    let busy = f.app.create_session(f.work.path(), json!({})).await;
    let (_, running) = f.app.send(&busy, "SILENCE").await;
    let running = running["id"].as_str().unwrap().to_owned();
    let node = f.app.settings.claude.node_id.clone();
    let store = f.app.shutdown_keep_store().await;
    let left: Vec<String> = procfs::scan(&node)
        .iter()
        .map(|p| {
            format!(
                "{p:?} {:?} {:?}",
                procfs::stat(p.pid),
                std::fs::read_to_string(format!("/proc/{}/cmdline", p.pid))
            )
        })
        .collect();
    assert!(
        left.is_empty(),
        "no agent process outlives a graceful shutdown: {left:?}"
    );
    assert_eq!(store.session_status(&idle).await, "Active", "suspended");
    assert_eq!(store.session_status(&busy).await, "Paused");
    let app = TestApp::spawn_with(
        backend,
        TestAppOptions::default()
            .fake_cli(f._home.path())
            .with("DB_CONNECTION_STRING", store.connection_string()),
    )
    .await;
    let (_, s) = app.get_json(&format!("/api/sessions/{idle}")).await;
    assert_eq!(
        (s["status"].as_str(), s["suspended"].as_bool()),
        (Some("Active"), Some(true)),
        "{s}"
    );
    let (status, t) = app.turn(&idle, "again").await;
    assert_eq!(
        (status, t["result"].as_str()),
        (200, Some("echo: again (history: 1)")),
        "{t}"
    );
    let (_, turn) = app
        .get_json(&format!("/api/sessions/{busy}/turns/{running}"))
        .await;
    assert_eq!(turn["status"], "Interrupted", "{turn}");
    app.shutdown().await;
    drop(store);
}

/// Event streams are capped per session: the 17th gets 503 `too_many_subscribers`, and a
/// stream that goes away frees its place.
async fn event_streams_are_capped_per_session(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let url = f.app.url(&format!("/api/sessions/{id}/events"));
    let mut open = Vec::new();
    for _ in 0..16 {
        let res = f.app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        open.push(res);
    }
    let res = f.app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "too_many_subscribers", "{body}");
    drop(open.pop());
    // The server notices the closed connection when it next writes (the first keep-alive is
    // 15 s away): wait for the place to come free rather than sleeping.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let res = f.app.client.get(&url).send().await.unwrap();
        if res.status().as_u16() == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the place never came free"
        );
        // Events make the server write to every stream, so it finds the closed one.
        f.app.turn(&id, "hello").await;
    }
    f.app.shutdown().await;
}

both_backends!(
    event_streams_are_capped_per_session,
    a_turn_runs_and_its_totals_add_up,
    pause_stops_the_process_and_resume_continues_the_conversation,
    an_interrupted_turn_ends_interrupted_and_the_session_goes_on,
    a_crash_mid_turn_fails_the_session_which_stays_resumable,
    a_silent_agent_is_stopped_by_the_watchdog,
    stderr_floods_huge_lines_and_garbage_do_not_stall_or_kill_a_turn,
    an_agent_ignoring_sigterm_is_killed_and_its_tools_with_it,
    two_clients_acting_at_once_never_start_two_processes,
    the_process_cap_queues_then_refuses,
    bad_session_input_gets_clear_4xx,
    a_cli_that_fails_at_start_gives_502_and_a_failed_session,
    a_reconnecting_event_stream_misses_nothing,
    shutdown_suspends_idle_sessions_and_pauses_busy_ones,
);
