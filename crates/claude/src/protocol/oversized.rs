//! A control request on a line too long to decode whole must still be answered: the CLI
//! waits for the answer, and a `can_use_tool` left unanswered hangs the turn. The CLI writes
//! `type`, `request_id` and `request.subtype` first, so they are read from the line's head.

use orchestra_application::ports::AgentEvent;

use super::skim::STRING_KEEP;
use super::{Control, Decoded, decode};

/// A control request known only by its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversizedRequest {
    /// The CLI's request id.
    pub request_id: String,
    /// Whether it is a `can_use_tool` request (answered with a denial) rather than another
    /// request (answered with an error).
    pub can_use_tool: bool,
    /// The tool, when the skim told.
    pub tool_name: Option<String>,
    /// Its `tool_use_id`, when the skim told.
    pub tool_use_id: Option<String>,
}

/// What a line over the limit means: read from its skim when there is one (a control request
/// becomes [`Control::Oversized`], to be answered without asking; other messages keep their
/// small fields and come with a report), else from its head.
pub fn too_long(len: usize, head: &[u8], skimmed: Option<&[u8]>, limit: usize) -> Decoded {
    let preview = String::from_utf8_lossy(head).into_owned();
    let oversized = |request| {
        Decoded::Control(Control::Oversized {
            request,
            len,
            limit,
            preview: preview.clone(),
        })
    };
    let report = |how: &str| AgentEvent::Garbage {
        preview: preview.clone(),
        reason: format!("line of {len} bytes is over the {limit}-byte limit{how}"),
    };
    match skimmed.map(decode) {
        Some(Decoded::Control(Control::CanUseTool(c))) => oversized(OversizedRequest {
            request_id: c.request_id,
            can_use_tool: true,
            tool_name: Some(c.tool_name),
            tool_use_id: c.tool_use_id,
        }),
        Some(Decoded::Control(Control::Request { request_id, .. })) => {
            oversized(OversizedRequest {
                request_id,
                can_use_tool: false,
                tool_name: None,
                tool_use_id: None,
            })
        }
        Some(Decoded::Events(mut events))
            if !events
                .iter()
                .any(|e| matches!(e, AgentEvent::Garbage { .. })) =>
        {
            // The report first: a result ends the turn, and what explains it comes before.
            events.insert(
                0,
                report(&format!(
                    "; read with every string cut to {STRING_KEEP} bytes"
                )),
            );
            Decoded::Events(events)
        }
        Some(d @ Decoded::Control(Control::Response { .. })) => d,
        _ => match oversized_request(head) {
            Some(request) => oversized(request),
            None => Decoded::Events(vec![report("")]),
        },
    }
}

/// The control request whose line starts with `head`, if it is one.
pub fn oversized_request(head: &[u8]) -> Option<OversizedRequest> {
    let head = std::str::from_utf8(head).unwrap_or_else(|e| {
        // The head was cut at a byte count, perhaps inside a character.
        std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
    });
    let head = head.trim_start();
    if !head.starts_with('{') || string_field(head, "type")? != "control_request" {
        return None;
    }
    let request_id = string_field(head, "request_id")?;
    let valid = !request_id.is_empty()
        && request_id.len() <= 128
        && request_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return None;
    }
    Some(OversizedRequest {
        request_id: request_id.to_owned(),
        can_use_tool: string_field(head, "subtype") == Some("can_use_tool"),
        tool_name: None,
        tool_use_id: None,
    })
}

/// The first `"name":"value"` in `text` (compact JSON, as the CLI writes it; a value with an
/// escape is not read).
fn string_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":");
    let at = text.find(&key)? + key.len();
    let rest = text[at..].trim_start().strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_can_use_tool_head_gives_its_request_id() {
        let head = br#"{"type":"control_request","request_id":"b53e4edb-4b57-4e4b-9d10-48cc7fb6b926","request":{"subtype":"can_use_tool","tool_name":"Write","input":{"content":"aaaa"#;
        assert_eq!(
            oversized_request(head),
            Some(OversizedRequest {
                request_id: "b53e4edb-4b57-4e4b-9d10-48cc7fb6b926".into(),
                can_use_tool: true,
                tool_name: None,
                tool_use_id: None,
            })
        );
    }

    #[test]
    fn other_requests_and_other_lines_are_told_apart() {
        let hook = br#"{"type":"control_request","request_id":"r-1","request":{"subtype":"hook_callback","input":"#;
        assert_eq!(
            oversized_request(hook),
            Some(OversizedRequest {
                request_id: "r-1".into(),
                can_use_tool: false,
                tool_name: None,
                tool_use_id: None,
            })
        );
        assert_eq!(
            oversized_request(br#"{"type":"assistant","message":{"content":"#),
            None
        );
        assert_eq!(oversized_request(b"hhhhhhhh"), None);
        assert_eq!(
            oversized_request(br#"{"type":"control_request","request_id":"a\"b","#),
            None
        );
        assert_eq!(
            oversized_request(br#"{"type":"control_request","request_id":"#),
            None
        );
        // A head cut inside a multi-byte character still reads.
        let mut cut = r#"{"type":"control_request","request_id":"x","request":{"subtype":"can_use_tool","input":"é"#.as_bytes().to_vec();
        cut.pop();
        assert!(oversized_request(&cut).is_some_and(|r| r.can_use_tool));
    }

    fn skimmed(line: &str) -> Vec<u8> {
        let mut skim = crate::protocol::skim::Skim::new();
        skim.feed(line.as_bytes());
        skim.finish().unwrap()
    }

    #[test]
    fn a_huge_result_still_ends_the_turn_with_its_cost() {
        // Keys in the order of a recorded result: `type` after the huge denial.
        let big = "x".repeat(100_000);
        let line = format!(
            r#"{{"total_cost_usd":0.25,"permission_denials":[{{"tool_name":"Write","tool_use_id":"t1","tool_input":{{"content":"{big}"}}}}],"is_error":false,"num_turns":2,"subtype":"success","result":"done","type":"result","duration_ms":5}}"#
        );
        let Decoded::Events(events) = too_long(
            line.len(),
            &line.as_bytes()[..512],
            Some(&skimmed(&line)),
            1000,
        ) else {
            panic!("events expected");
        };
        let AgentEvent::Result(report) = &events[1] else {
            panic!("{events:?}");
        };
        assert_eq!(report.result.as_deref(), Some("done"));
        assert_eq!(report.permission_denials.len(), 1);
        assert!(
            matches!(&events[0], AgentEvent::Garbage { reason, .. } if reason.contains("every string cut"))
        );
    }

    #[test]
    fn a_huge_can_use_tool_is_known_from_its_skim_whatever_the_key_order() {
        let big = "x".repeat(100_000);
        let line = format!(
            r#"{{"request":{{"input":{{"content":"{big}"}},"tool_name":"Write","subtype":"can_use_tool"}},"request_id":"r-9","type":"control_request"}}"#
        );
        let d = too_long(
            line.len(),
            &line.as_bytes()[..512],
            Some(&skimmed(&line)),
            1000,
        );
        assert!(
            matches!(&d, Decoded::Control(Control::Oversized { request, len, .. }) if request.request_id == "r-9" && request.can_use_tool && *len == line.len()),
            "{d:?}"
        );
        // Without a skim, the head is all there is: here it does not say.
        let d = too_long(line.len(), &line.as_bytes()[..512], None, 1000);
        assert!(
            matches!(&d, Decoded::Events(e) if matches!(&e[0], AgentEvent::Garbage { .. })),
            "{d:?}"
        );
    }
}
