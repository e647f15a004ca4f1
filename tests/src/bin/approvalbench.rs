//! Approval latency through the release server, with the fake CLI and the fake Telegram
//! (which answers at once, so Telegram's own latency is out of it):
//!
//! * `can_use_tool` written by the CLI -> `sendMessage` received by Telegram;
//! * button press handed to Orchestra (`getUpdates`) -> control response read by the CLI.
//!
//! ```text
//! approvalbench --orchestra target/release/orchestra --fake target/release/fake-claude [--rounds N]
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: fail loudly"
)]

use std::time::{Duration, Instant};

use orchestra_tests::bin_support::{flag, nearest_rank};
use orchestra_tests::fake_telegram::FakeTelegram;
use serde_json::{Value, json};

fn report(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{{\"series\":\"{name}\",\"samples\":{},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        ms.len(),
        nearest_rank(&ms, 0.5),
        nearest_rank(&ms, 0.9),
        nearest_rank(&ms, 0.99),
        nearest_rank(&ms, 1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let orchestra =
        std::fs::canonicalize(flag(&args, "--orchestra").expect("--orchestra")).unwrap();
    let fake = std::fs::canonicalize(flag(&args, "--fake").expect("--fake")).unwrap();
    let rounds: usize = flag(&args, "--rounds").map_or(300, |s| s.parse().unwrap());
    let tg = FakeTelegram::start("1:bench").await;
    let dir = tempfile::tempdir().unwrap();
    let timing = dir.path().join("timing.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut server = tokio::process::Command::new(&orchestra)
        .current_dir(dir.path())
        .env("ORCHESTRA__SERVER__PORT", port.to_string())
        .env("ORCHESTRA__SERVER__HOST", "127.0.0.1")
        .env("ORCHESTRA__TELEMETRY__LOG_LEVEL", "warn")
        .env(
            "ORCHESTRA__AUTH__BOOTSTRAP_ADMIN_KEY",
            orchestra_tests::auth::TEST_ADMIN_KEY,
        )
        .env("ORCHESTRA__CLAUDE__BINARY", &fake)
        .env("ORCHESTRA__CLAUDE__HOME", dir.path())
        .env("ORCHESTRA__CLAUDE__ENV__FAKE_CLAUDE_TIMING_LOG", &timing)
        .env("TelegramEscalation__Enabled", "true")
        .env("TelegramEscalation__BotToken", &tg.token)
        .env("TelegramEscalation__ChatId", "-1")
        .env("ORCHESTRA__TELEGRAM__API_BASE_URL", &tg.base_url)
        .env("ORCHESTRA__TELEGRAM__POLL_TIMEOUT_SECS", "30")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = orchestra_tests::bin_support::bench_client();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s: Value = client
        .post(format!("{base}/api/sessions"))
        .json(&json!({"workingDirectory": dir.path()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = s["id"].as_str().unwrap().to_owned();
    let mut presses = Vec::new();
    let mut sent = Vec::new();
    for i in 0..rounds + 20 {
        let turn: Value = client
            .post(format!("{base}/api/sessions/{session}/messages"))
            .json(&json!({"prompt": format!(r#"ASK Bash {{"command":"echo {i}"}}"#)}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let message = loop {
            if let Some(m) = tg.sent().get(i).cloned() {
                break m;
            }
            assert!(
                Instant::now() < deadline,
                "no Telegram message for round {i}"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        let approval = message.body["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            .as_str()
            .unwrap()[2..]
            .to_owned();
        let update = tg.press(&format!("a:{approval}"), 1, "bench", -1, message.message_id);
        loop {
            let t: Value = client
                .get(format!(
                    "{base}/api/sessions/{session}/turns/{}",
                    turn["id"].as_str().unwrap()
                ))
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
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        sent.push(message.at_unix_nanos);
        presses.push(tg.delivered_at_unix_nanos(update).unwrap());
    }
    let lines = std::fs::read_to_string(&timing).unwrap();
    let requests: Vec<u128> = lines
        .lines()
        .filter(|l| l.starts_with("request "))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    let responses: Vec<u128> = lines
        .lines()
        .filter(|l| l.starts_with("response "))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(requests.len(), rounds + 20);
    #[expect(clippy::cast_precision_loss, reason = "nanoseconds to milliseconds")]
    let ms = |a: u128, b: u128| (b.saturating_sub(a)) as f64 / 1e6;
    // The first 20 rounds warm up.
    report(
        "can_use_tool_to_sendMessage",
        (20..rounds + 20)
            .map(|i| ms(requests[i], sent[i]))
            .collect(),
    );
    report(
        "callback_to_control_response",
        (20..rounds + 20)
            .map(|i| ms(presses[i], responses[i]))
            .collect(),
    );
    let _ = server.start_kill();
    let _ = server.wait().await;
}
