//! Every message Orchestra sends to Telegram parses under Telegram's HTML rules (the fake Bot
//! API's parser, `orchestra_tests::telegram_html`) and fits its limit, whatever the agent put
//! in the tool input: a property test over arbitrary Unicode, markup-like text, emoji, RTL
//! marks, NUL and inputs up to ~100 KB.

use chrono::{Duration, TimeZone, Utc};
use orchestra_domain::{
    ApprovalId, ApprovalKind, ApprovalRequest, ApprovalScope, ApprovalTimeoutPolicy,
    DecisionOutcome, NewApproval,
};
use orchestra_telegram::message::Message;
use orchestra_telegram::render;
use orchestra_tests::telegram_html;
use proptest::prelude::*;
use serde_json::json;

/// Pieces that break naive rendering, and any character at all.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<char>().prop_map(String::from),
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("&".to_owned()),
        Just("\"".to_owned()),
        Just("&amp;".to_owned()),
        Just("<b>".to_owned()),
        Just("</pre>".to_owned()),
        Just("😀".to_owned()),
        Just("👩‍👩‍👧".to_owned()),
        Just("\u{202e}שלום".to_owned()),
        Just("\0".to_owned()),
        Just("\u{1b}[31m".to_owned()),
        Just("\r\n".to_owned()),
    ]
}

/// Text of the pieces, the whole repeated up to `max_repeat` times (so some are ~100 KB).
fn text(max_pieces: usize, max_repeat: usize) -> impl Strategy<Value = String> {
    (prop::collection::vec(piece(), 0..max_pieces), 1..max_repeat)
        .prop_map(|(pieces, n)| pieces.concat().repeat(n))
}

fn accepted(what: &str, m: &Message) -> Result<(), TestCaseError> {
    let html = m.html();
    let parsed = telegram_html::parse(&html)
        .map_err(|e| TestCaseError::fail(format!("{what}: {e}\n{html}")))?;
    prop_assert_eq!(
        &parsed,
        &m.text(),
        "{}: the visible text is the plain fallback",
        what
    );
    telegram_html::check_text(&m.text())
        .map_err(|e| TestCaseError::fail(format!("{what} as plain text: {e}")))?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_message_parses_and_fits(
        input in text(60, 2000),
        tool in text(8, 40),
        description in text(20, 30),
        who in text(8, 30),
        reason in text(20, 400),
        rule in text(8, 60),
        kind in prop_oneof![Just(ApprovalKind::Live), Just(ApprovalKind::Denial), Just(ApprovalKind::Test)],
    ) {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let approval = ApprovalRequest::open(
            ApprovalId::new(),
            NewApproval {
                session_id: tool.clone(),
                agent_id: "claude-code".into(),
                tool_name: tool,
                tool_input: json!({"command": input.clone(), "content": input}),
                tool_use_id: None,
                kind,
                description: Some(description),
                session_rule: Some(rule.clone()),
                risk: Default::default(),
                working_directory: None,
                approvals_needed: 1,
            },
            now,
            now + Duration::minutes(30),
        );
        accepted("request", &render::pending(&approval))?;
        accepted("expiring", &render::expiring(&approval, now))?;
        for outcome in [DecisionOutcome::Approved, DecisionOutcome::Rejected, DecisionOutcome::Expired, DecisionOutcome::Cancelled] {
            let mut decided = approval.clone();
            let mut d = decided
                .decide(outcome, who.clone(), Some(reason.clone()), now, &ApprovalTimeoutPolicy::default())
                .unwrap();
            d.scope = ApprovalScope::Rule;
            d.grant = Some(orchestra_domain::GrantTerms {
                rule: rule.clone(),
                expires_at: Some(now + Duration::minutes(30)),
                revoked: None,
            });
            decided.apply(d);
            let m = render::decided(&decided);
            accepted("decided", &m)?;
            let word = match outcome {
                DecisionOutcome::Approved => "Approved",
                DecisionOutcome::Rejected => "Denied",
                DecisionOutcome::Expired => "Expired",
                DecisionOutcome::Cancelled => "Cancelled",
            };
            prop_assert!(m.text().contains(word), "the outcome always shows");
        }
    }
}
