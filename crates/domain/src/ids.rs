//! Identifiers. Each is a newtype so a session id can never be passed where an approval
//! id is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid {kind} (expected a UUID)")]
pub struct ParseIdError {
    kind: &'static str,
    input: String,
}

impl ParseIdError {
    /// The kind of id that failed to parse (`session id`, `approval id`).
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| ParseIdError {
                    kind: $kind,
                    input: s.chars().take(64).collect(),
                })
            }
        }
    };
}

uuid_id!(
    /// Identifies an [`crate::AgentSession`]. It is also the Claude Code session id
    /// (`--session-id` / `--resume`), so the CLI's transcript and ours share one key.
    SessionId,
    "session id"
);
uuid_id!(
    /// Identifies a [`crate::Turn`].
    TurnId,
    "turn id"
);
uuid_id!(
    /// Identifies an [`crate::ApprovalRequest`].
    ApprovalId,
    "approval id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_id_round_trips_through_its_string_form() {
        let id = SessionId::new();
        let parsed: SessionId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
    }

    #[test]
    fn garbage_is_not_an_approval_id_and_the_error_says_which_kind() {
        let err = "not-a-uuid".parse::<ApprovalId>().unwrap_err();
        assert_eq!(err.kind(), "approval id");
        assert!(err.to_string().contains("not-a-uuid"));
    }

    #[test]
    fn a_huge_bad_id_is_truncated_in_the_error() {
        let input = "x".repeat(10_000);
        let err = input.parse::<SessionId>().unwrap_err();
        assert!(err.to_string().len() < 200);
    }
}
