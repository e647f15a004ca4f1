//! The server's policy holds for calls the real CLI would allow by itself: a read in the
//! project needs nobody's permission in the CLI, so the policy's deny and ask rules are
//! handed to it as rules to ask about (`--settings`), and Orchestra judges each call it asks
//! about. With the real CLI against the mock API; the database plays no part (SQLite).

use orchestra_tests::Backend;
use serde_json::json;

use crate::real_cli::{finished, fixture_with, pending_approval};

/// Whether any request the CLI sent the API carries `needle` (a file's content that
/// reached the model).
fn reached_the_model(mock: &orchestra_tests::mock_anthropic::MockAnthropic, needle: &str) -> bool {
    mock.requests()
        .iter()
        .any(|r| r.to_string().contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_and_ask_rules_hold_for_reads_the_cli_allows_by_itself() {
    let f = fixture_with(
        Backend::Sqlite,
        &[(
            "ORCHESTRA__POLICY__RULES",
            // Every rule form Orchestra accepts is in the CLI's settings beside the two that
            // matter here: the CLI drops settings it cannot validate, silently, and then the
            // denied file would be read.
            "deny Read(secret.env),ask:critical Read(keys/**),ask:low Bash(git * main),\
             ask Bash(npm run test:*),deny Bash(rm -rf /),ask WebFetch(domain:*),\
             deny WebFetch(domain:*.evil.com),deny mcp__evil,ask mcp__github__create_issue,\
             ask Edit(//etc/**),deny Read(~/.ssh/**),ask Write(src/**),deny WebSearch",
        )],
    )
    .await;
    let dir = f.work.path();
    std::fs::write(dir.join("notes.txt"), "NOTES-CONTENT").unwrap();
    std::fs::write(dir.join("secret.env"), "TOPSECRET-CONTENT").unwrap();
    std::fs::create_dir(dir.join("keys")).unwrap();
    std::fs::write(dir.join("keys").join("id"), "KEY-CONTENT").unwrap();
    let session = f.app.create_session(dir, json!({})).await;

    // An ordinary read in the project: the CLI allows it by itself, nobody is asked.
    let (_, t) = f
        .app
        .turn(&session, &format!("KW_READ {}/notes.txt", dir.display()))
        .await;
    assert_eq!(t["status"], "Completed", "{t}");
    assert!(reached_the_model(&f.mock, "NOTES-CONTENT"), "the read ran");

    // The denied file: the CLI asks, the policy denies, nobody is asked.
    let (_, t) = f
        .app
        .turn(&session, &format!("KW_READ {}/secret.env", dir.display()))
        .await;
    assert_eq!(t["status"], "Completed", "{t}");
    assert!(
        !reached_the_model(&f.mock, "TOPSECRET-CONTENT"),
        "a file the policy denies was read"
    );
    let (_, asked) = f
        .app
        .get_json(&format!("/api/approvals?sessionId={session}"))
        .await;
    assert_eq!(
        asked["total"], 0,
        "nobody is asked about a denied call: {asked}"
    );

    // The critical directory: a human is asked, and refuses.
    let (_, turn) = f
        .app
        .send(&session, &format!("KW_READ {}/keys/id", dir.display()))
        .await;
    let approval = pending_approval(&f.app, &session).await;
    assert_eq!(
        (approval["toolName"].as_str(), approval["risk"].as_str()),
        (Some("Read"), Some("critical")),
        "{approval}"
    );
    crate::escalation::deny(&f.app, approval["id"].as_str().unwrap()).await;
    finished(&f.app, &session, &turn).await;
    assert!(
        !reached_the_model(&f.mock, "KEY-CONTENT"),
        "a refused read ran"
    );
    let m = f.app.metrics_text().await;
    assert_eq!(
        orchestra_tests::counter(&m, "policy_verdicts_total{verdict=\"deny\",risk=\"high\"}"),
        1,
        "{m}"
    );
    f.app.shutdown().await;
    f.mock.stop().await;
}
