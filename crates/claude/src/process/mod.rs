//! One supervised CLI process: spawn, reader tasks, the waiter, and the [`AgentProcess`]
//! port; every stdin/stdout message goes through [`crate::protocol`].
//!
//! * stdout is read in chunks, cut into lines ([`crate::protocol::LineDecoder`]) and
//!   decoded; events go to a bounded channel (back-pressure reaches the CLI, never
//!   unbounded memory).
//! * stderr is always drained by its own task, so a CLI that floods stderr never stalls;
//!   only its last lines are kept (for error messages).
//! * The child is always awaited (no zombies); when it is gone, tool processes it left
//!   behind are killed ([`procfs::kill_session_leftovers`]), then [`AgentEvent::Exited`] is
//!   the last event.
//! * `stop` is the ladder the real CLI needs ([`StopLadder`], in `stop.rs`).

use std::collections::{HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use orchestra_application::ports::{
    AgentEvent, AgentProcess, ExitReport, PermissionAnswer, RuntimeError,
};
use serde_json::Value;
use tokio::process::{ChildStdin, Command};
use tokio::sync::{mpsc, oneshot, watch};

use crate::procfs;
use crate::protocol::{ControlRequestBody, Outbound};

mod io;
mod stop;

pub use stop::StopLadder;

use io::{drain_stderr, read_stdout, write_line};

/// Makes `dir` (and its parents) and gives it to `uid:gid`, private to them.
async fn own_dir(dir: &std::path::Path, uid: u32, gid: u32) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        nix::unistd::chown(
            &dir,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(std::io::Error::from)?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Everything needed to start one CLI process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The binary.
    pub binary: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// A private temp dir (removed after exit).
    pub tmp_dir: PathBuf,
    /// The uid and gid to run as (Orchestra's own when `None`).
    pub run_as: Option<(u32, u32)>,
    /// The agent's own HOME, made and given to `run_as` (kept after exit).
    pub home: Option<PathBuf>,
    /// Programs in front of the binary (`prlimit --as=... --`).
    pub wrapper: Vec<String>,
    /// Longest stdout line accepted.
    pub max_line_bytes: usize,
    /// How long the CLI gets to answer `initialize`.
    pub startup_timeout: Duration,
    /// The stop ladder.
    pub ladder: StopLadder,
    /// Node id (process markers).
    pub node_id: String,
    /// Session id (process markers, logs).
    pub session_id: String,
    /// stderr lines kept.
    pub stderr_tail_lines: usize,
    /// The runtime that owns the process and its reader tasks (the application's, not the
    /// HTTP worker's that happened to start it).
    pub rt: Option<tokio::runtime::Handle>,
}

pub(crate) type Pending =
    Arc<Mutex<HashMap<String, oneshot::Sender<Result<Option<Value>, String>>>>>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running CLI process.
#[derive(Debug)]
pub struct CliProcess {
    pid: Option<u32>,
    session_id: String,
    stdin: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    pending: Pending,
    next_request: AtomicU64,
    busy: Arc<AtomicI64>,
    exited: watch::Receiver<Option<ExitReport>>,
    stopping: Arc<AtomicBool>,
    stop_step: Arc<Mutex<Option<&'static str>>>,
    stopped: tokio::sync::Mutex<Option<ExitReport>>,
    ladder: StopLadder,
}

impl CliProcess {
    /// Starts the CLI and waits until it answers `initialize`.
    ///
    /// # Errors
    /// `SpawnFailed` when it cannot start or exits at once; `StartTimeout`.
    pub async fn spawn(
        spec: ProcessSpec,
    ) -> Result<(Arc<Self>, mpsc::Receiver<AgentEvent>), RuntimeError> {
        tokio::fs::create_dir_all(&spec.tmp_dir)
            .await
            .map_err(|e| {
                RuntimeError::SpawnFailed(format!("cannot create {}: {e}", spec.tmp_dir.display()))
            })?;
        if let Some((uid, gid)) = spec.run_as {
            for dir in std::iter::once(&spec.tmp_dir).chain(spec.home.as_ref()) {
                own_dir(dir, uid, gid).await.map_err(|e| {
                    RuntimeError::SpawnFailed(format!("cannot prepare {}: {e}", dir.display()))
                })?;
            }
        }
        let mut cmd = match spec.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&spec.binary);
                c
            }
            None => Command::new(&spec.binary),
        };
        if let Some((uid, gid)) = spec.run_as {
            // std drops the supplementary groups when it switches the uid.
            cmd.uid(uid).gid(gid);
        }
        cmd.args(&spec.args)
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let spawn_task =
            |fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| match &spec.rt {
                Some(rt) => rt.spawn(fut),
                None => tokio::spawn(fut),
            };
        // The child is registered with the owning runtime's process driver.
        let spawned = {
            let _guard = spec.rt.as_ref().map(tokio::runtime::Handle::enter);
            cmd.spawn()
        };
        let mut child = spawned.map_err(|e| {
            RuntimeError::SpawnFailed(format!("cannot run {}: {e}", spec.binary.display()))
        })?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(RuntimeError::SpawnFailed(
                "the child's pipes are missing".into(),
            ));
        };

        let (tx, rx) = mpsc::channel::<AgentEvent>(1024);
        let stdin = Arc::new(tokio::sync::Mutex::new(Some(stdin)));
        let pending: Pending = Arc::default();
        let busy = Arc::new(AtomicI64::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let stop_step: Arc<Mutex<Option<&'static str>>> = Arc::default();
        let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let (exit_tx, exit_rx) = watch::channel(None);

        let stderr_task = spawn_task(Box::pin(drain_stderr(
            stderr,
            Arc::clone(&tail),
            spec.stderr_tail_lines.max(1),
            spec.session_id.clone(),
        )));

        let stdout_task = spawn_task(Box::pin(read_stdout(
            stdout,
            spec.max_line_bytes,
            tx.clone(),
            Arc::clone(&pending),
            Arc::clone(&busy),
            Arc::clone(&stdin),
            spec.session_id.clone(),
        )));

        // The waiter: reaps the child (always), finishes reading, kills leftovers, reports.
        {
            let stopping = Arc::clone(&stopping);
            let stop_step = Arc::clone(&stop_step);
            let tail = Arc::clone(&tail);
            let pending = Arc::clone(&pending);
            let stdin = Arc::clone(&stdin);
            let node = spec.node_id.clone();
            let session = spec.session_id.clone();
            let tmp_dir = spec.tmp_dir.clone();
            spawn_task(Box::pin(async move {
                let status = child.wait().await;
                // Readers end at EOF; a descendant holding the pipe open must not keep us.
                let mut stdout_task = stdout_task;
                if tokio::time::timeout(Duration::from_secs(2), &mut stdout_task)
                    .await
                    .is_err()
                {
                    stdout_task.abort();
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), stderr_task).await;
                stdin.lock().await.take();
                lock(&pending).clear();
                let node2 = node.clone();
                let session2 = session.clone();
                let orphans = tokio::task::spawn_blocking(move || {
                    procfs::kill_session_leftovers(&node2, &session2)
                })
                .await
                .unwrap_or(0);
                if orphans > 0 {
                    tracing::warn!(session.id = %session, orphans, "killed tool processes the agent left behind");
                }
                let _ = tokio::fs::remove_dir_all(&tmp_dir).await;
                let (code, signal) = match &status {
                    Ok(s) => (s.code(), s.signal()),
                    Err(_) => (None, None),
                };
                let report = ExitReport {
                    code,
                    signal,
                    requested: stopping.load(Ordering::SeqCst),
                    stop_step: lock(&stop_step).map(str::to_owned),
                    stderr_tail: lock(&tail).iter().cloned().collect::<Vec<_>>().join("\n"),
                    orphans_killed: orphans,
                };
                let _ = exit_tx.send(Some(report.clone()));
                let _ = tx.send(AgentEvent::Exited(report)).await;
            }));
        }

        let process = Arc::new(Self {
            pid,
            session_id: spec.session_id.clone(),
            stdin,
            pending,
            next_request: AtomicU64::new(1),
            busy,
            exited: exit_rx,
            stopping,
            stop_step,
            stopped: tokio::sync::Mutex::new(None),
            ladder: spec.ladder,
        });

        // Ready when it answers `initialize` (it prints nothing else before the first prompt).
        let init = process.control(ControlRequestBody::Initialize { hooks: None });
        let mut exited = process.exited.clone();
        let exited = async move {
            let _ = exited.wait_for(Option::is_some).await.map(|_| ());
        };
        tokio::select! {
            answer = tokio::time::timeout(spec.startup_timeout, init) => match answer {
                Ok(Ok(_)) => Ok((process, rx)),
                Ok(Err(e)) => {
                    let report = process.stop().await;
                    Err(RuntimeError::SpawnFailed(format!("initialize failed: {e}; {}", report.describe())))
                }
                Err(_) => {
                    process.stop().await;
                    Err(RuntimeError::StartTimeout(spec.startup_timeout.as_secs()))
                }
            },
            () = exited => {
                let report = process.exited.borrow().clone().unwrap_or_default();
                Err(RuntimeError::SpawnFailed(format!("the CLI {}", report.describe())))
            }
        }
    }

    /// Sends a control request and waits for its answer.
    async fn control(&self, request: ControlRequestBody) -> Result<Option<Value>, RuntimeError> {
        let id = format!("orc_{}", self.next_request.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), tx);
        write_line(
            &self.stdin,
            &Outbound::ControlRequest {
                request_id: &id,
                request,
            },
        )
        .await?;
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(RuntimeError::Io(format!(
                "the CLI refused the request: {e}"
            ))),
            Err(_) => Err(RuntimeError::Exited),
        }
    }

    fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    async fn wait_exit(&self, within: Duration) -> bool {
        let mut rx = self.exited.clone();
        tokio::time::timeout(within, rx.wait_for(Option::is_some))
            .await
            .is_ok()
    }

    fn signal(&self, signal: Signal, group: bool) {
        if self.has_exited() {
            return;
        }
        let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) else {
            return;
        };
        let pid = Pid::from_raw(pid);
        if group {
            let _ = killpg(pid, signal);
        }
        let _ = kill(pid, signal);
    }

    fn step(&self, name: &'static str) {
        *lock(&self.stop_step) = Some(name);
    }
}

#[async_trait]
impl AgentProcess for CliProcess {
    fn pid(&self) -> Option<u32> {
        self.pid
    }

    async fn send_user_message(&self, text: &str) -> Result<(), RuntimeError> {
        if self.has_exited() {
            return Err(RuntimeError::Exited);
        }
        self.busy.fetch_add(1, Ordering::SeqCst);
        write_line(&self.stdin, &Outbound::user_text(text))
            .await
            .inspect_err(|_| {
                self.busy.fetch_sub(1, Ordering::SeqCst);
            })
    }

    async fn interrupt(&self) -> Result<(), RuntimeError> {
        if self.has_exited() {
            return Err(RuntimeError::Exited);
        }
        match tokio::time::timeout(
            Duration::from_secs(5),
            self.control(ControlRequestBody::Interrupt),
        )
        .await
        {
            Ok(result) => result.map(|_| ()),
            // The CLI answers interrupts at once; a slow answer still leaves the request sent.
            Err(_) => Ok(()),
        }
    }

    async fn answer_permission(
        &self,
        request_id: &str,
        answer: PermissionAnswer,
    ) -> Result<(), RuntimeError> {
        write_line(&self.stdin, &Outbound::permission(request_id, &answer)).await
    }

    async fn stop(&self) -> ExitReport {
        self.run_stop_ladder().await
    }
}
