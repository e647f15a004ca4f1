//! Delivering approvals to humans through the notifier port and recording where they went.

use std::sync::Arc;

use orchestra_domain::ApprovalRequest;

use crate::ports::{ApprovalNotifier, ApprovalRepository, NotifyError};

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

/// Delivers approvals through the notifier port and records where they went.
/// Notifier failures never fail the caller: they are logged and reported.
#[derive(Debug, Clone)]
pub struct NotificationDispatcher {
    notifier: Arc<dyn ApprovalNotifier>,
    repo: Arc<dyn ApprovalRepository>,
    /// Deliveries run on the runtime the dispatcher was built on, not on the HTTP worker
    /// that asked for them.
    rt: Option<tokio::runtime::Handle>,
}

impl NotificationDispatcher {
    /// A dispatcher over `notifier`, storing references with `repo`.
    pub fn new(notifier: Arc<dyn ApprovalNotifier>, repo: Arc<dyn ApprovalRepository>) -> Self {
        Self {
            notifier,
            repo,
            rt: tokio::runtime::Handle::try_current().ok(),
        }
    }

    fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        match &self.rt {
            Some(rt) => drop(rt.spawn(fut)),
            None => drop(tokio::spawn(fut)),
        }
    }

    /// The notifier.
    pub fn notifier(&self) -> &Arc<dyn ApprovalNotifier> {
        &self.notifier
    }

    /// Delivers a Pending approval and waits for the outcome.
    pub async fn deliver_pending(&self, approval: &ApprovalRequest) -> Delivery {
        match self.notifier.notify_pending(approval).await {
            Ok(reference) => {
                if let Some(r) = &reference
                    && let Err(err) = self.repo.set_notification_ref(approval.id(), r).await
                {
                    tracing::warn!(approval.id = %approval.id(), error = %err, "could not store the notification reference");
                }
                Delivery::Delivered(reference)
            }
            Err(NotifyError::Disabled) => Delivery::Disabled,
            Err(err) => {
                tracing::warn!(approval.id = %approval.id(), error = %err, "approval notification failed; it stays decidable over REST");
                Delivery::Failed(err.to_string())
            }
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
                    tracing::warn!(approval.id = %approval.id(), error = %err, "could not send the expiry warning");
                }
            }
        });
    }

    /// Updates the delivered message after a decision, in the background.
    pub fn spawn_deliver_decided(&self, approval: ApprovalRequest) {
        if approval.notification_ref().is_none() {
            return;
        }
        let notifier = Arc::clone(&self.notifier);
        self.spawn(async move {
            match notifier.notify_decided(&approval).await {
                Ok(()) | Err(NotifyError::Disabled) => {}
                Err(err) => {
                    tracing::warn!(approval.id = %approval.id(), error = %err, "could not update the approval message");
                }
            }
        });
    }
}
