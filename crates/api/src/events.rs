//! Server-Sent Events for a session's event log.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use orchestra_application::sessions::{EventLog, LoggedEvent, SessionEvent, event_json};
use tokio::sync::broadcast::error::RecvError;

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
