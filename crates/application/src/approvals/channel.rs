//! Decisions that arrive from a human channel (a Telegram button): who may decide, and what
//! to answer them.

use orchestra_domain::{
    ApprovalId, ApprovalRequest, ApprovalScope, ApprovalStatus, DecideApprovalError,
};

use super::{DecideApproval, DecideApprovalHandler};
use crate::error::AppError;

/// What the human pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAction {
    /// Approve this call.
    Approve,
    /// Deny it.
    Deny,
    /// Approve it and allow the tool for the rest of the session.
    AllowForSession,
}

/// A button press.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelCallback {
    /// The approval id as sent in the button.
    pub approval_id: String,
    /// The button.
    pub action: ChannelAction,
    /// The channel (`telegram`).
    pub channel: &'static str,
    /// Who pressed it.
    pub user_id: i64,
    /// Their handle, if any.
    pub username: Option<String>,
    /// Where.
    pub chat_id: i64,
}

/// Who may decide from a channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelPolicy {
    /// The chat approvals are posted to; presses from other chats are refused.
    pub chat_id: i64,
    /// Users allowed to decide; empty allows anyone in the chat.
    pub allowed_user_ids: Vec<i64>,
}

/// What came of a press (the channel tells the human).
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelDecision {
    /// This press decided it.
    Decided(Box<ApprovalRequest>),
    /// It was decided before (the first decision stands).
    AlreadyDecided {
        /// Its status.
        status: ApprovalStatus,
        /// Who decided.
        by: Option<String>,
    },
    /// The deadline passed.
    Expired,
    /// This user or chat may not decide.
    NotAuthorized,
    /// Unknown approval, or a malformed button.
    NotFound,
}

/// Handles button presses with the same compare-and-set as REST decisions.
#[derive(Debug, Clone)]
pub struct DecideFromChannelHandler {
    decide: DecideApprovalHandler,
    get: super::GetApprovalHandler,
    policy: ChannelPolicy,
}

impl DecideFromChannelHandler {
    /// A handler deciding through `decide`, reading through `get`, under `policy`.
    pub fn new(
        decide: DecideApprovalHandler,
        get: super::GetApprovalHandler,
        policy: ChannelPolicy,
    ) -> Self {
        Self {
            decide,
            get,
            policy,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &ChannelPolicy {
        &self.policy
    }

    /// Decides if allowed; a duplicate, late or foreign press changes nothing.
    ///
    /// # Errors
    /// `Unavailable` when the database fails (the press can be retried).
    pub async fn handle(&self, cb: ChannelCallback) -> Result<ChannelDecision, AppError> {
        let authorized = cb.chat_id == self.policy.chat_id
            && (self.policy.allowed_user_ids.is_empty()
                || self.policy.allowed_user_ids.contains(&cb.user_id));
        if !authorized {
            tracing::warn!(
                channel = cb.channel,
                user.id = cb.user_id,
                chat.id = cb.chat_id,
                "decision refused: user or chat not allowed"
            );
            return Ok(ChannelDecision::NotAuthorized);
        }
        let Ok(id) = cb.approval_id.parse::<ApprovalId>() else {
            return Ok(ChannelDecision::NotFound);
        };
        let who = match &cb.username {
            Some(u) => format!("{}:{} (@{u})", cb.channel, cb.user_id),
            None => format!("{}:{}", cb.channel, cb.user_id),
        };
        let result = self
            .decide
            .handle(DecideApproval {
                id,
                approved: cb.action != ChannelAction::Deny,
                decided_by: who,
                reason: Some(match cb.action {
                    ChannelAction::Approve => "approved in the chat".to_owned(),
                    ChannelAction::Deny => "denied in the chat".to_owned(),
                    ChannelAction::AllowForSession => {
                        "allowed for the session in the chat".to_owned()
                    }
                }),
                updated_input: None,
                scope: if cb.action == ChannelAction::AllowForSession {
                    ApprovalScope::Session
                } else {
                    ApprovalScope::Once
                },
            })
            .await;
        match result {
            Ok(a) => Ok(ChannelDecision::Decided(Box::new(a))),
            Err(AppError::Decide(DecideApprovalError::PastDeadline { .. })) => {
                Ok(ChannelDecision::Expired)
            }
            Err(AppError::Decide(DecideApprovalError::AlreadyDecided { current })) => {
                let by = self
                    .get
                    .handle(id)
                    .await
                    .ok()
                    .and_then(|a| a.decision().map(|d| d.decided_by.clone()));
                Ok(ChannelDecision::AlreadyDecided {
                    status: current,
                    by,
                })
            }
            // A malformed button: an unknown approval, or "for the session" on a call with
            // no rule (the keyboard never offers that button).
            Err(AppError::NotFound { .. } | AppError::Invalid(_)) => Ok(ChannelDecision::NotFound),
            Err(other) => Err(other),
        }
    }
}
