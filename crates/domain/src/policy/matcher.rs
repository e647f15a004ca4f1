//! One rule in Claude Code's syntax and what it matches.

use serde_json::Value;

use super::ToolCall;
use super::paths;

/// A rule: a tool (or tool family) and, for a narrower rule, a specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRule {
    tool: String,
    spec: Spec,
    /// As written (trimmed): the CLI reads the same syntax.
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Spec {
    /// Every use of the tool.
    Any,
    /// `Bash(cmd)`, `Bash(prefix:*)`, `Bash(glob *)`.
    Exact(String),
    Prefix(String),
    Glob(String),
    /// `Read(...)`, `Edit(...)`: a gitignore-style path pattern.
    Path(String),
    /// `WebFetch(domain:host)`.
    Domain(String),
}

const EDIT_TOOLS: &[&str] = &["Edit", "Write", "MultiEdit", "NotebookEdit"];
const READ_TOOLS: &[&str] = &["Read", "Grep", "Glob", "LS"];

impl ToolRule {
    /// `Tool` or `Tool(specifier)`.
    ///
    /// # Errors
    /// What is wrong with it, for the configuration error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (tool, spec) = match text.split_once('(') {
            None => (text, None),
            Some((tool, rest)) => {
                let spec = rest
                    .strip_suffix(')')
                    .ok_or_else(|| format!("`{text}`: no closing parenthesis"))?;
                (tool, Some(spec))
            }
        };
        if tool.is_empty()
            || !tool
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("`{text}`: `{tool}` is not a tool name"));
        }
        let spec = match spec {
            None => Spec::Any,
            Some(s) if s.trim().is_empty() => return Err(format!("`{text}`: empty specifier")),
            Some("*") => Spec::Any,
            Some(s) if tool == "Bash" => {
                if let Some(prefix) = s.strip_suffix(":*") {
                    Spec::Prefix(prefix.trim().to_owned())
                } else if s.contains('*') {
                    Spec::Glob(s.to_owned())
                } else {
                    Spec::Exact(s.trim().to_owned())
                }
            }
            Some(s) if EDIT_TOOLS.contains(&tool) || READ_TOOLS.contains(&tool) => {
                Spec::Path(s.to_owned())
            }
            Some(s) if tool == "WebFetch" => {
                let host = s
                    .strip_prefix("domain:")
                    .filter(|h| !h.is_empty() && !h.contains(['/', ' ']))
                    .ok_or_else(|| format!("`{text}`: WebFetch takes `domain:<host>`"))?;
                // `*` is every host; `*.example.com` is what `example.com` already covers
                // (the host and its subdomains). Any other `*` would never match: refused.
                match host.strip_prefix("*.").unwrap_or(host) {
                    "*" => Spec::Any,
                    h if h.contains('*') => {
                        return Err(format!(
                            "`{text}`: a domain is a host name (its subdomains count too), `*.host` or `*`"
                        ));
                    }
                    h => Spec::Domain(h.to_ascii_lowercase()),
                }
            }
            Some(_) => {
                return Err(format!(
                    "`{text}`: Orchestra matches specifiers for Bash, Read/Edit/Write (paths) and WebFetch(domain:...) only; use the bare tool name"
                ));
            }
        };
        Ok(Self {
            tool: tool.to_owned(),
            spec,
            text: text.to_owned(),
        })
    }

    /// The rule as written, in Claude Code's syntax.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the rule allows every use of its tool (`Bash`, `Bash(*)`).
    pub fn is_whole_tool(&self) -> bool {
        self.spec == Spec::Any
    }

    /// Whether the rule, as an allow, covers `call`: a Bash command must be plain and
    /// match whole (a chained command is never covered).
    pub fn allows(&self, call: &ToolCall<'_>) -> bool {
        self.matches(call, true)
    }

    /// Whether the rule names `tool` (a family: `Edit` covers every file-editing tool,
    /// `Read` every file-reading one; `mcp__server` every tool of that server).
    fn names(&self, tool: &str) -> bool {
        if self.tool == tool {
            return true;
        }
        match self.tool.as_str() {
            "Edit" => EDIT_TOOLS.contains(&tool),
            "Read" => READ_TOOLS.contains(&tool),
            server if server.starts_with("mcp__") && server.matches("__").count() == 1 => {
                tool.starts_with(&format!("{server}__"))
            }
            _ => false,
        }
    }

    /// Whether the rule matches `call`. For an `allow` rule (`strict`), a Bash command
    /// must be plain and match whole; otherwise any part of a compound command may.
    pub(super) fn matches(&self, call: &ToolCall<'_>, strict: bool) -> bool {
        if !self.names(call.tool) {
            return false;
        }
        match &self.spec {
            Spec::Any => true,
            Spec::Exact(_) | Spec::Prefix(_) | Spec::Glob(_) => {
                let Some(command) = call.input.get("command").and_then(Value::as_str) else {
                    return false;
                };
                if strict {
                    is_plain(command) && self.matches_command(command.trim())
                } else {
                    super::shell::simple_commands(command)
                        .iter()
                        .any(|part| self.matches_command(part))
                }
            }
            Spec::Path(pattern) => {
                let Some(path) = target_path(call) else {
                    return false;
                };
                paths::pattern_matches(pattern, &path, call.working_directory, call.home)
            }
            Spec::Domain(domain) => call
                .input
                .get("url")
                .and_then(Value::as_str)
                .and_then(host_of)
                .is_some_and(|host| host == *domain || host.ends_with(&format!(".{domain}"))),
        }
    }

    fn matches_command(&self, command: &str) -> bool {
        match &self.spec {
            Spec::Exact(c) => command == c,
            Spec::Prefix(p) => command == p || command.starts_with(&format!("{p} ")),
            Spec::Glob(g) => {
                // `ls *` also matches a bare `ls` (a single trailing wildcard is optional).
                let optional_tail = g.matches('*').count() == 1 && g.ends_with(" *");
                paths::wildcard(g, command) || (optional_tail && command == &g[..g.len() - 2])
            }
            _ => false,
        }
    }
}

/// No shell syntax that could chain, substitute or redirect: `npm test -- -u` is plain;
/// `npm test; rm -rf ~`, `echo $(cat x)` and `ls > f` are not.
pub fn is_plain(command: &str) -> bool {
    !command.trim().is_empty()
        && !command.chars().any(|c| {
            matches!(
                c,
                ';' | '&'
                    | '|'
                    | '`'
                    | '$'
                    | '<'
                    | '>'
                    | '('
                    | ')'
                    | '{'
                    | '}'
                    | '\n'
                    | '\r'
                    | '\\'
                    | '\0'
            )
        })
}

/// The file a file tool acts on (its directory for Grep/Glob/LS; the working directory when
/// it names none).
fn target_path(call: &ToolCall<'_>) -> Option<String> {
    let input = call.input;
    let named = ["file_path", "notebook_path", "path"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str));
    match named {
        Some(p) => Some(p.to_owned()),
        None if matches!(call.tool, "Grep" | "Glob" | "LS") => {
            Some(call.working_directory.to_owned())
        }
        None => None,
    }
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r)?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.trim_end_matches('.').to_ascii_lowercase())
}
