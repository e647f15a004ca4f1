//! Grant bodies: what a decision allowed beyond its call, and a session's grants.

use chrono::{DateTime, Utc};
use orchestra_application::grants::GrantView;
use orchestra_domain::GrantTerms;
use serde::Serialize;
use utoipa::ToSchema;

/// What a decision granted beyond its call.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantTermsResponse {
    /// The permission rule (`Bash(npm test:*)`).
    pub rule: String,
    /// When it stops; `null`: when the session is closed.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// When.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&GrantTerms> for GrantTermsResponse {
    fn from(t: &GrantTerms) -> Self {
        Self {
            rule: t.rule.clone(),
            expires_at: t.expires_at,
            revoked_by: t.revoked.as_ref().map(|r| r.by.clone()),
            revoked_at: t.revoked.as_ref().map(|r| r.at),
        }
    }
}

/// A grant of a session.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantResponse {
    /// The grant's id: the approval whose decision made it.
    pub id: String,
    /// The session.
    pub session_id: String,
    /// The tool of the decided call.
    pub tool_name: String,
    /// `active`, `expired` or `revoked`, now.
    #[schema(schema_with = crate::openapi_rules::grant_states)]
    pub state: String,
    /// Who granted it.
    pub granted_by: String,
    /// When.
    pub granted_at: DateTime<Utc>,
    /// The permission rule (`Bash(npm test:*)`).
    pub rule: String,
    /// When it stops; `null`: when the session is closed.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// When.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&GrantView> for GrantResponse {
    fn from(v: &GrantView) -> Self {
        let g = &v.grant;
        let terms = GrantTermsResponse::from(&g.terms);
        Self {
            id: g.id.to_string(),
            session_id: g.session_id.clone(),
            tool_name: g.tool_name.clone(),
            state: v.state.as_str().to_owned(),
            granted_by: g.granted_by.clone(),
            granted_at: g.granted_at,
            rule: terms.rule,
            expires_at: terms.expires_at,
            revoked_by: terms.revoked_by,
            revoked_at: terms.revoked_at,
        }
    }
}

/// `GET /api/sessions/{id}/grants`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantListResponse {
    /// Every grant of the session, oldest first.
    pub items: Vec<GrantResponse>,
}
