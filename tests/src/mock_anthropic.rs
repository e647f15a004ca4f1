//! A mock of the Anthropic Messages API (`POST /v1/messages`, streaming SSE and JSON) on
//! 127.0.0.1, for driving the real `claude` CLI. It answers by keywords in the last user
//! message and records every request body, so tests can see what the CLI sent (and that a
//! resumed session carries its earlier messages).
//!
//! | last user text contains | answer |
//! |---|---|
//! | a `tool_result` block | text `Done with the tool step.` |
//! | `KW_BASH <command>` | a `Bash` tool_use running `<command>` (rest of the line) |
//! | `KW_READ <path>` | a `Read` tool_use of `<path>` |
//! | `KW_REMEMBER <word>` | `Noted: the secret word is <word>.` |
//! | `KW_RECALL` | `The secret word is <word>.` from the earlier messages, or `I don't know.` |
//! | `KW_ERROR500` | HTTP 500 with `x-should-retry: false` |
//! | `[orchestra]` (a continuation) | the earlier `KW_BASH` request again |
//! | `KW_SLOW <ms>` | waits, then answers |
//! | anything else | `Hello from the mock.` |

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// A running mock.
#[derive(Debug)]
pub struct MockAnthropic {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    requests: Arc<Mutex<Vec<Value>>>,
    handle: actix_web::dev::ServerHandle,
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b["type"].as_str() {
                Some("text") => b["text"].as_str().map(str::to_owned),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn has_tool_result(content: &Value) -> bool {
    content
        .as_array()
        .is_some_and(|b| b.iter().any(|x| x["type"] == "tool_result"))
}

fn after(text: &str, keyword: &str) -> Option<String> {
    let rest = &text[text.find(keyword)? + keyword.len()..];
    Some(rest.lines().next().unwrap_or_default().trim().to_owned())
}

enum Reply {
    Text(String),
    Tool { name: String, input: Value },
    Error(u16),
}

fn decide(body: &Value) -> (Reply, Option<u64>) {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "user") else {
        return (Reply::Text("Hello from the mock.".into()), None);
    };
    let text = text_of(&last["content"]);
    let slow = after(&text, "KW_SLOW").and_then(|v| v.split_whitespace().next()?.parse().ok());
    if text.contains("[orchestra]") {
        // A continuation after an approval: repeat the earlier Bash request.
        let earlier: Vec<String> = messages.iter().map(|m| text_of(&m["content"])).collect();
        if let Some(command) = earlier.iter().rev().find_map(|t| after(t, "KW_BASH")) {
            return (
                Reply::Tool {
                    name: "Bash".into(),
                    input: json!({"command": command, "description": "Run the requested command"}),
                },
                slow,
            );
        }
    }
    if has_tool_result(&last["content"]) && !text.contains("KW_") {
        return (Reply::Text("Done with the tool step.".into()), slow);
    }
    if text.contains("KW_ERROR500") {
        return (Reply::Error(500), slow);
    }
    if let Some(command) = after(&text, "KW_BASH") {
        return (
            Reply::Tool {
                name: "Bash".into(),
                input: json!({"command": command, "description": "Run the requested command"}),
            },
            slow,
        );
    }
    if let Some(path) = after(&text, "KW_READ") {
        return (
            Reply::Tool {
                name: "Read".into(),
                input: json!({"file_path": path}),
            },
            slow,
        );
    }
    if let Some(word) = after(&text, "KW_REMEMBER") {
        let word = word
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        return (
            Reply::Text(format!("Noted: the secret word is {word}.")),
            slow,
        );
    }
    if text.contains("KW_RECALL") {
        let all: Vec<String> = messages.iter().map(|m| text_of(&m["content"])).collect();
        let word = all
            .iter()
            .find_map(|t| after(t, "KW_REMEMBER"))
            .and_then(|w| w.split_whitespace().next().map(str::to_owned));
        return (
            Reply::Text(word.map_or_else(
                || "I don't know.".into(),
                |w| format!("The secret word is {w}."),
            )),
            slow,
        );
    }
    (Reply::Text("Hello from the mock.".into()), slow)
}

fn sse(events: &[(&str, Value)]) -> String {
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

async fn messages(
    body: web::Bytes,
    store: web::Data<Arc<Mutex<Vec<Value>>>>,
    counter: web::Data<Arc<std::sync::atomic::AtomicU64>>,
) -> HttpResponse {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().json(json!({"type": "error", "error": {"type": "invalid_request_error", "message": "not JSON"}}));
    };
    store.lock().unwrap().push(request.clone());
    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (reply, slow) = decide(&request);
    if let Some(ms) = slow {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let model = request["model"]
        .as_str()
        .unwrap_or("claude-opus-5-5")
        .to_owned();
    let usage = json!({"input_tokens": 1200, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1});
    let (content, stop_reason) = match reply {
        Reply::Error(status) => {
            return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                .insert_header(("x-should-retry", "false"))
                .json(json!({"type": "error", "error": {"type": "api_error", "message": "Internal server error (mock)"}}));
        }
        Reply::Text(t) => (json!({"type": "text", "text": t}), "end_turn"),
        Reply::Tool { name, input } => (
            json!({"type": "tool_use", "id": format!("toolu_mock_{n}"), "name": name, "input": input}),
            "tool_use",
        ),
    };
    if request["stream"] != true {
        return HttpResponse::Ok().insert_header(("request-id", format!("req_mock_{n}"))).json(json!({
            "id": format!("msg_mock_{n}"), "type": "message", "role": "assistant", "model": model,
            "content": [content], "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": 1200, "output_tokens": 20},
        }));
    }
    let (start_block, delta) = if content["type"] == "tool_use" {
        let mut start = content.clone();
        start["input"] = json!({});
        (
            start,
            json!({"type": "input_json_delta", "partial_json": content["input"].to_string()}),
        )
    } else {
        (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": content["text"]}),
        )
    };
    let body = sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": format!("msg_mock_{n}"), "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": start_block}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": 20}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("request-id", format!("req_mock_{n}")))
        .insert_header(("cache-control", "no-cache"))
        .body(body)
}

impl MockAnthropic {
    /// Starts the mock on a free port.
    pub async fn start() -> Self {
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let store = web::Data::new(Arc::clone(&requests));
        let counter = web::Data::new(Arc::new(std::sync::atomic::AtomicU64::new(1)));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(store.clone())
                .app_data(counter.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .route("/v1/messages", web::post().to(messages))
                .default_service(web::to(|| async {
                    HttpResponse::NotFound().json(json!({"type": "error", "error": {"type": "not_found_error", "message": "mock"}}))
                }))
        })
        .workers(1)
        .tcp_nodelay(true)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            requests,
            handle,
        }
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// The text of every message (any role) of the latest request.
    pub fn last_request_texts(&self) -> Vec<String> {
        self.requests().last().map_or_else(Vec::new, |r| {
            r["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|m| text_of(&m["content"]))
                .collect()
        })
    }

    /// Stops it.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// The real CLI: `$ORCHESTRA_TEST_CLAUDE_BIN`, or the pinned npm install under `.tools/`
/// (scripts/test installs it). Panics when missing: these tests do not skip.
pub fn claude_cli_binary() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("ORCHESTRA_TEST_CLAUDE_BIN") {
        return p.into();
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.tools/claude-code/node_modules/.bin/claude");
    assert!(
        p.exists(),
        "the real claude CLI is not installed at {}: run scripts/test (it installs @anthropic-ai/claude-code@{}) \
         or set ORCHESTRA_TEST_CLAUDE_BIN",
        p.display(),
        CLAUDE_CODE_VERSION
    );
    p
}

/// The CLI version the suite pins (also in scripts/test).
pub const CLAUDE_CODE_VERSION: &str = "2.1.328";
