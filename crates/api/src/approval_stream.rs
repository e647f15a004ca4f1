//! Server-Sent Events for the approvals inbox (`GET /api/approvals/events`): an `approval`
//! event when one is opened or decided on this node, or the database announces one decided
//! (another node, PostgreSQL's `LISTEN/NOTIFY`), and a `changed` event when the poll of
//! the Pending approvals sees anything else change (one opened on another node, a vote).
//! The events say what changed; the page reads the approvals themselves from `/api`.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use orchestra_application::approvals::{
    ApprovalEvent, ApprovalEvents, ListApprovals, ListApprovalsHandler,
};
use orchestra_application::ports::{ApprovalFilter, PageRequest};
use orchestra_domain::ApprovalStatus;
use tokio::sync::broadcast::error::RecvError;

/// How often the Pending approvals are read for what the events do not carry.
pub const POLL: Duration = Duration::from_secs(2);

struct State {
    closed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    rx: tokio::sync::broadcast::Receiver<ApprovalEvent>,
    list: ListApprovalsHandler,
    poll: tokio::time::Interval,
    keepalive: tokio::time::Interval,
    seen: Option<u64>,
    prelude: Option<Bytes>,
    _permit: crate::sse_limits::SsePermit,
}

fn frame(event: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// What the Pending approvals look like to a decider: ids and vote counts. `None` when
/// the database cannot be read (the next poll tries again).
async fn fingerprint(list: &ListApprovalsHandler) -> Option<u64> {
    let page = list
        .handle(ListApprovals {
            filter: ApprovalFilter {
                status: Some(ApprovalStatus::Pending),
                session_id: None,
                kind: None,
                oldest_first: true,
            },
            page: PageRequest {
                offset: 0,
                limit: 500,
            },
        })
        .await
        .ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    page.total.hash(&mut h);
    for a in &page.items {
        a.id().to_string().hash(&mut h);
        a.version().hash(&mut h);
    }
    Some(h.finish())
}

/// The inbox's event stream; ends when the server stops.
pub fn inbox_stream(
    events: &ApprovalEvents,
    list: ListApprovalsHandler,
    permit: crate::sse_limits::SsePermit,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> + use<> {
    let mut keepalive = tokio::time::interval(Duration::from_secs(15));
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = State {
        closed: Box::pin(permit.closed()),
        rx: events.subscribe(),
        list,
        poll,
        keepalive,
        seen: None,
        prelude: Some(Bytes::from_static(
            b"retry: 2000\nevent: ready\ndata: {}\n\n",
        )),
        _permit: permit,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if let Some(p) = st.prelude.take() {
            st.keepalive.reset();
            return Some((Ok(p), st));
        }
        loop {
            tokio::select! {
                r = st.rx.recv() => {
                    let data = match r {
                        Ok(ApprovalEvent::Opened(a) | ApprovalEvent::Decided(a)) => serde_json::json!({
                            "id": a.id().to_string(),
                            "status": a.status().as_str(),
                        }),
                        Ok(ApprovalEvent::DecidedInDatabase(id)) => serde_json::json!({"id": id.to_string()}),
                        Err(RecvError::Lagged(_)) => return Some((Ok(frame("changed", &serde_json::json!({}))), st)),
                        Err(RecvError::Closed) => return None,
                    };
                    return Some((Ok(frame("approval", &data)), st));
                }
                _ = st.poll.tick() => {
                    let now = fingerprint(&st.list).await;
                    let changed = matches!((st.seen, now), (Some(a), Some(b)) if a != b);
                    if now.is_some() {
                        st.seen = now;
                    }
                    if changed {
                        return Some((Ok(frame("changed", &serde_json::json!({}))), st));
                    }
                }
                _ = st.keepalive.tick() => return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), st)),
                () = &mut st.closed => return None,
            }
        }
    })
}
