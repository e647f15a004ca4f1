//! Process metrics (`process_*`) read from `/proc` and `getrusage`, refreshed per scrape.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use orchestra_application::metrics_names as m;

static STARTED: OnceLock<(Instant, f64)> = OnceLock::new();

/// Records the process start (first call wins).
pub(crate) fn mark_start() {
    STARTED.get_or_init(|| {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        (Instant::now(), epoch)
    });
}

fn status_field_kb(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
}

/// Updates the `process_*` gauges. Cheap (a few small `/proc` reads); call it before each
/// render of `/metrics`.
pub fn publish_process_metrics() {
    mark_start();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(kb) = status_field_kb(&status, "VmRSS:") {
            metrics::gauge!(m::PROCESS_RESIDENT_MEMORY_BYTES).set(kb * 1024.0);
        }
        if let Some(kb) = status_field_kb(&status, "VmSize:") {
            metrics::gauge!(m::PROCESS_VIRTUAL_MEMORY_BYTES).set(kb * 1024.0);
        }
        if let Some(n) = status_field_kb(&status, "Threads:") {
            metrics::gauge!(m::PROCESS_THREADS).set(n);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a descriptor count fits f64 exactly"
        )]
        metrics::gauge!(m::PROCESS_OPEN_FDS).set(entries.count() as f64);
    }
    if let Ok((soft, _)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a limit shown approximately is fine"
        )]
        metrics::gauge!(m::PROCESS_MAX_FDS).set(soft as f64);
    }
    if let Ok(usage) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        let secs = |tv: nix::sys::time::TimeVal| {
            #[expect(
                clippy::cast_precision_loss,
                reason = "CPU seconds shown approximately are fine"
            )]
            let v = tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            v
        };
        // Exposed as a gauge that only grows: `metrics` counters are integers.
        metrics::gauge!(m::PROCESS_CPU_SECONDS_TOTAL)
            .set(secs(usage.user_time()) + secs(usage.system_time()));
    }
    if let Some((started, epoch)) = STARTED.get() {
        metrics::gauge!(m::PROCESS_START_TIME_SECONDS).set(*epoch);
        metrics::gauge!(m::ORCHESTRA_UPTIME_SECONDS).set(started.elapsed().as_secs_f64());
    }
}
