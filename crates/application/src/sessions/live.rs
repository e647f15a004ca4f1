//! One live agent process and what the session side tracks about it: the turn slot, the
//! interrupt and stop flags, activity for the watchdog, and the tool uses of the turn.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use orchestra_domain::{Turn, TurnId, TurnStatus};
use tokio::sync::{OwnedSemaphorePermit, watch};

use crate::ports::AgentProcess;

/// `(turn, final status)` once a turn ends.
pub type TurnDone = watch::Receiver<Option<(TurnId, TurnStatus)>>;

/// The process's turn slot.
#[derive(Debug)]
pub(crate) enum Slot {
    /// No turn runs.
    Idle,
    /// A turn is being started.
    Starting,
    /// This turn runs.
    Running(Box<Turn>),
}

/// The mutable part of a live process.
#[derive(Debug)]
pub(crate) struct LiveState {
    pub slot: Slot,
    pub interrupt_requested: bool,
    pub last_activity: Instant,
    pub tools_in_flight: usize,
    /// This turn's tool uses (id -> name) and the ids that got a result.
    pub turn_tool_uses: HashMap<String, String>,
    pub turn_tool_results: HashSet<String>,
    /// Orchestra is stopping the process (its exit is not a crash).
    pub stopping: bool,
    /// Orchestra is suspending the idle process (the session stays Active; a message that
    /// meets this waits for the stop and starts a new process).
    pub suspending: bool,
    /// Why it is suspended (`idle`, `evicted`, `shutdown`): the stop's hand-over logs it and
    /// stores the log's last turn before the lease is released.
    pub suspended_for: Option<&'static str>,
    /// Another node took the session's lease: the process is stopped without storing its
    /// transcript.
    pub lease_lost: bool,
    /// While stopping: how a turn that ends now ends, and why (the watchdog's `Failed`).
    pub stop_outcome: Option<(TurnStatus, String)>,
    /// The running turn's span (a child of the request that sent its prompt), open until
    /// its result; `Span::none()` between turns.
    pub turn_span: tracing::Span,
}

impl LiveState {
    fn new() -> Self {
        Self {
            slot: Slot::Idle,
            interrupt_requested: false,
            last_activity: Instant::now(),
            tools_in_flight: 0,
            turn_tool_uses: HashMap::new(),
            turn_tool_results: HashSet::new(),
            stopping: false,
            suspending: false,
            suspended_for: None,
            lease_lost: false,
            stop_outcome: None,
            turn_span: tracing::Span::none(),
        }
    }

    /// The running turn's id.
    pub fn running_turn(&self) -> Option<TurnId> {
        match &self.slot {
            Slot::Running(t) => Some(t.id()),
            _ => None,
        }
    }

    /// Takes the running turn out of the slot, leaving it Idle.
    pub fn take_running(&mut self) -> Option<Turn> {
        match std::mem::replace(&mut self.slot, Slot::Idle) {
            Slot::Running(t) => Some(*t),
            other => {
                self.slot = other;
                None
            }
        }
    }

    /// Marks the process as being stopped by Orchestra; a turn that ends now ends as
    /// `status` with `reason`.
    pub fn begin_stop(&mut self, status: TurnStatus, reason: &str) {
        self.stopping = true;
        self.stop_outcome = Some((status, reason.to_owned()));
        if matches!(self.slot, Slot::Running(_)) {
            self.interrupt_requested = true;
        }
    }
}

/// A live process of a session.
#[derive(Debug)]
pub(crate) struct Live {
    pub process: Arc<dyn AgentProcess>,
    /// The session's agent (approvals carry it).
    pub agent_id: String,
    /// The session's working directory (where the CLI files its transcript).
    pub working_directory: String,
    /// The labels of its cost (`agent_cost_usd_total`): the key that started the session,
    /// and the budget root its directory is under.
    pub cost_labels: (String, String),
    state: Mutex<LiveState>,
    pub turn_done: watch::Sender<Option<(TurnId, TurnStatus)>>,
    /// Its slot: given back once the process has exited ([`Self::release_slot`]), not when
    /// the last reference to this goes (the hand-over's writes still hold one).
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Live {
    /// A live process holding `permit` (its slot) until it exits.
    pub fn new(
        process: Arc<dyn AgentProcess>,
        agent_id: String,
        working_directory: String,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        let (turn_done, _) = watch::channel(None);
        Self {
            process,
            agent_id,
            working_directory,
            cost_labels: ("unknown".into(), "other".into()),
            state: Mutex::new(LiveState::new()),
            turn_done,
            permit: Mutex::new(Some(permit)),
        }
    }

    /// With its cost labelled by `key` and `root`.
    #[must_use]
    pub fn with_cost_labels(mut self, key: String, root: String) -> Self {
        self.cost_labels = (key, root);
        self
    }

    /// Gives the process's slot back (it has exited); later calls do nothing.
    pub fn release_slot(&self) {
        self.permit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    /// Its state.
    pub fn state(&self) -> MutexGuard<'_, LiveState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tells waiters that `turn` ended as `status`.
    pub fn turn_ended(&self, turn: TurnId, status: TurnStatus) {
        let _ = self.turn_done.send(Some((turn, status)));
    }
}
