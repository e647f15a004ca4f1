//! Agent sessions: one command handler per use case (create, send a message, interrupt,
//! pause, resume, close) over [`SessionDeps`]; the live-process registry; the event pump and
//! turn bookkeeping; the health check and recovery; the sessions side of escalation; the
//! event log and the queries.

mod acting;
mod budget;
mod create;
mod deps;
mod discovery;
mod driver;
mod event_bounds;
mod event_json;
mod event_log;
mod event_logs;
mod health;
mod heartbeat;
mod interrupt;
mod lifecycle;
mod live;
mod pump;
mod query;
mod recovery;
mod registry;
mod send;
mod settings;
mod supervisor;
mod suspend;
mod transcripts;
mod validate;
mod view;

pub use create::{CreateSession, CreateSessionHandler};
pub use deps::SessionDeps;
pub use discovery::{AgentCatalog, Discovered};
pub use driver::{EscalationDriver, PARK_CHECK_INTERVAL};
pub use event_json::{event_data, event_json};
pub use event_log::{EventLog, LogBounds, LoggedEvent, SessionEvent, Subscription};
pub use event_logs::{EventLogs, LogsReport};
pub use health::{AgentHealthCheck, HealthReport};
pub use heartbeat::LeaseHeartbeat;
pub use interrupt::InterruptTurnHandler;
pub use lifecycle::{CloseSessionHandler, PauseSessionHandler, ResumeSessionHandler};
pub use live::TurnDone;
pub use query::{
    CountSessionsHandler, GetSessionHandler, GetTurnHandler, ListSessions, ListSessionsHandler,
    ListTurnsHandler,
};
pub use recovery::{Recovered, SessionRecovery};
pub use registry::LiveRegistry;
pub use send::SendMessageHandler;
pub use settings::{BudgetSettings, SessionPolicy, SessionSettings};
pub use transcripts::{Captured, MAX_PART_BYTES, TranscriptSync};
pub use view::{LiveInfo, LiveSessions};

/// Every session command handler, built once over the same dependencies.
#[derive(Debug, Clone)]
pub struct SessionCommands {
    /// `POST /api/sessions`.
    pub create: CreateSessionHandler,
    /// `POST /api/sessions/{id}/messages`.
    pub send: SendMessageHandler,
    /// `POST /api/sessions/{id}/interrupt`.
    pub interrupt: InterruptTurnHandler,
    /// `POST /api/sessions/{id}/pause`.
    pub pause: PauseSessionHandler,
    /// `POST /api/sessions/{id}/resume`.
    pub resume: ResumeSessionHandler,
    /// `POST /api/sessions/{id}/close`.
    pub close: CloseSessionHandler,
    /// The live side: processes, event logs, slots.
    pub live: LiveSessions,
    /// The watchdog.
    pub health: AgentHealthCheck,
    /// Start-up recovery and shutdown.
    pub recovery: SessionRecovery,
    /// Escalation on live sessions.
    pub escalation: EscalationDriver,
    /// Renews this node's leases.
    pub heartbeat: LeaseHeartbeat,
}

impl SessionCommands {
    /// All handlers over `deps`.
    pub fn new(deps: &SessionDeps) -> Self {
        Self {
            create: CreateSessionHandler::new(deps.clone()),
            send: SendMessageHandler::new(deps.clone()),
            interrupt: InterruptTurnHandler::new(deps.clone()),
            pause: PauseSessionHandler::new(deps.clone()),
            resume: ResumeSessionHandler::new(deps.clone()),
            close: CloseSessionHandler::new(deps.clone()),
            live: LiveSessions::new(deps.clone()),
            health: AgentHealthCheck::new(deps.clone()),
            recovery: SessionRecovery::new(deps.clone()),
            escalation: EscalationDriver::new(deps.clone()),
            heartbeat: LeaseHeartbeat::new(deps.clone()),
        }
    }
}

#[cfg(test)]
mod suspend_tests;
#[cfg(test)]
mod tests;
