//! The one error type handlers return. The api crate maps it to HTTP in a single `match`.

use orchestra_domain::{DecideApprovalError, TextError, TransitionError};

use crate::ports::RepositoryError;

/// A field of a command or query that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    /// The field, in the application's own (snake_case) names; the api maps it to the
    /// request's JSON name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl InvalidInput {
    /// A new validation failure.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<TextError> for InvalidInput {
    fn from(err: TextError) -> Self {
        // The text says "<field> must ...": keep only what is wrong, the field is separate.
        let text = err.to_string();
        let message = text
            .strip_prefix(err.field())
            .map_or(text.as_str(), str::trim_start)
            .to_owned();
        Self::new(err.field(), message)
    }
}

/// Why a request conflicts with the state of what it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// Someone else changed it at the same time.
    Concurrent,
    /// The session has no live agent process.
    AgentNotRunning,
    /// The session already has a live agent process.
    AgentRunning,
    /// A turn is already running.
    TurnInProgress,
    /// No turn is running.
    NoTurnInProgress,
    /// The session is being stopped.
    SessionStopping,
    /// The session is closed.
    SessionClosed,
    /// The session spent its budget (a human must raise it).
    BudgetExhausted,
    /// The approval changed since the decider saw it (a stale page).
    ApprovalChanged,
}

/// Why a command or query failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The caller sent something unacceptable.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The thing asked for does not exist.
    #[error("{what} `{id}` was not found")]
    NotFound {
        /// What kind of thing (`approval`, `session`).
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// An approval decision lost: it was decided already, or its deadline passed.
    #[error(transparent)]
    Decide(#[from] DecideApprovalError),
    /// A session lifecycle step that its status does not allow.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Another request changed the same thing at the same time, or it is busy.
    #[error("{message}")]
    Conflict {
        /// What conflicts (the api maps it to a stable machine-readable code).
        kind: ConflictKind,
        /// Human-readable explanation.
        message: String,
    },
    /// Every agent process slot is taken and none freed up in time.
    #[error("{message}")]
    Overloaded {
        /// Human-readable explanation.
        message: String,
    },
    /// The agent runtime failed (the CLI would not start, or died while being talked to).
    #[error(transparent)]
    Agent(#[from] crate::ports::RuntimeError),
    /// Another live node runs the session's agent (its lease is unexpired).
    #[error(
        "session {session} runs on node `{}`; send the request to that node (it is taken over here once that node stops renewing its lease)",
        owner.node_id
    )]
    OwnedElsewhere {
        /// The session.
        session: orchestra_domain::SessionId,
        /// Who runs it.
        owner: crate::ports::LeaseHolder,
    },
    /// A dependency (database, agent runtime) is not available right now.
    #[error("{what} is unavailable")]
    Unavailable {
        /// What is unavailable.
        what: &'static str,
        /// The cause, for the log only.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AppError {
    /// A not-found error.
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// A conflict of `kind`.
    pub fn conflict(kind: ConflictKind, message: impl Into<String>) -> Self {
        Self::Conflict {
            kind,
            message: message.into(),
        }
    }

    /// A validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(InvalidInput::new(field, message))
    }
}

impl From<RepositoryError> for AppError {
    fn from(err: RepositoryError) -> Self {
        match err {
            RepositoryError::Conflict(message) => Self::Conflict {
                kind: ConflictKind::Concurrent,
                message,
            },
            other => Self::Unavailable {
                what: "database",
                source: Box::new(other),
            },
        }
    }
}
