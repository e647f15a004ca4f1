//! The server's tool policy: an ordered list of rules in Claude Code's rule syntax
//! (`Read`, `Bash(git status:*)`, `Edit(src/**)`, `WebFetch(domain:docs.rs)`), each mapped
//! to allow, ask (with a risk class) or deny, optionally scoped to working-directory roots.
//! The first rule that matches a tool call decides; no match is ask/high.
//!
//! Matching errs towards asking: an `allow` rule matches a Bash command only when the
//! command is plain (no `;`, `&&`, `|`, substitution or redirection), while `ask` and `deny`
//! rules match a compound command when any of its parts matches, each part also seen
//! without the wrappers that run another program (`shell.rs`).

mod matcher;
pub(crate) mod paths;
mod shell;
mod syntax;

use std::fmt;
use std::path::Path;

pub use matcher::{ToolRule, is_plain};
pub use paths::wildcard;
pub use syntax::PolicyRuleError;

/// What a rule does with a call it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyAction {
    /// Run it; no human is asked.
    Allow,
    /// A human decides.
    Ask,
    /// Refused; no human is asked.
    Deny,
}

impl PolicyAction {
    /// `allow`, `ask`, `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Ask => "ask",
            Self::Deny => "deny",
        }
    }
}

/// How much an `ask` matters (escalation chains and budgets key on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum RiskClass {
    /// Routine.
    Low,
    /// The default.
    #[default]
    High,
    /// Irreversible or outside the project.
    Critical,
}

impl RiskClass {
    /// `low`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// `low`, `high` or `critical`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Self::Low),
            "high" => Some(Self::High),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }
}

/// One rule of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    /// What it matches.
    pub rule: ToolRule,
    /// What it does.
    pub action: PolicyAction,
    /// For `ask`: the risk class.
    pub risk: RiskClass,
    /// Only sessions whose working directory is under one of these (empty: every session).
    pub roots: Vec<String>,
    /// As written in the configuration.
    pub text: String,
}

impl PolicyRule {
    /// Whether the rule counts for a session in `working_directory` (no roots: everywhere).
    pub fn applies_in(&self, working_directory: &str) -> bool {
        self.roots.is_empty()
            || self
                .roots
                .iter()
                .any(|root| paths::is_under(Path::new(working_directory), Path::new(root)))
    }
}

impl fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A tool call to judge.
#[derive(Debug, Clone, Copy)]
pub struct ToolCall<'a> {
    /// The tool's name.
    pub tool: &'a str,
    /// Its input.
    pub input: &'a serde_json::Value,
    /// The session's working directory (absolute).
    pub working_directory: &'a str,
    /// The agent's HOME, for `~/` rules.
    pub home: Option<&'a str>,
}

/// What the policy says about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Allow, ask or deny.
    pub action: PolicyAction,
    /// The risk class (`ask`; `high` by default).
    pub risk: RiskClass,
    /// The rule that decided, by position and text; `None`: no rule matched (the default).
    pub rule: Option<(usize, String)>,
}

/// The ordered rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolPolicy {
    rules: Vec<PolicyRule>,
}

impl ToolPolicy {
    /// Parses each line (`allow Read`, `ask:low Bash(npm test:*)`, `deny WebFetch`,
    /// `allow Edit(src/**) in /srv/work`), in order.
    ///
    /// # Errors
    /// The first line that does not parse, with its position.
    pub fn parse(lines: &[String]) -> Result<Self, PolicyRuleError> {
        let rules = lines
            .iter()
            .enumerate()
            .map(|(i, l)| syntax::parse_line(l).map_err(|e| e.at(i + 1)))
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[PolicyRule] {
        &self.rules
    }

    /// The rules the CLI must ask about, in a session in `working_directory`, whatever
    /// it would allow by itself (read-only tools in the project, pre-allowed tools): every
    /// `deny` and `ask` rule that counts there, as written. Orchestra then judges each call
    /// the CLI asks about by the whole ordered list.
    pub fn ask_first(&self, working_directory: &str) -> Vec<String> {
        let mut rules: Vec<String> = Vec::new();
        for r in &self.rules {
            if r.action != PolicyAction::Allow
                && r.applies_in(working_directory)
                && !rules.iter().any(|x| x == r.rule.as_str())
            {
                rules.push(r.rule.as_str().to_owned());
            }
        }
        rules
    }

    /// The first rule that matches `call` decides; none: ask/high.
    pub fn evaluate(&self, call: &ToolCall<'_>) -> Verdict {
        for (i, r) in self.rules.iter().enumerate() {
            if !r.applies_in(call.working_directory) {
                continue;
            }
            if r.rule.matches(call, r.action == PolicyAction::Allow) {
                return Verdict {
                    action: r.action,
                    risk: r.risk,
                    rule: Some((i + 1, r.text.clone())),
                };
            }
        }
        Verdict {
            action: PolicyAction::Ask,
            risk: RiskClass::High,
            rule: None,
        }
    }
}

#[cfg(test)]
mod tests;
