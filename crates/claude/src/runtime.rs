//! `ClaudeRuntime`: builds the CLI's command line and environment, starts processes,
//! discovers the installation, and reaps processes an earlier Orchestra left behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use orchestra_application::ports::{
    AgentInstallation, AgentLaunch, AgentRuntime, OrphanReport, RuntimeError, SpawnedAgent,
};

use crate::process::{CliProcess, ProcessSpec, StopLadder};
use crate::procfs;

/// A user agents run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

impl RunAs {
    /// Looks `name` up in the user database, and checks that Orchestra can switch to it.
    ///
    /// # Errors
    /// A message when the user does not exist or Orchestra is not root.
    pub fn lookup(name: &str) -> Result<Self, String> {
        let user = nix::unistd::User::from_name(name)
            .map_err(|e| format!("cannot look up `{name}`: {e}"))?
            .ok_or_else(|| format!("there is no user `{name}`"))?;
        if user.uid.is_root() {
            return Err("agents must not run as root".into());
        }
        if !nix::unistd::geteuid().is_root() {
            return Err(format!(
                "Orchestra must run as root to start agents as `{name}` (it switches each agent to that user)"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }
}

/// How to run the CLI. `Debug` shows the names of the extra environment, never the values.
#[derive(Clone)]
pub struct ClaudeSettings {
    /// The `claude` binary (a path, or a name looked up on `PATH`).
    pub binary: PathBuf,
    /// Extra environment for the CLI (`ANTHROPIC_BASE_URL`, `IS_SANDBOX`, ...).
    pub env: Vec<(String, String)>,
    /// Orchestra's own variables passed through besides the built-in list (names).
    pub pass_env: Vec<String>,
    /// `HOME` for the CLI (its sessions live in `HOME/.claude`); Orchestra's `HOME` when unset.
    pub home: Option<PathBuf>,
    /// Where per-process temp dirs are made.
    pub runtime_dir: PathBuf,
    /// This node's id (process markers).
    pub node_id: String,
    /// `CLAUDE_CODE_MAX_RETRIES` (the CLI's default retries a failing API for ~3 minutes).
    pub max_retries: u32,
    /// `API_TIMEOUT_MS`.
    pub api_timeout_ms: u64,
    /// Run with `--permission-prompt-tool stdio` (live permission prompts).
    pub permission_prompt_tool: bool,
    /// How long the CLI gets to answer `initialize`.
    pub startup_timeout: Duration,
    /// The stop ladder.
    pub ladder: StopLadder,
    /// Longest stdout line accepted.
    pub max_line_bytes: usize,
    /// stderr lines kept for error messages.
    pub stderr_tail_lines: usize,
    /// Tools no agent may use (`--disallowedTools` on every launch), from the server's policy.
    pub denied_tools: Vec<String>,
    /// Run every agent as this user (Orchestra must run as root), each session with its own
    /// HOME under `runtime_dir/homes/`: the agent then cannot read Orchestra's environment,
    /// files or memory.
    pub run_as: Option<RunAs>,
    /// Address-space limit of each agent process, in MiB (`prlimit --as`).
    pub max_memory_mb: Option<u64>,
    /// Processes the agent user may have at once (`prlimit --nproc`).
    pub max_tasks: Option<u64>,
    /// The CLI's own OpenTelemetry export (`claude.telemetry`): traces (and nothing else)
    /// to this OTLP/HTTP endpoint; `None` leaves it off.
    pub otlp_endpoint: Option<String>,
}

impl std::fmt::Debug for ClaudeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(k, _)| format!("{k}=[redacted]"))
            .collect();
        f.debug_struct("ClaudeSettings")
            .field("binary", &self.binary)
            .field("env", &env)
            .field("pass_env", &self.pass_env)
            .field("home", &self.home)
            .field("node_id", &self.node_id)
            .field("permission_prompt_tool", &self.permission_prompt_tool)
            .field("denied_tools", &self.denied_tools)
            .field("run_as", &self.run_as)
            .finish_non_exhaustive()
    }
}

impl Default for ClaudeSettings {
    fn default() -> Self {
        Self {
            binary: PathBuf::from("claude"),
            env: Vec::new(),
            pass_env: Vec::new(),
            home: None,
            runtime_dir: std::env::temp_dir().join("orchestra-agents"),
            node_id: "local".into(),
            max_retries: 2,
            api_timeout_ms: 120_000,
            permission_prompt_tool: false,
            startup_timeout: Duration::from_secs(30),
            ladder: StopLadder::default(),
            max_line_bytes: 4 * 1024 * 1024,
            stderr_tail_lines: 50,
            denied_tools: Vec::new(),
            run_as: None,
            max_memory_mb: None,
            max_tasks: None,
            otlp_endpoint: None,
        }
    }
}

/// Variables passed from Orchestra's environment to the CLI: everything else (database
/// credentials, the bot token, ...) stays out of reach of the agent and its tools.
const PASS_EXACT: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];
const PASS_PREFIX: &[&str] = &[
    "LC_",
    "ANTHROPIC_",
    "CLAUDE_",
    "AWS_",
    "CLOUD_ML_",
    "VERTEX_",
    "DISABLE_",
];

/// The CLI adapter.
#[derive(Debug, Clone)]
pub struct ClaudeRuntime {
    settings: ClaudeSettings,
    /// The runtime processes and their tasks belong to (the one the runtime was built on).
    rt: Option<tokio::runtime::Handle>,
}

impl ClaudeRuntime {
    /// A runtime with these settings.
    pub fn new(settings: ClaudeSettings) -> Self {
        Self {
            settings,
            rt: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ClaudeSettings {
        &self.settings
    }

    /// The command line for a launch (without the binary).
    pub fn args(&self, launch: &AgentLaunch) -> Vec<String> {
        let s = &launch.session;
        let mut args: Vec<String> = [
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
        ]
        .map(String::from)
        .into();
        args.push(if launch.resume {
            "--resume".into()
        } else {
            "--session-id".into()
        });
        args.push(s.id.to_string());
        if let Some(model) = &s.model {
            args.extend(["--model".into(), model.clone()]);
        }
        if s.permission_mode != orchestra_domain::PermissionMode::Default {
            args.extend([
                "--permission-mode".into(),
                s.permission_mode.as_str().into(),
            ]);
        }
        let allowed: Vec<&str> = s
            .allowed_tools
            .iter()
            .chain(launch.extra_allowed_tools.iter())
            .map(String::as_str)
            .collect();
        if !allowed.is_empty() {
            args.extend(["--allowedTools".into(), allowed.join(",")]);
        }
        let denied: Vec<&str> = s
            .disallowed_tools
            .iter()
            .chain(self.settings.denied_tools.iter())
            .map(String::as_str)
            .collect();
        if !denied.is_empty() {
            args.extend(["--disallowedTools".into(), denied.join(",")]);
        }
        // The server's deny and ask rules: the CLI asks about every call they match, even
        // one it would allow by itself (a read in the project, a pre-allowed tool), so
        // Orchestra's policy judges it (`ask` outranks `allow` in the CLI).
        if !launch.ask_rules.is_empty() {
            let settings = serde_json::json!({"permissions": {"ask": launch.ask_rules}});
            args.extend(["--settings".into(), settings.to_string()]);
        }
        // Only the settings of the agent's own HOME (Orchestra's): a repository's
        // `.claude/settings*.json` cannot pre-allow tools or add hooks, and its `.mcp.json`
        // cannot add MCP servers.
        args.extend([
            "--setting-sources".into(),
            "user".into(),
            "--strict-mcp-config".into(),
        ]);
        if let Some(prompt) = &s.append_system_prompt {
            args.extend(["--append-system-prompt".into(), prompt.clone()]);
        }
        if let Some(n) = s.max_turns {
            args.extend(["--max-turns".into(), n.to_string()]);
        }
        if self.settings.permission_prompt_tool {
            args.extend(["--permission-prompt-tool".into(), "stdio".into()]);
        }
        args
    }

    /// The HOME of a session's agent when agents run as their own user: kept across the
    /// session's processes (the CLI keeps the conversation there).
    pub fn session_home(&self, session: &str) -> PathBuf {
        self.settings.runtime_dir.join("homes").join(session)
    }

    /// `prlimit` in front of the CLI when limits are set.
    fn wrapper(&self) -> Vec<String> {
        let mut limits = Vec::new();
        if let Some(mb) = self.settings.max_memory_mb {
            limits.push(format!("--as={}", mb.saturating_mul(1024 * 1024)));
        }
        if let Some(n) = self.settings.max_tasks {
            limits.push(format!("--nproc={n}"));
        }
        if limits.is_empty() {
            return limits;
        }
        let mut w = vec!["prlimit".to_owned()];
        w.extend(limits);
        w.push("--".into());
        w
    }

    /// The CLI's environment for a session, markers included.
    pub fn env(&self, session: &str, tmp_dir: &Path) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| {
                PASS_EXACT.contains(&k.as_str())
                    || PASS_PREFIX.iter().any(|p| k.starts_with(p))
                    || self.settings.pass_env.iter().any(|n| n == k)
            })
            .collect();
        let mut set = |k: &str, v: String| {
            env.retain(|(x, _)| x != k);
            env.push((k.to_owned(), v));
        };
        set("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into());
        set(
            "CLAUDE_CODE_MAX_RETRIES",
            self.settings.max_retries.to_string(),
        );
        set("API_TIMEOUT_MS", self.settings.api_timeout_ms.to_string());
        if self.settings.run_as.is_some() {
            set("HOME", self.session_home(session).display().to_string());
        } else if let Some(home) = &self.settings.home {
            set("HOME", home.display().to_string());
        }
        for (k, v) in &self.settings.env {
            set(k, v.clone());
        }
        if let Some(endpoint) = &self.settings.otlp_endpoint {
            // What the pinned CLI reads (docs/observability.md): telemetry on, traces over
            // OTLP/HTTP (a beta behind its own switch), no metrics or logs.
            set("CLAUDE_CODE_ENABLE_TELEMETRY", "1".into());
            set("CLAUDE_CODE_ENHANCED_TELEMETRY_BETA", "1".into());
            set("OTEL_TRACES_EXPORTER", "otlp".into());
            set("OTEL_METRICS_EXPORTER", "none".into());
            set("OTEL_LOGS_EXPORTER", "none".into());
            set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into());
            set("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone());
        }
        // Orchestra's own: never overridable by configuration.
        set("TMPDIR", tmp_dir.display().to_string());
        set(procfs::ENV_NODE, self.settings.node_id.clone());
        set(procfs::ENV_SESSION, session.to_owned());
        set(procfs::ENV_INSTANCE, procfs::own_instance().to_owned());
        env
    }
}

#[async_trait]
impl AgentRuntime for ClaudeRuntime {
    async fn spawn(&self, launch: AgentLaunch) -> Result<SpawnedAgent, RuntimeError> {
        let session = launch.session.id.to_string();
        let tmp_dir = self
            .settings
            .runtime_dir
            .join(format!("{session}-{}", uuid::Uuid::new_v4().simple()));
        let mut env = self.env(&session, &tmp_dir);
        if let Some(traceparent) = &launch.traceparent {
            // The CLI (non-interactive) parents its spans on it when its telemetry is on.
            env.retain(|(k, _)| k != "TRACEPARENT" && k != "TRACESTATE");
            env.push(("TRACEPARENT".into(), traceparent.clone()));
        }
        let spec = ProcessSpec {
            binary: self.settings.binary.clone(),
            args: self.args(&launch),
            env,
            cwd: PathBuf::from(&launch.session.working_directory),
            tmp_dir,
            max_line_bytes: self.settings.max_line_bytes,
            startup_timeout: self.settings.startup_timeout,
            ladder: self.settings.ladder,
            node_id: self.settings.node_id.clone(),
            session_id: session,
            stderr_tail_lines: self.settings.stderr_tail_lines,
            rt: self.rt.clone(),
            run_as: self.settings.run_as.as_ref().map(|u| (u.uid, u.gid)),
            home: self
                .settings
                .run_as
                .as_ref()
                .map(|_| self.session_home(&launch.session.id.to_string())),
            wrapper: self.wrapper(),
        };
        let (process, events) = CliProcess::spawn(spec).await?;
        Ok(SpawnedAgent { process, events })
    }

    async fn discover(&self) -> AgentInstallation {
        let binary = self.settings.binary.clone();
        let path = binary.display().to_string();
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.arg("--version")
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| k == "PATH" || k == "HOME"))
            .kill_on_drop(true);
        match tokio::time::timeout(Duration::from_secs(15), cmd.output()).await {
            Ok(Ok(out)) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let version = text.split_whitespace().next().map(str::to_owned);
                AgentInstallation {
                    id: "claude-code".into(),
                    path,
                    version,
                    available: true,
                    error: None,
                }
            }
            Ok(Ok(out)) => AgentInstallation {
                id: "claude-code".into(),
                path,
                version: None,
                available: false,
                error: Some(format!("`--version` exited with {}", out.status)),
            },
            Ok(Err(e)) => AgentInstallation {
                id: "claude-code".into(),
                path,
                version: None,
                available: false,
                error: Some(e.to_string()),
            },
            Err(_) => AgentInstallation {
                id: "claude-code".into(),
                path,
                version: None,
                available: false,
                error: Some("`--version` did not answer within 15 s".into()),
            },
        }
    }

    async fn check_working_directory(&self, path: &str) -> Result<String, String> {
        let canonical = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| format!("`{path}` cannot be used: {e}"))?;
        let meta = tokio::fs::metadata(&canonical)
            .await
            .map_err(|e| format!("`{path}` cannot be used: {e}"))?;
        if !meta.is_dir() {
            return Err(format!("`{path}` is not a directory"));
        }
        canonical
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("`{path}` is not valid UTF-8"))
    }

    async fn reap_orphans(&self) -> OrphanReport {
        let node = self.settings.node_id.clone();
        tokio::task::spawn_blocking(move || {
            let own = procfs::own_instance();
            let stale: Vec<_> = procfs::scan(&node)
                .into_iter()
                .filter(|p| p.instance != own)
                .collect();
            let found = stale.len();
            let stopped = procfs::terminate(&stale, Duration::from_secs(3));
            OrphanReport { found, stopped }
        })
        .await
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_shows_the_names_of_the_agents_environment_but_not_the_values() {
        let settings = ClaudeSettings {
            env: vec![("ANTHROPIC_API_KEY".into(), "sk-very-secret".into())],
            ..ClaudeSettings::default()
        };
        let shown = format!("{settings:?}");
        assert!(shown.contains("ANTHROPIC_API_KEY"), "{shown}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
    }
}

#[cfg(test)]
mod env_tests {
    use super::*;

    #[test]
    fn the_agents_markers_do_not_tell_orchestras_pid() {
        let runtime = ClaudeRuntime::new(ClaudeSettings::default());
        let env = runtime.env("s1", Path::new("/tmp/x"));
        let pid = std::process::id().to_string();
        let markers: Vec<&(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("ORCHESTRA_"))
            .collect();
        assert!(
            markers.iter().any(|(k, _)| k == procfs::ENV_INSTANCE),
            "{markers:?}"
        );
        assert!(!markers.iter().any(|(_, v)| *v == pid), "{markers:?}");
    }
}

#[cfg(test)]
mod telemetry_env_tests {
    use super::*;

    fn value<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn claude_telemetry_switches_the_clis_trace_export_on_and_only_then() {
        let off = ClaudeRuntime::new(ClaudeSettings::default()).env("s1", Path::new("/tmp/x"));
        assert_eq!(value(&off, "CLAUDE_CODE_ENABLE_TELEMETRY"), None);
        let on = ClaudeRuntime::new(ClaudeSettings {
            otlp_endpoint: Some("http://collector:4318".into()),
            ..ClaudeSettings::default()
        })
        .env("s1", Path::new("/tmp/x"));
        for (k, v) in [
            ("CLAUDE_CODE_ENABLE_TELEMETRY", "1"),
            ("CLAUDE_CODE_ENHANCED_TELEMETRY_BETA", "1"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ] {
            assert_eq!(value(&on, k), Some(v), "{k}");
        }
    }
}
