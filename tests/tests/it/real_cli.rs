//! The real `claude` CLI (npm `@anthropic-ai/claude-code`, pinned) driven by Orchestra
//! against our mock of the Anthropic Messages API on 127.0.0.1. On SQLite and PostgreSQL.

use std::time::Duration;

use orchestra_claude::procfs;
use orchestra_tests::mock_anthropic::{CLAUDE_CODE_VERSION, MockAnthropic};
use orchestra_tests::{Backend, TestApp, TestAppOptions};

use serde_json::json;

pub(crate) struct Fixture {
    pub app: TestApp,
    pub mock: MockAnthropic,
    pub work: tempfile::TempDir,
    _home: tempfile::TempDir,
}

async fn fixture(backend: Backend) -> Fixture {
    fixture_with(backend, &[]).await
}

pub(crate) async fn fixture_with(backend: Backend, extra: &[(&str, &str)]) -> Fixture {
    let mock = MockAnthropic::start().await;
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let options = TestAppOptions::default().real_cli(&mock.base_url, home.path());
    let options = extra.iter().fold(options, |o, (k, v)| o.with(k, *v));
    let app = TestApp::spawn_with(backend, options).await;
    Fixture {
        app,
        mock,
        work,
        _home: home,
    }
}

async fn a_turn_reaches_the_mock_and_its_cost_is_accounted(backend: Backend) {
    let f = fixture(backend).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (status, turn) = f.app.turn(&id, "Say hello").await;
    assert_eq!(status, 200, "{turn}");
    assert_eq!(turn["status"], "Completed", "{turn}");
    assert_eq!(turn["result"], "Hello from the mock.");
    let cost = turn["costUsd"].as_f64().unwrap();
    assert!(cost > 0.0, "the CLI prices the mock's usage: {turn}");
    let requests = f.mock.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        f.mock
            .last_request_texts()
            .iter()
            .any(|t| t.contains("Say hello"))
    );
    let (_, s) = f.app.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(s["turnCount"], 1);
    assert!((s["totalCostUsd"].as_f64().unwrap() - cost).abs() < 1e-12);
    assert_eq!(s["messageCount"], turn["messageCount"]);
    let (_, agents) = f.app.get_json("/api/agents").await;
    assert_eq!(agents[0]["version"], CLAUDE_CODE_VERSION);
    f.app.shutdown().await;
    f.mock.stop().await;
}

async fn a_multi_turn_conversation_carries_its_context_and_costs_add_up(backend: Backend) {
    let f = fixture(backend).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let mut costs = 0.0;
    for prompt in ["first question", "KW_REMEMBER apple", "KW_RECALL please"] {
        let (_, turn) = f.app.turn(&id, prompt).await;
        assert_eq!(turn["status"], "Completed", "{turn}");
        costs += turn["costUsd"].as_f64().unwrap();
    }
    let (_, turns) = f.app.get_json(&format!("/api/sessions/{id}/turns")).await;
    assert_eq!(turns["items"][0]["result"], "The secret word is apple.");
    let texts = f.mock.last_request_texts().join("\n");
    assert!(
        texts.contains("first question") && texts.contains("KW_REMEMBER apple"),
        "one process, one conversation"
    );
    let (_, s) = f.app.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(s["turnCount"], 3);
    assert!(
        (s["totalCostUsd"].as_f64().unwrap() - costs).abs() < 1e-9,
        "session cost = sum of turn costs: {s}"
    );
    f.app.shutdown().await;
    f.mock.stop().await;
}

async fn pause_then_resume_keeps_the_conversation(backend: Backend) {
    let f = fixture(backend).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (_, t1) = f.app.turn(&id, "KW_REMEMBER banana").await;
    assert_eq!(t1["result"], "Noted: the secret word is banana.");
    let (_, before) = f.app.get_json(&format!("/api/sessions/{id}")).await;
    let pid = before["process"]["pid"].as_u64().unwrap();
    let (status, paused) = f
        .app
        .post_json(&format!("/api/sessions/{id}/pause"), &json!({}))
        .await;
    assert_eq!((status, paused["status"].as_str()), (200, Some("Paused")));
    assert!(
        procfs::stat(i32::try_from(pid).unwrap()).is_none_or(|s| s.0 == 'Z'),
        "the CLI is gone"
    );
    let (status, resumed) = f
        .app
        .post_json(&format!("/api/sessions/{id}/resume"), &json!({}))
        .await;
    assert_eq!(
        (status, resumed["status"].as_str()),
        (200, Some("Active")),
        "{resumed}"
    );
    let (_, t2) = f.app.turn(&id, "KW_RECALL").await;
    assert_eq!(t2["result"], "The secret word is banana.", "{t2}");
    assert!(
        f.mock
            .last_request_texts()
            .iter()
            .any(|t| t.contains("KW_REMEMBER banana")),
        "the mock sees the earlier messages"
    );
    f.app.shutdown().await;
    f.mock.stop().await;
}

async fn a_suspended_session_resumes_with_its_conversation_on_the_next_message(backend: Backend) {
    // Issue 10, point 1, on the real CLI: two slots taken by idle sessions, a third session
    // suspends the least recently used one; that one's next message resumes it (`--resume`)
    // with its history, in the same request. A session suspended before its first prompt
    // starts again with `--session-id` (the CLI wrote nothing for it).
    let f = fixture_with(backend, &[("ORCHESTRA__CLAUDE__MAX_LIVE_PROCESSES", "2")]).await;
    let first = f.app.create_session(f.work.path(), json!({})).await;
    let (_, t1) = f.app.turn(&first, "KW_REMEMBER banana").await;
    assert_eq!(t1["result"], "Noted: the secret word is banana.");
    let never_prompted = f.app.create_session(f.work.path(), json!({})).await;
    let third = f.app.create_session(f.work.path(), json!({})).await;
    let (_, s) = f.app.get_json(&format!("/api/sessions/{first}")).await;
    assert_eq!(
        (s["status"].as_str(), s["suspended"].as_bool()),
        (Some("Active"), Some(true)),
        "the least recently used session gave up its slot: {s}"
    );
    let (status, t2) = f.app.turn(&first, "KW_RECALL").await;
    assert_eq!(
        (status, t2["result"].as_str()),
        (200, Some("The secret word is banana.")),
        "{t2}"
    );
    assert!(
        f.mock
            .last_request_texts()
            .iter()
            .any(|t| t.contains("KW_REMEMBER banana")),
        "the mock sees the earlier messages"
    );
    // That suspended `never_prompted` (now the least recently used): it starts afresh.
    let (_, s) = f
        .app
        .get_json(&format!("/api/sessions/{never_prompted}"))
        .await;
    assert_eq!(s["suspended"], true, "{s}");
    let (status, t3) = f.app.turn(&never_prompted, "hello").await;
    assert_eq!(
        (status, t3["status"].as_str()),
        (200, Some("Completed")),
        "{t3}"
    );
    let (_, s) = f.app.get_json(&format!("/api/sessions/{third}")).await;
    assert_eq!(s["status"], "Active", "{s}");
    f.app.shutdown().await;
    f.mock.stop().await;
}

async fn interrupting_a_running_tool_ends_the_turn_interrupted(backend: Backend) {
    // The server's policy must let a client pre-allow Bash for this test.
    let f = fixture_with(
        backend,
        &[("ORCHESTRA__POLICY__CLIENT_ALLOWED_TOOLS", "Bash")],
    )
    .await;
    let id = f
        .app
        .create_session(f.work.path(), json!({"allowedTools": ["Bash"]}))
        .await;
    let marker = f.work.path().join("slept.txt");
    let prompt = format!(
        "KW_BASH python3 -c 'import time; time.sleep(30)' && echo slept > {}",
        marker.display()
    );
    let (status, turn) = f.app.send(&id, &prompt).await;
    assert_eq!(status, 202, "{turn}");
    let turn_id = turn["id"].as_str().unwrap().to_owned();
    // Wait until the tool runs (its python process carries our markers).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let running = procfs::scan(&f.app.settings.claude.node_id)
            .into_iter()
            .any(|p| {
                p.session == id
                    && std::fs::read_to_string(format!("/proc/{}/cmdline", p.pid))
                        .is_ok_and(|c| c.contains("time.sleep"))
            });
        if running {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the Bash tool never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = f
        .app
        .post_json(&format!("/api/sessions/{id}/interrupt"), &json!({}))
        .await;
    assert_eq!(status, 202);
    let done = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{id}/turns/{turn_id}"),
            Duration::from_secs(20),
            |t| t["status"] != "Running",
        )
        .await;
    assert_eq!(done["status"], "Interrupted", "{done}");
    assert_eq!(done["terminalReason"], "aborted_tools");
    assert!(!marker.exists(), "the tool was stopped before finishing");
    let (_, next) = f.app.turn(&id, "are you there").await;
    assert_eq!(next["status"], "Completed", "the session goes on: {next}");
    f.app.shutdown().await;
    f.mock.stop().await;
}

async fn an_api_error_reported_as_success_is_a_failed_turn(backend: Backend) {
    let f = fixture(backend).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f.app.turn(&id, "KW_ERROR500").await;
    assert_eq!(turn["status"], "Failed", "{turn}");
    assert_eq!(
        (turn["subtype"].as_str(), turn["isError"].as_bool()),
        (Some("success"), Some(true))
    );
    assert_eq!(turn["apiErrorStatus"], 500);
    assert!(turn["error"].as_str().unwrap().contains("API status 500"));
    f.app.shutdown().await;
    f.mock.stop().await;
}

pub(crate) async fn pending_approval(app: &TestApp, session: &str) -> serde_json::Value {
    let list = app
        .wait_for_json(
            &format!("/api/approvals?sessionId={session}&status=Pending"),
            Duration::from_secs(30),
            |b| b["total"] == 1,
        )
        .await;
    // Lists show a preview of the input; the approval itself has all of it.
    let item = &list["items"][0];
    assert!(item.get("toolInput").is_none(), "{item}");
    assert!(item["toolInputPreview"].is_string(), "{item}");
    let (_, full) = app
        .get_json(&format!("/api/approvals/{}", item["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        full["toolInput"].to_string(),
        item["toolInputPreview"].as_str().unwrap(),
        "a short input is previewed whole"
    );
    full
}

pub(crate) async fn finished(
    app: &TestApp,
    session: &str,
    turn: &serde_json::Value,
) -> serde_json::Value {
    app.wait_for_json(
        &format!(
            "/api/sessions/{session}/turns/{}",
            turn["id"].as_str().unwrap()
        ),
        Duration::from_secs(30),
        |t| t["status"] != "Running",
    )
    .await
}

async fn a_live_prompt_allowed_by_a_human_runs_the_tool(backend: Backend) {
    let f = fixture(backend).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let out = f.work.path().join("out.txt");
    let (_, turn) = f.app.send(&id, "KW_BASH echo hi > out.txt").await;
    let approval = pending_approval(&f.app, &id).await;
    assert_eq!(approval["toolName"], "Bash");
    assert_eq!(approval["toolInput"]["command"], "echo hi > out.txt");
    assert!(!out.exists(), "nothing runs before the decision");
    let (status, _) = f
        .app
        .post_json(
            &format!(
                "/api/approvals/{}/approve",
                approval["id"].as_str().unwrap()
            ),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 200);
    let done = finished(&f.app, &id, &turn).await;
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hi\n");
    f.app.shutdown().await;
    f.mock.stop().await;
}

async fn allow_for_session_grants_the_rule_the_cli_suggested(backend: Backend) {
    let f = fixture(backend).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f.app.send(&id, "KW_BASH git commit -m first").await;
    let approval = pending_approval(&f.app, &id).await;
    // The real CLI suggests a prefix rule for this call, not the whole tool.
    assert_eq!(approval["sessionRule"], "Bash(git commit *)", "{approval}");
    let (status, _) = f
        .app
        .post_json(
            &format!(
                "/api/approvals/{}/approve",
                approval["id"].as_str().unwrap()
            ),
            &json!({"approved": true, "scope": "session"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(finished(&f.app, &id, &turn).await["status"], "Completed");
    // A plain command the rule covers runs without a second approval (git fails here, outside
    // a repository: that is the tool's result, not Orchestra's business).
    let (_, turn) = f.app.send(&id, "KW_BASH git commit -m second").await;
    let done = finished(&f.app, &id, &turn).await;
    assert_eq!(done["status"], "Completed", "{done}");
    let (_, all) = f
        .app
        .get_json(&format!("/api/approvals?sessionId={id}"))
        .await;
    assert_eq!(all["total"], 1, "covered by the rule: {all}");
    // The CLI did ask (it does not know Orchestra's grant): Orchestra answered from the rule.
    let metrics = f.app.metrics_text().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("agent_permissions_auto_answered_total{")
                && l.contains(r#"why="session_grant""#)
                && l.ends_with(" 1")),
        "{metrics}"
    );
    // The same words with a redirection are not covered: a human is asked again.
    let (_, turn) = f.app.send(&id, "KW_BASH git commit -m x > other.txt").await;
    let second = pending_approval(&f.app, &id).await;
    assert_eq!(
        second["toolInput"]["command"],
        "git commit -m x > other.txt"
    );
    let (status, _) = f
        .app
        .post_json(
            &format!("/api/approvals/{}/approve", second["id"].as_str().unwrap()),
            &json!({"approved": false}),
        )
        .await;
    assert_eq!(status, 200);
    finished(&f.app, &id, &turn).await;
    assert!(!f.work.path().join("other.txt").exists());
    f.app.shutdown().await;
    f.mock.stop().await;
}

async fn a_live_prompt_denied_by_a_human_does_not_run_and_the_agent_is_told(backend: Backend) {
    let f = fixture(backend).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f.app.send(&id, "KW_BASH echo hi > out.txt").await;
    let approval = pending_approval(&f.app, &id).await;
    f.app
        .post_json(
            &format!(
                "/api/approvals/{}/approve",
                approval["id"].as_str().unwrap()
            ),
            &json!({"approved": false, "reason": "not today"}),
        )
        .await;
    let done = finished(&f.app, &id, &turn).await;
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(done["permissionDenials"], 1);
    assert!(!f.work.path().join("out.txt").exists());
    let told = f.mock.requests().iter().any(|r| {
        r.to_string()
            .contains("A human denied this tool call (key:bootstrap-admin). Reason: not today")
    });
    assert!(
        told,
        "the model receives the denial message as the tool result"
    );
    f.app.shutdown().await;
    f.mock.stop().await;
}

async fn an_approval_with_edited_input_runs_the_edited_command(backend: Backend) {
    let f = fixture(backend).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f.app.send(&id, "KW_BASH echo hi > out.txt").await;
    let approval = pending_approval(&f.app, &id).await;
    let mut edited = approval["toolInput"].clone();
    edited["command"] = json!("echo modified > out.txt");
    f.app
        .post_json(
            &format!(
                "/api/approvals/{}/approve",
                approval["id"].as_str().unwrap()
            ),
            &json!({"approved": true, "updatedInput": edited}),
        )
        .await;
    assert_eq!(finished(&f.app, &id, &turn).await["status"], "Completed");
    assert_eq!(
        std::fs::read_to_string(f.work.path().join("out.txt")).unwrap(),
        "modified\n"
    );
    f.app.shutdown().await;
    f.mock.stop().await;
}

async fn a_parked_session_resumes_and_runs_the_approved_call_once(backend: Backend) {
    let f = fixture_with(backend, &[("ORCHESTRA__APPROVALS__PARK_AFTER_SECS", "2")]).await;
    let id = f.app.create_session(f.work.path(), json!({})).await;
    let out = f.work.path().join("count.txt");
    let (_, turn) = f
        .app
        .send(&id, &format!("KW_BASH echo run >> {}", out.display()))
        .await;
    let approval = pending_approval(&f.app, &id).await;
    let parked = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{id}"),
            Duration::from_secs(20),
            |s| s["status"] == "Paused",
        )
        .await;
    assert!(
        parked["lastError"].as_str().unwrap().starts_with("parked"),
        "{parked}"
    );
    assert_eq!(finished(&f.app, &id, &turn).await["status"], "Interrupted");
    assert!(!out.exists());
    f.app
        .post_json(
            &format!(
                "/api/approvals/{}/approve",
                approval["id"].as_str().unwrap()
            ),
            &json!({"approved": true}),
        )
        .await;
    let turns = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{id}/turns"),
            Duration::from_secs(30),
            |t| t["total"] == 2 && t["items"][0]["status"] != "Running",
        )
        .await;
    assert_eq!(turns["items"][0]["status"], "Completed", "{turns}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "run\n",
        "the approved call ran exactly once"
    );
    assert_eq!(
        f.app
            .get_json(&format!("/api/approvals?sessionId={id}"))
            .await
            .1["total"],
        1,
        "no second approval"
    );
    f.app.shutdown().await;
    f.mock.stop().await;
}

/// An operator cannot get an agent that runs Bash without a human decision: not by any field
/// of `POST /api/sessions`, nor by the repository's own `.claude/` settings or `.mcp.json`.
async fn an_operator_cannot_get_bash_without_a_human_by_any_field_or_repository_file(
    backend: Backend,
) {
    let f = fixture(backend).await;
    let operator = f.app.client_as(orchestra_domain::Role::Operator).await;
    let dir = f.work.path().display().to_string();
    for widen in [
        json!({"permissionMode": "bypassPermissions"}),
        json!({"permissionMode": "acceptEdits"}),
        json!({"allowedTools": ["Bash"]}),
        json!({"allowedTools": ["Bash(echo:*)"]}),
        json!({"allowedTools": ["Read", "Write"]}),
    ] {
        let mut body = widen.clone();
        body["workingDirectory"] = json!(dir);
        let res = operator
            .post(f.app.url("/api/sessions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400, "{widen} was accepted");
    }
    // The repository tries to allow everything by itself.
    let allow_all = json!({
        "permissions": {"allow": ["Bash", "Bash(*)", "Write"], "defaultMode": "bypassPermissions"},
        "hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "touch hooked.txt"}]}]}
    });
    std::fs::create_dir_all(f.work.path().join(".claude")).unwrap();
    for file in ["settings.json", "settings.local.json"] {
        std::fs::write(
            f.work.path().join(".claude").join(file),
            allow_all.to_string(),
        )
        .unwrap();
    }
    std::fs::write(
        f.work.path().join(".mcp.json"),
        json!({"mcpServers": {"evil": {"command": "touch", "args": ["mcp.txt"]}}}).to_string(),
    )
    .unwrap();
    let res = operator
        .post(f.app.url("/api/sessions"))
        .json(&json!({"workingDirectory": dir}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = operator
        .post(f.app.url(&format!("/api/sessions/{id}/messages")))
        .json(&json!({"prompt": "KW_BASH echo hi > out.txt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 202);
    let turn = res.json::<serde_json::Value>().await.unwrap();
    let approval = pending_approval(&f.app, &id).await;
    assert_eq!(approval["toolName"], "Bash");
    assert!(
        !f.work.path().join("out.txt").exists(),
        "Bash ran without a decision"
    );
    f.app
        .post_json(
            &format!(
                "/api/approvals/{}/approve",
                approval["id"].as_str().unwrap()
            ),
            &json!({"approved": false}),
        )
        .await;
    finished(&f.app, &id, &turn).await;
    assert!(!f.work.path().join("out.txt").exists());
    assert!(
        !f.work.path().join("hooked.txt").exists(),
        "a repository hook ran"
    );
    assert!(
        !f.work.path().join("mcp.txt").exists(),
        "a repository MCP server started"
    );
    f.app.shutdown().await;
    f.mock.stop().await;
}

both_backends!(
    allow_for_session_grants_the_rule_the_cli_suggested,
    an_operator_cannot_get_bash_without_a_human_by_any_field_or_repository_file,
    a_live_prompt_allowed_by_a_human_runs_the_tool,
    a_live_prompt_denied_by_a_human_does_not_run_and_the_agent_is_told,
    an_approval_with_edited_input_runs_the_edited_command,
    a_parked_session_resumes_and_runs_the_approved_call_once,
    a_turn_reaches_the_mock_and_its_cost_is_accounted,
    a_multi_turn_conversation_carries_its_context_and_costs_add_up,
    pause_then_resume_keeps_the_conversation,
    a_suspended_session_resumes_with_its_conversation_on_the_next_message,
    interrupting_a_running_tool_ends_the_turn_interrupted,
    an_api_error_reported_as_success_is_a_failed_turn,
);
