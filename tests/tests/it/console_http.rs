//! The console's HTTP rules, without a browser: sign-in with a form nonce, the cookie's
//! flags, the CSRF token on everything that changes something, the same roles as the API,
//! same-origin only, sign-out, and the pages' security headers.

use orchestra_domain::Role;
use orchestra_tests::Backend;
use orchestra_tests::app::{TestApp, TestAppOptions};
use orchestra_tests::auth::TEST_ADMIN_KEY;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap().to_owned())
}

/// Signs in with `key` through the form; the `Set-Cookie` values of the answer.
async fn sign_in(app: &TestApp, key: &str) -> (u16, Vec<String>) {
    let http = no_redirects();
    let page = http.get(app.url("/console/login")).send().await.unwrap();
    let nonce = cookie_value(&set_cookies(page.headers()), "orchestra_login").unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("value=\"{nonce}\"")),
        "the form carries the nonce"
    );
    let res = http
        .post(app.url("/console/login"))
        .header("cookie", format!("orchestra_login={nonce}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={key}&nonce={nonce}"))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), set_cookies(res.headers()))
}

async fn console_client(app: &TestApp, key: &str) -> (reqwest::Client, String) {
    let (status, set) = sign_in(app, key).await;
    assert_eq!(status, 303, "{set:?}");
    let value = cookie_value(&set, "orchestra_console").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "cookie",
        format!("orchestra_console={value}").parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    let me: Value = client
        .get(app.url("/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (client, me["csrfToken"].as_str().unwrap().to_owned())
}

async fn signing_in_needs_the_forms_nonce_and_a_valid_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = no_redirects();
    let res = http.get(app.url("/console")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303, "not signed in");
    assert_eq!(res.headers()["location"], "/console/login");

    let page = http.get(app.url("/console/login")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let login = set_cookies(page.headers());
    assert!(
        login[0].contains("HttpOnly") && login[0].contains("SameSite=Strict"),
        "{login:?}"
    );

    // A form from another page (no nonce cookie, or another nonce): refused.
    let res = http
        .post(app.url("/console/login"))
        .header("cookie", "orchestra_login=aaaa")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={TEST_ADMIN_KEY}&nonce=bbbb"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(cookie_value(&set_cookies(res.headers()), "orchestra_console").is_none());
    let (status, set) = sign_in(&app, "orch_0000").await;
    assert_eq!(status, 401);
    assert!(cookie_value(&set, "orchestra_console").is_none());

    let (status, set) = sign_in(&app, TEST_ADMIN_KEY).await;
    assert_eq!(status, 303);
    let cookie = set
        .iter()
        .find(|c| c.starts_with("orchestra_console="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "Development serves plain HTTP: {cookie}"
    );
    let metrics = app.metrics_text().await;
    for outcome in ["ok", "invalid_key", "expired_form"] {
        assert!(
            metrics.contains(&format!("console_sign_ins_total{{outcome=\"{outcome}\"}}")),
            "{outcome}"
        );
    }
    let (_, audit) = app.get_json("/api/audit?pageSize=100").await;
    assert!(audit.to_string().contains("console.sign_in"), "{audit}");
    app.shutdown().await;
}

async fn console_requests_need_the_csrf_token_the_role_and_the_same_origin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (console, csrf) = console_client(&app, TEST_ADMIN_KEY).await;
    assert_eq!(csrf.len(), 64);
    let res = console.get(app.url("/console")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200, "signed in");
    let create = |token: Option<&str>, origin: Option<&str>| {
        let mut r = console
            .post(app.url("/api/approvals/test"))
            .json(&json!({"toolName": "Bash"}));
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    for token in [None, Some("0".repeat(64).as_str())] {
        let res = create(token, None).await.unwrap();
        assert_eq!(res.status().as_u16(), 403);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "csrf_failed", "{body}");
    }
    let res = create(Some(&csrf), Some("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "origin_not_allowed");
    let own = format!("http://127.0.0.1:{}", app.port);
    let res = create(Some(&csrf), Some(&own)).await.unwrap();
    assert_eq!(res.status().as_u16(), 201, "the console's own origin");
    let (_, list) = app.get_json("/api/approvals?kind=Test").await;
    assert_eq!(
        list["total"], 1,
        "only the one with the token was made: {list}"
    );
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("console_csrf_refusals_total 2"),
        "{metrics}"
    );

    // A viewer's console can read, and not decide: the same roles as the API.
    let (_, viewer_key) = app
        .keys
        .handle(
            &format!("viewer-{}", uuid::Uuid::new_v4().simple()),
            Role::Viewer,
        )
        .await
        .unwrap();
    let (viewer, viewer_csrf) = console_client(&app, &viewer_key).await;
    assert_ne!(viewer_csrf, csrf, "each key has its own token");
    let id = list["items"][0]["id"].as_str().unwrap();
    let res = viewer
        .get(app.url(&format!("/api/approvals/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = viewer
        .post(app.url(&format!("/api/approvals/{id}/approve")))
        .header("x-csrf-token", &viewer_csrf)
        .json(&json!({"approved": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "forbidden", "{body}");

    // A stale decision: it names the version the page showed.
    let res = console
        .post(app.url(&format!("/api/approvals/{id}/approve")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"approved": true, "expectedVersion": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "approval_changed", "{body}");
    let (_, a) = app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(
        (a["status"].as_str(), a["version"].as_u64()),
        (Some("Pending"), Some(1))
    );

    // Signing out needs the token, then forgets the cookie.
    let res = console
        .post(app.url("/console/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let res = console
        .post(app.url("/console/logout"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let cleared = set_cookies(res.headers());
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("orchestra_console=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    app.shutdown().await;
}

/// The Pending approval of `session`, once there is one.
async fn pending_of(app: &TestApp, session: &str) -> String {
    orchestra_tests::crash::wait_until(
        std::time::Duration::from_secs(20),
        "a pending approval",
        || async {
            let (_, list) = app
                .get_json(&format!(
                    "/api/approvals?sessionId={session}&status=Pending"
                ))
                .await;
            list["items"][0]["id"].as_str().map(str::to_owned)
        },
    )
    .await
}

async fn the_file_preview_reads_only_within_the_working_directory(backend: Backend) {
    let (home, work, outside) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    std::fs::write(work.path().join("a.txt"), "x\ny\n").unwrap();
    std::fs::write(outside.path().join("secret"), "the-secret-text\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), work.path().join("leak")).unwrap();
    let app = TestApp::spawn_with(backend, TestAppOptions::default().fake_cli(home.path())).await;
    let session = app.create_session(work.path(), json!({})).await;
    let ask = |input: Value| format!("ASK Edit {input}");

    let (status, _) = app
        .send(&session, &ask(json!({"file_path": work.path().join("a.txt"), "old_string": "y", "new_string": "z"})))
        .await;
    assert_eq!(status, 202);
    let id = pending_of(&app, &session).await;
    let (status, f) = app.get_json(&format!("/api/approvals/{id}/file")).await;
    assert_eq!(status, 200, "{f}");
    assert_eq!(
        (
            f["state"].as_str(),
            f["before"].as_str(),
            f["after"].as_str()
        ),
        (Some("text"), Some("x\ny\n"), Some("x\nz\n")),
        "{f}"
    );
    app.post_json(
        &format!("/api/approvals/{id}/approve"),
        &json!({"approved": false}),
    )
    .await;

    // Out of the directory by a link, by `..`, or by an absolute path: not read.
    let escapes = [
        work.path().join("leak"),
        work.path()
            .join("../")
            .join(outside.path().file_name().unwrap())
            .join("secret"),
        outside.path().join("secret"),
    ];
    for path in escapes {
        orchestra_tests::crash::wait_until(
            std::time::Duration::from_secs(20),
            "the turn's end",
            || async {
                let (_, s) = app.get_json(&format!("/api/sessions/{session}")).await;
                s["process"]["currentTurnId"].is_null().then_some(())
            },
        )
        .await;
        let (status, body) = app
            .send(
                &session,
                &ask(json!({"file_path": path, "old_string": "the", "new_string": "a"})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let id = pending_of(&app, &session).await;
        let (status, f) = app.get_json(&format!("/api/approvals/{id}/file")).await;
        assert_eq!(status, 200, "{f}");
        assert_eq!(f["state"], "outside", "{path:?}: {f}");
        assert!(!f.to_string().contains("the-secret-text"), "{f}");
        app.post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": false}),
        )
        .await;
        // Decided: the file is no longer the approval's to show.
        let (status, body) = app.get_json(&format!("/api/approvals/{id}/file")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("approval_already_decided")),
            "{body}"
        );
    }

    let id = app.create_test_approval().await;
    let (status, body) = app.get_json(&format!("/api/approvals/{id}/file")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    app.shutdown().await;
}

both_backends!(
    the_file_preview_reads_only_within_the_working_directory,
    signing_in_needs_the_forms_nonce_and_a_valid_key,
    console_requests_need_the_csrf_token_the_role_and_the_same_origin,
);

/// Outside Development the console's cookies are `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_development_the_cookies_are_secure() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        TestAppOptions::default()
            .with("ORCHESTRA_ENVIRONMENT", "Staging")
            .with("TelegramEscalation__Enabled", "false")
            .with("ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES", "/tmp")
            .with("ORCHESTRA__DATABASE__AUTO_MIGRATE", "true"),
    )
    .await;
    let (status, set) = sign_in(&app, TEST_ADMIN_KEY).await;
    assert_eq!(status, 303);
    assert!(set.iter().all(|c| c.ends_with("; Secure")), "{set:?}");
    app.shutdown().await;
}

/// A console signed in on node B acts on a session node A runs: the request is forwarded
/// with its cookie and token, and the owner does not refuse the browser's `Origin` (node B
/// checked it against its own host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_on_one_node_acts_on_a_session_another_runs() {
    use crate::nodes::{node_at, unique};
    let work = tempfile::tempdir().unwrap();
    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node_at(home_a.path(), &unique("console-a"), None).await;
    let db = a.store.connection_string();
    let b = node_at(home_b.path(), &unique("console-b"), Some(&db)).await;
    let id = a.create_session(work.path(), json!({})).await;
    let (_, t) = a.turn(&id, "one").await;
    assert_eq!(t["result"], "echo: one (history: 0)", "{t}");
    let (console, csrf) = console_client(&b, TEST_ADMIN_KEY).await;
    let res = console
        .post(b.url(&format!("/api/sessions/{id}/messages")))
        .header("x-csrf-token", &csrf)
        .header("origin", format!("http://127.0.0.1:{}", b.port))
        .json(&json!({"prompt": "two", "wait": true, "timeoutSeconds": 60}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("echo: two (history: 1)")),
        "{body}"
    );
    b.shutdown().await;
    a.shutdown().await;
}

/// Node B's inbox stream (`/api/approvals/events`, what a console on B listens to): the
/// events read until `stop`, and a signal once it is open (its first event, `ready`).
fn inbox_stream_on(
    node: &TestApp,
    stop: impl Fn(&orchestra_tests::sse::SseEvent) -> bool + Send + 'static,
) -> (
    tokio::sync::oneshot::Receiver<()>,
    tokio::task::JoinHandle<Vec<orchestra_tests::sse::SseEvent>>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let (client, url) = (node.client.clone(), node.url("/api/approvals/events"));
    let reader = tokio::spawn(async move {
        orchestra_tests::sse::read_until(
            &client,
            &url,
            None,
            std::time::Duration::from_secs(30),
            move |e| {
                if e.event == "ready"
                    && let Some(tx) = tx.lock().unwrap().take()
                {
                    let _ = tx.send(());
                }
                stop(e)
            },
        )
        .await
    });
    (rx, reader)
}

/// A console on node B hears of approvals another node opens (B's 2 s poll) and decides
/// (PostgreSQL's announcement reaches B's stream at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_on_one_node_sees_approvals_another_opens_and_decides() {
    use crate::nodes::{node_at, unique};
    let work = tempfile::tempdir().unwrap();
    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node_at(home_a.path(), &unique("inbox-a"), None).await;
    let db = a.store.connection_string();
    let b = node_at(home_b.path(), &unique("inbox-b"), Some(&db)).await;
    let session = a.create_session(work.path(), json!({})).await;

    // Opened on A: B's stream says the list changed.
    let (open, opened) = inbox_stream_on(&b, |e| e.event == "changed");
    open.await.unwrap();
    let (status, body) = a
        .send(&session, r#"ASK Bash {"command":"make release"}"#)
        .await;
    assert_eq!(status, 202, "{body}");
    let id = pending_of(&a, &session).await;
    opened.await.unwrap();

    // Decided on A: B's stream names it.
    let wanted = id.clone();
    let (open, decided) = inbox_stream_on(&b, move |e| {
        e.event == "approval" && e.data["id"] == wanted.as_str()
    });
    open.await.unwrap();
    let (status, body) = a
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    decided.await.unwrap();
    b.shutdown().await;
    a.shutdown().await;
}
