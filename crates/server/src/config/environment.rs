//! Where the service runs: Development, Staging or Production.

use std::fmt;
use std::str::FromStr;

use super::error::ConfigError;

/// Where the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    /// A developer's machine: SQLite, no Telegram, migrations applied at start, detailed logs.
    #[default]
    Development,
    /// Production-like: PostgreSQL, Telegram on.
    Staging,
    /// Production: PostgreSQL, Telegram on, migrations only when told.
    Production,
}

impl Environment {
    /// Every environment.
    pub const ALL: [Self; 3] = [Self::Development, Self::Staging, Self::Production];

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "Development",
            Self::Staging => "Staging",
            Self::Production => "Production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" | "local" => Ok(Self::Development),
            "staging" | "stage" => Ok(Self::Staging),
            "production" | "prod" => Ok(Self::Production),
            other => Err(ConfigError::Invalid {
                key: "environment".into(),
                message: format!("`{other}` is not Development, Staging or Production"),
            }),
        }
    }
}
