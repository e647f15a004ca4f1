//! Grants: what a human allowed beyond one call. An approval decided with scope `session` or
//! `rule` carries [`GrantTerms`] (a permission rule, and when it stops); the grant lives on
//! that approval, so it is written in the decision's own transaction and found by the
//! approval's id. Orchestra enforces it on every later prompt (it is never handed to the
//! CLI as an allowed tool), so revoking it or reaching its expiry takes effect at once, on
//! any node.

use chrono::{DateTime, Utc};

use crate::policy::{ToolCall, ToolRule};
use crate::{ApprovalId, ApprovalRequest, ApprovalStatus};

/// The longest grant a decision may set, in minutes (7 days); without one a grant lasts
/// until the session is closed.
pub const MAX_GRANT_MINUTES: u32 = 7 * 24 * 60;

/// The longest rule a grant may carry (a longer one is not a rule a person reads).
pub const MAX_GRANT_RULE_CHARS: usize = 500;

/// What a decision allowed beyond its own call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTerms {
    /// The permission rule (`Bash(npm test:*)`, `Edit(src/**)`), in Claude Code's syntax.
    pub rule: String,
    /// When it stops (`None`: when the session is closed).
    pub expires_at: Option<DateTime<Utc>>,
    /// Who took it back, and when.
    pub revoked: Option<Revocation>,
}

/// A grant taken back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Who revoked it (the key's name).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// It answers the calls it covers.
    Active,
    /// Its time ran out.
    Expired,
    /// Someone took it back.
    Revoked,
}

impl GrantState {
    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// Why a rule cannot be granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GrantRuleError(pub String);

/// Checks that `rule` may be granted on a call of `call`: it parses, names a pattern
/// narrower than the whole tool, and allows this very call (an approver edits the CLI's
/// suggestion; they do not grant something unrelated to what they saw).
///
/// # Errors
/// What is wrong, in words for the approver.
pub fn check_grantable(rule: &str, call: &ToolCall<'_>) -> Result<ToolRule, GrantRuleError> {
    let chars = rule.chars().count();
    if chars > MAX_GRANT_RULE_CHARS {
        return Err(GrantRuleError(format!(
            "is {chars} characters long; the limit is {MAX_GRANT_RULE_CHARS}"
        )));
    }
    if rule.chars().any(char::is_control) {
        return Err(GrantRuleError("must not contain control characters".into()));
    }
    let parsed = ToolRule::parse(rule).map_err(GrantRuleError)?;
    if parsed.is_whole_tool() {
        return Err(GrantRuleError(format!(
            "`{rule}` allows every use of the tool; grant a narrower pattern (`Bash(npm test:*)`, `Edit(src/**)`)"
        )));
    }
    if !parsed.allows(call) {
        return Err(GrantRuleError(format!(
            "`{rule}` does not cover the call being decided ({} {})",
            call.tool,
            clip(&call.input.to_string(), 120)
        )));
    }
    Ok(parsed)
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

/// A grant as listed: the approval that made it and its terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// The approval whose decision made it (also the grant's id).
    pub id: ApprovalId,
    /// The session it belongs to.
    pub session_id: String,
    /// The tool of the call that was decided.
    pub tool_name: String,
    /// Who granted it.
    pub granted_by: String,
    /// When.
    pub granted_at: DateTime<Utc>,
    /// What it allows and until when.
    pub terms: GrantTerms,
}

impl Grant {
    /// The grant an approval's decision made, if it made one.
    pub fn of(approval: &ApprovalRequest) -> Option<Self> {
        if approval.status() != ApprovalStatus::Approved {
            return None;
        }
        let d = approval.decision()?;
        Some(Self {
            id: approval.id(),
            session_id: approval.request().session_id.clone(),
            tool_name: approval.request().tool_name.clone(),
            granted_by: d.decided_by.clone(),
            granted_at: d.decided_at,
            terms: d.grant.clone()?,
        })
    }

    /// Where it stands at `now`. A revoked grant stays revoked after its expiry.
    pub fn state(&self, now: DateTime<Utc>) -> GrantState {
        if self.terms.revoked.is_some() {
            GrantState::Revoked
        } else if self.terms.expires_at.is_some_and(|at| at <= now) {
            GrantState::Expired
        } else {
            GrantState::Active
        }
    }

    /// Whether it answers `call` at `now`: active, and its rule allows the call (a plain
    /// command matched whole; never a chained one).
    pub fn covers(&self, call: &ToolCall<'_>, now: DateTime<Utc>) -> bool {
        self.state(now) == GrantState::Active
            && ToolRule::parse(&self.terms.rule).is_ok_and(|r| r.allows(call))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn grant(rule: &str, expires_at: Option<DateTime<Utc>>) -> Grant {
        Grant {
            id: ApprovalId::new(),
            session_id: "s".into(),
            tool_name: "Bash".into(),
            granted_by: "alice".into(),
            granted_at: t(0),
            terms: GrantTerms {
                rule: rule.into(),
                expires_at,
                revoked: None,
            },
        }
    }

    fn bash(command: &str) -> serde_json::Value {
        json!({ "command": command })
    }

    fn call<'a>(tool: &'a str, input: &'a serde_json::Value) -> ToolCall<'a> {
        ToolCall {
            tool,
            input,
            working_directory: "/srv/work",
            home: None,
        }
    }

    #[test]
    fn a_grant_covers_its_calls_until_it_expires_or_is_revoked() {
        let mut g = grant("Bash(npm test:*)", Some(t(1800)));
        let ok = bash("npm test -- -u");
        assert!(g.covers(&call("Bash", &ok), t(10)));
        assert!(!g.covers(&call("Bash", &bash("npm test; rm -rf ~")), t(10)));
        assert!(!g.covers(&call("Bash", &bash("rm -rf build")), t(10)));
        assert_eq!(g.state(t(1799)), GrantState::Active);
        assert_eq!(
            g.state(t(1800)),
            GrantState::Expired,
            "the deadline is exclusive"
        );
        assert!(!g.covers(&call("Bash", &ok), t(1800)));
        g.terms.revoked = Some(Revocation {
            by: "bob".into(),
            at: t(5),
        });
        assert_eq!(g.state(t(10)), GrantState::Revoked);
        assert_eq!(g.state(t(5000)), GrantState::Revoked);
        assert!(!g.covers(&call("Bash", &ok), t(10)));
    }

    #[test]
    fn a_grant_without_expiry_lasts_and_path_rules_use_the_project_root() {
        let g = grant("Edit(src/**)", None);
        let inside = json!({"file_path": "/srv/work/src/lib.rs"});
        let outside = json!({"file_path": "/srv/work/Cargo.toml"});
        assert!(g.covers(&call("Write", &inside), t(10_000_000)));
        assert!(!g.covers(&call("Write", &outside), t(10)));
    }

    #[test]
    fn only_narrow_rules_that_cover_the_decided_call_are_grantable() {
        let input = bash("npm test");
        let c = call("Bash", &input);
        assert!(check_grantable("Bash(npm test:*)", &c).is_ok());
        assert!(
            check_grantable("Bash(npm:*)", &c).is_ok(),
            "an approver may widen it"
        );
        let whole = check_grantable("Bash", &c).unwrap_err().0;
        assert!(whole.contains("every use"), "{whole}");
        let star = check_grantable("Bash(*)", &c).unwrap_err().0;
        assert!(star.contains("every use"), "{star}");
        let other = check_grantable("Bash(curl:*)", &c).unwrap_err().0;
        assert!(other.contains("does not cover"), "{other}");
        assert!(check_grantable("Read(src/**)", &c).is_err(), "another tool");
        assert!(check_grantable("Bash(npm test", &c).is_err());
        assert!(check_grantable("Bash(npm test:*)\n", &c).is_err());
        let long = format!("Bash(npm test {}:*)", "x".repeat(600));
        assert!(check_grantable(&long, &c).unwrap_err().0.contains("limit"));
        let url = json!({"url": "https://docs.rs/serde"});
        assert!(check_grantable("WebFetch(domain:docs.rs)", &call("WebFetch", &url)).is_ok());
    }
}
