//! Turn bodies: a turn as the API shows it and the turn list query.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A turn.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TurnResponse {
    /// Id.
    pub id: String,
    /// Session.
    pub session_id: String,
    /// 1-based number in the session.
    pub seq: i64,
    /// The prompt.
    pub prompt: String,
    /// `Running`, `Completed`, `Failed`, `Interrupted` or `Lost`.
    pub status: String,
    /// Sent.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The final text.
    pub result: Option<String>,
    /// The CLI's `is_error`.
    pub is_error: Option<bool>,
    /// The CLI's `subtype`.
    pub subtype: Option<String>,
    /// `terminal_reason`.
    pub terminal_reason: Option<String>,
    /// HTTP status of a failed API call.
    pub api_error_status: Option<i64>,
    /// Cost in US dollars.
    pub cost_usd: Option<f64>,
    /// Duration, ms.
    pub duration_ms: Option<i64>,
    /// Time in the API, ms.
    pub duration_api_ms: Option<i64>,
    /// Messages exchanged.
    pub message_count: Option<i64>,
    /// Tool calls denied.
    pub permission_denials: Option<i64>,
    /// Errors the CLI reported, and Orchestra's flags (`orchestra: tool use ... got no result`).
    pub errors: Vec<String>,
    /// Why it did not complete.
    pub error: Option<String>,
}

impl From<&orchestra_domain::Turn> for TurnResponse {
    fn from(t: &orchestra_domain::Turn) -> Self {
        let s = t.snapshot();
        let o = s.outcome.as_ref();
        Self {
            id: s.id.to_string(),
            session_id: s.session_id.to_string(),
            seq: s.seq,
            prompt: s.prompt.clone(),
            status: s.status.as_str().to_owned(),
            started_at: s.started_at,
            finished_at: s.finished_at,
            result: o.and_then(|o| o.result_text.clone()),
            is_error: o.map(|o| o.is_error),
            subtype: o.map(|o| o.subtype.clone()),
            terminal_reason: o.and_then(|o| o.terminal_reason.clone()),
            api_error_status: o.and_then(|o| o.api_error_status),
            cost_usd: o.map(|o| o.totals.cost_usd),
            duration_ms: o.map(|o| o.totals.duration_ms),
            duration_api_ms: o.map(|o| o.duration_api_ms),
            message_count: o.map(|o| o.totals.message_count),
            permission_denials: o.map(|o| o.permission_denials),
            errors: o.map(|o| o.errors.clone()).unwrap_or_default(),
            error: s.error.clone(),
        }
    }
}

/// `GET /api/sessions/{id}/turns` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TurnListQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<u32>,
}
