//! Send a message: start a turn on the session's live process.

use std::time::Instant;

use orchestra_domain::{SessionId, Turn, TurnId, TurnStatus};

use super::deps::SessionDeps;
use super::event_log::SessionEvent;
use super::live::{Slot, TurnDone};
use super::suspend;
use super::validate;
use crate::error::{AppError, ConflictKind};
use crate::ports::RuntimeError;

/// Who sends a message: a client (with its key's name), or Orchestra itself (a continuation
/// after an approval, never held back by a budget).
#[derive(Debug, Clone, Copy)]
enum Sender<'a> {
    Client(Option<&'a str>),
    Orchestra,
}

/// Handles "send a prompt to a session".
#[derive(Debug, Clone)]
pub struct SendMessageHandler {
    deps: SessionDeps,
}

impl SendMessageHandler {
    /// A handler over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self { deps }
    }

    /// Sends `prompt`: starts a turn. Returns the Running turn and a receiver that sees
    /// `(turn id, final status)` when it ends.
    ///
    /// # Errors
    /// `Invalid` (empty or oversized prompt), `NotFound`, `Transition` (session not
    /// Active), `Conflict` (`TurnInProgress`, `AgentNotRunning`, `SessionStopping`),
    /// `Agent`, `Unavailable`.
    pub async fn handle(&self, id: SessionId, prompt: &str) -> Result<(Turn, TurnDone), AppError> {
        self.send(id, prompt, Sender::Orchestra).await
    }

    /// A client's message: as [`Self::handle`], and refused with `Conflict`
    /// (`BudgetExhausted`) when the session spent its budget (a `Budget` approval then asks a
    /// human to raise it). Orchestra's own continuations after approvals are not held back.
    ///
    /// # Errors
    /// As [`Self::handle`].
    pub async fn handle_from_client(
        &self,
        id: SessionId,
        prompt: &str,
        sent_by: Option<&str>,
    ) -> Result<(Turn, TurnDone), AppError> {
        self.send(id, prompt, Sender::Client(sent_by)).await
    }

    async fn send(
        &self,
        id: SessionId,
        prompt: &str,
        sender: Sender<'_>,
    ) -> Result<(Turn, TurnDone), AppError> {
        let d = &self.deps;
        // U+FEFF counts as a space, as in JSON Schema's (ECMAScript's) `\s`.
        if prompt
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .is_empty()
        {
            return Err(AppError::invalid("prompt", "must not be empty"));
        }
        validate::text("prompt", prompt, d.settings.max_prompt_chars)?;
        let session = d.load(id).await?;
        session.ensure_accepts_turns()?;
        // The node that runs the session checks its budget (a message to another node's
        // session is forwarded there first), so one node opens its budget approval.
        d.ensure_not_elsewhere(id).await?;
        if let Sender::Client(sent_by) = sender {
            super::budget::check_before_turn(d, &session, sent_by).await?;
        }
        // A suspended session (Active, no process) is started again first; a process being
        // suspended right now is waited for, then replaced.
        let mut waited = false;
        let live = loop {
            let live = match d.registry.get(id) {
                Some(live) => live,
                None => suspend::wake(d, id).await?,
            };
            let suspending = {
                let mut st = live.state();
                if st.stopping {
                    Some(st.suspending)
                } else if !matches!(st.slot, Slot::Idle) {
                    return Err(AppError::conflict(
                        ConflictKind::TurnInProgress,
                        "a turn is already running in this session; wait for it or interrupt it",
                    ));
                } else {
                    st.slot = Slot::Starting;
                    None
                }
            };
            let Some(suspending) = suspending else {
                break live;
            };
            if !suspending || waited {
                return Err(AppError::conflict(
                    ConflictKind::SessionStopping,
                    "the session is being stopped",
                ));
            }
            // The suspender holds the lifecycle lock until the process is gone.
            waited = true;
            drop(d.registry.lock_lifecycle(id).await);
        };
        let turn = match self.insert_turn(id, prompt).await {
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
            // Open until the result, on the process's pump: a child of this request.
            st.turn_span = tracing::info_span!(
                "turn",
                otel.name = "turn",
                orchestra.session_id = %id,
                orchestra.turn_id = %turn.id(),
                orchestra.turn_seq = turn.snapshot().seq,
                orchestra.turn_status = tracing::field::Empty,
            );
        }
        d.log(
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
                d.clock.now(),
            );
            live.state().slot = Slot::Idle;
            let _ = d.turns.update(&failed).await;
            return Err(match err {
                // The process ended as the prompt went out (an interrupt that stops the CLI,
                // a crash): the session is no longer live, which is the caller's to act on.
                RuntimeError::Exited | RuntimeError::Io(_) => AppError::conflict(
                    ConflictKind::AgentNotRunning,
                    "the session's agent process exited as the prompt was sent (the turn is marked Failed); resume the session",
                ),
                other => other.into(),
            });
        }
        tracing::info!(session.id = %id, turn.id = %turn.id(), turn.seq = turn.snapshot().seq, "turn started");
        Ok((turn, done))
    }

    async fn insert_turn(&self, id: SessionId, prompt: &str) -> Result<Turn, AppError> {
        let d = &self.deps;
        let seq = d.turns.last_seq(id).await? + 1;
        let turn = Turn::start(TurnId::new(), id, seq, prompt.to_owned(), d.clock.now());
        d.turns.insert(&turn).await?;
        Ok(turn)
    }
}
