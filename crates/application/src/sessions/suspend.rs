//! Idle suspension. A session whose process runs no turn and has no prompt waiting on a
//! human can have its process stopped while the session stays Active: after
//! `claude.idle_suspend_secs` of quiet (the health tick), or to free a slot when every slot
//! is taken (the least recently used one). The next message starts a process again with
//! `--resume` ([`wake`]). Approvals that hold no live prompt (the CLI's own denials, parked
//! sessions) do not need the process: their decision resumes the session.

use std::sync::Arc;
use std::time::Duration;

use orchestra_domain::{SessionId, TurnStatus};
use tokio::sync::OwnedSemaphorePermit;

use super::deps::SessionDeps;
use super::event_log::SessionEvent;
use super::live::{Live, Slot};
use super::supervisor::Supervisor;
use crate::error::{AppError, ConflictKind};
use crate::metrics_names as m;

/// Why a process was suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SuspendReason {
    /// Quiet for `claude.idle_suspend_secs`.
    Idle,
    /// Every slot was taken and another session needed one.
    Evicted,
    /// Orchestra is stopping gracefully.
    Shutdown,
}

impl SuspendReason {
    fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Evicted => "evicted",
            Self::Shutdown => "shutdown",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Self::Idle => "suspended: idle; the next message resumes it",
            Self::Evicted => {
                "suspended: its process slot went to another session; the next message resumes it"
            }
            Self::Shutdown => "suspended: Orchestra stopped; the next message resumes it",
        }
    }
}

/// Suspends idle processes.
#[derive(Debug, Clone)]
pub(crate) struct Suspender {
    deps: SessionDeps,
    supervisor: Supervisor,
}

impl Suspender {
    pub(crate) fn new(deps: SessionDeps) -> Self {
        Self {
            supervisor: Supervisor::new(deps.clone()),
            deps,
        }
    }

    /// Whether `live` could be suspended now (checked again, atomically, by [`Self::claim`]).
    fn is_idle(&self, id: SessionId, live: &Live) -> bool {
        let st = live.state();
        !st.stopping && matches!(st.slot, Slot::Idle) && !self.waits_on_human(id)
    }

    fn waits_on_human(&self, id: SessionId) -> bool {
        self.deps
            .escalation
            .as_ref()
            .is_some_and(|e| e.is_waiting_on_human(id) || e.has_continuations(id))
    }

    /// Marks `live` as being suspended if it is idle: from here on a message waits for the
    /// stop and starts a new process instead of using this one.
    fn claim(&self, id: SessionId, live: &Live, why: SuspendReason) -> bool {
        let waiting = self.waits_on_human(id);
        let mut st = live.state();
        if st.stopping || !matches!(st.slot, Slot::Idle) || waiting {
            return false;
        }
        st.begin_stop(TurnStatus::Interrupted, "suspended");
        st.suspending = true;
        st.suspended_for = Some(why.label());
        true
    }

    /// Suspends `live` if it is still the session's process and still idle. The caller
    /// holds the session's lifecycle lock.
    async fn suspend_locked(&self, id: SessionId, live: &Arc<Live>, why: SuspendReason) -> bool {
        if !self.claim_current(id, live, why) {
            return false;
        }
        self.finish(id, live, why).await;
        true
    }

    /// [`Self::claim`], if `live` is still the session's process.
    fn claim_current(&self, id: SessionId, live: &Arc<Live>, why: SuspendReason) -> bool {
        let current = self
            .deps
            .registry
            .get(id)
            .is_some_and(|l| Arc::ptr_eq(&l, live));
        current && self.claim(id, live, why)
    }

    /// Stops a claimed process; its hand-over logs `agent_suspended` and stores the log's
    /// last turn and the transcript.
    async fn finish(&self, id: SessionId, live: &Arc<Live>, why: SuspendReason) {
        let idle_secs = live.state().last_activity.elapsed().as_secs();
        // Counted once claimed (the stop cannot fail): the session shows suspended as soon as
        // its process leaves the registry, before the hand-over's writes.
        metrics::counter!(m::AGENT_SESSIONS_SUSPENDED_TOTAL, "reason" => why.label()).increment(1);
        self.supervisor
            .stop(id, TurnStatus::Interrupted, why.text())
            .await;
        tracing::info!(session.id = %id, reason = why.label(), idle_secs, "session suspended (its process stopped; it stays Active)");
    }

    /// At a graceful stop: suspends the session's process if it is idle (it stays Active
    /// and its next message, on this node after the restart or on another, resumes it).
    /// False when it runs a turn or waits on a human.
    pub(crate) async fn suspend_for_shutdown(&self, id: SessionId) -> bool {
        let _guard = self.deps.registry.lock_lifecycle(id).await;
        let Some(live) = self.deps.registry.get(id) else {
            return false;
        };
        self.suspend_locked(id, &live, SuspendReason::Shutdown)
            .await
    }

    /// Suspends every process idle for `after` or longer. Returns how many.
    pub(crate) async fn suspend_idle(&self, after: Duration) -> usize {
        let mut suspended = 0;
        for (id, live) in self.deps.registry.all() {
            if live.state().last_activity.elapsed() < after || !self.is_idle(id, &live) {
                continue;
            }
            let Some(_guard) = self.deps.registry.try_lock_lifecycle(id) else {
                continue;
            };
            if self.suspend_locked(id, &live, SuspendReason::Idle).await {
                suspended += 1;
            }
        }
        suspended
    }

    /// Suspends the least recently used idle process other than `except`'s. False when no
    /// process is idle.
    pub(crate) fn evict_lru(&self, except: SessionId) -> bool {
        let mut idle: Vec<_> = self
            .deps
            .registry
            .all()
            .into_iter()
            .filter(|(id, live)| *id != except && self.is_idle(*id, live))
            .map(|(id, live)| {
                let since = live.state().last_activity;
                (since, id, live)
            })
            .collect();
        idle.sort_by_key(|(since, _, _)| *since);
        for (_, id, live) in idle {
            let Some(guard) = self.deps.registry.try_lock_lifecycle(id) else {
                continue;
            };
            if self.claim_current(id, &live, SuspendReason::Evicted) {
                // The stop runs on its own task, under the evicted session's lock: the
                // slot frees as soon as the process exits, and the hand-over's writes
                // (transcript, last turn, lease) go on beside the next process's start.
                let this = self.clone();
                self.deps.spawn_task(async move {
                    this.finish(id, &live, SuspendReason::Evicted).await;
                    drop(guard);
                });
                return true;
            }
        }
        false
    }
}

/// A process slot for `for_session`: a free one, else one freed by suspending the least
/// recently used idle process, else the queue (up to `claude.spawn_queue_timeout_secs`).
///
/// # Errors
/// `Overloaded` when every slot stays busy with work.
pub(crate) async fn acquire_slot(
    deps: &SessionDeps,
    for_session: SessionId,
) -> Result<OwnedSemaphorePermit, AppError> {
    if let Some(permit) = deps.registry.try_acquire_slot() {
        return Ok(permit);
    }
    Suspender::new(deps.clone()).evict_lru(for_session);
    // The evicted process's slot frees once its pump lets go of it; queue for it.
    deps.registry.acquire_slot().await
}

/// Whether a new process for the session continues a conversation (`--resume`) or starts
/// one (`--session-id`): the CLI keeps a conversation only once a prompt was sent.
pub(crate) async fn has_conversation(deps: &SessionDeps, id: SessionId) -> Result<bool, AppError> {
    Ok(deps.turns.last_seq(id).await? > 0)
}

/// The live process of an Active session, started again (`--resume`) when it was suspended.
/// Takes the session's lifecycle lock, so a suspension in progress finishes first and two
/// messages never start two processes.
///
/// # Errors
/// `NotFound`; `Transition` when the session no longer accepts turns; `Conflict`
/// (`AgentNotRunning`) when its process is stopping for another reason; `Overloaded`;
/// `Agent`; `Unavailable`.
pub(crate) fn wake(deps: &SessionDeps, id: SessionId) -> WakeFuture<'_> {
    // Boxed as `dyn Future + Send`: starting a process spawns its pump, whose future reaches
    // this one again (a turn's end can send a continuation), and the compiler cannot see
    // through that cycle of opaque types.
    Box::pin(async move {
        let _guard = deps.registry.lock_lifecycle(id).await;
        if let Some(live) = deps.registry.get(id) {
            if live.state().stopping {
                return Err(AppError::conflict(
                    ConflictKind::AgentNotRunning,
                    "the session's agent process is stopping; try again",
                ));
            }
            return Ok(live);
        }
        let session = deps.load(id).await?;
        session.ensure_accepts_turns()?;
        let permit = acquire_slot(deps, id).await?;
        let resume = has_conversation(deps, id).await?;
        Supervisor::new(deps.clone())
            .start(session.spec(), resume, Vec::new(), permit)
            .await?;
        metrics::counter!(m::AGENT_SESSIONS_WOKEN_TOTAL).increment(1);
        deps.log(id, SessionEvent::AgentResumed);
        tracing::info!(session.id = %id, resume, "suspended session woken by a message");
        deps.registry.get(id).ok_or_else(|| {
            AppError::conflict(
                ConflictKind::AgentNotRunning,
                "the session's agent process exited as it started",
            )
        })
    })
}

/// What [`wake`] returns.
pub(crate) type WakeFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Arc<Live>, AppError>> + Send + 'a>>;
