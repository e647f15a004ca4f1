//! What every session handler works with: the ports, the live-process registry, the event
//! logs, escalation, and the helpers they share (load, the one "load, transition, store"
//! path, status logging, gauges, spawning long-lived tasks).

use std::sync::Arc;

use orchestra_domain::{AgentSession, SessionId, SessionStatus, TransitionError};

use super::event_log::{EventLog, SessionEvent};
use super::event_logs::EventLogs;
use super::registry::LiveRegistry;
use super::settings::SessionSettings;
use crate::error::{AppError, ConflictKind};
use crate::escalation::Escalation;
use crate::metrics_names as m;
use crate::ports::{
    AgentRuntime, Clock, EventTailRepository, RepositoryError, SessionRepository, TurnRepository,
};

/// The session handlers' dependencies. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionDeps {
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Turns.
    pub turns: Arc<dyn TurnRepository>,
    /// Starts agents.
    pub runtime: Arc<dyn AgentRuntime>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Limits.
    pub settings: Arc<SessionSettings>,
    /// Live processes, slots and lifecycle locks.
    pub registry: LiveRegistry,
    /// Per-session event logs.
    pub logs: EventLogs,
    /// Escalation of permission prompts; `None` denies every prompt.
    pub escalation: Option<Escalation>,
    /// Records session starts in the audit log.
    pub audit: Option<crate::audit::AuditTrail>,
    /// Keeps agent transcripts in the database (none: each node keeps only its own).
    pub transcripts: Option<super::TranscriptSync>,
    /// This node's leases: an agent starts here only with its session's lease (none: one
    /// node, no leases; the unit tests).
    pub leases: Option<crate::leases::NodeLeases>,
    /// Keeps a suspended session's last turn of events in the database (none: in memory
    /// only, lost with the log).
    pub event_tails: Option<Arc<dyn EventTailRepository>>,
    /// W3C trace context: an agent process gets the `TRACEPARENT` of the span that starts
    /// it.
    pub trace: Arc<dyn crate::ports::TraceContext>,
    /// What keys spent (the daily budget per key); `None`: not enforced.
    pub spend: Option<Arc<dyn crate::ports::SpendRepository>>,
    /// Held while a budget approval is looked for and opened: the end of a turn and a
    /// message right after it open one, not two (a session runs on one node).
    pub(crate) budget_lock: Arc<tokio::sync::Mutex<()>>,
    /// The runtime long-lived tasks (pumps, continuations, parking) run on, not the HTTP
    /// worker that happened to start them.
    rt: Option<tokio::runtime::Handle>,
}

impl SessionDeps {
    /// Dependencies over the ports; long-lived tasks run on the current tokio runtime.
    pub fn new(
        sessions: Arc<dyn SessionRepository>,
        turns: Arc<dyn TurnRepository>,
        runtime: Arc<dyn AgentRuntime>,
        clock: Arc<dyn Clock>,
        settings: SessionSettings,
        escalation: Option<Escalation>,
    ) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "a slot count fits f64 exactly")]
        metrics::gauge!(m::AGENT_PROCESS_SLOTS).set(settings.max_live_processes as f64);
        Self {
            registry: LiveRegistry::new(settings.max_live_processes, settings.spawn_queue_timeout),
            logs: EventLogs::new(settings.event_log),
            settings: Arc::new(settings),
            sessions,
            turns,
            runtime,
            clock,
            escalation,
            audit: None,
            transcripts: None,
            leases: None,
            event_tails: None,
            trace: Arc::new(crate::ports::NoTraceContext),
            spend: None,
            budget_lock: Arc::default(),
            rt: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// With an audit log.
    #[must_use]
    pub fn with_audit(mut self, audit: crate::audit::AuditTrail) -> Self {
        self.audit = Some(audit);
        self
    }

    /// With W3C trace context for the agent processes.
    #[must_use]
    pub fn with_trace(mut self, trace: Arc<dyn crate::ports::TraceContext>) -> Self {
        self.trace = trace;
        self
    }

    /// With what keys spent (enforces `budgets.daily_key_usd`).
    #[must_use]
    pub fn with_spend(mut self, spend: Arc<dyn crate::ports::SpendRepository>) -> Self {
        self.spend = Some(spend);
        self
    }

    /// With leases between nodes.
    #[must_use]
    pub fn with_leases(mut self, leases: crate::leases::NodeLeases) -> Self {
        self.leases = Some(leases);
        self
    }

    /// With suspended sessions' last turns of events kept in the database.
    #[must_use]
    pub fn with_event_tails(mut self, tails: Arc<dyn EventTailRepository>) -> Self {
        self.event_tails = Some(tails);
        self
    }

    /// With agent transcripts kept in the database.
    #[must_use]
    pub fn with_transcripts(mut self, transcripts: super::TranscriptSync) -> Self {
        self.transcripts = Some(transcripts);
        self
    }

    /// The session's process is gone from this node: its transcript's last lines are
    /// stored, then its lease is released, in that order (once the lease is free another
    /// node may resume the session and append to the stored copy).
    /// A suspension first logs `agent_suspended` and stores the log's last turn, so that
    /// whichever node runs the session next replays it.
    pub(crate) async fn hand_over(&self, id: SessionId, live: &super::live::Live) {
        let (lost, suspended_for) = {
            let st = live.state();
            (st.lease_lost, st.suspended_for)
        };
        if let Some(reason) = suspended_for {
            // Its log keeps the last turn for replay, not the whole history.
            let log = self.logs.get(id);
            log.keep_last_turn();
            log.append(self.clock.now(), SessionEvent::AgentSuspended { reason });
            if !lost {
                self.store_log_tail(id, &log).await;
            }
        }
        if let Some(t) = self.transcripts.as_ref().filter(|_| !lost) {
            t.capture(id, &live.working_directory).await;
        }
        if let Some(leases) = &self.leases {
            leases.release_session(id).await;
        }
    }

    /// A turn ended: its events are stored, so that the next node to run the session (or
    /// this one after a crash) replays them.
    pub(crate) async fn store_turn_tail(&self, id: SessionId) {
        if self.event_tails.is_none() {
            return;
        }
        if let Some(log) = self.logs.existing(id) {
            self.save_tail(id, log.last_turn_tail()).await;
        }
    }

    async fn store_log_tail(&self, id: SessionId, log: &EventLog) {
        self.save_tail(id, log.tail()).await;
    }

    async fn save_tail(&self, id: SessionId, tail: crate::ports::StoredTail) {
        let Some(repo) = &self.event_tails else {
            return;
        };
        match repo.save(id, tail, self.clock.now()).await {
            Ok(()) => metrics::counter!(m::AGENT_EVENT_TAILS_STORED_TOTAL).increment(1),
            Err(err) => {
                metrics::counter!(m::AGENT_EVENT_TAIL_FAILURES_TOTAL, "op" => "store").increment(1);
                tracing::warn!(session.id = %id, error = %err, "could not store the session's last turn of events; its replay is lost once its log is evicted");
            }
        }
    }

    /// The session's event log; when this node has none, the one its last suspension
    /// stored (here or on another node), so the replay of its last turn goes on and event
    /// ids keep increasing.
    pub(crate) async fn restored_log(&self, id: SessionId) -> Arc<EventLog> {
        self.restore_log(id, false).await
    }

    /// [`Self::restored_log`]; with `resuming`, a stored tail newer than this node's log
    /// (another node ran the session since this one last did) replaces it, so ids go on from
    /// the newest numbering.
    pub(crate) async fn restore_log(&self, id: SessionId, resuming: bool) -> Arc<EventLog> {
        let local = self.logs.existing(id);
        if let Some(log) = &local
            && !resuming
        {
            log.touch();
            return Arc::clone(log);
        }
        let Some(repo) = &self.event_tails else {
            return self.logs.get(id);
        };
        let failed = |why: &dyn std::fmt::Display| {
            metrics::counter!(m::AGENT_EVENT_TAIL_FAILURES_TOTAL, "op" => "restore").increment(1);
            tracing::warn!(session.id = %id, error = %why, "could not restore the session's last turn of events; its replay starts empty");
        };
        match repo.load(id).await {
            Ok(Some(tail))
                if local
                    .as_ref()
                    .is_some_and(|l| l.next_seq() >= tail.next_seq) => {}
            Ok(Some(tail)) => match EventLog::restored(id, self.logs.bounds(), &tail) {
                Ok(log) => {
                    metrics::counter!(m::AGENT_EVENT_TAIL_RESTORES_TOTAL).increment(1);
                    return if local.is_some() {
                        self.logs.replace(id, log)
                    } else {
                        self.logs.insert_if_absent(id, log)
                    };
                }
                Err(why) => failed(&why),
            },
            Ok(None) => {}
            Err(err) => failed(&err),
        }
        self.logs.get(id)
    }

    /// Drops a closed session's log, here and in the database.
    pub(crate) async fn drop_log(&self, id: SessionId) {
        self.logs.remove(id);
        if let Some(repo) = &self.event_tails
            && let Err(err) = repo.delete(id).await
        {
            metrics::counter!(m::AGENT_EVENT_TAIL_FAILURES_TOTAL, "op" => "delete").increment(1);
            tracing::warn!(session.id = %id, error = %err, "could not delete the closed session's stored events");
        }
    }

    /// Spawns a task that must outlive the request that started it, in the current span
    /// (a continuation shows under the decision or turn that caused it).
    pub(crate) fn spawn_task<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_detached(tracing::Instrument::in_current_span(fut))
    }

    /// Spawns a long-lived task in no span (a process's pump: each turn has its own).
    pub(crate) fn spawn_detached<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.rt {
            Some(rt) => rt.spawn(fut),
            None => tokio::spawn(fut),
        }
    }

    /// Appends to the session's event log.
    pub(crate) fn log(&self, id: SessionId, event: SessionEvent) {
        self.logs.get(id).append(self.clock.now(), event);
    }

    /// Appends only if the session still has a log (a closed session's was dropped).
    pub(crate) fn log_if_open(&self, id: SessionId, event: SessionEvent) {
        if let Some(log) = self.logs.existing(id) {
            log.append(self.clock.now(), event);
        }
    }

    pub(crate) fn log_status(&self, id: SessionId, status: SessionStatus, reason: Option<String>) {
        self.log(id, SessionEvent::StatusChanged { status, reason });
    }

    /// Refuses (409 `session_owned_elsewhere`) a step on a session whose agent another live
    /// node runs: pausing, closing, interrupting or prompting it here would act on a
    /// process this node does not have.
    pub(crate) async fn ensure_not_elsewhere(&self, id: SessionId) -> Result<(), AppError> {
        if self.registry.is_live(id) {
            return Ok(());
        }
        let Some(leases) = &self.leases else {
            return Ok(());
        };
        match leases.owner_elsewhere(id).await? {
            Some(owner) => {
                metrics::counter!(m::NODE_SESSION_LEASE_REFUSALS_TOTAL).increment(1);
                Err(AppError::OwnedElsewhere { session: id, owner })
            }
            None => Ok(()),
        }
    }

    /// Reads a session.
    pub(crate) async fn load(&self, id: SessionId) -> Result<AgentSession, AppError> {
        self.sessions
            .find(id)
            .await?
            .ok_or_else(|| AppError::not_found("session", id))
    }

    /// The one "load, transition, store" path: applies `step` to a fresh read and stores it
    /// with the version it read. Lifecycle changes hold the session's lock, so a version
    /// conflict can only come from another node; it retries a few times.
    pub(crate) async fn transition(
        &self,
        id: SessionId,
        step: impl Fn(&mut AgentSession) -> Result<(), TransitionError>,
    ) -> Result<AgentSession, AppError> {
        for _ in 0..3 {
            let mut session = self.load(id).await?;
            let version = session.version();
            step(&mut session)?;
            match self.sessions.update(&session, version).await {
                Ok(()) => return Ok(session),
                Err(RepositoryError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::conflict(
            ConflictKind::Concurrent,
            "the session changed concurrently; try again",
        ))
    }

    /// Marks an Active session Failed with `reason` (and logs it); others stay as they are.
    pub(crate) async fn fail_if_active(&self, id: SessionId, reason: &str) -> Result<(), AppError> {
        let now = self.clock.now();
        // Set by the attempt that was stored (a retried transition runs the closure again).
        let failed_now = std::sync::atomic::AtomicBool::new(false);
        self.transition(id, |s| {
            let active = s.status() == SessionStatus::Active;
            failed_now.store(active, std::sync::atomic::Ordering::Relaxed);
            if active {
                s.fail(reason.to_owned(), now)
            } else {
                Ok(())
            }
        })
        .await?;
        // Only a session this call failed gets a Failed status event.
        if failed_now.load(std::sync::atomic::Ordering::Relaxed) {
            self.log_status(id, SessionStatus::Failed, Some(reason.to_owned()));
        }
        Ok(())
    }

    /// Publishes the live-process gauge now and the sessions-by-status gauge soon.
    pub(crate) fn publish_gauges(&self) {
        #[expect(clippy::cast_precision_loss, reason = "process counts fit f64 exactly")]
        {
            metrics::gauge!(m::AGENT_PROCESSES_LIVE).set(self.registry.live_count() as f64);
            metrics::gauge!(m::AGENT_PROCESS_SLOTS).set(self.registry.capacity() as f64);
        }
        let repo = Arc::clone(&self.sessions);
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
}
