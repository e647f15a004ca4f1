//! One trace from the HTTP call to the human's decision (issue 11 point 1), exported by the
//! real binary over OTLP/HTTP to an in-process receiver: a `POST /messages` that carries a
//! W3C `traceparent`, its turn (open until the result, on the application runtime), the
//! agent's permission prompt, the approval, the Telegram `sendMessage` (fake Bot API), the
//! database queries, and the answer to the agent after a REST decision, nested as
//! docs/observability.md documents. The agent process gets the `TRACEPARENT` of the span
//! that started it.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use orchestra_tests::Backend;
use orchestra_tests::crash::{CrashRig, wait_until};
use orchestra_tests::otlp::{Collector, attr};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn parent_of<'a>(spans: &'a [Span], s: &Span) -> Option<&'a Span> {
    spans.iter().find(|p| p.span_id == s.parent_span_id)
}

fn str_attr(s: &Span, key: &str) -> Option<String> {
    match attr(s, key) {
        Some(AnyValue::StringValue(v)) => Some(v),
        _ => None,
    }
}

async fn a_message_s_trace_follows_the_turn_to_the_approval_and_the_answer(backend: Backend) {
    let collector = Collector::start();
    let rig = CrashRig::new(
        backend,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "orchestra-trace-test"),
        ],
    )
    .await;
    let server = rig.start(None).await;
    let session = rig.create_session().await;
    let prompt = format!("ASK Bash {}", json!({ "command": "deploy" }));
    let res = rig
        .client
        .post(format!("{}/api/sessions/{session}/messages", rig.base))
        .header("traceparent", format!("00-{TRACE}-{CALLER}-01"))
        .json(&json!({ "prompt": prompt }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let id = wait_until(WAIT, "the approval", || async {
        rig.approvals_of(&session)
            .await
            .into_iter()
            .find(|a| a["status"] == "Pending" && a["notification"] == "sent")
            .map(|a| a["id"].as_str().unwrap().to_owned())
    })
    .await;
    rig.approve(&id, None).await;
    wait_until(WAIT, "the turn to finish", || async {
        let t = rig.get(&format!("/api/sessions/{session}/turns")).await;
        (t["items"][0]["status"] == "Completed").then_some(())
    })
    .await;
    assert_eq!(rig.tools_ran(&session), 1);
    // SIGTERM flushes the batch exporter.
    assert_eq!(server.terminate().await, Some(0));
    collector.stop().await;
    let spans = collector.spans("orchestra-trace-test");
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    // The request joined the caller's trace.
    let request = named(&spans, "POST /api/sessions/{sessionId}/messages");
    let request = *request
        .iter()
        .find(|s| hex(&s.trace_id) == TRACE)
        .unwrap_or_else(|| panic!("no message request in the caller's trace: {names:?}"));
    assert_eq!(
        hex(&request.parent_span_id),
        CALLER,
        "its parent is the caller's span"
    );

    // request -> turn -> permission_prompt -> approval -> telegram sendMessage
    let turn = named(&spans, "turn")
        .into_iter()
        .find(|s| s.parent_span_id == request.span_id)
        .unwrap_or_else(|| panic!("no turn under the request: {names:?}"));
    assert_eq!(
        str_attr(turn, "orchestra.session_id").as_deref(),
        Some(session.as_str())
    );
    assert!(str_attr(turn, "orchestra.turn_id").is_some());
    assert!(
        turn.end_time_unix_nano > request.end_time_unix_nano,
        "the turn outlives the request that started it (it ends with its result)"
    );
    let prompt = named(&spans, "permission_prompt")
        .into_iter()
        .find(|s| s.parent_span_id == turn.span_id)
        .unwrap_or_else(|| panic!("no permission prompt under the turn: {names:?}"));
    let approval = named(&spans, "approval")
        .into_iter()
        .find(|s| s.parent_span_id == prompt.span_id)
        .unwrap_or_else(|| panic!("no approval under the prompt: {names:?}"));
    assert_eq!(
        str_attr(approval, "orchestra.approval_id").as_deref(),
        Some(id.as_str())
    );
    let send = named(&spans, "telegram sendMessage")
        .into_iter()
        .find(|s| {
            let mut at = parent_of(&spans, s);
            while let Some(p) = at {
                if p.span_id == approval.span_id {
                    return true;
                }
                at = parent_of(&spans, p);
            }
            false
        })
        .unwrap_or_else(|| panic!("no sendMessage under the approval: {names:?}"));
    assert_eq!(
        str_attr(send, "telegram.method").as_deref(),
        Some("sendMessage")
    );
    assert_eq!(
        attr(send, "http.response.status_code"),
        Some(AnyValue::IntValue(200))
    );
    assert_eq!(attr(send, "telegram.attempt"), Some(AnyValue::IntValue(1)));
    // ... and the answer to the agent, once decided, under the same prompt.
    let answer = named(&spans, "control_response")
        .into_iter()
        .find(|s| s.parent_span_id == prompt.span_id)
        .unwrap_or_else(|| panic!("no control response under the prompt: {names:?}"));
    assert_eq!(
        str_attr(answer, "orchestra.approval_id").as_deref(),
        Some(id.as_str())
    );
    for s in [turn, prompt, approval, send, answer] {
        assert_eq!(
            hex(&s.trace_id),
            TRACE,
            "{} is in the caller's trace",
            s.name
        );
    }
    // The request's database queries are its children, with the backend named.
    let system = if backend == Backend::Postgres {
        "postgresql"
    } else {
        "sqlite"
    };
    let query = spans
        .iter()
        .find(|s| s.name == "turns.insert" && s.parent_span_id == request.span_id)
        .unwrap_or_else(|| panic!("no turns.insert query under the request: {names:?}"));
    assert_eq!(str_attr(query, "db.system").as_deref(), Some(system));
    // The decision is a span of the deciding request.
    let decision = named(&spans, "decision")
        .into_iter()
        .find(|s| str_attr(s, "orchestra.approval_id").as_deref() == Some(id.as_str()))
        .unwrap_or_else(|| panic!("no decision span: {names:?}"));
    let decider = parent_of(&spans, decision).expect("the decision's request");
    assert_eq!(decider.name, "POST /api/approvals/{approvalId}/approve");

    // The agent process got the TRACEPARENT of the span that started it.
    let started_with = rig.agent_traceparents(&session);
    let first = started_with
        .first()
        .unwrap_or_else(|| panic!("no TRACEPARENT given to the agent"));
    let parts: Vec<&str> = first.split('-').collect();
    let spawn = named(&spans, "agent.spawn")
        .into_iter()
        .find(|s| hex(&s.span_id) == parts[2])
        .unwrap_or_else(|| panic!("TRACEPARENT {first} names no agent.spawn span: {names:?}"));
    assert_eq!(hex(&spawn.trace_id), parts[1]);
    // The graceful stop ran the ladder on the session's process: a span says which step
    // ended it.
    let stop = named(&spans, "agent.stop")
        .into_iter()
        .find(|s| str_attr(s, "orchestra.session_id").as_deref() == Some(session.as_str()))
        .unwrap_or_else(|| panic!("no agent.stop span for the session: {names:?}"));
    assert!(str_attr(stop, "orchestra.stop_step").is_some_and(|s| !s.is_empty()));
    assert!(matches!(attr(spawn, "process.pid"), Some(AnyValue::IntValue(p)) if p > 0));
}

both_backends!(a_message_s_trace_follows_the_turn_to_the_approval_and_the_answer);
