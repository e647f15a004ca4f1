//! Unit tests of the line decoder and the stdout decoder on hand-written lines.

use crate::protocol::lines::RETAINED_CAPACITY;
use crate::protocol::*;

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
