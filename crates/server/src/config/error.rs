//! Why the configuration cannot be used, and the translation of figment's errors into that.

use figment::Source;
use figment::error::{Actual, Kind};

/// Why the configuration cannot be used. Never contains a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is wrong.
    #[error("{key}: {message}")]
    Invalid {
        /// The setting (file key or environment variable).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A required value is missing.
    #[error("{key} is required: {hint}")]
    Missing {
        /// The setting.
        key: String,
        /// How to provide it.
        hint: String,
    },
    /// The config file cannot be read or parsed.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A key in the config file that no setting has.
    #[error("config file {path}: unknown key `{key}` (see docs/config.md for the settings)")]
    UnknownKey {
        /// The file.
        path: String,
        /// The dotted key, e.g. `server.prot`.
        key: String,
    },
    /// An `ORCHESTRA__*` environment variable that names no setting.
    #[error(
        "environment variable {variable}: unknown setting `{key}` (see docs/config.md for the settings)"
    )]
    UnknownVariable {
        /// The variable.
        variable: String,
        /// The dotted key it would set.
        key: String,
    },
}

/// Shorthand for [`ConfigError::Invalid`].
pub(super) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// What kind of value was found, without the value (it may be a secret).
fn found(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "an array",
        Actual::Map => "a table",
        Actual::Unit | Actual::Option => "nothing",
        _ => "another type",
    }
}

/// The message of a figment error kind, never echoing the value.
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", found(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!(
                "expected {expected}, found {} that does not fit",
                found(actual)
            )
        }
        Kind::InvalidLength(len, expected) => format!("expected {expected}, found length {len}"),
        Kind::UnknownField(field, _) => format!("unknown key `{field}`"),
        Kind::MissingField(field) => format!("missing key `{field}`"),
        Kind::DuplicateField(field) => format!("duplicate key `{field}`"),
        Kind::UnknownVariant(variant, expected) => {
            format!("unknown variant `{variant}`, expected one of {expected:?}")
        }
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "an integer out of range".into(),
        Kind::Unsupported(actual) => format!("unsupported {}", found(actual)),
        Kind::UnsupportedKey(actual, expected) => {
            format!("unsupported key {}, expected {expected}", found(actual))
        }
        Kind::Message(m) => m.clone(),
    }
}

impl From<figment::Error> for ConfigError {
    /// Names the key and where its value came from (the file, the variable, or the defaults).
    fn from(errors: figment::Error) -> Self {
        let e = errors.into_iter().next();
        let Some(e) = e else {
            return invalid("configuration", "invalid");
        };
        let key = e.path.join(".");
        let message = if key.is_empty() {
            describe(&e.kind)
        } else {
            format!("{key}: {}", describe(&e.kind))
        };
        match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
            Some(Source::File(path)) => ConfigError::File {
                path: path.display().to_string(),
                message,
            },
            Some(Source::Custom(variable)) => ConfigError::Invalid {
                key: variable.clone(),
                message,
            },
            _ => ConfigError::Invalid {
                key: if key.is_empty() {
                    "defaults".into()
                } else {
                    key
                },
                message: describe(&e.kind),
            },
        }
    }
}
