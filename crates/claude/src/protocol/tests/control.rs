//! The control protocol against the recordings: `can_use_tool` decoded whole, every stdin
//! line the recordings show produced by the encoder, and encode -> decode round trips.

use orchestra_application::ports::{AgentEvent, PermissionAnswer};
use serde_json::{Value, json};

use super::fixtures::*;
use crate::protocol::*;

#[test]
fn can_use_tool_keeps_its_permission_suggestions_and_extra_fields() {
    let r = can_use_tool("g1_control_allow");
    assert_eq!(r.request_id, "1134b0d1-c03e-4604-8149-8843cc8284d9");
    assert_eq!(
        (r.tool_name.as_str(), r.display_name.as_deref()),
        ("Bash", Some("Bash"))
    );
    assert_eq!(
        r.input,
        json!({"command": "echo hi > out.txt", "description": "Write hi to out.txt"})
    );
    assert_eq!(
        r.tool_use_id.as_deref(),
        Some("toolu_mock_b453bfbb2cb04243a2681f05")
    );
    assert_eq!(r.description.as_deref(), Some("Write hi to out.txt"));
    assert_eq!(
        r.blocked_path.as_deref(),
        Some("/scratch/proj/g1_control_allow/out.txt")
    );
    assert_eq!(
        r.permission_suggestions,
        vec![
            PermissionSuggestion::Known(KnownSuggestion::AddRules {
                rules: vec![PermissionRule {
                    tool_name: "Bash".into(),
                    rule_content: Some("echo hi *".into()),
                }],
                behavior: "allow".into(),
                destination: "localSettings".into(),
            }),
            PermissionSuggestion::Known(KnownSuggestion::AddDirectories {
                directories: vec!["/scratch/proj/g1_control_allow".into()],
                destination: "session".into(),
            }),
        ]
    );

    let write = can_use_tool("g8_control_write_tool_allow");
    assert_eq!(
        write.permission_suggestions,
        vec![PermissionSuggestion::Known(KnownSuggestion::SetMode {
            mode: "acceptEdits".into(),
            destination: "session".into(),
        })]
    );
    assert_eq!(write.server_policy_ask_only, Some(true));
    assert_eq!(write.description.as_deref(), Some("written.txt"));

    let long_job = can_use_tool("h_interrupt");
    assert!(long_job.permission_suggestions.is_empty(), "none sent");
    assert_eq!(
        long_job.decision_reason_type.as_deref(),
        Some("subcommandResults")
    );

    // The event view is the application's PermissionRequest.
    assert_eq!(
        r.clone().into_event(),
        AgentEvent::PermissionRequest {
            request_id: r.request_id.clone(),
            tool_name: "Bash".into(),
            input: r.input.clone(),
            tool_use_id: r.tool_use_id.clone(),
            description: r.description.clone(),
            // The allow rule only: the directory suggestion is not a rule.
            suggested_rules: vec!["Bash(echo hi *)".to_owned()],
        }
    );
    // Write suggests switching the mode: that is never a rule to grant.
    let AgentEvent::PermissionRequest {
        suggested_rules, ..
    } = write.clone().into_event()
    else {
        panic!("not a permission request");
    };
    assert!(suggested_rules.is_empty(), "{suggested_rules:?}");
}

#[test]
fn permission_suggestions_re_serialise_to_what_the_cli_sent() {
    for name in [
        "g1_control_allow",
        "g2_control_deny",
        "g8_control_write_tool_allow",
    ] {
        let line = case(name)
            .stdout
            .split(|b| *b == b'\n')
            .find(|l| l.starts_with(br#"{"type":"control_request""#))
            .unwrap();
        let raw: Value = serde_json::from_slice(line).unwrap();
        let sent = &raw["request"]["permission_suggestions"];
        let decoded = serde_json::to_value(can_use_tool(name).permission_suggestions).unwrap();
        assert_eq!(&decoded, sent, "{name}");
    }
    // An unknown shape, or a known one with an unknown field, is kept verbatim.
    let odd = json!([
        {"type": "replaceRules", "rules": [], "behavior": "deny", "destination": "session"},
        {"type": "setMode", "mode": "plan", "destination": "session", "why": "new field"}
    ]);
    let parsed: Vec<PermissionSuggestion> = serde_json::from_value(odd.clone()).unwrap();
    assert!(
        parsed
            .iter()
            .all(|s| matches!(s, PermissionSuggestion::Other(_)))
    );
    assert_eq!(serde_json::to_value(parsed).unwrap(), odd);
}

/// What Orchestra would write for each recorded stdin line, given what the CLI printed.
fn encode_like_the_recording(name: &str, recorded: &Value) -> Vec<u8> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let line = match (
        recorded["type"].as_str(),
        recorded["request"]["subtype"].as_str(),
    ) {
        (Some("user"), _) => Outbound::user_text(&s(&recorded["message"]["content"])).to_line(),
        (Some("control_request"), Some("initialize")) => {
            Outbound::initialize(&s(&recorded["request_id"])).to_line()
        }
        (Some("control_request"), Some("interrupt")) => {
            Outbound::interrupt(&s(&recorded["request_id"])).to_line()
        }
        (Some("control_response"), _) => {
            // Our answer goes to the request the CLI printed (a round trip through decode).
            let request = can_use_tool(name);
            let response = &recorded["response"];
            if response["subtype"] == "error" {
                Outbound::refusal(&request.request_id, &s(&response["error"])).to_line()
            } else {
                let decision = &response["response"];
                let answer = if decision["behavior"] == "allow" {
                    // The harness allowed with the requested input, as Orchestra does.
                    PermissionAnswer::Allow {
                        updated_input: decision.get("updatedInput").map(|_| request.input.clone()),
                    }
                } else {
                    PermissionAnswer::Deny {
                        message: s(&decision["message"]),
                        interrupt: decision["interrupt"] == true,
                    }
                };
                Outbound::permission(&request.request_id, &answer).to_line()
            }
        }
        other => panic!("{name}: unexpected stdin line {other:?}"),
    };
    line.unwrap()
}

#[test]
fn every_recorded_stdin_line_is_what_the_encoder_writes() {
    let mut seen = std::collections::BTreeSet::new();
    for c in cases() {
        let Some(stdin) = c.stdin else { continue };
        for recorded in stdin.lines() {
            let recorded: Value = serde_json::from_str(recorded).unwrap();
            let line = encode_like_the_recording(c.name, &recorded);
            assert_eq!(line.last(), Some(&b'\n'));
            assert!(!line[..line.len() - 1].contains(&b'\n'), "one line");
            let ours: Value = serde_json::from_slice(&line).unwrap();
            assert_eq!(ours, recorded, "{}", c.name);
            seen.insert(format!(
                "{}/{}",
                recorded["type"].as_str().unwrap_or_default(),
                recorded["request"]["subtype"]
                    .as_str()
                    .or(recorded["response"]["subtype"].as_str())
                    .or(recorded["response"]["response"]["behavior"].as_str())
                    .unwrap_or_default()
            ));
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            "control_request/initialize",
            "control_request/interrupt",
            "control_response/error",
            "control_response/success",
            "user/",
        ]
    );
}

#[test]
fn allow_without_updated_input_and_deny_with_interrupt_match_the_recordings() {
    let g5 = include_str!("../testdata/g5_control_allow_without_updatedInput.stdin");
    let recorded: Value = serde_json::from_str(g5.lines().nth(2).unwrap()).unwrap();
    let id = "032ec9b6-0692-48c8-9d6e-9fb2c87f96d3";
    let allow = PermissionAnswer::Allow {
        updated_input: None,
    };
    let ours: Value =
        serde_json::from_slice(&Outbound::permission(id, &allow).to_line().unwrap()).unwrap();
    assert_eq!(ours, recorded);

    let g6 = case("g6_control_deny_interrupt").stdin.unwrap();
    let recorded: Value = serde_json::from_str(g6.lines().nth(2).unwrap()).unwrap();
    assert_eq!(recorded["response"]["response"]["interrupt"], true);
    let deny = PermissionAnswer::Deny {
        message: "Denied by the test harness".into(),
        interrupt: true,
    };
    let ours = serde_json::to_value(Outbound::permission(
        "546af3ac-7074-48ac-92e8-fb89648d528a",
        &deny,
    ))
    .unwrap();
    assert_eq!(ours, recorded);
}

#[test]
fn encoded_messages_decode_back_where_the_protocol_is_symmetric() {
    let round = |m: Outbound<'_>| decode(&m.to_line().unwrap());
    assert_eq!(
        round(Outbound::interrupt("orc_7")),
        Decoded::Control(Control::Request {
            request_id: "orc_7".into(),
            subtype: "interrupt".into()
        })
    );
    assert_eq!(
        round(Outbound::initialize("orc_1")),
        Decoded::Control(Control::Request {
            request_id: "orc_1".into(),
            subtype: "initialize".into()
        })
    );
    assert_eq!(
        round(Outbound::refusal(
            "r1",
            "hook_callback is not supported by this host"
        )),
        Decoded::Control(Control::Response {
            request_id: "r1".into(),
            result: Err("hook_callback is not supported by this host".into()),
        })
    );
    let input = json!({"command": "echo modified > out.txt"});
    let allow = PermissionAnswer::Allow {
        updated_input: Some(input.clone()),
    };
    assert_eq!(
        round(Outbound::permission("r2", &allow)),
        Decoded::Control(Control::Response {
            request_id: "r2".into(),
            result: Ok(Some(json!({"behavior": "allow", "updatedInput": input}))),
        })
    );
    let deny = PermissionAnswer::Deny {
        message: "no".into(),
        interrupt: false,
    };
    assert_eq!(
        round(Outbound::permission("r3", &deny)),
        Decoded::Control(Control::Response {
            request_id: "r3".into(),
            result: Ok(Some(json!({"behavior": "deny", "message": "no"}))),
        })
    );
    assert_eq!(
        round(Outbound::user_text("héllo\nwörld")),
        Decoded::Events(vec![AgentEvent::Other {
            kind: "user_text".into(),
            subtype: None,
            raw: Value::String("héllo\nwörld".into()),
        }])
    );
    // The CLI's answers to our requests decode to what the waiters get.
    let first = decoded("h_interrupt");
    assert!(
        matches!(&first[0], Decoded::Control(Control::Response { request_id, result: Ok(Some(body)) })
        if request_id == "req_1_init" && body["claude_code_version"] == "2.1.328")
    );
    assert!(first.contains(&Decoded::Control(Control::Response {
        request_id: "req_2_interrupt".into(),
        result: Ok(Some(json!({"still_queued": []}))),
    })));
}
