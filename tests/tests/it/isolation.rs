//! Agent isolation with the real CLI: agents run as their own user (`claude.run_as_user`),
//! and an approved Bash call that tries to read Orchestra's environment, its env file and
//! its SQLite file gets none of the secrets.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use orchestra_tests::auth::{TEST_ADMIN_KEY, client_with_key};
use orchestra_tests::binary::ServerProcess;
use orchestra_tests::mock_anthropic::{MockAnthropic, claude_cli_binary};
use serde_json::{Value, json};

const BOT_TOKEN: &str = "123456:bot-token-that-must-not-leak";

async fn eventually(client: &reqwest::Client, url: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        if ok(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out on {url}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_running_as_its_own_user_cannot_read_orchestras_secrets() {
    let mock = MockAnthropic::start().await;
    let dir = tempfile::tempdir().unwrap(); // Orchestra's cwd: the SQLite file
    let runtime = tempfile::tempdir().unwrap();
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // An operator's env file, as systemd's EnvironmentFile would be.
    let env_file = dir.path().join("orchestra.env");
    std::fs::write(&env_file, format!("TELEGRAM_BOT_TOKEN={BOT_TOKEN}\n")).unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = ServerProcess::start(
        dir.path(),
        port,
        &[
            ("ORCHESTRA__SERVER__PORT", &port.to_string()),
            ("TELEGRAM_BOT_TOKEN", BOT_TOKEN),
            (
                "ORCHESTRA__CLAUDE__BINARY",
                &claude_cli_binary().display().to_string(),
            ),
            ("ORCHESTRA__CLAUDE__RUN_AS_USER", "nobody"),
            (
                "ORCHESTRA__CLAUDE__RUNTIME_DIR",
                &runtime.path().display().to_string(),
            ),
            ("ORCHESTRA__CLAUDE__MAX_RETRIES", "0"),
            ("ORCHESTRA__CLAUDE__ENV__ANTHROPIC_BASE_URL", &mock.base_url),
            ("ORCHESTRA__CLAUDE__ENV__ANTHROPIC_API_KEY", "test-key"),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let client = client_with_key(TEST_ADMIN_KEY);
    let pid = server.child.id().unwrap();
    let db_file = dir.path().join("orchestra.db");
    let mode = std::fs::metadata(&db_file).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the SQLite file is readable by others: {mode:o}"
    );

    let res = client
        .post(format!("{base}/api/sessions"))
        .json(&json!({"workingDirectory": work.path()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let session: Value = res.json().await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let command = format!(
        "id; cat /proc/{pid}/environ; cat {}; cat {}; cat /proc/{pid}/cmdline; echo done",
        env_file.display(),
        db_file.display()
    );
    let res = client
        .post(format!("{base}/api/sessions/{id}/messages"))
        .json(&json!({"prompt": format!("KW_BASH {command}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let turn: Value = res.json().await.unwrap();
    // A human approves the call: it runs, as `nobody`.
    let pending = eventually(
        &client,
        &format!("{base}/api/approvals?status=Pending&sessionId={id}"),
        |b| b["total"].as_u64().unwrap_or(0) > 0,
    )
    .await;
    let approval = pending["items"][0]["id"].as_str().unwrap().to_owned();
    let res = client
        .post(format!("{base}/api/approvals/{approval}/approve"))
        .json(&json!({"approved": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let turn_url = format!(
        "{base}/api/sessions/{id}/turns/{}",
        turn["id"].as_str().unwrap()
    );
    let done = eventually(&client, &turn_url, |t| t["status"] != "Running").await;
    assert_eq!(done["status"], "Completed", "{done}");
    // What the tool printed went to the model: the mock saw it.
    let seen = mock
        .requests()
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        seen.contains("uid=65534"),
        "the tool did not run as nobody: {seen}"
    );
    assert!(
        seen.contains("done"),
        "the tool's output is missing: {seen}"
    );
    assert!(
        !seen.contains("bot-token-that-must-not-leak"),
        "the bot token leaked"
    );
    assert!(!seen.contains(&TEST_ADMIN_KEY[5..]), "the admin key leaked");
    assert!(
        !seen.contains("SQLite format"),
        "the database file was read"
    );
    server.terminate().await;
    mock.stop().await;
}
