//! Every machine-readable error code the API answers with, in one enum: the `code` of the
//! JSON error body (`docs/api.md` lists them for clients).

use orchestra_application::ConflictKind;

/// A stable, snake_case error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A request field is wrong (the body names it in `field`).
    ValidationFailed,
    /// The body is not valid JSON.
    InvalidJson,
    /// The body is JSON of the wrong shape.
    InvalidBody,
    /// A query parameter is wrong.
    InvalidQuery,
    /// A path segment is wrong.
    InvalidPath,
    /// The body is too large.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// No such route.
    RouteNotFound,
    /// The route exists with other methods.
    MethodNotAllowed,
    /// No such approval.
    ApprovalNotFound,
    /// No such session.
    SessionNotFound,
    /// No such turn.
    TurnNotFound,
    /// No such thing of another kind.
    NotFound,
    /// The approval was decided already.
    ApprovalAlreadyDecided,
    /// The approval's deadline passed.
    ApprovalExpired,
    /// This approver already said yes to an approval that needs several.
    ApprovalAlreadyVoted,
    /// The session's status does not allow the step.
    InvalidSessionState,
    /// Changed concurrently.
    Conflict,
    /// The session has no live agent.
    AgentNotRunning,
    /// The session already has a live agent.
    AgentRunning,
    /// A turn already runs.
    TurnInProgress,
    /// No turn runs.
    NoTurnInProgress,
    /// The session is being stopped.
    SessionStopping,
    /// The session is closed.
    SessionClosed,
    /// The session spent its budget.
    BudgetExhausted,
    /// The approval changed since the caller saw it (`expectedVersion`).
    ApprovalChanged,
    /// A console (cookie) request that changes something lacked the page's CSRF token.
    CsrfFailed,
    /// Another live node runs the session.
    SessionOwnedElsewhere,
    /// Every agent process slot is taken.
    AgentCapacityExhausted,
    /// Too many event streams are open (for the session, or overall).
    TooManySubscribers,
    /// The agent CLI did not start.
    AgentStartFailed,
    /// The agent process cannot be talked to.
    AgentUnavailable,
    /// The database is unavailable.
    DatabaseUnavailable,
    /// Another dependency is unavailable.
    DependencyUnavailable,
    /// The caller is not who it must be (Telegram webhook secret).
    Unauthorized,
    /// No valid API key was presented.
    Unauthenticated,
    /// The key's role does not allow this.
    Forbidden,
    /// A browser request from an origin the server does not allow.
    OriginNotAllowed,
    /// Something failed inside; see the server log.
    InternalError,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: &[Self] = &[
        Self::ValidationFailed,
        Self::InvalidJson,
        Self::InvalidBody,
        Self::InvalidQuery,
        Self::InvalidPath,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RouteNotFound,
        Self::MethodNotAllowed,
        Self::ApprovalNotFound,
        Self::SessionNotFound,
        Self::TurnNotFound,
        Self::NotFound,
        Self::ApprovalAlreadyDecided,
        Self::ApprovalExpired,
        Self::ApprovalAlreadyVoted,
        Self::InvalidSessionState,
        Self::Conflict,
        Self::AgentNotRunning,
        Self::AgentRunning,
        Self::TurnInProgress,
        Self::NoTurnInProgress,
        Self::SessionStopping,
        Self::SessionClosed,
        Self::BudgetExhausted,
        Self::ApprovalChanged,
        Self::CsrfFailed,
        Self::SessionOwnedElsewhere,
        Self::AgentCapacityExhausted,
        Self::TooManySubscribers,
        Self::AgentStartFailed,
        Self::AgentUnavailable,
        Self::DatabaseUnavailable,
        Self::DependencyUnavailable,
        Self::Unauthorized,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::OriginNotAllowed,
        Self::InternalError,
    ];

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::InvalidJson => "invalid_json",
            Self::InvalidBody => "invalid_body",
            Self::InvalidQuery => "invalid_query",
            Self::InvalidPath => "invalid_path",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::ApprovalNotFound => "approval_not_found",
            Self::SessionNotFound => "session_not_found",
            Self::TurnNotFound => "turn_not_found",
            Self::NotFound => "not_found",
            Self::ApprovalAlreadyDecided => "approval_already_decided",
            Self::ApprovalExpired => "approval_expired",
            Self::ApprovalAlreadyVoted => "approval_already_voted",
            Self::InvalidSessionState => "invalid_session_state",
            Self::Conflict => "conflict",
            Self::AgentNotRunning => "agent_not_running",
            Self::AgentRunning => "agent_running",
            Self::TurnInProgress => "turn_in_progress",
            Self::NoTurnInProgress => "no_turn_in_progress",
            Self::SessionStopping => "session_stopping",
            Self::SessionClosed => "session_closed",
            Self::BudgetExhausted => "budget_exhausted",
            Self::ApprovalChanged => "approval_changed",
            Self::CsrfFailed => "csrf_failed",
            Self::SessionOwnedElsewhere => "session_owned_elsewhere",
            Self::AgentCapacityExhausted => "agent_capacity_exhausted",
            Self::TooManySubscribers => "too_many_subscribers",
            Self::AgentStartFailed => "agent_start_failed",
            Self::AgentUnavailable => "agent_unavailable",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::DependencyUnavailable => "dependency_unavailable",
            Self::Unauthorized => "unauthorized",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::InternalError => "internal_error",
        }
    }

    /// The code of a thing of kind `what` that was not found.
    pub fn not_found(what: &str) -> Self {
        match what {
            "approval" => Self::ApprovalNotFound,
            "session" => Self::SessionNotFound,
            "turn" => Self::TurnNotFound,
            _ => Self::NotFound,
        }
    }

    /// The code of an unavailable dependency `what`.
    pub fn unavailable(what: &str) -> Self {
        match what {
            "database" => Self::DatabaseUnavailable,
            _ => Self::DependencyUnavailable,
        }
    }
}

impl From<ConflictKind> for ErrorCode {
    fn from(kind: ConflictKind) -> Self {
        match kind {
            ConflictKind::Concurrent => Self::Conflict,
            ConflictKind::AgentNotRunning => Self::AgentNotRunning,
            ConflictKind::AgentRunning => Self::AgentRunning,
            ConflictKind::TurnInProgress => Self::TurnInProgress,
            ConflictKind::NoTurnInProgress => Self::NoTurnInProgress,
            ConflictKind::SessionStopping => Self::SessionStopping,
            ConflictKind::SessionClosed => Self::SessionClosed,
            ConflictKind::BudgetExhausted => Self::BudgetExhausted,
            ConflictKind::ApprovalChanged => Self::ApprovalChanged,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_documented_for_clients() {
        let docs = include_str!("../../../docs/api.md");
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{s} is not snake_case"
            );
            assert!(
                docs.contains(&format!("`{s}`")),
                "docs/api.md does not list `{s}`"
            );
        }
    }
}
