//! Grants with the fake CLI and the fake Bot API, on both backends: a timed grant made with
//! the chat's button answers the calls its rule covers and no others, is listed, and stops
//! at once when revoked (a second revocation is refused); a rule the approver names over
//! REST expires on time; a non-grantable rule is refused with the field named; the roles.

use std::time::Duration;

use orchestra_domain::Role;
use orchestra_tests::Backend;
use orchestra_tests::crash::wait_until;
use serde_json::{Value, json};

use crate::escalation::{
    ALICE, CHAT, Fixture, asked_npm_test, deny, fixture, message_for, tool_log, turn_result,
};

async fn grants(f: &Fixture, session: &str) -> Vec<Value> {
    let (status, body) = f
        .app
        .get_json(&format!("/api/sessions/{session}/grants"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

/// Sends `command` as a Bash call: the finished turn when nobody is asked, else the id of
/// the Pending approval a human is asked.
async fn bash(f: &Fixture, session: &str, command: &str) -> Result<Value, String> {
    let (_, turn) = f
        .app
        .send(
            session,
            &format!("ASK Bash {}", json!({ "command": command })),
        )
        .await;
    let turn_path = format!(
        "/api/sessions/{session}/turns/{}",
        turn["id"].as_str().unwrap()
    );
    let pending = format!("/api/approvals?sessionId={session}&status=Pending");
    wait_until(
        Duration::from_secs(15),
        "the turn to end or a human to be asked",
        || async {
            let (_, t) = f.app.get_json(&turn_path).await;
            if t["status"] != "Running" {
                return Some(Ok(t));
            }
            let (_, list) = f.app.get_json(&pending).await;
            list["items"][0]["id"].as_str().map(|id| Err(id.to_owned()))
        },
    )
    .await
}

fn counter(metrics: &str, series: &str) -> u64 {
    orchestra_tests::counter(metrics, series)
}

async fn a_timed_grant_from_the_chat_answers_its_calls_until_it_is_revoked(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let (session, turn, id) = asked_npm_test(&f).await;
    f.tg.wait_for(Duration::from_secs(5), "the approval message", |t| {
        message_for(t, &id).is_some()
    })
    .await;
    let message =
        f.tg.sent()
            .into_iter()
            .find(|m| m.text.contains(&id))
            .unwrap();
    let markup = message.body["reply_markup"].to_string();
    assert!(
        markup.contains("Allow Bash(npm test:*) for 30 min")
            && markup.contains(&format!("t30:{id}")),
        "the timed button names the rule and the minutes: {markup}"
    );
    f.tg.press(
        &format!("t30:{id}"),
        ALICE,
        "alice",
        CHAT,
        message.message_id,
    );
    assert_eq!(
        turn_result(&f.app, &session, &turn).await["status"],
        "Completed"
    );

    let (_, decided) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(decided["scope"], "Rule", "{decided}");
    assert_eq!(decided["grant"]["rule"], "Bash(npm test:*)", "{decided}");
    let decided_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(decided["decidedAt"].clone()).unwrap();
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(decided["grant"]["expiresAt"].clone()).unwrap();
    assert_eq!(until - decided_at, chrono::Duration::minutes(30));
    let listed = grants(&f, &session).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["state"], "active");
    assert_eq!(listed[0]["rule"], "Bash(npm test:*)");
    assert!(
        listed[0]["grantedBy"]
            .as_str()
            .unwrap()
            .contains(&ALICE.to_string()),
        "{listed:?}"
    );
    // The chat's message says what was granted and until when.
    f.tg.wait_for(Duration::from_secs(5), "the decided message", |t| {
        t.edits().iter().any(|e| {
            let text = e["text"].as_str().unwrap_or_default();
            text.contains(&id) && text.contains("Bash(npm test:*) allowed until")
        })
    })
    .await;

    // Covered: runs with nobody asked. Not covered (chained): asked.
    let ran = bash(&f, &session, "npm test -- -u")
        .await
        .expect("no human asked");
    assert_eq!(
        ran["result"], r#"tool ran: {"command":"npm test -- -u"}"#,
        "{ran}"
    );
    let asked = bash(&f, &session, "npm test; rm -rf ~")
        .await
        .expect_err("asked");
    deny(&f.app, &asked).await;

    // Revoked: the next covered call asks again. Revoking twice is refused.
    let viewer = f.app.client_as(Role::Viewer).await;
    let path = format!("/api/sessions/{session}/grants/{id}");
    let res = viewer.delete(f.app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), 403, "a viewer may not revoke");
    let approver = f.app.client_as(Role::Approver).await;
    let res = approver.delete(f.app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let revoked: Value = res.json().await.unwrap();
    assert_eq!(revoked["state"], "revoked", "{revoked}");
    assert!(revoked["revokedBy"].is_string(), "{revoked}");
    let (status, again) = f.app.delete_json(&path).await;
    assert_eq!(status, 409, "{again}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already revoked"),
        "{again}"
    );
    let (status, _) = f
        .app
        .delete_json(&format!(
            "/api/sessions/{session}/grants/{}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(status, 404);

    let asked = bash(&f, &session, "npm test -- -u")
        .await
        .expect_err("asked again");
    deny(&f.app, &asked).await;
    assert_eq!(
        tool_log(f.home.path(), &session),
        vec![
            r#"ran Bash {"command":"npm test"}"#,
            r#"ran Bash {"command":"npm test -- -u"}"#
        ],
        "only the decided call and the one the live grant covered ran"
    );
    assert_eq!(grants(&f, &session).await[0]["state"], "revoked");

    let (_, audit) = f.app.get_json("/api/audit?pageSize=100").await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "grant.revoke" && e["target"] == id.as_str()),
        "{audit}"
    );
    let m = f.app.metrics_text().await;
    assert_eq!(
        counter(&m, "grants_created_total{scope=\"Rule\"}"),
        1,
        "{m}"
    );
    assert_eq!(counter(&m, "grants_revoked_total"), 1, "{m}");
    assert_eq!(
        counter(
            &m,
            "agent_permissions_auto_answered_total{why=\"session_grant\"}"
        ),
        1,
        "{m}"
    );
    f.app.shutdown().await;
}

async fn a_rule_named_over_rest_expires_on_time_and_bad_grants_are_refused(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let (session, turn, id) = asked_npm_test(&f).await;
    let approve = |body: Value| {
        let f = &f;
        let id = id.clone();
        async move {
            f.app
                .post_json(&format!("/api/approvals/{id}/approve"), &body)
                .await
        }
    };
    for (body, field) in [
        (
            json!({"approved": true, "scope": "rule", "rule": "Bash"}),
            "rule",
        ),
        (
            json!({"approved": true, "scope": "rule", "rule": "Bash(curl:*)"}),
            "rule",
        ),
        (
            json!({"approved": true, "scope": "once", "expiresInMinutes": 5}),
            "expiresInMinutes",
        ),
        (
            json!({"approved": true, "scope": "rule", "expiresInMinutes": 0}),
            "expiresInMinutes",
        ),
        (json!({"approved": false, "scope": "rule"}), "scope"),
    ] {
        let (status, err) = approve(body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    let (status, body) = approve(json!({
        "approved": true, "scope": "rule", "rule": "Bash(npm:*)", "expiresInMinutes": 60
    }))
    .await;
    assert_eq!(status, 200, "none of the refusals decided it: {body}");
    assert_eq!(body["grant"]["rule"], "Bash(npm:*)");
    turn_result(&f.app, &session, &turn).await;
    let ran = bash(&f, &session, "npm run build")
        .await
        .expect("covered by the edited rule");
    assert_eq!(ran["status"], "Completed", "{ran}");

    // Its hour passes (the row is aged outside Orchestra): the next call asks a human.
    f.app.store.sql(&[&format!(
        "UPDATE approvals SET grant_expires_at = {{PAST}} WHERE id = '{id}'"
    )]);
    assert_eq!(grants(&f, &session).await[0]["state"], "expired");
    let asked = bash(&f, &session, "npm run build")
        .await
        .expect_err("expired: asked");
    deny(&f.app, &asked).await;
    f.app.shutdown().await;
}

/// A grant is a human's allow, so it is judged after the server's policy: a deny rule beats
/// it, and a call the policy classes critical is never answered from it (nor granted
/// itself: it is approved once, by its quorum).
async fn a_deny_rule_beats_a_grant_and_a_grant_never_answers_a_critical_call(backend: Backend) {
    let f = fixture(
        backend,
        &[(
            "ORCHESTRA__POLICY__RULES",
            "deny Bash(npm publish:*),ask:critical Bash(npm ci:*)",
        )],
    )
    .await;
    let (session, turn, id) = asked_npm_test(&f).await;
    let (status, body) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true, "scope": "rule", "rule": "Bash(npm:*)"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    turn_result(&f.app, &session, &turn).await;
    let ran = bash(&f, &session, "npm run build")
        .await
        .expect("covered by the grant");
    assert_eq!(ran["status"], "Completed", "{ran}");

    let refused = bash(&f, &session, "npm publish")
        .await
        .expect("the policy answers without a human");
    assert!(
        refused["result"].as_str().unwrap().starts_with("denied:"),
        "{refused}"
    );

    let critical = bash(&f, &session, "npm ci")
        .await
        .expect_err("a critical call is asked even under a covering grant");
    let (_, asked) = f.app.get_json(&format!("/api/approvals/{critical}")).await;
    assert_eq!(
        (asked["risk"].as_str(), &asked["sessionRule"]),
        (Some("critical"), &Value::Null),
        "no grant is offered for a critical call: {asked}"
    );
    f.tg.wait_for(Duration::from_secs(5), "the critical message", |t| {
        message_for(t, &critical).is_some()
    })
    .await;
    let message =
        f.tg.sent()
            .into_iter()
            .find(|m| m.text.contains(&critical))
            .unwrap();
    let markup = message.body["reply_markup"].to_string();
    assert!(
        !markup.contains("Allow") && markup.contains(&format!("a:{critical}")),
        "approve and deny only: {markup}"
    );
    for body in [
        json!({"approved": true, "scope": "session"}),
        json!({"approved": true, "scope": "rule", "rule": "Bash(npm ci:*)"}),
    ] {
        let (status, err) = f
            .app
            .post_json(&format!("/api/approvals/{critical}/approve"), &body)
            .await;
        assert_eq!(
            (status, err["field"].as_str()),
            (400, Some("scope")),
            "{body}: {err}"
        );
    }
    deny(&f.app, &critical).await;
    assert_eq!(
        tool_log(f.home.path(), &session),
        vec![
            r#"ran Bash {"command":"npm test"}"#.to_owned(),
            r#"ran Bash {"command":"npm run build"}"#.to_owned(),
        ],
        "neither the denied nor the critical call ran"
    );
    f.app.shutdown().await;
}

both_backends!(
    a_deny_rule_beats_a_grant_and_a_grant_never_answers_a_critical_call,
    a_timed_grant_from_the_chat_answers_its_calls_until_it_is_revoked,
    a_rule_named_over_rest_expires_on_time_and_bad_grants_are_refused,
);
