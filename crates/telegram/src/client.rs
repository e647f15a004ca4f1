//! `TelegramApi`: every Bot API call with retries (exponential backoff and jitter,
//! `retry_after` honoured), metrics, and errors that never contain the bot token.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use frankenstein::AsyncTelegramApi as _;
use frankenstein::client_reqwest::Bot;
use frankenstein::methods::{
    AnswerCallbackQueryParams, DeleteWebhookParams, EditMessageTextParams, GetUpdatesParams,
    SendMessageParams, SetWebhookParams,
};
use frankenstein::types::{MaybeInaccessibleMessage, Message};
use frankenstein::updates::Update;
use orchestra_application::metrics_names as m;

use orchestra_resilience::{RetryPolicy, Retryable, retry};
use tracing::Instrument;

/// How to reach Telegram.
#[derive(Clone)]
pub struct TelegramSettings {
    /// The Bot API base URL (`https://api.telegram.org`; tests point it at a fake).
    pub api_base_url: String,
    /// The bot token (a secret: never logged).
    pub token: String,
    /// Retry policy for every call.
    pub retry: RetryPolicy,
    /// Timeout of a call (long polls add their own wait).
    pub request_timeout: Duration,
}

impl std::fmt::Debug for TelegramSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramSettings")
            .field("api_base_url", &self.api_base_url)
            .field("token", &"[redacted]")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Why a call failed. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    /// Telegram answered with an error.
    #[error("Telegram API error {code}: {description}")]
    Api {
        /// HTTP-like error code.
        code: u64,
        /// Telegram's description.
        description: String,
        /// Seconds to wait (429).
        retry_after: Option<u64>,
    },
    /// The request did not get an answer (connect, timeout, TLS).
    #[error("Telegram unreachable: {0}")]
    Transport(String),
    /// The answer could not be read.
    #[error("Telegram answer unreadable: {0}")]
    Decode(String),
}

impl TelegramError {
    /// The error code Telegram answered with, if it answered.
    pub fn status_code(&self) -> Option<u32> {
        match self {
            Self::Api { code, .. } => u32::try_from(*code).ok(),
            _ => None,
        }
    }

    fn from_frankenstein(e: frankenstein::Error) -> Self {
        match e {
            frankenstein::Error::Api(r) => Self::Api {
                code: r.error_code,
                description: r.description,
                retry_after: r.parameters.and_then(|p| p.retry_after).map(u64::from),
            },
            frankenstein::Error::HttpReqwest(e) => Self::Transport(e.without_url().to_string()),
            frankenstein::Error::JsonDecode { source, .. } => Self::Decode(source.to_string()),
            other => Self::Decode(other.to_string().chars().take(200).collect()),
        }
    }

    /// Whether another attempt may succeed.
    pub fn retryable(&self) -> Retryable {
        match self {
            Self::Api {
                code: 429,
                retry_after: Some(s),
                ..
            } => Retryable::After(Duration::from_secs(*s)),
            Self::Api { code, .. } if *code == 429 || *code >= 500 => Retryable::Yes,
            Self::Api { .. } => Retryable::No,
            Self::Transport(_) | Self::Decode(_) => Retryable::Yes,
        }
    }

    /// Whether it says Telegram is unusable (counts against the circuit breaker), rather
    /// than refusing this one request.
    pub fn is_channel_failure(&self) -> bool {
        match self {
            Self::Api { code, .. } => {
                *code == 429 || *code >= 500 || matches!(code, 401 | 403 | 404)
            }
            Self::Transport(_) | Self::Decode(_) => true,
        }
    }
}

/// The Bot API with retries and metrics.
pub struct TelegramApi {
    bot: Bot,
    retry: RetryPolicy,
    last_error: Mutex<Option<String>>,
    last_ok: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for TelegramApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramApi")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl TelegramApi {
    /// A client for `settings`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(settings: &TelegramSettings) -> Result<Self, TelegramError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(settings.request_timeout + Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| TelegramError::Transport(e.without_url().to_string()))?;
        let base = settings.api_base_url.trim_end_matches('/');
        let bot = Bot::builder()
            .api_url(format!("{base}/bot{}", settings.token))
            .client(client)
            .build();
        Ok(Self {
            bot,
            retry: settings.retry,
            last_error: Mutex::new(None),
            last_ok: Mutex::new(None),
        })
    }

    /// The last error, if the last call failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Seconds since the last successful call.
    pub fn seconds_since_ok(&self) -> Option<u64> {
        self.last_ok
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map(|t| t.elapsed().as_secs())
    }

    async fn call<T, F, Fut>(
        &self,
        method: &'static str,
        retry_policy: RetryPolicy,
        op: F,
    ) -> Result<T, TelegramError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, frankenstein::Error>>,
    {
        let result = retry(
            &retry_policy,
            |attempt| {
                let fut = op();
                // One span per attempt (never the token: the URL is not recorded).
                let span = tracing::info_span!(
                    "telegram.request",
                    otel.name = %format!("telegram {method}"),
                    otel.kind = "client",
                    telegram.method = method,
                    telegram.attempt = i64::from(attempt),
                    http.request.method = "POST",
                    http.response.status_code = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                );
                async move {
                    metrics::counter!(m::TELEGRAM_API_REQUESTS_TOTAL, "method" => method).increment(1);
                    let started = Instant::now();
                    let r = fut.instrument(span.clone()).await.map_err(TelegramError::from_frankenstein);
                    match &r {
                        Ok(_) => {
                            span.record("http.response.status_code", 200);
                        }
                        Err(e) => {
                            if let Some(code) = e.status_code() {
                                span.record("http.response.status_code", i64::from(code));
                            }
                            span.record("otel.status_code", "ERROR");
                        }
                    }
                    metrics::histogram!(m::TELEGRAM_API_DURATION_SECONDS, "method" => method)
                        .record(started.elapsed().as_secs_f64());
                    if let Err(e) = &r {
                        metrics::counter!(m::TELEGRAM_API_FAILURES_TOTAL, "method" => method).increment(1);
                        tracing::debug!(telegram.method = method, error = %e, "Telegram call failed");
                    }
                    r
                }
            },
            TelegramError::retryable,
            |attempt, delay, e| {
                metrics::counter!(m::TELEGRAM_API_RETRY_ATTEMPTS_TOTAL, "method" => method).increment(1);
                tracing::warn!(telegram.method = method, attempt, delay_ms = delay.as_millis() as u64, error = %e, "retrying Telegram call");
            },
        )
        .await;
        match &result {
            Ok(_) => {
                *self
                    .last_ok
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                metrics::gauge!(m::TELEGRAM_SERVICE_HEALTH).set(1.0);
            }
            Err(e) if e.is_channel_failure() => {
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
                metrics::gauge!(m::TELEGRAM_SERVICE_HEALTH).set(0.0);
            }
            Err(_) => {}
        }
        result
    }

    /// `sendMessage`.
    ///
    /// # Errors
    /// [`TelegramError`] after retries.
    pub async fn send_message(&self, params: &SendMessageParams) -> Result<Message, TelegramError> {
        self.call("sendMessage", self.retry, || self.bot.send_message(params))
            .await
            .map(|r| r.result)
    }

    /// `editMessageText`.
    ///
    /// # Errors
    /// [`TelegramError`] after retries.
    pub async fn edit_message_text(
        &self,
        params: &EditMessageTextParams,
    ) -> Result<(), TelegramError> {
        self.call("editMessageText", self.retry, || {
            self.bot.edit_message_text(params)
        })
        .await
        .map(|_| ())
    }

    /// `answerCallbackQuery`.
    ///
    /// # Errors
    /// [`TelegramError`] after retries.
    pub async fn answer_callback_query(
        &self,
        params: &AnswerCallbackQueryParams,
    ) -> Result<(), TelegramError> {
        self.call("answerCallbackQuery", self.retry, || {
            self.bot.answer_callback_query(params)
        })
        .await
        .map(|_| ())
    }

    /// `getUpdates` (one attempt: the poller has its own backoff).
    ///
    /// # Errors
    /// [`TelegramError`].
    pub async fn get_updates(
        &self,
        params: &GetUpdatesParams,
    ) -> Result<Vec<Update>, TelegramError> {
        let once = RetryPolicy {
            attempts: 1,
            ..self.retry
        };
        self.call("getUpdates", once, || self.bot.get_updates(params))
            .await
            .map(|r| r.result)
    }

    /// `setWebhook`.
    ///
    /// # Errors
    /// [`TelegramError`] after retries.
    pub async fn set_webhook(&self, params: &SetWebhookParams) -> Result<(), TelegramError> {
        self.call("setWebhook", self.retry, || self.bot.set_webhook(params))
            .await
            .map(|_| ())
    }

    /// `deleteWebhook`.
    ///
    /// # Errors
    /// [`TelegramError`] after retries.
    pub async fn delete_webhook(&self) -> Result<(), TelegramError> {
        let params = DeleteWebhookParams::builder().build();
        self.call("deleteWebhook", self.retry, || {
            self.bot.delete_webhook(&params)
        })
        .await
        .map(|_| ())
    }
}

/// The chat and message id of a callback's message.
pub(crate) fn message_place(m: &MaybeInaccessibleMessage) -> (i64, i32) {
    match m {
        MaybeInaccessibleMessage::Message(msg) => (msg.chat.id, msg.message_id),
        MaybeInaccessibleMessage::InaccessibleMessage(msg) => (msg.chat.id, msg.message_id),
    }
}
