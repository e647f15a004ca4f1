//! The session manager: the one place that starts, talks to, and stops agent processes,
//! and keeps the database truthful about them.
//!
//! Each live session has a process (behind the [`AgentRuntime`] port), a pump task that
//! turns the process's events into turn results, session totals and the event log, and a
//! lifecycle lock: create, pause, resume, close and the watchdog's stop of a hung agent
//! all take it, so two clients acting on one session at once never produce two processes.
//! A cap on live processes is a semaphore; callers beyond it queue for a bounded time.

mod escalation;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use escalation::Escalation;
use escalation::{Grants, PendingPermission};
use orchestra_domain::{
    AgentSession, ApprovalId, NewSession, PermissionMode, SessionId, SessionStatus, Turn, TurnId,
    TurnOutcome, TurnStatus, TurnTotals,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::event_log::{EventLog, SessionEvent};
use crate::error::AppError;
use crate::metrics_names as m;
use crate::ports::{
    AgentEvent, AgentLaunch, AgentProcess, AgentRuntime, Clock, ExitReport, RepositoryError,
    RuntimeError, SessionRepository, TurnReport, TurnRepository,
};

/// Limits and timeouts of the session manager.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// The agent id new sessions get.
    pub default_agent_id: String,
    /// Live CLI processes at most.
    pub max_live_processes: usize,
    /// How long a create or resume waits for a free process slot.
    pub spawn_queue_timeout: Duration,
    /// A running turn with no output for this long (no tool running) is hung.
    pub inactivity_timeout: Duration,
    /// The same while a tool runs (tools may be silent for long).
    pub tool_timeout: Duration,
    /// Longest prompt, in characters.
    pub max_prompt_chars: usize,
    /// Events kept per session for reconnecting clients.
    pub event_buffer: usize,
    /// Absolute directories a session may work in (and below); empty allows any.
    pub allowed_working_directories: Vec<String>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            default_agent_id: "claude-code".into(),
            max_live_processes: 32,
            spawn_queue_timeout: Duration::from_secs(30),
            inactivity_timeout: Duration::from_secs(600),
            tool_timeout: Duration::from_secs(3600),
            max_prompt_chars: 100_000,
            event_buffer: 2000,
            allowed_working_directories: Vec::new(),
        }
    }
}

/// Create a session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateSession {
    /// Absolute working directory (must exist).
    pub working_directory: String,
    /// Agent id (default `claude-code`).
    pub agent_id: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Permission mode.
    pub permission_mode: Option<PermissionMode>,
    /// Allowed tool rules.
    pub allowed_tools: Vec<String>,
    /// Disallowed tool rules.
    pub disallowed_tools: Vec<String>,
    /// System prompt addition.
    pub append_system_prompt: Option<String>,
    /// Max agentic turns per prompt.
    pub max_turns: Option<u32>,
}

/// What a live session looks like right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveInfo {
    /// OS process id.
    pub pid: Option<u32>,
    /// The running turn.
    pub current_turn: Option<TurnId>,
    /// Seconds since the last output.
    pub idle_seconds: u64,
    /// Approvals the agent waits for.
    pub pending_approvals: Vec<ApprovalId>,
}

/// What the health check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthReport {
    /// Live processes.
    pub live: usize,
    /// Hung agents stopped by this check.
    pub hung_stopped: usize,
}

#[derive(Debug)]
enum Slot {
    Idle,
    Starting,
    Running(Box<Turn>),
}

#[derive(Debug)]
struct LiveState {
    slot: Slot,
    interrupt_requested: bool,
    last_activity: Instant,
    tools_in_flight: usize,
    /// Permission requests waiting for a human, by approval.
    pending: HashMap<ApprovalId, PendingPermission>,
    /// Tool uses Orchestra answered (their denials are not re-escalated).
    answered: HashSet<String>,
    /// This turn's tool uses (id -> name) and the ids that got a result.
    turn_tool_uses: HashMap<String, String>,
    turn_tool_results: HashSet<String>,
    /// The approval this session is parked on.
    parked: Option<ApprovalId>,
    /// Prompts to send once the running turn ends (continuations after approvals).
    continuations: Vec<String>,
    stopping: bool,
    /// While stopping: how a turn that ends now ends, and why (the watchdog's `Failed`).
    stop_outcome: Option<(TurnStatus, String)>,
}

#[derive(Debug)]
struct Live {
    process: Arc<dyn AgentProcess>,
    /// The session's agent (approvals carry it).
    agent_id: String,
    state: Mutex<LiveState>,
    turn_done: watch::Sender<Option<(TurnId, TurnStatus)>>,
    _permit: OwnedSemaphorePermit,
}

impl Live {
    fn state(&self) -> MutexGuard<'_, LiveState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct Inner {
    sessions: Arc<dyn SessionRepository>,
    turns: Arc<dyn TurnRepository>,
    runtime: Arc<dyn AgentRuntime>,
    clock: Arc<dyn Clock>,
    settings: SessionSettings,
    permits: Arc<Semaphore>,
    live: Mutex<HashMap<SessionId, Arc<Live>>>,
    lifecycle: Mutex<HashMap<SessionId, Arc<tokio::sync::Mutex<()>>>>,
    logs: Mutex<HashMap<SessionId, Arc<EventLog>>>,
    queued: AtomicUsize,
    escalation: Option<Escalation>,
    grants: Mutex<HashMap<SessionId, Grants>>,
    /// When the escalation tick last read waiting prompts' approvals from the database.
    last_decision_poll: Mutex<Option<std::time::Instant>>,
    /// The runtime the manager was built on: every task that must outlive a request (pumps,
    /// continuations, parking) runs here, not on the HTTP worker that happened to start it.
    rt: Option<tokio::runtime::Handle>,
}

/// Runs sessions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn validate_text(field: &str, value: &str, max: usize) -> Result<(), AppError> {
    let len = value.chars().count();
    if len > max {
        return Err(AppError::invalid(
            field,
            format!("is {len} characters long; the limit is {max}"),
        ));
    }
    Ok(())
}

fn validate_rules(field: &str, rules: &[String]) -> Result<Vec<String>, AppError> {
    if rules.len() > 200 {
        return Err(AppError::invalid(field, "at most 200 rules"));
    }
    rules
        .iter()
        .map(|r| {
            let r = r.trim();
            if r.is_empty()
                || r.chars().count() > 500
                || r.chars().any(char::is_control)
                || r.contains(',')
            {
                Err(AppError::invalid(
                    field,
                    format!(
                        "`{}` is not a tool rule (1-500 printable characters, no commas)",
                        r.chars().take(60).collect::<String>()
                    ),
                ))
            } else {
                Ok(r.to_owned())
            }
        })
        .collect()
}

impl SessionManager {
    /// A manager over its ports.
    pub fn new(
        sessions: Arc<dyn SessionRepository>,
        turns: Arc<dyn TurnRepository>,
        runtime: Arc<dyn AgentRuntime>,
        clock: Arc<dyn Clock>,
        settings: SessionSettings,
        escalation: Option<Escalation>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(settings.max_live_processes.max(1)));
        Self {
            inner: Arc::new(Inner {
                sessions,
                turns,
                runtime,
                clock,
                settings,
                permits,
                live: Mutex::new(HashMap::new()),
                lifecycle: Mutex::new(HashMap::new()),
                logs: Mutex::new(HashMap::new()),
                queued: AtomicUsize::new(0),
                escalation,
                grants: Mutex::new(HashMap::new()),
                last_decision_poll: Mutex::new(None),
                rt: tokio::runtime::Handle::try_current().ok(),
            }),
        }
    }

    /// Spawns a task on the manager's runtime.
    pub(crate) fn spawn_task<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.inner.rt {
            Some(rt) => rt.spawn(fut),
            None => tokio::spawn(fut),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.inner.settings
    }

    /// The agent runtime.
    pub fn runtime(&self) -> &Arc<dyn AgentRuntime> {
        &self.inner.runtime
    }

    /// Live processes now.
    pub fn live_count(&self) -> usize {
        lock(&self.inner.live).len()
    }

    /// Callers waiting for a process slot.
    pub fn queued(&self) -> usize {
        self.inner.queued.load(Ordering::Relaxed)
    }

    fn lifecycle_lock(&self, id: SessionId) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(lock(&self.inner.lifecycle).entry(id).or_default())
    }

    /// The session's event log (created on first use).
    pub fn event_log(&self, id: SessionId) -> Arc<EventLog> {
        let capacity = self.inner.settings.event_buffer;
        Arc::clone(
            lock(&self.inner.logs)
                .entry(id)
                .or_insert_with(|| Arc::new(EventLog::new(id, capacity))),
        )
    }

    fn log(&self, id: SessionId, event: SessionEvent) {
        self.event_log(id).append(self.inner.clock.now(), event);
    }

    /// Logs `event` only if the session still has a log (a closed session's was dropped).
    fn log_if_open(&self, id: SessionId, event: SessionEvent) {
        let log = lock(&self.inner.logs).get(&id).cloned();
        if let Some(log) = log {
            log.append(self.inner.clock.now(), event);
        }
    }

    fn log_status(&self, id: SessionId, status: SessionStatus, reason: Option<String>) {
        self.log(id, SessionEvent::StatusChanged { status, reason });
    }

    async fn load(&self, id: SessionId) -> Result<AgentSession, AppError> {
        self.inner
            .sessions
            .find(id)
            .await?
            .ok_or_else(|| AppError::not_found("session", id))
    }

    fn live(&self, id: SessionId) -> Option<Arc<Live>> {
        lock(&self.inner.live).get(&id).cloned()
    }

    /// What the live process of a session is doing, if it has one.
    pub fn live_info(&self, id: SessionId) -> Option<LiveInfo> {
        let live = self.live(id)?;
        let st = live.state();
        Some(LiveInfo {
            pid: live.process.pid(),
            current_turn: match &st.slot {
                Slot::Running(t) => Some(t.id()),
                _ => None,
            },
            idle_seconds: st.last_activity.elapsed().as_secs(),
            pending_approvals: st.pending.keys().copied().collect(),
        })
    }

    fn publish_gauges(&self) {
        #[expect(clippy::cast_precision_loss, reason = "process counts fit f64 exactly")]
        metrics::gauge!(m::AGENT_PROCESSES_LIVE).set(self.live_count() as f64);
        let repo = Arc::clone(&self.inner.sessions);
        self.spawn_task(async move {
            if let Ok(counts) = repo.count_by_status().await {
                for (status, n) in counts {
                    #[expect(
                        clippy::cast_precision_loss,
                        reason = "session counts fit f64 exactly"
                    )]
                    metrics::gauge!(m::AGENT_SESSIONS, "status" => status.as_str()).set(n as f64);
                }
            }
        });
    }

    async fn acquire_slot(&self) -> Result<OwnedSemaphorePermit, AppError> {
        self.inner.queued.fetch_add(1, Ordering::Relaxed);
        let result = tokio::time::timeout(
            self.inner.settings.spawn_queue_timeout,
            Arc::clone(&self.inner.permits).acquire_owned(),
        )
        .await;
        self.inner.queued.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AppError::Overloaded {
                message: format!(
                    "all {} agent process slots are busy and none freed up within {} s; try again later",
                    self.inner.settings.max_live_processes,
                    self.inner.settings.spawn_queue_timeout.as_secs()
                ),
            }),
        }
    }

    async fn spawn(
        &self,
        spec: &NewSession,
        resume: bool,
        extra_allowed_tools: Vec<String>,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), RuntimeError> {
        let id = spec.id;
        match self
            .inner
            .runtime
            .spawn(AgentLaunch {
                session: spec.clone(),
                resume,
                extra_allowed_tools,
            })
            .await
        {
            Ok(spawned) => {
                metrics::counter!(m::AGENT_PROCESS_SPAWNS_TOTAL).increment(1);
                let (turn_done, _) = watch::channel(None);
                let live = Arc::new(Live {
                    process: spawned.process,
                    agent_id: spec.agent_id.clone(),
                    state: Mutex::new(LiveState {
                        slot: Slot::Idle,
                        interrupt_requested: false,
                        last_activity: Instant::now(),
                        tools_in_flight: 0,
                        pending: HashMap::new(),
                        answered: HashSet::new(),
                        turn_tool_uses: HashMap::new(),
                        turn_tool_results: HashSet::new(),
                        parked: None,
                        continuations: Vec::new(),
                        stopping: false,
                        stop_outcome: None,
                    }),
                    turn_done,
                    _permit: permit,
                });
                lock(&self.inner.live).insert(id, Arc::clone(&live));
                tracing::info!(session.id = %id, pid = ?live.process.pid(), resume, "agent process started");
                let this = self.clone();
                self.spawn_task(async move { this.pump(id, live, spawned.events).await });
                self.publish_gauges();
                Ok(())
            }
            Err(err) => {
                metrics::counter!(m::AGENT_PROCESS_SPAWN_FAILURES_TOTAL).increment(1);
                tracing::warn!(session.id = %id, error = %err, "agent process failed to start");
                Err(err)
            }
        }
    }

    async fn validate_create(&self, cmd: CreateSession) -> Result<NewSession, AppError> {
        let dir = cmd.working_directory.trim().to_owned();
        if dir.is_empty() {
            return Err(AppError::invalid("workingDirectory", "is required"));
        }
        if !dir.starts_with('/') {
            return Err(AppError::invalid(
                "workingDirectory",
                "must be an absolute path",
            ));
        }
        let canonical = self
            .inner
            .runtime
            .check_working_directory(&dir)
            .await
            .map_err(|e| AppError::invalid("workingDirectory", e))?;
        let allowed = &self.inner.settings.allowed_working_directories;
        if !allowed.is_empty()
            && !allowed.iter().any(|root| {
                let root = root.trim_end_matches('/');
                canonical == root || canonical.starts_with(&format!("{root}/"))
            })
        {
            return Err(AppError::invalid(
                "workingDirectory",
                "is outside the directories this server allows",
            ));
        }
        if let Some(model) = &cmd.model
            && (model.is_empty()
                || model.len() > 100
                || !model
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._:[]/".contains(c)))
        {
            return Err(AppError::invalid(
                "model",
                "must be 1-100 characters of letters, digits and -._:[]/",
            ));
        }
        if let Some(prompt) = &cmd.append_system_prompt {
            validate_text("appendSystemPrompt", prompt, 20_000)?;
        }
        if let Some(n) = cmd.max_turns
            && (n == 0 || n > 1000)
        {
            return Err(AppError::invalid("maxTurns", "must be between 1 and 1000"));
        }
        let agent_id = cmd
            .agent_id
            .unwrap_or_else(|| self.inner.settings.default_agent_id.clone());
        if agent_id != self.inner.settings.default_agent_id {
            return Err(AppError::invalid(
                "agentId",
                format!(
                    "unknown agent; this server runs `{}`",
                    self.inner.settings.default_agent_id
                ),
            ));
        }
        Ok(NewSession {
            id: SessionId::new(),
            agent_id,
            working_directory: canonical,
            model: cmd.model,
            permission_mode: cmd.permission_mode.unwrap_or_default(),
            allowed_tools: validate_rules("allowedTools", &cmd.allowed_tools)?,
            disallowed_tools: validate_rules("disallowedTools", &cmd.disallowed_tools)?,
            append_system_prompt: cmd.append_system_prompt.filter(|p| !p.trim().is_empty()),
            max_turns: cmd.max_turns,
        })
    }

    /// Creates a session and starts its agent. A session whose agent cannot start is kept as
    /// Failed (and can be resumed once the cause is fixed); the error says why.
    ///
    /// # Errors
    /// `Invalid` for bad settings; `Overloaded` when no process slot frees up in time;
    /// `Agent` when the CLI does not start; `Unavailable`.
    pub async fn create(&self, cmd: CreateSession) -> Result<AgentSession, AppError> {
        let spec = self.validate_create(cmd).await?;
        let permit = self.acquire_slot().await?;
        let id = spec.id;
        let lifecycle = self.lifecycle_lock(id);
        let _guard = lifecycle.lock().await;
        let mut session = AgentSession::start(spec.clone(), self.inner.clock.now());
        self.inner.sessions.insert(&session).await?;
        metrics::counter!(m::AGENT_SESSIONS_CREATED_TOTAL).increment(1);
        tracing::info!(session.id = %id, working_directory = %spec.working_directory, "session created");
        if let Err(err) = self.spawn(&spec, false, Vec::new(), permit).await {
            let version = session.version();
            session.fail(
                format!("agent failed to start: {err}"),
                self.inner.clock.now(),
            )?;
            self.inner.sessions.update(&session, version).await?;
            self.log_status(
                id,
                SessionStatus::Failed,
                session.last_error().map(str::to_owned),
            );
            self.publish_gauges();
            return Err(err.into());
        }
        self.log_status(id, SessionStatus::Active, None);
        Ok(session)
    }

    /// Sends a prompt: starts a turn. Returns the Running turn and a receiver that sees
    /// `(turn id, final status)` when it ends.
    ///
    /// # Errors
    /// `Invalid` (empty or oversized prompt), `NotFound`, `Transition` (session not Active),
    /// `Conflict` (`turn_in_progress`, `agent_not_running`), `Agent`, `Unavailable`.
    pub async fn send_message(
        &self,
        id: SessionId,
        prompt: &str,
    ) -> Result<(Turn, watch::Receiver<Option<(TurnId, TurnStatus)>>), AppError> {
        if prompt.trim().is_empty() {
            return Err(AppError::invalid("prompt", "must not be empty"));
        }
        validate_text("prompt", prompt, self.inner.settings.max_prompt_chars)?;
        let session = self.load(id).await?;
        session.ensure_accepts_turns()?;
        let live = self.live(id).ok_or_else(|| AppError::Conflict {
            code: "agent_not_running",
            message: "the session's agent process is not running; pause and resume the session"
                .into(),
        })?;
        {
            let mut st = live.state();
            if st.stopping {
                return Err(AppError::Conflict {
                    code: "session_stopping",
                    message: "the session is being stopped".into(),
                });
            }
            if !matches!(st.slot, Slot::Idle) {
                return Err(AppError::Conflict {
                    code: "turn_in_progress",
                    message:
                        "a turn is already running in this session; wait for it or interrupt it"
                            .into(),
                });
            }
            st.slot = Slot::Starting;
        }
        let started = async {
            let seq = self.inner.turns.last_seq(id).await? + 1;
            let turn = Turn::start(
                TurnId::new(),
                id,
                seq,
                prompt.to_owned(),
                self.inner.clock.now(),
            );
            self.inner.turns.insert(&turn).await?;
            Ok::<Turn, AppError>(turn)
        }
        .await;
        let turn = match started {
            Ok(t) => t,
            Err(e) => {
                live.state().slot = Slot::Idle;
                return Err(e);
            }
        };
        let done = live.turn_done.subscribe();
        {
            let mut st = live.state();
            st.slot = Slot::Running(Box::new(turn.clone()));
            st.interrupt_requested = false;
            st.last_activity = Instant::now();
        }
        self.log(
            id,
            SessionEvent::TurnStarted {
                turn_id: turn.id(),
                seq: turn.snapshot().seq,
            },
        );
        if let Err(err) = live.process.send_user_message(prompt).await {
            let mut failed = turn.clone();
            let _ = failed.abandon(
                TurnStatus::Failed,
                format!("could not send the prompt: {err}"),
                self.inner.clock.now(),
            );
            live.state().slot = Slot::Idle;
            let _ = self.inner.turns.update(&failed).await;
            return Err(err.into());
        }
        tracing::info!(session.id = %id, turn.id = %turn.id(), turn.seq = turn.snapshot().seq, "turn started");
        Ok((turn, done))
    }

    /// Interrupts the running turn.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` (`no_turn_in_progress`, `agent_not_running`); `Agent`.
    pub async fn interrupt(&self, id: SessionId) -> Result<TurnId, AppError> {
        let session = self.load(id).await?;
        session.ensure_accepts_turns()?;
        let live = self.live(id).ok_or_else(|| AppError::Conflict {
            code: "agent_not_running",
            message: "the session's agent process is not running".into(),
        })?;
        let turn_id = {
            let mut st = live.state();
            let Slot::Running(turn) = &st.slot else {
                return Err(AppError::Conflict {
                    code: "no_turn_in_progress",
                    message: "no turn is running".into(),
                });
            };
            let turn_id = turn.id();
            st.interrupt_requested = true;
            turn_id
        };
        live.process.interrupt().await?;
        tracing::info!(session.id = %id, turn.id = %turn_id, "turn interrupt requested");
        Ok(turn_id)
    }

    /// Stops a live process (if any) and ends its running turn as `status`.
    async fn stop_live(
        &self,
        id: SessionId,
        turn_status: TurnStatus,
        reason: &str,
    ) -> Option<ExitReport> {
        let live = self.live(id)?;
        {
            let mut st = live.state();
            st.stopping = true;
            st.stop_outcome = Some((turn_status, reason.to_owned()));
            if matches!(st.slot, Slot::Running(_)) {
                st.interrupt_requested = true;
            }
        }
        let report = live.process.stop().await;
        tracing::info!(session.id = %id, exit = %report.describe(), step = ?report.stop_step, "agent process stopped");
        let running = {
            let mut st = live.state();
            match std::mem::replace(&mut st.slot, Slot::Idle) {
                Slot::Running(t) => Some(*t),
                _ => None,
            }
        };
        if let Some(mut turn) = running
            && turn
                .abandon(turn_status, reason, self.inner.clock.now())
                .is_ok()
        {
            let _ = self.inner.turns.update(&turn).await;
            let _ = live.turn_done.send(Some((turn.id(), turn.status())));
            self.log(
                id,
                SessionEvent::TurnFinished {
                    turn_id: turn.id(),
                    status: turn.status(),
                    error: Some(reason.to_owned()),
                },
            );
        }
        lock(&self.inner.live).remove(&id);
        self.publish_gauges();
        Some(report)
    }

    async fn store_transition(
        &self,
        id: SessionId,
        step: impl Fn(&mut AgentSession) -> Result<(), orchestra_domain::TransitionError>,
    ) -> Result<AgentSession, AppError> {
        // Lifecycle changes hold the session's lock, so a version conflict can only come from
        // another node; retry a few times on a fresh read.
        for _ in 0..3 {
            let mut session = self.load(id).await?;
            let version = session.version();
            step(&mut session)?;
            match self.inner.sessions.update(&session, version).await {
                Ok(()) => return Ok(session),
                Err(RepositoryError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict {
            code: "conflict",
            message: "the session changed concurrently; try again".into(),
        })
    }

    /// Pauses an Active session: its process is stopped, the conversation kept.
    ///
    /// # Errors
    /// `NotFound`; `Transition` unless Active; `Unavailable`.
    pub async fn pause(&self, id: SessionId) -> Result<AgentSession, AppError> {
        let lifecycle = self.lifecycle_lock(id);
        let _guard = lifecycle.lock().await;
        let session = self.load(id).await?;
        session.clone().pause(self.inner.clock.now())?;
        self.stop_live(id, TurnStatus::Interrupted, "the session was paused")
            .await;
        self.cancel_session_approvals(id, "the session was paused")
            .await;
        let now = self.inner.clock.now();
        let session = self.store_transition(id, |s| s.pause(now)).await?;
        self.log_status(id, SessionStatus::Paused, None);
        tracing::info!(session.id = %id, "session paused");
        Ok(session)
    }

    /// Resumes a Paused or Failed session: a new process continues the conversation
    /// (`--resume`).
    ///
    /// # Errors
    /// `NotFound`; `Transition` unless Paused or Failed; `Overloaded`; `Agent`; `Unavailable`.
    pub async fn resume(&self, id: SessionId) -> Result<AgentSession, AppError> {
        let lifecycle = self.lifecycle_lock(id);
        let _guard = lifecycle.lock().await;
        let session = self.load(id).await?;
        session.clone().resume(self.inner.clock.now())?;
        if self.live(id).is_some() {
            return Err(AppError::Conflict {
                code: "agent_running",
                message: "the session already has a running agent".into(),
            });
        }
        let permit = self.acquire_slot().await?;
        self.spawn(session.spec(), true, Vec::new(), permit).await?;
        let now = self.inner.clock.now();
        let session = self.store_transition(id, |s| s.resume(now)).await?;
        self.log_status(id, SessionStatus::Active, None);
        tracing::info!(session.id = %id, "session resumed");
        self.publish_gauges();
        Ok(session)
    }

    /// Closes a session for good; a live process is stopped first.
    ///
    /// # Errors
    /// `NotFound`; `Transition` when already Closed; `Unavailable`.
    pub async fn close(&self, id: SessionId) -> Result<AgentSession, AppError> {
        let lifecycle = self.lifecycle_lock(id);
        let _guard = lifecycle.lock().await;
        let session = self.load(id).await?;
        session.clone().close(self.inner.clock.now())?;
        self.stop_live(id, TurnStatus::Interrupted, "the session was closed")
            .await;
        self.cancel_session_approvals(id, "the session was closed")
            .await;
        let now = self.inner.clock.now();
        let session = self.store_transition(id, |s| s.close(now)).await?;
        self.log_status(id, SessionStatus::Closed, None);
        lock(&self.inner.logs).remove(&id);
        lock(&self.inner.lifecycle).remove(&id);
        lock(&self.inner.grants).remove(&id);
        tracing::info!(session.id = %id, "session closed");
        self.publish_gauges();
        Ok(session)
    }

    /// The per-process event pump: turn results, totals, crash handling, the event log.
    async fn pump(&self, id: SessionId, live: Arc<Live>, mut events: mpsc::Receiver<AgentEvent>) {
        while let Some(event) = events.recv().await {
            {
                let mut st = live.state();
                st.last_activity = Instant::now();
                match &event {
                    AgentEvent::ToolUse {
                        id: tool_use, name, ..
                    } => {
                        st.tools_in_flight += 1;
                        st.turn_tool_uses.insert(tool_use.clone(), name.clone());
                    }
                    AgentEvent::ToolResult { tool_use_id, .. } => {
                        st.tools_in_flight = st.tools_in_flight.saturating_sub(1);
                        st.turn_tool_results.insert(tool_use_id.clone());
                    }
                    _ => {}
                }
            }
            match &event {
                AgentEvent::Garbage { preview, reason } => {
                    metrics::counter!(m::AGENT_STREAM_GARBAGE_LINES_TOTAL).increment(1);
                    tracing::warn!(session.id = %id, reason = %reason, line = %preview, "agent wrote a line that is not stream-json");
                }
                AgentEvent::Other { kind, subtype, .. } => {
                    tracing::debug!(session.id = %id, kind = %kind, subtype = ?subtype, "agent line of a type Orchestra does not interpret (kept)");
                }
                _ => {}
            }
            let result = if let AgentEvent::Result(report) = &event {
                Some(report.clone())
            } else {
                None
            };
            let exit = if let AgentEvent::Exited(report) = &event {
                Some(report.clone())
            } else {
                None
            };
            let permission = if let AgentEvent::PermissionRequest {
                request_id,
                tool_name,
                input,
                tool_use_id,
                description,
            } = &event
            {
                Some(escalation::PermissionRequest {
                    request_id: request_id.clone(),
                    tool_name: tool_name.clone(),
                    input: input.clone(),
                    tool_use_id: tool_use_id.clone(),
                    description: description.clone(),
                })
            } else {
                None
            };
            self.log(id, SessionEvent::Agent(event));
            if let Some(request) = permission {
                self.on_permission_request(id, &live, request).await;
            }
            if let Some(report) = result {
                self.finish_turn(id, &live, &report).await;
            }
            if let Some(report) = exit {
                self.on_exit(id, &live, report).await;
                break;
            }
        }
    }

    async fn finish_turn(&self, id: SessionId, live: &Live, report: &TurnReport) {
        let (tool_uses, tool_results, parked) = {
            let mut st = live.state();
            (
                std::mem::take(&mut st.turn_tool_uses),
                std::mem::take(&mut st.turn_tool_results),
                st.parked,
            )
        };
        let (turn, interrupted, stop_outcome) = {
            let mut st = live.state();
            st.tools_in_flight = 0;
            let interrupted = std::mem::take(&mut st.interrupt_requested) || parked.is_some();
            let stop_outcome = if st.stopping {
                st.stop_outcome.clone()
            } else {
                None
            };
            match std::mem::replace(&mut st.slot, Slot::Idle) {
                Slot::Running(t) => (Some(*t), interrupted, stop_outcome),
                other => {
                    st.slot = other;
                    (None, interrupted, stop_outcome)
                }
            }
        };
        let totals = TurnTotals {
            cost_usd: report.cost_usd.unwrap_or(0.0),
            duration_ms: report.duration_ms.unwrap_or(0),
            message_count: report.num_turns.unwrap_or(0),
        };
        // A turn that says success while a tool use got no result is suspicious: flag it.
        let mut errors = report.errors.clone();
        if report.subtype == "success" && !report.is_error {
            let mut missing: Vec<(&String, &String)> = tool_uses
                .iter()
                .filter(|(id, _)| !tool_results.contains(*id))
                .collect();
            missing.sort();
            for (tool_use, name) in missing {
                errors.push(format!(
                    "orchestra: tool use {tool_use} ({name}) got no result"
                ));
                metrics::counter!(m::AGENT_TURNS_FLAGGED_TOTAL).increment(1);
                tracing::warn!(session.id = %id, tool_use = %tool_use, tool = %name, "turn reports success but a tool use got no result");
            }
        }
        let outcome = TurnOutcome {
            subtype: report.subtype.clone(),
            is_error: report.is_error,
            result_text: report.result.clone(),
            terminal_reason: report.terminal_reason.clone(),
            api_error_status: report.api_error_status,
            errors,
            totals,
            duration_api_ms: report.duration_api_ms.unwrap_or(0),
            permission_denials: i64::try_from(report.permission_denials.len()).unwrap_or(i64::MAX),
        };
        // The cost was incurred even if no turn was waiting for this result.
        if let Err(err) = self
            .inner
            .sessions
            .record_turn(id, totals, self.inner.clock.now())
            .await
        {
            tracing::error!(session.id = %id, error = %err, "could not record turn totals");
        }
        if totals.cost_usd.is_finite() && totals.cost_usd > 0.0 {
            metrics::gauge!(m::AGENT_COST_USD_TOTAL).increment(totals.cost_usd);
        }
        let Some(mut turn) = turn else {
            tracing::warn!(session.id = %id, subtype = %report.subtype, "result without a running turn (recorded in the totals)");
            return;
        };
        let now = self.inner.clock.now();
        // A turn that ends while Orchestra stops its process for a reason other than a
        // plain interrupt (the watchdog) ends the way the stopper said, with its reason.
        let finished = match (stop_outcome, parked) {
            (Some((status, reason)), _) if status != TurnStatus::Interrupted => {
                turn.abandon(status, reason, now).map(|()| status)
            }
            (_, Some(approval)) => turn
                .abandon(
                    TurnStatus::Interrupted,
                    format!("parked: waiting for a human to decide approval {approval}"),
                    now,
                )
                .map(|()| TurnStatus::Interrupted),
            _ => turn.finish(outcome, interrupted, now),
        };
        let Ok(status) = finished else { return };
        if let Err(err) = self.inner.turns.update(&turn).await {
            tracing::error!(session.id = %id, turn.id = %turn.id(), error = %err, "could not store the turn result");
        }
        let secs = (now - turn.snapshot().started_at).num_milliseconds().max(0);
        #[expect(clippy::cast_precision_loss, reason = "milliseconds fit f64 exactly")]
        metrics::histogram!(m::AGENT_TURN_DURATION_SECONDS).record(secs as f64 / 1000.0);
        metrics::counter!(m::AGENT_TURNS_TOTAL, "outcome" => status.as_str()).increment(1);
        tracing::info!(
            session.id = %id, turn.id = %turn.id(), turn.status = status.as_str(),
            cost_usd = totals.cost_usd, duration_ms = totals.duration_ms, "turn finished"
        );
        self.log(
            id,
            SessionEvent::TurnFinished {
                turn_id: turn.id(),
                status,
                error: turn.snapshot().error.clone(),
            },
        );
        let _ = live.turn_done.send(Some((turn.id(), status)));
        self.after_turn(id, live, report, parked).await;
    }

    async fn on_exit(&self, id: SessionId, live: &Arc<Live>, report: ExitReport) {
        if live.state().stopping {
            return; // The stopper (pause, close, watchdog, shutdown) records what happened.
        }
        // Unexpected: the process died by itself. Take the lifecycle lock so this does not
        // race a pause or close that starts right now.
        let lifecycle = self.lifecycle_lock(id);
        let _guard = lifecycle.lock().await;
        if live.state().stopping {
            return;
        }
        let still_ours = lock(&self.inner.live)
            .get(&id)
            .is_some_and(|l| Arc::ptr_eq(l, live));
        if !still_ours {
            return;
        }
        lock(&self.inner.live).remove(&id);
        metrics::counter!(m::AGENT_PROCESS_CRASHES_TOTAL).increment(1);
        let reason = format!("the agent process {}", report.describe());
        tracing::warn!(session.id = %id, reason = %reason, "agent process exited unexpectedly");
        let running = match std::mem::replace(&mut live.state().slot, Slot::Idle) {
            Slot::Running(t) => Some(*t),
            _ => None,
        };
        if let Some(mut turn) = running
            && turn
                .abandon(TurnStatus::Lost, reason.clone(), self.inner.clock.now())
                .is_ok()
        {
            let _ = self.inner.turns.update(&turn).await;
            let _ = live.turn_done.send(Some((turn.id(), TurnStatus::Lost)));
            self.log(
                id,
                SessionEvent::TurnFinished {
                    turn_id: turn.id(),
                    status: TurnStatus::Lost,
                    error: Some(reason.clone()),
                },
            );
        }
        let now = self.inner.clock.now();
        match self
            .store_transition(id, |s| {
                if s.status() == SessionStatus::Active {
                    s.fail(reason.clone(), now)
                } else {
                    Ok(())
                }
            })
            .await
        {
            Ok(_) => self.log_status(id, SessionStatus::Failed, Some(reason)),
            Err(err) => {
                tracing::error!(session.id = %id, error = %err, "could not mark the session failed")
            }
        }
        self.publish_gauges();
    }

    /// The agent health check: stops agents whose running turn has been silent too long
    /// (time waiting on a human does not count), marking turn and session Failed.
    pub async fn check_health(&self) -> HealthReport {
        let live: Vec<(SessionId, Arc<Live>)> = lock(&self.inner.live)
            .iter()
            .map(|(k, v)| (*k, Arc::clone(v)))
            .collect();
        let mut report = HealthReport {
            live: live.len(),
            hung_stopped: 0,
        };
        for (id, l) in live {
            let silent_for = {
                let st = l.state();
                if st.stopping || !matches!(st.slot, Slot::Running(_)) || !st.pending.is_empty() {
                    continue;
                }
                let limit = if st.tools_in_flight > 0 {
                    self.inner.settings.tool_timeout
                } else {
                    self.inner.settings.inactivity_timeout
                };
                let silent = st.last_activity.elapsed();
                if silent <= limit {
                    continue;
                }
                silent
            };
            let reason = format!(
                "no output from the agent for {} s during a turn; it was stopped",
                silent_for.as_secs()
            );
            tracing::warn!(session.id = %id, silent_secs = silent_for.as_secs(), "agent hung; stopping it");
            let lifecycle = self.lifecycle_lock(id);
            let _guard = lifecycle.lock().await;
            // While we waited for the lock the session may have been paused and resumed: stop
            // only the process we found silent, and only if it still is.
            let still_hung = self.live(id).is_some_and(|now_live| {
                Arc::ptr_eq(&now_live, &l) && {
                    let st = l.state();
                    !st.stopping && st.last_activity.elapsed() >= silent_for
                }
            });
            if !still_hung {
                continue;
            }
            if self
                .stop_live(id, TurnStatus::Failed, &reason)
                .await
                .is_some()
            {
                let now = self.inner.clock.now();
                if self
                    .store_transition(id, |s| {
                        if s.status() == SessionStatus::Active {
                            s.fail(reason.clone(), now)
                        } else {
                            Ok(())
                        }
                    })
                    .await
                    .is_ok()
                {
                    self.log_status(id, SessionStatus::Failed, Some(reason.clone()));
                }
                report.hung_stopped += 1;
            }
        }
        report
    }

    /// After a start: stops agent processes an earlier Orchestra left behind, and makes the
    /// database truthful: sessions that were Active have no process any more (Failed, and
    /// resumable), turns that were running are Lost.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be updated.
    pub async fn recover(&self) -> Result<(usize, u64), AppError> {
        let orphans = self.inner.runtime.reap_orphans().await;
        if orphans.found > 0 {
            tracing::warn!(
                found = orphans.found,
                stopped = orphans.stopped,
                "stopped agent processes left by an earlier Orchestra"
            );
        }
        let now = self.inner.clock.now();
        let lost = self
            .inner
            .turns
            .abandon_running(None, "Orchestra stopped while the turn was running", now)
            .await?;
        let mut active = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .inner
                .sessions
                .list(
                    &crate::ports::SessionFilter {
                        status: Some(SessionStatus::Active),
                        agent_id: None,
                    },
                    crate::ports::PageRequest { offset, limit: 500 },
                )
                .await?;
            let n = page.items.len();
            active.extend(page.items.into_iter().map(|s| s.id()));
            if n < 500 {
                break;
            }
            offset += 500;
        }
        let mut failed = 0;
        for id in active {
            if self.live(id).is_some() {
                continue;
            }
            let reason =
                "Orchestra stopped while the session was active; resume it to continue".to_owned();
            if self
                .store_transition(id, |x| {
                    if x.status() == SessionStatus::Active {
                        x.fail(reason.clone(), now)
                    } else {
                        Ok(())
                    }
                })
                .await
                .is_ok()
            {
                failed += 1;
                self.log_status(id, SessionStatus::Failed, Some(reason));
            }
        }
        if failed > 0 || lost > 0 {
            tracing::warn!(
                sessions_failed = failed,
                turns_lost = lost,
                "recovered state after an unclean stop"
            );
        }
        self.publish_gauges();
        Ok((failed, lost))
    }

    /// Graceful shutdown: every live session is paused (its process stopped with the ladder,
    /// its running turn Interrupted), so after a restart it is Paused and resumable.
    pub async fn shutdown(&self) {
        let ids: Vec<SessionId> = lock(&self.inner.live).keys().copied().collect();
        let mut tasks = Vec::new();
        for id in ids {
            let this = self.clone();
            tasks.push(self.spawn_task(async move {
                if let Err(err) = this.pause(id).await {
                    tracing::warn!(session.id = %id, error = %err, "could not pause the session at shutdown");
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}
