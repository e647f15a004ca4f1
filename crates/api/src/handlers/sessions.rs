//! `/api/sessions`: create, list, read, talk to, stream, interrupt, pause, resume, close.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use orchestra_application::ports::SessionFilter;
use orchestra_application::sessions::{CreateSession, ListSessions};
use orchestra_domain::{AgentSession, PermissionMode, SessionId, SessionStatus, TurnId};

use super::resource;
use crate::auth::Caller;
use crate::dto::SseEvent;
use crate::dto::{
    CreateSessionRequest, EventsQuery, LiveProcessResponse, PageResponse, PagingQuery,
    SendMessageRequest, SessionDetailResponse, SessionListQuery, SessionResponse, TurnListQuery,
    TurnResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::json_body::JsonBody;
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/sessions")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/api/sessions/{sessionId}")
            .route(web::get().to(get))
            .route(web::delete().to(close)),
    )
    .service(resource("/api/sessions/{sessionId}/messages").route(web::post().to(send_message)))
    .service(resource("/api/sessions/{sessionId}/turns").route(web::get().to(list_turns)))
    .service(resource("/api/sessions/{sessionId}/turns/{turnId}").route(web::get().to(get_turn)))
    .service(resource("/api/sessions/{sessionId}/events").route(web::get().to(events)))
    .service(resource("/api/sessions/{sessionId}/interrupt").route(web::post().to(interrupt)))
    .service(resource("/api/sessions/{sessionId}/pause").route(web::post().to(pause)))
    .service(resource("/api/sessions/{sessionId}/resume").route(web::post().to(resume)));
}

pub(crate) fn parse_session_id(raw: &str) -> Result<SessionId, ApiError> {
    raw.parse::<SessionId>()
        .map_err(|e| ApiError::bad_request("sessionId", e.to_string()))
}

fn detail(state: &AppState, session: &AgentSession) -> SessionDetailResponse {
    let process = state
        .sessions
        .commands
        .live
        .info(session.id())
        .map(|l| LiveProcessResponse {
            pid: l.pid,
            current_turn_id: l.current_turn.map(|t| t.to_string()),
            idle_seconds: l.idle_seconds,
            pending_approvals: l
                .pending_approvals
                .iter()
                .map(ToString::to_string)
                .collect(),
        });
    SessionDetailResponse {
        session: SessionResponse::from(session),
        suspended: session.status() == SessionStatus::Active && process.is_none(),
        process,
    }
}

/// Lists sessions, newest first, filtered and paged; each with its process when this node
/// runs one.
#[utoipa::path(get, operation_id = "list_sessions", path = "/api/sessions", tag = "sessions", params(SessionListQuery),
    responses((status = 200, body = PageResponse<SessionDetailResponse>), (status = 400, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<SessionListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let status = q
        .status
        .as_deref()
        .map(str::parse::<SessionStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request("status", e.to_string()))?;
    let page = PagingQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .to_page_request()?;
    let result = state
        .sessions
        .list
        .handle(ListSessions {
            filter: SessionFilter {
                status,
                agent_id: q.agent_id,
            },
            page,
        })
        .await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(result, |s| detail(&state, s))))
}

/// Creates a session and starts its agent (Active). 502 `agent_start_failed` when the CLI
/// does not start (the session is kept as Failed); 503 when every process slot is busy.
#[utoipa::path(post, path = "/api/sessions", tag = "sessions", request_body = CreateSessionRequest,
    responses(
        (status = 201, body = SessionDetailResponse), (status = 400, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let permission_mode = b
        .permission_mode
        .as_deref()
        .map(str::parse::<PermissionMode>)
        .transpose()
        .map_err(|e| ApiError::bad_request("permissionMode", e.to_string()))?;
    let session = state
        .sessions
        .commands
        .create
        .handle(CreateSession {
            created_by: Some(caller.0.name().to_owned()),
            working_directory: b.working_directory,
            agent_id: b.agent_id,
            model: b.model,
            permission_mode,
            allowed_tools: b.allowed_tools,
            disallowed_tools: b.disallowed_tools,
            append_system_prompt: b.append_system_prompt,
            max_turns: b.max_turns,
            max_budget_usd: b.max_budget_usd,
            max_session_turns: b.max_session_turns,
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/sessions/{}", session.id())))
        .json(detail(&state, &session)))
}

/// Reads one session with its totals and its live process.
#[utoipa::path(get, operation_id = "get_session", path = "/api/sessions/{sessionId}", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id (UUID)")),
    responses((status = 200, body = SessionDetailResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    let session = state.sessions.get.handle(id).await?;
    Ok(HttpResponse::Ok().json(detail(&state, &session)))
}

/// Sends a prompt (a turn). 202 with the Running turn; with `"wait": true`, 200 with the
/// finished turn (or 202 if it runs past the timeout).
#[utoipa::path(post, path = "/api/sessions/{sessionId}/messages", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id (UUID)")),
    request_body = SendMessageRequest,
    responses(
        (status = 200, description = "Finished (wait)", body = TurnResponse),
        (status = 202, description = "Running", body = TurnResponse),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not Active, or a turn is running", body = ErrorBody),
    ))]
pub async fn send_message(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<SendMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    let b = body.0;
    let timeout = match b.timeout_seconds {
        None => Duration::from_secs(300),
        Some(0) => {
            return Err(ApiError::bad_request(
                "timeoutSeconds",
                "must be at least 1",
            ));
        }
        Some(s) if s > 3600 => {
            return Err(ApiError::bad_request(
                "timeoutSeconds",
                "must be at most 3600",
            ));
        }
        Some(s) => Duration::from_secs(s),
    };
    let (turn, mut done) = state
        .sessions
        .commands
        .send
        .handle_from_client(id, &b.prompt, Some(caller.0.name()))
        .await?;
    let location = format!("/api/sessions/{id}/turns/{}", turn.id());
    if b.wait {
        let turn_id = turn.id();
        let finished = tokio::time::timeout(
            timeout,
            done.wait_for(|d| d.is_some_and(|(t, _)| t == turn_id)),
        )
        .await;
        if matches!(finished, Ok(Ok(_))) {
            let turn = state.sessions.get_turn.handle(id, turn_id).await?;
            return Ok(HttpResponse::Ok()
                .insert_header(("Location", location))
                .json(TurnResponse::from(&turn)));
        }
    }
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", location))
        .json(TurnResponse::from(&turn)))
}

/// Lists a session's turns, newest first.
#[utoipa::path(get, path = "/api/sessions/{sessionId}/turns", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id (UUID)"), TurnListQuery),
    responses((status = 200, body = PageResponse<TurnResponse>), (status = 404, body = ErrorBody)))]
pub async fn list_turns(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<TurnListQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    state.sessions.get.handle(id).await?;
    let q = query.into_inner();
    let page = PagingQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .to_page_request()?;
    let turns = state.sessions.list_turns.handle(id, page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(turns, |t| TurnResponse::from(t))))
}

/// Reads one turn.
#[utoipa::path(get, path = "/api/sessions/{sessionId}/turns/{turnId}", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id"), ("turnId" = String, Path, description = "Turn id")),
    responses((status = 200, body = TurnResponse), (status = 404, body = ErrorBody)))]
pub async fn get_turn(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (sid, tid) = path.into_inner();
    let id = parse_session_id(&sid)?;
    let turn_id = tid
        .parse::<TurnId>()
        .map_err(|e| ApiError::bad_request("turnId", e.to_string()))?;
    let turn = state.sessions.get_turn.handle(id, turn_id).await?;
    Ok(HttpResponse::Ok().json(TurnResponse::from(&turn)))
}

/// Server-Sent Events of the session: agent events (normalized), turn starts and ends,
/// status changes. Each has an `id:`; reconnect with `Last-Event-ID` (or `?after=`) to get
/// what was missed from the buffer (a `gap` event says when some is gone).
#[utoipa::path(get, path = "/api/sessions/{sessionId}/events", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id"), EventsQuery),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = SseEvent), (status = 404, body = ErrorBody), (status = 409, description = "the session is closed", body = ErrorBody), (status = 503, description = "too many event streams open", body = ErrorBody)))]
pub async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    if query.after.is_some_and(|a| a > crate::dto::MAX_EVENT_SEQ) {
        return Err(ApiError::bad_request(
            "after",
            format!("must be at most {}", crate::dto::MAX_EVENT_SEQ),
        ));
    }
    let session = state.sessions.get.handle(id).await?;
    if session.status() == SessionStatus::Closed {
        // Its log is gone and nothing will happen in it again; a stream would never end.
        return Err(orchestra_application::AppError::conflict(
            orchestra_application::ConflictKind::SessionClosed,
            "the session is closed; it has no more events",
        )
        .into());
    }
    let last_event_id = match req.headers().get("Last-Event-ID") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("Last-Event-ID", "must be an event sequence number")
                })?,
        ),
    };
    let after = query.after.or(last_event_id);
    state.sessions.commands.live.ensure_served_here(id).await?;
    let permit = state.sse.acquire(id).map_err(|full| {
        let message = match full {
            crate::sse_limits::SseFull::Session(n) => {
                format!("this session already has {n} event streams open; close one and retry")
            }
            crate::sse_limits::SseFull::Total(n) => {
                format!("the server already serves {n} event streams; retry later")
            }
        };
        tracing::warn!(session.id = %id, "event stream refused: {message}");
        ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            crate::ErrorCode::TooManySubscribers,
            message,
        )
    })?;
    let log = state.sessions.commands.live.event_log(id).await;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(crate::events::sse_stream(log, after, permit)))
}

/// Interrupts the running turn (it ends `Interrupted`).
#[utoipa::path(post, path = "/api/sessions/{sessionId}/interrupt", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id")),
    responses((status = 202, body = TurnResponse), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn interrupt(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    let turn_id = state.sessions.commands.interrupt.handle(id).await?;
    let turn = state.sessions.get_turn.handle(id, turn_id).await?;
    Ok(HttpResponse::Accepted().json(TurnResponse::from(&turn)))
}

/// Pauses: the process is stopped, the conversation kept (Paused).
#[utoipa::path(post, path = "/api/sessions/{sessionId}/pause", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionDetailResponse), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn pause(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    let session = state.sessions.commands.pause.handle(id).await?;
    Ok(HttpResponse::Ok().json(detail(&state, &session)))
}

/// Resumes a Paused or Failed session with its conversation (Active).
#[utoipa::path(post, path = "/api/sessions/{sessionId}/resume", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id")),
    responses(
        (status = 200, body = SessionDetailResponse), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn resume(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    let session = state.sessions.commands.resume.handle(id).await?;
    Ok(HttpResponse::Ok().json(detail(&state, &session)))
}

/// Closes the session for good (its process is stopped first).
#[utoipa::path(delete, path = "/api/sessions/{sessionId}", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id")),
    responses((status = 200, body = SessionDetailResponse), (status = 409, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn close(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    let session = state.sessions.commands.close.handle(id).await?;
    Ok(HttpResponse::Ok().json(detail(&state, &session)))
}
