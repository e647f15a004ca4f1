//! Message texts (Telegram HTML). Everything from the agent is escaped; long tool inputs
//! are cut with a pointer to the full input over the API; no text exceeds Telegram's limit.

use chrono::{DateTime, Utc};
use orchestra_domain::{ApprovalKind, ApprovalRequest, DecisionOutcome};

/// Telegram's message limit, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;
/// How much of a tool input a message shows.
pub const MAX_INPUT_CHARS: usize = 2500;

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn cut(text: &str, max: usize) -> (String, usize) {
    let total = text.chars().count();
    if total <= max {
        (text.to_owned(), 0)
    } else {
        (text.chars().take(max).collect(), total - max)
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The text of a Pending approval.
pub fn pending_text(a: &ApprovalRequest) -> String {
    let r = a.request();
    let heading = match r.kind {
        ApprovalKind::Test => "🧪 <b>Test approval</b> (safe to approve, deny or ignore)",
        ApprovalKind::Denial => {
            "🔁 <b>Approval needed</b>: the agent's tool call was denied; approve to let it continue"
        }
        ApprovalKind::Live => "🔐 <b>Approval needed</b>",
    };
    let pretty =
        serde_json::to_string_pretty(&r.tool_input).unwrap_or_else(|_| r.tool_input.to_string());
    let (input, more) = cut(&pretty, MAX_INPUT_CHARS);
    let mut text = format!(
        "{heading}\n\n<b>Tool:</b> <code>{}</code>\n<b>Session:</b> <code>{}</code>\n<b>Agent:</b> <code>{}</code>\n",
        escape(&cut(&r.tool_name, 200).0),
        escape(&cut(&r.session_id, 200).0),
        escape(&cut(&r.agent_id, 200).0),
    );
    if let Some(d) = &r.description {
        text.push_str(&format!("<b>What:</b> {}\n", escape(&cut(d, 300).0)));
    }
    text.push_str(&format!("<b>Input:</b>\n<pre>{}</pre>\n", escape(&input)));
    if more > 0 {
        text.push_str(&format!(
            "<i>… {more} more characters: GET /api/approvals/{}</i>\n",
            a.id()
        ));
    }
    text.push_str(&format!(
        "\nExpires {} · <code>{}</code>",
        time(a.expires_at()),
        a.id()
    ));
    finish(text)
}

/// The text after a decision, expiry or cancellation (the buttons are removed).
pub fn decided_text(a: &ApprovalRequest) -> String {
    let mut text = pending_text(a);
    if let Some(d) = a.decision() {
        let (icon, what) = match d.outcome {
            DecisionOutcome::Approved => ("✅", "Approved"),
            DecisionOutcome::Rejected => ("❌", "Denied"),
            DecisionOutcome::Expired => ("⌛", "Expired"),
            DecisionOutcome::Cancelled => ("🚫", "Cancelled"),
        };
        let scope = if d.scope == orchestra_domain::ApprovalScope::Session
            && d.outcome == DecisionOutcome::Approved
        {
            " (allowed for the rest of the session)"
        } else {
            ""
        };
        let reason = d
            .reason
            .as_deref()
            .map(|r| format!("\n<i>{}</i>", escape(&cut(r, 300).0)))
            .unwrap_or_default();
        let footer = format!(
            "\n\n{icon} <b>{what}</b>{scope} by {} at {}{reason}",
            escape(&cut(&d.decided_by, 100).0),
            time(d.decided_at)
        );
        // The footer must survive: shorten the body if needed.
        let budget = MAX_MESSAGE_CHARS.saturating_sub(footer.chars().count() + 2);
        if text.chars().count() > budget {
            text = text.chars().take(budget).collect();
            if let Some(open) = text.rfind("<pre>")
                && !text[open..].contains("</pre>")
            {
                text.push_str("</pre>");
            }
        }
        text.push_str(&footer);
    }
    finish(text)
}

/// The warning that an approval expires soon.
pub fn expiring_text(a: &ApprovalRequest, now: DateTime<Utc>) -> String {
    let minutes = (a.expires_at() - now).num_minutes().max(0);
    finish(format!(
        "⏰ Approval <code>{}</code> for <code>{}</code> expires in {minutes} min ({}); undecided approvals are denied.",
        a.id(),
        escape(&cut(&a.request().tool_name, 200).0),
        time(a.expires_at())
    ))
}

fn finish(text: String) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        text
    } else {
        text.chars().take(MAX_MESSAGE_CHARS).collect()
    }
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
            },
            now,
            now + chrono::Duration::minutes(30),
        )
    }

    #[test]
    fn agent_text_is_escaped() {
        let t = pending_text(&approval(
            json!({"command": "echo '<script>' && rm -rf /tmp/x > out.txt"}),
        ));
        assert!(
            t.contains("&lt;script&gt;") && t.contains("&amp;&amp;") && t.contains("s&lt;1&gt;")
        );
        assert!(!t.contains("<script>") && !t.contains("<b>hi</b>"));
    }

    #[test]
    fn a_huge_input_is_cut_with_a_pointer_to_the_api_and_fits_the_limit() {
        let a = approval(json!({"content": "é".repeat(100_000)}));
        let t = pending_text(&a);
        assert!(t.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(t.contains(&format!("GET /api/approvals/{}", a.id())));
        assert!(t.contains("</pre>"));
        let mut decided = a.clone();
        let d = decided
            .decide(
                DecisionOutcome::Approved,
                "telegram:1 (@ops)".to_owned(),
                Some("x".repeat(5000)),
                a.created_at(),
                &ApprovalTimeoutPolicy::default(),
            )
            .unwrap();
        decided.apply(d);
        let t = decided_text(&decided);
        assert!(
            t.chars().count() <= MAX_MESSAGE_CHARS,
            "{}",
            t.chars().count()
        );
        assert!(t.contains("Approved</b> by telegram:1 (@ops)"));
    }
}
