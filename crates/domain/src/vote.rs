//! Approvals that need several approvers (a `critical` call: `approvals.critical_approvers`):
//! each approver's yes is a [`Vote`]; the last one needed makes the decision, one no refuses.

use chrono::{DateTime, Utc};

use crate::{ApprovalRequest, ApprovalStatus, DecideApprovalError, Decision};

/// One approver's yes on an approval that needs several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// Who (the key's name, or `telegram:<user id>`): votes by one approver count once.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What one more yes does to an approval that needs several.
#[derive(Debug, Clone, PartialEq)]
pub enum VoteStep {
    /// Not enough yet: the approval stays Pending with these votes.
    Recorded(Vec<Vote>),
    /// Enough: this decision (approved by every voter).
    Decides(Decision),
}

impl ApprovalRequest {
    /// One more yes, by `voter`, on an approval that needs several: recorded, or (the last
    /// one needed) the decision `approve` becomes, approved by every voter in turn. Call it
    /// on the approval as stored now, inside the transaction that stores the result.
    ///
    /// # Errors
    /// [`DecideApprovalError::AlreadyDecided`] when not Pending;
    /// [`DecideApprovalError::AlreadyVoted`] when `voter` said yes already.
    pub fn vote(
        &self,
        voter: &str,
        mut approve: Decision,
    ) -> Result<VoteStep, DecideApprovalError> {
        if self.status() != ApprovalStatus::Pending {
            return Err(DecideApprovalError::AlreadyDecided {
                current: self.status(),
            });
        }
        let needed = self.approvals_needed();
        if self.votes().iter().any(|v| v.by == voter) {
            return Err(DecideApprovalError::AlreadyVoted {
                by: voter.to_owned(),
                needed,
            });
        }
        let mut votes = self.votes().to_vec();
        votes.push(Vote {
            by: voter.to_owned(),
            at: approve.decided_at,
        });
        if (votes.len() as u64) < u64::from(needed) {
            return Ok(VoteStep::Recorded(votes));
        }
        let earlier: Vec<&str> = votes[..votes.len() - 1]
            .iter()
            .map(|v| v.by.as_str())
            .collect();
        if !earlier.is_empty() {
            approve.decided_by = format!("{} (after {})", approve.decided_by, earlier.join(", "));
        }
        approve.votes = votes;
        Ok(VoteStep::Decides(approve))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::{ApprovalId, ApprovalKind, ApprovalTimeoutPolicy, DecisionOutcome, NewApproval};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn needing(n: u32) -> ApprovalRequest {
        ApprovalRequest::open(
            ApprovalId::new(),
            NewApproval {
                session_id: "s".into(),
                agent_id: "a".into(),
                tool_name: "Bash".into(),
                tool_input: json!({"command": "git push"}),
                tool_use_id: None,
                kind: ApprovalKind::Live,
                description: None,
                session_rule: None,
                risk: crate::policy::RiskClass::Critical,
                working_directory: None,
                approvals_needed: n,
            },
            t(0),
            t(600),
        )
    }

    fn yes(a: &ApprovalRequest, by: &str, at: i64) -> Decision {
        a.decide(
            DecisionOutcome::Approved,
            by,
            None,
            t(at),
            &ApprovalTimeoutPolicy::default(),
        )
        .unwrap()
    }

    fn with_votes(a: &ApprovalRequest, votes: Vec<Vote>) -> ApprovalRequest {
        let mut snap = a.snapshot().clone();
        snap.votes = votes;
        ApprovalRequest::restore(snap)
    }

    #[test]
    fn two_different_approvers_decide_and_one_counts_once() {
        let a = needing(2);
        let VoteStep::Recorded(votes) = a.vote("alice", yes(&a, "alice", 1)).unwrap() else {
            panic!("one yes is not enough")
        };
        assert_eq!(votes.len(), 1);
        let a = with_votes(&a, votes);
        let again = a.vote("alice", yes(&a, "alice", 2)).unwrap_err();
        assert_eq!(
            again,
            DecideApprovalError::AlreadyVoted {
                by: "alice".into(),
                needed: 2
            }
        );
        let VoteStep::Decides(d) = a.vote("bob", yes(&a, "bob", 3)).unwrap() else {
            panic!("two yeses decide")
        };
        assert_eq!(d.decided_by, "bob (after alice)");
        assert_eq!(
            d.votes
                .iter()
                .map(|v| (v.by.as_str(), v.at))
                .collect::<Vec<_>>(),
            vec![("alice", t(1)), ("bob", t(3))]
        );
    }

    #[test]
    fn one_approver_is_enough_when_one_is_needed_and_a_decided_one_takes_no_votes() {
        let a = needing(1);
        let VoteStep::Decides(d) = a.vote("alice", yes(&a, "alice", 1)).unwrap() else {
            panic!("one is enough")
        };
        assert_eq!(d.decided_by, "alice");
        let mut decided = a.clone();
        decided.apply(d);
        assert!(matches!(
            decided.vote("bob", yes(&a, "bob", 2)),
            Err(DecideApprovalError::AlreadyDecided { .. })
        ));
    }
}
