//! Checks a `CreateSession` command against the server's limits and turns it into the
//! session's launch spec.

use orchestra_domain::{NewSession, PermissionMode, SessionId};

use super::create::CreateSession;
use super::settings::{SessionPolicy, SessionSettings};
use crate::error::AppError;
use crate::ports::AgentRuntime;

/// `value` is at most `max` characters long and holds no NUL (which no database stores in
/// text and the CLI's line protocol does not carry).
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<(), AppError> {
    if value.contains('\0') {
        return Err(AppError::invalid(field, "must not contain NUL characters"));
    }
    let len = value.chars().count();
    if len > max {
        return Err(AppError::invalid(
            field,
            format!("is {len} characters long; the limit is {max}"),
        ));
    }
    Ok(())
}

fn rules(field: &str, rules: &[String]) -> Result<Vec<String>, AppError> {
    if rules.len() > 200 {
        return Err(AppError::invalid(field, "at most 200 rules"));
    }
    rules
        .iter()
        .map(|r| {
            let r = r.trim();
            if r.is_empty()
                || r.chars().count() > 500
                || r.chars().any(char::is_control)
                || r.contains(',')
            {
                Err(AppError::invalid(
                    field,
                    format!(
                        "`{}` is not a tool rule (1-500 printable characters, no commas)",
                        r.chars().take(60).collect::<String>()
                    ),
                ))
            } else {
                Ok(r.to_owned())
            }
        })
        .collect()
}

pub(crate) fn within_roots(canonical: &str, roots: &[String]) -> bool {
    roots.is_empty()
        || roots.iter().any(|root| {
            let root = root.trim_end_matches('/');
            canonical == root || canonical.starts_with(&format!("{root}/"))
        })
}

/// The working directory: absolute, existing (canonical form from the runtime), and under
/// an allowed root.
async fn working_directory(
    raw: &str,
    runtime: &dyn AgentRuntime,
    settings: &SessionSettings,
) -> Result<String, AppError> {
    let dir = raw.trim();
    if dir.is_empty() {
        return Err(AppError::invalid("working_directory", "is required"));
    }
    if !dir.starts_with('/') {
        return Err(AppError::invalid(
            "working_directory",
            "must be an absolute path",
        ));
    }
    let canonical = runtime
        .check_working_directory(dir)
        .await
        .map_err(|e| AppError::invalid("working_directory", e))?;
    if !within_roots(&canonical, &settings.allowed_working_directories) {
        return Err(AppError::invalid(
            "working_directory",
            "is outside the directories this server allows",
        ));
    }
    Ok(canonical)
}

fn model(model: Option<&String>) -> Result<(), AppError> {
    if let Some(model) = model
        && (model.is_empty()
            || model.len() > 100
            || !model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:[]/".contains(c)))
    {
        return Err(AppError::invalid(
            "model",
            "must be 1-100 characters of letters, digits and -._:[]/",
        ));
    }
    Ok(())
}

/// Whether the server's policy lets a session run in `mode` with `allowed` pre-allowed.
/// Checked at create and again at every resume (the policy may have changed).
pub(crate) fn within_policy(
    mode: PermissionMode,
    allowed: &[String],
    policy: &SessionPolicy,
) -> Result<(), AppError> {
    if !policy.permission_modes.contains(&mode) {
        let allowed_modes: Vec<&str> = policy.permission_modes.iter().map(|m| m.as_str()).collect();
        return Err(AppError::invalid(
            "permission_mode",
            format!(
                "`{mode}` is not allowed by this server's policy (allowed: {})",
                allowed_modes.join(", ")
            ),
        ));
    }
    if let Some(rule) = allowed
        .iter()
        .find(|r| !policy.client_allowed_tools.contains(r))
    {
        return Err(AppError::invalid(
            "allowed_tools",
            format!(
                "`{}` may not be pre-allowed by a client under this server's policy (allowed: {})",
                rule.chars().take(60).collect::<String>(),
                policy.client_allowed_tools.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The launch spec of a new session, or what is wrong with the command.
pub(crate) async fn new_session(
    cmd: CreateSession,
    runtime: &dyn AgentRuntime,
    settings: &SessionSettings,
) -> Result<NewSession, AppError> {
    let working_directory = working_directory(&cmd.working_directory, runtime, settings).await?;
    model(cmd.model.as_ref())?;
    if let Some(prompt) = &cmd.append_system_prompt {
        text("append_system_prompt", prompt, 20_000)?;
    }
    if let Some(n) = cmd.max_turns
        && (n == 0 || n > 1000)
    {
        return Err(AppError::invalid("max_turns", "must be between 1 and 1000"));
    }
    let agent_id = cmd
        .agent_id
        .unwrap_or_else(|| settings.default_agent_id.clone());
    if agent_id != settings.default_agent_id {
        return Err(AppError::invalid(
            "agent_id",
            format!(
                "unknown agent; this server runs `{}`",
                settings.default_agent_id
            ),
        ));
    }
    let max_budget_usd = budget(cmd.max_budget_usd, &working_directory, settings)?;
    let max_session_turns = turn_cap(cmd.max_session_turns, &working_directory, settings)?;
    let permission_mode = cmd.permission_mode.unwrap_or_default();
    let allowed_tools = rules("allowed_tools", &cmd.allowed_tools)?;
    within_policy(permission_mode, &allowed_tools, &settings.policy)?;
    Ok(NewSession {
        id: SessionId::new(),
        agent_id,
        working_directory,
        model: cmd.model,
        permission_mode,
        allowed_tools,
        disallowed_tools: rules("disallowed_tools", &cmd.disallowed_tools)?,
        append_system_prompt: cmd.append_system_prompt.filter(|p| !p.trim().is_empty()),
        max_turns: cmd.max_turns,
        created_by: cmd.created_by,
        max_budget_usd,
        max_session_turns,
    })
}

/// The session's turn cap: the client's, within the server's for its directory; else the
/// server's.
fn turn_cap(
    asked: Option<u32>,
    dir: &str,
    settings: &SessionSettings,
) -> Result<Option<u32>, AppError> {
    let server = settings.budgets.turns_for_directory(dir);
    let Some(asked) = asked else {
        return Ok(server);
    };
    if !(1..=100_000).contains(&asked) {
        return Err(AppError::invalid(
            "max_session_turns",
            "must be 1 to 100000",
        ));
    }
    match server {
        Some(cap) if asked > cap => Err(AppError::invalid(
            "max_session_turns",
            format!(
                "is above the server's cap for this directory ({cap} turns); ask for that or less"
            ),
        )),
        _ => Ok(Some(asked)),
    }
}

/// The session's budget: the client's, within the server's for its directory; else the
/// server's.
fn budget(
    asked: Option<f64>,
    dir: &str,
    settings: &SessionSettings,
) -> Result<Option<f64>, AppError> {
    let server = settings.budgets.for_directory(dir);
    let Some(asked) = asked else {
        return Ok(server);
    };
    if !(asked.is_finite() && asked > 0.0 && asked <= 100_000.0) {
        return Err(AppError::invalid(
            "max_budget_usd",
            "must be more than 0 and at most 100000 (USD)",
        ));
    }
    match server {
        Some(cap) if asked > cap => Err(AppError::invalid(
            "max_budget_usd",
            format!(
                "is above the server's budget for this directory (${cap:.2}); ask for that or less"
            ),
        )),
        _ => Ok(Some(asked)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_within_a_root_only_on_a_path_boundary() {
        let roots = vec!["/srv/work/".to_owned()];
        assert!(within_roots("/srv/work", &roots));
        assert!(within_roots("/srv/work/repo", &roots));
        assert!(!within_roots("/srv/workshop", &roots));
        assert!(within_roots("/anything", &[]));
    }

    #[test]
    fn the_policy_refuses_modes_and_rules_it_does_not_list() {
        let policy = SessionPolicy::default();
        assert!(within_policy(PermissionMode::Default, &["Read".into()], &policy).is_ok());
        assert!(within_policy(PermissionMode::BypassPermissions, &[], &policy).is_err());
        assert!(within_policy(PermissionMode::AcceptEdits, &[], &policy).is_err());
        assert!(within_policy(PermissionMode::Default, &["Bash".into()], &policy).is_err());
        assert!(within_policy(PermissionMode::Default, &["Bash(ls:*)".into()], &policy).is_err());
    }

    #[test]
    fn tool_rules_are_trimmed_and_commas_refused() {
        assert_eq!(
            rules("allowedTools", &[" Read ".into()]).unwrap(),
            vec!["Read".to_owned()]
        );
        assert!(rules("allowedTools", &["Bash(a,b)".into()]).is_err());
        assert!(rules("allowedTools", &[String::new()]).is_err());
    }
}
