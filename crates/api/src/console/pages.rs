//! The console's routes: the page shell, sign-in and sign-out, and the embedded assets.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use orchestra_application::audit::AuditRecord;
use orchestra_application::metrics_names as m;
use serde::Deserialize;

use super::assets::{INDEX_HTML, LOGIN_HTML, asset};
use super::cookie::{self, LOGIN_COOKIE, SESSION_COOKIE, SESSION_MAX_AGE_SECS};
use crate::auth::{AuthMode, authenticate};
use crate::handlers::resource;
use crate::state::AppState;

/// What the pages may load and do: only this server's own script, styles and API; no
/// inline script (an injected `onerror=` cannot run), no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/console").route(web::get().to(index)))
        .service(
            resource("/console/login")
                .route(web::get().to(login_page))
                .route(web::post().to(login)),
        )
        .service(resource("/console/logout").route(web::post().to(logout)))
        .service(resource("/console/assets/{file}").route(web::get().to(file)));
}

/// Cookies are `Secure` outside Development.
fn secure(state: &AppState) -> bool {
    state.info.environment != "Development"
}

fn page(status: StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

fn see_other(to: &str) -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::SeeOther();
    r.insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    r
}

/// Whether the browser is signed in (always, with authentication disabled).
async fn signed_in(state: &AppState, req: &HttpRequest) -> bool {
    match &state.auth {
        AuthMode::InsecureDisabled => true,
        AuthMode::Keys(_) => match cookie::console_key(req.headers()) {
            Some(key) => authenticate(&state.auth, Some(&key)).await.is_ok(),
            None => false,
        },
    }
}

/// `GET /console`: the page, or the sign-in page when not signed in.
async fn index(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if signed_in(&state, &req).await {
        page(StatusCode::OK, INDEX_HTML.to_owned())
    } else {
        see_other("/console/login").finish()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The sign-in page with a fresh form nonce (also set as a cookie: the form posts it back).
fn login_form(state: &AppState, status: StatusCode, error: &str) -> HttpResponse {
    let nonce = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let error = if error.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="error" role="alert">{}</p>"#, escape(error))
    };
    let html = LOGIN_HTML
        .replace("{{nonce}}", &nonce)
        .replace("{{error}}", &error);
    let mut r = page(status, html);
    if let Ok(v) = header::HeaderValue::from_str(&cookie::set(
        LOGIN_COOKIE,
        &nonce,
        "/console/login",
        600,
        secure(state),
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// `GET /console/login`.
async fn login_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if matches!(state.auth, AuthMode::Keys(_)) && signed_in(&state, &req).await {
        return see_other("/console").finish();
    }
    login_form(&state, StatusCode::OK, "")
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    key: String,
    #[serde(default)]
    nonce: String,
}

/// `POST /console/login`: checks the form's nonce and the key, then keeps the key in the
/// console cookie.
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let expected = cookie::get(req.headers(), LOGIN_COOKIE).unwrap_or_default();
    let form = form.into_inner();
    if expected.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            form.nonce.as_bytes(),
            expected.as_bytes(),
        ))
    {
        metrics::counter!(m::CONSOLE_SIGN_INS_TOTAL, "outcome" => "expired_form").increment(1);
        return login_form(
            &state,
            StatusCode::FORBIDDEN,
            "The sign-in form expired or came from another page; sign in again.",
        );
    }
    let key = form.key.trim();
    match authenticate(&state.auth, Some(key)).await {
        Ok(who) => {
            metrics::counter!(m::CONSOLE_SIGN_INS_TOTAL, "outcome" => "ok").increment(1);
            tracing::info!(key = who.name(), role = %who.role(), "console sign-in");
            state
                .audit
                .record(AuditRecord::new(who.name(), "console.sign_in", who.name()))
                .await;
            let mut r = see_other("/console");
            r.append_header((
                header::SET_COOKIE,
                cookie::set(
                    SESSION_COOKIE,
                    key,
                    "/",
                    SESSION_MAX_AGE_SECS,
                    secure(&state),
                ),
            ))
            .append_header((
                header::SET_COOKIE,
                cookie::set(LOGIN_COOKIE, "", "/console/login", 0, secure(&state)),
            ));
            r.finish()
        }
        Err(err) => {
            metrics::counter!(m::CONSOLE_SIGN_INS_TOTAL, "outcome" => "invalid_key").increment(1);
            tracing::warn!(error = %err, "console sign-in refused");
            let status = if err.status() == StatusCode::UNAUTHORIZED {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let message = if status == StatusCode::UNAUTHORIZED {
                "That API key is not valid (unknown or revoked)."
            } else {
                "The key store cannot be read right now; try again."
            };
            login_form(&state, status, message)
        }
    }
}

/// `POST /console/logout`: forgets the console cookie. Needs the page's CSRF token (a
/// stranger's page must not sign an operator out).
async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(key) = cookie::console_key(req.headers()) {
        let expected = orchestra_application::keys::console_csrf_token(&key);
        let sent = req
            .headers()
            .get(super::CSRF_HEADER)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            sent.as_bytes(),
            expected.as_bytes(),
        )) {
            metrics::counter!(m::CONSOLE_CSRF_REFUSALS_TOTAL).increment(1);
            return HttpResponse::Forbidden().json(serde_json::json!({
                "code": "csrf_failed",
                "message": "signing out needs the page's `X-CSRF-Token` header",
            }));
        }
    }
    HttpResponse::NoContent()
        .insert_header((
            header::SET_COOKIE,
            cookie::set(SESSION_COOKIE, "", "/", 0, secure(&state)),
        ))
        .finish()
}

/// `GET /console/assets/{file}`.
async fn file(path: web::Path<String>) -> HttpResponse {
    match asset(&path) {
        Some((body, content_type)) => HttpResponse::Ok()
            .content_type(content_type)
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(body),
        None => HttpResponse::NotFound().json(serde_json::json!({
            "code": "route_not_found",
            "message": format!("the console has no file `{}`", path.chars().take(100).collect::<String>()),
        })),
    }
}
