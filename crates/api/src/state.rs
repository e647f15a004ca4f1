//! The state every HTTP handler receives: the application's handlers and service facts.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use orchestra_application::approvals::{
    CancelApprovalHandler, CancelTestApprovalsHandler, CreateTestApprovalHandler,
    DecideApprovalHandler, GetApprovalHandler, ListApprovalsHandler,
};
use orchestra_application::diagnostics::DatabaseDiagnosticsHandler;
use orchestra_application::ports::ApprovalNotifier;
use orchestra_application::sessions::{
    AgentCatalog, CountSessionsHandler, GetSessionHandler, GetTurnHandler, ListSessionsHandler,
    ListTurnsHandler, SessionCommands,
};

/// The approval command and query handlers.
#[derive(Debug, Clone)]
pub struct ApprovalHandlers {
    /// `POST /api/approvals/test`.
    pub create_test: CreateTestApprovalHandler,
    /// `DELETE /api/approvals/test`.
    pub cancel_tests: CancelTestApprovalsHandler,
    /// `POST /api/approvals/{id}/approve`.
    pub decide: DecideApprovalHandler,
    /// `POST /api/approvals/{id}/cancel`.
    pub cancel: CancelApprovalHandler,
    /// `GET /api/approvals/{id}`.
    pub get: GetApprovalHandler,
    /// `GET /api/approvals`.
    pub list: ListApprovalsHandler,
    /// `GET /api/approvals/{id}/file`.
    pub file_preview: orchestra_application::approvals::FilePreviewHandler,
}

/// The session command and query handlers.
#[derive(Debug, Clone)]
pub struct SessionHandlers {
    /// `GET /api/sessions/{id}`.
    pub get: GetSessionHandler,
    /// `GET /api/sessions`.
    pub list: ListSessionsHandler,
    /// Counts by status, for diagnostics.
    pub count: CountSessionsHandler,
    /// The commands (create, send, interrupt, pause, resume, close) and the live view.
    pub commands: SessionCommands,
    /// `GET /api/sessions/{id}/turns/{turnId}`.
    pub get_turn: GetTurnHandler,
    /// `GET /api/sessions/{id}/turns`.
    pub list_turns: ListTurnsHandler,
    /// What agent discovery found.
    pub agents: Arc<AgentCatalog>,
    /// `GET /api/sessions/{id}/grants`, `DELETE /api/sessions/{id}/grants/{grantId}`.
    pub grants: orchestra_application::grants::GrantHandlers,
}

/// Static facts about the running service.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    /// The crate version.
    pub version: String,
    /// Development, Staging or Production.
    pub environment: String,
    /// When the process started serving.
    pub started_at: DateTime<Utc>,
    /// The same instant, monotonic, for uptime.
    pub started: std::time::Instant,
}

/// Everything the handlers need, built once by the server and shared by every worker.
#[derive(Clone)]
pub struct AppState {
    /// Approval handlers.
    pub approvals: ApprovalHandlers,
    /// Session handlers.
    pub sessions: SessionHandlers,
    /// Database diagnostics (also the health check).
    pub database: DatabaseDiagnosticsHandler,
    /// The notifier, for the Telegram and circuit breaker diagnostics.
    pub notifier: Arc<dyn ApprovalNotifier>,
    /// Pushed channel updates (Telegram webhook mode), when configured.
    pub inbound: Option<Arc<dyn orchestra_application::ports::InboundChannel>>,
    /// Renders the Prometheus exposition.
    pub render_metrics: Arc<dyn Fn() -> String + Send + Sync>,
    /// Version, environment, start time.
    pub info: ServiceInfo,
    /// How requests are authenticated.
    pub auth: crate::auth::AuthMode,
    /// The audit log.
    pub audit: orchestra_application::audit::AuditTrail,
    /// Web origins that may call the API from a browser (`Origin` header); none by default.
    pub allowed_origins: Vec<String>,
    /// Caps on open event streams.
    pub sse: crate::sse_limits::SseLimits,
    /// W3C trace context: a request's `traceparent` becomes its span's parent.
    pub trace: Arc<dyn orchestra_application::ports::TraceContext>,
    /// The server's policy, as `GET /api/policy` shows it.
    pub policy: PolicyInfo,
    /// Approvals opened and decided, for the inbox's event stream.
    pub approval_events: orchestra_application::approvals::ApprovalEvents,
}

/// The server's policy, for `/api/policy`.
#[derive(Debug, Clone, Default)]
pub struct PolicyInfo {
    /// The tool rules.
    pub tools: Arc<orchestra_domain::policy::ToolPolicy>,
    /// The agents' HOME (for `~/` rules).
    pub agent_home: Option<String>,
    /// Permission modes a session may ask for.
    pub permission_modes: Vec<String>,
    /// Tool rules a client may pre-allow.
    pub client_allowed_tools: Vec<String>,
    /// Tools no agent may use.
    pub denied_tools: Vec<String>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Wraps the state for `App::app_data`.
    pub fn into_data(self) -> actix_web::web::Data<Self> {
        actix_web::web::Data::new(self)
    }
}
