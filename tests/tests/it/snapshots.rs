//! Snapshots of the API's contract, so that a change to it shows up in review as a diff of
//! `tests/tests/it/snapshots/`: the OpenAPI document served at `/swagger/v1/swagger.json`,
//! and the JSON error body of each error a client can meet, one request each, with its
//! status.
//!
//! Each test starts its own app on SQLite and snapshots one answer, so nothing depends on
//! the order the tests run in. Requests use fixed ids where an id is echoed in a message;
//! ids the server makes up are redacted. To accept a change: run these tests with
//! `INSTA_UPDATE=always`, then review `git diff tests/tests/it/snapshots/`.

use insta::{assert_json_snapshot, dynamic_redaction};
use orchestra_tests::fake_telegram::FakeTelegram;
use orchestra_tests::{Backend, TestApp, TestAppOptions};
use serde_json::{Value, json};

/// An id no row has: echoed in `*_not_found` messages, so it must be the same every run.
const MISSING_ID: &str = "00000000-0000-4000-8000-000000000000";

/// The status and body of one answer, as snapshotted.
fn answer((status, body): (u16, Value)) -> Value {
    json!({"status": status, "body": body})
}

/// Snapshots an error answer, replacing `ids` (made up by the server) inside every string
/// with `[id]`.
fn assert_error_snapshot(name: &str, got: (u16, Value), ids: &[String]) {
    let ids = ids.to_vec();
    assert_json_snapshot!(name, answer(got), {
        ".body.*" => dynamic_redaction(move |value, _path| {
            match value.as_str() {
                Some(s) => ids
                    .iter()
                    .fold(s.to_owned(), |s, id| s.replace(id.as_str(), "[id]"))
                    .into(),
                None => value,
            }
        }),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_snapshot() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, doc) = app.get_json("/swagger/v1/swagger.json").await;
    assert_eq!(status, 200, "{doc}");
    insta::with_settings!({sort_maps => true}, {
        assert_json_snapshot!("openapi", doc, {
            // utoipa fills it from the crate's version: a release is not an API change.
            ".info.version" => "[version]",
        });
    });
    app.shutdown().await;
}

/// Every operation has its own operationId (clients and fuzzers key on them), and every
/// route the server mounts outside `/api` is in the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_operation_ids_are_unique_and_health_routes_are_documented() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, doc) = app.get_json("/swagger/v1/swagger.json").await;
    let mut ids = std::collections::BTreeMap::<String, usize>::new();
    for ops in doc["paths"].as_object().unwrap().values() {
        for op in ops.as_object().unwrap().values() {
            if let Some(id) = op["operationId"].as_str() {
                *ids.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    let doubled: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "{doubled:?}");
    for path in ["/health", "/health/ready", "/health/live", "/metrics"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    app.shutdown().await;
}

// --- Routing ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_route_not_found() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app.get_json("/api/nothing-here").await;
    assert_error_snapshot("error_route_not_found", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_method_not_allowed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app.delete_json("/api/approvals").await;
    assert_error_snapshot("error_method_not_allowed", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_telegram_webhook_when_telegram_is_off() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app
        .post_json("/api/telegram/webhook", &json!({"update_id": 1}))
        .await;
    assert_error_snapshot("error_telegram_webhook_off", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_telegram_webhook_unauthorized() {
    let tg = FakeTelegram::start("123:fake-token").await;
    let options = TestAppOptions::default()
        .with("TelegramEscalation__Enabled", "true")
        .with("TelegramEscalation__BotToken", tg.token.clone())
        .with("TelegramEscalation__ChatId", "42")
        .with("ORCHESTRA__TELEGRAM__API_BASE_URL", tg.base_url.clone())
        .with("ORCHESTRA__TELEGRAM__MODE", "webhook")
        .with(
            "ORCHESTRA__TELEGRAM__WEBHOOK_URL",
            "https://orchestra.example/api/telegram/webhook",
        )
        .with("ORCHESTRA__TELEGRAM__WEBHOOK_SECRET", "s3cret-token");
    let app = TestApp::spawn_with(Backend::Sqlite, options).await;
    let res = app
        .client
        .post(app.url("/api/telegram/webhook"))
        .header("X-Telegram-Bot-Api-Secret-Token", "wrong")
        .json(&json!({"update_id": 1}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    assert_error_snapshot("error_telegram_webhook_unauthorized", (status, body), &[]);
    app.shutdown().await;
}

// --- Bodies, queries and paths ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_invalid_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app
        .post_raw(
            "/api/approvals/test",
            "application/json",
            "{\"toolName\": tru",
        )
        .await;
    assert_error_snapshot("error_invalid_json", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_invalid_body() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app
        .post_json("/api/approvals/test", &json!({"toolName": 42}))
        .await;
    assert_error_snapshot("error_invalid_body", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_invalid_body_unknown_field() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app
        .post_json("/api/approvals/test", &json!({"toolNam": "Bash"}))
        .await;
    assert_error_snapshot("error_invalid_body_unknown_field", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_validation_failed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app
        .post_json("/api/approvals/test", &json!({"toolName": "   "}))
        .await;
    assert_error_snapshot("error_validation_failed", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_unsupported_media_type() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app
        .post_raw(
            "/api/approvals/test",
            "text/plain",
            "{\"toolName\": \"Bash\"}",
        )
        .await;
    // JSON routes require a JSON content type: a web page's "simple" request cannot send one.
    assert_json_snapshot!("error_unsupported_media_type", answer(got));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_payload_too_large() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = format!("{{\"toolName\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let got = app
        .post_raw("/api/approvals/test", "application/json", body)
        .await;
    assert_error_snapshot("error_payload_too_large", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_invalid_query() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app.get_json("/api/approvals?page=-1").await;
    assert_error_snapshot("error_invalid_query", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_query_out_of_range() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app.get_json("/api/approvals?pageSize=5000").await;
    assert_error_snapshot("error_query_page_size_out_of_range", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_bad_uuid_in_path() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app.get_json("/api/approvals/not-a-uuid").await;
    assert_error_snapshot("error_bad_uuid_in_path", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_invalid_path() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // A path segment that is not UTF-8 once percent-decoded. Every path parameter is a
    // `String` that the handler parses, and the router decodes lossily, so this reaches the
    // handler: a `validation_failed` naming the field, not the documented `invalid_path`.
    let got = app.get_json("/api/sessions/%FF%FE").await;
    assert_error_snapshot("error_invalid_path_not_utf8", got, &[]);
    app.shutdown().await;
}

// --- Approvals ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_approval_not_found() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app.get_json(&format!("/api/approvals/{MISSING_ID}")).await;
    assert_error_snapshot("error_approval_not_found", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_approval_already_decided() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let id = app.create_test_approval().await;
    let decide = format!("/api/approvals/{id}/approve");
    let (status, first) = app.post_json(&decide, &json!({"approved": true})).await;
    assert_eq!(status, 200, "{first}");
    let got = app.post_json(&decide, &json!({"approved": false})).await;
    assert_error_snapshot("error_approval_already_decided", got, &[id]);
    app.shutdown().await;
}

// --- Sessions (with the fake CLI, told to fail at start: no agent ever runs) ---

struct FailingCli {
    app: TestApp,
    work: tempfile::TempDir,
    _home: tempfile::TempDir,
}

async fn failing_cli() -> FailingCli {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let options = TestAppOptions::default()
        .fake_cli(home.path())
        .with("ORCHESTRA__CLAUDE__ENV__FAKE_CLAUDE_EXIT_AT_START", "7");
    let app = TestApp::spawn_with(Backend::Sqlite, options).await;
    FailingCli {
        app,
        work,
        _home: home,
    }
}

impl FailingCli {
    /// Creates a session whose CLI fails at start (it is kept as Failed); returns its id.
    async fn failed_session(&self) -> String {
        let (status, body) = self
            .app
            .post_json(
                "/api/sessions",
                &json!({"workingDirectory": self.work.path()}),
            )
            .await;
        assert_eq!(status, 502, "{body}");
        let (_, listed) = self.app.get_json("/api/sessions?status=Failed").await;
        listed["items"][0]["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_session_working_directory_relative() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app
        .post_json(
            "/api/sessions",
            &json!({"workingDirectory": "relative/dir"}),
        )
        .await;
    assert_error_snapshot("error_session_working_directory_relative", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_session_working_directory_missing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app
        .post_json(
            "/api/sessions",
            &json!({"workingDirectory": "/no/such/dir"}),
        )
        .await;
    assert_error_snapshot("error_session_working_directory_missing", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_session_not_found() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let got = app.get_json(&format!("/api/sessions/{MISSING_ID}")).await;
    assert_error_snapshot("error_session_not_found", got, &[]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_agent_start_failed() {
    let f = failing_cli().await;
    let got = f
        .app
        .post_json("/api/sessions", &json!({"workingDirectory": f.work.path()}))
        .await;
    // The body says what failed, not how (the CLI's stderr and path are in the log only).
    assert_json_snapshot!("error_agent_start_failed", answer(got));
    f.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_turn_not_found() {
    let f = failing_cli().await;
    let id = f.failed_session().await;
    let got = f
        .app
        .get_json(&format!("/api/sessions/{id}/turns/{MISSING_ID}"))
        .await;
    assert_error_snapshot("error_turn_not_found", got, &[id]);
    f.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_message_to_a_failed_session() {
    let f = failing_cli().await;
    let id = f.failed_session().await;
    let got = f.app.send(&id, "hello").await;
    assert_error_snapshot("error_message_to_a_failed_session", got, &[id]);
    f.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_pause_a_failed_session() {
    let f = failing_cli().await;
    let id = f.failed_session().await;
    let got = f
        .app
        .post_json(&format!("/api/sessions/{id}/pause"), &json!({}))
        .await;
    assert_error_snapshot("error_pause_a_failed_session", got, &[id]);
    f.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_events_of_a_closed_session() {
    let f = failing_cli().await;
    let id = f.failed_session().await;
    let (status, closed) = f.app.delete_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(status, 200, "{closed}");
    let got = f.app.get_json(&format!("/api/sessions/{id}/events")).await;
    assert_error_snapshot("error_session_closed", got, &[id]);
    f.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_resume_a_closed_session() {
    let f = failing_cli().await;
    let id = f.failed_session().await;
    let (status, closed) = f.app.delete_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(status, 200, "{closed}");
    let got = f
        .app
        .post_json(&format!("/api/sessions/{id}/resume"), &json!({}))
        .await;
    assert_error_snapshot("error_resume_a_closed_session", got, &[id]);
    f.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_snapshot_bad_last_event_id() {
    let f = failing_cli().await;
    let id = f.failed_session().await;
    let res = f
        .app
        .client
        .get(f.app.url(&format!("/api/sessions/{id}/events")))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    assert_error_snapshot("error_bad_last_event_id", (status, body), &[id]);
    f.app.shutdown().await;
}

// --- No stale snapshots ---

/// Every file in `snapshots/` belongs to a snapshot this module still takes, and none is a
/// pending `.snap.new`: a removed or renamed snapshot must take its file with it. (insta
/// alone finds unreferenced files only through `cargo insta`, which CI does not have.)
#[test]
fn snapshot_files_are_all_referenced() {
    let source = include_str!("snapshots.rs");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots");
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let referenced = file
            .strip_prefix("it__snapshots__")
            .and_then(|f| f.strip_suffix(".snap"))
            .is_some_and(|name| source.contains(&format!("\"{name}\"")));
        if !referenced {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale or pending snapshot files in {}: {stale:?}",
        dir.display()
    );
}
