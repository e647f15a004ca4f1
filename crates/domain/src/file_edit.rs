//! What a file-writing tool call (Claude Code's `Edit`, `MultiEdit`, `Write`) would leave in
//! its file: the approver sees it as a diff against the file as it is now.
//!
//! The rules are the CLI's: an `Edit` replaces `old_string` once (every occurrence with
//! `replace_all`), and fails when `old_string` is absent, or present several times without
//! `replace_all`; an empty `old_string` creates a file that does not exist; `MultiEdit`
//! applies its edits in order; `Write` replaces the whole file.

use serde_json::Value;

/// The tools whose input names a file they change.
pub const FILE_TOOLS: [&str; 3] = ["Edit", "MultiEdit", "Write"];

/// The file a file tool's `input` changes (`file_path`), when it names one.
pub fn target(tool: &str, input: &Value) -> Option<String> {
    FILE_TOOLS
        .contains(&tool)
        .then(|| input.get("file_path")?.as_str().map(str::to_owned))
        .flatten()
}

/// Why the call would not apply to the file as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EditMismatch(pub String);

fn one_edit(before: Option<&str>, edit: &Value, n: usize) -> Result<String, EditMismatch> {
    let field = |name: &str| {
        edit.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| EditMismatch(format!("edit {n} has no text `{name}`")))
    };
    let old = field("old_string")?;
    let new = field("new_string")?;
    let all = edit
        .get("replace_all")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(text) = before else {
        return if old.is_empty() {
            Ok(new.to_owned())
        } else {
            Err(EditMismatch(
                "the file does not exist, so there is nothing to replace".into(),
            ))
        };
    };
    if old.is_empty() {
        return Err(EditMismatch(format!(
            "edit {n}: an empty old_string only creates a file that does not exist"
        )));
    }
    match text.matches(old).count() {
        0 => Err(EditMismatch(format!(
            "edit {n}: old_string is not in the file as it is now"
        ))),
        1 => Ok(text.replacen(old, new, 1)),
        _ if all => Ok(text.replace(old, new)),
        times => Err(EditMismatch(format!(
            "edit {n}: old_string is in the file {times} times and replace_all is not set"
        ))),
    }
}

/// The file's content after the call, from its content `before` (`None`: it does not exist).
///
/// # Errors
/// [`EditMismatch`] when the call would fail on this content, or its input is not the
/// tool's shape.
pub fn apply(tool: &str, input: &Value, before: Option<&str>) -> Result<String, EditMismatch> {
    match tool {
        "Write" => input
            .get("content")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| EditMismatch("the input has no text `content`".into())),
        "Edit" => one_edit(before, input, 1),
        "MultiEdit" => {
            let edits = input
                .get("edits")
                .and_then(Value::as_array)
                .ok_or_else(|| EditMismatch("the input has no list `edits`".into()))?;
            let mut text = before.map(str::to_owned);
            for (i, edit) in edits.iter().enumerate() {
                text = Some(one_edit(text.as_deref(), edit, i + 1)?);
            }
            text.ok_or_else(|| EditMismatch("the input has no edits".into()))
        }
        other => Err(EditMismatch(format!("`{other}` does not write a file"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn edits_apply_as_the_cli_applies_them() {
        let text = "one\ntwo\nthree\ntwo\n";
        let edit = |old: &str, new: &str, all: bool| json!({"file_path": "/w/f", "old_string": old, "new_string": new, "replace_all": all});
        assert_eq!(
            apply("Edit", &edit("three", "3", false), Some(text)).unwrap(),
            "one\ntwo\n3\ntwo\n"
        );
        assert!(
            apply("Edit", &edit("two", "2", false), Some(text))
                .unwrap_err()
                .0
                .contains("2 times")
        );
        assert_eq!(
            apply("Edit", &edit("two", "2", true), Some(text)).unwrap(),
            "one\n2\nthree\n2\n"
        );
        assert!(apply("Edit", &edit("four", "4", false), Some(text)).is_err());
        assert_eq!(
            apply("Edit", &edit("", "new file\n", false), None).unwrap(),
            "new file\n"
        );
        assert!(apply("Edit", &edit("", "x", false), Some(text)).is_err());
        assert!(apply("Edit", &edit("one", "1", false), None).is_err());
        let multi = json!({"file_path": "/w/f", "edits": [
            {"old_string": "one", "new_string": "1"},
            {"old_string": "1\ntwo", "new_string": "1\n2"},
        ]});
        assert_eq!(
            apply("MultiEdit", &multi, Some(text)).unwrap(),
            "1\n2\nthree\ntwo\n",
            "each edit sees the one before"
        );
        assert_eq!(
            apply(
                "Write",
                &json!({"file_path": "/w/f", "content": "all\n"}),
                Some(text)
            )
            .unwrap(),
            "all\n"
        );
        assert!(apply("Bash", &json!({"command": "ls"}), Some(text)).is_err());
        assert_eq!(
            target("Write", &json!({"file_path": "/w/f"})).as_deref(),
            Some("/w/f")
        );
        assert_eq!(target("Bash", &json!({"file_path": "/w/f"})), None);
    }
}
