//! Who may do what: roles, the principal a request acts as, and API keys (only a hash of
//! the key is ever kept).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Read sessions, turns, approvals and events.
    Viewer,
    /// Start and drive sessions within the server's policy (and read).
    Operator,
    /// Decide approvals (and read). Deliberately not an operator: the one who runs an agent
    /// is not the one who approves what it does, unless an admin.
    Approver,
    /// Everything: keys, policy, edited tool input.
    Admin,
}

/// Why a text is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a role (viewer, operator, approver, admin)")]
pub struct ParseRoleError(String);

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Self; 4] = [Self::Viewer, Self::Operator, Self::Approver, Self::Admin];

    /// The canonical (lower-case) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Approver => "approver",
            Self::Admin => "admin",
        }
    }

    /// Whether a caller with this role may do what `needed` may.
    pub fn grants(self, needed: Self) -> bool {
        match self {
            Self::Admin => true,
            Self::Operator | Self::Approver => needed == self || needed == Self::Viewer,
            Self::Viewer => needed == Self::Viewer,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseRoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseRoleError(s.chars().take(40).collect()))
    }
}

/// Who a request acts as: recorded on what it decides, starts or cancels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    name: String,
    role: Role,
}

impl Principal {
    /// An API key's principal (`key:<name>`).
    pub fn api_key(key_name: &str, role: Role) -> Self {
        Self {
            name: format!("key:{key_name}"),
            role,
        }
    }

    /// A principal under a name of its own (`telegram:<id> (@user)`, `orchestra`, or
    /// `anonymous` when authentication is off).
    pub fn named(name: impl Into<String>, role: Role) -> Self {
        Self {
            name: name.into(),
            role,
        }
    }

    /// The name recorded on decisions and sessions.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether it may do what `needed` may.
    pub fn may(&self, needed: Role) -> bool {
        self.role.grants(needed)
    }
}

/// Why a key name is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key name is 1-64 characters of letters, digits, `-`, `_` and `.`")]
pub struct KeyNameError;

/// A stored API key: its hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's unique name (`ci`, `alice`).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the key, lower-case hex.
    pub key_hash: String,
    /// The key's first characters, to recognise it in a list.
    pub prefix: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key authenticates nobody.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Checks a key name.
    ///
    /// # Errors
    /// [`KeyNameError`] unless 1-64 of `[A-Za-z0-9._-]`.
    pub fn check_name(name: &str) -> Result<(), KeyNameError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if ok { Ok(()) } else { Err(KeyNameError) }
    }

    /// Whether it still authenticates.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// Its principal.
    pub fn principal(&self) -> Principal {
        Principal::api_key(&self.name, self.role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_grants_everything_and_operators_do_not_approve() {
        for r in Role::ALL {
            assert!(Role::Admin.grants(r));
            assert!(r.grants(Role::Viewer));
        }
        assert!(!Role::Operator.grants(Role::Approver));
        assert!(!Role::Approver.grants(Role::Operator));
        assert!(!Role::Viewer.grants(Role::Operator));
        assert!(!Role::Operator.grants(Role::Admin));
    }

    #[test]
    fn roles_parse_case_insensitively_and_refuse_others() {
        assert_eq!("Approver".parse::<Role>(), Ok(Role::Approver));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn key_names_are_short_and_plain() {
        assert!(ApiKey::check_name("ci-bot_1.x").is_ok());
        assert!(ApiKey::check_name("").is_err());
        assert!(ApiKey::check_name("a b").is_err());
        assert!(ApiKey::check_name(&"x".repeat(65)).is_err());
    }
}
