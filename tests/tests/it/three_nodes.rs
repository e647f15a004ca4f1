//! Three nodes on one PostgreSQL, two of them killed with -9 at once (issue 10 point 5):
//! the Telegram poller and the owner of a session. Sessions run spread over the nodes;
//! approvals are decided on nodes that do not run the session, over REST and on Telegram;
//! after the kill the survivor polls Telegram within the lease and resumes the dead nodes'
//! sessions with their history. Nothing is lost, nothing is decided or run twice, and no
//! agent process of a dead node is left behind.

use std::path::Path;
use std::time::{Duration, Instant};

use orchestra_claude::procfs;
use orchestra_tests::bin_support::post_ok;
use orchestra_tests::binary::{ServerProcess, test_binary};
use orchestra_tests::fake_telegram::FakeTelegram;
use orchestra_tests::{Backend, TestApp, free_port};
use serde_json::{Value, json};

use crate::escalation::{ALICE, CHAT, message_for, tool_log, wait_for_pending};
use crate::nodes::{node_options, unique};

/// Long enough that a loaded machine cannot let a live node's lease lapse mid-test.
const LEASE_SECS: &str = "8";

/// A node run as the real binary, so that it can be killed with -9.
struct BinaryNode {
    id: String,
    base: String,
    process: ServerProcess,
    _dir: tempfile::TempDir,
}

impl BinaryNode {
    async fn start(name: &str, home: &Path, shared: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let id = unique(name);
        let base = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(&str, String)> = shared.to_vec();
        env.extend([
            ("ORCHESTRA__SERVER__PORT", port.to_string()),
            ("ORCHESTRA__SERVER__HOST", "127.0.0.1".to_owned()),
            ("ORCHESTRA__NODE__ADVERTISE_URL", base.clone()),
            (
                "ORCHESTRA__CLAUDE__BINARY",
                test_binary("fake-claude").display().to_string(),
            ),
            ("ORCHESTRA__CLAUDE__HOME", home.display().to_string()),
            ("ORCHESTRA__CLAUDE__NODE_ID", id.clone()),
            ("ORCHESTRA__DATABASE__AUTO_MIGRATE", "true".to_owned()),
        ]);
        let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let process = ServerProcess::start(dir.path(), port, &env_ref).await;
        Self {
            id,
            base,
            process,
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let client = orchestra_tests::auth::client_with_key(orchestra_tests::auth::TEST_ADMIN_KEY);
        post_ok(&client, &format!("{}{path}", self.base), body).await
    }
}

/// Waits until the approval's Telegram message is out, then presses its Approve button.
async fn press_approve(tg: &FakeTelegram, approval: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let message = loop {
        if let Some(m) = message_for(tg, approval) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "approval {approval} never reached Telegram"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tg.press(&format!("a:{approval}"), ALICE, "alice", CHAT, message);
}

/// Waits until the turn has ended and returns it.
async fn finished(c: &TestApp, session: &str, turn: &Value) -> Value {
    let t = c
        .wait_for_json(
            &format!(
                "/api/sessions/{session}/turns/{}",
                turn["id"].as_str().unwrap()
            ),
            Duration::from_secs(30),
            |t| t["status"] != "Running",
        )
        .await;
    assert_eq!(t["status"], "Completed", "{t}");
    t
}

/// A message to a session of a dead node, sent to `c` until the dead node's lease runs out.
async fn turn_after_takeover(c: &TestApp, session: &str, prompt: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = c.turn(session, prompt).await;
        if status == 200 {
            return body;
        }
        // While the lease is live: forwarded to a dead node (unreachable) -> 409.
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("session_owned_elsewhere")),
            "{body}"
        );
        assert!(
            Instant::now() < deadline,
            "session {session} was never taken over"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn no_agents_left(node: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !procfs::scan(node).is_empty() {
        assert!(
            Instant::now() < deadline,
            "orphans of {node}: {:?}",
            procfs::scan(node)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_lose_nothing_when_the_poller_and_an_owner_are_killed_together() {
    let tg = FakeTelegram::start("123:fake-token").await;
    let (cs, store) =
        tokio::task::spawn_blocking(|| orchestra_tests::app::new_store(Backend::Postgres))
            .await
            .unwrap();
    let shared = [
        ("TelegramEscalation__Enabled", "true".to_owned()),
        ("TelegramEscalation__BotToken", tg.token.clone()),
        ("TelegramEscalation__ChatId", CHAT.to_string()),
        ("ORCHESTRA__TELEGRAM__API_BASE_URL", tg.base_url.clone()),
        ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", ALICE.to_string()),
        ("ORCHESTRA__TELEGRAM__POLL_TIMEOUT_SECS", "1".to_owned()),
        ("ORCHESTRA__NODE__LEASE_SECS", LEASE_SECS.to_owned()),
        ("DB_CONNECTION_STRING", cs),
    ];
    let (home_a, home_b, home_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    // Node A starts first and becomes the Telegram poller; node C runs in this process.
    let a = BinaryNode::start("node-a", home_a.path(), &shared).await;
    tg.wait_for(Duration::from_secs(10), "node A polls", |t| {
        !t.get_updates_calls().is_empty()
    })
    .await;
    let b = BinaryNode::start("node-b", home_b.path(), &shared).await;
    let c_port = free_port();
    let c_id = unique("node-c");
    let options = shared.iter().fold(
        node_options(home_c.path(), &c_id)
            .with("ORCHESTRA__SERVER__PORT", c_port.to_string())
            .with(
                "ORCHESTRA__NODE__ADVERTISE_URL",
                format!("http://127.0.0.1:{c_port}"),
            ),
        |o, (k, v)| o.with(k, v.clone()),
    );
    let c = TestApp::spawn_with(Backend::Postgres, options).await;

    // One session on each node, one turn each.
    let work = tempfile::tempdir().unwrap();
    let dir = json!({"workingDirectory": work.path()});
    let on_a = a.post("/api/sessions", &dir).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_b = b.post("/api/sessions", &dir).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_c = c.create_session(work.path(), json!({})).await;
    for (node, s) in [(&a, &on_a), (&b, &on_b)] {
        let t = node
            .post(
                &format!("/api/sessions/{s}/messages"),
                &json!({"prompt": "one", "wait": true}),
            )
            .await;
        assert_eq!(t["result"], "echo: one (history: 0)", "{t}");
    }
    let (_, t) = c.turn(&on_c, "one").await;
    assert_eq!(t["result"], "echo: one (history: 0)", "{t}");
    assert!(
        procfs::scan(&c_id).len() == 1,
        "node C runs only its own session"
    );

    // Each asks for a tool; each approval is decided on a node that does not run it:
    // A's on C over REST, B's on A over REST, C's on Telegram (polled by A).
    let ask = |s: &str| json!({"prompt": format!(r#"ASK Bash {{"command":"echo {s}"}}"#)});
    let turn_a = a
        .post(&format!("/api/sessions/{on_a}/messages"), &ask("a"))
        .await;
    let turn_b = b
        .post(&format!("/api/sessions/{on_b}/messages"), &ask("b"))
        .await;
    let (_, turn_c) = c
        .post_json(&format!("/api/sessions/{on_c}/messages"), &ask("c"))
        .await;
    let approve = json!({"approved": true});
    let p_a = wait_for_pending(&c, &on_a).await;
    let (status, body) = c
        .post_json(&format!("/api/approvals/{p_a}/approve"), &approve)
        .await;
    assert_eq!(status, 200, "{body}");
    let p_b = wait_for_pending(&c, &on_b).await;
    a.post(&format!("/api/approvals/{p_b}/approve"), &approve)
        .await;
    let p_c = wait_for_pending(&c, &on_c).await;
    press_approve(&tg, &p_c).await;
    for (s, t) in [(&on_a, &turn_a), (&on_b, &turn_b), (&on_c, &turn_c)] {
        finished(&c, s, t).await;
    }
    // Node A (a process of its own) heard of the decision made on C from PostgreSQL.
    let a_metrics = reqwest::get(format!("{}/metrics", a.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        orchestra_tests::counter(&a_metrics, "node_decision_notifications_total") >= 1,
        "node A never heard a decision announced"
    );
    assert_eq!(tg.poll_conflicts(), 0, "one poller at a time");

    // The poller and the owner of a session die at once.
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let (a_log, b_log) = tokio::join!(a.process.kill9(), b.process.kill9());

    // A new approval on the survivor's session is decided on Telegram: node C polls once
    // node A's lease ran out.
    let (_, turn_c2) = c
        .post_json(&format!("/api/sessions/{on_c}/messages"), &ask("c2"))
        .await;
    let p_c2 = wait_for_pending(&c, &on_c).await;
    press_approve(&tg, &p_c2).await;
    finished(&c, &on_c, &turn_c2).await;

    // The dead nodes' sessions resume on node C with their history.
    for s in [&on_a, &on_b] {
        let t = turn_after_takeover(&c, s, "two").await;
        assert_eq!(t["result"], "echo: two (history: 2)", "{t}");
    }

    // Nothing lost, nothing decided or run twice, nothing left behind.
    let (_, pending) = c.get_json("/api/approvals?status=Pending").await;
    assert_eq!(pending["total"], 0, "{pending}");
    for (p, by) in [
        (&p_a, "key:"),
        (&p_b, "key:"),
        (&p_c, "telegram"),
        (&p_c2, "telegram"),
    ] {
        let (_, approval) = c.get_json(&format!("/api/approvals/{p}")).await;
        assert_eq!(approval["status"], "Approved", "{approval}");
        let decided_by = approval["decidedBy"].as_str().unwrap_or_default();
        assert!(
            decided_by.starts_with(by),
            "{p} decided by {decided_by}, not {by}"
        );
    }
    assert_eq!(
        tool_log(home_a.path(), &on_a),
        [r#"ran Bash {"command":"echo a"}"#]
    );
    assert_eq!(
        tool_log(home_b.path(), &on_b),
        [r#"ran Bash {"command":"echo b"}"#]
    );
    assert_eq!(
        tool_log(home_c.path(), &on_c),
        [
            r#"ran Bash {"command":"echo c"}"#,
            r#"ran Bash {"command":"echo c2"}"#
        ]
    );
    assert!(tool_log(home_c.path(), &on_a).is_empty() && tool_log(home_c.path(), &on_b).is_empty());
    // A press is answered just after its decision commits.
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
    // At most node A's last poll, left waiting by the kill, ended by node C's first.
    assert!(tg.poll_conflicts() <= 1, "{}", tg.poll_conflicts());
    no_agents_left(&a_id).await;
    no_agents_left(&b_id).await;
    assert!(
        !a_log.contains("panicked") && !b_log.contains("panicked"),
        "{a_log}\n{b_log}"
    );
    c.shutdown().await;
    no_agents_left(&c_id).await;
    drop(store);
    tg.stop().await;
}
