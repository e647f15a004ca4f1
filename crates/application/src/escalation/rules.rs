//! Which rule an "allow for this session" decision on a call grants: the CLI's own
//! suggestion when it is one Orchestra can enforce, else exactly this Bash command. Grants
//! are matched with the policy's matcher as allows ([`orchestra_domain::Grant::covers`]): a
//! Bash command must be plain and match whole, so erring costs a question, never a tool run
//! nobody decided.

use orchestra_domain::grant::{MAX_GRANT_RULE_CHARS, check_grantable};
use orchestra_domain::policy::ToolCall;
use serde_json::Value;

/// The rule an "allow for this session" decision on `call` grants: the first of the CLI's
/// suggestions that is grantable on it (narrower than the whole tool, and covering it),
/// else exactly this Bash command; `None` when there is no such rule (the call can then only
/// be allowed once).
pub(crate) fn session_rule(call: &ToolCall<'_>, suggested: &[String]) -> Option<String> {
    suggested
        .iter()
        .find(|rule| check_grantable(rule, call).is_ok())
        .cloned()
        .or_else(|| exact_rule(call.tool, call.input).filter(|r| check_grantable(r, call).is_ok()))
}

/// A rule for exactly this call where one can be written (`Bash(<command>)`).
pub(crate) fn exact_rule(tool: &str, input: &Value) -> Option<String> {
    let command = input.get("command").and_then(Value::as_str)?;
    let writable = tool == "Bash"
        && !command.trim().is_empty()
        && command.chars().count() <= MAX_GRANT_RULE_CHARS - "Bash()".len()
        && !command.contains(['(', ')', '\n', '\r']);
    writable.then(|| format!("Bash({command})"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bash(cmd: &str) -> Value {
        json!({ "command": cmd })
    }

    fn call<'a>(tool: &'a str, input: &'a Value) -> ToolCall<'a> {
        ToolCall {
            tool,
            input,
            working_directory: "/srv/work",
            home: None,
        }
    }

    #[test]
    fn the_cli_suggestion_is_granted_and_never_the_bare_tool() {
        let suggested = vec!["Bash".to_owned(), "Bash(npm test:*)".to_owned()];
        let npm = bash("npm test");
        assert_eq!(
            session_rule(&call("Bash", &npm), &suggested).as_deref(),
            Some("Bash(npm test:*)")
        );
        // No suggestion: exactly this command.
        let git = bash("git status");
        assert_eq!(
            session_rule(&call("Bash", &git), &[]).as_deref(),
            Some("Bash(git status)")
        );
        // A suggestion for another tool is not used; a tool with no narrower rule gets none.
        let write = json!({"file_path": "/x"});
        assert_eq!(session_rule(&call("Write", &write), &suggested), None);
        let paren = bash("echo (x)");
        assert_eq!(session_rule(&call("Bash", &paren), &[]), None);
        // A chained command has no rule that would cover it.
        let chained = bash("npm test; rm -rf ~");
        assert_eq!(session_rule(&call("Bash", &chained), &suggested), None);
        // A path suggestion the matcher enforces is kept.
        let edit = json!({"file_path": "/srv/work/src/main.rs"});
        assert_eq!(
            session_rule(&call("Edit", &edit), &["Edit(src/**)".to_owned()]).as_deref(),
            Some("Edit(src/**)")
        );
    }
}
