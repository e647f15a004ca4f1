//! Typed settings and how they are loaded, layered with figment: built-in defaults for the
//! environment < the config file (`config/<environment>.toml`, or `--config FILE`) <
//! environment variables.
//!
//! Environment variables accept the deployment guide's names (`DB_CONNECTION_STRING`,
//! `ConnectionStrings__DefaultConnection`, `TELEGRAM_BOT_TOKEN`, `TelegramEscalation__*`,
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, ...) and `ORCHESTRA__SECTION__KEY` for every key; each name
//! also works as `NAME_FILE` (the value is read from that file, for mounted secrets). Unknown
//! keys in the file and unknown `ORCHESTRA__*` variables are refused by name. Secrets are
//! `SecretString`s: `Debug` and `check-config` never show them.

mod budgets;
mod env;
mod environment;
mod error;
mod layers;
mod render;
mod retention;
mod schema;
mod sections;
mod settings;
mod validate;
mod validate_claude;

#[cfg(test)]
mod definition_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use figment::Figment;

pub use env::{ALIASES, CLAUDE_ENV_PREFIX, ENVIRONMENT_NAMES, EnvSource, ProcessEnv};
pub use environment::Environment;
pub use error::ConfigError;
pub use retention::RetentionSettings;
pub use settings::{
    ApprovalSettings, ClaudeConfig, DatabaseSettings, ServerSettings, Settings, StopGrace,
    TelegramBreaker, TelegramMode, TelegramRetry, TelegramSettings, TelemetrySettings,
};

use layers::Layer;
use sections::Sections;

impl Settings {
    /// Loads settings from the process environment and the config file
    /// (`$ORCHESTRA_CONFIG_DIR/<environment>.toml`, `config/` by default).
    ///
    /// # Errors
    /// [`ConfigError`] for anything missing, unreadable, unknown or invalid.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let dir = std::env::var("ORCHESTRA_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        Self::load_from(config_file, &ProcessEnv, Path::new(&dir))
    }

    /// Loads settings from `env`, the explicit `config_file` or `<config_dir>/<environment>.toml`.
    ///
    /// # Errors
    /// [`ConfigError`] for anything missing, unreadable, unknown or invalid.
    pub fn load_from(
        config_file: Option<&Path>,
        env: &dyn EnvSource,
        config_dir: &Path,
    ) -> Result<Self, ConfigError> {
        let environment = match env::read_any(env, ENVIRONMENT_NAMES)? {
            Some((_, v)) => v.parse()?,
            None => Environment::default(),
        };
        let file = config_file.map(Path::to_path_buf).or_else(|| {
            env::read_var(env, "ORCHESTRA_CONFIG")
                .ok()
                .flatten()
                .map(PathBuf::from)
        });
        let file = file.or_else(|| {
            let p = config_dir.join(format!(
                "{}.toml",
                environment.as_str().to_ascii_lowercase()
            ));
            p.is_file().then_some(p)
        });

        let mut figment = Figment::new().merge(Layer::defaults(environment)?);
        if let Some(path) = &file {
            figment = figment.merge(Layer::file(path)?);
        }
        for value in env::values(env)? {
            figment = figment.merge(Layer::variable(value));
        }
        let raw: Sections = figment.extract()?;
        validate::validate(environment, raw, file)
    }
}
