//! `TelegramNotifier`: approval messages with Approve / Deny / Allow-for-session buttons,
//! edited when decided, a reply when they are about to expire.

use std::sync::Arc;

use async_trait::async_trait;
use frankenstein::ParseMode;
use frankenstein::methods::{EditMessageTextParams, SendMessageParams};
use frankenstein::types::{
    InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ReplyMarkup, ReplyParameters,
};
use orchestra_application::ports::{ApprovalNotifier, Clock, NotifierStatus, NotifyError};
use orchestra_domain::ApprovalRequest;

use super::client::{TelegramApi, TelegramError};
use super::render;
use orchestra_application::metrics_names as m;

/// Sends approvals to one chat.
#[derive(Debug)]
pub struct TelegramNotifier {
    api: Arc<TelegramApi>,
    chat_id: i64,
    clock: Arc<dyn Clock>,
    mode: &'static str,
    grant_minutes: u32,
    escalation_chat_id: Option<i64>,
}

/// The longest rule a grant button names; a longer one is "the rule above".
const BUTTON_RULE_CHARS: usize = 40;

fn keyboard(a: &ApprovalRequest, grant_minutes: u32) -> InlineKeyboardMarkup {
    let id = a.id();
    let button = |text: &str, data: String| {
        InlineKeyboardButton::builder()
            .text(text)
            .callback_data(data)
            .build()
    };
    let mut rows = vec![vec![
        button("✅ Approve", format!("a:{id}")),
        button("❌ Deny", format!("d:{id}")),
    ]];
    // Only when there is a rule narrower than the tool and the message shows it whole
    // (an approver never grants more than they read); the buttons name it when it is short.
    if let Some(rule) = a
        .request()
        .session_rule
        .as_deref()
        .filter(|r| r.chars().count() <= crate::render::RULE_SHOWN_CHARS)
    {
        let rule = if rule.chars().count() <= BUTTON_RULE_CHARS {
            rule.to_owned()
        } else {
            "the rule above".to_owned()
        };
        if grant_minutes > 0 {
            rows.push(vec![button(
                &format!("⏱ Allow {rule} for {grant_minutes} min"),
                format!("t{grant_minutes}:{id}"),
            )]);
        }
        rows.push(vec![button(
            &format!("🔓 Allow {rule} for this session"),
            format!("s:{id}"),
        )]);
    }
    InlineKeyboardMarkup::builder()
        .inline_keyboard(rows)
        .build()
}

fn to_notify_error(e: TelegramError) -> NotifyError {
    if e.is_channel_failure() {
        NotifyError::Failed(e.to_string())
    } else {
        NotifyError::Refused(e.to_string())
    }
}

/// Whether Telegram refused the text itself (a 400 other than "not modified"): worth one
/// more try as plain text, never nothing.
fn refused_text(e: &TelegramError) -> bool {
    matches!(e, TelegramError::Api { code: 400, description, .. } if !description.contains("not modified"))
}

fn count_fallback(approval: &ApprovalRequest, what: &'static str, err: &TelegramError) {
    metrics::counter!(m::TELEGRAM_PLAIN_TEXT_FALLBACKS_TOTAL, "message" => what).increment(1);
    tracing::warn!(approval.id = %approval.id(), message = what, error = %err, "Telegram refused the HTML message; sending it as plain text");
}

/// The first place of an approval's message (its first chat's), if it was delivered.
fn first_place(approval: &ApprovalRequest) -> Option<(i64, i32)> {
    approval
        .notification_ref()
        .and_then(|r| r.split_whitespace().find_map(parse_ref))
}

/// `telegram:<chat>:<message>` -> (chat, message).
fn parse_ref(reference: &str) -> Option<(i64, i32)> {
    let mut parts = reference.strip_prefix("telegram:")?.split(':');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

impl TelegramNotifier {
    /// A notifier posting to `chat_id`; `mode` (`polling` / `webhook`) shows in diagnostics.
    pub fn new(
        api: Arc<TelegramApi>,
        chat_id: i64,
        clock: Arc<dyn Clock>,
        mode: &'static str,
    ) -> Self {
        Self {
            api,
            chat_id,
            clock,
            mode,
            grant_minutes: 0,
            escalation_chat_id: None,
        }
    }

    /// Sends approvals nobody decided in time to `chat_id` too.
    #[must_use]
    pub fn with_escalation_chat(mut self, chat_id: Option<i64>) -> Self {
        self.escalation_chat_id = chat_id;
        self
    }

    /// Sends `text` with the approval's buttons to `chat`.
    async fn send_with_buttons(
        &self,
        chat: i64,
        approval: &ApprovalRequest,
        text: &crate::message::Message,
        what: &'static str,
    ) -> Result<frankenstein::types::Message, TelegramError> {
        let mut params = SendMessageParams::builder()
            .chat_id(chat)
            .text(text.html())
            .parse_mode(ParseMode::Html)
            .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
            .reply_markup(ReplyMarkup::InlineKeyboardMarkup(keyboard(
                approval,
                self.grant_minutes,
            )))
            .build();
        match self.api.send_message(&params).await {
            Err(e) if refused_text(&e) => {
                count_fallback(approval, what, &e);
                params.text = text.text();
                params.parse_mode = None;
                self.api.send_message(&params).await
            }
            other => other,
        }
    }

    /// Edits the message at `(chat, message)` to `text`; with `buttons`, keeps the
    /// approval's buttons. An edit that changes nothing is fine.
    async fn edit(
        &self,
        (chat, message): (i64, i32),
        approval: &ApprovalRequest,
        text: &crate::message::Message,
        buttons: bool,
    ) -> Result<(), TelegramError> {
        let mut params = EditMessageTextParams::builder()
            .chat_id(chat)
            .message_id(message)
            .text(text.html())
            .parse_mode(ParseMode::Html)
            .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
            .build();
        if buttons {
            params.reply_markup = Some(keyboard(approval, self.grant_minutes));
        }
        let mut result = self.api.edit_message_text(&params).await;
        if let Err(e) = &result
            && refused_text(e)
        {
            count_fallback(approval, "decided", e);
            params.text = Some(text.text());
            params.parse_mode = None;
            result = self.api.edit_message_text(&params).await;
        }
        match result {
            // Edited already (a duplicate update): nothing to do.
            Err(TelegramError::Api {
                code: 400,
                description,
                ..
            }) if description.contains("not modified") => Ok(()),
            other => other,
        }
    }

    /// Sends `text` as a reply to the approval's message (a new message when it has none).
    async fn reply(
        &self,
        approval: &ApprovalRequest,
        text: &crate::message::Message,
        what: &'static str,
    ) -> Result<(), NotifyError> {
        let mut params = SendMessageParams::builder()
            .chat_id(self.chat_id)
            .text(text.html())
            .parse_mode(ParseMode::Html)
            .build();
        if let Some((_, message)) = first_place(approval) {
            params.reply_parameters = Some(
                ReplyParameters::builder()
                    .message_id(message)
                    .allow_sending_without_reply(true)
                    .build(),
            );
        }
        match self.api.send_message(&params).await {
            Err(e) if refused_text(&e) => {
                count_fallback(approval, what, &e);
                params.text = text.text();
                params.parse_mode = None;
                self.api.send_message(&params).await
            }
            other => other,
        }
        .map(|_| ())
        .map_err(to_notify_error)
    }

    /// Also offers "Allow <rule> for `minutes` min" (0: not).
    #[must_use]
    pub fn with_grant_minutes(mut self, minutes: u32) -> Self {
        self.grant_minutes = minutes;
        self
    }
}

#[async_trait]
impl ApprovalNotifier for TelegramNotifier {
    async fn notify_pending(
        &self,
        approval: &ApprovalRequest,
    ) -> Result<Option<String>, NotifyError> {
        let text = render::pending(approval);
        let message = self
            .send_with_buttons(self.chat_id, approval, &text, "request")
            .await
            .map_err(to_notify_error)?;
        tracing::info!(approval.id = %approval.id(), telegram.message_id = message.message_id, "approval sent to Telegram");
        Ok(Some(format!(
            "telegram:{}:{}",
            message.chat.id, message.message_id
        )))
    }

    async fn notify_decided(&self, approval: &ApprovalRequest) -> Result<(), NotifyError> {
        let text = render::decided(approval);
        let places: Vec<(i64, i32)> = approval
            .notification_ref()
            .map(|r| r.split_whitespace().filter_map(parse_ref).collect())
            .unwrap_or_default();
        if places.is_empty() {
            // The request never reached the chat: one message with the outcome, so the
            // approval is not unseen.
            let mut params = SendMessageParams::builder()
                .chat_id(self.chat_id)
                .text(text.html())
                .parse_mode(ParseMode::Html)
                .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
                .build();
            return match self.api.send_message(&params).await {
                Err(e) if refused_text(&e) => {
                    count_fallback(approval, "decided", &e);
                    params.text = text.text();
                    params.parse_mode = None;
                    self.api.send_message(&params).await
                }
                other => other,
            }
            .map(|_| ())
            .map_err(to_notify_error);
        }
        // Every message of it (the first chat's, the escalation chat's) shows the outcome.
        for place in places {
            self.edit(place, approval, &text, false)
                .await
                .map_err(to_notify_error)?;
        }
        Ok(())
    }

    async fn notify_escalated(
        &self,
        approval: &ApprovalRequest,
    ) -> Result<Option<String>, NotifyError> {
        let Some(chat) = self.escalation_chat_id else {
            return Ok(None);
        };
        let text = render::pending_with_note(
            approval,
            "⏫ Escalated: nobody decided it in the first chat in time.",
        );
        let sent = self
            .send_with_buttons(chat, approval, &text, "escalation")
            .await
            .map_err(to_notify_error)?;
        tracing::info!(approval.id = %approval.id(), telegram.message_id = sent.message_id, "approval escalated to the second chat");
        if let Some(first) = first_place(approval) {
            let note = render::pending_with_note(
                approval,
                "⏫ No decision yet: sent to the escalation chat too.",
            );
            if let Err(err) = self.edit(first, approval, &note, true).await {
                // The escalation itself went out; the first chat's note is a nicety.
                tracing::warn!(approval.id = %approval.id(), error = %err, "could not mark the first message as escalated");
            }
        }
        Ok(Some(format!(
            "telegram:{}:{}",
            sent.chat.id, sent.message_id
        )))
    }

    async fn notify_expiring(&self, approval: &ApprovalRequest) -> Result<(), NotifyError> {
        self.reply(
            approval,
            &render::expiring(approval, self.clock.now()),
            "expiring",
        )
        .await
    }

    async fn notify_vote(&self, approval: &ApprovalRequest) -> Result<(), NotifyError> {
        self.reply(approval, &render::voted(approval), "vote").await
    }

    fn status(&self) -> NotifierStatus {
        let last_error = self.api.last_error();
        let mut details = vec![
            ("Mode", self.mode.to_owned()),
            ("ChatId", self.chat_id.to_string()),
        ];
        if let Some(s) = self.api.seconds_since_ok() {
            details.push(("SecondsSinceLastSuccess", s.to_string()));
        }
        NotifierStatus {
            channel: "telegram",
            enabled: true,
            healthy: last_error.is_none(),
            circuit_state: "Closed",
            last_error,
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use orchestra_domain::{ApprovalId, ApprovalKind, NewApproval};

    use super::*;

    fn with_rule(rule: Option<String>) -> ApprovalRequest {
        let now = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        ApprovalRequest::open(
            ApprovalId::new(),
            NewApproval {
                session_id: "s".into(),
                agent_id: "claude-code".into(),
                tool_name: "Bash".into(),
                tool_input: serde_json::json!({"command": "npm test"}),
                tool_use_id: None,
                kind: ApprovalKind::Live,
                description: None,
                session_rule: rule,
                risk: Default::default(),
                working_directory: None,
                approvals_needed: 1,
            },
            now,
            now + chrono::Duration::minutes(30),
        )
    }

    fn buttons(a: &ApprovalRequest) -> Vec<String> {
        keyboard(a, 30)
            .inline_keyboard
            .iter()
            .flatten()
            .map(|b| b.text.clone())
            .collect()
    }

    #[test]
    fn grant_buttons_name_a_short_rule_point_at_a_longer_one_and_skip_one_not_shown_whole() {
        assert_eq!(buttons(&with_rule(None)), ["✅ Approve", "❌ Deny"]);
        assert_eq!(
            buttons(&with_rule(Some("Bash(npm test:*)".into())))[2..],
            [
                "⏱ Allow Bash(npm test:*) for 30 min",
                "🔓 Allow Bash(npm test:*) for this session"
            ]
        );
        let long = format!("Bash({}:*)", "x".repeat(60));
        assert_eq!(
            buttons(&with_rule(Some(long)))[2..],
            [
                "⏱ Allow the rule above for 30 min",
                "🔓 Allow the rule above for this session"
            ]
        );
        let unshown = format!("Bash({}:*)", "x".repeat(crate::render::RULE_SHOWN_CHARS));
        assert_eq!(buttons(&with_rule(Some(unshown))).len(), 2);
    }

    #[test]
    fn notification_refs_round_trip() {
        assert_eq!(parse_ref("telegram:-1001234:42"), Some((-1_001_234, 42)));
        assert_eq!(parse_ref("recording:x"), None);
        assert_eq!(parse_ref("telegram:abc:1"), None);
    }
}
