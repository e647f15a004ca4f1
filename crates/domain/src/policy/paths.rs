//! Paths and patterns for file rules (gitignore-style, as Claude Code reads them):
//! `//abs` from the filesystem root, `~/x` from the agent's HOME, `/x` from the session's
//! working directory (the CLI's "settings file" directory, the project root), `x` or `./x`
//! relative to it; a pattern without a `/` matches at any depth. `**` spans directories, `*`
//! and `?` stay within one name. Paths are compared after resolving `.` and `..` lexically.

use std::path::{Component, Path, PathBuf};

/// `path` with `.` and `..` resolved, absolute against `cwd`.
fn normalize(path: &str, cwd: &str) -> PathBuf {
    let joined = if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        Path::new(cwd).join(path)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Whether `path` is `root` or inside it.
pub(super) fn is_under(path: &Path, root: &Path) -> bool {
    let path = normalize(&path.display().to_string(), "/");
    let root = normalize(&root.display().to_string(), "/");
    path.starts_with(&root)
}

/// Whether the file `path` matches the rule's `pattern`.
pub(super) fn pattern_matches(pattern: &str, path: &str, cwd: &str, home: Option<&str>) -> bool {
    let user_pattern_has_glob = pattern.contains(['*', '?']);
    let absolute = if let Some(abs) = pattern.strip_prefix("//") {
        format!("/{abs}")
    } else if let Some(rel) = pattern.strip_prefix("~/") {
        let Some(home) = home else {
            return false;
        };
        format!("{}/{rel}", home.trim_end_matches('/'))
    } else {
        let rel = pattern
            .strip_prefix("./")
            .or_else(|| pattern.strip_prefix('/'))
            .unwrap_or(pattern);
        let anywhere = !pattern.starts_with('/') && !rel.contains('/');
        if anywhere {
            format!("{}/**/{rel}", cwd.trim_end_matches('/'))
        } else {
            format!("{}/{rel}", cwd.trim_end_matches('/'))
        }
    };
    let file = normalize(path, cwd);
    let pattern: Vec<&str> = absolute.split('/').filter(|s| !s.is_empty()).collect();
    let names: Vec<String> = file
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let names_a_directory = !user_pattern_has_glob;
    segments(&pattern, &names)
        // A pattern naming a directory covers what is in it (`Read(docs)`, `Edit(src)`).
        || (names_a_directory && (1..names.len()).any(|k| segments(&pattern, &names[..k])))
}

fn segments(pattern: &[&str], names: &[&str]) -> bool {
    match pattern.split_first() {
        None => names.is_empty(),
        Some((&"**", rest)) => (0..=names.len()).any(|skip| segments(rest, &names[skip..])),
        Some((p, rest)) => names
            .split_first()
            .is_some_and(|(n, tail)| name_matches(p, n) && segments(rest, tail)),
    }
}

/// `*` any run within a name, `?` one character.
fn name_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|k| go(rest, &n[k..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(&p, &n)
}

/// `*` matches any run of characters (a Bash pattern); everything else matches itself.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}
