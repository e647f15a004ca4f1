//! Route handlers, one module per resource. Each module has a `configure` that mounts its
//! routes with explicit methods (other methods get a JSON 405).

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod diagnostics;
pub mod grants;
pub mod health;
pub mod me;
pub mod metrics;
pub mod policy;
pub mod sessions;
pub mod telegram;

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, ResponseError, web};

use crate::error::ApiError;

/// The default service of a resource: the path exists, the method does not. The `Allow`
/// header lists the methods the OpenAPI document gives the path (RFC 9110).
pub(crate) async fn method_not_allowed(req: HttpRequest) -> actix_web::HttpResponse {
    let mut response =
        ApiError::method_not_allowed(req.method().as_str(), req.path()).error_response();
    let allowed = req
        .match_pattern()
        .and_then(|pattern| ALLOWED.get(&pattern).cloned())
        .unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&allowed) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// The methods of each documented path, as an `Allow` header value (`GET` also allows
/// `HEAD`, which actix answers for it).
static ALLOWED: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    use utoipa::OpenApi as _;
    crate::openapi::ApiDoc::openapi()
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let methods = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("DELETE", item.delete.is_some()),
                ("PATCH", item.patch.is_some()),
            ];
            let list: Vec<&str> = methods
                .iter()
                .filter(|(_, on)| *on)
                .map(|(m, _)| *m)
                .collect();
            (path.clone(), list.join(", "))
        })
        .collect()
});

/// A resource whose unknown methods answer 405 in JSON.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}
