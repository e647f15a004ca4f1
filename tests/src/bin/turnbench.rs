//! Per-turn overhead of Orchestra over driving the same CLI directly, and the server's
//! memory with many live sessions. Uses the fake CLI, so the model's time is out of it.
//!
//! ```text
//! turnbench overhead --fake PATH --url http://127.0.0.1:PORT --work DIR [--turns N]
//! turnbench sessions --url http://127.0.0.1:PORT --work DIR --pid SERVER_PID [--count N]
//! ```
//! Prints JSON lines with percentiles (milliseconds) and RSS (KiB).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: fail loudly"
)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use orchestra_tests::bin_support::{flag, nearest_rank};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn summary(name: &str, mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let (p50, p90, p99) = (
        nearest_rank(&ms, 0.5),
        nearest_rank(&ms, 0.9),
        nearest_rank(&ms, 0.99),
    );
    println!(
        "{{\"series\":\"{name}\",\"turns\":{},\"p50_ms\":{p50:.3},\"p90_ms\":{p90:.3},\"p99_ms\":{p99:.3},\"max_ms\":{:.3}}}",
        ms.len(),
        nearest_rank(&ms, 1.0)
    );
    (p50, p90, p99)
}

async fn direct(fake: &str, work: &str, turns: usize) -> Vec<f64> {
    let home = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(fake)
        .args([
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--session-id",
        ])
        .arg(uuid::Uuid::new_v4().to_string())
        .current_dir(work)
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    stdin.write_all(b"{\"type\":\"control_request\",\"request_id\":\"i\",\"request\":{\"subtype\":\"initialize\"}}\n").await.unwrap();
    lines.next_line().await.unwrap();
    let mut out = Vec::with_capacity(turns);
    for i in 0..turns {
        let started = Instant::now();
        let msg = json!({"type": "user", "message": {"role": "user", "content": format!("turn {i}")}, "parent_tool_use_id": null, "session_id": ""});
        stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            if line.contains("\"type\":\"result\"") {
                break;
            }
        }
        out.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    drop(stdin);
    let _ = child.wait().await;
    out
}

async fn create(client: &reqwest::Client, url: &str, work: &str) -> String {
    let res: Value = client
        .post(format!("{url}/api/sessions"))
        .json(&json!({"workingDirectory": work}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["id"]
        .as_str()
        .unwrap_or_else(|| panic!("create failed: {res}"))
        .to_owned()
}

async fn via_orchestra(url: &str, work: &str, turns: usize) -> Vec<f64> {
    let client = orchestra_tests::bin_support::bench_client();
    let id = create(&client, url, work).await;
    let mut out = Vec::with_capacity(turns);
    for i in 0..turns {
        let started = Instant::now();
        let res: Value = client
            .post(format!("{url}/api/sessions/{id}/messages"))
            .json(&json!({"prompt": format!("turn {i}"), "wait": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(res["status"], "Completed", "{res}");
        out.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    client
        .delete(format!("{url}/api/sessions/{id}"))
        .send()
        .await
        .unwrap();
    out
}

fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = flag(&args, "--url").expect("--url");
    let work = flag(&args, "--work").expect("--work");
    match args.get(1).map(String::as_str) {
        Some("overhead") => {
            let fake = flag(&args, "--fake").expect("--fake");
            let turns: usize = flag(&args, "--turns").map_or(2000, |s| s.parse().unwrap());
            // Warm up both paths, then measure them interleaved in rounds.
            direct(&fake, &work, 50).await;
            via_orchestra(&url, &work, 50).await;
            let (mut d, mut o) = (Vec::new(), Vec::new());
            for _ in 0..4 {
                d.extend(direct(&fake, &work, turns / 4).await);
                o.extend(via_orchestra(&url, &work, turns / 4).await);
            }
            let (d50, d90, d99) = summary("direct", d);
            let (o50, o90, o99) = summary("orchestra", o);
            println!(
                "{{\"series\":\"overhead\",\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3}}}",
                o50 - d50,
                o90 - d90,
                o99 - d99
            );
        }
        Some("sessions") => {
            let pid = flag(&args, "--pid").expect("--pid");
            let count: usize = flag(&args, "--count").map_or(200, |s| s.parse().unwrap());
            let before = rss_kib(&pid);
            let client = orchestra_tests::bin_support::bench_client();
            let started = Instant::now();
            let mut ids = Vec::new();
            for chunk in (0..count).collect::<Vec<_>>().chunks(20) {
                let mut tasks = Vec::new();
                for _ in chunk {
                    let (client, url, work) = (client.clone(), url.clone(), work.clone());
                    tasks.push(tokio::spawn(async move {
                        let id = create(&client, &url, &work).await;
                        let res: Value = client
                            .post(format!("{url}/api/sessions/{id}/messages"))
                            .json(&json!({"prompt": "hello", "wait": true}))
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                        assert_eq!(res["status"], "Completed", "{res}");
                        id
                    }));
                }
                for t in tasks {
                    ids.push(t.await.unwrap());
                }
            }
            let agents: Value = client
                .get(format!("{url}/api/agents"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let with = rss_kib(&pid);
            println!(
                "{{\"series\":\"sessions\",\"live\":{},\"created_in_s\":{:.1},\"server_rss_before_kib\":{before},\"server_rss_with_sessions_kib\":{with}}}",
                agents[0]["liveProcesses"],
                started.elapsed().as_secs_f64()
            );
            for id in ids {
                client
                    .delete(format!("{url}/api/sessions/{id}"))
                    .send()
                    .await
                    .unwrap();
            }
            let after = rss_kib(&pid);
            println!("{{\"series\":\"sessions_closed\",\"server_rss_after_close_kib\":{after}}}");
        }
        _ => panic!("usage: turnbench overhead|sessions ..."),
    }
}
