//! What a session's escalation remembers about single calls: one-time allows of exactly one
//! call (after a parked or denied call was approved), calls refused before, and the
//! decisions already acted on. Grants of rules are stored ([`crate::ports::GrantRepository`]).

use std::collections::HashSet;

use orchestra_domain::ApprovalId;
use serde_json::Value;

use crate::ports::PermissionAnswer;

/// A one-time allow of exactly one call (after a parked or denied call was approved).
#[derive(Debug, Clone)]
struct OnceGrant {
    tool: String,
    input: Value,
    updated_input: Option<Value>,
}

/// A session's memory of single calls. It outlives its processes and goes when it is
/// closed.
#[derive(Debug, Default)]
pub(crate) struct CallMemory {
    /// Exactly these calls, once each.
    once: Vec<OnceGrant>,
    /// Calls refused or expired: answered with a deny, never asked again.
    refused: Vec<(String, Value)>,
    /// Decisions already acted on (a decision may be reported by the bus and the poll).
    handled: HashSet<ApprovalId>,
}

/// Why a permission request was answered without asking anyone (a metric label).
pub(crate) type AutoAnswer = (PermissionAnswer, &'static str);

impl CallMemory {
    /// The answer for `tool` with `input`, if a one-time allow or a refusal covers it. A
    /// one-time allow is used up.
    pub(crate) fn answer(&mut self, tool: &str, input: &Value) -> Option<AutoAnswer> {
        if let Some(pos) = self
            .once
            .iter()
            .position(|o| o.tool == tool && &o.input == input)
        {
            let grant = self.once.remove(pos);
            let allow = PermissionAnswer::Allow {
                updated_input: grant.updated_input,
            };
            return Some((allow, "one_time_grant"));
        }
        self.is_refused(tool, input).then(|| {
            let deny = PermissionAnswer::Deny {
                message: "This exact tool call was already refused or not approved in time; it will not be asked again.".into(),
                interrupt: false,
            };
            (deny, "refused_before")
        })
    }

    /// Whether this exact call was refused before (nothing is used up).
    pub(crate) fn is_refused(&self, tool: &str, input: &Value) -> bool {
        self.refused.iter().any(|(t, i)| t == tool && i == input)
    }

    /// Marks `approval` as acted on; false when it already was.
    pub(crate) fn first_time(&mut self, approval: ApprovalId) -> bool {
        self.handled.insert(approval)
    }

    /// Allows exactly this call once.
    pub(crate) fn allow_once(&mut self, tool: &str, input: &Value, updated_input: Option<Value>) {
        self.once.push(OnceGrant {
            tool: tool.to_owned(),
            input: input.clone(),
            updated_input,
        });
    }

    /// Refuses this call for the rest of the session.
    pub(crate) fn refuse(&mut self, tool: &str, input: &Value) {
        self.refused.push((tool.to_owned(), input.clone()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_one_time_grant_allows_exactly_that_call_once() {
        let mut g = CallMemory::default();
        g.allow_once("Bash", &json!({"command": "ls"}), None);
        assert!(g.answer("Bash", &json!({"command": "rm -rf /"})).is_none());
        let (answer, why) = g.answer("Bash", &json!({"command": "ls"})).unwrap();
        assert_eq!(why, "one_time_grant");
        assert!(matches!(answer, PermissionAnswer::Allow { .. }));
        assert!(g.answer("Bash", &json!({"command": "ls"})).is_none());
    }

    #[test]
    fn a_refused_call_is_denied_without_asking_and_others_are_not() {
        let mut g = CallMemory::default();
        g.refuse("Write", &json!({"file_path": "/etc/passwd"}));
        let (answer, why) = g
            .answer("Write", &json!({"file_path": "/etc/passwd"}))
            .unwrap();
        assert_eq!(why, "refused_before");
        assert!(matches!(
            answer,
            PermissionAnswer::Deny {
                interrupt: false,
                ..
            }
        ));
        assert!(g.answer("Write", &json!({"file_path": "/tmp/x"})).is_none());
    }

    #[test]
    fn a_decision_is_acted_on_once() {
        let mut g = CallMemory::default();
        let id = ApprovalId::new();
        assert!(g.first_time(id));
        assert!(!g.first_time(id));
    }
}
