//! `kill -9` of Orchestra with live sessions, then a restart of the real binary: no orphaned
//! CLI processes remain, every session is listed truthfully and can be resumed.

use std::time::{Duration, Instant};

use orchestra_claude::procfs;
use orchestra_tests::Backend;
use orchestra_tests::binary::{ServerProcess, test_binary};
use orchestra_tests::free_port;
use orchestra_tests::pg::TestDatabase;
use serde_json::{Value, json};

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let res = client.post(url).json(&body).send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn orchestra_killed_with_live_sessions_recovers_on_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let db = match backend {
        Backend::Postgres => Some(
            tokio::task::spawn_blocking(TestDatabase::empty)
                .await
                .unwrap(),
        ),
        Backend::Sqlite => None,
    };
    let port = free_port();
    let node = format!("restart-{}", uuid::Uuid::new_v4().simple());
    let fake = test_binary("fake-claude").display().to_string();
    let mut env: Vec<(String, String)> = vec![
        ("ORCHESTRA__SERVER__PORT".into(), port.to_string()),
        ("ORCHESTRA__SERVER__HOST".into(), "127.0.0.1".into()),
        ("ORCHESTRA__CLAUDE__BINARY".into(), fake),
        (
            "ORCHESTRA__CLAUDE__HOME".into(),
            home.path().display().to_string(),
        ),
        ("ORCHESTRA__CLAUDE__NODE_ID".into(), node.clone()),
        ("ORCHESTRA__DATABASE__AUTO_MIGRATE".into(), "true".into()),
    ];
    if let Some(db) = &db {
        env.push(("DB_CONNECTION_STRING".into(), db.url()));
    }
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let base = format!("http://127.0.0.1:{port}");
    let client = orchestra_tests::auth::client_with_key(orchestra_tests::auth::TEST_ADMIN_KEY);

    let server = ServerProcess::start(dir.path(), port, &env_ref).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, s) = post(
            &client,
            format!("{base}/api/sessions"),
            json!({"workingDirectory": work.path()}),
        )
        .await;
        assert_eq!(status, 201, "{s}");
        ids.push(s["id"].as_str().unwrap().to_owned());
    }
    let (idle, silent, tooling) = (&ids[0], &ids[1], &ids[2]);
    let (_, t) = post(
        &client,
        format!("{base}/api/sessions/{idle}/messages"),
        json!({"prompt": "before", "wait": true}),
    )
    .await;
    assert_eq!(t["status"], "Completed");
    let (_, running) = post(
        &client,
        format!("{base}/api/sessions/{silent}/messages"),
        json!({"prompt": "SILENCE"}),
    )
    .await;
    post(
        &client,
        format!("{base}/api/sessions/{tooling}/messages"),
        json!({"prompt": "TOOL_SLEEP"}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while procfs::scan(&node).len() < 4 {
        assert!(
            Instant::now() < deadline,
            "expected 3 CLIs and 1 tool, found {:?}",
            procfs::scan(&node)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // kill -9: nothing is cleaned up. An idle CLI exits by itself when its stdin closes (the
    // real one does too), but busy ones and their tools live on as orphans.
    server.kill9().await;
    let orphans = procfs::scan(&node);
    for busy in [silent, tooling] {
        assert!(
            orphans.iter().any(|p| &p.session == busy),
            "the busy agent {busy} outlives a kill -9: {orphans:?}"
        );
    }
    assert!(orphans.len() >= 3, "two busy CLIs and a tool: {orphans:?}");

    let server = ServerProcess::start(dir.path(), port, &env_ref).await;
    for p in &orphans {
        assert!(
            !procfs::alive(p),
            "orphan {} still runs after the restart",
            p.pid
        );
    }
    assert!(
        procfs::scan(&node).is_empty(),
        "no process of this node remains"
    );

    // The idle session lost nothing: it stays Active, suspended, and the next message
    // resumes it. The busy ones lost a turn: Failed, and resumable.
    let s = get(&client, format!("{base}/api/sessions/{idle}")).await;
    assert_eq!(
        (s["status"].as_str(), s["suspended"].as_bool()),
        (Some("Active"), Some(true)),
        "{s}"
    );
    assert!(s["process"].is_null() && s["lastError"].is_null(), "{s}");
    for id in [silent, tooling] {
        let s = get(&client, format!("{base}/api/sessions/{id}")).await;
        assert_eq!(s["status"], "Failed", "{s}");
        assert!(
            s["lastError"]
                .as_str()
                .unwrap()
                .contains("Orchestra stopped"),
            "{s}"
        );
        assert!(s["process"].is_null());
    }
    let turn = get(
        &client,
        format!(
            "{base}/api/sessions/{silent}/turns/{}",
            running["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(turn["status"], "Lost", "{turn}");

    let (_, t) = post(
        &client,
        format!("{base}/api/sessions/{idle}/messages"),
        json!({"prompt": "after", "wait": true}),
    )
    .await;
    assert_eq!(
        t["result"], "echo: after (history: 1)",
        "the conversation survived"
    );
    let (status, resumed) = post(
        &client,
        format!("{base}/api/sessions/{silent}/resume"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, resumed["status"].as_str()),
        (200, Some("Active")),
        "{resumed}"
    );
    let log = server.log_text();
    assert!(
        log.contains("stopped agent processes left by an earlier Orchestra"),
        "{log}"
    );
    assert_eq!(server.terminate().await, Some(0));
    assert!(
        procfs::scan(&node).is_empty(),
        "a graceful stop leaves no agent behind"
    );
}

async fn an_approval_pending_across_a_restart_still_reaches_the_session(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let db = match backend {
        Backend::Postgres => Some(
            tokio::task::spawn_blocking(TestDatabase::empty)
                .await
                .unwrap(),
        ),
        Backend::Sqlite => None,
    };
    let port = free_port();
    let mut env: Vec<(String, String)> = vec![
        ("ORCHESTRA__SERVER__PORT".into(), port.to_string()),
        ("ORCHESTRA__SERVER__HOST".into(), "127.0.0.1".into()),
        (
            "ORCHESTRA__CLAUDE__BINARY".into(),
            test_binary("fake-claude").display().to_string(),
        ),
        (
            "ORCHESTRA__CLAUDE__HOME".into(),
            home.path().display().to_string(),
        ),
        (
            "ORCHESTRA__CLAUDE__NODE_ID".into(),
            format!("restart-{}", uuid::Uuid::new_v4().simple()),
        ),
        ("ORCHESTRA__DATABASE__AUTO_MIGRATE".into(), "true".into()),
    ];
    if let Some(db) = &db {
        env.push(("DB_CONNECTION_STRING".into(), db.url()));
    }
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let base = format!("http://127.0.0.1:{port}");
    let client = orchestra_tests::auth::client_with_key(orchestra_tests::auth::TEST_ADMIN_KEY);
    let server = ServerProcess::start(dir.path(), port, &env_ref).await;
    let (_, s) = post(
        &client,
        format!("{base}/api/sessions"),
        json!({"workingDirectory": work.path()}),
    )
    .await;
    let session = s["id"].as_str().unwrap().to_owned();
    post(
        &client,
        format!("{base}/api/sessions/{session}/messages"),
        json!({"prompt": r#"ASK Bash {"command":"deploy"}"#}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let approval = loop {
        let list = get(
            &client,
            format!("{base}/api/approvals?sessionId={session}&status=Pending"),
        )
        .await;
        if list["total"] == 1 {
            break list["items"][0]["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no approval was opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.kill9().await;

    let server = ServerProcess::start(dir.path(), port, &env_ref).await;
    let a = get(&client, format!("{base}/api/approvals/{approval}")).await;
    assert_eq!(
        a["status"], "Pending",
        "the approval survived the crash: {a}"
    );
    assert_eq!(
        get(&client, format!("{base}/api/sessions/{session}")).await["status"],
        "Failed"
    );
    let (status, decided) = post(
        &client,
        format!("{base}/api/approvals/{approval}/approve"),
        json!({"approved": true}),
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let turns = loop {
        let t = get(&client, format!("{base}/api/sessions/{session}/turns")).await;
        if t["total"] == 2 && t["items"][0]["status"] == "Completed" {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "the decision never reached the session: {t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        turns["items"][0]["result"],
        r#"tool ran: {"command":"deploy"}"#
    );
    assert_eq!(
        turns["items"][1]["status"], "Lost",
        "the turn running at the crash"
    );
    let log = std::fs::read_to_string(
        home.path()
            .join(".fake-claude")
            .join(format!("{session}.tools")),
    )
    .unwrap();
    assert_eq!(log.lines().count(), 1, "the tool ran once");
    assert_eq!(
        get(&client, format!("{base}/api/sessions/{session}")).await["status"],
        "Active"
    );
    assert_eq!(server.terminate().await, Some(0));
}

/// A graceful stop ends open event streams instead of waiting for them: with a 120 s
/// shutdown timeout a held stream would keep the process past `terminate`'s 30 s and fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_ends_open_event_streams() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let fake = test_binary("fake-claude").display().to_string();
    let home_s = home.path().display().to_string();
    let server = ServerProcess::start(
        dir.path(),
        port,
        &[
            ("ORCHESTRA__SERVER__PORT", &port.to_string()),
            ("ORCHESTRA__SERVER__SHUTDOWN_TIMEOUT_SECS", "120"),
            ("ORCHESTRA__CLAUDE__BINARY", &fake),
            ("ORCHESTRA__CLAUDE__HOME", &home_s),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let client = orchestra_tests::auth::client_with_key(orchestra_tests::auth::TEST_ADMIN_KEY);
    let (status, s) = post(
        &client,
        format!("{base}/api/sessions"),
        json!({"workingDirectory": work.path()}),
    )
    .await;
    assert_eq!(status, 201, "{s}");
    let id = s["id"].as_str().unwrap();
    let res = client
        .get(format!("{base}/api/sessions/{id}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let mut stream = res.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&first).starts_with("retry:"),
        "{first:?}"
    );
    assert_eq!(
        server.terminate().await,
        Some(0),
        "stopped without waiting for the stream"
    );
    // The stream ended (a clean end or a reset, never a hang).
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(rest.is_ok(), "the event stream was ended");
}

both_backends!(
    orchestra_killed_with_live_sessions_recovers_on_restart,
    an_approval_pending_across_a_restart_still_reaches_the_session,
);
