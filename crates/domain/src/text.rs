//! Validated text values.

/// Why a text value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The value is empty or only whitespace.
    #[error("{field} must not be empty")]
    Empty {
        /// The field's name as the caller knows it.
        field: &'static str,
    },
    /// The value is longer than allowed.
    #[error("{field} is {len} characters long; the limit is {max}")]
    TooLong {
        /// The field's name as the caller knows it.
        field: &'static str,
        /// The value's length in characters.
        len: usize,
        /// The limit in characters.
        max: usize,
    },
    /// The value holds control characters.
    #[error("{field} must not contain control characters")]
    ControlCharacters {
        /// The field's name as the caller knows it.
        field: &'static str,
    },
}

impl TextError {
    /// The name of the field that was refused.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Empty { field }
            | Self::TooLong { field, .. }
            | Self::ControlCharacters { field } => field,
        }
    }
}

/// A trimmed, non-empty, single-line string of at most `MAX` characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoundedText<const MAX: usize>(String);

impl<const MAX: usize> BoundedText<MAX> {
    /// Validates `value` for the field `field`.
    ///
    /// # Errors
    /// [`TextError`] when the value is longer than `MAX` characters, holds control
    /// characters, or is only spaces. The rules apply to the value as sent (so that the
    /// OpenAPI document can state them); the text kept is trimmed.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, TextError> {
        let len = value.chars().count();
        if len > MAX {
            return Err(TextError::TooLong {
                field,
                len,
                max: MAX,
            });
        }
        if value.chars().any(char::is_control) {
            return Err(TextError::ControlCharacters { field });
        }
        // U+FEFF counts as a space, as in JSON Schema's (ECMAScript's) `\s`.
        let trimmed = value.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        if trimmed.is_empty() {
            return Err(TextError::Empty { field });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> std::fmt::Display for BoundedText<MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_only_is_empty() {
        assert_eq!(
            BoundedText::<10>::parse("toolName", "   ").unwrap_err(),
            TextError::Empty { field: "toolName" }
        );
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        assert!(BoundedText::<3>::parse("x", "äöü").is_ok());
        assert!(matches!(
            BoundedText::<3>::parse("x", "äöüß"),
            Err(TextError::TooLong { len: 4, max: 3, .. })
        ));
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(BoundedText::<10>::parse("x", "a\u{0}b").is_err());
        assert!(BoundedText::<10>::parse("x", "a\nb").is_err());
    }

    #[test]
    fn values_are_trimmed() {
        assert_eq!(
            BoundedText::<10>::parse("x", "  Bash ").unwrap().as_str(),
            "Bash"
        );
    }
}
