//! The connection string for PostgreSQL's own tools (`pg_dump`, `pg_restore`): the same
//! server, user and options, with the password taken out and handed over apart (for
//! `PGPASSWORD`), so that it never shows on a command line (`ps` shows every user the
//! arguments of every process).

use crate::connection_string::{DatabaseTarget, Sensitive};

/// A libpq connection string without its password, and the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolConninfo {
    /// For `--dbname`.
    pub conninfo: String,
    /// For `PGPASSWORD`.
    pub password: Option<Sensitive>,
}

impl DatabaseTarget {
    /// The connection for a libpq tool; `None` for SQLite.
    pub fn tool_conninfo(&self) -> Option<ToolConninfo> {
        let Self::Postgres { conninfo, .. } = self else {
            return None;
        };
        let s = conninfo.expose();
        let lower = s.to_ascii_lowercase();
        Some(
            if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
                split_url(s)
            } else {
                split_key_values(s)
            },
        )
    }
}

fn split_url(url: &str) -> ToolConninfo {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut password = None;
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, pass)) => {
                password = Some(percent_decode(pass));
                format!("{user}@{hosts}")
            }
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    // A password may also be a query parameter.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    if k.eq_ignore_ascii_case("password") {
                        password = Some(percent_decode(v));
                        false
                    } else {
                        true
                    }
                })
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    ToolConninfo {
        conninfo: format!("{scheme}://{authority}{tail}"),
        password: password.map(Sensitive),
    }
}

/// Splits `key=value key='quoted \' value'` pairs (libpq's keyword form, as
/// [`DatabaseTarget::parse`] writes it).
fn split_key_values(s: &str) -> ToolConninfo {
    let mut kept = Vec::new();
    let mut password = None;
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if key.is_empty() {
            break;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=');
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let mut raw = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            raw.push('\'');
            while let Some(c) = chars.next() {
                raw.push(c);
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            raw.push(n);
                            value.push(n);
                        }
                    }
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                raw.push(c);
                value.push(c);
            }
        }
        if key.eq_ignore_ascii_case("password") {
            password = Some(Sensitive(value));
        } else {
            kept.push(format!("{key}={raw}"));
        }
    }
    ToolConninfo {
        conninfo: kept.join(" "),
        password,
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (String, Option<String>) {
        let t = DatabaseTarget::parse(s).unwrap().tool_conninfo().unwrap();
        (t.conninfo, t.password.map(|p| p.expose().to_owned()))
    }

    #[test]
    fn the_seeds_key_value_string_loses_its_password_only() {
        let (conninfo, password) =
            split("Host=db;Port=5433;Database=o;Username=app;Password=it's-secret");
        assert_eq!(password.as_deref(), Some("it's-secret"));
        assert!(!conninfo.contains("password"), "{conninfo}");
        assert!(
            conninfo.contains("host='db'") && conninfo.contains("port='5433'"),
            "{conninfo}"
        );
        assert!(
            conninfo.contains("dbname='o'") && conninfo.contains("user='app'"),
            "{conninfo}"
        );
    }

    #[test]
    fn a_quoted_password_with_quotes_and_backslashes_comes_back_whole() {
        let (conninfo, password) = split(r"Host=db;Database=o;Username=app;Password=a'b\c d");
        assert_eq!(password.as_deref(), Some(r"a'b\c d"));
        assert_eq!(conninfo, "host='db' dbname='o' user='app'");
    }

    #[test]
    fn a_url_loses_its_password_from_the_userinfo_and_the_query() {
        let (conninfo, password) = split("postgres://app:p%40ss%3Aw@db:5432/o?sslmode=require");
        assert_eq!(password.as_deref(), Some("p@ss:w"));
        assert_eq!(conninfo, "postgres://app@db:5432/o?sslmode=require");
        let (conninfo, password) = split("postgresql://app@db/o?password=x%20y&sslmode=disable");
        assert_eq!(password.as_deref(), Some("x y"));
        assert_eq!(conninfo, "postgresql://app@db/o?sslmode=disable");
        let (conninfo, password) = split("postgres://db/o");
        assert_eq!((conninfo.as_str(), password), ("postgres://db/o", None));
    }

    #[test]
    fn sqlite_has_no_tool_connection() {
        assert!(
            DatabaseTarget::parse("Data Source=x.db")
                .unwrap()
                .tool_conninfo()
                .is_none()
        );
    }
}
