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

use orchestra_tests::bin_support::{flag, nearest_rank};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

struct Target {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Target {
    let rest = url.strip_prefix("http://").expect("only http:// URLs");
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = authority
        .split_once(':')
        .map_or((authority.to_owned(), 80), |(h, p)| {
            (h.to_owned(), p.parse().unwrap())
        });
    Target { host, port, path }
}

struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    async fn open(t: &Target) -> Conn {
        let stream = TcpStream::connect((t.host.as_str(), t.port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            reader: BufReader::new(stream),
        }
    }

    /// Sends one request and reads the whole response; returns the status.
    async fn request(&mut self, raw: &[u8]) -> std::io::Result<u16> {
        self.reader.get_mut().write_all(raw).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            if self.reader.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).await?;
        Ok(status)
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "microseconds")]
    let ms = nearest_rank(sorted, p) as f64 / 1000.0;
    ms
}

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
                if let Ok(stream) = TcpStream::connect((target.host.as_str(), target.port)).await {
                    let mut c = Conn {
                        reader: BufReader::new(stream),
                    };
                    if c.request(raw.as_bytes()).await.ok() == Some(200) {
                        println!("{:.1}", started.elapsed().as_secs_f64() * 1000.0);
                        return;
                    }
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
    let auth = flag(&args, "--key")
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let raw: Arc<Vec<u8>> = Arc::new(
        if body.is_empty() {
            format!("{method} {} HTTP/1.1\r\nHost: {}\r\n{auth}\r\n", target.path, target.host)
        } else {
            format!(
                "{method} {} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                target.path,
                target.host,
                body.len()
            )
        }
        .into_bytes(),
    );

    let started = Instant::now();
    let deadline = started + duration;
    // Open loop: a pacer thread releases tickets at their scheduled instants (an OS sleep
    // plus a short spin is accurate to microseconds; tokio's timer wheel would add up to a
    // millisecond of its own lateness to every sample). Closed loop: tickets are free.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let tickets = Arc::new(Mutex::new(rx));
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    if rate > 0.0 {
        let interval = Duration::from_secs_f64(1.0 / rate);
        std::thread::spawn(move || {
            let mut n: u64 = 0;
            loop {
                #[expect(
                    clippy::cast_precision_loss,
                    reason = "ticket numbers stay far below 2^52"
                )]
                let due = started + interval.mul_f64(n as f64);
                if due >= deadline || n >= max {
                    break;
                }
                let now = Instant::now();
                if due > now + Duration::from_micros(200) {
                    std::thread::sleep(due - now - Duration::from_micros(200));
                }
                while Instant::now() < due {
                    std::hint::spin_loop();
                }
                if tx.send(due).is_err() {
                    break;
                }
                n += 1;
            }
        });
    } else {
        drop(tx);
    }
    let mut workers = Vec::new();
    for _ in 0..connections {
        let target = Arc::clone(&target);
        let raw = Arc::clone(&raw);
        let tickets = Arc::clone(&tickets);
        let issued = Arc::clone(&issued);
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await;
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut non2xx = 0u64;
            loop {
                let due = if rate > 0.0 {
                    match tickets.lock().await.recv().await {
                        Some(due) => due,
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
                        conn = Conn::open(&target).await;
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
