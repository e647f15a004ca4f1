//! `/health`, `/health/live`, `/health/ready`.

use actix_web::{HttpResponse, web};

use super::resource;
use crate::dto::{HealthCheck, HealthResponse};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/health")
            .route(web::get().to(health))
            .route(web::head().to(health)),
    )
    .service(
        resource("/health/live")
            .route(web::get().to(live))
            .route(web::head().to(live)),
    )
    .service(
        resource("/health/ready")
            .route(web::get().to(ready))
            .route(web::head().to(ready)),
    );
}

fn uptime(state: &AppState) -> i64 {
    i64::try_from(state.info.started.elapsed().as_secs()).unwrap_or(i64::MAX)
}

/// Overall health: 200 when the database answers, 503 with the failing check otherwise.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthResponse),
        (status = 503, description = "A check failed", body = HealthResponse),
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let started = std::time::Instant::now();
    let db = state.database.ping().await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let check = match &db {
        Ok(_) => HealthCheck {
            name: "database".into(),
            status: "Healthy".into(),
            duration_ms,
            error: None,
        },
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            HealthCheck {
                name: "database".into(),
                status: "Unhealthy".into(),
                duration_ms,
                error: Some("the database does not answer".into()),
            }
        }
    };
    let healthy = db.is_ok();
    let body = HealthResponse {
        status: if healthy { "Healthy" } else { "Unhealthy" }.into(),
        checks: vec![check],
        version: state.info.version.clone(),
        uptime_seconds: uptime(&state),
    };
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Readiness: the same checks as `/health` (the database answers).
#[utoipa::path(
    get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "A check failed", body = HealthResponse),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    health(state).await
}

/// Liveness: 200 while the process serves requests.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = HealthResponse)))]
pub async fn live(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse {
        status: "Healthy".into(),
        checks: vec![],
        version: state.info.version.clone(),
        uptime_seconds: uptime(&state),
    })
}
