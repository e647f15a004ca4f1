//! Agent transcripts kept in the database (issue 10 point 3): a session whose node lost its
//! disk, or that another node picks up, resumes with its conversation. On the real CLI
//! against the mock API and on the fake CLI, on SQLite and PostgreSQL.

use std::path::{Path, PathBuf};

use orchestra_tests::mock_anthropic::MockAnthropic;
use orchestra_tests::{Backend, TestApp, TestAppOptions, counter};
use serde_json::json;

/// Where the CLI keeps the session's conversation under `home`.
async fn transcript_path(app: &TestApp, home: &Path, id: &str) -> PathBuf {
    let (_, s) = app.get_json(&format!("/api/sessions/{id}")).await;
    let wd = s["workingDirectory"].as_str().unwrap();
    home.join(".claude")
        .join("projects")
        .join(orchestra_claude::project_slug(wd))
        .join(format!("{id}.jsonl"))
}

/// Waits until some transcript bytes were stored.
async fn stored_some(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while counter(
        &app.metrics_text().await,
        "agent_transcript_bytes_stored_total",
    ) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no transcript was stored after the turn"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn a_session_resumes_on_another_node_from_the_stored_transcript(backend: Backend) {
    let mock = MockAnthropic::start().await;
    let work = tempfile::tempdir().unwrap();
    let home_a = tempfile::tempdir().unwrap();
    let a = TestApp::spawn_with(
        backend,
        TestAppOptions::default().real_cli(&mock.base_url, home_a.path()),
    )
    .await;
    let id = a.create_session(work.path(), json!({})).await;
    let (_, t1) = a.turn(&id, "KW_REMEMBER banana").await;
    assert_eq!(t1["result"], "Noted: the secret word is banana.", "{t1}");
    let on_a = transcript_path(&a, home_a.path(), &id).await;
    assert!(
        on_a.is_file(),
        "the CLI keeps the conversation at {}",
        on_a.display()
    );
    // Stored right after the turn's result.
    stored_some(&a).await;
    let store = a.shutdown_keep_store().await;
    // Node A and its disk are gone.
    drop(home_a);
    let home_b = tempfile::tempdir().unwrap();
    let b = TestApp::spawn_with(
        backend,
        TestAppOptions::default()
            .real_cli(&mock.base_url, home_b.path())
            .with("DB_CONNECTION_STRING", store.connection_string()),
    )
    .await;
    // Node A's graceful stop suspended the idle session: it is Active, and its next message
    // resumes it (`--resume`) on node B, whose HOME has never seen it.
    let (_, s) = b.get_json(&format!("/api/sessions/{id}")).await;
    assert_eq!(
        (s["status"].as_str(), s["suspended"].as_bool()),
        (Some("Active"), Some(true)),
        "{s}"
    );
    let (status, t2) = b.turn(&id, "KW_RECALL").await;
    assert_eq!(
        (status, t2["result"].as_str()),
        (200, Some("The secret word is banana.")),
        "{t2}"
    );
    assert!(
        mock.last_request_texts()
            .iter()
            .any(|t| t.contains("KW_REMEMBER banana")),
        "the mock sees the messages of node A"
    );
    assert!(transcript_path(&b, home_b.path(), &id).await.is_file());
    assert_eq!(
        counter(&b.metrics_text().await, "agent_transcript_restores_total"),
        1
    );
    b.shutdown().await;
    drop(store);
    mock.stop().await;
}

/// Node A runs two turns on the fake CLI; node B, with another HOME, resumes the session
/// with its history. With `claude.store_transcripts = false` node B cannot, and says so.
async fn fake_cli_history_follows_the_session_to_another_node(backend: Backend) {
    for store_transcripts in [true, false] {
        let work = tempfile::tempdir().unwrap();
        let home_a = tempfile::tempdir().unwrap();
        let flag = store_transcripts.to_string();
        let a = TestApp::spawn_with(
            backend,
            TestAppOptions::default()
                .fake_cli(home_a.path())
                .with("ORCHESTRA__CLAUDE__STORE_TRANSCRIPTS", flag.clone()),
        )
        .await;
        let id = a.create_session(work.path(), json!({})).await;
        a.turn(&id, "one").await;
        let (_, t) = a.turn(&id, "two").await;
        assert_eq!(t["result"], "echo: two (history: 1)", "{t}");
        let store = a.shutdown_keep_store().await;
        drop(home_a);
        let home_b = tempfile::tempdir().unwrap();
        let b = TestApp::spawn_with(
            backend,
            TestAppOptions::default()
                .fake_cli(home_b.path())
                .with("ORCHESTRA__CLAUDE__STORE_TRANSCRIPTS", flag)
                .with("DB_CONNECTION_STRING", store.connection_string()),
        )
        .await;
        let (status, t) = b.turn(&id, "three").await;
        if store_transcripts {
            assert_eq!(
                (status, t["result"].as_str()),
                (200, Some("echo: three (history: 2)")),
                "{t}"
            );
        } else {
            let resumed = t;
            assert_eq!(
                (status, resumed["code"].as_str()),
                (502, Some("agent_start_failed")),
                "node B has no conversation to resume: {resumed}"
            );
        }
        b.shutdown().await;
        drop(store);
    }
}

both_backends!(
    a_session_resumes_on_another_node_from_the_stored_transcript,
    fake_cli_history_follows_the_session_to_another_node,
);
