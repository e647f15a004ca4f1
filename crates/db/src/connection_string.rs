//! Connection strings: the seed's ADO.NET forms (`Data Source=orchestra.db`,
//! `Host=...;Database=...;Username=...;Password=...`) and URLs (`postgres://`, `sqlite://`).
//! The password never appears in `Debug`, `Display`, errors or [`DatabaseTarget::location`].

use std::fmt;

/// The database backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, a file.
    Sqlite,
    /// PostgreSQL, a server.
    Postgres,
}

impl Backend {
    /// The name shown in diagnostics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgresql",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that must not be shown (it may hold a password).
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(pub(crate) String);

impl Sensitive {
    /// The value, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A SQLite file.
    Sqlite {
        /// The file's path.
        path: String,
    },
    /// A PostgreSQL server.
    Postgres {
        /// libpq connection info (URL or `key=value` pairs), with the password.
        conninfo: Sensitive,
        /// `host:port/database`, without secrets.
        location: String,
        /// A pool size given in the string (`MaxPoolSize=` / `Maximum Pool Size=`).
        max_pool_size: Option<u32>,
    },
}

/// Why a connection string is not understood. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionStringError {
    /// Empty.
    #[error("the connection string is empty")]
    Empty,
    /// Neither SQLite nor PostgreSQL.
    #[error(
        "cannot tell the database from the connection string: use `Data Source=<file>` or `sqlite://<file>` for SQLite, \
         `Host=...;Database=...;Username=...;Password=...` or `postgres://...` for PostgreSQL"
    )]
    Unrecognized,
    /// A key=value part without `=` (its position, 1-based: the text is never shown, it
    /// may be a piece of a password that contains `;`).
    #[error("part {0} of the connection string is not key=value")]
    Malformed(usize),
    /// A key this parser does not know (its position, for the same reason).
    #[error(
        "part {0} of the connection string has a key this server does not know \
         (SQLite: Data Source, Mode, Cache; PostgreSQL: Host, Port, Database, Username, Password, \
         SSL Mode, Timeout, MaxPoolSize, ...)"
    )]
    UnknownKey(usize),
    /// A value that does not parse.
    #[error("invalid value for `{key}`: {message}")]
    InvalidValue {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// In-memory SQLite cannot be pooled.
    #[error(
        "in-memory SQLite is not supported: every pooled connection would see its own empty database; use a file"
    )]
    InMemory,
}

impl DatabaseTarget {
    /// Parses a connection string.
    ///
    /// # Errors
    /// [`ConnectionStringError`], which never includes the password.
    pub fn parse(input: &str) -> Result<Self, ConnectionStringError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ConnectionStringError::Empty);
        }
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Self::Postgres {
                conninfo: Sensitive(s.to_owned()),
                location: url_location(s),
                max_pool_size: None,
            });
        }
        if let Some(path) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            return sqlite(path);
        }
        if s.contains('=') {
            return parse_key_values(s);
        }
        // A bare path: SQLite only when it says so (extension) or the file exists.
        let looks_sqlite = [".db", ".sqlite", ".sqlite3"]
            .iter()
            .any(|ext| lower.ends_with(ext));
        if looks_sqlite || std::path::Path::new(s).is_file() {
            return sqlite(s);
        }
        Err(ConnectionStringError::Unrecognized)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite { .. } => Backend::Sqlite,
            Self::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Where it is, without secrets.
    pub fn location(&self) -> String {
        match self {
            Self::Sqlite { path } => path.clone(),
            Self::Postgres { location, .. } => location.clone(),
        }
    }

    /// A pool size named in the connection string.
    pub fn max_pool_size(&self) -> Option<u32> {
        match self {
            Self::Sqlite { .. } => None,
            Self::Postgres { max_pool_size, .. } => *max_pool_size,
        }
    }
}

fn sqlite(path: &str) -> Result<DatabaseTarget, ConnectionStringError> {
    let path = path.trim();
    if path.is_empty() {
        return Err(ConnectionStringError::Empty);
    }
    if path == ":memory:" || path.contains("mode=memory") {
        return Err(ConnectionStringError::InMemory);
    }
    Ok(DatabaseTarget::Sqlite {
        path: path.to_owned(),
    })
}

fn url_location(url: &str) -> String {
    // scheme://[user[:password]@]host[:port][/db][?params] -> host[:port]/db
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let rest = rest.split('?').next().unwrap_or_default();
    rest.to_owned()
}

fn quote_conninfo(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

fn parse_key_values(s: &str) -> Result<DatabaseTarget, ConnectionStringError> {
    let mut pairs = Vec::new();
    for (n, part) in s
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let (k, v) = part
            .split_once('=')
            .ok_or(ConnectionStringError::Malformed(n + 1))?;
        let key: String = k
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        pairs.push((key, v.trim().to_owned(), n + 1));
    }
    if let Some((_, path, _)) = pairs
        .iter()
        .find(|(k, _, _)| matches!(k.as_str(), "datasource" | "filename"))
    {
        if let Some((_, _, n)) = pairs.iter().find(|(k, _, _)| {
            !matches!(
                k.as_str(),
                "datasource" | "filename" | "mode" | "cache" | "foreignkeys" | "pooling"
            )
        }) {
            return Err(ConnectionStringError::UnknownKey(*n));
        }
        if pairs
            .iter()
            .any(|(k, v, _)| k == "mode" && v.eq_ignore_ascii_case("memory"))
        {
            return Err(ConnectionStringError::InMemory);
        }
        return sqlite(path);
    }

    let mut conninfo = Vec::new();
    let (mut host, mut port, mut database) = (
        String::from("localhost"),
        String::from("5432"),
        String::new(),
    );
    let mut max_pool_size = None;
    let mut saw_host = false;
    for (key, value, n) in pairs {
        let libpq_key = match key.as_str() {
            "host" | "server" => {
                saw_host = true;
                host.clone_from(&value);
                "host"
            }
            "port" => {
                value
                    .parse::<u16>()
                    .map_err(|_| ConnectionStringError::InvalidValue {
                        key: "Port".into(),
                        message: "expected a port number".into(),
                    })?;
                port.clone_from(&value);
                "port"
            }
            "database" | "initialcatalog" => {
                database.clone_from(&value);
                "dbname"
            }
            "username" | "userid" | "user" | "uid" => "user",
            "password" | "pwd" => "password",
            "sslmode" => {
                let mode = match value.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
                    "disable" => "disable",
                    "allow" => "allow",
                    "prefer" => "prefer",
                    "require" => "require",
                    "verifyca" => "verify-ca",
                    "verifyfull" => "verify-full",
                    _ => {
                        return Err(ConnectionStringError::InvalidValue {
                            key: "SSL Mode".into(),
                            message:
                                "expected Disable, Allow, Prefer, Require, VerifyCA or VerifyFull"
                                    .into(),
                        });
                    }
                };
                conninfo.push(format!("sslmode={mode}"));
                continue;
            }
            "timeout" | "connecttimeout" => "connect_timeout",
            "applicationname" => "application_name",
            "maxpoolsize" | "maximumpoolsize" => {
                max_pool_size = Some(value.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(
                    || ConnectionStringError::InvalidValue {
                        key: "MaxPoolSize".into(),
                        message: "expected a positive number".into(),
                    },
                )?);
                continue;
            }
            // Npgsql pool knobs that have no libpq meaning.
            "pooling"
            | "minpoolsize"
            | "minimumpoolsize"
            | "connectionidlelifetime"
            | "commandtimeout"
            | "includeerrordetail"
            | "trustservercertificate" => continue,
            _ => return Err(ConnectionStringError::UnknownKey(n)),
        };
        conninfo.push(format!("{libpq_key}={}", quote_conninfo(&value)));
    }
    if !saw_host && database.is_empty() {
        return Err(ConnectionStringError::Unrecognized);
    }
    Ok(DatabaseTarget::Postgres {
        conninfo: Sensitive(conninfo.join(" ")),
        location: format!("{host}:{port}/{database}"),
        max_pool_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_development_string_is_sqlite() {
        assert_eq!(
            DatabaseTarget::parse("Data Source=orchestra.db").unwrap(),
            DatabaseTarget::Sqlite {
                path: "orchestra.db".into()
            }
        );
    }

    #[test]
    fn the_seeds_production_string_is_postgres_with_its_pool_size_and_no_visible_password() {
        let t = DatabaseTarget::parse(
            "Host=prod-db-primary;Database=orchestra;Username=app;Password=s3cr3t;Pooling=true;MaxPoolSize=100",
        )
        .unwrap();
        assert_eq!(t.backend(), Backend::Postgres);
        assert_eq!(t.location(), "prod-db-primary:5432/orchestra");
        assert_eq!(t.max_pool_size(), Some(100));
        assert!(!format!("{t:?}").contains("s3cr3t"));
        let DatabaseTarget::Postgres { conninfo, .. } = t else {
            unreachable!()
        };
        assert_eq!(
            conninfo.expose(),
            "host='prod-db-primary' dbname='orchestra' user='app' password='s3cr3t'"
        );
    }

    #[test]
    fn quotes_in_passwords_are_escaped_for_libpq() {
        let t = DatabaseTarget::parse("Host=h;Database=d;Username=u;Password=it's\\x").unwrap();
        let DatabaseTarget::Postgres { conninfo, .. } = t else {
            unreachable!()
        };
        assert!(conninfo.expose().ends_with(r"password='it\'s\\x'"));
    }

    #[test]
    fn urls_are_understood_and_their_location_hides_credentials() {
        let t = DatabaseTarget::parse("postgres://app:pw@db:6543/orch?sslmode=require").unwrap();
        assert_eq!(t.location(), "db:6543/orch");
        assert_eq!(
            DatabaseTarget::parse("sqlite:///var/lib/orchestra/o.db")
                .unwrap()
                .location(),
            "/var/lib/orchestra/o.db"
        );
    }

    #[test]
    fn nonsense_and_in_memory_are_refused_without_echoing_secrets() {
        assert_eq!(
            DatabaseTarget::parse("  "),
            Err(ConnectionStringError::Empty)
        );
        assert_eq!(
            DatabaseTarget::parse("hello"),
            Err(ConnectionStringError::Unrecognized)
        );
        assert_eq!(
            DatabaseTarget::parse("Data Source=:memory:"),
            Err(ConnectionStringError::InMemory)
        );
        let err = DatabaseTarget::parse("Host=h;Password=topsecret;Frobnicate=1").unwrap_err();
        assert_eq!(err, ConnectionStringError::UnknownKey(3));
        assert!(!err.to_string().contains("topsecret"));
        // A password with `;` in it: neither half is ever shown.
        for cs in ["Host=h;Password=top;secret", "Host=h;Password=top;sec=ret"] {
            let err = DatabaseTarget::parse(cs).unwrap_err().to_string();
            assert!(!err.contains("sec") && !err.contains("top"), "{err}");
        }
        let err = DatabaseTarget::parse("Host=h;Port=abc;Password=topsecret").unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
    }

    #[test]
    fn a_bare_path_is_sqlite_only_when_it_looks_like_one() {
        assert!(DatabaseTarget::parse("data/orchestra.sqlite3").is_ok());
        assert!(DatabaseTarget::parse("data/orchestra").is_err());
    }
}
