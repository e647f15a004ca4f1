//! Route handlers, one module per resource. Each module has a `configure` that mounts its
//! routes with explicit methods (other methods get a JSON 405).

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod diagnostics;
pub mod health;
pub mod metrics;
pub mod sessions;
pub mod telegram;

use actix_web::{HttpRequest, web};

use crate::error::ApiError;

/// The default service of a resource: the path exists, the method does not.
pub(crate) async fn method_not_allowed(
    req: HttpRequest,
) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed(
        req.method().as_str(),
        req.path(),
    ))
}

/// A resource whose unknown methods answer 405 in JSON.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}
