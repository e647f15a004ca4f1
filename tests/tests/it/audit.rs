//! The audit log: what the API does is recorded with who did it; `orchestra audit verify`
//! names a changed and a deleted row, on SQLite and on PostgreSQL.

use diesel::prelude::*;
use orchestra_db::{Database, DatabaseTarget, DbConn, PoolSettings};
use orchestra_domain::Role;
use orchestra_tests::{Backend, TestApp};
use serde_json::{Value, json};

fn tamper(connection_string: &str, sql: &str) {
    assert_eq!(exec(connection_string, sql), 1, "{sql}");
}

fn exec(connection_string: &str, sql: &str) -> usize {
    let db = Database::open(
        DatabaseTarget::parse(connection_string).unwrap(),
        PoolSettings::default(),
    )
    .unwrap();
    let mut conn = db.checkout().unwrap();
    match &mut *conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).execute(c),
        DbConn::Postgresql(c) => diesel::sql_query(sql).execute(c),
    }
    .unwrap()
}

fn verify(connection_string: &str) -> (i32, String) {
    let out = std::process::Command::new(orchestra_tests::binary::orchestra_binary())
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DB_CONNECTION_STRING", connection_string)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn decisions_are_audited_and_tampering_is_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let approver = app.client_as(Role::Approver).await;
    // A client's request id is kept; a missing or odd one is replaced by a made one.
    let mut ids = Vec::new();
    for (approved, sent) in [
        (true, Some("ci-run-7.step:1")),
        (false, None),
        (true, Some("bad id; DROP TABLE")),
    ] {
        let id = app.create_test_approval().await;
        let mut req = approver
            .post(app.url(&format!("/api/approvals/{id}/approve")))
            .json(&json!({"approved": approved, "reason": "checked"}));
        if let Some(sent) = sent {
            req = req.header("X-Request-Id", sent);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        match sent {
            Some("ci-run-7.step:1") => assert_eq!(echoed, "ci-run-7.step:1"),
            _ => assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}"),
        }
        ids.push(echoed);
    }
    let (status, page) = app.get_json("/api/audit").await;
    assert_eq!(status, 200, "{page}");
    // The first start recorded the policy (seq 1); then the three decisions.
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(page["items"][3]["action"], "policy.change", "{page}");
    let events = &page["items"].as_array().unwrap()[..3];
    for e in events {
        assert_eq!(e["action"], "approval.decide");
        assert!(
            e["actor"].as_str().unwrap().starts_with("key:approver-"),
            "{e}"
        );
        assert_eq!(e["source"], "api");
        assert_eq!(e["before"], "Pending");
        assert!(
            e["clientAddress"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:"),
            "{e}"
        );
    }
    // Newest first: the request ids in reverse.
    let recorded: Vec<&str> = events
        .iter()
        .map(|e| e["requestId"].as_str().unwrap())
        .collect();
    assert_eq!(
        recorded,
        ids.iter().rev().map(String::as_str).collect::<Vec<_>>()
    );
    let viewer = app.client_as(Role::Viewer).await;
    let res = viewer.get(app.url("/api/audit")).send().await.unwrap();
    assert_eq!(res.status(), 403, "the audit log is for admins");

    let cs = app.store.connection_string();
    let (code, out) = verify(&cs);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 4 events"), "{out}");

    tamper(
        &cs,
        "UPDATE audit_events SET actor = 'key:nobody' WHERE seq = 2",
    );
    let (code, out) = verify(&cs);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("seq 2: its content does not match its hash"),
        "{out}"
    );

    tamper(&cs, "DELETE FROM audit_events WHERE seq = 1");
    let (code, out) = verify(&cs);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("seq 1: missing"), "{out}");
    app.shutdown().await;
}

/// A decision and its audit event are one transaction: when the event cannot be written, the
/// decision is not made either (and the client is told to retry).
async fn a_decision_whose_audit_event_cannot_be_written_is_not_made(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_test_approval().await;
    let cs = app.store.connection_string();
    match backend {
        Backend::Sqlite => {
            exec(
                &cs,
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit refused'); END",
            );
        }
        Backend::Postgres => {
            exec(
                &cs,
                "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql",
            );
            exec(
                &cs,
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
            );
        }
    }
    let (status, body) = app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        app.get_json(&format!("/api/approvals/{id}")).await.1["status"],
        "Pending",
        "no decision without its audit event"
    );
    exec(
        &cs,
        match backend {
            Backend::Sqlite => "DROP TRIGGER refuse_audit",
            Backend::Postgres => "DROP TRIGGER refuse_audit ON audit_events",
        },
    );
    let (status, body) = app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 200, "the retry succeeds: {body}");
    let (_, page) = app.get_json("/api/audit").await;
    assert_eq!(
        page["total"], 2,
        "the policy at start, and the decision: {page}"
    );
    assert_eq!(page["items"][0]["action"], "approval.decide");
    app.shutdown().await;
}

/// A policy change between two starts is audited once, with before and after.
async fn a_policy_change_between_starts_is_audited(backend: Backend) {
    let policy_events = |page: &Value| -> Vec<Value> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "policy.change")
            .cloned()
            .collect()
    };
    let app = TestApp::spawn(backend).await;
    let (_, page) = app.get_json("/api/audit").await;
    let first = policy_events(&page);
    assert_eq!(first.len(), 1, "{page}");
    assert_eq!(first[0]["before"], "none");
    assert_eq!(first[0]["actor"], "config");
    let store = app.shutdown_keep_store().await;
    let cs = store.connection_string();
    // The same policy again: nothing new.
    let same = orchestra_tests::TestAppOptions::default().with("DB_CONNECTION_STRING", cs.clone());
    let app = TestApp::spawn_with(backend, same).await;
    let (_, page) = app.get_json("/api/audit").await;
    assert_eq!(policy_events(&page).len(), 1, "{page}");
    app.shutdown_keep_store().await;
    // A narrower policy: one event, chained to the first.
    let narrower = orchestra_tests::TestAppOptions::default()
        .with("DB_CONNECTION_STRING", cs)
        .with("ORCHESTRA__POLICY__CLIENT_ALLOWED_TOOLS", "Grep");
    let app = TestApp::spawn_with(backend, narrower).await;
    let (_, page) = app.get_json("/api/audit").await;
    let events = policy_events(&page);
    assert_eq!(events.len(), 2, "{page}");
    assert_eq!(events[0]["before"], first[0]["after"]);
    assert_ne!(events[0]["after"], first[0]["after"]);
    assert!(
        events[0]["detail"]
            .as_str()
            .unwrap()
            .contains(r#"client_allowed_tools = ["Grep"]"#),
        "{}",
        events[0]["detail"]
    );
    app.shutdown().await;
    drop(store);
}

both_backends!(
    decisions_are_audited_and_tampering_is_found,
    a_decision_whose_audit_event_cannot_be_written_is_not_made,
    a_policy_change_between_starts_is_audited
);

/// Starting a session is audited with the key that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_start_is_audited_with_its_key() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let operator = app.client_as(Role::Operator).await;
    let work = tempfile::tempdir().unwrap();
    let res = operator
        .post(app.url("/api/sessions"))
        .json(&json!({"workingDirectory": work.path()}))
        .send()
        .await
        .unwrap();
    // The CLI may or may not start here; the start is audited either way.
    let body: Value = res.json().await.unwrap();
    let (_, page) = app.get_json("/api/audit").await;
    let created = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "session.create")
        .unwrap_or_else(|| panic!("no session.create in {page}; create answered {body}"));
    assert!(
        created["actor"]
            .as_str()
            .unwrap()
            .starts_with("key:operator-")
    );
    app.shutdown().await;
}
