//! The OpenAPI document of every route and the offline Swagger UI at `/swagger/index.html`
//! (document at `/swagger/v1/swagger.json`, the original service's path).

use actix_web::web;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::dto::{
    AgentResponse, ApprovalResponse, AuditEventResponse, CancelApprovalRequest,
    CancelTestApprovalsResponse, CircuitBreakerResponse, CreateSessionRequest,
    CreateTestApprovalRequest, DatabaseDiagnosticsResponse, DecideApprovalRequest,
    EvaluatePolicyRequest, EvaluatePolicyResponse, GrantListResponse, GrantResponse,
    GrantTermsResponse, HealthCheck, HealthResponse, LiveProcessResponse, MatchedRule,
    PageResponse, PolicyResponse, PolicyRuleResponse, SendMessageRequest, ServiceMetricsResponse,
    SessionDetailResponse, SessionResponse, TelegramStatusResponse, TestApprovalResponse,
    TurnResponse,
};
use crate::error::ErrorBody;
use crate::handlers;
use crate::openapi_rules::CommonRules;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/swagger/v1/swagger.json";

/// The API description.
#[derive(OpenApi)]
#[openapi(
    modifiers(&CommonRules),
    info(title = "Orchestra", description = "Runs Claude Code agents as supervised subprocesses with a human in the loop."),
    paths(
        handlers::health::health,
        handlers::health::ready,
        handlers::health::live,
        handlers::metrics::metrics,
        handlers::diagnostics::database,
        handlers::diagnostics::circuit_breaker,
        handlers::diagnostics::service_metrics,
        handlers::diagnostics::telegram_status,
        handlers::approvals::list,
        handlers::approvals::events,
        handlers::me::me,
        handlers::approvals::get,
        handlers::approvals::file,
        handlers::approvals::decide,
        handlers::approvals::cancel,
        handlers::approvals::create_test,
        handlers::approvals::cancel_tests,
        handlers::sessions::list,
        handlers::sessions::get,
        handlers::sessions::create,
        handlers::sessions::send_message,
        handlers::sessions::list_turns,
        handlers::sessions::get_turn,
        handlers::sessions::events,
        handlers::sessions::interrupt,
        handlers::sessions::pause,
        handlers::sessions::resume,
        handlers::sessions::close,
        handlers::agents::list,
        handlers::policy::show,
        handlers::policy::evaluate,
        handlers::grants::list,
        handlers::grants::revoke,
        handlers::audit::list,
        handlers::telegram::webhook,
    ),
    components(schemas(
        ErrorBody, ApprovalResponse, PageResponse<ApprovalResponse>, DecideApprovalRequest, CancelApprovalRequest,
        CreateTestApprovalRequest, TestApprovalResponse, CancelTestApprovalsResponse, SessionResponse,
        PageResponse<SessionDetailResponse>, HealthResponse, HealthCheck, DatabaseDiagnosticsResponse,
        CircuitBreakerResponse, ServiceMetricsResponse, TelegramStatusResponse, CreateSessionRequest,
        SendMessageRequest, TurnResponse, PageResponse<TurnResponse>, SessionDetailResponse, LiveProcessResponse,
        AgentResponse, PolicyResponse, PolicyRuleResponse, EvaluatePolicyRequest, EvaluatePolicyResponse,
        MatchedRule, AuditEventResponse, PageResponse<AuditEventResponse>, crate::dto::SseEvent,
        GrantResponse, GrantListResponse, GrantTermsResponse, crate::dto::VoteResponse, handlers::me::MeResponse, crate::dto::FilePreviewResponse,
    )),
    tags(
        (name = "approvals", description = "Human decisions on tool use"),
        (name = "sessions", description = "Agent sessions"),
        (name = "diagnostics", description = "Operator diagnostics (PascalCase payloads)"),
        (name = "health", description = "Liveness and readiness"),
        (name = "observability", description = "Prometheus metrics"),
        (name = "audit", description = "The audit log"),
        (name = "policy", description = "The server's tool policy"),
        (name = "console", description = "The operator console's own needs"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(SwaggerUi::new("/swagger/{_:.*}").url(OPENAPI_PATH, ApiDoc::openapi()));
}
