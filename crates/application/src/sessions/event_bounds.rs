//! What keeps a session's event log small: every large payload (text, tool input, tool
//! result, a raw unknown line) is cut to a byte budget before it is logged, and each event's
//! size is estimated so the log can keep to a byte budget as well as a count.
//!
//! Only the log's copy is cut: the escalation path, the turn's result and the database get
//! the event whole.

use serde_json::{Map, Value};

use super::event_log::SessionEvent;
use crate::ports::AgentEvent;

/// An event's fixed cost in the log (the `Arc`, the sequence number, the time, the enum).
const EVENT_OVERHEAD: usize = 96;

/// Cuts `event`'s payloads to `max` bytes each; returns it and whether anything was cut.
pub(crate) fn cut_payloads(event: SessionEvent, max: usize) -> (SessionEvent, bool) {
    let SessionEvent::Agent(agent) = event else {
        return (event, false);
    };
    let mut cut = false;
    let agent = match agent {
        AgentEvent::AssistantText { text } => AgentEvent::AssistantText {
            text: cut_text(text, max, &mut cut),
        },
        AgentEvent::Thinking { text } => AgentEvent::Thinking {
            text: cut_text(text, max, &mut cut),
        },
        AgentEvent::ToolUse { id, name, input } => AgentEvent::ToolUse {
            id,
            name,
            input: cut_value(input, max, &mut cut),
        },
        AgentEvent::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => AgentEvent::ToolResult {
            tool_use_id,
            content: cut_text(content, max, &mut cut),
            is_error,
        },
        AgentEvent::PermissionRequest {
            request_id,
            tool_name,
            input,
            tool_use_id,
            description,
            suggested_rules,
        } => AgentEvent::PermissionRequest {
            request_id,
            tool_name,
            input: cut_value(input, max, &mut cut),
            tool_use_id,
            description: description.map(|d| cut_text(d, max, &mut cut)),
            suggested_rules,
        },
        AgentEvent::Other { kind, subtype, raw } => AgentEvent::Other {
            kind,
            subtype,
            raw: cut_value(raw, max, &mut cut),
        },
        AgentEvent::Result(mut report) => {
            report.result = report.result.map(|r| cut_text(r, max, &mut cut));
            for denial in &mut report.permission_denials {
                let input = std::mem::take(&mut denial.tool_input);
                denial.tool_input = cut_value(input, max, &mut cut);
            }
            AgentEvent::Result(report)
        }
        AgentEvent::Exited(mut report) => {
            report.stderr_tail = cut_text(std::mem::take(&mut report.stderr_tail), max, &mut cut);
            AgentEvent::Exited(report)
        }
        other => other,
    };
    (SessionEvent::Agent(agent), cut)
}

/// `text` cut to at most `max` bytes (at a character boundary) plus a marker saying how much
/// there was.
fn cut_text(text: String, max: usize, cut: &mut bool) -> String {
    if text.len() <= max {
        return text;
    }
    *cut = true;
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} …[truncated: {} bytes in all]", &text[..end], text.len())
}

/// `value` itself when its compact JSON fits in `max` bytes; otherwise an object saying it
/// was cut, with the first `max` bytes of that JSON:
/// `{"truncated": true, "originalBytes": N, "preview": "..."}`.
fn cut_value(value: Value, max: usize, cut: &mut bool) -> Value {
    let bytes = json_bytes(&value);
    if bytes <= max {
        return value;
    }
    *cut = true;
    let text = value.to_string();
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut marker = Map::new();
    marker.insert("truncated".into(), Value::Bool(true));
    marker.insert("originalBytes".into(), Value::from(text.len()));
    marker.insert("preview".into(), Value::String(text[..end].to_owned()));
    Value::Object(marker)
}

/// The length of `value`'s compact JSON, counted without writing it (escapes counted as one
/// byte: an estimate that is never far below).
pub(crate) fn json_bytes(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => s.len() + 2,
        // Each item with its comma, less the comma after the last.
        Value::Array(items) => {
            2 + items.iter().map(|v| json_bytes(v) + 1).sum::<usize>()
                - usize::from(!items.is_empty())
        }
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + 4 + json_bytes(v))
                .sum::<usize>()
                - usize::from(!map.is_empty())
        }
    }
}

/// About how many bytes `event` holds in the log.
pub(crate) fn approx_bytes(event: &SessionEvent) -> usize {
    EVENT_OVERHEAD
        + match event {
            SessionEvent::Agent(agent) => agent_bytes(agent),
            SessionEvent::TurnFinished { error, .. } => error.as_ref().map_or(0, String::len),
            SessionEvent::ApprovalRequested { tool_name, .. } => tool_name.len(),
            SessionEvent::StatusChanged { reason, .. } => reason.as_ref().map_or(0, String::len),
            SessionEvent::Restored { kind, data } => kind.len() + json_bytes(data),
            SessionEvent::TurnStarted { .. }
            | SessionEvent::ApprovalDecided { .. }
            | SessionEvent::AgentSuspended { .. }
            | SessionEvent::AgentResumed => 0,
        }
}

fn agent_bytes(event: &AgentEvent) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    match event {
        AgentEvent::Init {
            session_id,
            model,
            tools,
            version,
        } => {
            session_id.len()
                + opt(model)
                + opt(version)
                + tools.iter().map(String::len).sum::<usize>()
        }
        AgentEvent::AssistantText { text } | AgentEvent::Thinking { text } => text.len(),
        AgentEvent::ToolUse { id, name, input } => id.len() + name.len() + json_bytes(input),
        AgentEvent::ToolResult {
            tool_use_id,
            content,
            ..
        } => tool_use_id.len() + content.len(),
        AgentEvent::ApiRetry { .. } => 0,
        AgentEvent::PermissionRequest {
            request_id,
            tool_name,
            input,
            tool_use_id,
            description,
            suggested_rules,
        } => {
            request_id.len()
                + tool_name.len()
                + json_bytes(input)
                + opt(tool_use_id)
                + opt(description)
                + suggested_rules.iter().map(String::len).sum::<usize>()
        }
        AgentEvent::PermissionDenied {
            tool_name,
            tool_use_id,
            message,
        } => tool_name.len() + opt(tool_use_id) + opt(message),
        AgentEvent::Result(r) => {
            r.subtype.len()
                + opt(&r.result)
                + opt(&r.terminal_reason)
                + r.errors.iter().map(String::len).sum::<usize>()
                + r.permission_denials
                    .iter()
                    .map(|d| d.tool_name.len() + d.tool_use_id.len() + json_bytes(&d.tool_input))
                    .sum::<usize>()
        }
        AgentEvent::Other { kind, subtype, raw } => kind.len() + opt(subtype) + json_bytes(raw),
        AgentEvent::Garbage { preview, reason } => preview.len() + reason.len(),
        AgentEvent::OversizedRequest {
            request_id,
            tool_name,
            tool_use_id,
            reason,
            preview,
        } => {
            request_id.len()
                + tool_name.as_ref().map_or(0, String::len)
                + tool_use_id.as_ref().map_or(0, String::len)
                + reason.len()
                + preview.len()
        }
        AgentEvent::Exited(r) => opt(&r.stop_step) + r.stderr_tail.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent(event: AgentEvent) -> SessionEvent {
        SessionEvent::Agent(event)
    }

    #[test]
    fn large_text_is_cut_at_a_character_boundary_with_a_marker() {
        let text = "é".repeat(10_000);
        let (cut, was_cut) = cut_payloads(agent(AgentEvent::AssistantText { text }), 1001);
        assert!(was_cut);
        let SessionEvent::Agent(AgentEvent::AssistantText { text }) = cut else {
            panic!("{cut:?}")
        };
        assert!(text.starts_with(&"é".repeat(500)));
        assert!(text.ends_with("…[truncated: 20000 bytes in all]"), "{text}");
        assert!(text.len() < 1100);
    }

    #[test]
    fn a_large_tool_input_becomes_a_marker_with_a_preview_and_small_ones_stay() {
        let input =
            json!({"file_path": "/w/a.html", "content": "<a href=\"x\">&amp;</a>".repeat(2000)});
        let (cut, was_cut) = cut_payloads(
            agent(AgentEvent::ToolUse {
                id: "t".into(),
                name: "Write".into(),
                input: input.clone(),
            }),
            512,
        );
        assert!(was_cut);
        let SessionEvent::Agent(AgentEvent::ToolUse { input: logged, .. }) = cut else {
            panic!("{cut:?}")
        };
        assert_eq!(logged["truncated"], true);
        assert_eq!(logged["originalBytes"], input.to_string().len());
        assert!(
            input
                .to_string()
                .starts_with(logged["preview"].as_str().unwrap())
        );
        assert!(logged["preview"].as_str().unwrap().len() <= 512);

        let small = agent(AgentEvent::ToolUse {
            id: "t".into(),
            name: "Bash".into(),
            input: json!({"command": "ls"}),
        });
        assert_eq!(cut_payloads(small.clone(), 512), (small, false));
    }

    #[test]
    fn the_size_estimate_follows_the_payload() {
        let small = approx_bytes(&agent(AgentEvent::AssistantText { text: "hi".into() }));
        let big = approx_bytes(&agent(AgentEvent::Other {
            kind: "x".into(),
            subtype: None,
            raw: json!({"a": "b".repeat(50_000)}),
        }));
        assert!(small < 200, "{small}");
        assert!((50_000..50_400).contains(&big), "{big}");
        let value = json!({"a": [1, true, null, "xyz"], "b": {"c": false}});
        assert_eq!(json_bytes(&value), value.to_string().len());
    }
}
