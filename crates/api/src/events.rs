//! Server-Sent Events for a session's event log.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use orchestra_application::ports::AgentEvent;
use orchestra_application::sessions::{EventLog, LoggedEvent, SessionEvent};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

/// The JSON of one event (`data:` of an SSE message).
pub fn event_json(e: &LoggedEvent) -> Value {
    let data = match &e.event {
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
    };
    json!({"seq": e.seq, "at": e.at, "sessionId": e.session_id.to_string(), "type": e.event.kind(), "data": data})
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

fn frame(e: &LoggedEvent) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        e.seq,
        e.event.kind(),
        event_json(e)
    ))
}

enum Step {
    Backlog(std::vec::IntoIter<Arc<LoggedEvent>>),
    Live,
    Done,
}

struct State {
    /// Resolves when the server stops: the stream ends.
    closed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    log: Arc<EventLog>,
    rx: tokio::sync::broadcast::Receiver<Arc<LoggedEvent>>,
    step: Step,
    last: u64,
    keepalive: tokio::time::Interval,
    prelude: Option<Bytes>,
    /// Held while the stream lives (its place under the subscriber caps).
    _permit: crate::sse_limits::SsePermit,
}

fn ends_stream(e: &LoggedEvent) -> bool {
    matches!(
        e.event,
        SessionEvent::StatusChanged {
            status: orchestra_domain::SessionStatus::Closed,
            ..
        }
    )
}

/// The SSE byte stream: buffered events after `after`, then live ones, with keep-alive
/// comments; a `gap` event first when some of the requested events are gone. Ends when the
/// session is closed, and when the server stops.
pub fn sse_stream(
    log: Arc<EventLog>,
    after: Option<u64>,
    permit: crate::sse_limits::SsePermit,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let sub = log.subscribe(after);
    let first = sub.backlog.first().map_or(log.next_seq(), |e| e.seq);
    let prelude = Some(Bytes::from(if sub.gap {
        format!("retry: 2000\nevent: gap\ndata: {{\"firstAvailableSeq\":{first}}}\n\n")
    } else {
        "retry: 2000\n\n".to_owned()
    }));
    let mut keepalive = tokio::time::interval(Duration::from_secs(15));
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let closed = Box::pin(permit.closed());
    let state = State {
        closed,
        log,
        rx: sub.live,
        last: sub.after,
        step: Step::Backlog(sub.backlog.into_iter()),
        keepalive,
        prelude,
        _permit: permit,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if let Some(p) = st.prelude.take() {
            st.keepalive.reset();
            return Some((Ok(p), st));
        }
        loop {
            match &mut st.step {
                Step::Done => return None,
                Step::Backlog(it) => match it.next() {
                    Some(e) => {
                        st.last = e.seq;
                        if ends_stream(&e) {
                            st.step = Step::Done;
                        }
                        return Some((Ok(frame(&e)), st));
                    }
                    None => st.step = Step::Live,
                },
                Step::Live => {
                    tokio::select! {
                        r = st.rx.recv() => match r {
                            Ok(e) if e.seq <= st.last => continue,
                            Ok(e) => {
                                st.last = e.seq;
                                if ends_stream(&e) {
                                    st.step = Step::Done;
                                }
                                return Some((Ok(frame(&e)), st));
                            }
                            Err(RecvError::Lagged(_)) => {
                                // Fell behind the live feed: catch up from the buffer.
                                let (missed, _) = st.log.since(st.last);
                                st.step = Step::Backlog(missed.into_iter());
                            }
                            Err(RecvError::Closed) => return None,
                        },
                        _ = st.keepalive.tick() => return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), st)),
                        () = &mut st.closed => return None,
                    }
                }
            }
        }
    })
}
