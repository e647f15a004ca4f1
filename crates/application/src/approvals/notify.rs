//! Delivering approvals to humans through the notifier port and recording where they went.

use std::sync::Arc;

use orchestra_domain::{ApprovalRequest, NotificationState};

use crate::metrics_names as m;
use crate::ports::{ApprovalNotifier, ApprovalRepository, Clock, NotifyError, SystemClock};

/// The result of trying to deliver an approval to humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered; the reference identifies the message.
    Delivered(Option<String>),
    /// No channel is configured.
    Disabled,
    /// The channel failed; the approval stays Pending and decidable over REST.
    Failed(String),
}

impl Delivery {
    /// Whether the message reached the channel.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered(_))
    }
}

/// Delivers approvals through the notifier port and records the outcome in the outbox
/// state of each approval (`notification`, its attempts and last error). Notifier failures
/// never fail the caller: they are counted, logged with the approval id, shown on the
/// approval, and retried by the [`super::NotificationOutbox`].
#[derive(Debug, Clone)]
pub struct NotificationDispatcher {
    notifier: Arc<dyn ApprovalNotifier>,
    repo: Arc<dyn ApprovalRepository>,
    clock: Arc<dyn Clock>,
    /// Deliveries run on the runtime the dispatcher was built on, not on the HTTP worker
    /// that asked for them.
    rt: Option<tokio::runtime::Handle>,
}

/// The delay before the next attempt after `attempts` failures: 2 s doubling, at most 5 min.
pub fn retry_delay(attempts: i32) -> chrono::Duration {
    let exp = u32::try_from(attempts.clamp(0, 8)).unwrap_or(8);
    chrono::Duration::seconds((2_i64 << exp).min(300))
}

/// Failed attempts after which an outcome update is given up (`failed`); about an hour at
/// the longest delay. A request is never given up while its approval waits.
pub const MAX_UPDATE_ATTEMPTS: i32 = 20;

impl NotificationDispatcher {
    /// A dispatcher over `notifier`, storing outcomes with `repo`.
    pub fn new(notifier: Arc<dyn ApprovalNotifier>, repo: Arc<dyn ApprovalRepository>) -> Self {
        Self {
            notifier,
            repo,
            clock: Arc::new(SystemClock),
            rt: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// The same, timing retries with `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        // In the caller's span: a delivery shows under the approval that asked for it.
        let fut = tracing::Instrument::in_current_span(fut);
        match &self.rt {
            Some(rt) => drop(rt.spawn(fut)),
            None => drop(tokio::spawn(fut)),
        }
    }

    /// The notifier.
    pub fn notifier(&self) -> &Arc<dyn ApprovalNotifier> {
        &self.notifier
    }

    async fn failed(&self, approval: &ApprovalRequest, message: &'static str, err: &NotifyError) {
        metrics::counter!(m::ESCALATION_NOTIFICATIONS_FAILED_TOTAL, "message" => message)
            .increment(1);
        let attempts = approval.notify_attempts() + 1;
        let give_up = message == "update" && attempts >= MAX_UPDATE_ATTEMPTS;
        let retry_at = self.clock.now() + retry_delay(attempts);
        tracing::warn!(approval.id = %approval.id(), message, attempts, give_up, error = %err, "approval notification failed; the outbox retries it (the approval stays decidable over REST)");
        if let Err(e) = self
            .repo
            .record_notify_failure(approval.id(), &err.to_string(), retry_at, give_up)
            .await
        {
            tracing::error!(approval.id = %approval.id(), error = %e, "could not record the notification failure");
        }
    }

    async fn disabled(&self, approval: &ApprovalRequest) {
        if let Err(e) = self
            .repo
            .set_notification_state(approval.id(), NotificationState::Disabled)
            .await
        {
            tracing::warn!(approval.id = %approval.id(), error = %e, "could not record that no channel is configured");
        }
    }

    /// Delivers a Pending approval and waits for the outcome.
    pub async fn deliver_pending(&self, approval: &ApprovalRequest) -> Delivery {
        match self.notifier.notify_pending(approval).await {
            Ok(reference) => {
                let stored = match &reference {
                    Some(r) => self.repo.set_notification_ref(approval.id(), r).await,
                    None => {
                        self.repo
                            .set_notification_state(approval.id(), NotificationState::Sent)
                            .await
                    }
                };
                if let Err(err) = stored {
                    tracing::warn!(approval.id = %approval.id(), error = %err, "could not store the notification reference");
                }
                crate::chaos::point(crate::chaos::APPROVAL_NOTIFIED);
                Delivery::Delivered(reference)
            }
            Err(NotifyError::Disabled) => {
                self.disabled(approval).await;
                Delivery::Disabled
            }
            Err(err) => {
                self.failed(approval, "request", &err).await;
                Delivery::Failed(err.to_string())
            }
        }
    }

    /// Shows a decided approval's outcome in the chat (an edit, or one message when the
    /// request never got there) and waits for the outcome.
    pub async fn deliver_decided(&self, approval: &ApprovalRequest) {
        match self.notifier.notify_decided(approval).await {
            Ok(()) => {
                if let Err(e) = self
                    .repo
                    .set_notification_state(approval.id(), NotificationState::Updated)
                    .await
                {
                    tracing::warn!(approval.id = %approval.id(), error = %e, "could not record the delivered update");
                }
            }
            Err(NotifyError::Disabled) => self.disabled(approval).await,
            Err(err) => self.failed(approval, "update", &err).await,
        }
    }

    /// Delivers a Pending approval in the background.
    pub fn spawn_deliver_pending(&self, approval: ApprovalRequest) {
        let this = self.clone();
        self.spawn(async move {
            this.deliver_pending(&approval).await;
        });
    }

    /// Warns that an approval expires soon, in the background.
    pub fn spawn_deliver_expiring(&self, approval: ApprovalRequest) {
        let notifier = Arc::clone(&self.notifier);
        self.spawn(async move {
            match notifier.notify_expiring(&approval).await {
                Ok(()) | Err(NotifyError::Disabled) => {}
                Err(err) => {
                    metrics::counter!(m::ESCALATION_NOTIFICATIONS_FAILED_TOTAL, "message" => "warning").increment(1);
                    tracing::warn!(approval.id = %approval.id(), error = %err, "could not send the expiry warning");
                }
            }
        });
    }

    /// Sends an approval nobody decided in time to the escalation channel, in the background
    /// (once: a failure is counted and logged; the approval stays in the first chat and on
    /// REST, and still expires fail-closed).
    pub fn spawn_deliver_escalated(&self, approval: ApprovalRequest) {
        let notifier = Arc::clone(&self.notifier);
        let repo = Arc::clone(&self.repo);
        self.spawn(async move {
            match notifier.notify_escalated(&approval).await {
                Ok(Some(reference)) => {
                    // Its message is edited with the outcome too.
                    if let Err(err) = repo.add_notification_ref(approval.id(), &reference).await {
                        tracing::warn!(approval.id = %approval.id(), error = %err, "could not record where the escalated message is");
                    }
                }
                Ok(None) | Err(NotifyError::Disabled) => {}
                Err(err) => {
                    metrics::counter!(m::ESCALATION_NOTIFICATIONS_FAILED_TOTAL, "message" => "escalation").increment(1);
                    tracing::warn!(approval.id = %approval.id(), error = %err, "could not send the approval to the escalation chat");
                }
            }
        });
    }

    /// Tells the chat that an approver said yes and another is needed, in the background
    /// (best effort: the approval itself stays in the chat, Pending, with its buttons).
    pub fn spawn_deliver_vote(&self, approval: ApprovalRequest) {
        let notifier = Arc::clone(&self.notifier);
        self.spawn(async move {
            match notifier.notify_vote(&approval).await {
                Ok(()) | Err(NotifyError::Disabled) => {}
                Err(err) => {
                    metrics::counter!(m::ESCALATION_NOTIFICATIONS_FAILED_TOTAL, "message" => "vote").increment(1);
                    tracing::warn!(approval.id = %approval.id(), error = %err, "could not tell the chat about the vote");
                }
            }
        });
    }

    /// Shows the outcome in the chat, in the background (the outbox retries a failure).
    pub fn spawn_deliver_decided(&self, approval: ApprovalRequest) {
        if approval.notification() == NotificationState::Disabled {
            return;
        }
        let this = self.clone();
        self.spawn(async move {
            this.deliver_decided(&approval).await;
        });
    }
}
