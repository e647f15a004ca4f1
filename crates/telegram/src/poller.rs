//! Button presses: read by long polling (`getUpdates`, the offset persisted so a restart
//! neither loses nor replays presses) or pushed to the webhook; decided with the same
//! compare-and-set as REST; always answered (`answerCallbackQuery`), politely when the
//! press changes nothing (duplicate, late, foreign).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use frankenstein::methods::{AnswerCallbackQueryParams, GetUpdatesParams};
use frankenstein::types::AllowedUpdate;
use frankenstein::updates::{Update, UpdateContent};
use orchestra_application::approvals::{
    ChannelAction, ChannelCallback, ChannelDecision, DecideFromChannelHandler,
};
use orchestra_application::leases::{NodeLeases, TELEGRAM_POLLER};
use orchestra_application::ports::{ChannelStateRepository, Clock, InboundChannel, WebhookError};
use orchestra_domain::ApprovalStatus;
use tokio::sync::watch;

use super::client::{TelegramApi, message_place};

/// Where the next update offset is kept.
pub const OFFSET_KEY: &str = "telegram.update_offset";

/// Parses a button's `callback_data` (`a:<id>`, `d:<id>`, `s:<id>`, `t<minutes>:<id>`).
pub fn parse_callback_data(data: &str) -> Option<(ChannelAction, String)> {
    let (kind, id) = data.split_once(':')?;
    let action = match kind {
        "a" => ChannelAction::Approve,
        "d" => ChannelAction::Deny,
        "s" => ChannelAction::AllowForSession,
        timed => {
            let minutes: u32 = timed.strip_prefix('t')?.parse().ok()?;
            (1..=orchestra_domain::grant::MAX_GRANT_MINUTES)
                .contains(&minutes)
                .then_some(ChannelAction::AllowFor { minutes })?
        }
    };
    Some((action, id.to_owned()))
}

/// Turns Telegram updates into decisions. `Debug` never shows the webhook secret.
pub struct TelegramUpdates {
    api: Arc<TelegramApi>,
    decide: DecideFromChannelHandler,
    state: Arc<dyn ChannelStateRepository>,
    clock: Arc<dyn Clock>,
    poll_timeout_secs: u32,
    webhook_secret: Option<String>,
    /// Polls only while this node holds the poller's lease (several nodes, one bot).
    leader: Option<NodeLeases>,
}

impl std::fmt::Debug for TelegramUpdates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramUpdates")
            .field("api", &self.api)
            .field("poll_timeout_secs", &self.poll_timeout_secs)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl TelegramUpdates {
    /// An update handler.
    pub fn new(
        api: Arc<TelegramApi>,
        decide: DecideFromChannelHandler,
        state: Arc<dyn ChannelStateRepository>,
        clock: Arc<dyn Clock>,
        poll_timeout_secs: u32,
        webhook_secret: Option<String>,
    ) -> Self {
        Self {
            api,
            decide,
            state,
            clock,
            poll_timeout_secs,
            webhook_secret,
            leader: None,
        }
    }

    /// Polls only while this node holds [`TELEGRAM_POLLER`]: of several nodes on one
    /// database, one polls; when it stops renewing, another takes over within the lease.
    #[must_use]
    pub fn with_leader(mut self, leases: NodeLeases) -> Self {
        self.leader = Some(leases);
        self
    }

    /// True when this node may poll now; waits a renewal interval when it may not.
    /// `offset` is read again when this node becomes the poller (another advanced it).
    async fn may_poll(
        &self,
        leading: &mut bool,
        offset: &mut Option<i64>,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<bool> {
        let Some(leases) = &self.leader else {
            return Some(true);
        };
        if leases.lead(TELEGRAM_POLLER).await {
            if !*leading {
                *leading = true;
                *offset = self.offset().await;
                tracing::info!(node = leases.node_id(), offset = ?offset, "this node polls Telegram");
            }
            return Some(true);
        }
        if *leading {
            *leading = false;
            tracing::info!(node = leases.node_id(), "another node polls Telegram now");
        }
        tokio::select! {
            () = tokio::time::sleep(leases.renew_every()) => Some(false),
            _ = stop.wait_for(|s| *s) => None,
        }
    }

    /// Handles one update: a button press is decided and answered; anything else ignored.
    pub async fn handle(&self, update: Update) {
        let UpdateContent::CallbackQuery(q) = update.content else {
            return;
        };
        let answer = |text: String| {
            AnswerCallbackQueryParams::builder()
                .callback_query_id(q.id.clone())
                .text(text)
                .build()
        };
        let Some((action, approval_id)) = q.data.as_deref().and_then(parse_callback_data) else {
            let _ = self
                .api
                .answer_callback_query(&answer("This button is not Orchestra's.".into()))
                .await;
            return;
        };
        let chat_id = q.message.as_ref().map_or(0, |m| message_place(m).0);
        let callback = ChannelCallback {
            approval_id,
            action,
            channel: "telegram",
            user_id: i64::try_from(q.from.id).unwrap_or(-1),
            username: q.from.username.clone(),
            chat_id,
        };
        // The update id is the request id of whatever this press audits.
        let origin = orchestra_application::audit::RequestContext {
            request_id: Some(format!("telegram:update:{}", update.update_id)),
            client_addr: None,
        };
        let text = match origin.scope(self.decide.handle(callback)).await {
            Ok(ChannelDecision::Decided(a)) => match a.status() {
                ApprovalStatus::Approved => "✅ Approved".to_owned(),
                ApprovalStatus::Rejected => "❌ Denied".to_owned(),
                ApprovalStatus::Pending => format!(
                    "✔ Your approval counts ({} of {}); another approver must approve too.",
                    a.votes().len(),
                    a.approvals_needed()
                ),
                other => other.to_string(),
            },
            Ok(ChannelDecision::AlreadyDecided { status, by }) => {
                format!(
                    "Already decided: {status}{}",
                    by.map(|b| format!(" by {b}")).unwrap_or_default()
                )
            }
            Ok(ChannelDecision::AlreadyVoted { needed }) => {
                format!("You approved this already; it needs {needed} different approvers.")
            }
            Ok(ChannelDecision::Expired) => "Too late: this approval has expired.".to_owned(),
            Ok(ChannelDecision::NotAuthorized) => {
                "You are not allowed to decide approvals here.".to_owned()
            }
            Ok(ChannelDecision::ViewerOnly) => {
                "You can see approvals here but not decide them (viewer).".to_owned()
            }
            Ok(ChannelDecision::NotFound) => "This approval does not exist (any more).".to_owned(),
            Err(err) => {
                tracing::warn!(error = %err, "could not decide from Telegram");
                "Orchestra could not record that; please try again.".to_owned()
            }
        };
        if let Err(err) = self.api.answer_callback_query(&answer(text)).await {
            tracing::warn!(error = %err, "could not answer the Telegram button press");
        }
    }

    async fn offset(&self) -> Option<i64> {
        self.state
            .get(OFFSET_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
    }

    /// Long-polls `getUpdates` until `stop` flips. Logs "Telegram polling started".
    pub async fn run_polling(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        tracing::info!(
            service = "TelegramPolling",
            timeout_secs = self.poll_timeout_secs,
            "Telegram polling started"
        );
        if let Err(err) = self.api.delete_webhook().await {
            tracing::warn!(error = %err, "could not remove a webhook before polling");
        }
        let mut offset = self.offset().await;
        let mut failures: u32 = 0;
        let mut leading = false;
        loop {
            match self.may_poll(&mut leading, &mut offset, &mut stop).await {
                Some(true) => {}
                Some(false) => continue,
                None => break,
            }
            let params = GetUpdatesParams::builder()
                .maybe_offset(offset)
                .timeout(self.poll_timeout_secs)
                .allowed_updates(vec![AllowedUpdate::CallbackQuery])
                .build();
            let result = tokio::select! {
                r = self.api.get_updates(&params) => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            match result {
                Ok(updates) => {
                    failures = 0;
                    for update in updates {
                        let id = i64::from(update.update_id);
                        if offset.is_some_and(|o| id < o) {
                            continue; // Delivered twice: handled already.
                        }
                        self.handle(update).await;
                        offset = Some(id + 1);
                        if let Err(err) = self
                            .state
                            .set(OFFSET_KEY, &(id + 1).to_string(), self.clock.now())
                            .await
                        {
                            tracing::warn!(error = %err, "could not store the Telegram update offset");
                        }
                    }
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_millis(500u64.saturating_mul(1 << failures.min(6)))
                        .min(Duration::from_secs(30));
                    tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "Telegram polling failed");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            }
        }
        tracing::info!(service = "TelegramPolling", "Telegram polling stopped");
    }
}

#[async_trait]
impl InboundChannel for TelegramUpdates {
    fn verify_secret(&self, secret: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        match (self.webhook_secret.as_deref(), secret) {
            (Some(expected), Some(given)) => {
                bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
            }
            _ => false,
        }
    }

    async fn handle_webhook(
        &self,
        secret: Option<&str>,
        update: serde_json::Value,
    ) -> Result<(), WebhookError> {
        if !self.verify_secret(secret) {
            return Err(WebhookError::Unauthorized);
        }
        let update: Update =
            serde_json::from_value(update).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        self.handle(update).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data_parses() {
        assert_eq!(
            parse_callback_data("a:123"),
            Some((ChannelAction::Approve, "123".into()))
        );
        assert_eq!(
            parse_callback_data("s:x"),
            Some((ChannelAction::AllowForSession, "x".into()))
        );
        assert_eq!(
            parse_callback_data("t30:x"),
            Some((ChannelAction::AllowFor { minutes: 30 }, "x".into()))
        );
        for bad in ["t0:x", "t:x", "t10081:x", "t-1:x", "tx:x"] {
            assert_eq!(parse_callback_data(bad), None, "{bad}");
        }
        assert_eq!(parse_callback_data("z:1"), None);
        assert_eq!(parse_callback_data("nonsense"), None);
    }
}
