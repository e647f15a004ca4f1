//! The loader's rules, one test each: layers, aliases, `_FILE`, precedence, redaction, errors.

use std::collections::BTreeMap;
use std::path::Path;

use orchestra_db::DatabaseTarget;
use secrecy::ExposeSecret;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::load_from(None, &env(pairs), Path::new("/nonexistent"))
}

#[test]
fn development_defaults_to_sqlite_on_5284_without_telegram() {
    let s = load(&[]).unwrap();
    assert_eq!(s.environment, Environment::Development);
    assert_eq!(s.server.port, 5284);
    assert_eq!(
        s.database.target,
        DatabaseTarget::Sqlite {
            path: "orchestra.db".into()
        }
    );
    assert!(s.database.auto_migrate);
    assert!(!s.telegram.enabled);
}

#[test]
fn production_with_telegram_needs_the_user_ids_that_may_approve() {
    let err = load(&[
        ("ASPNETCORE_ENVIRONMENT", "Production"),
        (
            "ConnectionStrings__DefaultConnection",
            "Host=db;Database=o;Username=app;Password=pw",
        ),
        ("TelegramEscalation__BotToken", "123:token"),
        ("TelegramEscalation__ChatId", "-1"),
        (
            "ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES",
            "/srv/work",
        ),
    ])
    .unwrap_err();
    assert!(
        err.to_string().contains("telegram.allowed_user_ids"),
        "{err}"
    );
}

#[test]
fn production_needs_tls_or_a_proxy_that_terminates_it() {
    let base = [
        ("ASPNETCORE_ENVIRONMENT", "Production"),
        (
            "DB_CONNECTION_STRING",
            "Host=db;Database=o;Username=app;Password=pw",
        ),
        ("TelegramEscalation__Enabled", "false"),
        (
            "ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES",
            "/srv/work",
        ),
    ];
    let err = load(&base).unwrap_err();
    assert!(err.to_string().contains("server.tls_cert_file"), "{err}");
    let mut with_proxy = base.to_vec();
    with_proxy.push(("ORCHESTRA__SERVER__TLS_TERMINATED_BY_PROXY", "true"));
    assert!(load(&with_proxy).is_ok());
    let mut half = base.to_vec();
    half.push((
        "ORCHESTRA__SERVER__TLS_CERT_FILE",
        "/etc/orchestra/cert.pem",
    ));
    let err = load(&half).unwrap_err();
    assert!(err.to_string().contains("server.tls_key_file"), "{err}");
}

#[test]
fn sqlite_commits_are_synced_unless_weakened_by_name() {
    assert!(load(&[]).unwrap().database.pool.sqlite_full_sync);
    let s = load(&[("ORCHESTRA__DATABASE__SQLITE_SYNCHRONOUS", "normal")]).unwrap();
    assert!(!s.database.pool.sqlite_full_sync);
    let err = load(&[("ORCHESTRA__DATABASE__SQLITE_SYNCHRONOUS", "off")]).unwrap_err();
    assert!(
        err.to_string().contains("database.sqlite_synchronous"),
        "{err}"
    );
}

#[test]
fn the_operations_listener_is_opt_in_and_not_the_main_port() {
    assert_eq!(load(&[]).unwrap().server.ops_listener, None);
    assert_eq!(
        load(&[("ORCHESTRA__SERVER__OPS_PORT", "0")])
            .unwrap()
            .server
            .ops_listener,
        None,
        "0 means none"
    );
    let s = load(&[("ORCHESTRA__SERVER__OPS_PORT", "9464")]).unwrap();
    assert_eq!(s.server.ops_listener, Some(("127.0.0.1".into(), 9464)));
    let err = load(&[("ORCHESTRA__SERVER__OPS_PORT", "5284")]).unwrap_err();
    assert!(err.to_string().contains("server.ops_port"), "{err}");
}

#[test]
fn production_refuses_plain_http_for_telegram() {
    let err = load(&[
        ("ASPNETCORE_ENVIRONMENT", "Production"),
        (
            "DB_CONNECTION_STRING",
            "Host=db;Database=o;Username=app;Password=pw",
        ),
        ("TelegramEscalation__BotToken", "1:x"),
        ("TelegramEscalation__ChatId", "-1"),
        ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", "42"),
        ("ORCHESTRA__TELEGRAM__API_BASE_URL", "http://telegram.local"),
        (
            "ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES",
            "/srv/work",
        ),
        ("ORCHESTRA__SERVER__TLS_TERMINATED_BY_PROXY", "true"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("telegram.api_base_url"), "{err}");
}

#[test]
fn production_needs_working_directory_roots() {
    let err = load(&[
        ("ASPNETCORE_ENVIRONMENT", "Production"),
        (
            "ConnectionStrings__DefaultConnection",
            "Host=db;Database=o;Username=app;Password=pw",
        ),
        ("TelegramEscalation__BotToken", "123:token"),
        ("TelegramEscalation__ChatId", "-1"),
        ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", "42"),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("claude.allowed_working_directories"),
        "{err}"
    );
}

#[test]
fn a_policy_without_the_default_mode_or_with_an_unknown_mode_is_refused() {
    let err = load(&[("ORCHESTRA__POLICY__PERMISSION_MODES", "plan")]).unwrap_err();
    assert!(err.to_string().contains("policy.permission_modes"), "{err}");
    let err = load(&[("ORCHESTRA__POLICY__PERMISSION_MODES", "default,yolo")]).unwrap_err();
    assert!(err.to_string().contains("policy.permission_modes"), "{err}");
    let ok = load(&[("ORCHESTRA__POLICY__PERMISSION_MODES", "default,acceptEdits")]).unwrap();
    assert_eq!(ok.policy.permission_modes.len(), 2);
}

#[test]
fn production_needs_a_database_and_telegram_credentials() {
    let err = load(&[("ASPNETCORE_ENVIRONMENT", "Production")]).unwrap_err();
    assert!(err.to_string().contains("DB_CONNECTION_STRING"), "{err}");
    let err = load(&[
        ("ASPNETCORE_ENVIRONMENT", "Production"),
        (
            "ConnectionStrings__DefaultConnection",
            "Host=db;Database=o;Username=app;Password=pw",
        ),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("TELEGRAM_BOT_TOKEN"), "{err}");
}

#[test]
fn the_seeds_production_variables_are_understood_and_secrets_stay_hidden() {
    let s = load(&[
        ("ASPNETCORE_ENVIRONMENT", "Production"),
        (
            "ConnectionStrings__DefaultConnection",
            "Host=db;Database=o;Username=app;Password=pw-XYZ;MaxPoolSize=100",
        ),
        ("TelegramEscalation__BotToken", "123:token-XYZ"),
        ("TelegramEscalation__ChatId", "-1001"),
        ("TelegramEscalation__Enabled", "true"),
        (
            "ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES",
            "/srv/work",
        ),
        ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", "42"),
        ("ORCHESTRA__SERVER__TLS_TERMINATED_BY_PROXY", "true"),
    ])
    .unwrap();
    assert_eq!(s.environment, Environment::Production);
    assert!(!s.database.auto_migrate);
    assert_eq!(s.database.pool.max_size, 100);
    assert_eq!(s.telegram.chat_id, Some(-1001));
    assert_eq!(s.telegram_token(), Some("123:token-XYZ"));
    let shown = format!("{s:?}\n{}", s.to_redacted_toml());
    assert!(
        !shown.contains("pw-XYZ") && !shown.contains("token-XYZ"),
        "{shown}"
    );
}

#[test]
fn file_variants_read_secrets_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "42:from-file\n").unwrap();
    let s = load(&[
        ("TELEGRAM_BOT_TOKEN_FILE", token.to_str().unwrap()),
        ("TELEGRAM_CHAT_ID", "7"),
        ("TelegramEscalation__Enabled", "true"),
    ])
    .unwrap();
    assert_eq!(s.telegram_token(), Some("42:from-file"));
    // The agent's environment takes `_FILE` too: the key, not the path, reaches the CLI.
    let key = dir.path().join("api-key");
    std::fs::write(&key, "sk-from-file\n").unwrap();
    let s = load(&[
        (
            "ORCHESTRA__CLAUDE__ENV__ANTHROPIC_API_KEY_FILE",
            key.to_str().unwrap(),
        ),
        ("ORCHESTRA__CLAUDE__ENV__PLAIN", "p"),
    ])
    .unwrap();
    let agent_env: Vec<(&str, &str)> = s
        .claude
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose_secret()))
        .collect();
    assert_eq!(
        agent_env,
        vec![("ANTHROPIC_API_KEY", "sk-from-file"), ("PLAIN", "p")]
    );
    let err = load(&[
        ("TELEGRAM_BOT_TOKEN", "x"),
        ("TELEGRAM_BOT_TOKEN_FILE", token.to_str().unwrap()),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("not both"));
}

#[test]
fn environment_beats_file_and_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("development.toml"),
        "[server]\nport = 6000\nworkers = 3\n[approvals]\ndefault_timeout_minutes = 10\n",
    )
    .unwrap();
    let s = Settings::load_from(
        None,
        &env(&[("ORCHESTRA__SERVER__PORT", "7000")]),
        dir.path(),
    )
    .unwrap();
    assert_eq!(s.server.port, 7000);
    assert_eq!(s.server.workers, Some(3));
    assert_eq!(s.approvals.default_timeout_minutes, 10);
    assert_eq!(s.config_file, Some(dir.path().join("development.toml")));
}

#[test]
fn check_config_shows_every_setting() {
    let s = load(&[
        ("ORCHESTRA__CLAUDE__ENV__ANTHROPIC_API_KEY", "sk-secret-XYZ"),
        ("TelegramEscalation__BotToken", "1:token-XYZ"),
    ])
    .unwrap();
    let shown = s.to_redacted_toml();
    assert!(
        !shown.contains("secret-XYZ") && !shown.contains("token-XYZ"),
        "{shown}"
    );
    let keys = std::iter::once("environment").chain(schema::keys().iter().map(|k| k.path.as_str()));
    for key in keys {
        let (section, name) = key.split_once('.').unwrap_or(("", key));
        let body = if section.is_empty() {
            shown.split("\n[").next()
        } else {
            shown
                .split(&format!("\n[{section}]\n"))
                .nth(1)
                .and_then(|rest| rest.split("\n[").next())
        }
        .unwrap_or_else(|| panic!("no [{section}] in:\n{shown}"));
        assert!(
            body.lines().any(|l| l.starts_with(&format!("{name} = "))),
            "check-config does not show {key}:\n{shown}"
        );
    }
    assert!(
        shown.contains("ANTHROPIC_API_KEY = \"[redacted]\""),
        "{shown}"
    );
}

#[test]
fn the_shipped_config_files_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    for environment in ["Development", "Staging", "Production"] {
        let s = Settings::load_from(
            None,
            &env(&[
                ("ORCHESTRA_ENVIRONMENT", environment),
                (
                    "DB_CONNECTION_STRING",
                    "Host=db;Database=o;Username=u;Password=p",
                ),
                ("TELEGRAM_BOT_TOKEN", "1:x"),
                ("TELEGRAM_CHAT_ID", "1"),
                ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", "7"),
                ("ORCHESTRA__SERVER__TLS_TERMINATED_BY_PROXY", "true"),
            ]),
            &dir,
        )
        .unwrap_or_else(|e| panic!("{environment}: {e}"));
        assert!(s.config_file.is_some(), "{environment} has a config file");
        // `MaxPoolSize=` in the connection string beats the file's `max_pool_size`.
        let s = Settings::load_from(
            None,
            &env(&[
                ("ORCHESTRA_ENVIRONMENT", environment),
                (
                    "DB_CONNECTION_STRING",
                    "Host=db;Database=o;Username=u;Password=p;MaxPoolSize=7",
                ),
                ("TELEGRAM_BOT_TOKEN", "1:x"),
                ("TELEGRAM_CHAT_ID", "1"),
                ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", "7"),
                ("ORCHESTRA__SERVER__TLS_TERMINATED_BY_PROXY", "true"),
            ]),
            &dir,
        )
        .unwrap();
        assert_eq!(s.database.pool.max_size, 7, "{environment}");
    }
}

#[test]
fn an_escalation_that_would_come_after_the_deadline_is_refused() {
    let with = |escalate: &str| {
        load(&[
            ("TELEGRAM_BOT_TOKEN", "1:x"),
            ("TELEGRAM_CHAT_ID", "1"),
            ("ORCHESTRA__TELEGRAM__ESCALATION_CHAT_ID", "2"),
            ("ORCHESTRA__APPROVALS__DEFAULT_TIMEOUT_SECS", "600"),
            ("ORCHESTRA__APPROVALS__ESCALATE_AFTER_SECS", escalate),
        ])
    };
    let err = with("600").unwrap_err().to_string();
    assert!(err.contains("approvals.escalate_after_secs"), "{err}");
    assert!(with("599").is_ok());
    assert!(with("0").is_ok(), "0: no escalation");
}

/// Every `[policy]` example in docs/policy.md loads as a config file, so an operator who
/// copies one gets a server that starts.
#[test]
fn the_policy_examples_an_operator_copies_are_valid() {
    let doc = include_str!("../../../../docs/policy.md");
    let examples: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.contains("[policy]"))
        .collect();
    assert!(examples.len() >= 3, "the three examples: {examples:?}");
    for example in examples {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("development.toml"), example).unwrap();
        let s = Settings::load_from(None, &env(&[]), dir.path())
            .unwrap_or_else(|e| panic!("{example}: {e}"));
        assert!(!s.policy.tools.rules().is_empty(), "{example}");
    }
}

#[test]
fn typos_and_bad_values_are_reported_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("development.toml"), "[server]\nprot = 1\n").unwrap();
    let err = Settings::load_from(None, &env(&[]), dir.path()).unwrap_err();
    assert!(err.to_string().contains("prot"), "{err}");
    let err = load(&[("ORCHESTRA__SERVER__PORT", "http")]).unwrap_err();
    assert!(err.to_string().contains("ORCHESTRA__SERVER__PORT"), "{err}");
    let err = load(&[("ORCHESTRA_ENVIRONMENT", "moon")]).unwrap_err();
    assert!(err.to_string().contains("moon"), "{err}");
    let err = load(&[("ORCHESTRA__APPROVALS__DEFAULT_TIMEOUT_MINUTES", "500")]).unwrap_err();
    assert!(err.to_string().contains("default_timeout"), "{err}");
}

#[test]
fn the_agents_telemetry_needs_an_endpoint_and_retention_checks_its_batch() {
    let err = load(&[("ORCHESTRA__CLAUDE__TELEMETRY", "true")]).unwrap_err();
    assert!(err.to_string().contains("claude.telemetry"), "{err}");
    let s = load(&[
        ("ORCHESTRA__CLAUDE__TELEMETRY", "true"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
    ])
    .unwrap();
    assert!(s.claude.telemetry);
    assert_eq!(load(&[]).unwrap().retention.days, 90);
    let err = load(&[("ORCHESTRA__RETENTION__BATCH_SIZE", "0")]).unwrap_err();
    assert!(err.to_string().contains("retention.batch_size"), "{err}");
    let s = load(&[("ORCHESTRA__RETENTION__ARCHIVE", "false")]).unwrap();
    assert_eq!(s.retention.archive_dir, None);
}
