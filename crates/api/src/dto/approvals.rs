//! Approval bodies: the approval as shown, list filters, decide, cancel and test approvals.

use chrono::{DateTime, Utc};
use orchestra_domain::ApprovalRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// An approval request as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalResponse {
    /// Id.
    pub id: String,
    /// The waiting session.
    pub session_id: String,
    /// The asking agent.
    pub agent_id: String,
    /// The tool.
    pub tool_name: String,
    /// The tool's input. Only on `GET /api/approvals/{id}` and decision answers; lists
    /// carry `toolInputPreview` instead, so a page of large inputs stays small.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_input: Option<Value>,
    /// The input as compact JSON, cut to at most 300 characters (`…` marks a cut).
    pub tool_input_preview: String,
    /// The size of the whole input as compact JSON, in bytes.
    pub tool_input_bytes: usize,
    /// The CLI's tool use id.
    pub tool_use_id: Option<String>,
    /// `Live`, `Denial` or `Test`.
    pub kind: String,
    /// What the agent said it is doing.
    pub description: Option<String>,
    /// The permission rule an approval with `scope: "session"` grants for the rest of the
    /// session (`Bash(npm test:*)`, from the CLI's suggestion); `null` when the call can only
    /// be allowed once.
    pub session_rule: Option<String>,
    /// The risk class the server's policy gave it: `low`, `high` (no rule said otherwise)
    /// or `critical` (docs/policy.md).
    #[schema(schema_with = crate::openapi_rules::risks)]
    pub risk: String,
    /// `Pending`, `Approved`, `Rejected`, `Expired` or `Cancelled`.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Deadline.
    pub expires_at: DateTime<Utc>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// Why.
    pub reason: Option<String>,
    /// The input to use instead, when approved with changes.
    pub updated_input: Option<Value>,
    /// `Once`, `Session` or `Rule`, when decided.
    pub scope: Option<String>,
    /// What the decision granted beyond this call (scope `Session` or `Rule`).
    pub grant: Option<crate::dto::grants::GrantTermsResponse>,
    /// The session's working directory when it asked (path rules are relative to it).
    pub working_directory: Option<String>,
    /// How many different approvers must approve it (2 for a `critical` call by default:
    /// `approvals.critical_approvers`); one refusal refuses it.
    pub approvals_needed: u32,
    /// The approvers who approved so far (all of them once it is Approved).
    pub votes: Vec<VoteResponse>,
    /// Whether a human channel got a message for it.
    pub notified: bool,
    /// The human channel: `pending` (a delivery is still due: the request, or the outcome
    /// once decided; retried with backoff), `sent` (the chat shows the latest state),
    /// `failed` (gave up showing the outcome), `disabled` (no channel).
    pub notification: String,
    /// Failed delivery attempts since the last success.
    pub notify_attempts: i32,
    /// The last delivery failure, until a delivery succeeds.
    pub last_notify_error: Option<String>,
    /// Whether the decision was carried out on the session: `waiting` (not decided),
    /// `due` (not yet; retried), `acting`, `done`, or `uncertain` (Orchestra stopped while
    /// telling the agent: the answer may not have arrived and is not sent again; check the
    /// session).
    pub acted_on: String,
    /// Changes what a decider sees: 1 when opened, one more per vote and when it left
    /// Pending. Send it back as `expectedVersion` to decide only what was shown.
    pub version: u32,
}

/// One approver's yes on an approval that needs several.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoteResponse {
    /// Who (the key's name, or `telegram:<user id>`).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Characters of the input a list shows.
pub const TOOL_INPUT_PREVIEW_CHARS: usize = 300;

fn preview(input: &str) -> String {
    match input.char_indices().nth(TOOL_INPUT_PREVIEW_CHARS) {
        None => input.to_owned(),
        Some((cut, _)) => format!("{}…", &input[..cut]),
    }
}

impl ApprovalResponse {
    /// The approval as a list shows it: the input as a preview only.
    pub fn summary(a: &ApprovalRequest) -> Self {
        Self {
            tool_input: None,
            ..Self::from(a)
        }
    }
}

impl From<&ApprovalRequest> for ApprovalResponse {
    fn from(a: &ApprovalRequest) -> Self {
        let r = a.request();
        let d = a.decision();
        let compact = r.tool_input.to_string();
        Self {
            id: a.id().to_string(),
            session_id: r.session_id.clone(),
            agent_id: r.agent_id.clone(),
            tool_name: r.tool_name.clone(),
            tool_input: Some(r.tool_input.clone()),
            tool_input_preview: preview(&compact),
            tool_input_bytes: compact.len(),
            tool_use_id: r.tool_use_id.clone(),
            kind: r.kind.as_str().to_owned(),
            description: r.description.clone(),
            session_rule: r.session_rule.clone(),
            risk: r.risk.as_str().to_owned(),
            status: a.status().as_str().to_owned(),
            created_at: a.created_at(),
            expires_at: a.expires_at(),
            decided_by: d.map(|d| d.decided_by.clone()),
            decided_at: d.map(|d| d.decided_at),
            reason: d.and_then(|d| d.reason.clone()),
            updated_input: d.and_then(|d| d.updated_input.clone()),
            scope: d.map(|d| d.scope.as_str().to_owned()),
            grant: d
                .and_then(|d| d.grant.as_ref())
                .map(crate::dto::grants::GrantTermsResponse::from),
            working_directory: r.working_directory.clone(),
            approvals_needed: a.approvals_needed(),
            votes: a
                .votes()
                .iter()
                .map(|v| VoteResponse {
                    by: v.by.clone(),
                    at: v.at,
                })
                .collect(),
            notified: a.notification_ref().is_some(),
            notification: a.notification().public().to_owned(),
            notify_attempts: a.notify_attempts(),
            last_notify_error: a.notify_error().map(str::to_owned),
            acted_on: a.acted_on().as_str().to_owned(),
            version: a.version(),
        }
    }
}

/// `GET /api/approvals` filters.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalListQuery {
    /// Only this status (`Pending`, `Approved`, ...).
    #[param(schema_with = crate::openapi_rules::approval_statuses)]
    pub status: Option<String>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only this kind (`Live`, `Denial`, `Test`).
    #[param(schema_with = crate::openapi_rules::approval_kinds)]
    pub kind: Option<String>,
    /// `newest` (the default) or `oldest` first, by when they were asked.
    #[param(pattern = "^(newest|oldest)$")]
    pub order: Option<String>,
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<u32>,
}

/// `POST /api/approvals/{id}/approve`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecideApprovalRequest {
    /// `true` to allow, `false` to refuse.
    pub approved: bool,
    /// Why (shown to the agent when refused).
    #[serde(default)]
    pub reason: Option<String>,
    /// Who decides, kept beside the key's name (at most 100 printable characters).
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub decided_by: Option<String>,
    /// Allow with this input instead of the requested one (admin only).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub updated_input: Option<Value>,
    /// `once` (default): this call only; `session`: also grant the approval's
    /// `sessionRule`; `rule`: also grant `rule` (the `sessionRule` when omitted). A grant
    /// lasts until the session is closed, `expiresInMinutes` passes, or it is revoked
    /// (`DELETE /api/sessions/{id}/grants/{grantId}`).
    #[serde(default)]
    #[schema(schema_with = crate::openapi_rules::scopes)]
    pub scope: Option<String>,
    /// With scope `rule`: the permission rule to grant, in Claude Code's syntax
    /// (`Bash(npm test:*)`, `Edit(src/**)`). It must be narrower than the whole tool and
    /// cover the call being decided.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub rule: Option<String>,
    /// With scope `session` or `rule`: the grant ends after this many minutes (1 to 10080).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10080)]
    pub expires_in_minutes: Option<u32>,
    /// The approval's `version` as the decider saw it: when it has changed since (a vote
    /// landed, it was decided), nothing is decided and the answer is 409
    /// `approval_changed`. The console always sends it.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub expected_version: Option<u32>,
}

/// `POST /api/approvals/{id}/cancel`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelApprovalRequest {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/approvals/test`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTestApprovalRequest {
    /// The tool name to show (default `TestTool`).
    #[serde(default)]
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub tool_name: Option<String>,
    /// The session label to show (default `test-session`).
    #[serde(default)]
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub session_id: Option<String>,
}

/// The answer to `POST /api/approvals/test`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestApprovalResponse {
    /// The approval created.
    pub approval: ApprovalResponse,
    /// `delivered`, `disabled` or `failed`.
    pub notification: String,
    /// Why delivery failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_error: Option<String>,
}

/// The answer to `DELETE /api/approvals/test`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelTestApprovalsResponse {
    /// How many test approvals were cancelled.
    pub cancelled: usize,
    /// Their ids.
    pub ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_is_cut_on_a_character_boundary() {
        assert_eq!(preview("{}"), "{}");
        let long = "é".repeat(TOOL_INPUT_PREVIEW_CHARS + 5);
        let p = preview(&long);
        assert_eq!(p.chars().count(), TOOL_INPUT_PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
        let exact = "x".repeat(TOOL_INPUT_PREVIEW_CHARS);
        assert_eq!(preview(&exact), exact);
    }
}

/// `GET /api/approvals/{id}/file`: what a file-writing call would change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilePreviewResponse {
    /// The file the call names.
    pub path: String,
    /// What reading it within the session's directory found: `text`, `missing`, `outside`
    /// (it resolves out of the directory: not read), `too_large`, `not_text`, `not_a_file`,
    /// `unreadable`.
    pub state: String,
    /// The content now (`text`).
    pub before: Option<String>,
    /// The content after the call, when it applies to the file as it is now.
    pub after: Option<String>,
    /// Why the call would not apply (or why the file could not be read).
    pub error: Option<String>,
    /// The file's size, when `too_large`.
    pub bytes: Option<u64>,
}

impl From<orchestra_application::approvals::FilePreview> for FilePreviewResponse {
    fn from(p: orchestra_application::approvals::FilePreview) -> Self {
        use orchestra_application::ports::FileRead;
        let (state, before, bytes, read_error) = match p.read {
            FileRead::Text { text, .. } => ("text", Some(text), None, None),
            FileRead::Missing => ("missing", None, None, None),
            FileRead::Outside => (
                "outside",
                None,
                None,
                Some(
                    "the file lies outside the session's working directory; it is not shown"
                        .to_owned(),
                ),
            ),
            FileRead::TooLarge { bytes } => (
                "too_large",
                None,
                Some(bytes),
                Some(format!(
                    "the file has {bytes} bytes; at most {} are shown",
                    orchestra_application::approvals::MAX_PREVIEW_BYTES
                )),
            ),
            FileRead::NotText => (
                "not_text",
                None,
                None,
                Some("the file is not UTF-8 text".to_owned()),
            ),
            FileRead::NotAFile => (
                "not_a_file",
                None,
                None,
                Some("the path is not a regular file".to_owned()),
            ),
            FileRead::Unreadable(e) => ("unreadable", None, None, Some(e)),
        };
        let (after, error) = match p.after {
            Ok(after) => (Some(after), None),
            Err(e) => (None, read_error.or(Some(e))),
        };
        Self {
            path: p.path,
            state: state.to_owned(),
            before,
            after,
            error,
            bytes,
        }
    }
}
