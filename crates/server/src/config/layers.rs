//! The three layers as figment providers, each value tagged with where it came from: the
//! built-in defaults, the config file, and one provider per environment variable.

use std::path::Path;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider, Source};

use super::env::EnvValue;
use super::environment::Environment;
use super::error::ConfigError;
use super::schema::{self, Kind};
use super::sections::Sections;

/// One layer: its data and where it came from.
#[derive(Debug)]
pub struct Layer {
    metadata: Metadata,
    data: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

impl Layer {
    /// The built-in defaults of `environment`.
    ///
    /// # Errors
    /// Never in practice: the defaults are plain data.
    pub fn defaults(environment: Environment) -> Result<Self, ConfigError> {
        let data = Value::serialize(Sections::for_environment(environment))?
            .into_dict()
            .unwrap_or_default();
        Ok(Self {
            metadata: Metadata::named(format!("built-in defaults for {environment}")),
            data,
        })
    }

    /// The config file at `path`; keys no setting has are refused by name.
    ///
    /// # Errors
    /// When the file cannot be read or parsed, or has an unknown key.
    pub fn file(path: &Path) -> Result<Self, ConfigError> {
        let file_error = |message: String| ConfigError::File {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let data: Dict = toml::from_str(&text).map_err(|e| file_error(e.to_string()))?;
        if let Some(key) = unknown_key(&data, "") {
            return Err(ConfigError::UnknownKey {
                path: path.display().to_string(),
                key,
            });
        }
        Ok(Self {
            metadata: Metadata::from("config file", Source::File(path.to_path_buf())),
            data,
        })
    }

    /// One environment variable's value.
    pub fn variable(v: EnvValue) -> Self {
        let mut value = v.value;
        for key in v.path.iter().rev() {
            let mut dict = Dict::new();
            dict.insert(key.clone(), value);
            value = Value::from(dict);
        }
        Self {
            metadata: Metadata::from("environment variable", Source::Custom(v.variable)),
            data: value.into_dict().unwrap_or_default(),
        }
    }
}

/// The first key of `dict` (under `prefix`) that no setting has.
fn unknown_key(dict: &Dict, prefix: &str) -> Option<String> {
    for (name, value) in dict {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match schema::find(&path) {
            // A table of names (`[claude.env]`) takes any name.
            Some(key) if matches!(key.kind, Kind::Map(_)) => {}
            Some(_) => {}
            None => {
                let is_section = schema::keys()
                    .iter()
                    .any(|k| k.path.starts_with(&format!("{path}.")));
                match value {
                    Value::Dict(_, inner) if is_section => {
                        if let Some(found) = unknown_key(inner, &path) {
                            return Some(found);
                        }
                    }
                    // A section given as a value: figment reports the wrong type.
                    _ if is_section => {}
                    _ => return Some(path),
                }
            }
        }
    }
    None
}
