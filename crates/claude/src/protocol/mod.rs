//! The CLI's stream-json protocol in one place: the messages of its stdout and of its stdin.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use orchestra_application::ports::AgentEvent;

pub mod decode;
pub mod encode;
pub mod lines;
pub mod oversized;
pub mod skim;

#[cfg(test)]
mod tests;

pub use decode::{MAX_TOOL_RESULT_CHARS, decode, decode_line};
pub use encode::{
    ControlRequestBody, ControlResponseBody, Outbound, PermissionResult, UserMessage,
};
pub use lines::{Line, LineDecoder};
pub use oversized::{OversizedRequest, oversized_request, too_long};

/// A control message from the CLI, handled by the process adapter.
#[derive(Debug, PartialEq)]
pub enum Control {
    /// An answer to one of our control requests.
    Response {
        /// Our request id.
        request_id: String,
        /// `Ok(body)` or `Err(message)`.
        result: Result<Option<Value>, String>,
    },
    /// The CLI asks whether a tool may run (`can_use_tool`, with `--permission-prompt-tool
    /// stdio`). Only [`decode()`] gives this; [`decode_line`] turns it into
    /// [`AgentEvent::PermissionRequest`].
    CanUseTool(Box<CanUseTool>),
    /// A request from the CLI that is not `can_use_tool` (hooks, MCP, ...).
    Request {
        /// Its id.
        request_id: String,
        /// Its subtype.
        subtype: String,
    },
    /// A control request on a line over the length limit, known by its head only.
    Oversized {
        /// What the head told.
        request: OversizedRequest,
        /// The line's length, bytes.
        len: usize,
        /// The limit, bytes.
        limit: usize,
        /// The line's first bytes.
        preview: String,
    },
}

/// What one line means.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// Nothing (a blank line).
    Nothing,
    /// Events for the session.
    Events(Vec<AgentEvent>),
    /// A control message.
    Control(Control),
}

impl Decoded {
    /// The event view: a `can_use_tool` request becomes [`AgentEvent::PermissionRequest`]
    /// (its extra fields, such as the permission suggestions, are dropped).
    pub fn into_event_view(self) -> Self {
        match self {
            Self::Control(Control::CanUseTool(request)) => Self::Events(vec![request.into_event()]),
            other => other,
        }
    }
}

/// A decoded `can_use_tool` control request.
///
/// Observed fields: always `tool_name`, `display_name`, `input`, `tool_use_id`; usually
/// `description`; sometimes `permission_suggestions`, `blocked_path`,
/// `decision_reason_type`, `server_policy_ask_only`.
#[derive(Debug, Clone, PartialEq)]
pub struct CanUseTool {
    /// The CLI's request id (a UUID), echoed in our `control_response`.
    pub request_id: String,
    /// The tool.
    pub tool_name: String,
    /// Its display name (same as `tool_name` in every recording).
    pub display_name: Option<String>,
    /// The tool's input.
    pub input: Value,
    /// The `tool_use` block this is about.
    pub tool_use_id: Option<String>,
    /// What the tool call does (Bash: its description; Write: the file name).
    pub description: Option<String>,
    /// The rules the CLI proposes to remember with an allow (empty when it sent none).
    pub permission_suggestions: Vec<PermissionSuggestion>,
    /// The path that needs approval (e.g. a redirect's target).
    pub blocked_path: Option<String>,
    /// Why the CLI asks (e.g. `subcommandResults`).
    pub decision_reason_type: Option<String>,
    /// `server_policy_ask_only` (seen `true` for Write).
    pub server_policy_ask_only: Option<bool>,
}

impl CanUseTool {
    /// The application's event for it.
    pub fn into_event(self) -> AgentEvent {
        AgentEvent::PermissionRequest {
            request_id: self.request_id,
            tool_name: self.tool_name,
            input: self.input,
            tool_use_id: self.tool_use_id,
            description: self.description,
            suggested_rules: suggested_allow_rules(&self.permission_suggestions),
        }
    }
}

/// The allow rules among `suggestions`, in Claude Code's rule syntax (`Bash(npm test:*)`).
/// Directory and mode suggestions are not rules and are left out: granting them would widen
/// more than the one kind of call a human looked at.
fn suggested_allow_rules(suggestions: &[PermissionSuggestion]) -> Vec<String> {
    suggestions
        .iter()
        .filter_map(|s| match s {
            PermissionSuggestion::Known(KnownSuggestion::AddRules {
                rules, behavior, ..
            }) if behavior == "allow" => Some(rules),
            _ => None,
        })
        .flatten()
        .map(|r| match &r.rule_content {
            Some(content) => format!("{}({content})", r.tool_name),
            None => r.tool_name.clone(),
        })
        .collect()
}

/// One entry of `permission_suggestions` (the SDK's `PermissionUpdate`).
///
/// Known shapes are typed; anything else (a new type, or a known type with fields not
/// listed here) is kept verbatim in [`PermissionSuggestion::Other`], so re-serialising a
/// suggestion always gives back what the CLI sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PermissionSuggestion {
    /// A known shape.
    Known(KnownSuggestion),
    /// Anything else, verbatim.
    Other(Value),
}

/// The suggestion shapes seen in the recordings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum KnownSuggestion {
    /// Remember rules, e.g. `Bash(echo hi *)` allowed.
    AddRules {
        /// The rules.
        rules: Vec<PermissionRule>,
        /// `allow`, `deny` or `ask`.
        behavior: String,
        /// Where to store them (`localSettings`, `session`, ...).
        destination: String,
    },
    /// Add working directories.
    AddDirectories {
        /// The directories.
        directories: Vec<String>,
        /// Where to store them.
        destination: String,
    },
    /// Switch the permission mode (Write suggests `acceptEdits`).
    SetMode {
        /// The mode.
        mode: String,
        /// Where to store it.
        destination: String,
    },
}

/// One rule of an `addRules` suggestion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PermissionRule {
    /// The tool (`Bash`).
    pub tool_name: String,
    /// The rule's content (`echo hi *`), absent for a whole-tool rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_content: Option<String>,
}
