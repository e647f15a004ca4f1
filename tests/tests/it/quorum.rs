//! Two approvers for a critical call (`approvals.critical_approvers`, 2 by default), with the
//! fake CLI and the fake Bot API, on both backends: one yes leaves the approval Pending and
//! the chat is told; the same approver again (in the chat or over REST) does not count; a
//! second, different approver decides it and the agent runs the call once; one no refuses it.

use std::time::Duration;

use orchestra_domain::Role;
use orchestra_tests::Backend;
use orchestra_tests::crash::wait_until;
use serde_json::{Value, json};

use crate::escalation::{
    ALICE, CHAT, fixture, message_for, tool_log, turn_result, wait_for_pending,
};

pub(crate) const BOB: i64 = 43;
const WAIT: Duration = Duration::from_secs(10);

async fn approval(app: &orchestra_tests::TestApp, id: &str) -> Value {
    app.get_json(&format!("/api/approvals/{id}")).await.1
}

async fn a_critical_call_needs_two_different_approvers(backend: Backend) {
    let allowed = format!("{ALICE},{BOB}");
    let f = fixture(
        backend,
        &[
            ("ORCHESTRA__POLICY__RULES", "ask:critical Bash(git push:*)"),
            ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", &allowed),
        ],
    )
    .await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"git push origin main"}"#)
        .await;
    let id = wait_for_pending(&f.app, &session).await;
    let asked = approval(&f.app, &id).await;
    assert_eq!(
        (asked["risk"].as_str(), asked["approvalsNeeded"].as_u64()),
        (Some("critical"), Some(2)),
        "{asked}"
    );
    f.tg.wait_for(WAIT, "the approval message", |t| {
        message_for(t, &id).is_some()
    })
    .await;
    let message =
        f.tg.sent()
            .into_iter()
            .find(|m| m.text.contains(&id))
            .unwrap();
    assert!(
        message.text.contains("<b>Needs:</b> 2 different approvers"),
        "{}",
        message.text
    );

    // Alice's yes counts once; it stays Pending and the chat is told.
    f.tg.press(&format!("a:{id}"), ALICE, "alice", CHAT, message.message_id);
    let voted = wait_until(WAIT, "alice's vote", || async {
        let a = approval(&f.app, &id).await;
        (a["votes"].as_array()?.len() == 1).then_some(a)
    })
    .await;
    assert_eq!(voted["status"], "Pending", "{voted}");
    assert_eq!(voted["votes"][0]["by"], format!("telegram:{ALICE}"));
    f.tg.wait_for(WAIT, "the vote reply", |t| {
        t.sent().iter().any(|m| {
            m.text.contains(&id) && m.text.contains("(1 of 2); 1 more approver must approve it")
        })
    })
    .await;
    f.tg.press(&format!("a:{id}"), ALICE, "alice", CHAT, message.message_id);
    f.tg.wait_for(WAIT, "the answer to alice's second press", |t| {
        t.answers().iter().any(|x| {
            x["text"]
                .as_str()
                .unwrap_or_default()
                .contains("You approved this already")
        })
    })
    .await;
    assert_eq!(
        approval(&f.app, &id).await["votes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        tool_log(f.home.path(), &session).is_empty(),
        "nothing ran on one yes"
    );

    // A different approver, over REST, decides it.
    let approver = f.app.client_as(Role::Approver).await;
    let res = approver
        .post(f.app.url(&format!("/api/approvals/{id}/approve")))
        .json(&json!({"approved": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let decided: Value = res.json().await.unwrap();
    assert_eq!(decided["status"], "Approved", "{decided}");
    assert!(
        decided["decidedBy"]
            .as_str()
            .unwrap()
            .ends_with(&format!("(after telegram:{ALICE})")),
        "{decided}"
    );
    assert_eq!(decided["votes"].as_array().unwrap().len(), 2, "{decided}");
    assert_eq!(
        turn_result(&f.app, &session, &turn).await["status"],
        "Completed"
    );
    assert_eq!(
        tool_log(f.home.path(), &session),
        vec![r#"ran Bash {"command":"git push origin main"}"#]
    );

    // The same key twice does not make two approvers; one no (Bob's) refuses it.
    let (_, turn) = f
        .app
        .send(&session, r#"ASK Bash {"command":"git push --force"}"#)
        .await;
    let second = wait_for_pending(&f.app, &session).await;
    let approve = || {
        approver
            .post(f.app.url(&format!("/api/approvals/{second}/approve")))
            .json(&json!({"approved": true}))
            .send()
    };
    let first: Value = approve().await.unwrap().json().await.unwrap();
    assert_eq!(first["status"], "Pending", "{first}");
    let again = approve().await.unwrap();
    assert_eq!(again.status(), 409);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["code"], "approval_already_voted", "{again}");
    f.tg.wait_for(WAIT, "the second message", |t| {
        message_for(t, &second).is_some()
    })
    .await;
    let m2 = message_for(&f.tg, &second).unwrap();
    f.tg.press(&format!("d:{second}"), BOB, "bob", CHAT, m2);
    let done = turn_result(&f.app, &session, &turn).await;
    assert!(
        done["result"].as_str().unwrap().starts_with("denied:"),
        "{done}"
    );
    assert_eq!(approval(&f.app, &second).await["status"], "Rejected");
    assert_eq!(
        tool_log(f.home.path(), &session).len(),
        1,
        "the refused push did not run"
    );

    let m = f.app.metrics_text().await;
    assert_eq!(
        orchestra_tests::counter(&m, "approval_votes_total"),
        3,
        "{m}"
    );
    let (_, audit) = f.app.get_json("/api/audit?pageSize=100").await;
    let votes = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "approval.vote")
        .count();
    assert_eq!(votes, 2, "two yeses that did not decide: {audit}");
    f.app.shutdown().await;
}

both_backends!(a_critical_call_needs_two_different_approvers);
