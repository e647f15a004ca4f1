//! The CLI's pipes: stdin writes, the stdout reader that decodes and routes lines, the
//! stderr drain.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use orchestra_application::ports::{AgentEvent, PermissionAnswer, RuntimeError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::ChildStdin;
use tokio::sync::mpsc;

use super::{Pending, lock};
use crate::protocol::{Control, Decoded, Line, LineDecoder, Outbound, decode, too_long};

/// Writes one protocol message to the CLI's stdin.
pub(super) async fn write_line(
    stdin: &tokio::sync::Mutex<Option<ChildStdin>>,
    message: &Outbound<'_>,
) -> Result<(), RuntimeError> {
    let bytes = message
        .to_line()
        .map_err(|e| RuntimeError::Io(e.to_string()))?;
    let mut guard = stdin.lock().await;
    let pipe = guard.as_mut().ok_or(RuntimeError::Exited)?;
    pipe.write_all(&bytes)
        .await
        .map_err(|e| RuntimeError::Io(e.to_string()))?;
    pipe.flush()
        .await
        .map_err(|e| RuntimeError::Io(e.to_string()))
}

/// Drains stderr, keeping its last `keep` lines in `tail`.
pub(super) async fn drain_stderr(
    mut stderr: impl AsyncRead + Unpin,
    tail: Arc<Mutex<VecDeque<String>>>,
    keep: usize,
    session: String,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut decoder = LineDecoder::new(8 * 1024);
    let mut total: u64 = 0;
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        total += n as u64;
        decoder.push(&buf[..n], |line| {
            let text = match line {
                Line::Complete(b) => String::from_utf8_lossy(b).into_owned(),
                Line::TooLong { len, head, .. } => {
                    format!("{} …[{len} bytes]", String::from_utf8_lossy(&head))
                }
            };
            let mut t = lock(&tail);
            t.push_back(text);
            while t.len() > keep {
                t.pop_front();
            }
        });
    }
    decoder.finish(|line| {
        if let Line::Complete(b) = line {
            lock(&tail).push_back(String::from_utf8_lossy(b).into_owned());
        }
    });
    if total > 0 {
        tracing::debug!(session.id = %session, stderr_bytes = total, "agent stderr closed");
    }
}

/// Reads stdout to its end: lines are decoded and dispatched (events to the channel, control
/// answers to their waiters, unsupported requests refused).
pub(super) async fn read_stdout(
    mut stdout: impl AsyncRead + Unpin,
    max_line: usize,
    tx: mpsc::Sender<AgentEvent>,
    pending: Pending,
    busy: Arc<AtomicI64>,
    stdin: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    session: String,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut decoder = LineDecoder::new(max_line).skimming();
    let mut decoded: Vec<Decoded> = Vec::new();
    loop {
        let n = match stdout.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n], |line| {
            decoded.push(match line {
                Line::Complete(b) => decode(b),
                Line::TooLong { len, head, skimmed } => {
                    too_long(len, &head, skimmed.as_deref(), max_line)
                }
            })
        });
        for d in decoded.drain(..) {
            if !dispatch(d, &tx, &pending, &busy, &stdin, &session).await {
                return;
            }
        }
    }
    decoder.finish(|line| {
        decoded.push(match line {
            Line::Complete(b) => decode(b),
            Line::TooLong { len, head, skimmed } => {
                too_long(len, &head, skimmed.as_deref(), max_line)
            }
        });
    });
    for d in decoded.drain(..) {
        dispatch(d, &tx, &pending, &busy, &stdin, &session).await;
    }
}

/// Routes one decoded line; returns false when the receiver is gone.
async fn dispatch(
    decoded: Decoded,
    tx: &mpsc::Sender<AgentEvent>,
    pending: &Pending,
    busy: &AtomicI64,
    stdin: &tokio::sync::Mutex<Option<ChildStdin>>,
    session: &str,
) -> bool {
    match decoded {
        Decoded::Nothing => true,
        Decoded::Events(events) => {
            for e in events {
                if matches!(e, AgentEvent::Result(_)) {
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
                if tx.send(e).await.is_err() {
                    return false;
                }
            }
            true
        }
        Decoded::Control(Control::CanUseTool(request)) => {
            tx.send(request.into_event()).await.is_ok()
        }
        Decoded::Control(Control::Response { request_id, result }) => {
            if let Some(waiter) = lock(pending).remove(&request_id) {
                let _ = waiter.send(result);
            }
            true
        }
        Decoded::Control(Control::Request {
            request_id,
            subtype,
        }) => {
            tracing::warn!(session.id = %session, subtype = %subtype, "agent sent a control request Orchestra does not support; refused");
            let error = format!("{subtype} is not supported by this host");
            let _ = write_line(stdin, &Outbound::refusal(&request_id, &error)).await;
            true
        }
        Decoded::Control(Control::Oversized {
            request,
            len,
            limit,
            preview,
        }) => {
            let reason = format!(
                "a control request of {len} bytes is over the {limit}-byte line limit (claude.max_line_bytes)"
            );
            tracing::warn!(session.id = %session, request_id = %request.request_id, can_use_tool = request.can_use_tool, bytes = len, "{reason}; answered without reading it");
            let written = if request.can_use_tool {
                let deny = PermissionAnswer::Deny {
                    message: format!("Orchestra denied this tool call without asking: {reason}."),
                    interrupt: false,
                };
                write_line(stdin, &Outbound::permission(&request.request_id, &deny)).await
            } else {
                write_line(stdin, &Outbound::refusal(&request.request_id, &reason)).await
            };
            if let Err(err) = written {
                tracing::warn!(session.id = %session, request_id = %request.request_id, error = %err, "could not answer an oversized control request");
            }
            let what = if request.can_use_tool {
                "the tool call was denied"
            } else {
                "it was refused"
            };
            tx.send(AgentEvent::OversizedRequest {
                request_id: request.request_id,
                tool_name: request.tool_name,
                tool_use_id: request.tool_use_id,
                reason: format!("{reason}; {what}"),
                preview,
            })
            .await
            .is_ok()
        }
    }
}
