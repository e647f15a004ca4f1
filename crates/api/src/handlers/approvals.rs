//! `/api/approvals`: list, get, decide, cancel, and the smoke test's test approval.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use orchestra_application::approvals::{
    CancelApproval, CreateTestApproval, DecideApproval, Delivery, ListApprovals,
};
use orchestra_application::ports::ApprovalFilter;
use orchestra_domain::{ApprovalId, ApprovalKind, ApprovalScope, ApprovalStatus, Role};

use super::resource;
use crate::auth::Caller;
use crate::dto::{
    ApprovalListQuery, ApprovalResponse, CancelApprovalRequest, CancelTestApprovalsResponse,
    CreateTestApprovalRequest, DecideApprovalRequest, PageResponse, PagingQuery,
    TestApprovalResponse,
};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::json_body::{JsonBody, MaybeJsonBody};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    // `/test` is registered before `/{id}` so it is not taken for an id.
    cfg.service(resource("/api/approvals").route(web::get().to(list)))
        .service(resource("/api/approvals/events").route(web::get().to(events)))
        .service(
            resource("/api/approvals/test")
                .route(web::post().to(create_test))
                .route(web::delete().to(cancel_tests)),
        )
        .service(resource("/api/approvals/{approvalId}").route(web::get().to(get)))
        .service(resource("/api/approvals/{approvalId}/file").route(web::get().to(file)))
        .service(resource("/api/approvals/{approvalId}/approve").route(web::post().to(decide)))
        .service(resource("/api/approvals/{approvalId}/cancel").route(web::post().to(cancel)));
}

fn parse_id(raw: &str) -> Result<ApprovalId, ApiError> {
    raw.parse::<ApprovalId>()
        .map_err(|e| ApiError::bad_request("approvalId", e.to_string()))
}

/// Lists approvals, newest first (or `order=oldest`), filtered and paged.
#[utoipa::path(get, operation_id = "list_approvals", path = "/api/approvals", tag = "approvals", params(ApprovalListQuery),
    responses((status = 200, body = PageResponse<ApprovalResponse>), (status = 400, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ApprovalListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let status = q
        .status
        .as_deref()
        .map(str::parse::<ApprovalStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request("status", e.to_string()))?;
    let kind = q
        .kind
        .as_deref()
        .map(str::parse::<ApprovalKind>)
        .transpose()
        .map_err(|_| ApiError::bad_request("kind", "kind must be Live, Denial or Test"))?;
    let oldest_first = match q.order.as_deref() {
        None | Some("newest") => false,
        Some("oldest") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "order",
                "order must be newest or oldest",
            ));
        }
    };
    let page = PagingQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .to_page_request()?;
    let result = state
        .approvals
        .list
        .handle(ListApprovals {
            filter: ApprovalFilter {
                status,
                session_id: q.session_id,
                kind,
                oldest_first,
            },
            page,
        })
        .await?;
    Ok(
        HttpResponse::Ok().json(PageResponse::from_page(result, |a| {
            ApprovalResponse::summary(a)
        })),
    )
}

/// Server-Sent Events for an approvals inbox: `approval` (`{"id","status"}`) when one is
/// opened or decided, `changed` when something else changed (read the list again).
#[utoipa::path(get, operation_id = "approval_events", path = "/api/approvals/events", tag = "approvals",
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = crate::dto::SseEvent), (status = 503, description = "too many event streams open", body = ErrorBody)))]
pub async fn events(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let permit = state.sse.acquire_unscoped().map_err(|_| {
        tracing::warn!("approvals event stream refused: the server's cap is reached");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TooManySubscribers,
            "the server already serves its cap of event streams; retry later",
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(crate::approval_stream::inbox_stream(
            &state.approval_events,
            state.approvals.list.clone(),
            permit,
        )))
}

/// Reads one approval.
#[utoipa::path(get, operation_id = "get_approval", path = "/api/approvals/{approvalId}", tag = "approvals",
    params(("approvalId" = String, Path, description = "Approval id (UUID)")),
    responses((status = 200, body = ApprovalResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let approval = state.approvals.get.handle(id).await?;
    Ok(HttpResponse::Ok().json(ApprovalResponse::from(&approval)))
}

/// What a file-writing call (Edit, MultiEdit, Write) would change: the file as it is now
/// within the session's working directory, and its content after the call.
#[utoipa::path(get, operation_id = "approval_file", path = "/api/approvals/{approvalId}/file", tag = "approvals",
    params(("approvalId" = String, Path, description = "Approval id (UUID)")),
    responses((status = 200, body = crate::dto::FilePreviewResponse), (status = 400, body = ErrorBody), (status = 404, description = "no such approval, or its call writes no file", body = ErrorBody)))]
pub async fn file(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    match state.approvals.file_preview.handle(id).await? {
        Some(preview) => Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(crate::dto::FilePreviewResponse::from(preview))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("the call of approval {id} writes no file (only Edit, MultiEdit and Write do)"),
        )),
    }
}

/// Decides an approval (the runbook's manual fallback when Telegram is down). Exactly one
/// decision wins; a later one gets 409 and changes nothing.
#[utoipa::path(post, path = "/api/approvals/{approvalId}/approve", tag = "approvals",
    params(("approvalId" = String, Path, description = "Approval id (UUID)")),
    request_body = DecideApprovalRequest,
    responses(
        (status = 200, body = ApprovalResponse),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already decided, expired, or changed since `expectedVersion`", body = ErrorBody),
    ))]
pub async fn decide(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<DecideApprovalRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let body = body.0;
    let scope = match body.scope.as_deref() {
        None => ApprovalScope::Once,
        Some(s) => s.parse().map_err(|_| {
            ApiError::bad_request("scope", "scope must be `once`, `session` or `rule`")
        })?,
    };
    if body.updated_input.is_some() && !caller.0.may(Role::Admin) {
        // Editing what the agent runs is rewriting the request, not deciding it.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "updatedInput (running something other than what the agent asked) needs the `admin` role",
        )
        .with_field("updatedInput"));
    }
    if let Some(input) = &body.updated_input
        && !input.is_object()
    {
        return Err(ApiError::bad_request(
            "updatedInput",
            "updatedInput must be a JSON object",
        ));
    }
    let raw = body.decided_by.as_deref().unwrap_or_default();
    if raw.chars().count() > 100 || raw.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "decidedBy",
            "decidedBy must be at most 100 printable characters",
        ));
    }
    // Who decided is the key's principal; a `decidedBy` is kept beside it, not instead.
    let decided_by = match raw.trim() {
        "" => caller.0.name().to_owned(),
        who => format!("{} (for {who})", caller.0.name()),
    };
    let approval = state
        .approvals
        .decide
        .handle(DecideApproval {
            id,
            approved: body.approved,
            decided_by,
            voter: caller.0.name().to_owned(),
            reason: body.reason,
            updated_input: body.updated_input,
            scope,
            rule: body.rule,
            expires_in_minutes: body.expires_in_minutes,
            expected_version: body.expected_version,
        })
        .await?;
    Ok(HttpResponse::Ok().json(ApprovalResponse::from(&approval)))
}

/// Withdraws a Pending approval.
#[utoipa::path(post, path = "/api/approvals/{approvalId}/cancel", tag = "approvals",
    params(("approvalId" = String, Path, description = "Approval id (UUID)")),
    request_body(content = Option<CancelApprovalRequest>, description = "Optional reason"),
    responses(
        (status = 200, body = ApprovalResponse),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: MaybeJsonBody<CancelApprovalRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let reason = body.0.and_then(|b| b.reason);
    let approval = state
        .approvals
        .cancel
        .handle(CancelApproval {
            id,
            cancelled_by: caller.0.name().to_owned(),
            reason,
        })
        .await?;
    Ok(HttpResponse::Ok().json(ApprovalResponse::from(&approval)))
}

/// Creates a test approval (deployment guide step 5.5); sends it to Telegram when enabled.
#[utoipa::path(post, path = "/api/approvals/test", tag = "approvals",
    request_body = CreateTestApprovalRequest,
    responses((status = 201, body = TestApprovalResponse), (status = 400, body = ErrorBody)))]
pub async fn create_test(
    state: web::Data<AppState>,
    body: JsonBody<CreateTestApprovalRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let created = state
        .approvals
        .create_test
        .handle(CreateTestApproval {
            tool_name: body.tool_name.unwrap_or_else(|| "TestTool".into()),
            session_id: body.session_id.unwrap_or_else(|| "test-session".into()),
        })
        .await?;
    let (notification, notification_error) = match created.delivery {
        Delivery::Delivered(_) => ("delivered", None),
        Delivery::Disabled => ("disabled", None),
        Delivery::Failed(e) => ("failed", Some(e)),
    };
    let location = format!("/api/approvals/{}", created.approval.id());
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(TestApprovalResponse {
            approval: ApprovalResponse::from(&created.approval),
            notification: notification.into(),
            notification_error,
        }))
}

/// Cancels every Pending test approval (deployment guide step 5.7).
#[utoipa::path(delete, path = "/api/approvals/test", tag = "approvals",
    responses((status = 200, body = CancelTestApprovalsResponse)))]
pub async fn cancel_tests(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let cancelled = state
        .approvals
        .cancel_tests
        .handle(caller.0.name().to_owned())
        .await?;
    Ok(HttpResponse::Ok().json(CancelTestApprovalsResponse {
        cancelled: cancelled.len(),
        ids: cancelled.iter().map(|a| a.id().to_string()).collect(),
    }))
}
