//! `/api/agents`: the installed agent CLI and process capacity.

use actix_web::{HttpResponse, web};

use super::resource;
use crate::dto::AgentResponse;
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/agents").route(web::get().to(list)));
}

/// The agents this server can run, from the latest discovery.
#[utoipa::path(get, operation_id = "list_agents", path = "/api/agents", tag = "sessions", responses((status = 200, body = Vec<AgentResponse>)))]
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let found = state.sessions.agents.current().await;
    let live = &state.sessions.commands.live;
    HttpResponse::Ok().json(vec![AgentResponse {
        id: found.installation.id,
        path: found.installation.path,
        version: found.installation.version,
        available: found.installation.available,
        error: found.installation.error,
        checked_at: found.checked_at,
        live_processes: live.live_count(),
        max_processes: live.max_processes(),
        queued: live.queued(),
    }])
}
