//! A fake agent runtime: processes that record what Orchestra sends them and emit the events
//! a test tells them to, so session and escalation logic is tested without spawning a CLI.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};

use crate::ports::{
    AgentEvent, AgentInstallation, AgentLaunch, AgentProcess, AgentRuntime, ExitReport,
    OrphanReport, PermissionAnswer, RuntimeError, SpawnedAgent, TurnReport,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What Orchestra sent a fake process.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeInput {
    /// A user message.
    User(String),
    /// An interrupt.
    Interrupt,
    /// An answer to a permission request.
    Answer {
        /// The request answered.
        request_id: String,
        /// The answer.
        answer: PermissionAnswer,
    },
}

/// A fake agent process.
#[derive(Debug)]
pub struct FakeAgentProcess {
    pid: u32,
    events: mpsc::Sender<AgentEvent>,
    inputs: Mutex<Vec<FakeInput>>,
    changed: Notify,
    stopped: AtomicBool,
    /// While `true`, a stop waits (to hold a stop midway in a test).
    hold_stop: tokio::sync::watch::Sender<bool>,
    /// Stops begun (held ones included).
    stops_begun: AtomicU32,
}

impl FakeAgentProcess {
    /// Makes the next stops wait until [`Self::release_stop`].
    pub fn hold_stops(&self) {
        self.hold_stop.send_replace(true);
    }

    /// Lets held stops finish.
    pub fn release_stop(&self) {
        self.hold_stop.send_replace(false);
    }

    /// Waits (up to 5 s) until a stop has begun.
    ///
    /// # Panics
    /// When none begins in time (a test failure).
    pub async fn wait_stop_begun(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.stops_begun.load(Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no stop began");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Emits `event` as if the CLI had written it.
    pub async fn emit(&self, event: AgentEvent) {
        let _ = self.events.send(event).await;
    }

    /// Emits a successful result costing `cost_usd`.
    pub async fn finish_turn(&self, cost_usd: f64) {
        self.emit(AgentEvent::Result(TurnReport {
            subtype: "success".into(),
            result: Some("done".into()),
            cost_usd: Some(cost_usd),
            duration_ms: Some(10),
            num_turns: Some(1),
            ..TurnReport::default()
        }))
        .await;
    }

    /// Emits a `can_use_tool` request.
    pub async fn ask(&self, request_id: &str, tool: &str, input: serde_json::Value) {
        self.emit(AgentEvent::PermissionRequest {
            request_id: request_id.into(),
            tool_name: tool.into(),
            input,
            tool_use_id: Some(format!("toolu_{request_id}")),
            description: None,
            suggested_rules: Vec::new(),
        })
        .await;
    }

    /// Dies on its own (a crash).
    pub async fn crash(&self, code: i32) {
        self.emit(AgentEvent::Exited(ExitReport {
            code: Some(code),
            ..ExitReport::default()
        }))
        .await;
    }

    /// Everything Orchestra sent so far.
    pub fn inputs(&self) -> Vec<FakeInput> {
        lock(&self.inputs).clone()
    }

    /// Whether Orchestra stopped it.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Waits (up to 5 s) until an input matches `pred`, and returns it.
    ///
    /// # Panics
    /// When none arrives in time (a test failure).
    pub async fn wait_for(&self, pred: impl Fn(&FakeInput) -> bool) -> FakeInput {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let changed = self.changed.notified();
            if let Some(found) = lock(&self.inputs).iter().find(|i| pred(i)).cloned() {
                return found;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("no matching input; got {:?}", self.inputs());
            }
        }
    }

    fn record(&self, input: FakeInput) -> Result<(), RuntimeError> {
        if self.is_stopped() {
            return Err(RuntimeError::Exited);
        }
        lock(&self.inputs).push(input);
        self.changed.notify_waiters();
        Ok(())
    }
}

#[async_trait]
impl AgentProcess for FakeAgentProcess {
    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }

    async fn send_user_message(&self, text: &str) -> Result<(), RuntimeError> {
        self.record(FakeInput::User(text.to_owned()))
    }

    async fn interrupt(&self) -> Result<(), RuntimeError> {
        self.record(FakeInput::Interrupt)
    }

    async fn answer_permission(
        &self,
        request_id: &str,
        answer: PermissionAnswer,
    ) -> Result<(), RuntimeError> {
        self.record(FakeInput::Answer {
            request_id: request_id.to_owned(),
            answer,
        })
    }

    async fn stop(&self) -> ExitReport {
        self.stops_begun.fetch_add(1, Ordering::SeqCst);
        let mut held = self.hold_stop.subscribe();
        let _ = held.wait_for(|h| !*h).await;
        let report = ExitReport {
            signal: Some(15),
            requested: true,
            stop_step: Some("sigterm".into()),
            ..ExitReport::default()
        };
        if !self.stopped.swap(true, Ordering::SeqCst) {
            let _ = self.events.send(AgentEvent::Exited(report.clone())).await;
        }
        report
    }
}

#[derive(Debug, Default)]
struct RuntimeState {
    launches: Vec<AgentLaunch>,
    processes: Vec<Arc<FakeAgentProcess>>,
    fail_next: Option<RuntimeError>,
}

/// A fake runtime: each spawn makes a [`FakeAgentProcess`].
#[derive(Debug, Default)]
pub struct FakeAgentRuntime {
    state: Mutex<RuntimeState>,
    spawned: Notify,
    next_pid: AtomicU32,
}

impl FakeAgentRuntime {
    /// A shared fake runtime.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The next spawn fails with `err`.
    pub fn fail_next_spawn(&self, err: RuntimeError) {
        lock(&self.state).fail_next = Some(err);
    }

    /// Every launch asked for, in order.
    pub fn launches(&self) -> Vec<AgentLaunch> {
        lock(&self.state).launches.clone()
    }

    /// The `n`-th process spawned (0-based), waiting up to 5 s for it.
    ///
    /// # Panics
    /// When it is not spawned in time (a test failure).
    pub async fn process(&self, n: usize) -> Arc<FakeAgentProcess> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let spawned = self.spawned.notified();
            if let Some(p) = lock(&self.state).processes.get(n) {
                return Arc::clone(p);
            }
            if tokio::time::timeout_at(deadline, spawned).await.is_err() {
                panic!("process {n} was not spawned");
            }
        }
    }
}

#[async_trait]
impl AgentRuntime for FakeAgentRuntime {
    async fn spawn(&self, launch: AgentLaunch) -> Result<SpawnedAgent, RuntimeError> {
        let mut st = lock(&self.state);
        st.launches.push(launch);
        if let Some(err) = st.fail_next.take() {
            return Err(err);
        }
        let (tx, rx) = mpsc::channel(64);
        let process = Arc::new(FakeAgentProcess {
            pid: 10_000 + self.next_pid.fetch_add(1, Ordering::SeqCst),
            events: tx,
            inputs: Mutex::new(Vec::new()),
            changed: Notify::new(),
            stopped: AtomicBool::new(false),
            hold_stop: tokio::sync::watch::channel(false).0,
            stops_begun: AtomicU32::new(0),
        });
        st.processes.push(Arc::clone(&process));
        drop(st);
        self.spawned.notify_waiters();
        Ok(SpawnedAgent {
            process,
            events: rx,
        })
    }

    async fn discover(&self) -> AgentInstallation {
        AgentInstallation {
            id: "claude-code".into(),
            path: "fake".into(),
            version: Some("0.0.0-fake".into()),
            available: true,
            error: None,
        }
    }

    async fn check_working_directory(&self, path: &str) -> Result<String, String> {
        Ok(path.trim_end_matches('/').to_owned())
    }

    async fn reap_orphans(&self) -> OrphanReport {
        OrphanReport::default()
    }
}
