//! Settings of the adapters, read from the configuration: the Telegram client, the agent
//! runtime, and the database (opened and migrated as the environment allows).

use std::time::Duration;

use anyhow::Context;
use orchestra_claude::{ClaudeSettings, StopLadder};
use orchestra_db::{Database, Migrations};
use orchestra_resilience::RetryPolicy;
use orchestra_telegram::TelegramSettings;
use secrecy::ExposeSecret;

use crate::config::Settings;

/// The Telegram client settings from the configuration.
///
/// # Errors
/// When Telegram is enabled without a token.
pub fn telegram_settings(settings: &Settings) -> anyhow::Result<TelegramSettings> {
    let t = &settings.telegram;
    Ok(TelegramSettings {
        api_base_url: t.api_base_url.clone(),
        token: t
            .bot_token
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .context("Telegram is enabled without a bot token")?,
        retry: RetryPolicy {
            attempts: t.retry.attempts,
            base: Duration::from_millis(t.retry.base_ms),
            max: Duration::from_millis(t.retry.max_ms),
            max_retry_after: Duration::from_secs(60),
        },
        request_timeout: Duration::from_secs(u64::from(t.poll_timeout_secs) + 10),
    })
}

pub(crate) fn frankenstein_webhook(url: &str) -> orchestra_telegram::SetWebhookParams {
    orchestra_telegram::SetWebhookParams::builder()
        .url(url)
        .build()
}

/// In webhook mode, registers `telegram.webhook_url` (with its secret) with Telegram; a
/// failure is logged, and polling is not started instead.
pub(crate) async fn register_webhook(settings: &Settings, api: &orchestra_telegram::TelegramApi) {
    let (crate::config::TelegramMode::Webhook, Some(url)) = (
        settings.telegram.mode,
        settings.telegram.webhook_url.as_ref(),
    ) else {
        return;
    };
    let mut params = frankenstein_webhook(url);
    params.secret_token = settings
        .telegram
        .webhook_secret
        .as_ref()
        .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned());
    match api.set_webhook(&params).await {
        Ok(()) => tracing::info!(url = %url, "Telegram webhook registered"),
        Err(err) => {
            tracing::warn!(error = %err, "could not register the Telegram webhook; retry by restarting")
        }
    }
}

/// The policy as `/api/policy` shows it.
pub(crate) fn policy_info(settings: &Settings) -> orchestra_api::PolicyInfo {
    let p = &settings.policy;
    orchestra_api::PolicyInfo {
        tools: std::sync::Arc::new(p.tools.clone()),
        agent_home: settings.claude.home.clone(),
        permission_modes: p
            .permission_modes
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect(),
        client_allowed_tools: p.client_allowed_tools.clone(),
        denied_tools: p.denied_tools.clone(),
    }
}

/// The agent runtime settings from the configuration.
pub fn claude_settings(settings: &Settings) -> ClaudeSettings {
    let c = &settings.claude;
    let ms = Duration::from_millis;
    ClaudeSettings {
        binary: c.binary.clone().into(),
        env: c
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
            .collect(),
        pass_env: c.pass_env.clone(),
        home: c.home.clone().map(Into::into),
        runtime_dir: c.runtime_dir.clone().into(),
        node_id: c.node_id.clone(),
        max_retries: c.max_retries,
        api_timeout_ms: c.api_timeout_ms,
        permission_prompt_tool: c.live_permission_prompts,
        startup_timeout: Duration::from_secs(c.startup_timeout_secs),
        ladder: StopLadder {
            interrupt_grace: ms(c.stop_grace.interrupt_ms),
            eof_grace: ms(c.stop_grace.eof_ms),
            sigint_grace: ms(c.stop_grace.sigint_ms),
            sigterm_grace: ms(c.stop_grace.sigterm_ms),
            sigkill_grace: ms(c.stop_grace.sigkill_ms),
        },
        max_line_bytes: c.max_line_bytes,
        stderr_tail_lines: 50,
        denied_tools: settings.policy.denied_tools.clone(),
        run_as: c.run_as.clone(),
        max_memory_mb: c.max_memory_mb,
        max_tasks: c.max_tasks,
        otlp_endpoint: c
            .telemetry
            .then(|| settings.telemetry.otlp_endpoint.clone())
            .flatten(),
    }
}

/// Opens the database and brings its schema up to date as the environment allows:
/// pending migrations are applied when `auto_migrate` is on (the Development default) or
/// `force_migrate` is set; otherwise pending migrations stop the start.
///
/// # Errors
/// When the database cannot be reached, a migration fails, or migrations are pending and
/// may not be applied.
pub async fn open_database(settings: &Settings, force_migrate: bool) -> anyhow::Result<Database> {
    let target = settings.database.target.clone();
    let pool = settings.database.pool;
    let db = tokio::task::spawn_blocking(move || Database::open(target, pool))
        .await
        .context("database open task failed")??;
    let state = Migrations::state_async(&db)
        .await
        .context("cannot read the migration state")?;
    let pending = state.pending();
    if pending > 0 {
        if settings.database.auto_migrate || force_migrate {
            let applied = Migrations::apply_pending_async(&db)
                .await
                .context("applying migrations failed")?;
            tracing::info!(applied = ?applied, backend = %db.backend(), "database migrations applied");
        } else {
            anyhow::bail!(
                "{pending} database migration(s) pending on {} ({}); {} does not apply them at start. \
                 Run `orchestra migrate apply`, or start with `orchestra serve --migrate` \
                 (or ORCHESTRA__DATABASE__AUTO_MIGRATE=true)",
                db.backend(),
                db.location(),
                settings.environment
            );
        }
    }
    Ok(db)
}
