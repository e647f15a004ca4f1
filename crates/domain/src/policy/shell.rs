//! The simple commands a Bash command line may run, as an `ask` or `deny` rule sees them.
//!
//! This is not a shell parser, and it errs towards matching: every piece between shell
//! separators (`;`, `&`, `|`, newlines, substitutions, subshells and groups) is a command of
//! its own; each is also seen without the wrappers that run another program (`sudo`, `env`,
//! `nohup`, `timeout 5`, `VAR=1`, ...), with its program named by its file name (`/bin/rm`
//! is `rm`), and the script of `bash -c '...'`, `eval '...'` or `find -exec` is read the
//! same way. A
//! quoted separator makes an extra piece, which can only make a deny or ask match more
//! often. A shell can still reach a program in ways no rule sees (a script it wrote): a
//! deny rule on Bash is a guard rail, and the boundary is the allow list and the agent's
//! isolation (docs/policy.md).

/// Programs that run the program named after their options.
const WRAPPERS: &[&str] = &[
    "sudo",
    "doas",
    "env",
    "command",
    "builtin",
    "exec",
    "nohup",
    "nice",
    "ionice",
    "time",
    "timeout",
    "stdbuf",
    "xargs",
    "setsid",
    "chroot",
    "unbuffer",
    "caffeinate",
];

/// Wrapper options that take the next word as their value.
const VALUE_OPTIONS: &[&str] = &["-u", "-g", "-n", "-s", "-k", "-C", "-D", "-c"];

/// Shells whose `-c` argument is a script.
const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "fish"];

/// How deep `bash -c "bash -c '...'"` is followed.
const MAX_DEPTH: u8 = 4;

/// Every simple command `command` may run, in the forms a rule is matched against: each
/// piece as written (trimmed) and, where it differs, unwrapped and normalised.
pub(super) fn simple_commands(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    collect(command, 0, &mut out);
    out
}

fn collect(command: &str, depth: u8, out: &mut Vec<String>) {
    let pieces = command.split([';', '&', '|', '\n', '\r', '`', '(', ')', '{', '}', '<', '>']);
    for piece in pieces {
        let piece = piece.trim().trim_start_matches(['!', '$']).trim();
        if piece.is_empty() {
            continue;
        }
        push(out, piece.to_owned());
        let words: Vec<&str> = piece.split_whitespace().collect();
        let Some((program, args)) = unwrap(&words) else {
            continue;
        };
        let normal = std::iter::once(program.as_str())
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        push(out, normal);
        if depth < MAX_DEPTH
            && let Some(script) = inner_script(&program, args)
        {
            collect(&script, depth + 1, out);
        }
    }
}

fn push(out: &mut Vec<String>, candidate: String) {
    if !out.contains(&candidate) {
        out.push(candidate);
    }
}

/// The program a simple command runs (its file name, without quotes) and its arguments,
/// past assignments and wrappers; `None` when nothing is left.
fn unwrap<'a>(words: &'a [&'a str]) -> Option<(String, &'a [&'a str])> {
    let mut i = 0;
    let mut wrapped_by: Option<String> = None;
    while i < words.len() {
        let word = words[i];
        if is_assignment(word) {
            i += 1;
            continue;
        }
        let name = program_name(word);
        if wrapped_by.is_some() && word.starts_with('-') {
            // A wrapper's option, maybe with its value.
            i += if VALUE_OPTIONS.contains(&word) { 2 } else { 1 };
            continue;
        }
        if wrapped_by.as_deref() == Some("timeout")
            && word.starts_with(|c: char| c.is_ascii_digit())
        {
            wrapped_by = Some(String::new());
            i += 1;
            continue;
        }
        if WRAPPERS.contains(&name.as_str()) {
            wrapped_by = Some(name);
            i += 1;
            continue;
        }
        return Some((name, &words[i + 1..]));
    }
    None
}

/// `NAME=value` (a variable for the command).
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    })
}

/// `'/usr/bin/rm'` -> `rm`.
fn program_name(word: &str) -> String {
    let unquoted: String = word
        .chars()
        .filter(|c| !matches!(c, '\'' | '"' | '\\'))
        .collect();
    unquoted.rsplit('/').next().unwrap_or_default().to_owned()
}

/// The script of `bash -c '...'`, `eval ...` or `find ... -exec ...`, without its quotes.
fn inner_script(program: &str, args: &[&str]) -> Option<String> {
    let script = if program == "eval" {
        args
    } else if program == "find" {
        let at = args
            .iter()
            .position(|a| matches!(*a, "-exec" | "-execdir" | "-ok" | "-okdir"))?;
        &args[at + 1..]
    } else if SHELLS.contains(&program) {
        let at = args
            .iter()
            .position(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'))?;
        &args[at + 1..]
    } else {
        return None;
    };
    let text = script.join(" ");
    let text: String = text.chars().filter(|c| !matches!(c, '\'' | '"')).collect();
    (!text.trim().is_empty()).then_some(text)
}
