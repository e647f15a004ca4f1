//! The human-channel ports: the outbound approval notifier and the inbound webhook channel.

use async_trait::async_trait;
use orchestra_domain::ApprovalRequest;

/// Why a notification could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The circuit breaker is open; nothing was sent.
    #[error("notifier circuit is open")]
    CircuitOpen,
    /// The channel failed after retries (transport errors, 5xx, 429): counts against the
    /// circuit breaker.
    #[error("notification failed: {0}")]
    Failed(String),
    /// The channel refused this one request (a 4xx about the request itself): does not
    /// count against the circuit breaker.
    #[error("notification refused: {0}")]
    Refused(String),
    /// The channel is not configured.
    #[error("notifier is disabled")]
    Disabled,
}

/// What the notifier can say about itself (for diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierStatus {
    /// The channel (`telegram`, `disabled`).
    pub channel: &'static str,
    /// Whether it is switched on.
    pub enabled: bool,
    /// Whether the last calls succeeded.
    pub healthy: bool,
    /// Circuit state: `Closed`, `Open`, `HalfOpen`.
    pub circuit_state: &'static str,
    /// The last error, without secrets.
    pub last_error: Option<String>,
    /// Channel details for diagnostics (mode, chat, counters), without secrets.
    pub details: Vec<(&'static str, String)>,
}

/// Tells humans about approvals, and updates them when decided.
#[async_trait]
pub trait ApprovalNotifier: Send + Sync + std::fmt::Debug {
    /// Delivers a new Pending approval (a message with Approve / Deny).
    /// Returns where it was delivered, to edit it later.
    ///
    /// # Errors
    /// [`NotifyError`] when it could not be delivered; the approval stays Pending and
    /// decidable over REST.
    async fn notify_pending(
        &self,
        approval: &ApprovalRequest,
    ) -> Result<Option<String>, NotifyError>;

    /// Updates the delivered message after a decision, expiry or cancellation.
    ///
    /// # Errors
    /// [`NotifyError`] when it could not be updated.
    async fn notify_decided(&self, approval: &ApprovalRequest) -> Result<(), NotifyError>;

    /// Warns that a Pending approval expires soon.
    ///
    /// # Errors
    /// [`NotifyError`] when it could not be delivered.
    async fn notify_expiring(&self, approval: &ApprovalRequest) -> Result<(), NotifyError> {
        let _ = approval;
        Ok(())
    }

    /// Sends an approval nobody decided in time to the escalation channel (with its
    /// buttons) and marks the first message so; returns where the new message is, to edit
    /// it with the outcome. `None`: no escalation channel.
    ///
    /// # Errors
    /// [`NotifyError`] when it could not be delivered.
    async fn notify_escalated(
        &self,
        approval: &ApprovalRequest,
    ) -> Result<Option<String>, NotifyError> {
        let _ = approval;
        Ok(None)
    }

    /// Says that an approver approved an approval that needs several, and how many more.
    ///
    /// # Errors
    /// [`NotifyError`] when it could not be delivered.
    async fn notify_vote(&self, approval: &ApprovalRequest) -> Result<(), NotifyError> {
        let _ = approval;
        Ok(())
    }

    /// The notifier's state, for diagnostics.
    fn status(&self) -> NotifierStatus;
}

/// The notifier used when no channel is configured: delivers nothing, always healthy.
#[derive(Debug, Default, Clone, Copy)]
pub struct DisabledNotifier;

#[async_trait]
impl ApprovalNotifier for DisabledNotifier {
    async fn notify_pending(
        &self,
        _approval: &ApprovalRequest,
    ) -> Result<Option<String>, NotifyError> {
        Err(NotifyError::Disabled)
    }

    async fn notify_decided(&self, _approval: &ApprovalRequest) -> Result<(), NotifyError> {
        Err(NotifyError::Disabled)
    }

    fn status(&self) -> NotifierStatus {
        NotifierStatus {
            channel: "disabled",
            enabled: false,
            healthy: true,
            circuit_state: "Closed",
            last_error: None,
            details: Vec::new(),
        }
    }
}

/// Why a webhook delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The secret token is missing or wrong.
    #[error("the webhook secret does not match")]
    Unauthorized,
    /// The body is not an update.
    #[error("not an update: {0}")]
    Malformed(String),
}

/// Updates pushed by a human channel (Telegram's webhook mode).
#[async_trait]
pub trait InboundChannel: Send + Sync + std::fmt::Debug {
    /// Whether `secret` is the channel's webhook secret, compared in constant time. Called
    /// before the body is even parsed.
    fn verify_secret(&self, secret: Option<&str>) -> bool;

    /// Handles one pushed update after checking its secret.
    ///
    /// # Errors
    /// [`WebhookError`]; a handled update (even a refused press) is `Ok`.
    async fn handle_webhook(
        &self,
        secret: Option<&str>,
        update: serde_json::Value,
    ) -> Result<(), WebhookError>;
}
