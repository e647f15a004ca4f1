//! `/metrics`: the Prometheus text exposition.

use actix_web::{HttpResponse, web};

use super::resource;
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/metrics").route(web::get().to(metrics)));
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "observability",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let render = state.render_metrics.clone();
    // Rendering reads /proc and formats every series: keep it off the async worker.
    let body = web::block(move || render()).await.unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
