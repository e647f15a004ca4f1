//! The environment layer: `ORCHESTRA__SECTION__KEY` for every key, the deployment guide's
//! aliases, `NAME_FILE` variants, and the refusal of `ORCHESTRA__*` names no setting has.

use std::collections::{BTreeMap, BTreeSet};

use figment::value::{Num, Value};

use super::error::{ConfigError, invalid};
use super::schema::{self, Kind};

/// Where settings come from: the process environment, or a map (tests).
pub trait EnvSource {
    /// The variable's value.
    fn var(&self, name: &str) -> Option<String>;

    /// Every variable name.
    fn names(&self) -> Vec<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn names(&self) -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

/// The prefix of every key's own variable.
pub const PREFIX: &str = "ORCHESTRA__";

/// Variables named `ORCHESTRA__CLAUDE__ENV__<NAME>` set `<NAME>` in the CLI's environment.
pub const CLAUDE_ENV_PREFIX: &str = "ORCHESTRA__CLAUDE__ENV__";

/// The environment (not a file key): its variables, in increasing precedence.
pub const ENVIRONMENT_NAMES: &[&str] = &["ASPNETCORE_ENVIRONMENT", "ORCHESTRA_ENVIRONMENT"];

/// The deployment guide's other names of some keys, in increasing precedence; the key's own
/// `ORCHESTRA__SECTION__KEY` comes after them (and so wins).
pub const ALIASES: &[(&str, &[&str])] = &[
    (
        "database.connection_string",
        &[
            "ConnectionStrings__DefaultConnection",
            "DB_CONNECTION_STRING",
        ],
    ),
    ("telegram.enabled", &["TelegramEscalation__Enabled"]),
    (
        "telegram.bot_token",
        &["TelegramEscalation__BotToken", "TELEGRAM_BOT_TOKEN"],
    ),
    (
        "telegram.chat_id",
        &["TelegramEscalation__ChatId", "TELEGRAM_CHAT_ID"],
    ),
    ("telemetry.otlp_endpoint", &["OTEL_EXPORTER_OTLP_ENDPOINT"]),
    ("telemetry.service_name", &["OTEL_SERVICE_NAME"]),
];

/// Values taken as they are; every other text value is trimmed.
const UNTRIMMED: &[&str] = &["database.connection_string", "telegram.bot_token"];

/// Every variable of `key`, in increasing precedence.
pub fn names_of(key: &schema::Key) -> Vec<String> {
    let mut names: Vec<String> = ALIASES
        .iter()
        .filter(|(k, _)| *k == key.path)
        .flat_map(|(_, n)| n.iter().map(|s| (*s).to_owned()))
        .collect();
    names.push(key.env_name());
    names
}

/// Reads `NAME` or `NAME_FILE` (not both); empty values count as unset.
pub fn read_var(env: &dyn EnvSource, name: &str) -> Result<Option<String>, ConfigError> {
    let direct = env.var(name).filter(|v| !v.is_empty());
    let file_var = format!("{name}_FILE");
    let from_file = match env.var(&file_var).filter(|v| !v.is_empty()) {
        None => None,
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| invalid(&file_var, format!("cannot read {path}: {e}")))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
    };
    match (direct, from_file) {
        (Some(_), Some(_)) => Err(invalid(
            name,
            format!("set either {name} or {file_var}, not both"),
        )),
        (d, f) => Ok(d.or(f)),
    }
}

/// The last set variable of `names` (later names are the more specific and win).
pub fn read_any<S: AsRef<str>>(
    env: &dyn EnvSource,
    names: &[S],
) -> Result<Option<(String, String)>, ConfigError> {
    let mut found = None;
    for name in names {
        let name = name.as_ref();
        if let Some(v) = read_var(env, name)? {
            found = Some((name.to_owned(), v));
        }
    }
    Ok(found)
}

/// One value from the environment: the variable it came from, the key path it sets.
#[derive(Debug)]
pub struct EnvValue {
    /// The variable (for error messages).
    pub variable: String,
    /// The key path, e.g. `["server", "port"]`.
    pub path: Vec<String>,
    /// The typed value.
    pub value: Value,
}

/// Every setting the environment gives, typed by its key's kind.
///
/// # Errors
/// An `ORCHESTRA__*` variable that names no setting, a value of the wrong kind, an unreadable
/// `_FILE`, or a name set both directly and as `_FILE`.
pub fn values(env: &dyn EnvSource) -> Result<Vec<EnvValue>, ConfigError> {
    refuse_unknown(env)?;
    let mut out = Vec::new();
    for key in schema::keys() {
        if matches!(key.kind, Kind::Map(_)) {
            continue;
        }
        let Some((variable, raw)) = read_any(env, &names_of(key))? else {
            continue;
        };
        let text = if UNTRIMMED.contains(&key.path.as_str()) {
            raw.as_str()
        } else {
            raw.trim()
        };
        let value = typed(&variable, &key.kind, text)?;
        out.push(EnvValue {
            path: key.path.split('.').map(str::to_owned).collect(),
            variable,
            value,
        });
    }
    out.extend(claude_env(env)?);
    Ok(out)
}

/// `ORCHESTRA__CLAUDE__ENV__<NAME>` (or `<NAME>_FILE`, read like every other variable) goes
/// into the agent's environment as `<NAME>`.
fn claude_env(env: &dyn EnvSource) -> Result<Vec<EnvValue>, ConfigError> {
    let names: BTreeSet<String> = env
        .names()
        .into_iter()
        .filter(|k| k.starts_with(CLAUDE_ENV_PREFIX))
        .map(|k| {
            k.strip_suffix("_FILE")
                .map_or_else(|| k.clone(), str::to_owned)
        })
        .collect();
    let mut out = Vec::new();
    for name in names {
        if let Some(value) = read_var(env, &name)? {
            let key = name[CLAUDE_ENV_PREFIX.len()..].to_owned();
            out.push(EnvValue {
                path: vec!["claude".into(), "env".into(), key],
                variable: name,
                value: Value::from(value),
            });
        }
    }
    Ok(out)
}

/// An `ORCHESTRA__*` variable (or its `_FILE`) that is no key's own name is refused by name.
fn refuse_unknown(env: &dyn EnvSource) -> Result<(), ConfigError> {
    // A table (`claude.env`) has no variable of its own: its entries are `..__ENV__<NAME>`.
    let known: BTreeSet<String> = schema::keys()
        .iter()
        .filter(|k| !matches!(k.kind, Kind::Map(_)))
        .map(schema::Key::env_name)
        .collect();
    let mut names = env.names();
    names.sort();
    for variable in names {
        if !variable.starts_with(PREFIX) || variable.starts_with(CLAUDE_ENV_PREFIX) {
            continue;
        }
        // A key whose own name ends in `_file` (`server.tls_cert_file`) is its own variable.
        let name = variable.strip_suffix("_FILE").unwrap_or(&variable);
        if !known.contains(&variable) && !known.contains(name) {
            let key = name[PREFIX.len()..].replace("__", ".").to_ascii_lowercase();
            return Err(ConfigError::UnknownVariable { variable, key });
        }
    }
    Ok(())
}

/// `text` as a value of `kind`; errors name the variable, never the value.
fn typed(variable: &str, kind: &Kind, text: &str) -> Result<Value, ConfigError> {
    Ok(match kind {
        Kind::Str | Kind::Secret | Kind::Map(_) => Value::from(text.to_owned()),
        Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::from(true),
            "false" | "0" | "no" | "off" => Value::from(false),
            _ => return Err(invalid(variable, "expected true or false")),
        },
        Kind::Int => {
            let t = text.trim();
            if let Ok(n) = t.parse::<u64>() {
                Value::from(Num::U64(n))
            } else if let Ok(n) = t.parse::<i64>() {
                Value::from(Num::I64(n))
            } else {
                return Err(invalid(variable, "expected a whole number"));
            }
        }
        Kind::Float => text
            .trim()
            .parse::<f64>()
            .map(Value::from)
            .map_err(|_| invalid(variable, "expected a number"))?,
        Kind::List(item) => {
            let items = text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    typed(variable, item, s)
                        .map_err(|_| invalid(variable, "expected a comma-separated list of values"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Value::from(items)
        }
    })
}
