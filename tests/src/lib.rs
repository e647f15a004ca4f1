//! Test support for Orchestra's end-to-end suite: a PostgreSQL harness that starts a real
//! server from the machine's binaries, an in-process `TestApp`, the real binary as a child
//! process, and (later) the fakes of Telegram, the Anthropic API and the claude CLI.
//!
//! A test that needs PostgreSQL fails, loudly, when the harness cannot start it: nothing
//! here skips.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a failure here is a test failure"
)]

pub mod app;
pub mod auth;
pub mod bench_server;
pub mod bin_support;
pub mod binary;
pub mod browser;
pub mod crash;
pub mod fake_telegram;
pub mod mock_anthropic;
pub mod otlp;
pub mod pg;
pub mod raw_http;
pub mod raw_sql;
pub mod sse;
pub mod telegram_html;

pub use app::{Backend, TestApp, TestAppOptions};

/// A port free on 127.0.0.1 right now (for a server that must know its port before it
/// starts).
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of the counter series `series` (a name, with its labels if any, exactly as the
/// exposition writes them) in a Prometheus text exposition; 0 when absent.
pub fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0, |v| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a count"
            )]
            let n = v as u64;
            n
        })
}
