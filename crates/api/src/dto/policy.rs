//! Policy bodies: the server's rules, and what they say about one call.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One rule of `policy.rules`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRuleResponse {
    /// 1-based, in evaluation order.
    pub position: usize,
    /// As configured (`ask:low Bash(npm test:*)`).
    pub text: String,
    /// `allow`, `ask` or `deny`.
    pub action: String,
    /// `low`, `high` or `critical` (meaningful for `ask`).
    pub risk: String,
    /// Working-directory roots it is limited to (empty: every session).
    pub roots: Vec<String>,
}

/// `GET /api/policy`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyResponse {
    /// The rules, first match deciding.
    pub rules: Vec<PolicyRuleResponse>,
    /// What a call no rule matches gets: `ask`, risk `high`.
    pub default_action: String,
    /// Its risk class.
    pub default_risk: String,
    /// Permission modes a session may ask for.
    pub permission_modes: Vec<String>,
    /// Tool rules a client may pre-allow at session start.
    pub client_allowed_tools: Vec<String>,
    /// Tools no agent may use.
    pub denied_tools: Vec<String>,
}

/// `POST /api/policy/evaluate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvaluatePolicyRequest {
    /// The tool (`Bash`, `Edit`, `mcp__github__create_issue`).
    #[schema(min_length = 1, max_length = 200)]
    pub tool: String,
    /// Its input, as the agent would send it (`{"command": "ls"}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// The session's working directory (absolute).
    #[schema(min_length = 1, max_length = 4096, pattern = "^/")]
    pub working_directory: String,
}

/// The rule that decided.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchedRule {
    /// Its position.
    pub position: usize,
    /// As configured.
    pub text: String,
}

/// What the policy does with the call.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluatePolicyResponse {
    /// `allow` (runs without a human), `ask` (a human decides) or `deny`.
    pub action: String,
    /// The risk class.
    pub risk: String,
    /// The rule that decided; `null`: none matched (the default).
    pub rule: Option<MatchedRule>,
}
