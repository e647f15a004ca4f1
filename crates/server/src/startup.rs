//! The composition root: builds adapters from settings, hands them to the application as
//! `Arc<dyn Port>`, mounts the API and starts the background services; `run.rs` serves and
//! shuts everything down in order.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer, middleware::from_fn, web};
use anyhow::Context;
use orchestra_api::auth::AuthMode;
use orchestra_api::{AppState, ApprovalHandlers, ServiceInfo, SessionHandlers};
use orchestra_application::approvals::{
    ApprovalDeps, ApprovalEvent, ApprovalEvents, CancelApprovalHandler, CancelTestApprovalsHandler,
    CreateTestApprovalHandler, DecideApprovalHandler, ExpireApprovalsHandler, GetApprovalHandler,
    ListApprovalsHandler, NotificationDispatcher, RequestApprovalHandler,
};
use orchestra_application::approvals::{ChannelPolicy, DecideFromChannelHandler, QueueGauge};
use orchestra_application::audit::AuditTrail;
use orchestra_application::diagnostics::DatabaseDiagnosticsHandler;
use orchestra_application::escalation::{Escalation, EscalationDeps, EscalationSettings};
use orchestra_application::keys::Authenticator;
use orchestra_application::leases::NodeLeases;
use orchestra_application::ports::{
    AgentRuntime, ApiKeyRepository, ApprovalNotifier, ApprovalRepository, Clock, DatabaseProbe,
    DisabledNotifier, SessionRepository, SystemClock, TurnRepository,
};
use orchestra_application::ports::{ChannelStateRepository, InboundChannel};
use orchestra_application::sessions::{
    AgentCatalog, CountSessionsHandler, GetSessionHandler, GetTurnHandler, ListSessionsHandler,
    ListTurnsHandler, LogBounds, SessionCommands, SessionDeps, SessionPolicy, SessionSettings,
    TranscriptSync,
};
use orchestra_claude::{ClaudeRuntime, ClaudeTranscriptFiles};
use orchestra_db::{
    Database, DecisionListener, DieselApiKeyRepository, DieselApprovalRepository,
    DieselAuditRepository, DieselChannelStateRepository, DieselDatabaseProbe,
    DieselEventTailRepository, DieselLeaseRepository, DieselSessionRepository,
    DieselTranscriptRepository, DieselTurnRepository,
};
use orchestra_domain::approval::ApprovalTimeoutPolicy;
use orchestra_resilience::{BreakerSettings, CircuitBreakerNotifier};
use orchestra_telegram::{TelegramApi, TelegramNotifier, TelegramUpdates};
use orchestra_telemetry::MetricsHandle;
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::adapters::{claude_settings, open_database, telegram_settings};
use crate::background::{self, Shutdown};
use crate::config::{Settings, TelegramMode};

mod run;

pub use run::shutdown_signal;

/// The service version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A built, bound, not-yet-running service.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    ops: Option<(u16, actix_web::dev::Server)>,
    stop_background: watch::Sender<bool>,
    background: Vec<JoinHandle<()>>,
    database: Database,
    sessions: SessionCommands,
    api_keys: Arc<dyn ApiKeyRepository>,
    /// The event streams' caps; closes every stream when the server stops.
    sse: orchestra_api::sse_limits::SseLimits,
    /// This node's leases, released at a graceful stop (the other nodes take over at once).
    leases: NodeLeases,
    /// PostgreSQL's announcements of decisions (any node's); `None` on SQLite.
    decision_listener: Option<DecisionListener>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds everything and binds the listener (port 0 picks a free port).
    ///
    /// # Errors
    /// When the database or the listener cannot be set up.
    pub async fn build(
        settings: &Settings,
        metrics: MetricsHandle,
        force_migrate: bool,
    ) -> anyhow::Result<Self> {
        let database = open_database(settings, force_migrate).await?;

        // Adapters behind ports.
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let approvals_repo: Arc<dyn ApprovalRepository> =
            Arc::new(DieselApprovalRepository::new(database.clone()));
        let sessions_repo: Arc<dyn SessionRepository> =
            Arc::new(DieselSessionRepository::new(database.clone()));
        let grants_repo: Arc<dyn orchestra_application::ports::GrantRepository> =
            Arc::new(orchestra_db::DieselGrantRepository::new(database.clone()));
        let probe: Arc<dyn DatabaseProbe> = Arc::new(DieselDatabaseProbe::new(database.clone()));
        let turns_repo: Arc<dyn TurnRepository> =
            Arc::new(DieselTurnRepository::new(database.clone()));
        let channel_state: Arc<dyn ChannelStateRepository> =
            Arc::new(DieselChannelStateRepository::new(database.clone()));
        let claude_runtime = ClaudeRuntime::new(claude_settings(settings));
        let transcript_files = ClaudeTranscriptFiles::new(claude_runtime.clone());
        let runtime: Arc<dyn AgentRuntime> = Arc::new(claude_runtime);
        let telegram_api = if settings.telegram.enabled {
            Some(Arc::new(TelegramApi::new(&telegram_settings(settings)?)?))
        } else {
            None
        };
        let notifier: Arc<dyn ApprovalNotifier> = match &telegram_api {
            Some(api) => {
                let t = &settings.telegram;
                let mode = if t.mode == TelegramMode::Webhook {
                    "webhook"
                } else {
                    "polling"
                };
                let telegram: Arc<dyn ApprovalNotifier> = Arc::new(
                    TelegramNotifier::new(
                        Arc::clone(api),
                        t.chat_id.unwrap_or_default(),
                        clock.clone(),
                        mode,
                    )
                    .with_grant_minutes(t.grant_minutes)
                    .with_escalation_chat(t.escalation_chat_id),
                );
                Arc::new(CircuitBreakerNotifier::new(
                    telegram,
                    BreakerSettings {
                        consecutive_failures: t.breaker.consecutive_failures,
                        failure_rate: t.breaker.failure_rate,
                        min_calls: t.breaker.min_calls,
                        window: Duration::from_secs(t.breaker.window_secs),
                        open_for: Duration::from_secs(t.breaker.open_secs),
                    },
                ))
            }
            None => Arc::new(DisabledNotifier),
        };

        // Application handlers.
        let a = &settings.approvals;
        let policy = ApprovalTimeoutPolicy {
            default_timeout: chrono::Duration::seconds(
                i64::try_from(a.default_timeout_secs).unwrap_or(i64::MAX),
            ),
            max_timeout: chrono::Duration::seconds(
                i64::try_from(a.max_timeout_secs).unwrap_or(i64::MAX),
            ),
            grace: chrono::Duration::seconds(
                i64::try_from(a.grace_period_secs).unwrap_or(i64::MAX),
            ),
        };
        let events = ApprovalEvents::default();
        let dispatcher =
            NotificationDispatcher::new(Arc::clone(&notifier), Arc::clone(&approvals_repo))
                .with_clock(clock.clone());
        let outbox = orchestra_application::approvals::NotificationOutbox::new(
            Arc::clone(&approvals_repo),
            dispatcher.clone(),
            clock.clone(),
        );
        let audit = AuditTrail::new(
            Arc::new(DieselAuditRepository::new(database.clone())),
            clock.clone(),
        );
        crate::policy_audit::record_if_changed(
            &settings.policy_text(),
            channel_state.as_ref(),
            &audit,
            clock.as_ref(),
        )
        .await;
        let deps = ApprovalDeps {
            audit: Some(audit.clone()),
            repo: approvals_repo.clone(),
            clock: clock.clone(),
            policy,
            events: events.clone(),
            dispatcher,
            queue_gauge: QueueGauge::new(approvals_repo.clone()),
            agent_home: settings.claude.home.clone(),
        };
        let request = RequestApprovalHandler::new(deps.clone());
        let cancel = CancelApprovalHandler::new(deps.clone());
        let decide = DecideApprovalHandler::new(deps.clone());
        let get_approval = GetApprovalHandler::new(approvals_repo.clone());
        let mut expire = ExpireApprovalsHandler::new(deps, a.sweep_batch_size).with_warning(
            chrono::Duration::seconds(i64::try_from(a.warn_before_secs).unwrap_or(0)),
        );
        if settings.telegram.enabled
            && settings.telegram.escalation_chat_id.is_some()
            && a.escalate_after_secs > 0
        {
            expire = expire.with_escalation(chrono::Duration::seconds(
                i64::try_from(a.escalate_after_secs).unwrap_or(i64::MAX),
            ));
        }

        let c = &settings.claude;
        let escalation = Escalation::new(
            EscalationDeps {
                request: request.clone(),
                cancel: cancel.clone(),
                repo: approvals_repo.clone(),
                events: events.clone(),
                grants: grants_repo.clone(),
                clock: clock.clone(),
            },
            EscalationSettings {
                park_after: Duration::from_secs(a.park_after_secs),
                timeout: None,
                live_prompts: c.live_permission_prompts,
                node_id: c.node_id.clone(),
                policy: Arc::new(settings.policy.tools.clone()),
                agent_home: c.home.clone(),
                critical_approvers: a.critical_approvers,
            },
        );
        let trace: Arc<dyn orchestra_application::ports::TraceContext> =
            Arc::new(orchestra_telemetry::W3cTraceContext::new());
        let session_deps = SessionDeps::new(
            sessions_repo.clone(),
            turns_repo.clone(),
            runtime.clone(),
            clock.clone(),
            SessionSettings {
                default_agent_id: "claude-code".into(),
                max_live_processes: c.max_live_processes,
                spawn_queue_timeout: Duration::from_secs(c.spawn_queue_timeout_secs),
                inactivity_timeout: Duration::from_secs(c.inactivity_timeout_secs),
                tool_timeout: Duration::from_secs(c.tool_timeout_secs),
                idle_suspend: (c.idle_suspend_secs > 0)
                    .then(|| Duration::from_secs(c.idle_suspend_secs)),
                max_prompt_chars: c.max_prompt_chars,
                event_log: LogBounds {
                    events: c.event_buffer,
                    bytes: c.event_buffer_bytes,
                    payload_bytes: c.event_payload_max_bytes,
                },
                event_log_idle: Duration::from_secs(c.event_log_idle_secs),
                idle_event_log_bytes: c.idle_event_logs_max_bytes,
                allowed_working_directories: c.allowed_working_directories.clone(),
                policy: SessionPolicy {
                    permission_modes: settings.policy.permission_modes.clone(),
                    client_allowed_tools: settings.policy.client_allowed_tools.clone(),
                },
                budgets: settings.budgets.clone(),
            },
            Some(escalation),
        );
        let session_deps = session_deps.with_spend(Arc::new(
            orchestra_db::DieselSpendRepository::new(database.clone()),
        ));
        let leases = NodeLeases::new(
            Arc::new(DieselLeaseRepository::new(database.clone())),
            clock.clone(),
            c.node_id.clone(),
            settings.node.advertise_url.clone(),
            Duration::from_secs(settings.node.lease_secs),
        );
        let mut session_deps = session_deps
            .with_audit(audit.clone())
            .with_leases(leases.clone())
            .with_trace(Arc::clone(&trace))
            .with_event_tails(Arc::new(DieselEventTailRepository::new(database.clone())));
        if c.store_transcripts {
            session_deps = session_deps.with_transcripts(TranscriptSync::new(
                Arc::new(transcript_files),
                Arc::new(DieselTranscriptRepository::new(database.clone())),
                clock.clone(),
            ));
        }
        let sessions = SessionCommands::new(&session_deps);

        // API keys: the authenticator, and an admin who can get in.
        let keys_repo: Arc<dyn ApiKeyRepository> =
            Arc::new(DieselApiKeyRepository::new(database.clone()));
        crate::keys::bootstrap(settings, keys_repo.clone()).await?;
        let auth = if settings.auth.insecure_disabled {
            tracing::warn!(
                address = %settings.server.host,
                "AUTHENTICATION IS OFF (auth.insecure_disabled): every local process, agents included, can start sessions and decide approvals"
            );
            AuthMode::InsecureDisabled
        } else {
            let authenticator = Authenticator::new(keys_repo.clone());
            let known = authenticator.warm().await?;
            tracing::info!(keys = known, "API keys loaded");
            AuthMode::Keys(authenticator)
        };
        let agents = Arc::new(AgentCatalog::new(runtime.clone(), clock.clone()));
        // Before serving: stop what an earlier Orchestra left running and make the database
        // truthful about it.
        let recovered = sessions.recovery.recover().await?;
        if recovered.sessions_failed > 0 || recovered.turns_lost > 0 {
            tracing::info!(
                sessions_failed = recovered.sessions_failed,
                turns_lost = recovered.turns_lost,
                "sessions recovered after an unclean stop"
            );
        }
        if recovered.sessions_suspended > 0 {
            tracing::info!(
                sessions_suspended = recovered.sessions_suspended,
                "active sessions without a process are suspended; a message resumes each"
            );
        }

        // Telegram updates (button presses).
        let telegram_updates = telegram_api.as_ref().map(|api| {
            let t = &settings.telegram;
            Arc::new(
                TelegramUpdates::new(
                    Arc::clone(api),
                    DecideFromChannelHandler::new(
                        decide.clone(),
                        get_approval.clone(),
                        ChannelPolicy {
                            chat_id: t.chat_id.unwrap_or_default(),
                            escalation_chat_id: t.escalation_chat_id,
                            allowed_user_ids: t.allowed_user_ids.clone(),
                            approvers: t.approvers.clone(),
                        },
                    ),
                    channel_state.clone(),
                    clock.clone(),
                    t.poll_timeout_secs,
                    t.webhook_secret
                        .as_ref()
                        .map(|s| s.expose_secret().to_owned()),
                )
                .with_leader(leases.clone()),
            )
        });
        if let Some(api) = &telegram_api {
            crate::adapters::register_webhook(settings, api).await;
        }
        let inbound: Option<Arc<dyn InboundChannel>> = telegram_updates
            .clone()
            .map(|t| t as Arc<dyn InboundChannel>);

        let sse = orchestra_api::sse_limits::SseLimits::default();
        let state = AppState {
            approval_events: events.clone(),
            policy: crate::adapters::policy_info(settings),
            trace: Arc::clone(&trace),
            sse: sse.clone(),
            auth,
            allowed_origins: settings.server.allowed_origins.clone(),
            audit: audit.clone(),
            approvals: ApprovalHandlers {
                create_test: CreateTestApprovalHandler::new(request.clone()),
                cancel_tests: CancelTestApprovalsHandler::new(cancel.clone()),
                decide,
                cancel,
                get: get_approval,
                list: ListApprovalsHandler::new(approvals_repo.clone()),
                file_preview: orchestra_application::approvals::FilePreviewHandler::new(
                    approvals_repo.clone(),
                    Arc::new(orchestra_claude::DiskWorkspaceFiles),
                ),
            },
            sessions: SessionHandlers {
                get: GetSessionHandler::new(sessions_repo.clone()),
                list: ListSessionsHandler::new(sessions_repo.clone()),
                count: CountSessionsHandler::new(sessions_repo.clone()),
                commands: sessions.clone(),
                get_turn: GetTurnHandler::new(turns_repo.clone()),
                list_turns: ListTurnsHandler::new(turns_repo.clone()),
                agents: agents.clone(),
                grants: orchestra_application::grants::GrantHandlers::new(
                    grants_repo.clone(),
                    sessions_repo.clone(),
                    clock.clone(),
                    true,
                ),
            },
            database: DatabaseDiagnosticsHandler::new(probe),
            notifier,
            inbound,
            render_metrics: {
                let m = metrics.clone();
                Arc::new(move || m.render())
            },
            info: ServiceInfo {
                version: VERSION.to_owned(),
                environment: settings.environment.as_str().to_owned(),
                started_at: clock.now(),
                started: Instant::now(),
            },
        };

        // Background services.
        let (stop_background, shutdown) = Shutdown::new();
        let mut background = vec![
            background::spawn_approval_timeout_service(
                expire,
                Duration::from_secs(a.sweep_interval_secs),
                shutdown.clone(),
            ),
            background::spawn_notification_outbox(
                outbox,
                background::OUTBOX_INTERVAL,
                shutdown.clone(),
            ),
            background::spawn_agent_discovery(
                agents,
                Duration::from_secs(settings.claude.discovery_interval_secs),
                shutdown.clone(),
            ),
            background::spawn_agent_health_check(
                sessions.health.clone(),
                Duration::from_secs(settings.claude.health_check_interval_secs),
                shutdown.clone(),
            ),
            background::spawn_escalation(sessions.escalation.clone(), shutdown.clone()),
            background::spawn_lease_heartbeat(sessions.heartbeat.clone(), shutdown.clone()),
            background::spawn_metrics_upkeep(metrics, shutdown.clone()),
        ];
        // Decisions made on any node reach the agents waiting here at once (the feed's
        // database poll stays as the fallback).
        let decision_listener = {
            let events = events.clone();
            DecisionListener::start(&database, move |id| {
                events.publish(ApprovalEvent::DecidedInDatabase(id));
            })
            .context("cannot start the decision listener thread")?
        };
        background.extend(crate::retention::spawn(
            crate::retention::service(settings, database.clone(), audit.clone(), clock.clone()),
            leases.clone(),
            Duration::from_secs(settings.retention.interval_secs),
            shutdown.clone(),
        ));
        if let (Some(updates), TelegramMode::Polling) = (telegram_updates, settings.telegram.mode) {
            background.push(tokio::spawn(updates.run_polling(shutdown.receiver())));
        }

        // HTTP.
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!(
                    "cannot listen on {}:{}",
                    settings.server.host, settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let data = state.into_data();
        let ops = match &settings.server.ops_listener {
            Some((host, ops_port)) => Some(crate::ops::start(
                host,
                *ops_port,
                data.clone(),
                settings.server.shutdown_timeout_secs,
            )?),
            None => None,
        };
        let routes = orchestra_api::Routes {
            swagger: settings.server.swagger_enabled,
            metrics: ops.is_none(),
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(orchestra_api::forward::to_owner))
                .wrap(from_fn(orchestra_api::auth::authorize))
                .wrap(from_fn(orchestra_api::middleware::observe))
                .app_data(data.clone())
                .configure(|cfg| orchestra_api::configure(cfg, routes))
                .default_service(web::to(orchestra_api::not_found))
        });
        let server = match &settings.server.tls {
            Some(files) => {
                let files_for_load = files.clone();
                let resolver = tokio::task::spawn_blocking(move || {
                    crate::tls::ReloadingResolver::new(files_for_load)
                })
                .await
                .context("the TLS load task failed")??;
                let config = resolver.server_config()?;
                background.push(crate::tls::spawn_reload_on_sighup(
                    resolver,
                    shutdown.clone(),
                )?);
                tracing::info!(cert = %files.cert.display(), "serving HTTPS (certificate reloaded on SIGHUP)");
                server.listen_rustls_0_23(listener, config)?
            }
            None => {
                if settings.server.tls_terminated_by_proxy {
                    tracing::info!(
                        "serving plain HTTP behind a TLS-terminating proxy (server.tls_terminated_by_proxy)"
                    );
                }
                server.listen(listener)?
            }
        };
        let mut server = server
            .shutdown_timeout(settings.server.shutdown_timeout_secs)
            .tcp_nodelay(true)
            .disable_signals();
        if let Some(w) = settings.server.workers {
            server = server.workers(w);
        }
        let server = server.run();

        if !settings.database.pool.sqlite_full_sync
            && database.backend() == orchestra_db::Backend::Sqlite
        {
            tracing::warn!(
                "database.sqlite_synchronous = normal: a power loss may lose the last committed decisions (durability weakened by configuration)"
            );
        }
        if settings.approvals.critical_approvers == 1 {
            tracing::warn!(
                "approvals.critical_approvers = 1: one approver decides a critical call (the two-person rule is off by configuration)"
            );
        }
        tracing::info!(
            address = %format!("{}:{port}", settings.server.host),
            environment = %settings.environment,
            database.backend = %database.backend(),
            database.location = %database.location(),
            telegram.enabled = settings.telegram.enabled,
            otlp = settings.telemetry.otlp_endpoint.is_some(),
            version = VERSION,
            "Orchestra listening on http://{}:{port}",
            settings.server.host
        );
        Ok(Self {
            port,
            server,
            ops,
            stop_background,
            background,
            database,
            sessions,
            api_keys: keys_repo,
            sse,
            leases,
            decision_listener,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The operations listener's bound port, when there is one.
    pub fn ops_port(&self) -> Option<u16> {
        self.ops.as_ref().map(|(p, _)| *p)
    }

    /// The database (for tests and diagnostics).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The API keys (for tests and tools).
    pub fn api_keys(&self) -> Arc<dyn ApiKeyRepository> {
        Arc::clone(&self.api_keys)
    }

    /// The session manager (for tests).
    pub fn sessions(&self) -> &SessionCommands {
        &self.sessions
    }
}
