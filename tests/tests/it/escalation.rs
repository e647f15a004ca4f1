//! Human approval escalation with the fake CLI and the fake Telegram Bot API: live prompts,
//! buttons, REST decisions, edited input, session-wide allows, expiry and warnings,
//! parking and continuation, denials, retries and the circuit breaker. On SQLite and
//! PostgreSQL.

use std::time::{Duration, Instant};

use orchestra_tests::fake_telegram::{FakeTelegram, Faults};
use orchestra_tests::{Backend, TestApp, TestAppOptions};
use serde_json::{Value, json};

pub(crate) const CHAT: i64 = -100_123;
pub(crate) const ALICE: i64 = 42;

pub(crate) struct Fixture {
    pub app: TestApp,
    pub tg: FakeTelegram,
    pub work: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

pub(crate) async fn fixture(backend: Backend, extra: &[(&str, &str)]) -> Fixture {
    let tg = FakeTelegram::start("123:fake-token").await;
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut options = TestAppOptions::default()
        .fake_cli(home.path())
        .with("TelegramEscalation__Enabled", "true")
        .with("TelegramEscalation__BotToken", tg.token.clone())
        .with("TelegramEscalation__ChatId", CHAT.to_string())
        .with("ORCHESTRA__TELEGRAM__API_BASE_URL", tg.base_url.clone())
        .with("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", ALICE.to_string())
        .with("ORCHESTRA__TELEGRAM__POLL_TIMEOUT_SECS", "1")
        .with("ORCHESTRA__TELEGRAM__RETRY_BASE_MS", "20")
        .with("ORCHESTRA__TELEGRAM__RETRY_MAX_MS", "100")
        .with("ORCHESTRA__TELEGRAM__BREAKER_OPEN_SECS", "1");
    for (k, v) in extra {
        options = options.with(k, *v);
    }
    let app = TestApp::spawn_with(backend, options).await;
    Fixture {
        app,
        tg,
        work,
        home,
    }
}

/// The approval message sent for `approval_id`.
pub(crate) fn message_for(tg: &FakeTelegram, approval_id: &str) -> Option<i64> {
    tg.sent()
        .iter()
        .find(|m| m.text.contains(approval_id))
        .map(|m| m.message_id)
}

pub(crate) async fn wait_for_pending(app: &TestApp, session: &str) -> String {
    let list = app
        .wait_for_json(
            &format!("/api/approvals?sessionId={session}&status=Pending"),
            Duration::from_secs(10),
            |b| b["total"] == 1,
        )
        .await;
    list["items"][0]["id"].as_str().unwrap().to_owned()
}

pub(crate) fn tool_log(home: &std::path::Path, session: &str) -> Vec<String> {
    std::fs::read_to_string(home.join(".fake-claude").join(format!("{session}.tools")))
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

pub(crate) async fn turn_result(app: &TestApp, session: &str, turn: &Value) -> Value {
    app.wait_for_json(
        &format!(
            "/api/sessions/{session}/turns/{}",
            turn["id"].as_str().unwrap()
        ),
        Duration::from_secs(15),
        |t| t["status"] != "Running",
    )
    .await
}

/// A new session whose agent asks to run `npm test` (the CLI suggests `Bash(npm test:*)`):
/// the session, its running turn and the Pending approval's id.
pub(crate) async fn asked_npm_test(f: &Fixture) -> (String, Value, String) {
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"npm test"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    (session, turn, id)
}

/// Denies the approval over REST.
pub(crate) async fn deny(app: &TestApp, id: &str) {
    let (status, body) = app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn metrics(app: &TestApp) -> String {
    app.metrics_text().await
}

async fn the_smoke_test_approval_goes_to_telegram_and_is_cancelled_there(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let (status, body) = f
        .app
        .post_json(
            "/api/approvals/test",
            &json!({"toolName": "TestTool", "sessionId": "test-session"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["notification"], "delivered");
    assert_eq!(body["approval"]["notified"], true);
    let id = body["approval"]["id"].as_str().unwrap();
    let sent = f.tg.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].chat_id, CHAT);
    assert!(sent[0].text.contains("TestTool") && sent[0].text.contains(id));
    assert_eq!(sent[0].body["parse_mode"], "HTML");
    let buttons: Vec<&str> = sent[0].body["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|b| b["callback_data"].as_str().unwrap())
        })
        .collect();
    // A test approval has no session rule, so no "for this session" button.
    assert_eq!(buttons, vec![format!("a:{id}"), format!("d:{id}")]);

    let (status, cancelled) = f.app.delete_json("/api/approvals/test").await;
    assert_eq!((status, cancelled["cancelled"].as_u64()), (200, Some(1)));
    f.tg.wait_for(Duration::from_secs(5), "the cancellation edit", |t| {
        t.edits().iter().any(|e| {
            e["message_id"] == sent[0].message_id
                && e["text"].as_str().unwrap().contains("Cancelled")
        })
    })
    .await;
    let (_, cb) = f.app.get_json("/api/diagnostics/circuit-breaker").await;
    assert_eq!(cb["State"], "Closed");
    let (_, tgs) = f.app.get_json("/api/diagnostics/telegram/status").await;
    assert_eq!(
        (tgs["Enabled"].as_bool(), tgs["Healthy"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(tgs["Details"]["Mode"], "polling");
    assert!(
        !tgs.to_string().contains("fake-token"),
        "no secrets in diagnostics"
    );
    let (_, dm) = f.app.get_json("/api/diagnostics/metrics").await;
    assert_eq!(dm["TelegramServiceHealthy"], true);
    f.app.shutdown().await;
}

async fn a_button_press_decides_once_and_every_press_is_answered(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_test_approval().await;
    let msg = message_for(&f.tg, &id).unwrap();
    f.tg.press(&format!("a:{id}"), ALICE, "alice", CHAT, msg);
    let a = f
        .app
        .wait_for_json(
            &format!("/api/approvals/{id}"),
            Duration::from_secs(10),
            |a| a["status"] != "Pending",
        )
        .await;
    assert_eq!(a["status"], "Approved");
    assert_eq!(a["decidedBy"], "telegram:42 (@alice)");
    f.tg.wait_for(Duration::from_secs(5), "the answer and the edit", |t| {
        t.answers().iter().any(|x| x["text"] == "✅ Approved")
            && t.edits().iter().any(|e| {
                e["text"]
                    .as_str()
                    .unwrap()
                    .contains("Approved</b> by telegram:42 (@alice)")
            })
    })
    .await;
    // A second press changes nothing and is answered politely.
    let dup = f.tg.press(&format!("d:{id}"), ALICE, "alice", CHAT, msg);
    f.tg.wait_for(
        Duration::from_secs(5),
        "the answer to the second press",
        |t| t.answers().len() == 2,
    )
    .await;
    assert!(
        f.tg.answers()[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("Already decided: Approved by telegram:42")
    );
    assert_eq!(
        f.app.get_json(&format!("/api/approvals/{id}")).await.1["status"],
        "Approved"
    );
    // The same update delivered again is not handled twice.
    f.tg.redeliver(dup);
    f.tg.wait_for(Duration::from_secs(5), "a poll past the duplicate", |t| {
        t.get_updates_calls()
            .iter()
            .any(|c| c["offset"].as_i64().is_some_and(|o| o > dup))
            && t.calls().iter().filter(|m| *m == "getUpdates").count() > 4
    })
    .await;
    assert_eq!(
        f.tg.answers().len(),
        2,
        "the duplicate got no second handling"
    );

    // Foreign chat, foreign user, strange buttons: refused, nothing changes.
    let other = f.app.create_test_approval().await;
    let msg2 = message_for(&f.tg, &other).unwrap();
    f.tg.press(&format!("a:{other}"), ALICE, "alice", -999, msg2);
    f.tg.press(&format!("a:{other}"), 7, "mallory", CHAT, msg2);
    f.tg.press("x:nonsense", ALICE, "alice", CHAT, msg2);
    f.tg.wait_for(Duration::from_secs(5), "three answers", |t| {
        t.answers().len() == 5
    })
    .await;
    let texts: Vec<String> = f.tg.answers()[2..]
        .iter()
        .map(|a| a["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts.iter().filter(|t| t.contains("not allowed")).count(),
        2,
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("not Orchestra's")),
        "{texts:?}"
    );
    assert_eq!(
        f.app.get_json(&format!("/api/approvals/{other}")).await.1["status"],
        "Pending"
    );
    // The offset is persisted: a restarted poller would start after the last press.
    let last_offset = f.tg.get_updates_calls().last().unwrap()["offset"]
        .as_i64()
        .unwrap();
    assert!(last_offset > dup);
    f.app.shutdown().await;
}

async fn a_telegram_viewer_sees_approvals_but_only_approvers_decide(backend: Backend) {
    const BOB: i64 = 43;
    // Alice and Bob are let in; only Bob has the approver role.
    let f = fixture(
        backend,
        &[
            ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", "42,43"),
            ("ORCHESTRA__TELEGRAM__APPROVERS", "43"),
        ],
    )
    .await;
    let id = f.app.create_test_approval().await;
    let msg = message_for(&f.tg, &id).unwrap();
    f.tg.press(&format!("a:{id}"), ALICE, "alice", CHAT, msg);
    f.tg.wait_for(Duration::from_secs(5), "the viewer's answer", |t| {
        t.answers().len() == 1
    })
    .await;
    assert_eq!(
        f.tg.answers()[0]["text"],
        "You can see approvals here but not decide them (viewer)."
    );
    assert_eq!(
        f.app.get_json(&format!("/api/approvals/{id}")).await.1["status"],
        "Pending",
        "a viewer's press decides nothing"
    );
    assert!(
        metrics(&f.app)
            .await
            .lines()
            .any(|l| l.starts_with("channel_decisions_refused_total{")
                && l.contains(r#"why="viewer""#)
                && l.ends_with(" 1")),
        "counted"
    );
    f.tg.press(&format!("d:{id}"), BOB, "bob", CHAT, msg);
    let a = f
        .app
        .wait_for_json(
            &format!("/api/approvals/{id}"),
            Duration::from_secs(10),
            |a| a["status"] != "Pending",
        )
        .await;
    assert_eq!(a["status"], "Rejected");
    assert_eq!(a["decidedBy"], "telegram:43 (@bob)");
    f.app.shutdown().await;
}

async fn a_manual_rest_decision_updates_the_telegram_message(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_test_approval().await;
    let msg = message_for(&f.tg, &id).unwrap();
    let (status, _) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": false, "reason": "Telegram was down"}),
        )
        .await;
    assert_eq!(status, 200);
    f.tg.wait_for(Duration::from_secs(5), "the edit", |t| {
        t.edits().iter().any(|e| {
            e["message_id"] == msg
                && e["text"]
                    .as_str()
                    .unwrap()
                    .contains("Denied</b> by key:bootstrap-admin")
                && e["text"].as_str().unwrap().contains("Telegram was down")
        })
    })
    .await;
    // A late press on the decided approval is answered, not applied.
    f.tg.press(&format!("a:{id}"), ALICE, "alice", CHAT, msg);
    f.tg.wait_for(Duration::from_secs(5), "the answer", |t| {
        !t.answers().is_empty()
    })
    .await;
    assert!(
        f.tg.answers()[0]["text"]
            .as_str()
            .unwrap()
            .contains("Already decided: Rejected by key:bootstrap-admin")
    );
    f.app.shutdown().await;
}

async fn telegram_429s_are_retried_after_retry_after(backend: Backend) {
    let f = fixture(backend, &[]).await;
    f.tg.set_faults(Faults {
        rate_limited: 1,
        retry_after: 1,
        ..Faults::default()
    });
    let started = Instant::now();
    let (status, body) = f
        .app
        .post_json("/api/approvals/test", &json!({"toolName": "T"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["notification"], "delivered", "{body}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry_after was honoured"
    );
    let m = metrics(&f.app).await;
    assert!(
        m.contains(r#"telegram_api_retry_attempts_total{method="sendMessage"} 1"#),
        "retry counted"
    );
    assert!(m.contains(r#"telegram_api_failures_total{method="sendMessage"} 1"#));
    f.app.shutdown().await;
}

async fn a_5xx_storm_opens_the_circuit_and_approvals_stay_decidable(backend: Backend) {
    let f = fixture(backend, &[]).await;
    f.tg.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, body) = f
            .app
            .post_json("/api/approvals/test", &json!({"toolName": "T"}))
            .await;
        assert_eq!(
            (status, body["notification"].as_str()),
            (201, Some("failed")),
            "{body}"
        );
        ids.push(body["approval"]["id"].as_str().unwrap().to_owned());
    }
    let (_, cb) = f.app.get_json("/api/diagnostics/circuit-breaker").await;
    assert_eq!(cb["State"], "Open", "{cb}");
    assert!(metrics(&f.app).await.contains("circuit_breaker_state 1"));
    let calls = f.tg.calls().iter().filter(|c| *c == "sendMessage").count();
    let (_, body) = f
        .app
        .post_json("/api/approvals/test", &json!({"toolName": "T"}))
        .await;
    assert_eq!(body["notification"], "failed");
    assert!(
        body["notificationError"]
            .as_str()
            .unwrap()
            .contains("circuit is open"),
        "{body}"
    );
    assert_eq!(
        f.tg.calls().iter().filter(|c| *c == "sendMessage").count(),
        calls,
        "an open circuit does not call Telegram"
    );
    let (_, dm) = f.app.get_json("/api/diagnostics/metrics").await;
    assert_eq!(dm["TelegramServiceHealthy"], false);
    // Still decidable over REST.
    let (status, a) = f
        .app
        .post_json(
            &format!("/api/approvals/{}/approve", ids[0]),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!((status, a["status"].as_str()), (200, Some("Approved")));
    // Telegram comes back; after the open period a call goes through and closes it.
    f.tg.set_faults(Faults::default());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = f
            .app
            .post_json("/api/approvals/test", &json!({"toolName": "T"}))
            .await;
        if body["notification"] == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "the circuit never closed again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        f.app.get_json("/api/diagnostics/circuit-breaker").await.1["State"],
        "Closed"
    );
    f.app.shutdown().await;
}

async fn a_live_prompt_waits_for_a_human_and_runs_once_when_approved(backend: Backend) {
    let f = fixture(
        backend,
        &[("ORCHESTRA__CLAUDE__INACTIVITY_TIMEOUT_SECS", "1")],
    )
    .await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"echo hi"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    f.tg.wait_for(Duration::from_secs(5), "the approval message", |t| {
        message_for(t, &id).is_some()
    })
    .await;
    let (_, a) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(
        (a["toolName"].as_str(), a["kind"].as_str()),
        (Some("Bash"), Some("Live"))
    );
    assert_eq!(a["toolInput"], json!({"command": "echo hi"}));
    assert!(
        tool_log(f.home.path(), &session).is_empty(),
        "nothing runs without approval"
    );
    let (_, s) = f.app.get_json(&format!("/api/sessions/{session}")).await;
    assert_eq!(s["process"]["pendingApprovals"][0], id.as_str());
    // Waiting on a human does not count as silence: the watchdog (1 s) leaves it alone.
    let checks = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("agent_health_checks_total"))
            .and_then(|l| l.split(' ').nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let start = checks(&metrics(&f.app).await);
    let deadline = Instant::now() + Duration::from_secs(10);
    while checks(&metrics(&f.app).await) < start + 3 {
        assert!(Instant::now() < deadline, "the health check did not run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        f.app.get_json(&format!("/api/sessions/{session}")).await.1["status"],
        "Active"
    );
    let msg = message_for(&f.tg, &id).unwrap();
    f.tg.press(&format!("a:{id}"), ALICE, "alice", CHAT, msg);
    let done = turn_result(&f.app, &session, &turn).await;
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(done["result"], r#"tool ran: {"command":"echo hi"}"#);
    assert_eq!(
        tool_log(f.home.path(), &session),
        vec![r#"ran Bash {"command":"echo hi"}"#]
    );
    f.app.shutdown().await;
}

async fn a_denied_prompt_tells_the_agent_why_and_edited_input_is_used(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"rm -rf build"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    f.app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": false, "reason": "too risky"}),
        )
        .await;
    let done = turn_result(&f.app, &session, &turn).await;
    assert_eq!(
        done["result"],
        "denied: A human denied this tool call (key:bootstrap-admin). Reason: too risky",
        "{done}"
    );
    assert!(tool_log(f.home.path(), &session).is_empty());

    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"echo original"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    let (status, a) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true, "updatedInput": {"command": "echo modified"}}),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["updatedInput"], json!({"command": "echo modified"}));
    let done = turn_result(&f.app, &session, &turn).await;
    assert_eq!(done["result"], r#"tool ran: {"command":"echo modified"}"#);
    assert_eq!(
        tool_log(f.home.path(), &session),
        vec![r#"ran Bash {"command":"echo modified"}"#]
    );
    f.app.shutdown().await;
}

async fn allow_for_session_lets_the_tool_run_without_asking_again(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let (session, turn, id) = asked_npm_test(&f).await;
    let (_, asked) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(
        asked["sessionRule"], "Bash(npm test:*)",
        "the CLI's suggestion, not the bare tool: {asked}"
    );
    f.tg.wait_for(Duration::from_secs(5), "the approval message", |t| {
        message_for(t, &id).is_some()
    })
    .await;
    let message =
        f.tg.sent()
            .into_iter()
            .find(|m| m.text.contains(&id))
            .unwrap();
    assert!(
        message.body["reply_markup"]
            .to_string()
            .contains("Allow Bash(npm test:*) for this session"),
        "the button names the rule: {}",
        message.body["reply_markup"]
    );
    f.tg.press(&format!("s:{id}"), ALICE, "alice", CHAT, message.message_id);
    assert_eq!(
        turn_result(&f.app, &session, &turn).await["status"],
        "Completed"
    );
    // Covered by the rule: runs without asking.
    let (_, t2) = f
        .app
        .turn(&session, r#"ASK Bash {"command":"npm test -- -u"}"#)
        .await;
    assert_eq!(
        t2["result"], r#"tool ran: {"command":"npm test -- -u"}"#,
        "{t2}"
    );
    let (_, all) = f
        .app
        .get_json(&format!("/api/approvals?sessionId={session}"))
        .await;
    assert_eq!(all["total"], 1, "no second approval was asked");
    // Not covered (another command, or the rule's command chained with one): asked again.
    for other in [
        r#"{"command":"rm -rf build"}"#,
        r#"{"command":"npm test; rm -rf ~"}"#,
    ] {
        let (_, turn) = f.app.send(&session, &format!("ASK Bash {other}")).await;
        let id = wait_for_pending(&f.app, &session).await;
        let (status, _) = f
            .app
            .post_json(
                &format!("/api/approvals/{id}/approve"),
                &json!({"approved": false, "reason": "not covered"}),
            )
            .await;
        assert_eq!(status, 200);
        let done = turn_result(&f.app, &session, &turn).await;
        assert!(
            done["result"].as_str().unwrap().starts_with("denied:"),
            "{done}"
        );
    }
    assert_eq!(
        tool_log(f.home.path(), &session),
        vec![
            r#"ran Bash {"command":"npm test"}"#,
            r#"ran Bash {"command":"npm test -- -u"}"#
        ]
    );
    // A stored grant, Orchestra's to enforce: not handed to the CLI as an allowed tool.
    let (_, s) = f.app.get_json(&format!("/api/sessions/{session}")).await;
    assert_eq!(s["allowedTools"], json!([]), "{s}");
    let (_, grants) = f
        .app
        .get_json(&format!("/api/sessions/{session}/grants"))
        .await;
    assert_eq!(grants["items"][0]["rule"], "Bash(npm test:*)", "{grants}");
    assert_eq!(grants["items"][0]["state"], "active", "{grants}");
    f.app.shutdown().await;
}

async fn allow_for_session_is_refused_for_a_call_with_no_rule(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f
        .app
        .send(
            &session,
            r#"ASK Write {"file_path":"/tmp/x","content":"hi"}"#,
        )
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    let (_, asked) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(asked["sessionRule"], Value::Null, "{asked}");
    f.tg.wait_for(Duration::from_secs(5), "the approval message", |t| {
        message_for(t, &id).is_some()
    })
    .await;
    let message =
        f.tg.sent()
            .into_iter()
            .find(|m| m.text.contains(&id))
            .unwrap();
    assert!(
        !message.body["reply_markup"]
            .to_string()
            .contains("for this session"),
        "no session button without a rule: {}",
        message.body["reply_markup"]
    );
    let (status, body) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true, "scope": "session"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "validation_failed", "{body}");
    assert_eq!(
        f.app.get_json(&format!("/api/approvals/{id}")).await.1["status"],
        "Pending",
        "the refused decision changed nothing"
    );
    let (status, _) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        turn_result(&f.app, &session, &turn).await["status"],
        "Completed"
    );
    f.app.shutdown().await;
}

async fn an_expired_prompt_is_denied_warned_about_and_never_asked_again(backend: Backend) {
    let f = fixture(
        backend,
        &[
            ("ORCHESTRA__APPROVALS__DEFAULT_TIMEOUT_SECS", "2"),
            ("ORCHESTRA__APPROVALS__SWEEP_INTERVAL_SECS", "1"),
            ("ORCHESTRA__APPROVALS__WARN_BEFORE_SECS", "60"),
        ],
    )
    .await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let prompt = r#"ASK Bash {"command":"deploy"}"#;
    let (_, turn) = f.app.send(&session, prompt).await;
    let id = wait_for_pending(&f.app, &session).await;
    let done = turn_result(&f.app, &session, &turn).await;
    assert_eq!(
        done["result"], "denied: Nobody approved this tool call in time; it was not run.",
        "{done}"
    );
    assert_eq!(
        f.app.get_json(&format!("/api/approvals/{id}")).await.1["status"],
        "Expired"
    );
    f.tg.wait_for(
        Duration::from_secs(5),
        "the warning and the expiry edit",
        |t| {
            t.sent()
                .iter()
                .any(|m| m.text.contains("expires in") && m.text.contains(&id))
                && t.edits()
                    .iter()
                    .any(|e| e["text"].as_str().unwrap().contains("Expired"))
        },
    )
    .await;
    let m = metrics(&f.app).await;
    assert!(m.contains("escalation_approvals_timeout_total 1"));
    // The same call again: denied at once, no new approval.
    let (_, again) = f.app.turn(&session, prompt).await;
    assert!(
        again["result"]
            .as_str()
            .unwrap()
            .contains("will not be asked again"),
        "{again}"
    );
    assert_eq!(
        f.app
            .get_json(&format!("/api/approvals?sessionId={session}"))
            .await
            .1["total"],
        1
    );
    f.app.shutdown().await;
}

async fn a_prompt_nobody_answers_parks_the_session_which_continues_once_approved(backend: Backend) {
    let f = fixture(backend, &[("ORCHESTRA__APPROVALS__PARK_AFTER_SECS", "1")]).await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"make release"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    let parked = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{session}"),
            Duration::from_secs(10),
            |s| s["status"] == "Paused",
        )
        .await;
    assert!(
        parked["lastError"]
            .as_str()
            .unwrap()
            .contains(&format!("waiting for a human to decide approval {id}")),
        "{parked}"
    );
    assert!(
        parked["process"].is_null(),
        "the parked agent holds no process"
    );
    let t = turn_result(&f.app, &session, &turn).await;
    assert_eq!(t["status"], "Interrupted");
    assert_eq!(
        f.app.get_json(&format!("/api/approvals/{id}")).await.1["status"],
        "Pending",
        "still decidable"
    );
    assert!(tool_log(f.home.path(), &session).is_empty());

    f.tg.wait_for(Duration::from_secs(5), "the approval message", |t| {
        message_for(t, &id).is_some()
    })
    .await;
    f.tg.press(
        &format!("a:{id}"),
        ALICE,
        "alice",
        CHAT,
        message_for(&f.tg, &id).unwrap(),
    );
    let turns = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{session}/turns"),
            Duration::from_secs(15),
            |t| t["total"] == 2 && t["items"][0]["status"] == "Completed",
        )
        .await;
    assert_eq!(
        turns["items"][0]["result"],
        r#"tool ran: {"command":"make release"}"#
    );
    assert!(
        turns["items"][0]["prompt"]
            .as_str()
            .unwrap()
            .starts_with("[orchestra] A human (telegram:42 (@alice)) approved")
    );
    assert_eq!(
        tool_log(f.home.path(), &session).len(),
        1,
        "the tool ran exactly once"
    );
    assert_eq!(
        f.app.get_json(&format!("/api/sessions/{session}")).await.1["status"],
        "Active"
    );
    assert!(
        metrics(&f.app)
            .await
            .contains("agent_sessions_parked_total 1")
    );
    f.app.shutdown().await;
}

async fn a_denial_by_the_cli_becomes_an_approval_that_resumes_the_session(backend: Backend) {
    let f = fixture(
        backend,
        &[("ORCHESTRA__CLAUDE__LIVE_PERMISSION_PROMPTS", "false")],
    )
    .await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, t) = f
        .app
        .turn(&session, r#"SILENT_DENY Bash {"command":"echo hi"}"#)
        .await;
    assert_eq!(
        (t["status"].as_str(), t["permissionDenials"].as_i64()),
        (Some("Completed"), Some(1)),
        "{t}"
    );
    let id = wait_for_pending(&f.app, &session).await;
    let (_, a) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(
        (a["kind"].as_str(), a["toolName"].as_str()),
        (Some("Denial"), Some("Bash"))
    );
    f.app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true}),
        )
        .await;
    let turns = f
        .app
        .wait_for_json(
            &format!("/api/sessions/{session}/turns"),
            Duration::from_secs(15),
            |t| t["total"] == 2 && t["items"][0]["status"] == "Completed",
        )
        .await;
    assert_eq!(
        turns["items"][0]["result"],
        r#"tool ran: {"command":"echo hi"}"#
    );
    assert_eq!(tool_log(f.home.path(), &session).len(), 1);
    f.app.shutdown().await;
}

async fn a_success_with_a_tool_use_that_got_no_result_is_flagged(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, t) = f.app.turn(&session, "TOOL_NO_RESULT").await;
    assert_eq!(t["status"], "Completed");
    assert!(
        t["errors"][0].as_str().unwrap().contains("got no result"),
        "{t}"
    );
    assert!(
        metrics(&f.app)
            .await
            .contains("agent_turns_flagged_total 1")
    );
    f.app.shutdown().await;
}

async fn webhook_mode_registers_and_checks_the_secret(backend: Backend) {
    let f = fixture(
        backend,
        &[
            ("ORCHESTRA__TELEGRAM__MODE", "webhook"),
            (
                "ORCHESTRA__TELEGRAM__WEBHOOK_URL",
                "https://orchestra.example/api/telegram/webhook",
            ),
            ("ORCHESTRA__TELEGRAM__WEBHOOK_SECRET", "s3cret-token"),
        ],
    )
    .await;
    let calls = f.tg.webhook_calls();
    assert_eq!(calls[0]["method"], "setWebhook");
    assert_eq!(calls[0]["params"]["secret_token"], "s3cret-token");
    let id = f.app.create_test_approval().await;
    let update = FakeTelegram::update_json(&format!("a:{id}"), 5000, ALICE, CHAT, 1);
    let res = f
        .app
        .client
        .post(f.app.url("/api/telegram/webhook"))
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = f
        .app
        .client
        .post(f.app.url("/api/telegram/webhook"))
        .header("X-Telegram-Bot-Api-Secret-Token", "wrong")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(
        f.app.get_json(&format!("/api/approvals/{id}")).await.1["status"],
        "Pending"
    );
    let res = f
        .app
        .client
        .post(f.app.url("/api/telegram/webhook"))
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-token")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        f.app.get_json(&format!("/api/approvals/{id}")).await.1["status"],
        "Approved"
    );
    assert!(
        f.tg.calls().iter().all(|c| c != "getUpdates"),
        "no polling in webhook mode"
    );
    f.app.shutdown().await;
}

async fn telegram_down_or_slow_never_fails_a_turn(backend: Backend) {
    let f = fixture(backend, &[]).await;
    f.tg.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"echo down"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    f.app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true, "reason": "Telegram is down"}),
        )
        .await;
    let done = turn_result(&f.app, &session, &turn).await;
    assert_eq!(done["status"], "Completed", "{done}");
    // Slow Telegram: messages still arrive, and presses still decide.
    f.tg.set_faults(Faults {
        latency: Duration::from_millis(400),
        ..Faults::default()
    });
    let (status, body) = f
        .app
        .post_json("/api/approvals/test", &json!({"toolName": "T"}))
        .await;
    assert_eq!(
        (status, body["notification"].as_str()),
        (201, Some("delivered")),
        "{body}"
    );
    let a = body["approval"]["id"].as_str().unwrap().to_owned();
    f.tg.press(
        &format!("d:{a}"),
        ALICE,
        "alice",
        CHAT,
        message_for(&f.tg, &a).unwrap(),
    );
    let decided = f
        .app
        .wait_for_json(
            &format!("/api/approvals/{a}"),
            Duration::from_secs(10),
            |x| x["status"] != "Pending",
        )
        .await;
    assert_eq!(decided["status"], "Rejected");
    f.app.shutdown().await;
}

async fn the_update_offset_survives_a_restart(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let id = f.app.create_test_approval().await;
    let msg = message_for(&f.tg, &id).unwrap();
    let update = f.tg.press(&format!("a:{id}"), ALICE, "alice", CHAT, msg);
    f.tg.wait_for(Duration::from_secs(5), "the answer", |t| {
        !t.answers().is_empty()
    })
    .await;
    let store = f.app.shutdown_keep_store().await;
    let polls_before = f.tg.get_updates_calls().len();
    // A new Orchestra on the same database starts polling after the handled update.
    let options = TestAppOptions::default()
        .fake_cli(f.home.path())
        .with("DB_CONNECTION_STRING", store.connection_string())
        .with("TelegramEscalation__Enabled", "true")
        .with("TelegramEscalation__BotToken", f.tg.token.clone())
        .with("TelegramEscalation__ChatId", CHAT.to_string())
        .with("ORCHESTRA__TELEGRAM__API_BASE_URL", f.tg.base_url.clone())
        .with("ORCHESTRA__TELEGRAM__POLL_TIMEOUT_SECS", "1");
    let app = TestApp::spawn_with(backend, options).await;
    f.tg.wait_for(Duration::from_secs(5), "a poll from the new process", |t| {
        t.get_updates_calls().len() > polls_before
    })
    .await;
    let first = &f.tg.get_updates_calls()[polls_before];
    assert_eq!(first["offset"].as_i64(), Some(update + 1), "{first}");
    app.shutdown().await;
    drop(store);
}

/// The outbox: an approval whose message failed (Telegram down) shows it, is counted, and
/// is delivered by a later pass once Telegram is back; its outcome, decided while Telegram
/// was down again, reaches the chat the same way.
async fn an_undelivered_approval_is_retried_until_the_chat_has_it_and_its_outcome(
    backend: Backend,
) {
    let f = fixture(backend, &[]).await;
    f.tg.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let (status, body) = f
        .app
        .post_json("/api/approvals/test", &json!({"toolName": "Bash"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["approval"]["id"].as_str().unwrap().to_owned();
    let a = f
        .app
        .wait_for_json(
            &format!("/api/approvals/{id}"),
            Duration::from_secs(10),
            |a| a["notifyAttempts"].as_i64().unwrap_or(0) >= 1,
        )
        .await;
    assert_eq!(a["notification"], "pending", "{a}");
    assert!(
        a["lastNotifyError"].as_str().is_some_and(|e| !e.is_empty()),
        "{a}"
    );
    assert!(
        metrics(&f.app)
            .await
            .lines()
            .any(|l| l.starts_with("escalation_notifications_failed_total{")
                && l.contains(r#"message="request""#)),
        "counted"
    );
    let (_, dm) = f.app.get_json("/api/diagnostics/metrics").await;
    assert_eq!(dm["NotificationsPending"], 1, "{dm}");
    f.tg.set_faults(Faults::default());
    let a = f
        .app
        .wait_for_json(
            &format!("/api/approvals/{id}"),
            Duration::from_secs(30),
            |a| a["notification"] == "sent",
        )
        .await;
    assert_eq!(a["lastNotifyError"], Value::Null, "{a}");
    assert_eq!(
        f.tg.sent().iter().filter(|m| m.text.contains(&id)).count(),
        1,
        "delivered once"
    );

    // Decided while Telegram is down: the edit is retried too.
    f.tg.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let (status, _) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": false}),
        )
        .await;
    assert_eq!(status, 200);
    f.app
        .wait_for_json(
            &format!("/api/approvals/{id}"),
            Duration::from_secs(10),
            |a| a["notifyAttempts"].as_i64().unwrap_or(0) >= 1 && a["notification"] == "pending",
        )
        .await;
    f.tg.set_faults(Faults::default());
    f.app
        .wait_for_json(
            &format!("/api/approvals/{id}"),
            Duration::from_secs(30),
            |a| a["notification"] == "sent",
        )
        .await;
    assert!(
        f.tg.edits()
            .iter()
            .any(|e| e["text"].as_str().unwrap().contains("Denied")),
        "{:?}",
        f.tg.edits()
    );
    f.app.shutdown().await;
}

/// Decided before Telegram ever had the request: one message with the outcome, no buttons.
async fn an_approval_decided_before_delivery_is_still_shown_with_its_outcome(backend: Backend) {
    let f = fixture(backend, &[]).await;
    f.tg.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let (_, body) = f
        .app
        .post_json("/api/approvals/test", &json!({"toolName": "Bash"}))
        .await;
    let id = body["approval"]["id"].as_str().unwrap().to_owned();
    let (status, _) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 200);
    f.tg.set_faults(Faults::default());
    f.app
        .wait_for_json(
            &format!("/api/approvals/{id}"),
            Duration::from_secs(30),
            |a| a["notification"] == "sent",
        )
        .await;
    let shown: Vec<_> =
        f.tg.sent()
            .into_iter()
            .filter(|m| m.text.contains(&id))
            .collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0].text.contains("Approved"), "{}", shown[0].text);
    assert!(
        shown[0].body["reply_markup"].is_null(),
        "no buttons on a decided approval"
    );
    f.app.shutdown().await;
}

/// The case from the field: an agent writing a JSX file (`<`, `"`, `&`, thousands of
/// characters) gets a message Telegram accepts; and when Telegram refuses the HTML anyway,
/// the same text goes as plain text, never nothing.
async fn markup_in_tool_input_reaches_the_chat_and_a_refused_message_falls_back_to_plain_text(
    backend: Backend,
) {
    let f = fixture(backend, &[]).await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let jsx =
        "export const A = () => <div className=\"a&b\">{x < 3 && \"<b>\"}</div>;\n".repeat(80);
    let input = json!({"file_path": "/srv/work/a.jsx", "content": jsx});
    let (_, turn) = f.app.send(&session, &format!("ASK Write {input}")).await;
    let id = wait_for_pending(&f.app, &session).await;
    f.tg.wait_for(Duration::from_secs(5), "the approval message", |t| {
        message_for(t, &id).is_some()
    })
    .await;
    let sent =
        f.tg.sent()
            .into_iter()
            .find(|m| m.text.contains(&id))
            .unwrap();
    assert_eq!(sent.body["parse_mode"], "HTML");
    assert!(f.tg.refused().is_empty(), "{:?}", f.tg.refused());
    f.app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": false}),
        )
        .await;
    turn_result(&f.app, &session, &turn).await;

    f.tg.set_faults(Faults {
        refuse_html: true,
        ..Faults::default()
    });
    let id = f.app.create_test_approval().await;
    f.tg.wait_for(Duration::from_secs(5), "the plain-text message", |t| {
        t.sent()
            .iter()
            .any(|m| m.text.contains(&id) && m.body["parse_mode"].is_null())
    })
    .await;
    assert_eq!(f.tg.refused().len(), 1, "one HTML attempt was refused");
    let m = metrics(&f.app).await;
    assert!(
        m.lines()
            .any(|l| l.starts_with("telegram_plain_text_fallbacks_total{")
                && l.contains(r#"message="request""#)
                && l.ends_with(" 1")),
        "{m}"
    );
    f.app.shutdown().await;
}

/// A session granted `npm test:*` by a human, with `npm test` as the first call.
async fn session_with_a_granted_rule(f: &Fixture, extra: Value) -> String {
    let session = f.app.create_session(f.work.path(), extra).await;
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"npm test"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    let (status, _) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true, "scope": "session"}),
        )
        .await;
    assert_eq!(status, 200);
    turn_result(&f.app, &session, &turn).await;
    let (status, body) = f
        .app
        .post_json(&format!("/api/sessions/{session}/pause"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    session
}

async fn resume_rechecks_the_policy_but_keeps_what_a_human_granted(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let granted_only = session_with_a_granted_rule(&f, json!({})).await;
    let with_read = session_with_a_granted_rule(&f, json!({"allowedTools": ["Read"]})).await;
    let store = f.app.shutdown_keep_store().await;
    // The operator narrows the policy: clients may no longer pre-allow Read.
    let options = TestAppOptions::default()
        .fake_cli(f.home.path())
        .with("DB_CONNECTION_STRING", store.connection_string())
        .with("ORCHESTRA__POLICY__CLIENT_ALLOWED_TOOLS", "Glob,Grep");
    let app = TestApp::spawn_with(backend, options).await;
    let (status, body) = app
        .post_json(&format!("/api/sessions/{with_read}/resume"), &json!({}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "allowedTools", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("`Read`"),
        "{body}"
    );
    assert_eq!(
        store.session_status(&with_read).await,
        "Paused",
        "unchanged"
    );
    // What a human granted is not the client's to lose.
    let (status, body) = app
        .post_json(&format!("/api/sessions/{granted_only}/resume"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowedTools"], json!([]));
    let (_, grants) = app
        .get_json(&format!("/api/sessions/{granted_only}/grants"))
        .await;
    assert_eq!(grants["items"][0]["rule"], "Bash(npm test:*)", "{grants}");
    app.shutdown().await;
    drop(store);
}

async fn lists_show_a_preview_of_a_large_input_and_the_approval_all_of_it(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let command = format!("echo {}", "<b>&\"x".repeat(2_000));
    let input = json!({ "command": command });
    let _ = f.app.send(&session, &format!("ASK Bash {input}")).await;
    let id = wait_for_pending(&f.app, &session).await;
    let (_, list) = f
        .app
        .get_json(&format!("/api/approvals?sessionId={session}"))
        .await;
    let item = &list["items"][0];
    assert!(item.get("toolInput").is_none(), "no whole input on a list");
    let preview = item["toolInputPreview"].as_str().unwrap();
    assert_eq!(preview.chars().count(), 301, "{preview}");
    assert!(preview.ends_with('…'));
    assert!(input.to_string().starts_with(preview.trim_end_matches('…')));
    assert_eq!(item["toolInputBytes"], input.to_string().len());
    let (_, full) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(full["toolInput"], input, "the approval has all of it");
    f.app.shutdown().await;
}

both_backends!(
    lists_show_a_preview_of_a_large_input_and_the_approval_all_of_it,
    an_undelivered_approval_is_retried_until_the_chat_has_it_and_its_outcome,
    an_approval_decided_before_delivery_is_still_shown_with_its_outcome,
    markup_in_tool_input_reaches_the_chat_and_a_refused_message_falls_back_to_plain_text,
    resume_rechecks_the_policy_but_keeps_what_a_human_granted,
    telegram_down_or_slow_never_fails_a_turn,
    the_update_offset_survives_a_restart,
    the_smoke_test_approval_goes_to_telegram_and_is_cancelled_there,
    a_button_press_decides_once_and_every_press_is_answered,
    a_telegram_viewer_sees_approvals_but_only_approvers_decide,
    a_manual_rest_decision_updates_the_telegram_message,
    telegram_429s_are_retried_after_retry_after,
    a_5xx_storm_opens_the_circuit_and_approvals_stay_decidable,
    a_live_prompt_waits_for_a_human_and_runs_once_when_approved,
    a_denied_prompt_tells_the_agent_why_and_edited_input_is_used,
    allow_for_session_lets_the_tool_run_without_asking_again,
    allow_for_session_is_refused_for_a_call_with_no_rule,
    an_expired_prompt_is_denied_warned_about_and_never_asked_again,
    a_prompt_nobody_answers_parks_the_session_which_continues_once_approved,
    a_denial_by_the_cli_becomes_an_approval_that_resumes_the_session,
    a_success_with_a_tool_use_that_got_no_result_is_flagged,
    webhook_mode_registers_and_checks_the_secret,
);
