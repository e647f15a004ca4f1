//! Finding our agent processes in `/proc`, safely.
//!
//! Every CLI Orchestra starts carries marker variables in its environment
//! (`ORCHESTRA_NODE_ID`, `ORCHESTRA_SESSION_ID`, `ORCHESTRA_INSTANCE`: an opaque random token
//! of the Orchestra process that started it, so the agent does not learn Orchestra's PID), and
//! the tool processes it starts inherit them. That is how
//! processes are found after their parent died (a SIGKILLed CLI leaves its Bash tool's shell
//! running, re-parented to init; a `kill -9` of Orchestra leaves whole CLIs running): a
//! process is ours only if its environment says so, so a reused PID never matches, and other
//! Orchestras (another node id) or unrelated processes are never touched. Before a signal,
//! the process's start time is checked again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Marker: the node (Orchestra instance) that owns the process.
pub const ENV_NODE: &str = "ORCHESTRA_NODE_ID";
/// Marker: the session the process works for.
pub const ENV_SESSION: &str = "ORCHESTRA_SESSION_ID";
/// Marker: the token of the Orchestra process that started it (new at every start).
pub const ENV_INSTANCE: &str = "ORCHESTRA_INSTANCE";

/// A process carrying our markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedProcess {
    /// PID.
    pub pid: i32,
    /// Process group.
    pub pgid: i32,
    /// Start time, clock ticks since boot (identifies the process across PID reuse).
    pub start_ticks: u64,
    /// The session marker.
    pub session: String,
    /// The instance marker: which Orchestra process started it.
    pub instance: String,
}

/// `(state, ppid, pgid, start_ticks)` of a process, from `/proc/<pid>/stat`.
pub fn stat(pid: i32) -> Option<(char, i32, i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces and parentheses.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let pgid = fields.get(2)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, ppid, pgid, start))
}

/// This process's identity: PID and start ticks.
pub fn own_identity() -> (i32, u64) {
    let pid = i32::try_from(std::process::id()).unwrap_or(0);
    (pid, stat(pid).map_or(0, |s| s.3))
}

/// This Orchestra process's instance token: random, made once per process.
pub fn own_instance() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| uuid::Uuid::new_v4().simple().to_string())
}

fn markers(pid: i32) -> Option<HashMap<String, String>> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let mut found = HashMap::new();
    for var in env.split(|b| *b == 0) {
        if !var.starts_with(b"ORCHESTRA_") {
            continue;
        }
        let var = String::from_utf8_lossy(var);
        if let Some((k, v)) = var.split_once('=')
            && [ENV_NODE, ENV_SESSION, ENV_INSTANCE].contains(&k)
        {
            found.insert(k.to_owned(), v.to_owned());
        }
    }
    Some(found)
}

/// Every live (non-zombie) process of node `node_id`, except this process.
pub fn scan(node_id: &str) -> Vec<MarkedProcess> {
    let own = i32::try_from(std::process::id()).unwrap_or(0);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Some(m) = markers(pid) else { continue };
        if m.get(ENV_NODE).map(String::as_str) != Some(node_id) {
            continue;
        }
        let Some((state, _, pgid, start_ticks)) = stat(pid) else {
            continue;
        };
        if state == 'Z' || state == 'X' {
            continue;
        }
        out.push(MarkedProcess {
            pid,
            pgid,
            start_ticks,
            session: m.get(ENV_SESSION).cloned().unwrap_or_default(),
            instance: m.get(ENV_INSTANCE).cloned().unwrap_or_default(),
        });
    }
    out
}

/// Whether `p` is still the same running process.
pub fn alive(p: &MarkedProcess) -> bool {
    matches!(stat(p.pid), Some((state, _, _, start)) if start == p.start_ticks && state != 'Z' && state != 'X')
}

/// Sends `signal` to the process and, when it leads its own group (tool shells do), to the
/// group; only if it is still the same process.
pub fn signal(p: &MarkedProcess, signal: Signal) {
    if !alive(p) {
        return;
    }
    let _ = kill(Pid::from_raw(p.pid), signal);
    if p.pgid == p.pid && p.pgid > 1 {
        let _ = killpg(Pid::from_raw(p.pgid), signal);
    }
}

/// Stops processes: SIGTERM, then SIGKILL for those still alive after `grace`. Blocking.
/// Returns how many were signalled.
pub fn terminate(processes: &[MarkedProcess], grace: Duration) -> usize {
    let targets: Vec<&MarkedProcess> = processes.iter().filter(|p| alive(p)).collect();
    for p in &targets {
        signal(p, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && targets.iter().any(|p| alive(p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in &targets {
        signal(p, Signal::SIGKILL);
    }
    targets.len()
}

/// How long [`kill_session_leftovers`] waits for killed processes to be gone.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Kills, at once, the processes of `session` started under this Orchestra that are still
/// running (tool processes orphaned by their CLI), and waits (up to 2 s) until they are gone:
/// SIGKILL is delivered asynchronously, and a stop that reports them killed must not leave
/// them running for another instant. Blocking. Returns how many.
pub fn kill_session_leftovers(node_id: &str, session: &str) -> usize {
    let own = own_instance();
    let left: Vec<MarkedProcess> = scan(node_id)
        .into_iter()
        .filter(|p| p.session == session && p.instance == own)
        .collect();
    for p in &left {
        signal(p, Signal::SIGKILL);
    }
    let deadline = Instant::now() + KILL_WAIT;
    while Instant::now() < deadline && left.iter().any(alive) {
        std::thread::sleep(Duration::from_millis(5));
    }
    left.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_stat_parses() {
        let (pid, start) = own_identity();
        assert!(pid > 1 && start > 0);
        let (state, ppid, _, _) = stat(pid).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(ppid > 0);
    }

    #[test]
    fn a_process_without_markers_is_never_found() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let found = scan("no-such-node");
        assert!(
            found
                .iter()
                .all(|p| p.pid != i32::try_from(child.id()).unwrap())
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_marked_process_is_found_by_node_and_terminated() {
        let node = format!("test-node-{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(ENV_NODE, &node)
            .env(ENV_SESSION, "s1")
            .env(ENV_INSTANCE, "an-earlier-orchestra")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // Right after a vfork-style spawn the kernel may still be setting up the new image,
        // and /proc shows an empty environment for a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut found = scan(&node);
        while found.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            found = scan(&node);
        }
        assert_eq!(
            found.iter().map(|p| p.pid).collect::<Vec<_>>(),
            vec![pid],
            "markers: {:?} stat: {:?}",
            markers(pid),
            stat(pid)
        );
        assert_eq!(found[0].session, "s1");
        assert!(scan("another-node").iter().all(|p| p.pid != pid));
        assert_eq!(terminate(&found, Duration::from_secs(2)), 1);
        let status = child.wait().unwrap();
        assert!(!status.success());
    }
}
