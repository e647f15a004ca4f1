//! The server's tool policy (`policy.rules`) with the real binary and the fake CLI: a call a
//! rule denies is refused with no human asked, one a rule allows runs with none, a chained
//! command is never covered by an allow, anything else asks a human; `GET /api/policy` shows
//! the rules and `POST /api/policy/evaluate` tells what would happen, by role.

use std::time::Duration;

use orchestra_tests::Backend;
use orchestra_tests::crash::{CrashRig, wait_until};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const RULES: &str = "deny Bash(rm:*),allow Bash(git status),ask:critical Bash(git push:*)";

async fn finished_turn(rig: &CrashRig, session: &str, seq: u64) -> Value {
    wait_until(WAIT, "the turn to finish", || async {
        let t = rig.get(&format!("/api/sessions/{session}/turns")).await;
        t["items"]
            .as_array()?
            .iter()
            .find(|t| t["seq"] == seq && t["status"] == "Completed")
            .cloned()
    })
    .await
}

async fn send(rig: &CrashRig, session: &str, command: &str) {
    wait_until(WAIT, "the prompt to be taken", || async {
        let (status, _) = rig.ask(session, command).await.expect("answered");
        (status < 300).then_some(())
    })
    .await;
}

async fn rules_decide_before_any_human_and_the_rest_is_asked(backend: Backend) {
    let rig = CrashRig::new(backend, &[("ORCHESTRA__POLICY__RULES", RULES)]).await;
    let server = rig.start(None).await;
    let session = rig.create_session().await;

    send(&rig, &session, "rm -rf build").await;
    let turn = finished_turn(&rig, &session, 1).await;
    assert!(
        turn["result"]
            .as_str()
            .unwrap_or_default()
            .contains("policy denies"),
        "the agent is told why: {turn}"
    );
    send(&rig, &session, "git status").await;
    finished_turn(&rig, &session, 2).await;
    assert_eq!(
        rig.tools_ran(&session),
        1,
        "the allowed call ran; the denied one did not"
    );
    // An allow never covers a chained command; here the deny rule matches a part of it.
    send(&rig, &session, "git status && rm -rf /").await;
    finished_turn(&rig, &session, 3).await;
    assert_eq!(rig.tools_ran(&session), 1);
    assert!(
        rig.approvals_of(&session).await.is_empty(),
        "no human was asked so far"
    );

    // An ask rule: a human is asked, and the approval carries the rule's risk class.
    send(&rig, &session, "git push origin main").await;
    let pending = wait_until(WAIT, "the approval", || async {
        rig.approvals_of(&session)
            .await
            .into_iter()
            .find(|a| a["status"] == "Pending")
    })
    .await;
    assert!(
        pending["toolInputPreview"]
            .as_str()
            .unwrap_or_default()
            .contains("git push"),
        "{pending}"
    );
    assert_eq!(pending["risk"], "critical", "{pending}");
    let full = rig
        .get(&format!(
            "/api/approvals/{}",
            pending["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(full["risk"], "critical");

    let metrics = rig.metrics().await;
    for (series, n) in [
        ("policy_verdicts_total{verdict=\"deny\",risk=\"high\"}", 2),
        ("policy_verdicts_total{verdict=\"allow\",risk=\"high\"}", 1),
        (
            "policy_verdicts_total{verdict=\"ask\",risk=\"critical\"}",
            1,
        ),
    ] {
        assert_eq!(orchestra_tests::counter(&metrics, series), n, "{series}");
    }
    let log = server.log_text();
    assert!(
        log.contains("the server's policy denies the tool call"),
        "{log}"
    );
    // Calls no human saw are in the audit log with the rule that decided.
    let audit = rig.get("/api/audit?pageSize=100").await;
    let policy_events: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .unwrap_or_default()
                .starts_with("policy.")
                && e["target"] == session.as_str()
        })
        .collect();
    let count = |action: &str| {
        policy_events
            .iter()
            .filter(|e| e["action"] == action)
            .count()
    };
    assert_eq!(
        (count("policy.deny"), count("policy.allow")),
        (2, 1),
        "{audit}"
    );
    assert!(
        policy_events.iter().any(|e| e["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("deny Bash(rm:*)")),
        "{audit}"
    );
    server.kill9().await;
}

async fn the_policy_is_shown_and_evaluated_by_role(backend: Backend) {
    let rig = CrashRig::new(backend, &[("ORCHESTRA__POLICY__RULES", RULES)]).await;
    let server = rig.start(None).await;
    let key = |role: &'static str| {
        let rig = &rig;
        async move {
            let (code, out, err) = rig
                .orchestra(&["keys", "create", "--name", role, "--role", role])
                .await;
            assert_eq!(code, 0, "{err}");
            orchestra_tests::auth::client_with_key(out.trim())
        }
    };
    let (viewer, operator) = (key("viewer").await, key("operator").await);
    let shown: Value = viewer
        .get(format!("{}/api/policy", rig.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["rules"][0]["text"], "deny Bash(rm:*)");
    assert_eq!(shown["rules"][2]["risk"], "critical");
    assert_eq!(
        (
            shown["defaultAction"].as_str(),
            shown["defaultRisk"].as_str()
        ),
        (Some("ask"), Some("high"))
    );
    let body = json!({"tool": "Bash", "input": {"command": "git push --force"}, "workingDirectory": "/srv/work"});
    let url = format!("{}/api/policy/evaluate", rig.base);
    let res = viewer.post(&url).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 403, "evaluating is for operators");
    let verdict: Value = operator
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        verdict,
        json!({"action": "ask", "risk": "critical", "rule": {"position": 3, "text": "ask:critical Bash(git push:*)"}})
    );
    let verdict: Value = operator
        .post(&url)
        .json(&json!({"tool": "Read", "input": {"file_path": "/etc/passwd"}, "workingDirectory": "/srv/work"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["rule"], Value::Null, "no rule: the default");
    for (bad, field) in [
        (json!({"tool": "", "workingDirectory": "/w"}), "tool"),
        (
            json!({"tool": "Bash", "workingDirectory": "relative"}),
            "workingDirectory",
        ),
        (
            json!({"tool": "Bash", "input": [1], "workingDirectory": "/w"}),
            "input",
        ),
    ] {
        let res = operator.post(&url).json(&bad).send().await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["field"], field, "{err}");
    }
    assert_eq!(server.terminate().await, Some(0));
}

both_backends!(
    rules_decide_before_any_human_and_the_rest_is_asked,
    the_policy_is_shown_and_evaluated_by_role,
    the_clis_own_denials_are_judged_by_the_policy_too,
);

/// Without live prompts the CLI refuses calls by itself; the policy still judges them
/// before a Denial approval is opened: a denied one gets none, an asked one its risk class.
async fn the_clis_own_denials_are_judged_by_the_policy_too(backend: Backend) {
    let f = crate::escalation::fixture(
        backend,
        &[
            ("ORCHESTRA__CLAUDE__LIVE_PERMISSION_PROMPTS", "false"),
            ("ORCHESTRA__POLICY__RULES", RULES),
        ],
    )
    .await;
    let session = f.app.create_session(f.work.path(), json!({})).await;
    for command in ["rm -rf build", "git push origin main"] {
        let (_, t) = f
            .app
            .turn(
                &session,
                &format!("SILENT_DENY Bash {}", json!({ "command": command })),
            )
            .await;
        assert_eq!(t["permissionDenials"], 1, "{t}");
    }
    let id = crate::escalation::wait_for_pending(&f.app, &session).await;
    let (_, all) = f
        .app
        .get_json(&format!("/api/approvals?sessionId={session}"))
        .await;
    assert_eq!(all["total"], 1, "the denied call got no approval: {all}");
    let (_, a) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(a["kind"], "Denial");
    assert_eq!(a["risk"], "critical", "{a}");
    assert_eq!(a["toolInput"]["command"], "git push origin main");
    let m = f.app.metrics_text().await;
    assert_eq!(
        orchestra_tests::counter(&m, "policy_verdicts_total{verdict=\"deny\",risk=\"high\"}"),
        1,
        "{m}"
    );
    f.app.shutdown().await;
}
