//! The capacity figure of issue 10: many open sessions on one node with few process slots.
//!
//! ```text
//! capbench --orchestra target/release/orchestra --fake target/release/fake-claude
//!          --backend sqlite|postgres [--sessions 10000] [--slots 32] [--samples 200]
//! ```
//!
//! Creates `--sessions` sessions through the API (each starts a fake CLI; past `--slots` each
//! create suspends the least recently used idle one), one turn in the first `--slots`, then
//! measures: the server's RSS; `GET /api/sessions/{id}` on random sessions; a message to a
//! suspended session (the LRU eviction, the CLI's start with `--resume`, the turn), next to
//! the fake CLI's own cold start and first turn run directly (spawn, one turn, exit), so the
//! difference is what Orchestra adds; and a message to a live idle session (the turn alone),
//! so that taking it off as well leaves what the eviction and the resume add over the CLI's
//! own start. Prints JSON lines.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: fail loudly"
)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use orchestra_tests::bench_server::BenchServer;
use orchestra_tests::bin_support::{bench_client, flag, nearest_rank, post_ok};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn report(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    let p50 = nearest_rank(&ms, 0.5);
    println!(
        "{}",
        json!({"series": name, "samples": ms.len(), "p50_ms": p50, "p90_ms": nearest_rank(&ms, 0.9),
               "p99_ms": nearest_rank(&ms, 0.99), "max_ms": nearest_rank(&ms, 1.0)})
    );
    p50
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The fake CLI on its own: spawn with `--session-id`, one turn, stdin EOF, exit.
async fn direct_cold_turn(fake: &Path, state: &Path, work: &Path) -> Duration {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(fake)
        .args([
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--session-id",
            &uuid::Uuid::new_v4().to_string(),
        ])
        .current_dir(work)
        .env("FAKE_CLAUDE_STATE_DIR", state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let msg = json!({"type": "user", "message": {"role": "user", "content": "hello"}, "parent_tool_use_id": null, "session_id": ""});
    stdin
        .write_all(format!("{msg}\n").as_bytes())
        .await
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains(r#""type":"result""#) {
            break;
        }
    }
    let took = started.elapsed();
    drop(stdin);
    child.wait().await.unwrap();
    took
}

async fn create_sessions(client: &reqwest::Client, s: &BenchServer, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    let mut lat = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let t = Instant::now();
        let r: Value = post_ok(
            client,
            &format!("{}/api/sessions", s.base),
            &json!({"workingDirectory": s.work}),
        )
        .await;
        lat.push(ms(t.elapsed()));
        ids.push(r["id"].as_str().unwrap().to_owned());
    }
    println!(
        "{}",
        json!({"created": count, "create_s": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0})
    );
    report("create (spawn + LRU eviction past the slots)", lat);
    ids
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let orchestra =
        std::fs::canonicalize(flag(&args, "--orchestra").expect("--orchestra")).unwrap();
    let fake = std::fs::canonicalize(flag(&args, "--fake").expect("--fake")).unwrap();
    let backend = flag(&args, "--backend").unwrap_or_else(|| "sqlite".into());
    let count: usize = flag(&args, "--sessions").map_or(10_000, |s| s.parse().unwrap());
    let slots: usize = flag(&args, "--slots").map_or(32, |s| s.parse().unwrap());
    let samples: usize = flag(&args, "--samples").map_or(200, |s| s.parse().unwrap());
    let slots_s = slots.to_string();
    let s = BenchServer::start(
        &orchestra,
        &fake,
        &backend,
        &[("ORCHESTRA__CLAUDE__MAX_LIVE_PROCESSES", &slots_s)],
    )
    .await;
    let client = bench_client();
    let rss_start = s.rss_kb();
    let ids = create_sessions(&client, &s, count).await;
    // Give each session a conversation (so the resume below is a real `--resume`), sampled:
    // the first `samples` and the last `slots`.
    for id in ids.iter().take(samples).chain(ids.iter().rev().take(slots)) {
        post_ok(
            &client,
            &format!("{}/api/sessions/{id}/messages", s.base),
            &json!({"prompt": "first", "wait": true}),
        )
        .await;
    }
    let rss_open = s.rss_kb();
    println!(
        "{}",
        json!({"backend": backend, "sessions": count, "slots": slots, "rss_start_kb": rss_start,
               "rss_with_sessions_kb": rss_open})
    );

    // Reads of random sessions (most are suspended).
    let mut reads = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..2000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        #[expect(clippy::cast_possible_truncation, reason = "an index")]
        let id = &ids[(rng % ids.len() as u64) as usize];
        let t = Instant::now();
        let r = client
            .get(format!("{}/api/sessions/{id}", s.base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
        reads.push(ms(t.elapsed()));
    }
    report("GET /api/sessions/{id}", reads);

    // Messages to suspended sessions: each evicts the least recently used live one, starts
    // the CLI with --resume and runs a turn. The first `samples` were used longest ago.
    let mut resumed = Vec::new();
    for id in ids.iter().take(samples) {
        let t = Instant::now();
        let r: Value = post_ok(
            &client,
            &format!("{}/api/sessions/{id}/messages", s.base),
            &json!({"prompt": "again", "wait": true}),
        )
        .await;
        assert_eq!(r["result"], "echo: again (history: 1)", "{r}");
        resumed.push(ms(t.elapsed()));
    }
    let through = report(
        "message to a suspended session (eviction + resume + turn)",
        resumed,
    );
    // Messages to live idle sessions (the last `slots` just resumed): the same turn without
    // the eviction and the resume, so the difference is what those two cost.
    let live_ids: Vec<&String> = ids.iter().take(samples).rev().take(slots).collect();
    let mut live = Vec::new();
    for i in 0..samples {
        let id = live_ids[i % live_ids.len()];
        let t = Instant::now();
        let r: Value = post_ok(
            &client,
            &format!("{}/api/sessions/{id}/messages", s.base),
            &json!({"prompt": "live", "wait": true}),
        )
        .await;
        assert_eq!(r["status"], "Completed", "{r}");
        live.push(ms(t.elapsed()));
    }
    let live = report("message to a live idle session (turn only)", live);
    let state = s.dir.path().join("direct-state");
    let mut direct = Vec::new();
    for _ in 0..samples {
        direct.push(ms(direct_cold_turn(&fake, &state, &s.work).await));
    }
    let own = report("the fake CLI alone: cold start + first turn", direct);
    println!(
        "{}",
        json!({"added_by_orchestra_p50_ms": ((through - own) * 1000.0).round() / 1000.0,
               "eviction_and_resume_over_cli_start_p50_ms": ((through - live - own) * 1000.0).round() / 1000.0,
               "rss_end_kb": s.rss_kb(), "server_log_errors": s.logged_errors()})
    );
    s.stop().await;
}
