//! `orchestra check-config`: the effective settings as TOML, secrets replaced by `[redacted]`.

use orchestra_telemetry::LogFormat;

use super::settings::Settings;

type Lines = Vec<(&'static str, String)>;

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn unset() -> String {
    "\"\"  # not set".to_owned()
}

impl Settings {
    /// The effective configuration as TOML, secrets replaced by `[redacted]`.
    pub fn to_redacted_toml(&self) -> String {
        let sections: Vec<(&str, Lines)> = vec![
            ("", self.top_lines()),
            ("server", self.server_lines()),
            ("database", self.database_lines()),
            ("telegram", self.telegram_lines()),
            ("approvals", self.approval_lines()),
            ("claude", self.claude_lines()),
            ("telemetry", self.telemetry_lines()),
            ("auth", self.auth_lines()),
            ("policy", self.policy_lines()),
            ("node", self.node_lines()),
            ("retention", self.retention_lines()),
            ("budgets", self.budget_lines()),
        ];
        let mut out = String::new();
        for (section, lines) in sections {
            if !section.is_empty() {
                out.push_str(&format!("\n[{section}]\n"));
            }
            for (k, v) in lines {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    }

    fn top_lines(&self) -> Lines {
        vec![
            ("environment", q(self.environment.as_str())),
            (
                "config_file",
                self.config_file
                    .as_ref()
                    .map_or_else(unset, |p| q(&p.display().to_string())),
            ),
        ]
    }

    fn server_lines(&self) -> Lines {
        let s = &self.server;
        vec![
            ("host", q(&s.host)),
            (
                "tls_cert_file",
                s.tls
                    .as_ref()
                    .map_or_else(unset, |t| q(&t.cert.display().to_string())),
            ),
            (
                "tls_key_file",
                s.tls
                    .as_ref()
                    .map_or_else(unset, |t| q(&t.key.display().to_string())),
            ),
            (
                "tls_terminated_by_proxy",
                s.tls_terminated_by_proxy.to_string(),
            ),
            (
                "ops_port",
                s.ops_listener.as_ref().map_or_else(
                    || "0  # not set: /metrics and /health on the main listener".into(),
                    |(_, p)| p.to_string(),
                ),
            ),
            (
                "ops_host",
                q(s.ops_listener
                    .as_ref()
                    .map_or("127.0.0.1", |(h, _)| h.as_str())),
            ),
            (
                "allowed_origins",
                format!(
                    "[{}]",
                    s.allowed_origins
                        .iter()
                        .map(|o| q(o))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            ("port", s.port.to_string()),
            (
                "workers",
                s.workers
                    .map_or_else(|| "0  # one per core".into(), |w| w.to_string()),
            ),
            ("shutdown_timeout_secs", s.shutdown_timeout_secs.to_string()),
            ("swagger_enabled", s.swagger_enabled.to_string()),
        ]
    }

    fn database_lines(&self) -> Lines {
        let d = &self.database;
        vec![
            ("backend", q(d.target.backend().as_str())),
            ("location", q(&d.target.location())),
            ("connection_string", q("[redacted]")),
            ("max_pool_size", d.pool.max_size.to_string()),
            ("min_idle", d.pool.min_idle.to_string()),
            (
                "connect_timeout_secs",
                d.pool.connection_timeout.as_secs().to_string(),
            ),
            ("auto_migrate", d.auto_migrate.to_string()),
            (
                "sqlite_synchronous",
                q(if d.pool.sqlite_full_sync {
                    "full"
                } else {
                    "normal"
                }),
            ),
        ]
    }

    fn telegram_lines(&self) -> Lines {
        let t = &self.telegram;
        vec![
            ("enabled", t.enabled.to_string()),
            (
                "bot_token",
                t.bot_token.as_ref().map_or_else(unset, |_| q("[redacted]")),
            ),
            (
                "chat_id",
                t.chat_id
                    .map_or_else(|| "0  # not set".into(), |c| c.to_string()),
            ),
            (
                "escalation_chat_id",
                t.escalation_chat_id
                    .map_or_else(|| "0  # not set".into(), |c| c.to_string()),
            ),
            ("api_base_url", q(&t.api_base_url)),
            ("allowed_user_ids", format!("{:?}", t.allowed_user_ids)),
            ("approvers", format!("{:?}", t.approvers)),
            ("mode", q(t.mode.as_str())),
            (
                "webhook_url",
                t.webhook_url.as_deref().map_or_else(unset, q),
            ),
            (
                "webhook_secret",
                t.webhook_secret
                    .as_ref()
                    .map_or_else(unset, |_| q("[redacted]")),
            ),
            ("poll_timeout_secs", t.poll_timeout_secs.to_string()),
            ("grant_minutes", t.grant_minutes.to_string()),
            ("retry_attempts", t.retry.attempts.to_string()),
            ("retry_base_ms", t.retry.base_ms.to_string()),
            ("retry_max_ms", t.retry.max_ms.to_string()),
            (
                "breaker_consecutive_failures",
                t.breaker.consecutive_failures.to_string(),
            ),
            ("breaker_failure_rate", t.breaker.failure_rate.to_string()),
            ("breaker_min_calls", t.breaker.min_calls.to_string()),
            ("breaker_window_secs", t.breaker.window_secs.to_string()),
            ("breaker_open_secs", t.breaker.open_secs.to_string()),
        ]
    }

    fn approval_lines(&self) -> Lines {
        let a = &self.approvals;
        vec![
            (
                "default_timeout_minutes",
                a.default_timeout_minutes.to_string(),
            ),
            ("max_timeout_minutes", a.max_timeout_minutes.to_string()),
            ("sweep_interval_secs", a.sweep_interval_secs.to_string()),
            ("grace_period_secs", a.grace_period_secs.to_string()),
            ("sweep_batch_size", a.sweep_batch_size.to_string()),
            ("default_timeout_secs", a.default_timeout_secs.to_string()),
            ("max_timeout_secs", a.max_timeout_secs.to_string()),
            ("park_after_secs", a.park_after_secs.to_string()),
            ("warn_before_secs", a.warn_before_secs.to_string()),
            ("critical_approvers", a.critical_approvers.to_string()),
            ("escalate_after_secs", a.escalate_after_secs.to_string()),
        ]
    }

    fn claude_lines(&self) -> Lines {
        let c = &self.claude;
        let g = c.stop_grace;
        vec![
            ("binary", q(&c.binary)),
            (
                "home",
                c.home
                    .as_deref()
                    .map_or_else(|| "\"\"  # Orchestra's HOME".to_owned(), q),
            ),
            ("runtime_dir", q(&c.runtime_dir)),
            ("node_id", q(&c.node_id)),
            ("max_live_processes", c.max_live_processes.to_string()),
            (
                "spawn_queue_timeout_secs",
                c.spawn_queue_timeout_secs.to_string(),
            ),
            ("startup_timeout_secs", c.startup_timeout_secs.to_string()),
            (
                "inactivity_timeout_secs",
                c.inactivity_timeout_secs.to_string(),
            ),
            ("tool_timeout_secs", c.tool_timeout_secs.to_string()),
            (
                "health_check_interval_secs",
                c.health_check_interval_secs.to_string(),
            ),
            ("idle_suspend_secs", c.idle_suspend_secs.to_string()),
            ("store_transcripts", c.store_transcripts.to_string()),
            ("telemetry", c.telemetry.to_string()),
            (
                "discovery_interval_secs",
                c.discovery_interval_secs.to_string(),
            ),
            ("max_retries", c.max_retries.to_string()),
            ("api_timeout_ms", c.api_timeout_ms.to_string()),
            ("max_prompt_chars", c.max_prompt_chars.to_string()),
            ("event_buffer", c.event_buffer.to_string()),
            ("event_buffer_bytes", c.event_buffer_bytes.to_string()),
            (
                "event_payload_max_bytes",
                c.event_payload_max_bytes.to_string(),
            ),
            ("event_log_idle_secs", c.event_log_idle_secs.to_string()),
            (
                "idle_event_logs_max_bytes",
                c.idle_event_logs_max_bytes.to_string(),
            ),
            ("max_line_bytes", c.max_line_bytes.to_string()),
            (
                "allowed_working_directories",
                format!("{:?}", c.allowed_working_directories),
            ),
            ("pass_env", format!("{:?}", c.pass_env)),
            (
                "live_permission_prompts",
                c.live_permission_prompts.to_string(),
            ),
            (
                "run_as_user",
                c.run_as.as_ref().map_or_else(unset, |u| q(&u.name)),
            ),
            (
                "max_memory_mb",
                c.max_memory_mb.map_or_else(unset, |m| m.to_string()),
            ),
            (
                "max_tasks",
                c.max_tasks.map_or_else(unset, |n| n.to_string()),
            ),
            ("stop_interrupt_grace_ms", g.interrupt_ms.to_string()),
            ("stop_eof_grace_ms", g.eof_ms.to_string()),
            ("stop_sigint_grace_ms", g.sigint_ms.to_string()),
            ("stop_sigterm_grace_ms", g.sigterm_ms.to_string()),
            ("stop_sigkill_grace_ms", g.sigkill_ms.to_string()),
            (
                "env",
                // Names only: the values may be secrets.
                format!(
                    "{{ {} }}",
                    c.env
                        .iter()
                        .map(|(k, _)| format!("{k} = \"[redacted]\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        ]
    }

    fn node_lines(&self) -> Lines {
        let n = &self.node;
        vec![
            ("lease_secs", n.lease_secs.to_string()),
            (
                "advertise_url",
                n.advertise_url.as_deref().map_or_else(unset, q),
            ),
        ]
    }

    fn retention_lines(&self) -> Lines {
        let r = &self.retention;
        vec![
            ("days", r.days.to_string()),
            ("archive", r.archive_dir.is_some().to_string()),
            (
                "archive_dir",
                r.archive_dir
                    .as_ref()
                    .map_or_else(unset, |d| q(&d.display().to_string())),
            ),
            ("batch_size", r.batch_size.to_string()),
            ("interval_secs", r.interval_secs.to_string()),
        ]
    }

    fn budget_lines(&self) -> Lines {
        let b = &self.budgets;
        vec![
            ("session_usd", b.session_usd.unwrap_or(0.0).to_string()),
            ("daily_key_usd", b.daily_key_usd.unwrap_or(0.0).to_string()),
            ("session_turns", b.session_turns.unwrap_or(0).to_string()),
            (
                "root_turns",
                format!(
                    "[{}]",
                    b.root_turns
                        .iter()
                        .map(|(r, n)| q(&format!("{r}={n}")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (
                "roots",
                format!(
                    "[{}]",
                    b.roots
                        .iter()
                        .map(|(r, usd)| q(&format!("{r}={usd}")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        ]
    }

    fn telemetry_lines(&self) -> Lines {
        let t = &self.telemetry;
        vec![
            ("log_level", q(&t.log_level)),
            (
                "log_format",
                q(match t.log_format {
                    LogFormat::Text => "text",
                    LogFormat::Json => "json",
                }),
            ),
            (
                "otlp_endpoint",
                t.otlp_endpoint.as_deref().map_or_else(unset, q),
            ),
            ("service_name", q(&t.service_name)),
            (
                "log_file",
                t.log_file
                    .as_ref()
                    .map_or_else(unset, |f| q(&f.path.display().to_string())),
            ),
            (
                "log_file_max_bytes",
                t.log_file
                    .as_ref()
                    .map_or_else(unset, |f| f.max_bytes.to_string()),
            ),
            (
                "log_file_keep",
                t.log_file
                    .as_ref()
                    .map_or_else(unset, |f| f.keep.to_string()),
            ),
        ]
    }

    fn auth_lines(&self) -> Lines {
        let a = &self.auth;
        vec![
            ("insecure_disabled", a.insecure_disabled.to_string()),
            (
                "bootstrap_admin_key",
                if a.bootstrap_admin_key.is_some() {
                    q("[redacted]")
                } else {
                    unset()
                },
            ),
        ]
    }

    /// What a client may and may not get, as text: the `[policy]` section and the
    /// working-directory roots. Its change between two starts is audited (`policy.change`).
    pub fn policy_text(&self) -> String {
        let mut out = String::from("[policy]\n");
        for (k, v) in self.policy_lines() {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out.push_str(&format!(
            "claude.allowed_working_directories = {:?}\n",
            self.claude.allowed_working_directories
        ));
        out
    }

    fn policy_lines(&self) -> Lines {
        let list = |items: Vec<String>| {
            format!(
                "[{}]",
                items.iter().map(|i| q(i)).collect::<Vec<_>>().join(", ")
            )
        };
        let p = &self.policy;
        vec![
            (
                "permission_modes",
                list(
                    p.permission_modes
                        .iter()
                        .map(|m| m.as_str().to_owned())
                        .collect(),
                ),
            ),
            ("client_allowed_tools", list(p.client_allowed_tools.clone())),
            ("denied_tools", list(p.denied_tools.clone())),
            (
                "rules",
                list(p.tools.rules().iter().map(|r| r.text.clone()).collect()),
            ),
        ]
    }
}
