//! Metric names: they are part of the external contract (dashboards, alert rules), so they
//! are spelled once, here, and described at startup by the telemetry adapter.

/// Gauge: approvals currently Pending.
pub const ESCALATION_QUEUE_SIZE: &str = "escalation_queue_size";
/// Counter: approvals created.
pub const ESCALATION_QUEUE_ENQUEUE_TOTAL: &str = "escalation_queue_enqueue_total";
/// Counter: approvals that left Pending (any outcome).
pub const ESCALATION_QUEUE_DEQUEUE_TOTAL: &str = "escalation_queue_dequeue_total";
/// Counter: approvals approved.
pub const ESCALATION_APPROVALS_ACCEPTED_TOTAL: &str = "escalation_approvals_accepted_total";
/// Counter: approvals rejected.
pub const ESCALATION_APPROVALS_REJECTED_TOTAL: &str = "escalation_approvals_rejected_total";
/// Counter: approvals expired.
pub const ESCALATION_APPROVALS_TIMEOUT_TOTAL: &str = "escalation_approvals_timeout_total";
/// Counter: approvals cancelled.
pub const ESCALATION_APPROVALS_CANCELLED_TOTAL: &str = "escalation_approvals_cancelled_total";
/// Histogram: seconds from creation to decision (labels `channel`: `telegram`, `api`,
/// `system` (the deadline), `other`; `outcome`: the approval's status).
pub const ESCALATION_RESPONSE_TIME_SECONDS: &str = "escalation_response_time_seconds";
/// Gauge: 1 while the approval timeout service sweeps successfully.
pub const APPROVAL_TIMEOUT_SERVICE_HEALTH: &str = "approval_timeout_service_health";
/// Counter: sweeps run by the approval timeout service.
pub const APPROVAL_TIMEOUT_SWEEPS_TOTAL: &str = "approval_timeout_sweeps_total";

/// Counter: Telegram Bot API calls.
pub const TELEGRAM_API_REQUESTS_TOTAL: &str = "telegram_api_requests_total";
/// Counter: failed Telegram Bot API calls.
pub const TELEGRAM_API_FAILURES_TOTAL: &str = "telegram_api_failures_total";
/// Counter: Telegram Bot API retries.
pub const TELEGRAM_API_RETRY_ATTEMPTS_TOTAL: &str = "telegram_api_retry_attempts_total";
/// Histogram: Telegram Bot API call duration.
pub const TELEGRAM_API_DURATION_SECONDS: &str = "telegram_api_duration_seconds";
/// Counter: failed deliveries to the human channel (`message`: `request`, `update`,
/// `warning`); each is retried by the outbox.
pub const ESCALATION_NOTIFICATIONS_FAILED_TOTAL: &str = "escalation_notifications_failed_total";
/// Counter: decisions nobody had acted on (a crash, a database error, another node) that
/// the recovery pass carried out.
pub const ESCALATION_DECISIONS_RECOVERED_TOTAL: &str = "escalation_decisions_recovered_total";
/// Counter: decisions whose delivery to the agent was interrupted midway (the node
/// stopped): marked `uncertain`, not sent again.
pub const ESCALATION_DECISIONS_UNCERTAIN_TOTAL: &str = "escalation_decisions_uncertain_total";
/// Counter: decisions that could not be claimed or recorded as acted on (the database
/// failed); the recovery pass retries them.
pub const ESCALATION_DECISION_ACTION_ERRORS_TOTAL: &str = "escalation_decision_action_errors_total";
/// Gauge: approvals with a delivery still due (the outbox's backlog).
pub const ESCALATION_NOTIFICATIONS_PENDING: &str = "escalation_notifications_pending";
/// Counter: messages Telegram refused as HTML and that were sent again as plain text
/// (`message`: `request`, `decided`, `expiring`).
pub const TELEGRAM_PLAIN_TEXT_FALLBACKS_TOTAL: &str = "telegram_plain_text_fallbacks_total";
/// Gauge: 1 when Telegram is healthy (or disabled), 0 otherwise.
pub const TELEGRAM_SERVICE_HEALTH: &str = "telegram_service_health";
/// Counter: chat button presses that decided nothing because of who pressed (`why`:
/// `viewer`, `not_allowed`).
pub const CHANNEL_DECISIONS_REFUSED_TOTAL: &str = "channel_decisions_refused_total";
/// Gauge: 0 closed, 1 open, 2 half-open.
pub const CIRCUIT_BREAKER_STATE: &str = "circuit_breaker_state";

/// Counter: HTTP requests by method, route and status.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Histogram: HTTP request duration by method, route and status.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// Gauge: HTTP requests being served.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";

/// Gauge: sessions by status (label `status`).
pub const AGENT_SESSIONS: &str = "agent_sessions";
/// Counter: sessions created.
pub const AGENT_SESSIONS_CREATED_TOTAL: &str = "agent_sessions_created_total";
/// Counter: turns finished, by outcome (label `outcome`).
pub const AGENT_TURNS_TOTAL: &str = "agent_turns_total";
/// Counter: turns that reported success while a tool use got no result.
pub const AGENT_TURNS_FLAGGED_TOTAL: &str = "agent_turns_flagged_total";
/// Counter: permission requests answered without asking (session grants, one-time grants,
/// repeats of refused calls), by answer.
pub const AGENT_PERMISSIONS_AUTO_ANSWERED_TOTAL: &str = "agent_permissions_auto_answered_total";
/// Counter: sessions parked while waiting for a human.
pub const AGENT_SESSIONS_PARKED_TOTAL: &str = "agent_sessions_parked_total";
/// Counter: idle sessions whose process was stopped (they stay Active), by why (label
/// `reason`: `idle` after `claude.idle_suspend_secs`, `evicted` to free a slot, `shutdown`
/// at a graceful stop).
pub const AGENT_SESSIONS_SUSPENDED_TOTAL: &str = "agent_sessions_suspended_total";
/// Counter: suspended sessions started again (`--resume`) by a message.
pub const AGENT_SESSIONS_WOKEN_TOTAL: &str = "agent_sessions_woken_total";
/// Counter: bytes of agent transcripts stored in the database.
pub const AGENT_TRANSCRIPT_BYTES_STORED_TOTAL: &str = "agent_transcript_bytes_stored_total";
/// Counter: transcripts written back from the database before a `--resume` because this
/// node had no copy or an older one.
pub const AGENT_TRANSCRIPT_RESTORES_TOTAL: &str = "agent_transcript_restores_total";
/// Counter: transcript captures or restores that failed (label `op`: `capture`, `restore`).
pub const AGENT_TRANSCRIPT_FAILURES_TOTAL: &str = "agent_transcript_failures_total";
/// Counter: suspended sessions' last turns of events stored in the database (their SSE
/// replay survives eviction, a restart and a move to another node).
pub const AGENT_EVENT_TAILS_STORED_TOTAL: &str = "agent_event_tails_stored_total";
/// Counter: event logs started again from a stored last turn.
pub const AGENT_EVENT_TAIL_RESTORES_TOTAL: &str = "agent_event_tail_restores_total";
/// Counter: stored last turns that could not be stored, read or used (label `op`: `store`,
/// `restore`, `delete`); the replay then starts empty.
pub const AGENT_EVENT_TAIL_FAILURES_TOTAL: &str = "agent_event_tail_failures_total";
/// Counter: requests refused here because another live node runs the session (409
/// `session_owned_elsewhere`).
pub const NODE_SESSION_LEASE_REFUSALS_TOTAL: &str = "node_session_lease_refusals_total";
/// Counter: requests for a session another node runs, sent on to it (label `outcome`:
/// `forwarded`, `unreachable`).
pub const NODE_REQUESTS_FORWARDED_TOTAL: &str = "node_requests_forwarded_total";
/// Counter: sessions whose lease this node lost to another while their agent ran here (the
/// agent is stopped here).
pub const NODE_SESSION_LEASES_LOST_TOTAL: &str = "node_session_leases_lost_total";
/// Counter: decisions the database announced (PostgreSQL `LISTEN/NOTIFY`, any node's).
pub const NODE_DECISION_NOTIFICATIONS_TOTAL: &str = "node_decision_notifications_total";
/// Counter: times the decision listener lost or could not open its connection (decisions
/// then arrive through the poll until it is back).
pub const NODE_DECISION_LISTENER_ERRORS_TOTAL: &str = "node_decision_listener_errors_total";
/// Histogram: turn duration in seconds.
pub const AGENT_TURN_DURATION_SECONDS: &str = "agent_turn_duration_seconds";
/// Counter: cost in US dollars reported by the CLI.
pub const AGENT_COST_USD_TOTAL: &str = "agent_cost_usd_total";
/// Counter: requests refused with 503 `agent_capacity_exhausted`: every process slot stayed
/// busy with work (no idle process to suspend) for `claude.spawn_queue_timeout_secs`.
pub const AGENT_SLOT_REFUSALS_TOTAL: &str = "agent_slot_refusals_total";
/// Gauge: process slots in all (`claude.max_live_processes`).
pub const AGENT_PROCESS_SLOTS: &str = "agent_process_slots";
/// Counter: CLI processes spawned.
pub const AGENT_PROCESS_SPAWNS_TOTAL: &str = "agent_process_spawns_total";
/// Counter: CLI processes that failed to spawn.
pub const AGENT_PROCESS_SPAWN_FAILURES_TOTAL: &str = "agent_process_spawn_failures_total";
/// Counter: CLI processes that exited unexpectedly.
pub const AGENT_PROCESS_CRASHES_TOTAL: &str = "agent_process_crashes_total";
/// Gauge: CLI processes alive.
pub const AGENT_PROCESSES_LIVE: &str = "agent_processes_live";
/// Counter: stream-json lines that could not be parsed.
pub const AGENT_STREAM_GARBAGE_LINES_TOTAL: &str = "agent_stream_garbage_lines_total";
/// Counter: events whose payloads were cut before they went to a session's event log.
pub const AGENT_EVENT_PAYLOADS_TRUNCATED_TOTAL: &str = "agent_event_payloads_truncated_total";
/// Counter: control requests on lines over `claude.max_line_bytes`, answered without being read whole.
pub const AGENT_OVERSIZED_REQUESTS_TOTAL: &str = "agent_oversized_requests_total";
/// Gauge: sessions' event logs held in memory.
pub const AGENT_EVENT_LOGS: &str = "agent_event_logs";
/// Gauge: bytes the sessions' event logs hold (estimated).
pub const AGENT_EVENT_LOG_BYTES: &str = "agent_event_log_bytes";
/// Counter: idle sessions' event logs dropped from memory.
pub const AGENT_EVENT_LOGS_EVICTED_TOTAL: &str = "agent_event_logs_evicted_total";
/// Counter: runs of the agent health check.
pub const AGENT_HEALTH_CHECKS_TOTAL: &str = "agent_health_checks_total";
/// Gauge: 1 when the agent health check service runs.
pub const AGENT_HEALTH_CHECK_SERVICE_HEALTH: &str = "agent_health_check_service_health";
/// Gauge: agents (CLI installations) found by discovery.
pub const AGENT_DISCOVERY_AGENTS: &str = "agent_discovery_agents";

/// Gauge: pooled database connections in use.
pub const DB_POOL_CONNECTIONS_ACTIVE: &str = "db_pool_connections_active";
/// Gauge: pooled database connections idle.
pub const DB_POOL_CONNECTIONS_IDLE: &str = "db_pool_connections_idle";
/// Gauge: the pool's maximum size.
pub const DB_POOL_MAX_SIZE: &str = "db_pool_max_size";
/// Gauge: 1 when the database answers.
pub const DB_UP: &str = "db_up";
/// Histogram: repository call duration in seconds, by operation.
pub const DB_QUERY_DURATION_SECONDS: &str = "db_query_duration_seconds";
/// Counter: repository calls that failed.
pub const DB_ERRORS_TOTAL: &str = "db_errors_total";

/// Gauge: resident memory of this process in bytes.
pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";
/// Gauge: virtual memory of this process in bytes.
pub const PROCESS_VIRTUAL_MEMORY_BYTES: &str = "process_virtual_memory_bytes";
/// Counter: CPU time of this process in seconds.
pub const PROCESS_CPU_SECONDS_TOTAL: &str = "process_cpu_seconds_total";
/// Gauge: open file descriptors of this process.
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
/// Gauge: file descriptor limit of this process.
pub const PROCESS_MAX_FDS: &str = "process_max_fds";
/// Gauge: threads of this process.
pub const PROCESS_THREADS: &str = "process_threads";
/// Gauge: process start time, seconds since the epoch.
pub const PROCESS_START_TIME_SECONDS: &str = "process_start_time_seconds";
/// Gauge: 1, labelled with the version.
pub const ORCHESTRA_BUILD_INFO: &str = "orchestra_build_info";
/// Gauge: seconds since the process started.
pub const ORCHESTRA_UPTIME_SECONDS: &str = "orchestra_uptime_seconds";
/// Counter: audit events that could not be written (the action itself was done).
pub const AUDIT_APPEND_FAILURES_TOTAL: &str = "audit_append_failures_total";

/// Retention runs, by `outcome` (`ok`, `error`).
pub const RETENTION_RUNS_TOTAL: &str = "retention_runs_total";
/// Rows retention deleted, by `table`.
pub const RETENTION_ROWS_DELETED_TOTAL: &str = "retention_rows_deleted_total";
/// How long each retention delete transaction held the write lock, seconds.
pub const RETENTION_BATCH_SECONDS: &str = "retention_batch_seconds";

/// The server's policy on each permission request, by `verdict` (`allow`, `ask`, `deny`) and
/// `risk`.
pub const POLICY_VERDICTS_TOTAL: &str = "policy_verdicts_total";
/// Counter: grants made by decisions (label `scope`: `Session`, `Rule`).
pub const GRANTS_CREATED_TOTAL: &str = "grants_created_total";
/// Counter: grants revoked.
pub const GRANTS_REVOKED_TOTAL: &str = "grants_revoked_total";
/// Counter: yeses counted on approvals that need several approvers (each one, the deciding
/// one too).
pub const APPROVAL_VOTES_TOTAL: &str = "approval_votes_total";
/// Counter: approvals escalated to the second chat after `approvals.escalate_after_secs`
/// without a decision (label `risk`).
pub const ESCALATION_APPROVALS_ESCALATED_TOTAL: &str = "escalation_approvals_escalated_total";
/// Counter: client messages refused because their session spent its budget.
pub const AGENT_BUDGET_REFUSALS_TOTAL: &str = "agent_budget_refusals_total";
/// Counter: session budgets raised by approved budget approvals.
pub const AGENT_BUDGET_RAISES_TOTAL: &str = "agent_budget_raises_total";
/// Counter: turns whose cost and duration could not be added to their session's totals
/// (after retries): the session's budget did not see that turn.
pub const AGENT_TURN_TOTALS_ERRORS_TOTAL: &str = "agent_turn_totals_errors_total";
/// Counter: console sign-ins (label `outcome`: `ok`, `invalid_key`, `expired_form`).
pub const CONSOLE_SIGN_INS_TOTAL: &str = "console_sign_ins_total";
/// Counter: console requests refused for a missing or wrong CSRF token.
pub const CONSOLE_CSRF_REFUSALS_TOTAL: &str = "console_csrf_refusals_total";
