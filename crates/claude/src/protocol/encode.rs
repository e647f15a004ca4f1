//! Every line Orchestra writes to the CLI's stdin, as typed messages serialised with serde.
//!
//! The shapes are the ones the recordings show CLI 2.1.328 accepting (the same the Python
//! Agent SDK writes): `initialize` and `interrupt` control requests, user messages, and
//! `control_response`s to `can_use_tool` (allow / deny) or to requests we refuse.

use orchestra_application::ports::PermissionAnswer;
use serde::Serialize;
use serde_json::Value;

/// One line for the CLI's stdin.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outbound<'a> {
    /// A user turn.
    User {
        /// The message.
        message: UserMessage<'a>,
        /// Always `null` (Orchestra never answers inside a subagent).
        parent_tool_use_id: Option<&'a str>,
        /// Always `""`: the CLI process already knows its session.
        session_id: &'a str,
    },
    /// A request of ours; the CLI answers with a `control_response` carrying `request_id`.
    ControlRequest {
        /// Our id (any string; echoed back).
        request_id: &'a str,
        /// What we ask.
        request: ControlRequestBody,
    },
    /// Our answer to one of the CLI's control requests.
    ControlResponse {
        /// The answer.
        response: ControlResponseBody<'a>,
    },
}

/// The `message` of a user line: role `user`, the prompt as a plain string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserMessage<'a> {
    role: &'static str,
    content: &'a str,
}

impl<'a> UserMessage<'a> {
    /// A text prompt.
    pub fn text(content: &'a str) -> Self {
        Self {
            role: "user",
            content,
        }
    }
}

/// The control requests Orchestra sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "subtype", rename_all = "snake_case")]
pub enum ControlRequestBody {
    /// Sent first; its answer (commands, models, account, ...) means the CLI is ready.
    Initialize {
        /// Hook callbacks we register: none (`null`).
        hooks: Option<Value>,
    },
    /// Stop the running turn (answered with `{"still_queued":[]}`, also when idle).
    Interrupt,
}

/// The body of a `control_response`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "subtype", rename_all = "snake_case")]
pub enum ControlResponseBody<'a> {
    /// An answer to a `can_use_tool` request.
    Success {
        /// The CLI's request id.
        request_id: &'a str,
        /// The decision.
        response: PermissionResult<'a>,
    },
    /// A refusal. Answering `can_use_tool` with it counts as a denial: the model gets
    /// `Tool permission request failed: Error: <error>`.
    Error {
        /// The CLI's request id.
        request_id: &'a str,
        /// Why.
        error: &'a str,
    },
}

/// A decision on a `can_use_tool` request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "behavior", rename_all = "lowercase")]
pub enum PermissionResult<'a> {
    /// Run the tool; with `updatedInput` it runs that input instead (without it, the
    /// original input runs).
    Allow {
        /// The input to run instead.
        #[serde(rename = "updatedInput", skip_serializing_if = "Option::is_none")]
        updated_input: Option<&'a Value>,
    },
    /// Do not run it; `message` becomes the tool_result the model sees. With `interrupt`
    /// the turn ends (`error_during_execution` / `aborted_tools`, and the CLI exits 1 when
    /// stdin closes).
    Deny {
        /// Told to the model.
        message: &'a str,
        /// End the turn too (omitted when false).
        #[serde(skip_serializing_if = "is_false")]
        interrupt: bool,
    },
}

// serde's `skip_serializing_if` passes a reference.
#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde's signature")]
fn is_false(b: &bool) -> bool {
    !*b
}

impl<'a> From<&'a PermissionAnswer> for PermissionResult<'a> {
    fn from(answer: &'a PermissionAnswer) -> Self {
        match answer {
            PermissionAnswer::Allow { updated_input } => Self::Allow {
                updated_input: updated_input.as_ref(),
            },
            PermissionAnswer::Deny { message, interrupt } => Self::Deny {
                message,
                interrupt: *interrupt,
            },
        }
    }
}

impl<'a> Outbound<'a> {
    /// A user turn with a text prompt.
    pub fn user_text(text: &'a str) -> Self {
        Self::User {
            message: UserMessage::text(text),
            parent_tool_use_id: None,
            session_id: "",
        }
    }

    /// The `initialize` request (no hooks).
    pub fn initialize(request_id: &'a str) -> Self {
        Self::ControlRequest {
            request_id,
            request: ControlRequestBody::Initialize { hooks: None },
        }
    }

    /// The `interrupt` request.
    pub fn interrupt(request_id: &'a str) -> Self {
        Self::ControlRequest {
            request_id,
            request: ControlRequestBody::Interrupt,
        }
    }

    /// The answer to a `can_use_tool` request.
    pub fn permission(request_id: &'a str, answer: &'a PermissionAnswer) -> Self {
        Self::ControlResponse {
            response: ControlResponseBody::Success {
                request_id,
                response: answer.into(),
            },
        }
    }

    /// A refusal of a control request.
    pub fn refusal(request_id: &'a str, error: &'a str) -> Self {
        Self::ControlResponse {
            response: ControlResponseBody::Error { request_id, error },
        }
    }

    /// The line as written: compact JSON and a `\n`.
    ///
    /// # Errors
    /// Only if a JSON value inside cannot be serialised (never for values from JSON).
    pub fn to_line(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = serde_json::to_vec(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
