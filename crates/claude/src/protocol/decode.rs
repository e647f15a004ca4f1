//! Decodes one line of the CLI's stdout into [`AgentEvent`]s, a `can_use_tool` request or a
//! control message.
//!
//! Robust by construction: lines are decoded whole (see [`super::lines`]); unknown types
//! and subtypes are kept as [`AgentEvent::Other`]; lines that are not JSON are
//! [`AgentEvent::Garbage`], never fatal.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use orchestra_application::ports::{AgentEvent, PermissionDenial, TurnReport};

use super::{CanUseTool, Control, Decoded, PermissionSuggestion};

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    subtype: Option<std::borrow::Cow<'a, str>>,
    // system/init, result
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    tools: Option<Vec<String>>,
    #[serde(default)]
    claude_code_version: Option<String>,
    // assistant, user (object); permission_denied (string)
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
    // system/api_retry
    #[serde(default)]
    attempt: Option<i64>,
    #[serde(default)]
    max_retries: Option<i64>,
    #[serde(default)]
    retry_delay_ms: Option<i64>,
    #[serde(default)]
    error_status: Option<i64>,
    // system/permission_denied
    #[serde(default)]
    tool_name: Option<String>,
    #[serde(default)]
    tool_use_id: Option<String>,
    // result
    #[serde(default)]
    is_error: Option<bool>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    total_cost_usd: Option<f64>,
    #[serde(default)]
    duration_ms: Option<i64>,
    #[serde(default)]
    duration_api_ms: Option<i64>,
    #[serde(default)]
    num_turns: Option<i64>,
    #[serde(default)]
    terminal_reason: Option<String>,
    #[serde(default)]
    api_error_status: Option<i64>,
    #[serde(default)]
    errors: Option<Vec<String>>,
    #[serde(default, borrow)]
    permission_denials: Option<Vec<WireDenial<'a>>>,
    // control_request / control_response
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default, borrow)]
    request: Option<&'a RawValue>,
    #[serde(default, borrow)]
    response: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireDenial<'a> {
    tool_name: String,
    #[serde(default)]
    tool_use_id: String,
    #[serde(default, borrow)]
    tool_input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default)]
    tool_use_id: Option<String>,
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default)]
    is_error: Option<bool>,
}

#[derive(Deserialize)]
struct WireControlRequest<'a> {
    #[serde(borrow)]
    subtype: std::borrow::Cow<'a, str>,
    #[serde(default)]
    tool_name: Option<String>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default)]
    tool_use_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default, borrow)]
    permission_suggestions: Option<&'a RawValue>,
    #[serde(default)]
    blocked_path: Option<String>,
    #[serde(default)]
    decision_reason_type: Option<String>,
    #[serde(default)]
    server_policy_ask_only: Option<bool>,
}

#[derive(Deserialize)]
struct WireControlResponse<'a> {
    #[serde(borrow)]
    subtype: std::borrow::Cow<'a, str>,
    request_id: String,
    #[serde(default, borrow)]
    response: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<String>,
}

/// The largest tool result text kept in an event.
pub const MAX_TOOL_RESULT_CHARS: usize = 64 * 1024;

fn value(raw: Option<&RawValue>) -> Value {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or(Value::Null)
}

fn preview(line: &[u8]) -> String {
    String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned()
}

fn garbage(line: &[u8], reason: impl Into<String>) -> Decoded {
    Decoded::Events(vec![AgentEvent::Garbage {
        preview: preview(line),
        reason: reason.into(),
    }])
}

fn other(kind: &str, subtype: Option<&str>, line: &[u8]) -> Decoded {
    Decoded::Events(vec![AgentEvent::Other {
        kind: kind.to_owned(),
        subtype: subtype.map(str::to_owned),
        raw: serde_json::from_slice(line).unwrap_or(Value::Null),
    }])
}

fn truncate(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
        s.push_str(" …[truncated]");
    }
    s
}

fn tool_result_text(content: Option<&RawValue>) -> String {
    let Some(raw) = content else {
        return String::new();
    };
    if let Ok(s) = serde_json::from_str::<String>(raw.get()) {
        return truncate(s, MAX_TOOL_RESULT_CHARS);
    }
    #[derive(Deserialize)]
    struct Part {
        #[serde(default)]
        text: Option<String>,
    }
    match serde_json::from_str::<Vec<Part>>(raw.get()) {
        Ok(parts) => truncate(
            parts
                .into_iter()
                .filter_map(|p| p.text)
                .collect::<Vec<_>>()
                .join("\n"),
            MAX_TOOL_RESULT_CHARS,
        ),
        Err(_) => truncate(raw.get().to_owned(), MAX_TOOL_RESULT_CHARS),
    }
}

fn blocks(message: Option<&RawValue>, events: &mut Vec<AgentEvent>) -> Result<(), String> {
    let Some(raw) = message else { return Ok(()) };
    let msg: WireMessage<'_> =
        serde_json::from_str(raw.get()).map_err(|e| format!("message: {e}"))?;
    let Some(content) = msg.content else {
        return Ok(());
    };
    if content.get().starts_with('"') {
        // A plain user text message (e.g. "[Request interrupted by user for tool use]").
        let text: String = serde_json::from_str(content.get()).map_err(|e| e.to_string())?;
        events.push(AgentEvent::Other {
            kind: "user_text".into(),
            subtype: None,
            raw: Value::String(text),
        });
        return Ok(());
    }
    let list: Vec<WireBlock<'_>> =
        serde_json::from_str(content.get()).map_err(|e| format!("content: {e}"))?;
    for b in list {
        match b.kind.as_ref() {
            "text" => events.push(AgentEvent::AssistantText {
                text: b.text.unwrap_or_default(),
            }),
            "thinking" => events.push(AgentEvent::Thinking {
                text: b.thinking.unwrap_or_default(),
            }),
            "tool_use" => events.push(AgentEvent::ToolUse {
                id: b.id.unwrap_or_default(),
                name: b.name.unwrap_or_default(),
                input: value(b.input),
            }),
            "tool_result" => events.push(AgentEvent::ToolResult {
                tool_use_id: b.tool_use_id.unwrap_or_default(),
                content: tool_result_text(b.content),
                is_error: b.is_error.unwrap_or(false),
            }),
            other => events.push(AgentEvent::Other {
                kind: format!("content_block.{other}"),
                subtype: None,
                raw: Value::Null,
            }),
        }
    }
    Ok(())
}

/// Decodes one line of the CLI's stdout as the application sees it: like [`decode`], with a
/// `can_use_tool` request as [`AgentEvent::PermissionRequest`].
pub fn decode_line(line: &[u8]) -> Decoded {
    decode(line).into_event_view()
}

/// Decodes one line of the CLI's stdout, keeping a `can_use_tool` request whole
/// ([`Control::CanUseTool`], with its permission suggestions).
pub fn decode(line: &[u8]) -> Decoded {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Decoded::Nothing;
    }
    let Ok(text) = std::str::from_utf8(trimmed) else {
        return garbage(trimmed, "not UTF-8");
    };
    let wire: Wire<'_> = match serde_json::from_str(text) {
        Ok(w) => w,
        Err(e) => {
            // Valid JSON of an unexpected shape is kept; anything else is garbage.
            return match serde_json::from_str::<Value>(text) {
                Ok(v) => {
                    let kind = v
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_owned();
                    Decoded::Events(vec![AgentEvent::Other {
                        kind,
                        subtype: None,
                        raw: v,
                    }])
                }
                Err(_) => garbage(trimmed, format!("not JSON: {e}")),
            };
        }
    };
    let subtype = wire.subtype.as_deref();
    match (wire.kind.as_ref(), subtype) {
        ("system", Some("init")) => Decoded::Events(vec![AgentEvent::Init {
            session_id: wire.session_id.unwrap_or_default(),
            model: wire.model,
            tools: wire.tools.unwrap_or_default(),
            version: wire.claude_code_version,
        }]),
        ("system", Some("api_retry")) => Decoded::Events(vec![AgentEvent::ApiRetry {
            attempt: wire.attempt.unwrap_or(0),
            max_retries: wire.max_retries.unwrap_or(0),
            delay_ms: wire.retry_delay_ms.unwrap_or(0),
            error_status: wire.error_status,
        }]),
        ("system", Some("permission_denied")) => {
            Decoded::Events(vec![AgentEvent::PermissionDenied {
                tool_name: wire.tool_name.unwrap_or_default(),
                tool_use_id: wire.tool_use_id,
                message: wire
                    .message
                    .and_then(|m| serde_json::from_str::<String>(m.get()).ok()),
            }])
        }
        ("assistant" | "user", _) => {
            let mut events = Vec::with_capacity(1);
            match blocks(wire.message, &mut events) {
                Ok(()) => Decoded::Events(events),
                Err(e) => garbage(trimmed, format!("{} line: {e}", wire.kind)),
            }
        }
        ("result", _) => Decoded::Events(vec![AgentEvent::Result(TurnReport {
            subtype: subtype.unwrap_or("unknown").to_owned(),
            is_error: wire.is_error.unwrap_or(false),
            result: wire.result,
            cost_usd: wire.total_cost_usd,
            duration_ms: wire.duration_ms,
            duration_api_ms: wire.duration_api_ms,
            num_turns: wire.num_turns,
            terminal_reason: wire.terminal_reason,
            api_error_status: wire.api_error_status,
            errors: wire.errors.unwrap_or_default(),
            permission_denials: wire
                .permission_denials
                .unwrap_or_default()
                .into_iter()
                .map(|d| PermissionDenial {
                    tool_name: d.tool_name,
                    tool_use_id: d.tool_use_id,
                    tool_input: value(d.tool_input),
                })
                .collect(),
            session_id: wire.session_id,
        })]),
        ("control_request", _) => {
            let request_id = wire.request_id.unwrap_or_default();
            let Some(raw) = wire.request else {
                return garbage(trimmed, "control_request without request");
            };
            match serde_json::from_str::<WireControlRequest<'_>>(raw.get()) {
                Ok(r) if r.subtype == "can_use_tool" => {
                    Decoded::Control(Control::CanUseTool(Box::new(CanUseTool {
                        request_id,
                        tool_name: r.tool_name.unwrap_or_default(),
                        display_name: r.display_name,
                        input: value(r.input),
                        tool_use_id: r.tool_use_id,
                        description: r.description,
                        // A malformed list loses the suggestions, never the request.
                        permission_suggestions: r
                            .permission_suggestions
                            .and_then(|raw| {
                                serde_json::from_str::<Vec<PermissionSuggestion>>(raw.get()).ok()
                            })
                            .unwrap_or_default(),
                        blocked_path: r.blocked_path,
                        decision_reason_type: r.decision_reason_type,
                        server_policy_ask_only: r.server_policy_ask_only,
                    })))
                }
                Ok(r) => Decoded::Control(Control::Request {
                    request_id,
                    subtype: r.subtype.into_owned(),
                }),
                Err(e) => garbage(trimmed, format!("control_request: {e}")),
            }
        }
        ("control_response", _) => {
            let Some(raw) = wire.response else {
                return garbage(trimmed, "control_response without response");
            };
            match serde_json::from_str::<WireControlResponse<'_>>(raw.get()) {
                Ok(r) => Decoded::Control(Control::Response {
                    request_id: r.request_id,
                    result: if r.subtype == "success" {
                        Ok(r.response.and_then(|b| serde_json::from_str(b.get()).ok()))
                    } else {
                        Err(r.error.unwrap_or_else(|| r.subtype.into_owned()))
                    },
                }),
                Err(e) => garbage(trimmed, format!("control_response: {e}")),
            }
        }
        (kind, subtype) => other(kind, subtype, trimmed),
    }
}
