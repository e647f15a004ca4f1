//! The stream-json codec: bytes from the CLI's stdout become lines, lines become
//! [`AgentEvent`]s and control messages.
//!
//! Robust by construction: lines split across reads are joined; a UTF-8 character split
//! across reads is never a problem because lines are cut at `\n` bytes (which never occur
//! inside a multi-byte character) and decoded whole; lines longer than the limit are skipped
//! without being buffered (reported once as garbage); unknown types and subtypes are kept
//! as [`AgentEvent::Other`]; lines that are not JSON are [`AgentEvent::Garbage`], never fatal.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use orchestra_application::ports::{AgentEvent, PermissionDenial, TurnReport};

/// One line out of the decoder.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line (without the `\n`).
    Complete(&'a [u8]),
    /// A line longer than the limit was skipped; `len` bytes were dropped.
    TooLong {
        /// Bytes dropped.
        len: usize,
        /// Its first bytes.
        head: Vec<u8>,
    },
}

/// Buffer capacity a decoder keeps between lines; a larger one (left by a huge line) is
/// given back.
const RETAINED_CAPACITY: usize = 1024 * 1024;

/// Splits a byte stream into lines, with a bound on line length.
#[derive(Debug)]
pub struct LineDecoder {
    buf: Vec<u8>,
    max_line: usize,
    skipping: Option<(usize, Vec<u8>)>,
}

impl LineDecoder {
    /// A decoder refusing lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_line: max_line.max(1),
            skipping: None,
        }
    }

    /// Feeds a chunk; `on_line` gets every line completed by it.
    pub fn push(&mut self, mut chunk: &[u8], mut on_line: impl FnMut(Line<'_>)) {
        while !chunk.is_empty() {
            let newline = memchr::memchr(b'\n', chunk);
            if let Some((dropped, head)) = &mut self.skipping {
                match newline {
                    Some(i) => {
                        let len = *dropped + i;
                        let head = std::mem::take(head);
                        self.skipping = None;
                        on_line(Line::TooLong { len, head });
                        chunk = &chunk[i + 1..];
                    }
                    None => {
                        *dropped += chunk.len();
                        return;
                    }
                }
                continue;
            }
            match newline {
                Some(i) => {
                    if self.buf.is_empty() {
                        // The common case: a whole line inside one read, no copy.
                        if i > self.max_line {
                            on_line(Line::TooLong {
                                len: i,
                                head: chunk[..i.min(200)].to_vec(),
                            });
                        } else {
                            on_line(Line::Complete(&chunk[..i]));
                        }
                    } else if self.buf.len() + i > self.max_line {
                        let head = self.buf[..self.buf.len().min(200)].to_vec();
                        let len = self.buf.len() + i;
                        self.buf.clear();
                        on_line(Line::TooLong { len, head });
                    } else {
                        self.buf.extend_from_slice(&chunk[..i]);
                        on_line(Line::Complete(&self.buf));
                        self.buf.clear();
                        if self.buf.capacity() > RETAINED_CAPACITY {
                            // One huge line must not pin its memory for the process's life.
                            self.buf = Vec::new();
                        }
                    }
                    chunk = &chunk[i + 1..];
                }
                None => {
                    if self.buf.len() + chunk.len() > self.max_line {
                        let dropped = self.buf.len() + chunk.len();
                        // Give back the memory of a huge partial line.
                        let mut head = std::mem::take(&mut self.buf);
                        head.extend_from_slice(&chunk[..chunk.len().min(200)]);
                        head.truncate(200);
                        self.skipping = Some((dropped, head));
                    } else {
                        self.buf.extend_from_slice(chunk);
                    }
                    return;
                }
            }
        }
    }

    /// Bytes of buffer capacity held (for tests of memory behaviour).
    pub fn retained(&self) -> usize {
        self.buf.capacity()
    }

    /// Whatever is left at end of stream (a last line without `\n`).
    pub fn finish(&mut self, mut on_line: impl FnMut(Line<'_>)) {
        if let Some((len, head)) = self.skipping.take() {
            on_line(Line::TooLong { len, head });
        } else if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            on_line(Line::Complete(&rest));
        }
    }

    /// Bytes held for an incomplete line.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// A control message from the CLI, handled by the process adapter.
#[derive(Debug, PartialEq)]
pub enum Control {
    /// An answer to one of our control requests.
    Response {
        /// Our request id.
        request_id: String,
        /// `Ok(body)` or `Err(message)`.
        result: Result<Option<Value>, String>,
    },
    /// A request from the CLI that is not `can_use_tool` (hooks, MCP, ...).
    Request {
        /// Its id.
        request_id: String,
        /// Its subtype.
        subtype: String,
    },
}

/// What one line means.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// Nothing (a blank line).
    Nothing,
    /// Events for the session.
    Events(Vec<AgentEvent>),
    /// A control message.
    Control(Control),
}

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

/// Decodes one line of the CLI's stdout.
pub fn decode_line(line: &[u8]) -> Decoded {
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
                    Decoded::Events(vec![AgentEvent::PermissionRequest {
                        request_id,
                        tool_name: r.tool_name.unwrap_or_default(),
                        input: value(r.input),
                        tool_use_id: r.tool_use_id,
                        description: r.description,
                    }])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(decoder: &mut LineDecoder, chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, usize>> {
        let mut out = Vec::new();
        for c in chunks {
            decoder.push(c, |l| match l {
                Line::Complete(b) => out.push(Ok(b.to_vec())),
                Line::TooLong { len, .. } => out.push(Err(len)),
            });
        }
        decoder.finish(|l| match l {
            Line::Complete(b) => out.push(Ok(b.to_vec())),
            Line::TooLong { len, .. } => out.push(Err(len)),
        });
        out
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut d = LineDecoder::new(1024);
        let got = lines(&mut d, &[b"{\"a\":", b"1}\n{\"b\"", b":2}\n", b"tail"]);
        assert_eq!(
            got,
            vec![
                Ok(b"{\"a\":1}".to_vec()),
                Ok(b"{\"b\":2}".to_vec()),
                Ok(b"tail".to_vec())
            ]
        );
    }

    #[test]
    fn a_utf8_character_split_across_reads_survives() {
        let line = "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"héllo → 日本\"}]}}\n";
        let bytes = line.as_bytes();
        let cut = line.find('日').unwrap() + 1; // inside the 3-byte character
        let mut d = LineDecoder::new(1024);
        let mut events = Vec::new();
        for chunk in [&bytes[..cut], &bytes[cut..]] {
            d.push(chunk, |l| {
                if let Line::Complete(b) = l {
                    events.push(decode_line(b));
                }
            });
        }
        assert_eq!(
            events,
            vec![Decoded::Events(vec![AgentEvent::AssistantText {
                text: "héllo → 日本".into()
            }])]
        );
    }

    #[test]
    fn an_overlong_line_is_skipped_without_buffering_it_and_the_next_line_survives() {
        let mut d = LineDecoder::new(10);
        let big = vec![b'x'; 5000];
        let got = lines(&mut d, &[&big[..3000], &big[3000..], b"\n{\"ok\":1}\n"]);
        assert_eq!(got, vec![Err(5000), Ok(b"{\"ok\":1}".to_vec())]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn lines_over_a_megabyte_are_fine_under_a_larger_limit() {
        let text = "a".repeat(3 * 1024 * 1024);
        let line = format!(
            "{{\"type\":\"assistant\",\"message\":{{\"content\":[{{\"type\":\"text\",\"text\":\"{text}\"}}]}}}}\n"
        );
        let mut d = LineDecoder::new(16 * 1024 * 1024);
        let mut n = 0;
        for chunk in line.as_bytes().chunks(65536) {
            d.push(chunk, |l| {
                if let Line::Complete(b) = l
                    && let Decoded::Events(ev) = decode_line(b) {
                        assert!(matches!(&ev[0], AgentEvent::AssistantText { text } if text.len() == 3 * 1024 * 1024));
                        n += 1;
                    }
            });
        }
        assert_eq!(n, 1);
        assert!(
            d.retained() <= RETAINED_CAPACITY,
            "a huge line's buffer is given back: {} bytes kept",
            d.retained()
        );
    }

    #[test]
    fn garbage_and_unknown_types_are_reported_not_dropped() {
        assert!(
            matches!(decode_line(b"not json at all"), Decoded::Events(ref e) if matches!(e[0], AgentEvent::Garbage { .. }))
        );
        assert!(
            matches!(decode_line(&[0xff, 0xfe]), Decoded::Events(ref e) if matches!(e[0], AgentEvent::Garbage { .. }))
        );
        assert_eq!(decode_line(b"   "), Decoded::Nothing);
        let Decoded::Events(e) = decode_line(br#"{"type":"brand_new","x":1}"#) else {
            panic!()
        };
        assert_eq!(
            e[0],
            AgentEvent::Other {
                kind: "brand_new".into(),
                subtype: None,
                raw: serde_json::json!({"type":"brand_new","x":1})
            }
        );
        let Decoded::Events(e) =
            decode_line(br#"{"type":"system","subtype":"session_state_changed","state":"idle"}"#)
        else {
            panic!()
        };
        assert!(
            matches!(&e[0], AgentEvent::Other { kind, subtype: Some(s), .. } if kind == "system" && s == "session_state_changed")
        );
        let Decoded::Events(e) = decode_line(br#"[1,2,3]"#) else {
            panic!()
        };
        assert!(matches!(&e[0], AgentEvent::Other { kind, .. } if kind == "unknown"));
    }

    #[test]
    fn a_result_line_from_the_real_cli_is_understood() {
        let line = br#"{"duration_api_ms":26,"stop_reason":"end_turn","session_id":"3d3c","total_cost_usd":0.050532,"usage":{"input_tokens":12543},"modelUsage":{},"permission_denials":[{"tool_name":"Bash","tool_use_id":"toolu_1","tool_input":{"command":"echo hi > out.txt"}}],"terminal_reason":"completed","is_error":false,"num_turns":2,"subtype":"success","api_error_status":null,"result":"Done.","type":"result","duration_ms":122}"#;
        let Decoded::Events(e) = decode_line(line) else {
            panic!()
        };
        let AgentEvent::Result(r) = &e[0] else {
            panic!("{e:?}")
        };
        assert_eq!(r.subtype, "success");
        assert!(!r.is_error);
        assert_eq!(r.cost_usd, Some(0.050532));
        assert_eq!(
            (r.duration_ms, r.num_turns, r.api_error_status),
            (Some(122), Some(2), None)
        );
        assert_eq!(
            r.permission_denials[0].tool_input,
            serde_json::json!({"command": "echo hi > out.txt"})
        );
        let api_error = br#"{"type":"result","subtype":"success","is_error":true,"api_error_status":500,"result":"API Error: 500"}"#;
        let Decoded::Events(e) = decode_line(api_error) else {
            panic!()
        };
        assert!(
            matches!(&e[0], AgentEvent::Result(r) if r.is_error && r.api_error_status == Some(500))
        );
    }

    #[test]
    fn tool_use_tool_result_and_control_messages_are_understood() {
        let Decoded::Events(e) = decode_line(br#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]}}"#) else { panic!() };
        assert_eq!(
            e[0],
            AgentEvent::ToolUse {
                id: "t1".into(),
                name: "Bash".into(),
                input: serde_json::json!({"command":"ls"})
            }
        );
        let Decoded::Events(e) = decode_line(br#"{"type":"user","message":{"role":"user","content":[{"tool_use_id":"t1","type":"tool_result","content":"(Bash completed with no output)","is_error":false}]}}"#) else { panic!() };
        assert_eq!(
            e[0],
            AgentEvent::ToolResult {
                tool_use_id: "t1".into(),
                content: "(Bash completed with no output)".into(),
                is_error: false
            }
        );
        let Decoded::Events(e) = decode_line(br#"{"type":"control_request","request_id":"r1","request":{"subtype":"can_use_tool","tool_name":"Bash","display_name":"Bash","input":{"command":"echo hi > out.txt"},"tool_use_id":"t2","description":"Write hi"}}"#) else { panic!() };
        assert!(
            matches!(&e[0], AgentEvent::PermissionRequest { request_id, tool_name, .. } if request_id == "r1" && tool_name == "Bash")
        );
        assert_eq!(
            decode_line(br#"{"type":"control_response","response":{"subtype":"success","request_id":"orc_1","response":{"still_queued":[]}}}"#),
            Decoded::Control(Control::Response { request_id: "orc_1".into(), result: Ok(Some(serde_json::json!({"still_queued": []}))) })
        );
        assert_eq!(
            decode_line(br#"{"type":"control_response","response":{"subtype":"error","request_id":"orc_2","error":"nope"}}"#),
            Decoded::Control(Control::Response { request_id: "orc_2".into(), result: Err("nope".into()) })
        );
        assert_eq!(
            decode_line(br#"{"type":"control_request","request_id":"h1","request":{"subtype":"hook_callback"}}"#),
            Decoded::Control(Control::Request { request_id: "h1".into(), subtype: "hook_callback".into() })
        );
    }
}
