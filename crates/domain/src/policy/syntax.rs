//! One policy line: `<action>[:<risk>] <rule> [in <root> ...]`.

use super::{PolicyAction, PolicyRule, RiskClass, ToolRule};

/// Why a policy line does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {line}: {message}")]
pub struct PolicyRuleError {
    /// 1-based position in the list (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl PolicyRuleError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            line: 0,
            message: message.into(),
        }
    }

    pub(super) fn at(mut self, line: usize) -> Self {
        self.line = line;
        self
    }
}

pub(super) fn parse_line(line: &str) -> Result<PolicyRule, PolicyRuleError> {
    let text = line.trim();
    let (head, rest) = text.split_once(char::is_whitespace).ok_or_else(|| {
        PolicyRuleError::new(format!(
            "`{text}`: expected `allow|ask[:low|high|critical]|deny <rule>`"
        ))
    })?;
    let (action, risk) = match head.split_once(':') {
        None => (head, None),
        Some((a, r)) => (a, Some(r)),
    };
    let action = match action {
        "allow" => PolicyAction::Allow,
        "ask" => PolicyAction::Ask,
        "deny" => PolicyAction::Deny,
        other => {
            return Err(PolicyRuleError::new(format!(
                "`{other}` is not allow, ask or deny"
            )));
        }
    };
    let risk = match (action, risk) {
        (_, None) => RiskClass::High,
        (PolicyAction::Ask, Some(r)) => RiskClass::parse(r)
            .ok_or_else(|| PolicyRuleError::new(format!("`{r}` is not low, high or critical")))?,
        (_, Some(_)) => return Err(PolicyRuleError::new("only `ask` takes a risk class")),
    };
    let rest = rest.trim();
    // The rule ends at its closing parenthesis (a specifier may hold spaces), or at the
    // first space for a bare tool.
    let (rule_text, tail) = match (rest.find('('), rest.find(char::is_whitespace)) {
        (Some(open), space) if space.is_none_or(|s| open < s) => {
            let close = rest
                .rfind(')')
                .ok_or_else(|| PolicyRuleError::new(format!("`{rest}`: no closing parenthesis")))?;
            (&rest[..=close], rest[close + 1..].trim())
        }
        (_, Some(space)) => (&rest[..space], rest[space..].trim()),
        (_, None) => (rest, ""),
    };
    let rule = ToolRule::parse(rule_text).map_err(PolicyRuleError::new)?;
    let roots = if tail.is_empty() {
        Vec::new()
    } else {
        let dirs = tail.strip_prefix("in ").ok_or_else(|| {
            PolicyRuleError::new(format!("`{tail}`: expected `in <root> ...` after the rule"))
        })?;
        let roots: Vec<String> = dirs.split_whitespace().map(str::to_owned).collect();
        if let Some(bad) = roots.iter().find(|r| !r.starts_with('/')) {
            return Err(PolicyRuleError::new(format!(
                "root `{bad}` is not an absolute path"
            )));
        }
        roots
    };
    Ok(PolicyRule {
        rule,
        action,
        risk,
        roots,
        text: text.to_owned(),
    })
}
