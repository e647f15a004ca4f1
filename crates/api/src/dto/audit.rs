//! Audit bodies: one event of the audit log.

use chrono::{DateTime, Utc};
use orchestra_application::audit::AuditEvent;
use serde::Serialize;
use utoipa::ToSchema;

/// One audit event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventResponse {
    /// Its place in the log (1, 2, ... without gaps).
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`key:ci`, `telegram:42 (@alice)`, `cli`, `orchestra`).
    pub actor: String,
    /// What (`session.create`, `approval.decide`, `approval.cancel`, `approval.expire`,
    /// `key.create`, `key.revoke`).
    pub action: String,
    /// On what.
    pub target: String,
    /// From where (`api`, `telegram`, `cli`, `orchestra`).
    pub source: String,
    /// The state before.
    pub before: Option<String>,
    /// The state after.
    pub after: Option<String>,
    /// More.
    pub detail: Option<String>,
    /// The request it came with (`X-Request-Id`, or `telegram:update:<id>`).
    pub request_id: Option<String>,
    /// The client's address (`ip:port` of the TCP peer) for a request over HTTP.
    pub client_address: Option<String>,
    /// The hash of the event before.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

impl From<&AuditEvent> for AuditEventResponse {
    fn from(e: &AuditEvent) -> Self {
        let r = &e.record;
        Self {
            seq: e.seq,
            at: e.at,
            actor: r.actor.clone(),
            action: r.action.clone(),
            target: r.target.clone(),
            source: r.source.clone(),
            before: r.before.clone(),
            after: r.after.clone(),
            detail: r.detail.clone(),
            request_id: r.request_id.clone(),
            client_address: r.client_addr.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}
