//! Tests that hold the docs, check-config and the refusal of unknown names to the one list
//! of keys the settings structs define.

use std::collections::BTreeMap;
use std::path::Path;

use figment::value::Value;

use super::env::names_of;
use super::schema::{self, Kind};
use super::sections::Sections;
use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn every_key_of_the_sections_is_traced_with_its_kind() {
    let kind = |path: &str| schema::find(path).map(|k| k.kind.clone());
    assert_eq!(schema::keys().len(), 108, "{:#?}", schema::keys());
    assert_eq!(kind("server.port"), Some(Kind::Int));
    assert_eq!(kind("server.workers"), Some(Kind::Int));
    assert_eq!(kind("server.swagger_enabled"), Some(Kind::Bool));
    assert_eq!(kind("database.connection_string"), Some(Kind::Secret));
    assert_eq!(kind("telegram.breaker_failure_rate"), Some(Kind::Float));
    assert_eq!(
        kind("telegram.allowed_user_ids"),
        Some(Kind::List(Box::new(Kind::Int)))
    );
    assert_eq!(kind("claude.env"), Some(Kind::Map(Box::new(Kind::Secret))));
    assert_eq!(kind("telemetry.log_level"), Some(Kind::Str));
    assert_eq!(kind("telemetry.log_file_max_bytes"), Some(Kind::Int));
}

#[test]
fn unknown_keys_in_the_config_file_are_refused_with_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("development.toml");
    for (text, key) in [
        ("[server]\nprot = 1\n", "server.prot"),
        ("[serve]\nport = 1\n", "serve"),
        ("swagger = true\n", "swagger"),
        (
            "[claude]\nbinary = \"c\"\n[claude.envs]\nA = \"1\"\n",
            "claude.envs",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let err = Settings::load_from(None, &env(&[]), dir.path()).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownKey { key: k, .. } if k == key),
            "{text}: {err:?}"
        );
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("`{key}`")) && shown.contains(&file.display().to_string()),
            "{shown}"
        );
    }
    // Any name goes in the agent's environment table.
    std::fs::write(&file, "[claude.env]\nANY_NAME = \"v\"\n").unwrap();
    let s = Settings::load_from(None, &env(&[]), dir.path()).unwrap();
    assert_eq!(s.claude.env.len(), 1);
}

#[test]
fn unknown_orchestra_variables_are_refused_with_the_variable() {
    for (var, key) in [
        ("ORCHESTRA__SERVER__PROT", "server.prot"),
        ("ORCHESTRA__SERVER__PROT_FILE", "server.prot"),
        ("ORCHESTRA__SERVE__PORT", "serve.port"),
        ("ORCHESTRA__SWAGGER", "swagger"),
        ("ORCHESTRA__server__port", "server.port"),
        ("ORCHESTRA__CLAUDE__ENV", "claude.env"),
    ] {
        let err =
            Settings::load_from(None, &env(&[(var, "1")]), Path::new("/nonexistent")).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownVariable { variable, key: k } if variable == var && k == key),
            "{var}: {err:?}"
        );
        assert!(err.to_string().contains(var), "{err}");
    }
    // Other names are not Orchestra's to judge; the agent's table takes any name.
    Settings::load_from(
        None,
        &env(&[
            ("ORCHESTRA_CONFIG_DIR", "/nonexistent"),
            ("ORCHESTRATOR__X", "1"),
            ("ORCHESTRA__CLAUDE__ENV__ANYTHING", "1"),
        ]),
        Path::new("/nonexistent"),
    )
    .unwrap();
}

#[test]
fn type_errors_name_the_key_and_its_source_without_the_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("development.toml"),
        "[server]\nport = \"secret-XYZ\"\n",
    )
    .unwrap();
    let err = Settings::load_from(None, &env(&[]), dir.path()).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("server.port") && shown.contains("development.toml"),
        "{shown}"
    );
    assert!(!shown.contains("secret-XYZ"), "{shown}");
    let err = Settings::load_from(
        None,
        &env(&[("ORCHESTRA__SERVER__PORT", "70000")]),
        Path::new("/nonexistent"),
    )
    .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("ORCHESTRA__SERVER__PORT") && shown.contains("server.port"),
        "{shown}"
    );
    assert!(!shown.contains("70000"), "{shown}");
    let err = Settings::load_from(
        None,
        &env(&[("DB_CONNECTION_STRING", "Host=x;Password=leak-me;Bogus=1")]),
        Path::new("/nonexistent"),
    )
    .unwrap_err();
    assert!(!err.to_string().contains("leak-me"), "{err}");
}

#[test]
fn the_file_sections_never_show_a_secret_in_debug() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("development.toml"),
        "[telegram]\nbot_token = \"1:tok-XYZ\"\nwebhook_secret = \"hook-XYZ\"\n[claude.env]\nK = \"key-XYZ\"\n",
    )
    .unwrap();
    let s = Settings::load_from(None, &env(&[]), dir.path()).unwrap();
    let shown = format!("{s:?}\n{}", s.to_redacted_toml());
    let mut raw = Sections::for_environment(Environment::Production);
    raw.database.connection_string = Some(sections::Secret("Password=pw-XYZ".into()));
    let shown = format!("{shown}\n{raw:?}");
    assert!(!shown.contains("XYZ"), "{shown}");
}

/// The rows of docs/config.md's key tables: key -> (variables cell, default cell, key cell).
fn documented() -> BTreeMap<String, (String, String, String)> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md"))
            .unwrap();
    let mut rows = BTreeMap::new();
    let mut in_keys = false;
    for line in text.lines() {
        if line.starts_with("| key |") {
            in_keys = true;
            continue;
        }
        if !line.starts_with('|') {
            in_keys = false;
            continue;
        }
        if !in_keys || line.starts_with("|---") {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let key = cells[1].split('`').nth(1).unwrap_or_default().to_owned();
        let previous = rows.insert(
            key.clone(),
            (
                cells[2].to_owned(),
                cells[3].to_owned(),
                cells[1].to_owned(),
            ),
        );
        assert!(previous.is_none(), "{key} is documented twice");
    }
    rows
}

/// A key's default as the docs write it, when it has a scalar one.
fn default_of(environment: Environment, path: &str) -> Option<String> {
    let value = Value::serialize(Sections::for_environment(environment)).unwrap();
    match value.find(path)? {
        Value::String(_, s) => Some(s),
        Value::Bool(_, b) => Some(b.to_string()),
        Value::Num(_, n) => Some(n.to_u128_lossy().map_or_else(
            || n.to_f64().unwrap_or_default().to_string(),
            |u| u.to_string(),
        )),
        _ => None,
    }
}

#[test]
fn docs_config_md_lists_every_key_with_its_variables_and_defaults_and_nothing_else() {
    let rows = documented();
    for key in rows.keys() {
        assert!(
            schema::find(key).is_some(),
            "docs/config.md documents `{key}`, which no setting has"
        );
    }
    for key in schema::keys() {
        let (vars, default, key_cell) = rows
            .get(&key.path)
            .unwrap_or_else(|| panic!("docs/config.md has no row for `{}`", key.path));
        let names = if matches!(key.kind, Kind::Map(_)) {
            vec![format!("{}<NAME>", CLAUDE_ENV_PREFIX)]
        } else {
            names_of(key)
        };
        for name in names {
            assert!(
                vars.contains(&format!("`{name}`")),
                "docs/config.md: `{}` does not name {name}",
                key.path
            );
        }
        let secret = matches!(key.kind, Kind::Secret | Kind::Map(_));
        assert_eq!(
            key_cell.contains("(secret)") || key_cell.contains("values secret"),
            secret,
            "docs/config.md: `{}` secret marking",
            key.path
        );
        for environment in Environment::ALL {
            if let Some(d) = default_of(environment, &key.path) {
                assert!(
                    default.contains(&format!("`{d}`")),
                    "docs/config.md: `{}` does not give its {environment} default `{d}`: {default}",
                    key.path
                );
            }
        }
    }
}
