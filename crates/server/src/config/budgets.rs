//! `[budgets]`: what sessions may spend (docs/policy.md, Budgets).

use orchestra_application::sessions::BudgetSettings;
use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

/// `[budgets]` as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetsSection {
    /// The budget of a session under no root below, USD (0: none).
    pub session_usd: f64,
    /// Budgets by working-directory root: `"/srv/ci=5"` (the longest root decides).
    pub roots: Vec<String>,
    /// What the sessions one API key started may spend in a UTC day, USD (0: no cap).
    pub daily_key_usd: f64,
    /// The turn cap of a session under no root of `root_turns` (0: none).
    pub session_turns: u32,
    /// Turn caps by working-directory root: `"/srv/ci=20"` (the longest root decides).
    pub root_turns: Vec<String>,
}

/// Checks `[budgets]`.
///
/// # Errors
/// A negative or non-finite amount, or a root entry that is not `<absolute path>=<usd>`.
pub fn budgets(b: BudgetsSection) -> Result<BudgetSettings, ConfigError> {
    let amount = |key: &str, usd: f64| {
        if usd.is_finite() && (0.0..=100_000.0).contains(&usd) {
            Ok(usd)
        } else {
            Err(invalid(key, format!("is {usd}; must be 0 to 100000 (USD)")))
        }
    };
    let session_usd = amount("budgets.session_usd", b.session_usd)?;
    let daily_key_usd = amount("budgets.daily_key_usd", b.daily_key_usd)?;
    let roots = b
        .roots
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let bad = || root_error("budgets.roots", i, entry, "usd");
            let (root, usd) = root_entry(entry).ok_or_else(bad)?;
            let usd: f64 = usd.parse().map_err(|_| bad())?;
            if usd <= 0.0 {
                return Err(bad());
            }
            Ok((root, amount("budgets.roots", usd)?))
        })
        .collect::<Result<_, _>>()?;
    let root_turns = b
        .root_turns
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let bad = || root_error("budgets.root_turns", i, entry, "turns");
            let (root, n) = root_entry(entry).ok_or_else(bad)?;
            let n: u32 = n.parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            Ok((root, n))
        })
        .collect::<Result<_, _>>()?;
    Ok(BudgetSettings {
        session_turns: (b.session_turns > 0).then_some(b.session_turns),
        root_turns,
        session_usd: (session_usd > 0.0).then_some(session_usd),
        roots,
        daily_key_usd: (daily_key_usd > 0.0).then_some(daily_key_usd),
    })
}

/// `<absolute directory>=<value>`: the directory without a trailing `/` (`/` itself kept)
/// and the value, trimmed.
fn root_entry(entry: &str) -> Option<(String, &str)> {
    let (root, value) = entry.rsplit_once('=')?;
    let root = root.trim();
    if !root.starts_with('/') {
        return None;
    }
    let root = match root.trim_end_matches('/') {
        "" => "/",
        r => r,
    };
    Some((root.to_owned(), value.trim()))
}

fn root_error(key: &str, i: usize, entry: &str, what: &str) -> ConfigError {
    invalid(
        key,
        format!(
            "entry {} (`{entry}`) must be `<absolute directory>=<{what}>`",
            i + 1
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(session_usd: f64, roots: &[&str]) -> BudgetsSection {
        BudgetsSection {
            session_usd,
            roots: roots.iter().map(|r| (*r).to_owned()).collect(),
            daily_key_usd: 0.0,
            session_turns: 0,
            root_turns: vec!["/srv/ci=20".into()],
        }
    }

    #[test]
    fn the_longest_root_decides_and_the_session_default_covers_the_rest() {
        let b = budgets(section(1.0, &["/srv=5", "/srv/ci/=2.5"])).unwrap();
        assert_eq!(b.for_directory("/srv/ci/repo"), Some(2.5));
        assert_eq!(b.root_of("/srv/ci/repo"), Some("/srv/ci"));
        assert_eq!(b.for_directory("/srv/web"), Some(5.0));
        assert_eq!(
            b.for_directory("/srvx"),
            Some(1.0),
            "a root ends on a path boundary"
        );
        assert_eq!(b.root_of("/home/x"), None);
        assert_eq!(b.turns_for_directory("/srv/ci/repo"), Some(20));
        assert_eq!(b.turns_for_directory("/srv/web"), None);
        let everywhere = budgets(section(0.0, &["/=3", "/srv/ci=1"])).unwrap();
        assert_eq!(
            everywhere.for_directory("/home/x"),
            Some(3.0),
            "`/` covers all"
        );
        assert_eq!(everywhere.root_of("/home/x"), Some("/"));
        assert_eq!(everywhere.for_directory("/srv/ci/x"), Some(1.0));
        let none = budgets(section(0.0, &[])).unwrap();
        assert_eq!(none.for_directory("/srv"), None, "0: no budget");
    }

    #[test]
    fn malformed_entries_and_amounts_are_refused_with_the_key() {
        for roots in [
            &["srv=5"][..],
            &["/srv"],
            &["/srv=x"],
            &["/srv=0"],
            &["/srv=-1"],
        ] {
            let err = budgets(section(0.0, roots)).unwrap_err().to_string();
            assert!(err.contains("budgets.roots"), "{roots:?}: {err}");
        }
        for bad in ["/srv=0", "srv=3", "/srv=x"] {
            let mut b = section(0.0, &[]);
            b.root_turns = vec![bad.into()];
            let err = budgets(b).unwrap_err().to_string();
            assert!(err.contains("budgets.root_turns"), "{bad}: {err}");
        }
        for usd in [-1.0, f64::NAN, 1e9] {
            let err = budgets(section(usd, &[])).unwrap_err().to_string();
            assert!(err.contains("budgets.session_usd"), "{usd}: {err}");
        }
    }
}
