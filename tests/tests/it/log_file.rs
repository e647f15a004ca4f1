//! The log file (`telemetry.log_file`) on the real binary: JSON lines with the approval's id
//! under `approval_id`, written to the configured path, rotated by size into `.1`, `.2`, and
//! no more files than `telemetry.log_file_keep`.

use std::time::{Duration, Instant};

use orchestra_tests::binary::ServerProcess;
use orchestra_tests::free_port;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_go_to_a_rotating_file_as_json_with_the_ids() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("var-log-orchestra");
    let file = logs.join("api.log");
    let port = free_port();
    let env = [
        ("ORCHESTRA__SERVER__PORT", port.to_string()),
        ("ORCHESTRA__SERVER__HOST", "127.0.0.1".to_owned()),
        ("ORCHESTRA__TELEMETRY__LOG_FORMAT", "json".to_owned()),
        ("ORCHESTRA__TELEMETRY__LOG_FILE", file.display().to_string()),
        (
            "ORCHESTRA__TELEMETRY__LOG_FILE_MAX_BYTES",
            "8192".to_owned(),
        ),
        ("ORCHESTRA__TELEMETRY__LOG_FILE_KEEP", "2".to_owned()),
        ("ORCHESTRA__DATABASE__AUTO_MIGRATE", "true".to_owned()),
    ];
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = ServerProcess::start(dir.path(), port, &env_ref).await;
    let client = orchestra_tests::auth::client_with_key(orchestra_tests::auth::TEST_ADMIN_KEY);
    let url = format!("http://127.0.0.1:{port}/api/approvals/test");
    let mut ids = Vec::new();
    // Enough lines to pass 8 KiB a few times over; bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !logs.join("api.log.2").exists() {
        let r: Value = client
            .post(&url)
            .json(&json!({"toolName": "TestTool", "sessionId": "test-session"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["approval"]["id"].as_str().unwrap().to_owned());
        assert!(
            Instant::now() < deadline && ids.len() < 5000,
            "the log was not rotated twice after {} approvals",
            ids.len()
        );
    }
    assert_eq!(server.terminate().await, Some(0));
    assert!(
        !logs.join("api.log.3").exists(),
        "only 2 rotated files are kept"
    );
    let mut lines = Vec::new();
    for name in ["api.log", "api.log.1", "api.log.2"] {
        let text = std::fs::read_to_string(logs.join(name)).unwrap();
        assert!(text.len() < 64 * 1024, "{name} is {} bytes", text.len());
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {line}"));
            lines.push(v);
        }
    }
    // The newest approval's lines name it under one key; the stop line is in the live file.
    let last = ids.last().unwrap();
    assert!(
        lines.iter().any(|l| l["approval_id"] == last.as_str()),
        "no line has approval_id {last}"
    );
    assert!(lines.iter().all(|l| l.get("approval.id").is_none()));
    assert!(
        lines.iter().any(|l| l["message"] == "Orchestra stopped"),
        "the last lines were flushed at the stop"
    );
    // Nothing of it went to stdout.
    let stdout = std::fs::read_to_string(dir.path().join("orchestra.log")).unwrap_or_default();
    assert!(!stdout.contains(last.as_str()), "{stdout}");
}
