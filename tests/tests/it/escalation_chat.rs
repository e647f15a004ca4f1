//! Escalation to a second chat (`telegram.escalation_chat_id`, `approvals.escalate_after_secs`)
//! with the fake CLI and the fake Bot API, on both backends: a `high` approval nobody decided
//! in time goes to the second chat with its buttons and the first message says so; a press
//! there decides it and both messages show the outcome; a `low` one is never escalated. A
//! `critical` one escalated still needs two different approvers (their presses count in
//! either chat), and one nobody decides is still denied at its deadline.

use std::time::Duration;

use orchestra_tests::Backend;
use orchestra_tests::fake_telegram::FakeTelegram;
use serde_json::{Value, json};

use crate::escalation::{ALICE, fixture, message_for, turn_result, wait_for_pending};

const SECOND_CHAT: i64 = -200_456;
const WAIT: Duration = Duration::from_secs(15);

fn in_second_chat(tg: &FakeTelegram, id: &str) -> Option<i64> {
    tg.sent()
        .iter()
        .find(|m| m.chat_id == SECOND_CHAT && m.text.contains(id))
        .map(|m| m.message_id)
}

fn edited(tg: &FakeTelegram, chat: i64, message: i64, words: &str) -> Option<Value> {
    tg.edits().into_iter().find(|e| {
        e["chat_id"] == chat
            && e["message_id"] == message
            && e["text"].as_str().unwrap_or_default().contains(words)
    })
}

async fn an_undecided_approval_goes_to_the_second_chat_which_may_decide_it(backend: Backend) {
    let second = SECOND_CHAT.to_string();
    let f = fixture(
        backend,
        &[
            ("ORCHESTRA__TELEGRAM__ESCALATION_CHAT_ID", &second),
            ("ORCHESTRA__APPROVALS__ESCALATE_AFTER_SECS", "1"),
            ("ORCHESTRA__APPROVALS__SWEEP_INTERVAL_SECS", "1"),
            ("ORCHESTRA__POLICY__RULES", "ask:low Bash(ls:*)"),
        ],
    )
    .await;
    // A low one first: older than any escalation below, and never escalated.
    let low_session = f.app.create_session(f.work.path(), json!({})).await;
    let _ = f
        .app
        .send(&low_session, r#"ASK Bash {"command":"ls -la"}"#)
        .await;
    let low = wait_for_pending(&f.app, &low_session).await;

    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"git push"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    f.tg.wait_for(WAIT, "the first message", |t| message_for(t, &id).is_some())
        .await;
    let first = message_for(&f.tg, &id).unwrap();
    f.tg.wait_for(WAIT, "the escalated message", |t| {
        in_second_chat(t, &id).is_some()
    })
    .await;
    let escalated =
        f.tg.sent()
            .into_iter()
            .find(|m| m.chat_id == SECOND_CHAT)
            .unwrap();
    assert!(escalated.text.contains("Escalated"), "{}", escalated.text);
    assert!(
        escalated.body["reply_markup"]
            .to_string()
            .contains(&format!("a:{id}")),
        "the second chat can decide: {}",
        escalated.body["reply_markup"]
    );
    f.tg.wait_for(WAIT, "the first message's note", |t| {
        edited(
            t,
            crate::escalation::CHAT,
            first,
            "sent to the escalation chat too",
        )
        .is_some()
    })
    .await;
    let note = edited(
        &f.tg,
        crate::escalation::CHAT,
        first,
        "sent to the escalation chat too",
    )
    .unwrap();
    assert!(
        note["reply_markup"]
            .to_string()
            .contains(&format!("d:{id}")),
        "its buttons stay: {note}"
    );

    // Alice decides in the second chat; both messages show it.
    f.tg.press(
        &format!("a:{id}"),
        ALICE,
        "alice",
        SECOND_CHAT,
        escalated.message_id,
    );
    assert_eq!(
        turn_result(&f.app, &session, &turn).await["status"],
        "Completed"
    );
    f.tg.wait_for(WAIT, "both messages to show the outcome", |t| {
        edited(t, crate::escalation::CHAT, first, "Approved").is_some()
            && edited(t, SECOND_CHAT, escalated.message_id, "Approved").is_some()
    })
    .await;

    // The low one was older than the high one when the high one was escalated, and is not.
    assert!(
        in_second_chat(&f.tg, &low).is_none(),
        "a low approval is not escalated"
    );
    let (_, a) = f.app.get_json(&format!("/api/approvals/{low}")).await;
    assert_eq!(
        (a["risk"].as_str(), a["status"].as_str()),
        (Some("low"), Some("Pending"))
    );
    let m = f.app.metrics_text().await;
    assert_eq!(
        orchestra_tests::counter(&m, "escalation_approvals_escalated_total{risk=\"high\"}"),
        1,
        "{m}"
    );
    assert_eq!(
        orchestra_tests::counter(&m, "escalation_approvals_escalated_total{risk=\"low\"}"),
        0
    );
    let (_, audit) = f.app.get_json("/api/audit?pageSize=100").await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "approval.escalate" && e["target"] == id.as_str()),
        "{audit}"
    );
    f.app.shutdown().await;
}

async fn a_critical_approval_escalated_needs_two_approvers_across_chats_and_expires_closed(
    backend: Backend,
) {
    use crate::quorum::BOB;
    let second = SECOND_CHAT.to_string();
    let allowed = format!("{ALICE},{BOB}");
    let f = fixture(
        backend,
        &[
            ("ORCHESTRA__TELEGRAM__ESCALATION_CHAT_ID", &second),
            ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", &allowed),
            ("ORCHESTRA__APPROVALS__ESCALATE_AFTER_SECS", "1"),
            ("ORCHESTRA__APPROVALS__SWEEP_INTERVAL_SECS", "1"),
            ("ORCHESTRA__APPROVALS__DEFAULT_TIMEOUT_SECS", "7"),
            ("ORCHESTRA__POLICY__RULES", "ask:critical Bash(git push:*)"),
        ],
    )
    .await;
    let escalated = |id: &str| {
        let id = id.to_owned();
        let tg = &f.tg;
        async move {
            tg.wait_for(WAIT, "the escalated message", |t| {
                in_second_chat(t, &id).is_some()
            })
            .await;
            in_second_chat(tg, &id).unwrap()
        }
    };

    // Alice approves in the first chat, Bob in the second: two approvers, one decision.
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"git push --force"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    let in_second = escalated(&id).await;
    let first = message_for(&f.tg, &id).unwrap();
    f.tg.press(
        &format!("a:{id}"),
        ALICE,
        "alice",
        crate::escalation::CHAT,
        first,
    );
    f.app
        .wait_for_json(&format!("/api/approvals/{id}"), WAIT, |a| {
            a["votes"].as_array().is_some_and(|v| v.len() == 1)
        })
        .await;
    f.tg.press(&format!("a:{id}"), BOB, "bob", SECOND_CHAT, in_second);
    let done = turn_result(&f.app, &session, &turn).await;
    assert_eq!(done["status"], "Completed", "{done}");
    let (_, a) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(
        (a["status"].as_str(), a["votes"].as_array().map(Vec::len)),
        (Some("Approved"), Some(2)),
        "{a}"
    );
    assert_eq!(
        crate::escalation::tool_log(f.home.path(), &session),
        vec![r#"ran Bash {"command":"git push --force"}"#]
    );

    // Escalated, and nobody decides: the deadline denies it, and both chats are told.
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"git push origin"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    let in_second = escalated(&id).await;
    let first = message_for(&f.tg, &id).unwrap();
    let done = turn_result(&f.app, &session, &turn).await;
    assert!(
        done["result"].as_str().unwrap().starts_with("denied:"),
        "fail-closed at the deadline: {done}"
    );
    assert_eq!(
        f.app.get_json(&format!("/api/approvals/{id}")).await.1["status"],
        "Expired"
    );
    f.tg.wait_for(WAIT, "both messages to show the expiry", |t| {
        edited(t, crate::escalation::CHAT, first, "Expired").is_some()
            && edited(t, SECOND_CHAT, in_second, "Expired").is_some()
    })
    .await;
    assert_eq!(
        crate::escalation::tool_log(f.home.path(), &session).len(),
        1,
        "the expired push did not run"
    );
    let m = f.app.metrics_text().await;
    assert_eq!(
        orchestra_tests::counter(
            &m,
            "escalation_approvals_escalated_total{risk=\"critical\"}"
        ),
        2,
        "{m}"
    );
    f.app.shutdown().await;
}

both_backends!(
    an_undecided_approval_goes_to_the_second_chat_which_may_decide_it,
    a_critical_approval_escalated_needs_two_approvers_across_chats_and_expires_closed,
);
