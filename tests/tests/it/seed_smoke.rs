//! The deployment guide's smoke and validation commands, verbatim (curl + jq), against the
//! real `orchestra` binary started the way the README says: in a fresh directory, with no
//! configuration (Development, SQLite `orchestra.db`, port 5284); then again on PostgreSQL
//! with the guide's production variable names.

use orchestra_tests::binary::{ServerProcess, sh};
use orchestra_tests::fake_telegram::FakeTelegram;
use orchestra_tests::pg::TestDatabase;

async fn run_seed_commands(server: &ServerProcess) {
    // 5.1 Health check
    let (code, _) = sh("curl -f http://localhost:5284/health").await;
    assert_eq!(code, 0, "5.1");

    // 5.2 Metrics endpoint
    let (_, out) = sh("curl -f http://localhost:5284/metrics | head -20").await;
    assert_eq!(out.lines().count(), 20, "5.2");
    assert!(out.contains("# TYPE"), "5.2: {out}");

    // 5.3 API documentation
    let (_, out) = sh("curl -f http://localhost:5284/swagger/index.html | head -5").await;
    assert!(out.to_ascii_lowercase().contains("<html"), "5.3: {out}");

    // 5.4 Database connectivity
    let (code, out) = sh("curl -f http://localhost:5284/api/diagnostics/database").await;
    assert_eq!(code, 0, "5.4");
    let db: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(db["Status"], "Connected", "5.4: {out}");

    // 5.5 Create test approval request
    let create = r#"curl -X POST http://localhost:5284/api/approvals/test \
  -H "Content-Type: application/json" \
  -d '{"toolName": "TestTool", "sessionId": "test-session"}'"#;
    let (code, out) = sh(create).await;
    assert_eq!(code, 0, "5.5");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["approval"]["status"], "Pending", "5.5: {out}");
    let (_, status) = sh(&format!("{create} -o /dev/null -w '%{{http_code}}'")).await;
    assert_eq!(status, "201", "5.5 answers 201 Created");

    // 7.3 Check queue processing (two test approvals pending now)
    let (_, out) = sh("curl http://localhost:5284/api/diagnostics/metrics | jq '.QueueSize'").await;
    assert_eq!(out.trim(), "2", "7.3");

    // 5.7 Cancel test approval
    let (code, out) = sh("curl -X DELETE http://localhost:5284/api/approvals/test").await;
    assert_eq!(code, 0, "5.7");
    assert!(out.contains("\"cancelled\":2"), "5.7: {out}");
    let (_, status) = sh(
        "curl -X DELETE http://localhost:5284/api/approvals/test -o /dev/null -w '%{http_code}'",
    )
    .await;
    assert_eq!(status, "200", "5.7 answers 200 OK");

    // 6.3 Verify metrics collection
    let (_, out) = sh("curl http://localhost:5284/metrics | grep escalation").await;
    assert!(out.contains("escalation_queue_size"), "6.3");

    // 6.4 / 7.4 Circuit breaker
    let (_, out) =
        sh("curl http://localhost:5284/api/diagnostics/circuit-breaker | jq '.State'").await;
    assert_eq!(out.trim(), "\"Closed\"", "7.4");

    // 7.1 Check metrics flow
    let (_, out) = sh(r##"curl http://localhost:5284/metrics | grep -c "#""##).await;
    let n: usize = out.trim().parse().unwrap();
    assert!(n > 50, "7.1: {n} lines with #");

    // 7.3 again: back to empty
    let (_, out) = sh("curl http://localhost:5284/api/diagnostics/metrics | jq '.QueueSize'").await;
    assert_eq!(out.trim(), "0", "7.3");

    // 7.5 Check database connections
    let (_, active) =
        sh("curl http://localhost:5284/api/diagnostics/database | jq '.ConnectionsActive'").await;
    let (_, max) =
        sh("curl http://localhost:5284/api/diagnostics/database | jq '.MaxPoolSize'").await;
    assert!(
        active.trim().parse::<u32>().unwrap() < max.trim().parse::<u32>().unwrap(),
        "7.5"
    );

    // 6.5 Check background services
    let log = server.log_text();
    let (_, out) = sh(&format!(
        "grep -E \"ApprovalTimeout|AgentDiscovery|HealthCheck\" {} | tail -5",
        server.log.display()
    ))
    .await;
    assert!(out.contains("ApprovalTimeoutService started"), "6.5: {log}");
    assert!(
        out.contains("Agent discovery started") && out.contains("AgentDiscovery"),
        "6.5: {out}"
    );
    assert!(
        out.contains("Health check service started") && out.contains("HealthCheck"),
        "6.5: {out}"
    );
}

fn assert_port_free() {
    assert!(
        std::net::TcpListener::bind("0.0.0.0:5284").is_ok(),
        "port 5284 is taken: the deployment guide's commands need it; stop whatever listens there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_commands_work_on_a_fresh_directory_with_sqlite_and_then_on_postgresql() {
    assert_port_free();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), 5284, &[]).await;
    run_seed_commands(&server).await;
    assert!(
        dir.path().join("orchestra.db").is_file(),
        "Development uses ./orchestra.db"
    );
    let code = server.terminate().await;
    assert_eq!(code, Some(0), "SIGTERM is a clean shutdown");

    // PostgreSQL with the guide's production-style names (Telegram off for this smoke).
    let db = tokio::task::spawn_blocking(TestDatabase::empty)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cs = db.ado_connection_string();
    let server = ServerProcess::start(
        dir.path(),
        5284,
        &[
            ("ASPNETCORE_ENVIRONMENT", "Staging"),
            ("ConnectionStrings__DefaultConnection", &cs),
            ("TelegramEscalation__Enabled", "false"),
            ("ORCHESTRA__DATABASE__AUTO_MIGRATE", "true"),
            (
                "ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES",
                "/srv/work",
            ),
        ],
    )
    .await;
    run_seed_commands(&server).await;
    let (_, out) =
        sh("curl -s http://localhost:5284/api/diagnostics/database | jq -r '.Backend'").await;
    assert_eq!(out.trim(), "postgresql");
    assert!(
        !server.log_text().contains("Password=unused"),
        "the connection string must not be logged"
    );
    assert_eq!(server.terminate().await, Some(0));
}

/// Steps 5.5 -> 5.7 and the runbook's manual approval with Telegram enabled (against the
/// fake Bot API): the test approval is a real Telegram message, cancelled and decided there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_telegram_steps_work_with_telegram_enabled() {
    assert_port_free();
    let tg = FakeTelegram::start("777:guide-token").await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        dir.path(),
        5284,
        &[
            ("TelegramEscalation__Enabled", "true"),
            ("TelegramEscalation__BotToken", "777:guide-token"),
            ("TelegramEscalation__ChatId", "-100777"),
            ("ORCHESTRA__TELEGRAM__API_BASE_URL", &tg.base_url),
            ("ORCHESTRA__TELEGRAM__POLL_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    // 5.5: 201 Created and a test message sent to Telegram.
    let (_, out) = sh(r#"curl -X POST http://localhost:5284/api/approvals/test \
  -H "Content-Type: application/json" \
  -d '{"toolName": "TestTool", "sessionId": "test-session"}' -w '\n%{http_code}'"#)
    .await;
    let (body, code) = out.trim().rsplit_once('\n').unwrap();
    assert_eq!(code, "201");
    let created: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(created["notification"], "delivered");
    let sent = tg.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].text.contains("TestTool") && sent[0].chat_id == -100_777);
    // 5.7: cancelled, and the Telegram message says so.
    let (_, status) = sh(
        "curl -X DELETE http://localhost:5284/api/approvals/test -o /dev/null -w '%{http_code}'",
    )
    .await;
    assert_eq!(status, "200");
    tg.wait_for(
        std::time::Duration::from_secs(5),
        "the cancellation edit",
        |t| {
            t.edits()
                .iter()
                .any(|e| e["text"].as_str().unwrap_or_default().contains("Cancelled"))
        },
    )
    .await;
    // The runbook's manual approval.
    let (_, out) = sh(r#"curl -s -X POST http://localhost:5284/api/approvals/test -H "Content-Type: application/json" -d '{"toolName": "TestTool"}' | jq -r '.approval.id'"#).await;
    let id = out.trim().to_owned();
    let (_, out) = sh(&format!(
        r#"curl -s -X POST http://localhost:5284/api/approvals/{id}/approve -H 'Content-Type: application/json' -d '{{"approved": true, "reason": "ok"}}' | jq -r '.status'"#
    ))
    .await;
    assert_eq!(out.trim(), "Approved");
    tg.wait_for(
        std::time::Duration::from_secs(5),
        "the decision edit",
        |t| {
            t.edits().iter().any(|e| {
                e["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Approved</b> by key:bootstrap-admin")
            })
        },
    )
    .await;
    let (_, state) =
        sh("curl http://localhost:5284/api/diagnostics/circuit-breaker | jq '.State'").await;
    assert_eq!(state.trim(), "\"Closed\"");
    assert!(
        !server.log_text().contains("guide-token"),
        "the bot token is never logged"
    );
    assert_eq!(server.terminate().await, Some(0));
}
