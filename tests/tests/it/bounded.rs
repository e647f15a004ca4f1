//! Bounded memory on the agent's side: a control request over the line limit is denied
//! without asking (never waited on), and a large tool input reaches the approval whole while
//! the session's event log keeps a cut copy. On SQLite and PostgreSQL.

use std::time::Duration;

use orchestra_tests::Backend;
use orchestra_tests::sse::read_until;
use serde_json::json;

use crate::escalation::{fixture, tool_log, turn_result, wait_for_pending};

async fn a_tool_call_over_the_line_limit_is_denied_without_asking_and_reported(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    // About 5 MiB of input: over the 4 MiB default of claude.max_line_bytes.
    let (_, turn) = f.app.send(&session, r#"ASK Write {"padKb": 5000}"#).await;
    let done = turn_result(&f.app, &session, &turn).await;
    assert_eq!(done["status"], "Completed", "{done}");
    let result = done["result"].as_str().unwrap();
    assert!(
        result.starts_with("denied: Orchestra denied this tool call without asking")
            && result.contains("over the 4194304-byte line limit"),
        "{result}"
    );
    assert!(tool_log(f.home.path(), &session).is_empty(), "never ran");
    let (_, approvals) = f
        .app
        .get_json(&format!("/api/approvals?sessionId={session}"))
        .await;
    assert_eq!(approvals["total"], 0, "nobody is asked: {approvals}");
    let events = read_until(
        &f.app.client,
        &f.app
            .url(&format!("/api/sessions/{session}/events?after=0")),
        None,
        Duration::from_secs(10),
        |e| e.event == "turn_finished",
    )
    .await;
    let oversized: Vec<_> = events
        .iter()
        .filter(|e| e.event == "oversized_request")
        .collect();
    assert_eq!(oversized.len(), 1, "{oversized:?}");
    let data = &oversized[0].data["data"];
    assert_eq!(data["toolName"], "Write", "{data}");
    assert!(
        data["reason"]
            .as_str()
            .unwrap()
            .ends_with("the tool call was denied"),
        "{data}"
    );
    // The tool_use line and the result line were over the limit too: read with their
    // strings cut, so the turn still ended with its result, and reported.
    let cut = events
        .iter()
        .filter(|e| {
            e.event == "garbage"
                && e.data["data"]["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("read with every string cut"))
        })
        .count();
    assert_eq!(cut, 2, "the tool_use and result lines are reported");
    let metrics = f.app.metrics_text().await;
    assert!(
        metrics.contains("agent_oversized_requests_total 1"),
        "counted"
    );
    f.app.shutdown().await;
}

async fn a_large_tool_input_reaches_the_approval_whole_and_the_log_cut(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let _ = f.app.send(&session, r#"ASK Write {"padKb": 100}"#).await;
    let id = wait_for_pending(&f.app, &session).await;
    let (_, approval) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    let content = approval["toolInput"]["content"].as_str().unwrap();
    assert_eq!(
        content.len(),
        100 * 1024 / 12 * 12,
        "the approval has it whole"
    );
    let events = read_until(
        &f.app.client,
        &f.app
            .url(&format!("/api/sessions/{session}/events?after=0")),
        None,
        Duration::from_secs(10),
        |e| e.event == "permission_request",
    )
    .await;
    for kind in ["tool_use", "permission_request"] {
        let event = events.iter().find(|e| e.event == kind).unwrap();
        let input = &event.data["data"]["input"];
        assert_eq!(input["truncated"], true, "{kind}: {input}");
        assert!(
            input["originalBytes"].as_u64().unwrap() > 100 * 1024,
            "{input}"
        );
        assert_eq!(
            input["preview"].as_str().unwrap().len(),
            16 * 1024,
            "cut at claude.event_payload_max_bytes"
        );
    }
    let metrics = f.app.metrics_text().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("agent_event_payloads_truncated_total") && !l.ends_with(" 0")),
        "counted"
    );
    f.app.shutdown().await;
}

both_backends!(
    a_tool_call_over_the_line_limit_is_denied_without_asking_and_reported,
    a_large_tool_input_reaches_the_approval_whole_and_the_log_cut,
);
