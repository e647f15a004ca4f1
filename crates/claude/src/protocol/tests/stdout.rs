//! Every recorded stdout line decodes, to the right events with the right fields.

use orchestra_application::ports::AgentEvent;
use serde_json::json;

use super::fixtures::*;
use crate::protocol::*;

#[test]
fn every_recorded_line_decodes_and_none_is_garbage() {
    for c in cases() {
        let whole = decode_stream(c.stdout, usize::MAX);
        let lines = c.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        assert_eq!(
            whole.len(),
            lines.count(),
            "{}: one decoding per line",
            c.name
        );
        for d in &whole {
            if let Decoded::Events(events) = d {
                assert!(!events.is_empty(), "{}: a line without events", c.name);
                for e in events {
                    assert!(
                        !matches!(e, AgentEvent::Garbage { .. }),
                        "{}: {e:?}",
                        c.name
                    );
                }
            }
        }
        // Reads cut anywhere (inside multi-byte characters too) change nothing.
        for chunk in [1, 7, 4096] {
            assert_eq!(
                decode_stream(c.stdout, chunk),
                whole,
                "{} in {chunk}",
                c.name
            );
        }
    }
}

#[test]
fn each_recording_decodes_to_the_expected_sequence() {
    let expect: &[(&str, &[&str])] = &[
        (
            "b_stream_json_plain",
            &["init", "assistant_text", "result:success"],
        ),
        (
            "b3_stream_json_partial",
            &[
                "init",
                "other:system/status",
                "other:stream_event",
                "other:stream_event",
                "other:stream_event",
                "other:stream_event",
                "other:stream_event",
                "assistant_text",
                "other:stream_event",
                "other:stream_event",
                "other:stream_event",
                "result:success",
            ],
        ),
        ("c_denied_bash", &["result:success"]),
        (
            "f3_session_state_events",
            &[
                "other:system/session_state_changed",
                "init",
                "assistant_text",
                "result:success",
                "other:system/session_state_changed",
                "other:system/session_state_changed",
                "init",
                "assistant_text",
                "result:success",
                "other:system/session_state_changed",
            ],
        ),
        (
            "g1_control_allow",
            &[
                "response",
                "init",
                "tool_use",
                "can_use_tool",
                "tool_result",
                "assistant_text",
                "result:success",
            ],
        ),
        (
            "g6_control_deny_interrupt",
            &[
                "response",
                "init",
                "tool_use",
                "can_use_tool",
                "tool_result",
                // The user line `[Request interrupted by user for tool use]` is a text block.
                "assistant_text",
                "result:error_during_execution",
            ],
        ),
        (
            "g9_stream_json_without_permission_prompt_tool",
            &[
                "init",
                "tool_use",
                "permission_denied",
                "tool_result",
                "assistant_text",
                "result:success",
            ],
        ),
        (
            "h_interrupt",
            &[
                "response",
                "init",
                "tool_use",
                "can_use_tool",
                // The interrupt is answered before the aborted tool's result.
                "response",
                "tool_result",
                "assistant_text",
                "result:error_during_execution",
                "init",
                "assistant_text",
                "result:success",
            ],
        ),
        (
            "i_http_500_stream_json",
            &[
                "init",
                "api_retry",
                "api_retry",
                "assistant_text",
                "result:success",
            ],
        ),
        (
            "i_unknown_resume_stream_json",
            &["result:error_during_execution"],
        ),
    ];
    for (name, want) in expect {
        assert_eq!(labels(name), *want, "{name}");
    }
}

#[test]
fn init_assistant_text_and_result_carry_their_fields() {
    let ev = events("b_stream_json_plain");
    assert_eq!(
        ev[0],
        AgentEvent::Init {
            session_id: "4632c91a-5dc9-4df4-8d0c-a60afdb9382a".into(),
            model: Some("claude-opus-5-5".into()),
            tools: match &ev[0] {
                AgentEvent::Init { tools, .. } => tools.clone(),
                _ => Vec::new(),
            },
            version: Some("2.1.328".into()),
        }
    );
    assert!(
        matches!(&ev[0], AgentEvent::Init { tools, .. } if tools.len() == 22 && tools.iter().any(|t| t == "Bash"))
    );
    assert_eq!(
        ev[1],
        AgentEvent::AssistantText {
            text: "Hello from the mock. This is a plain answer.".into()
        }
    );
    let AgentEvent::Result(r) = &ev[2] else {
        panic!("{:?}", ev[2])
    };
    assert_eq!(r.subtype, "success");
    assert!(!r.is_error);
    assert_eq!(
        r.result.as_deref(),
        Some("Hello from the mock. This is a plain answer.")
    );
    assert_eq!(r.cost_usd, Some(0.050548));
    assert_eq!(
        (r.duration_ms, r.duration_api_ms, r.num_turns),
        (Some(150), Some(27), Some(1))
    );
    assert_eq!(r.terminal_reason.as_deref(), Some("completed"));
    assert_eq!(
        r.session_id.as_deref(),
        Some("4632c91a-5dc9-4df4-8d0c-a60afdb9382a")
    );
    assert!(r.permission_denials.is_empty() && r.errors.is_empty());
}

#[test]
fn tool_use_and_tool_results_carry_their_fields() {
    let ev = events("g1_control_allow");
    let input = json!({"command": "echo hi > out.txt", "description": "Write hi to out.txt"});
    assert!(ev.contains(&AgentEvent::ToolUse {
        id: "toolu_mock_b453bfbb2cb04243a2681f05".into(),
        name: "Bash".into(),
        input: input.clone(),
    }));
    assert!(ev.contains(&AgentEvent::ToolResult {
        tool_use_id: "toolu_mock_b453bfbb2cb04243a2681f05".into(),
        content: "(Bash completed with no output)".into(),
        is_error: false,
    }));
    assert!(events("g2_control_deny").contains(&AgentEvent::ToolResult {
        tool_use_id: "toolu_mock_5b5cadd717d34624aecf656a".into(),
        content: "Denied by the test harness".into(),
        is_error: true,
    }));
    assert!(
        events("g7_control_error_response").contains(&AgentEvent::ToolResult {
            tool_use_id: "toolu_mock_f675f03cc7b04a919b69c739".into(),
            content: "Tool permission request failed: Error: host failed to decide".into(),
            is_error: true,
        })
    );
    // Write's tool_result has no `is_error` key at all.
    assert!(events("g8_control_write_tool_allow").iter().any(|e| matches!(e,
        AgentEvent::ToolResult { content, is_error: false, .. } if content.starts_with("File created successfully"))));
}

#[test]
fn results_carry_cost_usage_errors_and_permission_denials() {
    let denial = |id: &str| {
        (
            "Bash".to_owned(),
            id.to_owned(),
            json!({"command": "echo hi > out.txt", "description": "Write hi to out.txt"}),
        )
    };
    let denials = |name: &str| -> Vec<_> {
        results(name)
            .into_iter()
            .flat_map(|r| r.permission_denials)
            .map(|d| (d.tool_name, d.tool_use_id, d.tool_input))
            .collect()
    };
    assert_eq!(
        denials("c_denied_bash"),
        vec![denial("toolu_mock_76c71d8e177840d4b1d50e17")]
    );
    assert_eq!(
        denials("g2_control_deny"),
        vec![denial("toolu_mock_5b5cadd717d34624aecf656a")]
    );
    assert_eq!(
        denials("g9_stream_json_without_permission_prompt_tool"),
        vec![denial("toolu_mock_7fae2ba330464e899d065b28")]
    );
    assert!(denials("g1_control_allow").is_empty());

    let [aborted] = &results("g6_control_deny_interrupt")[..] else {
        panic!()
    };
    assert_eq!(aborted.subtype, "error_during_execution");
    assert!(aborted.is_error && aborted.result.is_none());
    assert_eq!(aborted.terminal_reason.as_deref(), Some("aborted_tools"));
    assert_eq!(
        aborted.errors,
        vec!["[ede_diagnostic] result_type=user last_content_type=n/a stop_reason=tool_use"]
    );

    let [api_error] = &results("i_http_500_stream_json")[..] else {
        panic!()
    };
    assert_eq!(api_error.subtype, "success", "API errors come as success");
    assert!(api_error.is_error);
    assert_eq!(api_error.api_error_status, Some(500));
    assert_eq!(api_error.terminal_reason.as_deref(), Some("api_error"));
    assert_eq!(api_error.cost_usd, Some(0.0));
    let retries: Vec<_> = events("i_http_500_stream_json")
        .into_iter()
        .filter(|e| matches!(e, AgentEvent::ApiRetry { .. }))
        .collect();
    assert_eq!(
        retries,
        vec![
            AgentEvent::ApiRetry {
                attempt: 1,
                max_retries: 2,
                delay_ms: 539,
                error_status: Some(500)
            },
            AgentEvent::ApiRetry {
                attempt: 2,
                max_retries: 2,
                delay_ms: 1102,
                error_status: Some(500)
            },
        ]
    );

    let [unknown] = &results("i_unknown_resume_stream_json")[..] else {
        panic!()
    };
    assert_eq!(
        unknown.errors,
        vec!["No conversation found with session ID: 0979e7d9-e0e3-46ab-aa46-fc97672d1c0b"]
    );
    assert_eq!(unknown.terminal_reason, None);

    let h = results("h_interrupt");
    assert_eq!(
        h.iter()
            .map(|r| (r.subtype.as_str(), r.is_error))
            .collect::<Vec<_>>(),
        vec![("error_during_execution", true), ("success", false)]
    );
}

#[test]
fn permission_denied_lines_carry_the_message() {
    let ev = events("g9_stream_json_without_permission_prompt_tool");
    let Some(AgentEvent::PermissionDenied {
        tool_name,
        tool_use_id,
        message,
    }) = ev
        .iter()
        .find(|e| matches!(e, AgentEvent::PermissionDenied { .. }))
    else {
        panic!("{ev:?}")
    };
    assert_eq!(tool_name, "Bash");
    assert_eq!(
        tool_use_id.as_deref(),
        Some("toolu_mock_7fae2ba330464e899d065b28")
    );
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.starts_with("Output redirection to"))
    );
}
