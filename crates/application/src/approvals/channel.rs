//! Decisions that arrive from a human channel (a Telegram button): who may decide, and what
//! to answer them.

use orchestra_domain::{
    ApprovalId, ApprovalRequest, ApprovalScope, ApprovalStatus, DecideApprovalError,
};

use super::{DecideApproval, DecideApprovalHandler};
use crate::error::AppError;
use crate::metrics_names as m;

/// What the human pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAction {
    /// Approve this call.
    Approve,
    /// Deny it.
    Deny,
    /// Approve it and grant its session rule for the rest of the session.
    AllowForSession,
    /// Approve it and grant its session rule for this many minutes.
    AllowFor {
        /// How long the grant lasts.
        minutes: u32,
    },
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
    /// The chat approvals nobody decided in time are escalated to (its presses count too).
    pub escalation_chat_id: Option<i64>,
    /// Users the bot listens to; empty allows anyone in the chat.
    pub allowed_user_ids: Vec<i64>,
    /// Users with the approver role; empty makes every allowed user an approver. An allowed
    /// user who is not an approver is a viewer: their presses decide nothing.
    pub approvers: Vec<i64>,
}

/// A chat user's role under a [`ChannelPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRole {
    /// May decide.
    Approver,
    /// Sees the messages; may not decide.
    Viewer,
    /// Not a user the bot listens to (or another chat).
    Stranger,
}

impl ChannelPolicy {
    /// The role of `user_id` pressing in `chat_id`.
    pub fn role(&self, chat_id: i64, user_id: i64) -> ChannelRole {
        if chat_id != self.chat_id && Some(chat_id) != self.escalation_chat_id {
            return ChannelRole::Stranger;
        }
        if self.approvers.contains(&user_id) {
            return ChannelRole::Approver;
        }
        let allowed = self.allowed_user_ids.is_empty() || self.allowed_user_ids.contains(&user_id);
        match (allowed, self.approvers.is_empty()) {
            (true, true) => ChannelRole::Approver,
            (true, false) => ChannelRole::Viewer,
            (false, _) => ChannelRole::Stranger,
        }
    }
}

/// What came of a press (the channel tells the human).
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelDecision {
    /// This press decided it, or (an approval that needs several approvers) counted as one
    /// yes: then it is still Pending.
    Decided(Box<ApprovalRequest>),
    /// This user approved it already; it needs `needed` different approvers.
    AlreadyVoted {
        /// How many.
        needed: u32,
    },
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
    /// This user only has the viewer role.
    ViewerOnly,
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
        match self.policy.role(cb.chat_id, cb.user_id) {
            ChannelRole::Approver => {}
            ChannelRole::Viewer => {
                metrics::counter!(m::CHANNEL_DECISIONS_REFUSED_TOTAL, "why" => "viewer")
                    .increment(1);
                tracing::warn!(
                    channel = cb.channel,
                    user.id = cb.user_id,
                    approval.id = %cb.approval_id,
                    "decision refused: the user is a viewer, not an approver"
                );
                return Ok(ChannelDecision::ViewerOnly);
            }
            ChannelRole::Stranger => {
                metrics::counter!(m::CHANNEL_DECISIONS_REFUSED_TOTAL, "why" => "not_allowed")
                    .increment(1);
                tracing::warn!(
                    channel = cb.channel,
                    user.id = cb.user_id,
                    chat.id = cb.chat_id,
                    "decision refused: user or chat not allowed"
                );
                return Ok(ChannelDecision::NotAuthorized);
            }
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
                voter: format!("{}:{}", cb.channel, cb.user_id),
                reason: Some(match cb.action {
                    ChannelAction::Approve => "approved in the chat".to_owned(),
                    ChannelAction::Deny => "denied in the chat".to_owned(),
                    ChannelAction::AllowForSession => {
                        "allowed for the session in the chat".to_owned()
                    }
                    ChannelAction::AllowFor { minutes } => {
                        format!("allowed for {minutes} minutes in the chat")
                    }
                }),
                updated_input: None,
                scope: match cb.action {
                    ChannelAction::AllowForSession => ApprovalScope::Session,
                    ChannelAction::AllowFor { .. } => ApprovalScope::Rule,
                    _ => ApprovalScope::Once,
                },
                rule: None,
                expires_in_minutes: match cb.action {
                    ChannelAction::AllowFor { minutes } => Some(minutes),
                    _ => None,
                },
                expected_version: None,
            })
            .await;
        match result {
            Ok(a) => Ok(ChannelDecision::Decided(Box::new(a))),
            Err(AppError::Decide(DecideApprovalError::AlreadyVoted { needed, .. })) => {
                Ok(ChannelDecision::AlreadyVoted { needed })
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[i64], approvers: &[i64]) -> ChannelPolicy {
        ChannelPolicy {
            chat_id: 10,
            escalation_chat_id: Some(20),
            allowed_user_ids: allowed.to_vec(),
            approvers: approvers.to_vec(),
        }
    }

    #[test]
    fn approvers_decide_other_allowed_users_only_view() {
        let p = policy(&[1, 2], &[2, 3]);
        assert_eq!(p.role(10, 2), ChannelRole::Approver);
        assert_eq!(
            p.role(10, 3),
            ChannelRole::Approver,
            "an approver is allowed too"
        );
        assert_eq!(p.role(10, 1), ChannelRole::Viewer);
        assert_eq!(p.role(10, 4), ChannelRole::Stranger);
        assert_eq!(p.role(11, 2), ChannelRole::Stranger, "another chat");
    }

    #[test]
    fn without_approvers_every_allowed_user_approves() {
        assert_eq!(policy(&[1], &[]).role(10, 1), ChannelRole::Approver);
        assert_eq!(policy(&[1], &[]).role(10, 2), ChannelRole::Stranger);
        assert_eq!(policy(&[], &[]).role(10, 7), ChannelRole::Approver);
        assert_eq!(policy(&[], &[5]).role(10, 7), ChannelRole::Viewer);
    }
}
