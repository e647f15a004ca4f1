//! The `orchestra` binary, built inside the test package so that Cargo builds it (fresh)
//! before the integration tests and hands them its path (`CARGO_BIN_EXE_orchestra-under-test`).
//!
//! One addition for crash tests: `ORCHESTRA_TEST_CRASH_AT=<point>` (one of
//! `orchestra_application::chaos::POINTS`) kills the process with SIGKILL the first time it
//! reaches that point, as `kill -9` would: no destructor, no flush, no graceful stop.

use std::sync::OnceLock;

fn crash_at() -> Option<&'static str> {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    AT.get_or_init(|| std::env::var("ORCHESTRA_TEST_CRASH_AT").ok())
        .as_deref()
}

fn hook(point: &'static str) {
    if crash_at() == Some(point) {
        // One write, so the line is not interleaved with the log on the same file.
        let line = format!("orchestra-under-test: killed at {point}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

fn main() -> std::process::ExitCode {
    if crash_at().is_some() {
        orchestra_application::chaos::install(hook);
    }
    orchestra_server::entry::main()
}
