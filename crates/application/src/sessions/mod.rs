//! Agent sessions: the manager that runs them, their event log, and the queries.

mod discovery;
mod event_log;
mod manager;
mod query;

pub use discovery::{AgentCatalog, Discovered};
pub use event_log::{EventLog, LoggedEvent, SessionEvent, Subscription};
pub use manager::{
    CreateSession, Escalation, HealthReport, LiveInfo, SessionManager, SessionSettings,
};
pub use query::{
    CountSessionsHandler, GetSessionHandler, GetTurnHandler, ListSessions, ListSessionsHandler,
    ListTurnsHandler,
};
