//! The recorded transcripts (`testdata/`, see its README) and helpers to decode them.

use orchestra_application::ports::{AgentEvent, TurnReport};

use crate::protocol::*;

/// A recorded stdout and, for the cases that wrote to stdin, the lines written.
pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) stdout: &'static [u8],
    pub(super) stdin: Option<&'static str>,
}

macro_rules! case {
    ($name:literal) => {
        Case {
            name: $name,
            stdout: include_bytes!(concat!("../testdata/", $name, ".stdout")),
            stdin: None,
        }
    };
    ($name:literal, stdin) => {
        Case {
            name: $name,
            stdout: include_bytes!(concat!("../testdata/", $name, ".stdout")),
            stdin: Some(include_str!(concat!("../testdata/", $name, ".stdin"))),
        }
    };
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        case!("b_stream_json_plain"),
        case!("b3_stream_json_partial"),
        case!("c_denied_bash"),
        case!("f3_session_state_events", stdin),
        case!("g1_control_allow", stdin),
        case!("g2_control_deny", stdin),
        case!("g6_control_deny_interrupt", stdin),
        case!("g7_control_error_response", stdin),
        case!("g8_control_write_tool_allow", stdin),
        case!("g9_stream_json_without_permission_prompt_tool"),
        case!("h_interrupt", stdin),
        case!("i_http_500_stream_json"),
        case!("i_unknown_resume_stream_json"),
    ]
}

pub(super) fn case(name: &str) -> Case {
    cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

/// Every line of a recording, decoded in full fidelity, fed through the line decoder in
/// reads of `chunk` bytes.
pub(super) fn decode_stream(stdout: &[u8], chunk: usize) -> Vec<Decoded> {
    let mut decoder = LineDecoder::new(1024 * 1024);
    let mut out = Vec::new();
    let mut on_line = |line: Line<'_>| match line {
        Line::Complete(b) => out.push(decode(b)),
        Line::TooLong { len, .. } => panic!("a recorded line of {len} bytes is too long"),
    };
    for c in stdout.chunks(chunk) {
        decoder.push(c, &mut on_line);
    }
    decoder.finish(&mut on_line);
    out.retain(|d| *d != Decoded::Nothing);
    out
}

pub(super) fn decoded(name: &str) -> Vec<Decoded> {
    decode_stream(case(name).stdout, 64 * 1024)
}

/// A short label per decoded line, to compare whole recordings at a glance.
pub(super) fn label(d: &Decoded) -> String {
    match d {
        Decoded::Nothing => "nothing".into(),
        Decoded::Control(Control::Response { result: Ok(_), .. }) => "response".into(),
        Decoded::Control(Control::Response { result: Err(_), .. }) => "response_error".into(),
        Decoded::Control(Control::CanUseTool(_)) => "can_use_tool".into(),
        Decoded::Control(Control::Request { subtype, .. }) => format!("request:{subtype}"),
        Decoded::Control(Control::Oversized { .. }) => "oversized".into(),
        Decoded::Events(events) => events
            .iter()
            .map(|e| match e {
                AgentEvent::Other {
                    kind,
                    subtype: Some(s),
                    ..
                } => format!("other:{kind}/{s}"),
                AgentEvent::Other { kind, .. } => format!("other:{kind}"),
                AgentEvent::Result(r) => format!("result:{}", r.subtype),
                e => e.kind().to_owned(),
            })
            .collect::<Vec<_>>()
            .join("+"),
    }
}

pub(super) fn labels(name: &str) -> Vec<String> {
    decoded(name).iter().map(label).collect()
}

pub(super) fn events(name: &str) -> Vec<AgentEvent> {
    decoded(name)
        .into_iter()
        .flat_map(|d| match d.into_event_view() {
            Decoded::Events(e) => e,
            _ => Vec::new(),
        })
        .collect()
}

pub(super) fn results(name: &str) -> Vec<TurnReport> {
    events(name)
        .into_iter()
        .filter_map(|e| match e {
            AgentEvent::Result(r) => Some(r),
            _ => None,
        })
        .collect()
}

pub(super) fn can_use_tool(name: &str) -> CanUseTool {
    decoded(name)
        .into_iter()
        .find_map(|d| match d {
            Decoded::Control(Control::CanUseTool(r)) => Some(*r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} has no can_use_tool request"))
}
