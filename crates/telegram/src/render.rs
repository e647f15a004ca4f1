//! Message texts. Everything from the agent is plain text in a [`Message`] run, escaped
//! when rendered; long tool inputs are cut (before escaping) with a pointer to the full
//! input over the API; every message fits Telegram's limit after entity parsing.

use chrono::{DateTime, Utc};
use orchestra_domain::{ApprovalKind, ApprovalRequest, DecisionOutcome};

pub use crate::message::MAX_MESSAGE_UNITS;
use crate::message::{Message, Style, prefix, units};

/// How much of a tool input a message shows at most, in units.
pub const MAX_INPUT_UNITS: usize = 2500;

/// The longest rule the message shows whole ("For the session:"); a longer one gets no
/// grant buttons.
pub const RULE_SHOWN_CHARS: usize = 200;

fn cut(text: &str, max: usize) -> &str {
    prefix(text, max)
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The message of a Pending approval, leaving `reserve` units for what follows it.
fn pending_with_reserve(a: &ApprovalRequest, reserve: usize) -> Message {
    let r = a.request();
    let heading = match r.kind {
        ApprovalKind::Test => Message::new()
            .plain("🧪 ")
            .push(Style::Bold, "Test approval")
            .plain(" (safe to approve, deny or ignore)"),
        ApprovalKind::Budget => Message::new()
            .plain("💸 ")
            .push(Style::Bold, "Budget spent")
            .plain(": approve to let the session spend more"),
        ApprovalKind::Denial => Message::new()
            .plain("🔁 ")
            .push(Style::Bold, "Approval needed")
            .plain(": the agent's tool call was denied; approve to let it continue"),
        ApprovalKind::Live => Message::new()
            .plain("🔐 ")
            .push(Style::Bold, "Approval needed"),
    };
    let field = |m: Message, name: &str, value: &str| {
        m.push(Style::Bold, &format!("{name}:"))
            .plain(" ")
            .push(Style::Code, cut(value, 200))
            .plain("\n")
    };
    let mut head = field(heading.plain("\n\n"), "Tool", &r.tool_name);
    head = field(head, "Session", &r.session_id);
    head = field(head, "Agent", &r.agent_id);
    // The policy's risk class, when a rule set one (high is the default, not shown).
    match r.risk {
        orchestra_domain::policy::RiskClass::Critical => {
            head = head
                .push(Style::Bold, "Risk:")
                .plain(" ⚠️ ")
                .push(Style::Bold, "critical")
                .plain("\n");
        }
        orchestra_domain::policy::RiskClass::Low => {
            head = head.push(Style::Bold, "Risk:").plain(" low\n");
        }
        orchestra_domain::policy::RiskClass::High => {}
    }
    if a.approvals_needed() > 1 {
        head = head
            .push(Style::Bold, "Needs:")
            .plain(&format!(" {} different approvers\n", a.approvals_needed()));
    }
    if let Some(d) = &r.description {
        head = head
            .push(Style::Bold, "What:")
            .plain(" ")
            .plain(cut(d, 300))
            .plain("\n");
    }
    if let Some(rule) = &r.session_rule {
        head = head
            .push(Style::Bold, "For the session:")
            .plain(" ")
            .push(Style::Code, cut(rule, RULE_SHOWN_CHARS))
            .plain("\n");
    }
    head = head.push(Style::Bold, "Input:").plain("\n");
    let tail = Message::new()
        .plain("\nExpires ")
        .plain(&time(a.expires_at()))
        .plain(" · ")
        .push(Style::Code, &a.id().to_string());
    let pretty =
        serde_json::to_string_pretty(&r.tool_input).unwrap_or_else(|_| r.tool_input.to_string());
    let pretty = crate::message::sanitize(&pretty);
    let pointer =
        |more: usize| format!("… {more} more characters: GET /api/approvals/{}\n", a.id());
    let total_chars = pretty.chars().count();
    let fixed = head.units() + tail.units() + reserve + units(&pointer(total_chars)) + 1;
    let room = MAX_MESSAGE_UNITS.saturating_sub(fixed).min(MAX_INPUT_UNITS);
    let shown = prefix(&pretty, room);
    let more = total_chars - shown.chars().count();
    let mut m = head
        .push(Style::Pre, if shown.is_empty() { " " } else { shown })
        .plain("\n");
    if more > 0 {
        m = m.push(Style::Italic, &pointer(more));
    }
    m.extend(tail)
        .fit(MAX_MESSAGE_UNITS.saturating_sub(reserve))
}

/// The message of a Pending approval.
pub fn pending(a: &ApprovalRequest) -> Message {
    pending_with_reserve(a, 0)
}

/// The message after a decision, expiry or cancellation (the buttons are removed): the
/// request, shortened if need be so the outcome always shows.
pub fn decided(a: &ApprovalRequest) -> Message {
    let Some(d) = a.decision() else {
        return pending(a);
    };
    let (icon, what) = match d.outcome {
        DecisionOutcome::Approved => ("✅", "Approved"),
        DecisionOutcome::Rejected => ("❌", "Denied"),
        DecisionOutcome::Expired => ("⌛", "Expired"),
        DecisionOutcome::Cancelled => ("🚫", "Cancelled"),
    };
    let scope = match (&d.grant, d.outcome) {
        (Some(g), DecisionOutcome::Approved) => match g.expires_at {
            Some(until) => format!(" ({} allowed until {})", cut(&g.rule, 200), time(until)),
            None => format!(
                " ({} allowed for the rest of the session)",
                cut(&g.rule, 200)
            ),
        },
        _ => String::new(),
    };
    let mut footer = Message::new()
        .plain(&format!("\n\n{icon} "))
        .push(Style::Bold, what)
        .plain(&format!(
            "{scope} by {} at {}",
            cut(&d.decided_by, 100),
            time(d.decided_at)
        ));
    if let Some(reason) = &d.reason {
        footer = footer.plain("\n").push(Style::Italic, cut(reason, 300));
    }
    pending_with_reserve(a, footer.units()).extend(footer)
}

/// A Pending approval with a note at its end (the first message after an escalation, and
/// the escalation chat's message).
pub fn pending_with_note(a: &ApprovalRequest, note: &str) -> Message {
    let footer = Message::new().plain("\n\n").push(Style::Bold, note);
    pending_with_reserve(a, footer.units()).extend(footer)
}

/// The reply after one approver's yes on an approval that needs several.
pub fn voted(a: &ApprovalRequest) -> Message {
    let by: Vec<&str> = a.votes().iter().map(|v| v.by.as_str()).collect();
    let missing = (a.approvals_needed() as usize).saturating_sub(by.len());
    Message::new()
        .plain("✔ Approval ")
        .push(Style::Code, &a.id().to_string())
        .plain(&format!(
            ": approved by {} ({} of {}); {missing} more approver{} must approve it.",
            cut(&by.join(", "), 300),
            by.len(),
            a.approvals_needed(),
            if missing == 1 { "" } else { "s" }
        ))
        .fit(MAX_MESSAGE_UNITS)
}

/// The warning that an approval expires soon.
pub fn expiring(a: &ApprovalRequest, now: DateTime<Utc>) -> Message {
    let minutes = (a.expires_at() - now).num_minutes().max(0);
    Message::new()
        .plain("⏰ Approval ")
        .push(Style::Code, &a.id().to_string())
        .plain(" for ")
        .push(Style::Code, cut(&a.request().tool_name, 200))
        .plain(&format!(
            " expires in {minutes} min ({}); undecided approvals are denied.",
            time(a.expires_at())
        ))
        .fit(MAX_MESSAGE_UNITS)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use orchestra_domain::{ApprovalId, ApprovalTimeoutPolicy, NewApproval};
    use serde_json::json;

    use super::*;

    fn approval(input: serde_json::Value) -> ApprovalRequest {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        ApprovalRequest::open(
            ApprovalId::new(),
            NewApproval {
                session_id: "s<1>".into(),
                agent_id: "claude-code".into(),
                tool_name: "Bash".into(),
                tool_input: input,
                tool_use_id: None,
                kind: ApprovalKind::Live,
                description: Some("Write <b>hi</b> & more".into()),
                session_rule: None,
                risk: Default::default(),
                working_directory: None,
                approvals_needed: 1,
            },
            now,
            now + chrono::Duration::minutes(30),
        )
    }

    #[test]
    fn a_critical_or_low_risk_shows_and_the_default_does_not() {
        let mut a = approval(json!({"command": "git push"}));
        assert!(!pending(&a).html().contains("Risk:"));
        let mut snap = a.snapshot().clone();
        snap.request.risk = orchestra_domain::policy::RiskClass::Critical;
        a = ApprovalRequest::restore(snap);
        assert!(
            pending(&a)
                .html()
                .contains("<b>Risk:</b> ⚠️ <b>critical</b>")
        );
    }

    #[test]
    fn agent_text_is_escaped() {
        let t = pending(&approval(
            json!({"command": "echo '<script>' && rm -rf /tmp/x > out.txt"}),
        ))
        .html();
        assert!(
            t.contains("&lt;script&gt;") && t.contains("&amp;&amp;") && t.contains("s&lt;1&gt;")
        );
        assert!(!t.contains("<script>") && !t.contains("<b>hi</b>"));
    }

    #[test]
    fn a_huge_input_is_cut_with_a_pointer_to_the_api_and_fits_the_limit() {
        let a = approval(json!({"content": "é".repeat(100_000)}));
        let m = pending(&a);
        assert!(m.units() <= MAX_MESSAGE_UNITS);
        let t = m.html();
        assert!(t.contains(&format!("GET /api/approvals/{}", a.id())));
        assert!(t.contains("</pre>"));
        let mut done = a.clone();
        let d = done
            .decide(
                DecisionOutcome::Approved,
                "telegram:1 (@ops)".to_owned(),
                Some("x".repeat(5000)),
                a.created_at(),
                &ApprovalTimeoutPolicy::default(),
            )
            .unwrap();
        done.apply(d);
        let m = decided(&done);
        assert!(m.units() <= MAX_MESSAGE_UNITS, "{}", m.units());
        let t = m.html();
        assert!(t.contains("Approved</b> by telegram:1 (@ops)"));
    }
}
