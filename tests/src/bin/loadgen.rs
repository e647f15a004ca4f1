//! A small HTTP/1.1 load generator for loopback benchmarks of Orchestra.
//!
//! ```text
//! loadgen run  --url URL [--rate RPS] [--duration SECS] [--connections N] [--method M] [--body JSON] [--max N] [--key API_KEY]
//! loadgen wait --url URL [--timeout SECS]          # prints milliseconds until the first 200
//! ```
//! `--rate 0` (default) is closed-loop: each connection sends as fast as it gets answers
//! (maximum throughput). `--rate R` is open-loop: requests are scheduled every 1/R s and
//! latency is measured from the scheduled time, so a stalled server is not hidden
//! (no coordinated omission). Prints one JSON object with throughput and percentiles.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: fail loudly"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestra_tests::bin_support::flag;
use orchestra_tests::raw_http::{
    Conn, pacer, parse_url, percentile_ms as percentile, request_bytes,
};
use tokio::sync::Mutex;

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = flag(&args, "--url").expect("--url is required");
    let target = Arc::new(parse_url(&url));
    match args.get(1).map(String::as_str) {
        Some("wait") => {
            let timeout =
                Duration::from_secs(flag(&args, "--timeout").map_or(30, |s| s.parse().unwrap()));
            let started = Instant::now();
            let raw = format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
                target.path, target.host
            );
            loop {
                if let Ok(mut c) = Conn::open(&target).await
                    && c.request(raw.as_bytes()).await.ok() == Some(200)
                {
                    println!("{:.1}", started.elapsed().as_secs_f64() * 1000.0);
                    return;
                }
                assert!(
                    started.elapsed() < timeout,
                    "no 200 from {url} within {timeout:?}"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        Some("run") => {}
        _ => panic!("usage: loadgen run|wait --url URL ..."),
    }
    let rate: f64 = flag(&args, "--rate").map_or(0.0, |s| s.parse().unwrap());
    let duration =
        Duration::from_secs_f64(flag(&args, "--duration").map_or(10.0, |s| s.parse().unwrap()));
    let connections: usize = flag(&args, "--connections").map_or(8, |s| s.parse().unwrap());
    let max: u64 = flag(&args, "--max").map_or(u64::MAX, |s| s.parse().unwrap());
    let method = flag(&args, "--method").unwrap_or_else(|| "GET".into());
    let body = flag(&args, "--body").unwrap_or_default();
    // `--key KEY` sends it as the bearer token (every /api route needs one).
    let key = flag(&args, "--key");
    let raw: Arc<Vec<u8>> = Arc::new(request_bytes(
        &method,
        &target.host,
        &target.path,
        key.as_deref(),
        &body,
    ));

    let started = Instant::now();
    let deadline = started + duration;
    // Open loop: tickets at their scheduled instants. Closed loop: tickets are free.
    let tickets = Arc::new(Mutex::new(if rate > 0.0 {
        pacer(rate, started, deadline, max)
    } else {
        tokio::sync::mpsc::unbounded_channel().1
    }));
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..connections {
        let target = Arc::clone(&target);
        let raw = Arc::clone(&raw);
        let tickets = Arc::clone(&tickets);
        let issued = Arc::clone(&issued);
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await.unwrap();
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut non2xx = 0u64;
            loop {
                let due = if rate > 0.0 {
                    match tickets.lock().await.recv().await {
                        Some((_, due)) => due,
                        None => break,
                    }
                } else {
                    let now = Instant::now();
                    if now >= deadline
                        || issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= max
                    {
                        break;
                    }
                    now
                };
                match conn.request(&raw).await {
                    Ok(status) => {
                        if !(200..300).contains(&status) {
                            non2xx += 1;
                        }
                        #[expect(
                            clippy::cast_possible_truncation,
                            reason = "microseconds fit u64"
                        )]
                        lat.push(due.elapsed().as_micros() as u64);
                    }
                    Err(_) => {
                        errors += 1;
                        conn = Conn::open(&target).await.unwrap();
                    }
                }
            }
            (lat, errors, non2xx)
        }));
    }
    let mut all = Vec::new();
    let (mut errors, mut non2xx) = (0, 0);
    for w in workers {
        let (l, e, n) = w.await.unwrap();
        all.extend(l);
        errors += e;
        non2xx += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    #[expect(clippy::cast_precision_loss, reason = "counts")]
    let rps = all.len() as f64 / elapsed;
    println!(
        "{{\"url\":\"{url}\",\"method\":\"{method}\",\"target_rate\":{rate},\"connections\":{connections},\"duration_s\":{elapsed:.2},\
\"requests\":{},\"errors\":{errors},\"non_2xx\":{non2xx},\"rps\":{rps:.0},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\
\"p999_ms\":{:.3},\"max_ms\":{:.3}}}",
        all.len(),
        percentile(&all, 0.50),
        percentile(&all, 0.90),
        percentile(&all, 0.99),
        percentile(&all, 0.999),
        percentile(&all, 1.0),
    );
}
