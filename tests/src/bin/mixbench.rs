//! The load figure of issue 9: a mixed API load at a fixed rate through the release server,
//! on SQLite or PostgreSQL, while live fake sessions run turns and their event streams are
//! read.
//!
//! ```text
//! mixbench --orchestra target/release/orchestra --fake target/release/fake-claude
//!          --backend sqlite|postgres [--rate 1000] [--duration 60] [--sessions 32]
//!          [--connections 16] [--turn-ms 500] [--env KEY=VALUE ...]
//! ```
//!
//! The mix is a cycle of ten requests: list pending approvals (page of 50 with the total),
//! list all approvals, list sessions, list a session's turns, get an approval (twice), get a
//! session, decide a pending approval (approve, a fresh one each time: 10 % of the load),
//! `/health` (twice). Requests are scheduled open-loop (latency is measured from each
//! request's scheduled instant) and spread over `--connections` kept-alive connections.
//! Meanwhile each of the `--sessions` sessions runs a turn every `--turn-ms` (its agent is the
//! fake CLI, which answers at once; the sessions' turns are spread evenly over the interval)
//! and has an SSE client reading its events.
//! Prints JSON lines: one per operation and one for the whole mix, then the sessions'
//! figures and the server's RSS.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: fail loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orchestra_tests::auth::TEST_ADMIN_KEY;
use orchestra_tests::bench_server::BenchServer;
use orchestra_tests::bin_support::{bench_client, flag, post_ok};
use orchestra_tests::raw_http::{Conn, Target, pacer, percentile_ms, request_bytes};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const OPS: [&str; 10] = [
    "list_pending_approvals",
    "get_approval",
    "health",
    "list_sessions",
    "get_session",
    "decide",
    "list_approvals",
    "get_approval",
    "health",
    "list_turns",
];

struct Ids {
    sessions: Vec<String>,
    approvals: Vec<String>,
    to_decide: Vec<String>,
    next_decide: AtomicUsize,
}

impl Ids {
    /// Method, path and body of ticket `n`.
    fn request(&self, n: u64) -> (&'static str, String, &'static str) {
        #[expect(clippy::cast_possible_truncation, reason = "ticket numbers are small")]
        let i = n as usize;
        let session = &self.sessions[(i / OPS.len()) % self.sessions.len()];
        let approval = &self.approvals[(i / 2) % self.approvals.len()];
        match i % OPS.len() {
            0 => ("GET", "/api/approvals?status=Pending".into(), ""),
            1 | 7 => ("GET", format!("/api/approvals/{approval}"), ""),
            3 => ("GET", "/api/sessions".into(), ""),
            4 => ("GET", format!("/api/sessions/{session}"), ""),
            5 => {
                let d = self.next_decide.fetch_add(1, Ordering::Relaxed);
                let id = self.to_decide.get(d).expect("seed more approvals");
                (
                    "POST",
                    format!("/api/approvals/{id}/approve"),
                    r#"{"approved":true,"decidedBy":"mixbench"}"#,
                )
            }
            6 => ("GET", "/api/approvals".into(), ""),
            9 => ("GET", format!("/api/sessions/{session}/turns"), ""),
            _ => ("GET", "/health".into(), ""),
        }
    }
}

fn report(name: &str, mut us: Vec<u64>, errors: u64, non_2xx: u64, elapsed: f64) {
    us.sort_unstable();
    #[expect(clippy::cast_precision_loss, reason = "counts")]
    let rps = us.len() as f64 / elapsed;
    println!(
        "{}",
        json!({
            "op": name, "requests": us.len(), "errors": errors, "non_2xx": non_2xx,
            "rps": rps.round(),
            "p50_ms": percentile_ms(&us, 0.5), "p90_ms": percentile_ms(&us, 0.9),
            "p99_ms": percentile_ms(&us, 0.99), "p999_ms": percentile_ms(&us, 0.999),
            "max_ms": percentile_ms(&us, 1.0),
        })
    );
}

/// Busy and total jiffies of the whole machine (`/proc/stat`).
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = cpu.iter().sum();
    let idle = cpu[3] + cpu.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// User + system jiffies of process `pid` (`/proc/<pid>/stat`).
fn process_jiffies(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The server's own view: mean time per HTTP route and per database query (from the
/// `_sum` / `_count` of its histograms), the slowest first.
async fn server_side(client: &reqwest::Client, base: &str) {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in ["http_request_duration_seconds", "db_query_duration_seconds"] {
        let mut sums = std::collections::BTreeMap::new();
        let mut counts = std::collections::BTreeMap::new();
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: f64 = value.parse().unwrap_or(0.0);
            if let Some(labels) = series.strip_prefix(&format!("{family}_sum")) {
                sums.insert(labels.to_owned(), value);
            } else if let Some(labels) = series.strip_prefix(&format!("{family}_count")) {
                counts.insert(labels.to_owned(), value);
            }
        }
        let mut rows: Vec<(f64, f64, String)> = sums
            .iter()
            .filter_map(|(labels, sum)| {
                let count = *counts.get(labels)?;
                (count > 0.0).then(|| (sum / count * 1000.0, count, labels.clone()))
            })
            .collect();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (mean_ms, count, labels) in rows.into_iter().take(8) {
            println!(
                "{}",
                json!({"server_side": family, "labels": labels, "count": count, "mean_ms": (mean_ms * 1000.0).round() / 1000.0})
            );
        }
    }
}

/// Creates `count` pending test approvals, 8 requests at a time; returns their ids.
async fn seed_approvals(client: &reqwest::Client, base: &str, count: usize) -> Vec<String> {
    let mut set = tokio::task::JoinSet::new();
    for w in 0..8 {
        let client = client.clone();
        let url = format!("{base}/api/approvals/test");
        set.spawn(async move {
            let mut ids = Vec::new();
            for _ in (w..count).step_by(8) {
                let r: Value = post_ok(
                    &client,
                    &url,
                    &json!({"toolName": "BenchTool", "sessionId": "mixbench"}),
                )
                .await;
                ids.push(r["approval"]["id"].as_str().unwrap().to_owned());
            }
            ids
        });
    }
    let mut ids = Vec::new();
    while let Some(part) = set.join_next().await {
        ids.extend(part.unwrap());
    }
    ids
}

#[derive(Default)]
struct SessionLoad {
    turns: AtomicU64,
    turn_errors: AtomicU64,
    events: AtomicU64,
    stream_errors: AtomicU64,
}

/// A turn every `every` on `session` until `stop`.
async fn drive_turns(
    client: reqwest::Client,
    base: String,
    session: String,
    every: Duration,
    offset: Duration,
    stop: Arc<AtomicBool>,
    load: Arc<SessionLoad>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let ok = client
            .post(format!("{base}/api/sessions/{session}/messages"))
            .json(&json!({"prompt": format!("turn {n}"), "wait": true}))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        let counter = if ok { &load.turns } else { &load.turn_errors };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads `session`'s SSE stream, counting events, until `stop`.
async fn read_events(
    client: reqwest::Client,
    base: String,
    session: String,
    stop: Arc<AtomicBool>,
    load: Arc<SessionLoad>,
) {
    let Ok(mut resp) = client
        .get(format!("{base}/api/sessions/{session}/events"))
        .send()
        .await
    else {
        load.stream_errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut carry = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), resp.chunk()).await {
            Err(_) => {}
            Ok(Ok(Some(bytes))) => {
                carry.extend_from_slice(&bytes);
                while let Some(end) = carry.windows(2).position(|w| w == b"\n\n") {
                    let frame: Vec<u8> = carry.drain(..end + 2).collect();
                    if frame.windows(5).any(|w| w == b"data:") {
                        load.events.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(Ok(None) | Err(_)) => {
                load.stream_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

type Samples = Vec<(usize, u64, u16)>;

/// The measured mix: open-loop tickets over `connections` connections.
async fn run_mix(
    target: Arc<Target>,
    ids: Arc<Ids>,
    rate: f64,
    duration: Duration,
    connections: usize,
) -> (Samples, u64, f64) {
    let started = Instant::now();
    let tickets = Arc::new(Mutex::new(pacer(
        rate,
        started,
        started + duration,
        u64::MAX,
    )));
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (target, ids, tickets) = (Arc::clone(&target), Arc::clone(&ids), Arc::clone(&tickets));
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await.unwrap();
            let mut samples = Vec::new();
            let mut errors = 0u64;
            loop {
                let Some((n, due)) = tickets.lock().await.recv().await else {
                    break;
                };
                let (method, path, body) = ids.request(n);
                let raw = request_bytes(method, &target.host, &path, Some(TEST_ADMIN_KEY), body);
                #[expect(clippy::cast_possible_truncation, reason = "ticket numbers are small")]
                let op = n as usize % OPS.len();
                match conn.request(&raw).await {
                    #[expect(clippy::cast_possible_truncation, reason = "microseconds fit u64")]
                    Ok(status) => samples.push((op, due.elapsed().as_micros() as u64, status)),
                    Err(_) => {
                        errors += 1;
                        conn = Conn::open(&target).await.unwrap();
                    }
                }
            }
            (samples, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (s, e) = w.await.unwrap();
        all.extend(s);
        errors += e;
    }
    (all, errors, started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let orchestra =
        std::fs::canonicalize(flag(&args, "--orchestra").expect("--orchestra")).unwrap();
    let fake = std::fs::canonicalize(flag(&args, "--fake").expect("--fake")).unwrap();
    let backend = flag(&args, "--backend").unwrap_or_else(|| "sqlite".into());
    let rate: f64 = flag(&args, "--rate").map_or(1000.0, |s| s.parse().unwrap());
    let duration =
        Duration::from_secs_f64(flag(&args, "--duration").map_or(60.0, |s| s.parse().unwrap()));
    let session_count: usize = flag(&args, "--sessions").map_or(32, |s| s.parse().unwrap());
    let connections: usize = flag(&args, "--connections").map_or(16, |s| s.parse().unwrap());
    let turn_every =
        Duration::from_millis(flag(&args, "--turn-ms").map_or(500, |s| s.parse().unwrap()));

    // `--env K=V` (repeatable) adds to the server's environment.
    let extra: Vec<(String, String)> = args
        .windows(2)
        .filter(|w| w[0] == "--env")
        .filter_map(|w| {
            w[1].split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    let extra_ref: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let server = BenchServer::start(&orchestra, &fake, &backend, &extra_ref).await;
    let port = server.port;
    let work = server.work.clone();
    let client = bench_client();
    let base = server.base.clone();

    // Live sessions, each with one turn behind it.
    let mut sessions = Vec::new();
    for _ in 0..session_count {
        let s: Value = post_ok(
            &client,
            &format!("{base}/api/sessions"),
            &json!({"workingDirectory": work}),
        )
        .await;
        let id = s["id"].as_str().unwrap().to_owned();
        post_ok(
            &client,
            &format!("{base}/api/sessions/{id}/messages"),
            &json!({"prompt": "warm up", "wait": true}),
        )
        .await;
        sessions.push(id);
    }
    // A fresh pending approval for every decision, and some to read.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a count"
    )]
    let decisions = (rate * duration.as_secs_f64() / 10.0).ceil() as usize + 100;
    let seeded = Instant::now();
    let to_decide = seed_approvals(&client, &base, decisions).await;
    let approvals = seed_approvals(&client, &base, 200).await;
    let seed_secs = seeded.elapsed().as_secs_f64();
    let rss_before = server.rss_kb();
    println!(
        "{}",
        json!({"backend": backend, "sessions": session_count, "pending_approvals": to_decide.len() + approvals.len(),
               "seed_s": (seed_secs * 10.0).round() / 10.0, "rss_before_kb": rss_before,
               "rate": rate, "duration_s": duration.as_secs_f64(), "connections": connections,
               "turn_every_ms": turn_every.as_millis()})
    );

    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(SessionLoad::default());
    let mut background = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        // Sessions' turns are spread over the interval, as independent clients' would be
        // (all at once, they queue behind each other's writes in bursts of 32).
        #[expect(clippy::cast_possible_truncation, reason = "a small index")]
        let offset = turn_every * (i as u32) / (session_count.max(1) as u32);
        background.push(tokio::spawn(read_events(
            client.clone(),
            base.clone(),
            s.clone(),
            Arc::clone(&stop),
            Arc::clone(&load),
        )));
        background.push(tokio::spawn(drive_turns(
            client.clone(),
            base.clone(),
            s.clone(),
            turn_every,
            offset,
            Arc::clone(&stop),
            Arc::clone(&load),
        )));
    }
    let ids = Arc::new(Ids {
        sessions: sessions.clone(),
        approvals,
        to_decide,
        next_decide: AtomicUsize::new(0),
    });
    let target = Arc::new(Target {
        host: "127.0.0.1".into(),
        port,
        path: "/".into(),
    });
    let (machine_busy0, machine_total0) = machine_jiffies();
    let server0 = process_jiffies(server.pid);
    let (samples, errors, elapsed) =
        run_mix(target, Arc::clone(&ids), rate, duration, connections).await;
    let (machine_busy1, machine_total1) = machine_jiffies();
    let server1 = process_jiffies(server.pid);
    stop.store(true, Ordering::Relaxed);
    for b in background {
        b.await.unwrap();
    }
    let rss_after = server.rss_kb();
    server_side(&client, &base).await;

    let mut per_op: Vec<(Vec<u64>, u64)> = vec![(Vec::new(), 0); OPS.len()];
    let mut all = Vec::with_capacity(samples.len());
    let mut non_2xx = 0;
    for &(op, us, status) in &samples {
        per_op[op].0.push(us);
        all.push(us);
        if !(200..300).contains(&status) {
            per_op[op].1 += 1;
            non_2xx += 1;
        }
    }
    // Merge the slots of one operation (get_approval and health appear twice).
    let mut names: Vec<&str> = OPS.to_vec();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let (mut us, mut bad) = (Vec::new(), 0);
        for (i, (s, b)) in per_op.iter().enumerate() {
            if OPS[i] == name {
                us.extend_from_slice(s);
                bad += b;
            }
        }
        report(name, us, 0, bad, elapsed);
    }
    report("all", all, errors, non_2xx, elapsed);
    let logged_errors = server.logged_errors();
    println!(
        "{}",
        json!({"turns": load.turns.load(Ordering::Relaxed), "turn_errors": load.turn_errors.load(Ordering::Relaxed),
               "sse_events": load.events.load(Ordering::Relaxed), "sse_stream_errors": load.stream_errors.load(Ordering::Relaxed),
               "decided": ids.next_decide.load(Ordering::Relaxed), "server_log_errors": logged_errors,
               "rss_after_kb": rss_after,
               // Of both cores: what the whole machine and the server alone used during the mix.
               "machine_cpu_busy_pct": ((machine_busy1 - machine_busy0) * 100) as f64 / (machine_total1 - machine_total0).max(1) as f64,
               "server_cpu_pct_of_one_core": (server1 - server0) as f64 / elapsed})
    );
    server.stop().await;
}
