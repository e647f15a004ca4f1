//! The merged sections checked and turned into [`Settings`]: derived values (pool size, node
//! id, timeouts in seconds), clamps, and the rules between keys.

use std::path::PathBuf;

use orchestra_db::{Backend, DatabaseTarget, PoolSettings};
use orchestra_telemetry::LogFormat;
use secrecy::SecretString;

use super::environment::Environment;
use super::error::{ConfigError, invalid};
use super::sections::{
    ApprovalsSection, AuthSection, DatabaseSection, PolicySection, Secret, Sections,
    TelegramSection, TelemetrySection,
};
use super::settings::{
    ApprovalSettings, AuthSettings, DatabaseSettings, PolicySettings, ServerSettings, Settings,
    TelegramBreaker, TelegramMode, TelegramRetry, TelegramSettings, TelemetrySettings,
};

fn is_http_url(u: &str) -> bool {
    u.starts_with("http://") || u.starts_with("https://")
}

fn secret(s: Option<Secret>) -> Option<SecretString> {
    s.filter(|t| !t.0.trim().is_empty())
        .map(|t| SecretString::from(t.0))
}

/// Checks `raw` and derives what the file leaves unset.
///
/// # Errors
/// [`ConfigError`] naming the key that is missing or wrong (never its value).
pub fn validate(
    environment: Environment,
    raw: Sections,
    config_file: Option<PathBuf>,
) -> Result<Settings, ConfigError> {
    let database = database(environment, raw.database)?;
    let telegram = telegram(raw.telegram)?;
    let approvals = approvals(&raw.approvals)?;
    if telegram.escalation_chat_id.is_some()
        && approvals.escalate_after_secs > 0
        && approvals.escalate_after_secs >= approvals.default_timeout_secs
    {
        return Err(invalid(
            "approvals.escalate_after_secs",
            format!(
                "is {} s, not shorter than approvals.default_timeout_secs ({} s): approvals \
                 would expire before they reach telegram.escalation_chat_id",
                approvals.escalate_after_secs, approvals.default_timeout_secs
            ),
        ));
    }
    let telemetry = telemetry(raw.telemetry)?;
    let node = node(raw.node)?;
    let retention = super::retention::retention(raw.retention)?;
    let budgets = super::budgets::budgets(raw.budgets)?;
    let claude = super::validate_claude::claude(raw.claude, &database.target)?;
    if claude.telemetry && telemetry.otlp_endpoint.is_none() {
        return Err(invalid(
            "claude.telemetry",
            "needs telemetry.otlp_endpoint (OTEL_EXPORTER_OTLP_ENDPOINT): the agents export their spans there",
        ));
    }
    let s = raw.server;
    let auth = auth(environment, &s.host, raw.auth)?;
    if environment != Environment::Development {
        for (key, url) in [
            (
                "telegram.api_base_url",
                Some(telegram.api_base_url.as_str()),
            ),
            ("telegram.webhook_url", telegram.webhook_url.as_deref()),
        ] {
            if telegram.enabled && url.is_some_and(|u| u.starts_with("http://")) {
                return Err(invalid(
                    key,
                    format!(
                        "must be https:// in {environment} (the bot token and the decisions travel in it)"
                    ),
                ));
            }
        }
    }
    let policy = policy(raw.policy)?;
    if environment != Environment::Development
        && telegram.enabled
        && telegram.allowed_user_ids.is_empty()
        && telegram.approvers.is_empty()
    {
        return Err(invalid(
            "telegram.allowed_user_ids",
            format!(
                "is required in {environment}: the Telegram user ids that may press Approve (anyone in the chat otherwise)"
            ),
        ));
    }
    if environment != Environment::Development && claude.allowed_working_directories.is_empty() {
        return Err(invalid(
            "claude.allowed_working_directories",
            format!(
                "is required in {environment}: the directories sessions may work in (and below)"
            ),
        ));
    }
    let tls = tls(environment, &s)?;
    if s.ops_port.is_some_and(|p| p != 0 && p == s.port) {
        return Err(invalid(
            "server.ops_port",
            "must differ from server.port (it is a second listener; 0 or unset: none)",
        ));
    }
    Ok(Settings {
        environment,
        server: ServerSettings {
            host: s.host,
            port: s.port,
            workers: s.workers.filter(|w| *w > 0),
            shutdown_timeout_secs: s.shutdown_timeout_secs,
            swagger_enabled: s.swagger_enabled,
            allowed_origins: s.allowed_origins,
            tls,
            tls_terminated_by_proxy: s.tls_terminated_by_proxy,
            ops_listener: s
                .ops_port
                .filter(|p| *p != 0)
                .map(|p| (s.ops_host.clone(), p)),
        },
        database,
        telegram,
        approvals,
        telemetry,
        claude,
        auth,
        policy,
        node,
        retention,
        budgets,
        config_file,
    })
}

fn node(
    n: crate::config::sections::NodeSection,
) -> Result<crate::config::settings::NodeSettings, ConfigError> {
    if let Some(url) = n.advertise_url.as_deref().filter(|u| !is_http_url(u)) {
        return Err(invalid(
            "node.advertise_url",
            format!("`{url}` is not an http(s) URL"),
        ));
    }
    Ok(crate::config::settings::NodeSettings {
        lease_secs: n.lease_secs.max(3),
        advertise_url: n.advertise_url.map(|u| u.trim_end_matches('/').to_owned()),
    })
}

fn database(environment: Environment, d: DatabaseSection) -> Result<DatabaseSettings, ConfigError> {
    let cs = d
        .connection_string
        .map(|s| s.0)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ConfigError::Missing {
            key: "database.connection_string".into(),
            hint: format!(
                "{environment} has no default database; set DB_CONNECTION_STRING (or ConnectionStrings__DefaultConnection, \
                 or [database] connection_string in the config file)"
            ),
        })?;
    let target = DatabaseTarget::parse(&cs)
        .map_err(|e| invalid("database.connection_string", e.to_string()))?;
    let default_pool = match target.backend() {
        Backend::Sqlite => 8,
        Backend::Postgres => 16,
    };
    // `MaxPoolSize=` in the connection string is the most specific setting: it wins over
    // `database.max_pool_size` (which the shipped config files set).
    let max_size = target
        .max_pool_size()
        .or(d.max_pool_size)
        .unwrap_or(default_pool);
    if max_size == 0 || max_size > 1000 {
        return Err(invalid(
            "database.max_pool_size",
            "must be between 1 and 1000",
        ));
    }
    let sqlite_full_sync = match d.sqlite_synchronous.to_ascii_lowercase().as_str() {
        "full" => true,
        "normal" => false,
        _ => {
            return Err(invalid(
                "database.sqlite_synchronous",
                "must be `full` or `normal`",
            ));
        }
    };
    let pool = PoolSettings {
        max_size,
        min_idle: d.min_idle.min(max_size),
        connection_timeout: std::time::Duration::from_secs(d.connect_timeout_secs.max(1)),
        sqlite_full_sync,
    };
    Ok(DatabaseSettings {
        target,
        pool,
        auto_migrate: d.auto_migrate,
    })
}

fn telegram(t: TelegramSection) -> Result<TelegramSettings, ConfigError> {
    let bot_token = secret(t.bot_token);
    if t.enabled && bot_token.is_none() {
        return Err(ConfigError::Missing {
            key: "telegram.bot_token".into(),
            hint: "Telegram is enabled; set TELEGRAM_BOT_TOKEN (or TelegramEscalation__BotToken, or a _FILE variant), \
                   or disable it with TelegramEscalation__Enabled=false"
                .into(),
        });
    }
    if t.escalation_chat_id.is_some() && t.escalation_chat_id == t.chat_id {
        return Err(invalid(
            "telegram.escalation_chat_id",
            "must be another chat than telegram.chat_id (where approvals nobody decided in time go)",
        ));
    }
    if t.enabled && t.chat_id.is_none() {
        return Err(ConfigError::Missing {
            key: "telegram.chat_id".into(),
            hint: "Telegram is enabled; set TELEGRAM_CHAT_ID (or TelegramEscalation__ChatId)"
                .into(),
        });
    }
    if !is_http_url(&t.api_base_url) {
        return Err(invalid(
            "telegram.api_base_url",
            "must be an http:// or https:// URL",
        ));
    }
    let mode = match t.mode.to_ascii_lowercase().as_str() {
        "polling" => TelegramMode::Polling,
        "webhook" => TelegramMode::Webhook,
        _ => return Err(invalid("telegram.mode", "expected polling or webhook")),
    };
    let webhook_secret = secret(t.webhook_secret);
    if t.enabled && mode == TelegramMode::Webhook {
        if t.webhook_url.as_deref().is_none_or(|u| !is_http_url(u)) {
            return Err(ConfigError::Missing {
                key: "telegram.webhook_url".into(),
                hint: "webhook mode needs the public URL of /api/telegram/webhook (ORCHESTRA__TELEGRAM__WEBHOOK_URL)".into(),
            });
        }
        if webhook_secret.is_none() {
            return Err(ConfigError::Missing {
                key: "telegram.webhook_secret".into(),
                hint: "webhook mode needs a secret token (ORCHESTRA__TELEGRAM__WEBHOOK_SECRET or _FILE)".into(),
            });
        }
    }
    Ok(TelegramSettings {
        enabled: t.enabled,
        bot_token,
        chat_id: t.chat_id,
        escalation_chat_id: t.escalation_chat_id,
        api_base_url: t.api_base_url,
        allowed_user_ids: t.allowed_user_ids,
        approvers: t.approvers,
        mode,
        webhook_url: t.webhook_url.filter(|u| !u.trim().is_empty()),
        webhook_secret,
        poll_timeout_secs: t.poll_timeout_secs.clamp(1, 50),
        grant_minutes: grant_minutes(t.grant_minutes)?,
        retry: TelegramRetry {
            attempts: t.retry_attempts.max(1),
            base_ms: t.retry_base_ms.max(1),
            max_ms: t.retry_max_ms.max(1),
        },
        breaker: TelegramBreaker {
            consecutive_failures: t.breaker_consecutive_failures.max(1),
            failure_rate: t.breaker_failure_rate.clamp(0.0, 1.0),
            min_calls: t.breaker_min_calls,
            window_secs: t.breaker_window_secs.max(1),
            open_secs: t.breaker_open_secs.max(1),
        },
    })
}

fn grant_minutes(minutes: u32) -> Result<u32, ConfigError> {
    if minutes > orchestra_domain::grant::MAX_GRANT_MINUTES {
        return Err(invalid(
            "telegram.grant_minutes",
            format!(
                "is {minutes}; a grant lasts at most {} minutes (7 days); 0 shows no timed button",
                orchestra_domain::grant::MAX_GRANT_MINUTES
            ),
        ));
    }
    Ok(minutes)
}

fn approvals(a: &ApprovalsSection) -> Result<ApprovalSettings, ConfigError> {
    let approvals = ApprovalSettings {
        default_timeout_minutes: a.default_timeout_minutes,
        max_timeout_minutes: a.max_timeout_minutes,
        sweep_interval_secs: a.sweep_interval_secs,
        grace_period_secs: a.grace_period_secs,
        sweep_batch_size: a.sweep_batch_size,
        default_timeout_secs: a
            .default_timeout_secs
            .unwrap_or(u64::from(a.default_timeout_minutes) * 60),
        max_timeout_secs: a
            .max_timeout_secs
            .unwrap_or(u64::from(a.max_timeout_minutes) * 60),
        park_after_secs: a.park_after_secs,
        warn_before_secs: a.warn_before_secs,
        critical_approvers: a.critical_approvers,
        escalate_after_secs: a.escalate_after_secs,
    };
    if !(1..=5).contains(&approvals.critical_approvers) {
        return Err(invalid(
            "approvals.critical_approvers",
            "must be 1 to 5 (different approvers a critical call needs; 2 by default)",
        ));
    }
    if approvals.default_timeout_secs == 0
        || approvals.default_timeout_secs > approvals.max_timeout_secs
    {
        return Err(invalid(
            "approvals.default_timeout_secs",
            "the default timeout must be at least 1 s and at most the maximum timeout",
        ));
    }
    if approvals.park_after_secs == 0 {
        return Err(invalid("approvals.park_after_secs", "must be at least 1"));
    }
    if approvals.default_timeout_minutes == 0
        || approvals.default_timeout_minutes > approvals.max_timeout_minutes
    {
        return Err(invalid(
            "approvals.default_timeout_minutes",
            format!(
                "must be between 1 and max_timeout_minutes ({})",
                approvals.max_timeout_minutes
            ),
        ));
    }
    if approvals.sweep_interval_secs == 0 {
        return Err(invalid(
            "approvals.sweep_interval_secs",
            "must be at least 1",
        ));
    }
    if approvals.sweep_batch_size == 0 {
        return Err(invalid("approvals.sweep_batch_size", "must be at least 1"));
    }
    Ok(approvals)
}

fn telemetry(t: TelemetrySection) -> Result<TelemetrySettings, ConfigError> {
    let log_format = match t.log_format.to_ascii_lowercase().as_str() {
        "text" | "pretty" => LogFormat::Text,
        "json" => LogFormat::Json,
        _ => return Err(invalid("telemetry.log_format", "expected text or json")),
    };
    let otlp_endpoint = t.otlp_endpoint.filter(|e| !e.trim().is_empty());
    if let Some(e) = &otlp_endpoint
        && !is_http_url(e)
    {
        return Err(invalid(
            "telemetry.otlp_endpoint",
            "must be an http:// or https:// URL (OTLP over HTTP)",
        ));
    }
    let log_file = match t.log_file.filter(|f| !f.trim().is_empty()) {
        None => None,
        Some(path) => {
            if t.log_file_max_bytes < 4096 {
                return Err(invalid(
                    "telemetry.log_file_max_bytes",
                    "must be at least 4096",
                ));
            }
            Some(orchestra_telemetry::LogFileSettings {
                path: path.into(),
                max_bytes: t.log_file_max_bytes,
                keep: t.log_file_keep,
            })
        }
    };
    Ok(TelemetrySettings {
        log_level: t.log_level,
        log_format,
        otlp_endpoint,
        service_name: t.service_name,
        log_file,
    })
}

/// Whether `host` is a loopback address (what "local only" means for the listener).
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn auth(environment: Environment, host: &str, a: AuthSection) -> Result<AuthSettings, ConfigError> {
    if a.insecure_disabled && environment != Environment::Development {
        return Err(invalid(
            "auth.insecure_disabled",
            format!("is only allowed in Development, not in {environment}"),
        ));
    }
    if a.insecure_disabled && !is_loopback(host) {
        return Err(invalid(
            "auth.insecure_disabled",
            "is only allowed when server.host is a loopback address (127.0.0.1, ::1, localhost)",
        ));
    }
    let bootstrap = secret(a.bootstrap_admin_key);
    if let Some(key) = &bootstrap
        && !orchestra_application::keys::looks_like_key(secrecy::ExposeSecret::expose_secret(key))
    {
        return Err(invalid(
            "auth.bootstrap_admin_key",
            "is not an Orchestra key (`orch_` and 64 hex digits; `orchestra keys create` makes one)",
        ));
    }
    Ok(AuthSettings {
        insecure_disabled: a.insecure_disabled,
        bootstrap_admin_key: bootstrap,
    })
}

fn tool_rules(key: &str, rules: Vec<String>) -> Result<Vec<String>, ConfigError> {
    rules
        .into_iter()
        .map(|r| r.trim().to_owned())
        .map(|r| {
            if r.is_empty() || r.contains(',') || r.chars().any(char::is_control) {
                Err(invalid(
                    key,
                    format!("`{r}` is not a tool rule (no commas)"),
                ))
            } else {
                Ok(r)
            }
        })
        .collect()
}

fn policy(p: PolicySection) -> Result<PolicySettings, ConfigError> {
    let permission_modes = p
        .permission_modes
        .iter()
        .map(|m| {
            m.parse::<orchestra_domain::PermissionMode>()
                .map_err(|e| invalid("policy.permission_modes", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !permission_modes.contains(&orchestra_domain::PermissionMode::Default) {
        return Err(invalid(
            "policy.permission_modes",
            "must include `default` (what a session gets when it asks for nothing)",
        ));
    }
    Ok(PolicySettings {
        permission_modes,
        client_allowed_tools: tool_rules("policy.client_allowed_tools", p.client_allowed_tools)?,
        denied_tools: tool_rules("policy.denied_tools", p.denied_tools)?,
        tools: orchestra_domain::policy::ToolPolicy::parse(&p.rules)
            .map_err(|e| invalid("policy.rules", e.to_string()))?,
    })
}

fn tls(
    environment: Environment,
    s: &super::sections::ServerSection,
) -> Result<Option<crate::tls::TlsFiles>, ConfigError> {
    let file = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    };
    match (file(&s.tls_cert_file), file(&s.tls_key_file)) {
        (Some(cert), Some(key)) => Ok(Some(crate::tls::TlsFiles { cert, key })),
        (None, None) if environment == Environment::Production && !s.tls_terminated_by_proxy => {
            Err(invalid(
                "server.tls_cert_file",
                "TLS is required in Production: set server.tls_cert_file and server.tls_key_file, \
                 or server.tls_terminated_by_proxy = true when a proxy in front terminates it",
            ))
        }
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid(
            "server.tls_key_file",
            "is required with server.tls_cert_file",
        )),
        (None, Some(_)) => Err(invalid(
            "server.tls_cert_file",
            "is required with server.tls_key_file",
        )),
    }
}
