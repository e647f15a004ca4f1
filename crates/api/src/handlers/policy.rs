//! `/api/policy`: the server's tool rules, and a way for operators to test them.

use actix_web::{HttpResponse, web};
use orchestra_domain::policy::ToolCall;

use super::resource;
use crate::dto::{
    EvaluatePolicyRequest, EvaluatePolicyResponse, MatchedRule, PolicyResponse, PolicyRuleResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::json_body::JsonBody;
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/policy").route(web::get().to(show)))
        .service(resource("/api/policy/evaluate").route(web::post().to(evaluate)));
}

/// The server's policy: the tool rules in evaluation order and what sessions may ask for.
#[utoipa::path(get, operation_id = "get_policy", path = "/api/policy", tag = "policy", responses((status = 200, body = PolicyResponse)))]
pub async fn show(state: web::Data<AppState>) -> HttpResponse {
    let p = &state.policy;
    HttpResponse::Ok().json(PolicyResponse {
        rules: p
            .tools
            .rules()
            .iter()
            .enumerate()
            .map(|(i, r)| PolicyRuleResponse {
                position: i + 1,
                text: r.text.clone(),
                action: r.action.as_str().to_owned(),
                risk: r.risk.as_str().to_owned(),
                roots: r.roots.clone(),
            })
            .collect(),
        default_action: "ask".into(),
        default_risk: "high".into(),
        permission_modes: p.permission_modes.clone(),
        client_allowed_tools: p.client_allowed_tools.clone(),
        denied_tools: p.denied_tools.clone(),
    })
}

/// What the policy would do with a tool call, and which rule decides: for operators testing
/// their rules. Nothing runs and nothing is recorded.
#[utoipa::path(post, operation_id = "evaluate_policy", path = "/api/policy/evaluate", tag = "policy",
    request_body = EvaluatePolicyRequest,
    responses((status = 200, body = EvaluatePolicyResponse), (status = 400, body = ErrorBody)))]
pub async fn evaluate(
    state: web::Data<AppState>,
    body: JsonBody<EvaluatePolicyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let tool = body.tool.trim();
    if tool.is_empty() || tool.chars().count() > 200 || tool.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "tool",
            "tool must be 1 to 200 printable characters",
        ));
    }
    let cwd = body.working_directory.trim();
    if !cwd.starts_with('/') || cwd.len() > 4096 || cwd.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "workingDirectory",
            "workingDirectory must be an absolute path",
        ));
    }
    let input = body.input.unwrap_or_else(|| serde_json::json!({}));
    if !input.is_object() {
        return Err(ApiError::bad_request(
            "input",
            "input must be a JSON object",
        ));
    }
    let verdict = state.policy.tools.evaluate(&ToolCall {
        tool,
        input: &input,
        working_directory: cwd,
        home: state.policy.agent_home.as_deref(),
    });
    Ok(HttpResponse::Ok().json(EvaluatePolicyResponse {
        action: verdict.action.as_str().to_owned(),
        risk: verdict.risk.as_str().to_owned(),
        rule: verdict
            .rule
            .map(|(position, text)| MatchedRule { position, text }),
    }))
}
