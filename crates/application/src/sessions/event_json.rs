//! The wire form of a session's events (the `data:` of each SSE message), which is also the
//! form a suspended session's last turn is stored in (so a replay after a restore sends the
//! same JSON the live stream sent).

use serde_json::{Value, json};

use super::event_log::{LoggedEvent, SessionEvent};
use crate::ports::AgentEvent;

/// The JSON of one event (`data:` of an SSE message).
pub fn event_json(e: &LoggedEvent) -> Value {
    json!({"seq": e.seq, "at": e.at, "sessionId": e.session_id.to_string(), "type": e.event.kind(), "data": event_data(&e.event)})
}

/// The `data` member of an event's JSON.
pub fn event_data(event: &SessionEvent) -> Value {
    match event {
        SessionEvent::Agent(a) => agent_json(a),
        SessionEvent::TurnStarted { turn_id, seq } => {
            json!({"turnId": turn_id.to_string(), "seq": seq})
        }
        SessionEvent::TurnFinished {
            turn_id,
            status,
            error,
        } => {
            json!({"turnId": turn_id.to_string(), "status": status.as_str(), "error": error})
        }
        SessionEvent::StatusChanged { status, reason } => {
            json!({"status": status.as_str(), "reason": reason})
        }
        SessionEvent::AgentSuspended { reason } => json!({"reason": reason}),
        SessionEvent::AgentResumed => json!({}),
        SessionEvent::ApprovalRequested {
            approval_id,
            tool_name,
        } => {
            json!({"approvalId": approval_id.to_string(), "toolName": tool_name})
        }
        SessionEvent::ApprovalDecided {
            approval_id,
            status,
        } => {
            json!({"approvalId": approval_id.to_string(), "status": status.as_str()})
        }
        SessionEvent::Restored { data, .. } => data.clone(),
    }
}

fn agent_json(e: &AgentEvent) -> Value {
    match e {
        AgentEvent::Init {
            session_id,
            model,
            tools,
            version,
        } => {
            json!({"cliSessionId": session_id, "model": model, "tools": tools, "version": version})
        }
        AgentEvent::AssistantText { text } | AgentEvent::Thinking { text } => json!({"text": text}),
        AgentEvent::ToolUse { id, name, input } => {
            json!({"toolUseId": id, "name": name, "input": input})
        }
        AgentEvent::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => {
            json!({"toolUseId": tool_use_id, "content": content, "isError": is_error})
        }
        AgentEvent::ApiRetry {
            attempt,
            max_retries,
            delay_ms,
            error_status,
        } => {
            json!({"attempt": attempt, "maxRetries": max_retries, "delayMs": delay_ms, "errorStatus": error_status})
        }
        AgentEvent::PermissionRequest {
            request_id,
            tool_name,
            input,
            tool_use_id,
            description,
            suggested_rules,
        } => json!({
            "requestId": request_id, "toolName": tool_name, "input": input, "toolUseId": tool_use_id, "description": description, "suggestedRules": suggested_rules
        }),
        AgentEvent::PermissionDenied {
            tool_name,
            tool_use_id,
            message,
        } => {
            json!({"toolName": tool_name, "toolUseId": tool_use_id, "message": message})
        }
        AgentEvent::Result(r) => json!({
            "subtype": r.subtype, "isError": r.is_error, "result": r.result, "costUsd": r.cost_usd,
            "durationMs": r.duration_ms, "numTurns": r.num_turns, "terminalReason": r.terminal_reason,
            "apiErrorStatus": r.api_error_status, "errors": r.errors,
            "permissionDenials": r.permission_denials.iter().map(|d| json!({"toolName": d.tool_name, "toolUseId": d.tool_use_id, "toolInput": d.tool_input})).collect::<Vec<_>>(),
        }),
        AgentEvent::Other { kind, subtype, raw } => {
            json!({"kind": kind, "subtype": subtype, "raw": raw})
        }
        AgentEvent::Garbage { preview, reason } => json!({"preview": preview, "reason": reason}),
        AgentEvent::OversizedRequest {
            request_id,
            tool_name,
            tool_use_id,
            reason,
            preview,
        } => {
            json!({"requestId": request_id, "toolName": tool_name, "toolUseId": tool_use_id, "reason": reason, "preview": preview})
        }
        AgentEvent::Exited(r) => json!({
            "code": r.code, "signal": r.signal, "requested": r.requested, "stopStep": r.stop_step,
            "orphansKilled": r.orphans_killed,
        }),
    }
}
