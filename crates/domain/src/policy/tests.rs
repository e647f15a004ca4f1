use serde_json::{Value, json};

use super::*;

fn policy(lines: &[&str]) -> ToolPolicy {
    ToolPolicy::parse(&lines.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
}

fn judge(p: &ToolPolicy, tool: &str, input: Value) -> (PolicyAction, RiskClass, Option<usize>) {
    let v = p.evaluate(&ToolCall {
        tool,
        input: &input,
        working_directory: "/srv/work/app",
        home: Some("/home/agent"),
    });
    (v.action, v.risk, v.rule.map(|(i, _)| i))
}

fn bash(cmd: &str) -> Value {
    json!({ "command": cmd })
}

#[test]
fn no_rule_is_ask_high_and_the_first_match_wins() {
    let p = policy(&["deny Bash(rm:*)", "allow Bash", "ask:low Read"]);
    assert_eq!(
        judge(&p, "Bash", bash("rm -rf /")),
        (PolicyAction::Deny, RiskClass::High, Some(1))
    );
    assert_eq!(
        judge(&p, "Bash", bash("ls")),
        (PolicyAction::Allow, RiskClass::High, Some(2))
    );
    assert_eq!(
        judge(&p, "Read", json!({"file_path": "/x"})),
        (PolicyAction::Ask, RiskClass::Low, Some(3))
    );
    assert_eq!(
        judge(&p, "WebFetch", json!({"url": "https://x"})),
        (PolicyAction::Ask, RiskClass::High, None)
    );
}

#[test]
fn bash_exact_prefix_and_wildcard_follow_the_cli() {
    let p = policy(&[
        "allow Bash(npm run build)",
        "allow Bash(npm run test:*)",
        "allow Bash(git * main)",
        "allow Bash(ls *)",
    ]);
    let allowed = |c: &str| judge(&p, "Bash", bash(c)).0 == PolicyAction::Allow;
    assert!(allowed("npm run build"));
    assert!(!allowed("npm run build --prod"), "exact means exact");
    assert!(allowed("npm run test"));
    assert!(allowed("npm run test -- --watch"));
    assert!(!allowed("npm run testify"), ":* keeps the word boundary");
    assert!(allowed("git push origin main"));
    assert!(!allowed("git push origin dev"));
    assert!(allowed("ls -la"));
    assert!(allowed("ls"), "a single trailing ` *` is optional");
}

#[test]
fn an_allow_rule_never_covers_a_chained_command_but_deny_and_ask_do() {
    let p = policy(&[
        "deny Bash(curl:*)",
        "ask:critical Bash(git push:*)",
        "allow Bash(npm test:*)",
    ]);
    assert_eq!(
        judge(&p, "Bash", bash("npm test && curl evil.sh")).0,
        PolicyAction::Deny
    );
    assert_eq!(
        judge(&p, "Bash", bash("npm test; git push --force")).1,
        RiskClass::Critical
    );
    for chained in [
        "npm test > /etc/passwd",
        "npm test $(id)",
        "npm test `id`",
        "npm test | sh",
    ] {
        assert_eq!(
            judge(&p, "Bash", bash(chained)),
            (PolicyAction::Ask, RiskClass::High, None),
            "{chained}"
        );
    }
    assert_eq!(
        judge(&p, "Bash", bash("npm test -- -u")).0,
        PolicyAction::Allow
    );
}

#[test]
fn a_deny_or_ask_rule_sees_through_substitutions_wrappers_paths_and_inner_shells() {
    let p = policy(&[
        "deny Bash(rm:*)",
        "ask:critical Bash(git push:*)",
        "allow Bash",
    ]);
    for evasive in [
        "echo $(rm -rf /)",
        "echo `rm -rf /`",
        "cat <(rm -rf /)",
        "(rm -rf /)",
        "{ rm -rf /; }",
        "sudo rm -rf /",
        "sudo -u root rm -rf /",
        "/bin/rm -rf /",
        "\\rm -rf /",
        "'rm' -rf /",
        "FOO=1 rm -rf /",
        "env -i PATH=/bin rm -rf /",
        "nohup rm -rf / &",
        "timeout -s KILL 5 rm -rf /",
        "xargs -n 1 rm < list",
        "bash -c 'rm -rf /'",
        "sh -lc \"echo hi; rm -rf /\"",
        "bash -c \"bash -c 'rm -rf /'\"",
        "eval 'rm -rf /'",
        "find . -name '*.o' -exec rm {} ;",
        "echo hi\nrm\t-rf /",
    ] {
        assert_eq!(
            judge(&p, "Bash", bash(evasive)).0,
            PolicyAction::Deny,
            "{evasive:?}"
        );
    }
    assert_eq!(
        judge(&p, "Bash", bash("sudo git push --force")).1,
        RiskClass::Critical
    );
    for harmless in ["echo rm", "ls -la", "npm run format", "git status"] {
        assert_eq!(
            judge(&p, "Bash", bash(harmless)).0,
            PolicyAction::Allow,
            "{harmless}"
        );
    }
}

#[test]
fn file_rules_are_gitignore_patterns_from_root_home_project_and_anywhere() {
    let p = policy(&[
        "deny Read(//etc/**)",
        "deny Read(~/.ssh/**)",
        "deny Read(*.env)",
        "allow Edit(/src/**/*.ts)",
        "allow Read(docs)",
    ]);
    let read = |path: &str| judge(&p, "Read", json!({ "file_path": path })).0;
    assert_eq!(read("/etc/passwd"), PolicyAction::Deny);
    assert_eq!(read("/home/agent/.ssh/id_ed25519"), PolicyAction::Deny);
    assert_eq!(
        read("/srv/work/app/config/prod.env"),
        PolicyAction::Deny,
        "no slash: any depth"
    );
    assert_eq!(
        read("config/.env.local"),
        PolicyAction::Ask,
        "*.env is not *.env.local"
    );
    assert_eq!(
        read("docs/guide.md"),
        PolicyAction::Allow,
        "a directory covers its files"
    );
    assert_eq!(
        read("/srv/work/app/../../../etc/shadow"),
        PolicyAction::Deny,
        ".. is resolved"
    );
    let edit = |tool: &str, path: &str| judge(&p, tool, json!({ "file_path": path })).0;
    assert_eq!(
        edit("Edit", "/srv/work/app/src/a/b/c.ts"),
        PolicyAction::Allow
    );
    assert_eq!(
        edit("Write", "src/main.ts"),
        PolicyAction::Allow,
        "Edit covers Write"
    );
    assert_eq!(
        edit("MultiEdit", "/srv/work/app/src/x.js"),
        PolicyAction::Ask
    );
    assert_eq!(
        edit("Edit", "/srv/work/other/src/x.ts"),
        PolicyAction::Ask,
        "/ is the project root"
    );
    // Read covers the reading tools; they name a directory (or none: the project).
    assert_eq!(
        judge(&p, "Grep", json!({"pattern": "x", "path": "/etc"})).0,
        PolicyAction::Deny
    );
}

#[test]
fn webfetch_domains_match_the_host_and_its_subdomains_only() {
    let p = policy(&["allow WebFetch(domain:docs.rs)"]);
    let fetch = |url: &str| judge(&p, "WebFetch", json!({ "url": url })).0;
    assert_eq!(fetch("https://docs.rs/serde"), PolicyAction::Allow);
    assert_eq!(fetch("https://api.docs.rs:443/x"), PolicyAction::Allow);
    assert_eq!(fetch("https://docs.rs.evil.com/"), PolicyAction::Ask);
    assert_eq!(fetch("https://evildocs.rs/"), PolicyAction::Ask);
    assert_eq!(
        fetch("https://docs.rs@evil.com/"),
        PolicyAction::Ask,
        "userinfo is not the host"
    );
    let p = policy(&[
        "deny WebFetch(domain:*.evil.com)",
        "allow WebFetch(domain:*)",
    ]);
    let fetch = |url: &str| judge(&p, "WebFetch", json!({ "url": url })).0;
    assert_eq!(fetch("https://a.evil.com/"), PolicyAction::Deny);
    assert_eq!(fetch("https://evil.com/"), PolicyAction::Deny);
    assert_eq!(
        fetch("https://docs.rs/"),
        PolicyAction::Allow,
        "`*` is any host"
    );
    assert!(ToolPolicy::parse(&["allow WebFetch(domain:docs.*)".to_owned()]).is_err());
}

#[test]
fn mcp_servers_and_roots_scope_rules() {
    let p = policy(&[
        "allow mcp__github",
        "allow Bash in /srv/sandbox /tmp/ci",
        "deny Bash",
    ]);
    assert_eq!(
        judge(&p, "mcp__github__create_issue", json!({})).0,
        PolicyAction::Allow
    );
    assert_eq!(
        judge(&p, "mcp__gitlab__create_issue", json!({})).0,
        PolicyAction::Ask
    );
    // The session runs in /srv/work/app: the sandbox rule does not apply there.
    assert_eq!(judge(&p, "Bash", bash("ls")).0, PolicyAction::Deny);
    let v = p.evaluate(&ToolCall {
        tool: "Bash",
        input: &bash("ls"),
        working_directory: "/srv/sandbox/x",
        home: None,
    });
    assert_eq!(v.action, PolicyAction::Allow);
}

#[test]
fn the_cli_is_told_to_ask_about_every_deny_and_ask_rule_that_counts_in_the_directory() {
    let p = policy(&[
        "allow Read(src/**)",
        "deny Read(*.env)",
        "ask:critical Bash(git push:*) in /srv/work",
        "deny Bash(rm:*) in /srv/other",
        "deny  Read(*.env) ",
        "allow Bash",
    ]);
    assert_eq!(
        p.ask_first("/srv/work/app"),
        ["Read(*.env)", "Bash(git push:*)"],
        "allows are not handed over, roots count, a rule goes once"
    );
    assert_eq!(p.ask_first("/srv/other"), ["Read(*.env)", "Bash(rm:*)"]);
    assert!(ToolPolicy::default().ask_first("/").is_empty());
}

#[test]
fn bad_lines_are_refused_with_their_position() {
    for (line, says) in [
        ("permit Bash", "not allow, ask or deny"),
        ("deny:low Bash", "only `ask` takes a risk class"),
        ("ask:urgent Bash", "not low, high or critical"),
        ("allow Bash(ls", "no closing parenthesis"),
        ("allow Task(review)", "specifiers for Bash"),
        ("allow WebFetch(docs.rs)", "domain:"),
        ("allow Bash in srv", "absolute"),
        ("allow", "expected"),
    ] {
        let err = ToolPolicy::parse(&["allow Read".to_owned(), line.to_owned()]).unwrap_err();
        assert_eq!(err.line, 2, "{line}");
        assert!(err.message.contains(says), "{line}: {err}");
    }
}
