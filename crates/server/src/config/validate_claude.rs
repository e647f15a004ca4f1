//! `[claude]` checked: the node id (derived when unset), the agents' limits, the stop
//! ladder, who they run as.

use orchestra_db::DatabaseTarget;
use secrecy::SecretString;

use super::error::{ConfigError, invalid};
use super::sections::ClaudeSection;
use super::settings::{ClaudeConfig, StopGrace};

/// `hash(host name | database location)`: stable across restarts of one node.
fn default_node_id(target: &DatabaseTarget) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let location = match target {
        DatabaseTarget::Sqlite { path } => std::fs::canonicalize(path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| {
                std::env::current_dir()
                    .map(|d| d.join(path).display().to_string())
                    .unwrap_or_default()
            }),
        DatabaseTarget::Postgres { .. } => target.location(),
    };
    let key = format!("{}|{location}", host.trim());
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("node-{hash:016x}")
}

pub(super) fn claude(
    c: ClaudeSection,
    target: &DatabaseTarget,
) -> Result<ClaudeConfig, ConfigError> {
    let node_id = c
        .node_id
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| default_node_id(target));
    if !node_id
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        || node_id.len() > 100
    {
        return Err(invalid(
            "claude.node_id",
            "must be 1-100 letters, digits, - _ or .",
        ));
    }
    for dir in &c.allowed_working_directories {
        if !dir.starts_with('/') {
            return Err(invalid(
                "claude.allowed_working_directories",
                format!("`{dir}` is not absolute"),
            ));
        }
    }
    // The floors below keep a typo (0) from disabling a limit.
    Ok(ClaudeConfig {
        binary: if c.binary.trim().is_empty() {
            ClaudeSection::default().binary
        } else {
            c.binary
        },
        home: c.home.filter(|h| !h.trim().is_empty()),
        runtime_dir: c
            .runtime_dir
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| {
                std::env::temp_dir()
                    .join(format!("orchestra-{node_id}"))
                    .display()
                    .to_string()
            }),
        node_id,
        max_live_processes: c.max_live_processes.max(1),
        spawn_queue_timeout_secs: c.spawn_queue_timeout_secs,
        startup_timeout_secs: c.startup_timeout_secs.max(1),
        inactivity_timeout_secs: c.inactivity_timeout_secs.max(1),
        tool_timeout_secs: c.tool_timeout_secs.max(1),
        health_check_interval_secs: c.health_check_interval_secs.max(1),
        idle_suspend_secs: c.idle_suspend_secs,
        store_transcripts: c.store_transcripts,
        telemetry: c.telemetry,
        discovery_interval_secs: c.discovery_interval_secs.max(1),
        max_retries: c.max_retries,
        api_timeout_ms: c.api_timeout_ms.max(1000),
        max_prompt_chars: c.max_prompt_chars.max(1),
        event_buffer: c.event_buffer.max(16),
        event_buffer_bytes: c.event_buffer_bytes.max(64 * 1024),
        event_payload_max_bytes: c
            .event_payload_max_bytes
            .clamp(256, c.event_buffer_bytes.max(64 * 1024)),
        event_log_idle_secs: c.event_log_idle_secs.max(1),
        idle_event_logs_max_bytes: c.idle_event_logs_max_bytes,
        max_line_bytes: c.max_line_bytes.max(64 * 1024),
        allowed_working_directories: c.allowed_working_directories,
        pass_env: c.pass_env,
        env: c
            .env
            .into_iter()
            .map(|(k, v)| (k, SecretString::from(v.0)))
            .collect(),
        stop_grace: StopGrace {
            interrupt_ms: c.stop_interrupt_grace_ms,
            eof_ms: c.stop_eof_grace_ms,
            sigint_ms: c.stop_sigint_grace_ms,
            sigterm_ms: c.stop_sigterm_grace_ms,
            sigkill_ms: c.stop_sigkill_grace_ms,
        },
        live_permission_prompts: c.live_permission_prompts,
        run_as: match c
            .run_as_user
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            Some(name) => Some(
                orchestra_claude::RunAs::lookup(name)
                    .map_err(|m| invalid("claude.run_as_user", m))?,
            ),
            None => None,
        },
        max_memory_mb: c.max_memory_mb.filter(|m| *m > 0),
        max_tasks: c.max_tasks.filter(|n| *n > 0),
    })
}
