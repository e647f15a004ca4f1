//! What every operation of the OpenAPI document has in common, added in one place so the
//! document says what the server really does (checked by the schemathesis run of
//! `scripts/fuzz`): ids in paths are UUIDs (400 otherwise), a body must be JSON (415) and
//! small enough (413), `/api` routes need a key (401) with a role (403, from
//! [`crate::auth::ROUTES`]), and any operation may meet an unavailable database (503).
//! Also the value lists of query filters, from the domain's own lists.

use actix_web::http::Method;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, ResponseBuilder, Schema};

use crate::auth::{Access, access};

/// The security scheme's name in the document.
const BEARER: &str = "bearer";

/// Adds the common rules to the document.
#[derive(Debug)]
pub struct CommonRules;

impl utoipa::Modify for CommonRules {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `Authorization: Bearer orch_...`"))
                    .build(),
            ),
        );
        for (path, item) in &mut doc.paths.paths {
            let operations = [
                (Method::GET, item.get.as_mut()),
                (Method::POST, item.post.as_mut()),
                (Method::PUT, item.put.as_mut()),
                (Method::DELETE, item.delete.as_mut()),
                (Method::PATCH, item.patch.as_mut()),
            ];
            for (method, op) in operations {
                if let Some(op) = op {
                    apply(op, &method, path);
                }
            }
        }
    }
}

fn apply(op: &mut Operation, method: &Method, path: &str) {
    let mut takes_input = op.request_body.is_some();
    for param in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = param {
            takes_input = true;
            if p.parameter_in == ParameterIn::Path && p.name.ends_with("Id") {
                p.schema = Some(RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                        .build(),
                )));
            }
        }
    }
    if takes_input {
        add(
            op,
            "400",
            "The request is not valid (see the body's `field`)",
        );
    }
    if op.request_body.is_some() {
        add(op, "413", "The body is over the size limit");
        add(op, "415", "The body is not `application/json`");
    }
    match access(method, path) {
        Some(Access::Role(role)) => {
            op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            add(op, "401", "No API key, or one that is not valid");
            add(
                op,
                "403",
                &format!(
                    "The key's role does not grant `{role}`, or the web origin is not allowed"
                ),
            );
        }
        Some(Access::TelegramSecret) => {
            add(op, "401", "The Telegram secret token does not match");
            add(op, "404", "Webhook mode is not enabled");
        }
        None => {}
    }
    add(
        op,
        "503",
        "The database (or another dependency) is unavailable",
    );
}

/// Adds a response with the JSON error body, unless the operation declares that status.
fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        });
}

/// `permissionMode` of `POST /api/sessions` (`null` as absent).
pub fn permission_modes() -> Schema {
    nullable(one_of(
        orchestra_domain::PermissionMode::ALL.map(orchestra_domain::PermissionMode::as_str),
    ))
}

/// An approval's `risk`.
pub fn risks() -> Schema {
    one_of(["low", "high", "critical"])
}

/// `scope` of a decision (`null` as absent).
pub fn scopes() -> Schema {
    nullable(one_of(["once", "session", "rule"]))
}

/// A grant's state.
pub fn grant_states() -> Schema {
    one_of(["active", "expired", "revoked"])
}

/// `schema` or `null`.
fn nullable(schema: Schema) -> Schema {
    let Schema::Object(mut object) = schema else {
        return schema;
    };
    object.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
    if let Some(values) = &mut object.enum_values {
        values.push(serde_json::Value::Null);
    }
    Schema::Object(object)
}

/// A string schema with these values.
fn one_of(values: impl IntoIterator<Item = &'static str>) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values))
            .build(),
    )
}

/// `status` of `GET /api/approvals`.
pub fn approval_statuses() -> Schema {
    one_of(orchestra_domain::ApprovalStatus::ALL.map(orchestra_domain::ApprovalStatus::as_str))
}

/// `kind` of `GET /api/approvals`.
pub fn approval_kinds() -> Schema {
    one_of(orchestra_domain::ApprovalKind::ALL.map(orchestra_domain::ApprovalKind::as_str))
}

/// `status` of `GET /api/sessions`.
pub fn session_statuses() -> Schema {
    one_of(orchestra_domain::SessionStatus::ALL.map(orchestra_domain::SessionStatus::as_str))
}
