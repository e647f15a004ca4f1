//! Whether an approval's decision has been carried out on its session: the agent answered,
//! the session continued, or the denial recorded.
//!
//! `Waiting` (no decision yet) → the decision makes it `Due` in the same write → a node
//! claims it, `Acting`, before it tells the agent → `Done`. A node that stops while
//! `Acting` leaves the answer possibly delivered: recovery marks it `Uncertain` and does not
//! act again, so a tool never runs twice; the state says a human should look. Test
//! approvals have no session: their decision is `Done` at once.

use std::fmt;
use std::str::FromStr;

/// Where carrying out an approval's decision stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActedOn {
    /// Not decided yet.
    #[default]
    Waiting,
    /// Decided; the session has not been told.
    Due,
    /// A node is telling the session now.
    Acting,
    /// The session was told (or had nothing to be told).
    Done,
    /// The node telling the session stopped midway: the answer may or may not have reached
    /// the agent. Not retried.
    Uncertain,
}

impl ActedOn {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Due => "due",
            Self::Acting => "acting",
            Self::Done => "done",
            Self::Uncertain => "uncertain",
        }
    }

    /// The state a decision leaves (`test` approvals are done at once).
    pub fn after_decision(test: bool) -> Self {
        if test { Self::Done } else { Self::Due }
    }
}

impl fmt::Display for ActedOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown stored acted-on state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown acted-on state `{0}`")]
pub struct ParseActedOnError(String);

impl FromStr for ActedOn {
    type Err = ParseActedOnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Waiting,
            Self::Due,
            Self::Acting,
            Self::Done,
            Self::Uncertain,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| ParseActedOnError(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_a_decision_makes_acting_due() {
        for s in ["waiting", "due", "acting", "done", "uncertain"] {
            assert_eq!(s.parse::<ActedOn>().unwrap().as_str(), s);
        }
        assert!("bogus".parse::<ActedOn>().is_err());
        assert_eq!(ActedOn::after_decision(false), ActedOn::Due);
        assert_eq!(ActedOn::after_decision(true), ActedOn::Done);
    }
}
