//! Two nodes behind the nginx configuration of deploy/nginx/orchestra-lb.conf (issue 10
//! point 6), run by the real nginx on loopback: a client that only knows the balancer's
//! address runs a session whose requests nginx spreads over both nodes (the node that does
//! not run it forwards them), streams its events, decides its approval, and keeps going
//! when the node running it stops.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use orchestra_claude::procfs;
use orchestra_tests::sse::read_until;
use orchestra_tests::{TestApp, counter, free_port};
use serde_json::{Value, json};

use crate::escalation::tool_log;
use crate::nodes::{node_at, unique};
use crate::tls::make_cert;

const LB_CONF: &str = include_str!("../../../deploy/nginx/orchestra-lb.conf");

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "deploy/nginx/orchestra-lb.conf no longer has `{from}` once"
    );
    text.replace(from, to)
}

/// nginx running the deployment's balancer file, its upstreams and TLS files pointed at this
/// test's nodes and certificate; stopped when dropped.
struct Nginx {
    child: tokio::process::Child,
    port: u16,
}

impl Nginx {
    async fn start(dir: &Path, nodes: [u16; 2], cert: &str, key: &str) -> Self {
        let port = free_port();
        let mut conf = replace_once(
            LB_CONF,
            "orchestra-1:5284",
            &format!("127.0.0.1:{}", nodes[0]),
        );
        conf = replace_once(
            &conf,
            "orchestra-2:5284",
            &format!("127.0.0.1:{}", nodes[1]),
        );
        conf = replace_once(
            &conf,
            "listen 443 ssl;",
            &format!("listen 127.0.0.1:{port} ssl;"),
        );
        conf = replace_once(&conf, "/etc/nginx/tls/tls.crt", cert);
        conf = replace_once(&conf, "/etc/nginx/tls/tls.key", key);
        let d = dir.display();
        std::fs::write(dir.join("orchestra-lb.conf"), conf).unwrap();
        // What the nginx image's own nginx.conf provides around conf.d/.
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/orchestra-lb.conf;\n}}\n"
        );
        let main = if is_root() {
            format!("user root;\n{main}")
        } else {
            main
        };
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let child = tokio::process::Command::new("nginx")
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx is needed for this test (apt-get install nginx; .ci/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, port }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            == Some("0")
    })
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let r = client.post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn forwarded(nodes: &[&TestApp]) -> u64 {
    let mut n = 0;
    for node in nodes {
        n += counter(
            &node.metrics_text().await,
            "node_requests_forwarded_total{outcome=\"forwarded\"}",
        );
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_the_balancer_runs_a_session_over_both_nodes_and_through_a_node_stop() {
    let (home_a, home_b, work, tls) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (node_a, node_b) = (unique("lb-a"), unique("lb-b"));
    let a = node_at(home_a.path(), &node_a, None).await;
    let db = a.store.connection_string();
    let b = node_at(home_b.path(), &node_b, Some(&db)).await;
    let (ca, cert, key) = make_cert(tls.path(), "lb");
    let nginx = Nginx::start(tls.path(), [a.port, b.port], &cert, &key).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", orchestra_tests::auth::TEST_ADMIN_KEY)
            .parse()
            .unwrap(),
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let lb = format!("https://localhost:{}", nginx.port);

    let (status, created) = post(
        &client,
        &format!("{lb}/api/sessions"),
        &json!({"workingDirectory": work.path()}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let messages = format!("{lb}/api/sessions/{id}/messages");
    // nginx takes the nodes in turn: half of these reach the node that does not run the
    // session, which forwards them; every one is answered, in order.
    let mut last = Value::Null;
    for i in 0..4 {
        let (status, t) = post(
            &client,
            &messages,
            &json!({"prompt": format!("m{i}"), "wait": true}),
        )
        .await;
        assert_eq!(
            (status, t["result"].as_str()),
            (200, Some(format!("echo: m{i} (history: {i})").as_str())),
            "{t}"
        );
        last = t;
    }
    assert!(
        forwarded(&[&a, &b]).await >= 1,
        "no request went through the other node"
    );
    // One agent, on one node.
    assert_eq!(procfs::scan(&node_a).len() + procfs::scan(&node_b).len(), 1);

    // The event stream passes through nginx as it comes (no buffering).
    let events = read_until(
        &client,
        &format!("{lb}/api/sessions/{id}/events?after=0"),
        None,
        Duration::from_secs(15),
        |e| e.event == "turn_finished" && e.data["data"]["turnId"] == last["id"],
    )
    .await;
    assert!(
        events.iter().any(|e| e.event == "assistant_text"),
        "{events:?}"
    );

    // An approval, decided through the balancer, runs the tool once.
    let (status, turn) = post(
        &client,
        &messages,
        &json!({"prompt": r#"ASK Bash {"command":"echo lb"}"#}),
    )
    .await;
    assert!(status == 200 || status == 202, "{turn}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let approval = loop {
        assert!(
            Instant::now() < deadline,
            "the approval never showed as Pending"
        );
        let list: Value = client
            .get(format!("{lb}/api/approvals?sessionId={id}&status=Pending"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if list["total"] == 1 {
            break list["items"][0]["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (status, decided) = post(
        &client,
        &format!("{lb}/api/approvals/{approval}/approve"),
        &json!({"approved": true}),
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    let turn_url = format!(
        "{lb}/api/sessions/{id}/turns/{}",
        turn["id"].as_str().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t: Value = client
            .get(&turn_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if t["status"] != "Running" {
            assert_eq!(t["status"], "Completed", "{t}");
            break;
        }
        assert!(Instant::now() < deadline, "{t}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ran: Vec<String> = [tool_log(home_a.path(), &id), tool_log(home_b.path(), &id)].concat();
    assert_eq!(
        ran,
        [r#"ran Bash {"command":"echo lb"}"#],
        "the tool ran once"
    );

    // The node running the session stops: nginx sends the next message to the other node,
    // which resumes the session with its history.
    let (owner, other) = if procfs::scan(&node_a).is_empty() {
        (b, a)
    } else {
        (a, b)
    };
    let store = owner.shutdown_keep_store().await;
    let (status, t) = post(
        &client,
        &messages,
        &json!({"prompt": "after", "wait": true}),
    )
    .await;
    assert_eq!(
        (status, t["result"].as_str()),
        (200, Some("echo: after (history: 5)")),
        "{t}"
    );
    other.shutdown().await;
    drop(store);
    drop(nginx);
}
