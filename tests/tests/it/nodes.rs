//! Several nodes on one PostgreSQL (issue 10 point 4, docs/adr/0004-several-nodes.md): a
//! session runs on the node that holds its lease; another node forwards its requests there
//! (or answers 409 with the owner when it cannot); a decision made on any node reaches the
//! agent; a node that stops (gracefully, or killed with -9) hands its sessions over, and
//! they resume elsewhere with their history.

use std::path::Path;
use std::time::{Duration, Instant};

use orchestra_claude::procfs;
use orchestra_tests::bin_support::post_ok;
use orchestra_tests::binary::{ServerProcess, test_binary};
use orchestra_tests::free_port;
use orchestra_tests::sse::read_until;
use orchestra_tests::{Backend, TestApp, TestAppOptions, counter};
use serde_json::json;

use crate::escalation::{tool_log, wait_for_pending};

pub(crate) fn node_options(home: &Path, node: &str) -> TestAppOptions {
    TestAppOptions::default()
        .fake_cli(home)
        .with("ORCHESTRA__CLAUDE__NODE_ID", node)
        .with("ORCHESTRA__NODE__LEASE_SECS", "5")
}

/// A node id no other test uses (agents are found, and orphans reaped, by node id).
pub(crate) fn unique(name: &str) -> String {
    format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A node listening on a port chosen here, so that its `node.advertise_url` is right.
pub(crate) async fn node_at(home: &Path, node: &str, db: Option<&str>) -> TestApp {
    let port = free_port();
    let mut options = node_options(home, node)
        .with("ORCHESTRA__SERVER__PORT", port.to_string())
        .with(
            "ORCHESTRA__NODE__ADVERTISE_URL",
            format!("http://127.0.0.1:{port}"),
        );
    if let Some(db) = db {
        options = options.with("DB_CONNECTION_STRING", db);
    }
    TestApp::spawn_with(Backend::Postgres, options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_on_one_node_takes_requests_and_decisions_from_any_and_moves_when_its_node_stops()
 {
    let work = tempfile::tempdir().unwrap();
    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (node_a, node_b) = (unique("node-a"), unique("node-b"));
    let a = node_at(home_a.path(), &node_a, None).await;
    let db = a.store.connection_string();
    let b = node_at(home_b.path(), &node_b, Some(&db)).await;
    let id = a.create_session(work.path(), json!({})).await;
    let (_, t) = a.turn(&id, "one").await;
    assert_eq!(t["result"], "echo: one (history: 0)", "{t}");

    // A message sent to node B is forwarded to node A, which runs the session; node B
    // starts no agent of its own.
    let (status, t) = b.turn(&id, "two").await;
    assert_eq!(
        (status, t["result"].as_str()),
        (200, Some("echo: two (history: 1)")),
        "{t}"
    );
    assert!(
        procfs::scan(&node_b).is_empty(),
        "no agent started on node B"
    );
    // So is its event stream: node B streams node A's events.
    let events = read_until(
        &b.client,
        &b.url(&format!("/api/sessions/{id}/events?after=0")),
        None,
        Duration::from_secs(10),
        |e| e.event == "turn_finished" && e.data["data"]["turnId"] == t["id"],
    )
    .await;
    assert!(
        events.iter().any(|e| e.event == "assistant_text"),
        "{events:?}"
    );

    // A decision made on node B reaches the agent waiting on node A, once.
    let (_, turn) = a.send(&id, r#"ASK Bash {"command":"echo hi"}"#).await;
    let approval = wait_for_pending(&b, &id).await;
    let (status, decided) = b
        .post_json(
            &format!("/api/approvals/{approval}/approve"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    let turn_id = turn["id"].as_str().unwrap();
    let done = a
        .wait_for_json(
            &format!("/api/sessions/{id}/turns/{turn_id}"),
            Duration::from_secs(15),
            |t| t["status"] != "Running",
        )
        .await;
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(
        tool_log(home_a.path(), &id),
        [r#"ran Bash {"command":"echo hi"}"#],
        "the tool ran once, on node A"
    );
    // The database announced it (LISTEN/NOTIFY). Both nodes run in this process and share
    // one metrics recorder, so this shows the announcement, not which node heard it:
    // three_nodes.rs checks that on a node of its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter(&a.metrics_text().await, "node_decision_notifications_total") == 0 {
        assert!(
            Instant::now() < deadline,
            "node A never heard of the decision from PostgreSQL"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Node A stops gracefully: node B takes the session over at once, with its history
    // (node B's HOME never saw it: the transcript comes from the database).
    let store = a.shutdown_keep_store().await;
    drop(home_a);
    let (status, t) = b.turn(&id, "three").await;
    assert_eq!(
        (status, t["result"].as_str()),
        (200, Some("echo: three (history: 3)")),
        "{t}"
    );
    b.shutdown().await;
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_of_a_node_killed_with_9_resumes_on_another_once_its_lease_expires() {
    let work = tempfile::tempdir().unwrap();
    let (dir_a, home_a, home_b) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    // Node B (in this process) owns the database; node A is the real binary.
    let b = TestApp::spawn_with(
        Backend::Postgres,
        node_options(home_b.path(), &unique("node-b")),
    )
    .await;
    let db = b.store.connection_string();
    let port = free_port();
    let node_a = unique("node-a");
    let fake = test_binary("fake-claude").display().to_string();
    let home = home_a.path().display().to_string();
    let env = [
        ("ORCHESTRA__SERVER__PORT", port.to_string()),
        ("ORCHESTRA__SERVER__HOST", "127.0.0.1".to_owned()),
        ("ORCHESTRA__CLAUDE__BINARY", fake),
        ("ORCHESTRA__CLAUDE__HOME", home),
        ("ORCHESTRA__CLAUDE__NODE_ID", node_a.clone()),
        ("ORCHESTRA__NODE__LEASE_SECS", "5".to_owned()),
        ("ORCHESTRA__DATABASE__AUTO_MIGRATE", "true".to_owned()),
        ("DB_CONNECTION_STRING", db),
    ];
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = ServerProcess::start(dir_a.path(), port, &env_ref).await;
    let client = orchestra_tests::auth::client_with_key(orchestra_tests::auth::TEST_ADMIN_KEY);
    let base = format!("http://127.0.0.1:{port}");
    let created = post_ok(
        &client,
        &format!("{base}/api/sessions"),
        &json!({"workingDirectory": work.path()}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let t = post_ok(
        &client,
        &format!("{base}/api/sessions/{id}/messages"),
        &json!({"prompt": "one", "wait": true}),
    )
    .await;
    assert_eq!(t["result"], "echo: one (history: 0)", "{t}");

    a.kill9().await;
    drop(home_a);
    // Until node A's lease runs out, node B refuses; then it takes the session over and
    // resumes it from the stored transcript.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut refusals = 0;
    let t = loop {
        let (status, body) = b.turn(&id, "two").await;
        if status == 200 {
            break body;
        }
        assert_eq!(
            (
                status,
                body["code"].as_str(),
                body["owner"]["nodeId"].as_str()
            ),
            (409, Some("session_owned_elsewhere"), Some(node_a.as_str())),
            "{body}"
        );
        refusals += 1;
        assert!(
            Instant::now() < deadline,
            "node B never took the session over"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(t["result"], "echo: two (history: 1)", "{t}");
    assert!(
        refusals > 0,
        "node A's lease was still live right after the kill"
    );
    // Node A's idle agent exited with its stdin; nothing of node A is left.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !procfs::scan(&node_a).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", procfs::scan(&node_a));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.shutdown().await;
}

/// Exactly one node long-polls Telegram (two would conflict: Telegram answers 409); when it
/// is killed with -9, another takes the poll over within the lease, and every button press
/// is handled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_polls_telegram_and_another_takes_over_when_it_is_killed() {
    use crate::escalation::{ALICE, CHAT, message_for};
    use orchestra_tests::fake_telegram::FakeTelegram;

    let tg = FakeTelegram::start("123:fake-token").await;
    let (cs, store) =
        tokio::task::spawn_blocking(|| orchestra_tests::app::new_store(Backend::Postgres))
            .await
            .unwrap();
    let telegram = [
        ("TelegramEscalation__Enabled", "true".to_owned()),
        ("TelegramEscalation__BotToken", tg.token.clone()),
        ("TelegramEscalation__ChatId", CHAT.to_string()),
        ("ORCHESTRA__TELEGRAM__API_BASE_URL", tg.base_url.clone()),
        ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", ALICE.to_string()),
        ("ORCHESTRA__TELEGRAM__POLL_TIMEOUT_SECS", "1".to_owned()),
        // Longer than the other tests' 5 s: a lease that lapses under a loaded machine
        // would let node B poll beside a live node A, which this test must not see.
        ("ORCHESTRA__NODE__LEASE_SECS", "8".to_owned()),
        ("DB_CONNECTION_STRING", cs.clone()),
    ];
    // Node A, the real binary, starts first and becomes the poller.
    let dir_a = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut env_a: Vec<(&str, String)> = telegram.to_vec();
    env_a.extend([
        ("ORCHESTRA__SERVER__PORT", port.to_string()),
        ("ORCHESTRA__SERVER__HOST", "127.0.0.1".to_owned()),
        ("ORCHESTRA__CLAUDE__NODE_ID", unique("node-a")),
        ("ORCHESTRA__DATABASE__AUTO_MIGRATE", "true".to_owned()),
    ]);
    let env_ref: Vec<(&str, &str)> = env_a.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = ServerProcess::start(dir_a.path(), port, &env_ref).await;
    tg.wait_for(Duration::from_secs(10), "node A polls", |t| {
        !t.get_updates_calls().is_empty()
    })
    .await;
    let home_b = tempfile::tempdir().unwrap();
    let options = telegram.iter().fold(
        node_options(home_b.path(), &unique("node-b")),
        |o, (k, v)| o.with(k, v.clone()),
    );
    let b = TestApp::spawn_with(Backend::Postgres, options).await;

    let decided_after_press = |approval: String| {
        let (tg, b) = (&tg, &b);
        async move {
            let msg = {
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    if let Some(m) = message_for(tg, &approval) {
                        break m;
                    }
                    assert!(Instant::now() < deadline, "the approval was never sent");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            tg.press(&format!("a:{approval}"), ALICE, "alice", CHAT, msg);
            b.wait_for_json(
                &format!("/api/approvals/{approval}"),
                Duration::from_secs(20),
                |a| a["status"] != "Pending",
            )
            .await
        }
    };
    let first = decided_after_press(b.create_test_approval().await).await;
    assert_eq!(first["status"], "Approved", "{first}");
    assert_eq!(tg.poll_conflicts(), 0, "never two pollers at once");

    a.kill9().await;
    let second = decided_after_press(b.create_test_approval().await).await;
    assert_eq!(
        second["status"], "Approved",
        "node B polls once node A's lease ran out: {second}"
    );
    // At most node A's last poll, left waiting by the kill, ended by node B's first.
    assert!(tg.poll_conflicts() <= 1, "{}", tg.poll_conflicts());
    // The press is answered just after the decision commits.
    tg.wait_for(Duration::from_secs(10), "both presses answered", |t| {
        t.answers().len() >= 2
    })
    .await;
    assert_eq!(
        tg.answers().len(),
        2,
        "each press answered once: {:?}",
        tg.answers()
    );
    b.shutdown().await;
    drop(store);
    tg.stop().await;
}
