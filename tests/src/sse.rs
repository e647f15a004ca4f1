//! A small Server-Sent Events reader for tests.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

/// One SSE message.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// `id:`.
    pub id: Option<u64>,
    /// `event:`.
    pub event: String,
    /// `data:` parsed as JSON.
    pub data: Value,
}

/// Reads events from `url` (with `Last-Event-ID` when given) until `stop` returns true for
/// one, or `within` passes (then panics with what was read).
pub async fn read_until(
    client: &reqwest::Client,
    url: &str,
    last_event_id: Option<u64>,
    within: Duration,
    stop: impl Fn(&SseEvent) -> bool,
) -> Vec<SseEvent> {
    let mut req = client.get(url);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no matching event within {within:?}; got {events:#?}"));
        let Some(chunk) = chunk else { return events };
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut ev = SseEvent {
                id: None,
                event: "message".into(),
                data: Value::Null,
            };
            let mut has_data = false;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    ev.id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    ev.event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    ev.data = serde_json::from_str(v).unwrap_or(Value::String(v.to_owned()));
                    has_data = true;
                }
            }
            if has_data {
                let done = stop(&ev);
                events.push(ev);
                if done {
                    return events;
                }
            }
        }
    }
}
