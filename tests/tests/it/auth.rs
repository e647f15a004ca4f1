//! Authentication and roles: every `/api` route against no key, a bad key and each role
//! (the table of docs/security.md), keys made and revoked on the command line, and who is
//! recorded on a decision.

use std::collections::BTreeSet;

use orchestra_api::auth::{Access, ROUTES};
use orchestra_domain::Role;
use orchestra_tests::{Backend, TestApp};
use serde_json::{Value, json};

fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "00000000-0000-4000-8000-000000000000"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(client: &reqwest::Client, base: &str, method: &str, path: &str) -> reqwest::Response {
    let url = format!("{base}{}", concrete(path));
    let req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url).json(&json!({"approved": false})),
        "DELETE" => client.delete(url),
        other => panic!("no test for {other}"),
    };
    req.send().await.unwrap()
}

/// `orchestra keys create --role <role>` against the database at `cs`; the printed key.
fn key_from_cli(dir: &std::path::Path, cs: &str, role: Role) -> String {
    let out = std::process::Command::new(orchestra_tests::binary::orchestra_binary())
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DB_CONNECTION_STRING", cs)
        .args([
            "keys",
            "create",
            "--name",
            &format!("walk-{role}"),
            "--role",
            role.as_str(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The route table walked against the real binary, with keys made by its own CLI: no key ->
/// 401 with a challenge; a key whose role does not grant the route -> 403; one that does ->
/// neither.
async fn every_route_answers_each_role_as_the_table_says(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (cs, _store) =
        tokio::task::spawn_blocking(move || orchestra_tests::app::new_store(backend))
            .await
            .unwrap();
    let migrate = std::process::Command::new(orchestra_tests::binary::orchestra_binary())
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DB_CONNECTION_STRING", &cs)
        .args(["migrate", "apply"])
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let mut clients = Vec::new();
    for role in Role::ALL {
        let key = key_from_cli(dir.path(), &cs, role);
        clients.push((role, orchestra_tests::auth::client_with_key(&key)));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = orchestra_tests::binary::ServerProcess::start(
        dir.path(),
        port,
        &[
            ("DB_CONNECTION_STRING", &cs),
            ("ORCHESTRA__SERVER__PORT", &port.to_string()),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let anonymous = reqwest::Client::new();
    for (method, path, access) in ROUTES {
        let Access::Role(needed) = access else {
            continue; // the webhook authenticates with Telegram's secret token
        };
        let res = call(&anonymous, &base, method, path).await;
        assert_eq!(res.status().as_u16(), 401, "{method} {path} without a key");
        assert!(
            res.headers()
                .get("www-authenticate")
                .is_some_and(|h| h.to_str().unwrap().starts_with("Bearer")),
            "{method} {path}: 401 without a Bearer challenge"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "unauthenticated");
        for (role, client) in &clients {
            let status = call(client, &base, method, path).await.status().as_u16();
            if role.grants(*needed) {
                assert!(
                    status != 401 && status != 403,
                    "{method} {path} as {role}: {status}, but {role} may"
                );
            } else {
                assert_eq!(status, 403, "{method} {path} as {role} (needs {needed})");
            }
        }
    }
    assert_eq!(server.terminate().await, Some(0));
}

/// A key that is wrong in any way is refused, and a revoked key stops working at once.
async fn bad_and_revoked_keys_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for bad in [
        "Bearer nonsense",
        "Bearer orch_0000000000000000000000000000000000000000000000000000000000000000",
        "Basic Zm9vOmJhcg==",
        "Bearer",
    ] {
        let res = reqwest::Client::new()
            .get(app.url("/api/sessions"))
            .header("authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 401, "{bad}");
    }
    let (key, secret) = app.keys.handle("short-lived", Role::Viewer).await.unwrap();
    let client = orchestra_tests::auth::client_with_key(&secret);
    assert_eq!(
        client
            .get(app.url("/api/sessions"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let revoke = orchestra_application::keys::RevokeApiKeyHandler::new(
        app.api_keys(),
        std::sync::Arc::new(orchestra_application::ports::SystemClock),
        None,
    );
    revoke.handle(&key.name).await.unwrap();
    // Another node revoked it: this node's cache forgets it within AUTH_CACHE_TTL; a
    // fresh authenticator (a restart) refuses it at once.
    let fresh = orchestra_application::keys::Authenticator::new(app.api_keys());
    assert!(fresh.authenticate(&secret).await.is_err());
}

/// Who decided is the key, and only an admin may change what the agent runs.
async fn decisions_record_the_key_and_edited_input_needs_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let approver = app.client_as(Role::Approver).await;
    let id = app.create_test_approval().await;
    let res = approver
        .post(app.url(&format!("/api/approvals/{id}/approve")))
        .json(&json!({"approved": true, "updatedInput": {"command": "rm -rf /"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("forbidden"), Some("updatedInput"))
    );
    let res = approver
        .post(app.url(&format!("/api/approvals/{id}/approve")))
        .json(&json!({"approved": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["decidedBy"]
            .as_str()
            .unwrap()
            .starts_with("key:approver-"),
        "{body}"
    );
    let operator = app.client_as(Role::Operator).await;
    let id = app.create_test_approval().await;
    let res = operator
        .post(app.url(&format!("/api/approvals/{id}/approve")))
        .json(&json!({"approved": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "an operator must not approve");
}

/// The "simple" cross-site request a hostile web page can send (text/plain, no preflight):
/// refused for its origin, and a non-JSON body is refused for its type even with a key.
async fn a_hostile_pages_simple_request_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"workingDirectory": "/tmp"}).to_string();
    for client in [reqwest::Client::new(), app.client.clone()] {
        let res = client
            .post(app.url("/api/approvals/test"))
            .header("content-type", "text/plain")
            .header("origin", "https://evil.example")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["code"], "origin_not_allowed");
    }
    let res = app
        .client
        .post(app.url("/api/approvals/test"))
        .header("content-type", "text/plain")
        .body(json!({"toolName": "T"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["code"], "unsupported_media_type");
    let (_, list) = app.get_json("/api/approvals?kind=Test").await;
    assert_eq!(list["total"], 0, "nothing was created: {list}");
}

both_backends!(
    a_hostile_pages_simple_request_is_refused,
    every_route_answers_each_role_as_the_table_says,
    bad_and_revoked_keys_are_refused,
    decisions_record_the_key_and_edited_input_needs_admin,
);

/// Every operation of the OpenAPI document has a rule in the table, and every rule a route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_table_and_the_openapi_document_agree() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, doc) = app.get_json("/swagger/v1/swagger.json").await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/api/"))
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), p.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, table);
}

/// docs/security.md's route table is the code's.
#[test]
fn the_security_document_lists_every_route_with_its_role() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/security.md"),
    )
    .unwrap();
    for (method, path, access) in ROUTES {
        let needs = match access {
            Access::Role(r) => r.as_str().to_owned(),
            Access::TelegramSecret => "telegram secret".to_owned(),
        };
        let row = format!("| {method} | `{path}` | {needs} |");
        assert!(doc.contains(&row), "docs/security.md lacks the row {row}");
    }
}

/// `orchestra keys create | list | revoke`: the key is printed once, only its hash stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_made_listed_and_revoked_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(orchestra_tests::binary::orchestra_binary())
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, key, err) = run(&["keys", "create", "--name", "ci", "--role", "operator"]);
    assert_eq!(code, 0, "{err}");
    let key = key.trim().to_owned();
    assert!(orchestra_application::keys::looks_like_key(&key), "{key}");
    let (code, list, _) = run(&["keys", "list"]);
    assert_eq!(code, 0);
    assert!(list.contains("ci") && list.contains("operator"), "{list}");
    assert!(!list.contains(&key[5..]), "the list shows the key");
    let db = std::fs::read(dir.path().join("orchestra.db")).unwrap();
    assert!(
        !db.windows(key.len()).any(|w| w == key.as_bytes()),
        "the key itself is in the database file"
    );
    let (code, _, err) = run(&["keys", "create", "--name", "ci", "--role", "admin"]);
    assert_ne!(code, 0, "a second key named ci: {err}");
    let (code, _, err) = run(&["keys", "create", "--name", "x", "--role", "root"]);
    assert_ne!(code, 0);
    assert!(err.contains("not a role"), "{err}");
    let (code, _, err) = run(&["keys", "revoke", "ci"]);
    assert_eq!(code, 0, "{err}");
    let (_, list, _) = run(&["keys", "list"]);
    let row = list.lines().find(|l| l.starts_with("ci ")).unwrap();
    assert!(!row.trim_end().ends_with('-'), "not marked revoked: {row}");
}
