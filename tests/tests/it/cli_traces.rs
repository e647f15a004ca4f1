//! The real CLI's own spans (`claude.telemetry = true`) join Orchestra's trace: the pinned
//! CLI, started by the real binary against the mock Anthropic API, exports its spans over
//! OTLP to the same in-process receiver, as children of the `agent.spawn` span whose
//! `TRACEPARENT` it was given (docs/observability.md).

use std::time::Duration;

use orchestra_tests::Backend;
use orchestra_tests::crash::{CrashRig, wait_until};
use orchestra_tests::mock_anthropic::{MockAnthropic, claude_cli_binary};
use orchestra_tests::otlp::Collector;
use serde_json::json;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_clis_spans_are_children_of_the_span_that_started_it() {
    let collector = Collector::start();
    let mock = MockAnthropic::start().await;
    let bin = claude_cli_binary().display().to_string();
    let rig = CrashRig::new(
        Backend::Sqlite,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "orchestra-cli-trace"),
            ("ORCHESTRA__CLAUDE__BINARY", bin.as_str()),
            ("ORCHESTRA__CLAUDE__TELEMETRY", "true"),
            ("ORCHESTRA__CLAUDE__MAX_RETRIES", "0"),
            (
                "ORCHESTRA__CLAUDE__ENV__ANTHROPIC_BASE_URL",
                mock.base_url.as_str(),
            ),
            ("ORCHESTRA__CLAUDE__ENV__ANTHROPIC_API_KEY", "test-key"),
            // Asks the CLI's batch exporter to hurry (it seems not to: its spans still come
            // about five seconds after the turn, which the wait below allows for).
            ("ORCHESTRA__CLAUDE__ENV__OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    )
    .await;
    let server = rig.start(None).await;
    let session = rig.create_session().await;
    let (status, body) = rig
        .post(
            &format!("/api/sessions/{session}/messages"),
            json!({"prompt": "Say hello"}),
        )
        .await
        .unwrap();
    assert!(status < 300, "{status} {body}");
    wait_until(Duration::from_secs(30), "the turn", || async {
        let t = rig.get(&format!("/api/sessions/{session}/turns")).await;
        (t["items"][0]["status"] == "Completed").then_some(())
    })
    .await;
    let interaction = wait_until(Duration::from_secs(20), "the CLI's spans", || async {
        collector
            .spans("claude-code")
            .into_iter()
            .find(|s| s.name == "claude_code.interaction")
    })
    .await;
    assert_eq!(server.terminate().await, Some(0));
    collector.stop().await;
    let ours = collector.spans("orchestra-cli-trace");
    let spawn = ours
        .iter()
        .find(|s| s.name == "agent.spawn")
        .expect("the agent.spawn span");
    assert_eq!(
        hex(&interaction.parent_span_id),
        hex(&spawn.span_id),
        "the CLI's interaction is a child of the span that started the process"
    );
    assert_eq!(hex(&interaction.trace_id), hex(&spawn.trace_id));
    let create = ours
        .iter()
        .find(|s| s.span_id == spawn.parent_span_id)
        .expect("the spawn's parent");
    assert_eq!(create.name, "POST /api/sessions");
    // The CLI's call to the model is in the trace too.
    assert!(
        collector
            .spans("claude-code")
            .iter()
            .any(|s| s.name == "claude_code.llm_request" && s.trace_id == spawn.trace_id),
        "the model request joins the trace"
    );
    mock.stop().await;
}
