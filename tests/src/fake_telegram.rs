//! A fake Telegram Bot API on 127.0.0.1 that speaks the real JSON (`sendMessage`,
//! `editMessageText`, `answerCallbackQuery`, `getUpdates` with long polling and offsets,
//! `setWebhook`, `deleteWebhook`), records every call, and injects faults: latency,
//! 429 with `retry_after`, 5xx storms, duplicate updates.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// A message the bot sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Chat.
    pub chat_id: i64,
    /// Message id it got.
    pub message_id: i64,
    /// Text.
    pub text: String,
    /// The request body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
    /// When it arrived, nanoseconds since the Unix epoch (comparable across processes).
    pub at_unix_nanos: u128,
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Added to every answer.
    pub latency: Duration,
    /// The next this-many calls (other than `getUpdates`) get 429 with `retry_after`.
    pub rate_limited: u32,
    /// The `retry_after` of those 429s, seconds.
    pub retry_after: u64,
    /// The next this-many calls (other than `getUpdates`) get 502.
    pub failing: u32,
    /// Every call gets 503 while set.
    pub down: bool,
    /// Every HTML message is refused (400 `can't parse entities`) while set, as Telegram
    /// would refuse markup it does not like for a reason nobody foresaw.
    pub refuse_html: bool,
}

#[derive(Debug, Default)]
struct State {
    next_message_id: i64,
    next_update_id: i64,
    sent: Vec<Sent>,
    edits: Vec<Value>,
    answers: Vec<Value>,
    get_updates: Vec<Value>,
    webhooks: Vec<Value>,
    queue: Vec<(Value, Instant)>,
    delivered: Vec<(i64, Instant, u128)>,
    calls: Vec<String>,
    faults: Faults,
    refused: Vec<Value>,
    /// The latest `getUpdates` call's ticket: an older call still waiting is terminated.
    poll_ticket: u64,
    /// `getUpdates` calls terminated by a newer one (two pollers, or one whose earlier
    /// client went away mid-poll).
    poll_conflicts: usize,
}

/// The fake server.
#[derive(Debug, Clone)]
pub struct FakeTelegram {
    /// `http://127.0.0.1:<port>` (the Bot API base URL).
    pub base_url: String,
    /// The token it accepts.
    pub token: String,
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    handle: actix_web::dev::ServerHandle,
}

/// Nanoseconds since the Unix epoch.
pub fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn ok(result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true, "result": result}))
}

fn error(code: u16, description: &str, retry_after: Option<u64>) -> HttpResponse {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(s) = retry_after {
        body["parameters"] = json!({"retry_after": s});
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).json(body)
}

struct Shared {
    token: String,
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap()
}

/// A message text as Telegram checks it: parsed as HTML in that parse mode, and never
/// empty or too long.
fn check(params: &Value, faults: &Faults) -> Result<String, String> {
    let text = params["text"].as_str().unwrap_or_default();
    match params["parse_mode"].as_str() {
        Some("HTML") if faults.refuse_html => {
            Err("Bad Request: can't parse entities: refused by the fake".into())
        }
        Some("HTML") => crate::telegram_html::parse(text),
        Some(other) => Err(format!(
            "Bad Request: unsupported parse_mode {other} (fake)"
        )),
        None => crate::telegram_html::check_text(text),
    }
}

async fn api(
    path: web::Path<(String, String)>,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (bot, method) = path.into_inner();
    if bot != format!("bot{}", shared.token) {
        return error(401, "Unauthorized", None);
    }
    let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let latency = {
        let mut st = lock(&shared.state);
        st.calls.push(method.clone());
        st.faults.latency
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    {
        let mut st = lock(&shared.state);
        if st.faults.down {
            return error(503, "Service Unavailable (fake)", None);
        }
        // Counted faults hit the calls a test is about, never the poller's own calls
        // (getUpdates, and the deleteWebhook it sends when it takes the poll, which on
        // PostgreSQL can come after a test set its faults): they would take them first, at
        // random.
        let counted = !matches!(method.as_str(), "getUpdates" | "deleteWebhook");
        if counted && st.faults.rate_limited > 0 {
            st.faults.rate_limited -= 1;
            let after = st.faults.retry_after;
            return error(
                429,
                &format!("Too Many Requests: retry after {after}"),
                Some(after),
            );
        }
        if counted && st.faults.failing > 0 {
            st.faults.failing -= 1;
            return error(502, "Bad Gateway (fake)", None);
        }
    }
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    match method.as_str() {
        "sendMessage" => {
            let mut st = lock(&shared.state);
            st.next_message_id += 1;
            let id = st.next_message_id;
            let chat_id = params["chat_id"].as_i64().unwrap_or_default();
            let text = params["text"].as_str().unwrap_or_default().to_owned();
            if let Err(description) = check(&params, &st.faults) {
                st.refused.push(params.clone());
                return error(400, &description, None);
            }
            st.sent.push(Sent {
                chat_id,
                message_id: id,
                text: text.clone(),
                body: params,
                at: Instant::now(),
                at_unix_nanos: unix_nanos(),
            });
            ok(
                json!({"message_id": id, "date": now_secs, "chat": {"id": chat_id, "type": "supergroup"}, "text": text}),
            )
        }
        "editMessageText" => {
            let mut st = lock(&shared.state);
            let text = params["text"].as_str().unwrap_or_default().to_owned();
            if let Err(description) = check(&params, &st.faults) {
                st.refused.push(params.clone());
                return error(400, &description, None);
            }
            st.edits.push(params.clone());
            ok(
                json!({"message_id": params["message_id"], "date": now_secs, "chat": {"id": params["chat_id"], "type": "supergroup"}, "text": text}),
            )
        }
        "answerCallbackQuery" => {
            lock(&shared.state).answers.push(params);
            ok(json!(true))
        }
        "setWebhook" | "deleteWebhook" => {
            lock(&shared.state)
                .webhooks
                .push(json!({"method": method, "params": params}));
            ok(json!(true))
        }
        "getMe" => {
            ok(json!({"id": 1, "is_bot": true, "first_name": "Fake", "username": "fake_bot"}))
        }
        "getUpdates" => {
            let offset = params["offset"].as_i64().unwrap_or(0);
            let timeout = params["timeout"].as_u64().unwrap_or(0).min(3);
            // As Telegram: a newer getUpdates terminates one still waiting, which gets 409
            // (two bot instances polling at once).
            let ticket = {
                let mut st = lock(&shared.state);
                st.poll_ticket += 1;
                st.get_updates.push(params.clone());
                st.poll_ticket
            };
            shared.notify.notify_waiters();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
            loop {
                let notified = shared.notify.notified();
                {
                    let mut st = lock(&shared.state);
                    if st.poll_ticket != ticket {
                        st.poll_conflicts += 1;
                        return error(
                            409,
                            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                            None,
                        );
                    }
                    // Confirmed (offset passed): forget them, as Telegram does.
                    st.queue
                        .retain(|(u, _)| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    if !st.queue.is_empty() {
                        let batch: Vec<Value> = st.queue.iter().map(|(u, _)| u.clone()).collect();
                        let now = Instant::now();
                        let ids: Vec<i64> = batch
                            .iter()
                            .map(|u| u["update_id"].as_i64().unwrap_or(0))
                            .collect();
                        let nanos = unix_nanos();
                        st.delivered
                            .extend(ids.into_iter().map(|id| (id, now, nanos)));
                        return ok(Value::Array(batch));
                    }
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return ok(json!([]));
                }
            }
        }
        other => error(404, &format!("Not Found: method {other}"), None),
    }
}

impl FakeTelegram {
    /// Starts the fake on a free port, accepting `token`.
    pub async fn start(token: &str) -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let notify = Arc::new(Notify::new());
        let shared = web::Data::new(Shared {
            token: token.to_owned(),
            state: Arc::clone(&state),
            notify: Arc::clone(&notify),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/{bot}/{method}", web::post().to(api))
                .route("/{bot}/{method}", web::get().to(api))
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
            token: token.to_owned(),
            state,
            notify,
            handle,
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sets the faults.
    pub fn set_faults(&self, faults: Faults) {
        self.st().faults = faults;
    }

    /// Messages sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.st().sent.clone()
    }

    /// `sendMessage` and `editMessageText` bodies refused with 400 for their text.
    pub fn refused(&self) -> Vec<Value> {
        self.st().refused.clone()
    }

    /// `editMessageText` bodies so far.
    pub fn edits(&self) -> Vec<Value> {
        self.st().edits.clone()
    }

    /// `answerCallbackQuery` bodies so far.
    pub fn answers(&self) -> Vec<Value> {
        self.st().answers.clone()
    }

    /// `getUpdates` calls terminated with 409 by a newer one (two pollers, or a poller whose
    /// earlier call outlived its client).
    pub fn poll_conflicts(&self) -> usize {
        self.st().poll_conflicts
    }

    /// `getUpdates` bodies so far.
    pub fn get_updates_calls(&self) -> Vec<Value> {
        self.st().get_updates.clone()
    }

    /// `setWebhook` / `deleteWebhook` calls so far.
    pub fn webhook_calls(&self) -> Vec<Value> {
        self.st().webhooks.clone()
    }

    /// Every method called, in order.
    pub fn calls(&self) -> Vec<String> {
        self.st().calls.clone()
    }

    /// When update `id` was handed out by `getUpdates` (first time).
    pub fn delivered_at(&self, id: i64) -> Option<Instant> {
        self.st()
            .delivered
            .iter()
            .find(|(u, _, _)| *u == id)
            .map(|(_, t, _)| *t)
    }

    /// When update `id` was handed out, nanoseconds since the Unix epoch.
    pub fn delivered_at_unix_nanos(&self, id: i64) -> Option<u128> {
        self.st()
            .delivered
            .iter()
            .find(|(u, _, _)| *u == id)
            .map(|(_, _, n)| *n)
    }

    /// Queues a button press on message `message_id` in `chat_id` by `user_id`; returns the
    /// update id.
    pub fn press(
        &self,
        data: &str,
        user_id: i64,
        username: &str,
        chat_id: i64,
        message_id: i64,
    ) -> i64 {
        let update = {
            let mut st = self.st();
            st.next_update_id += 1;
            let id = st.next_update_id + 1000;
            let update = json!({
                "update_id": id,
                "callback_query": {
                    "id": format!("cbq-{id}"),
                    "from": {"id": user_id, "is_bot": false, "first_name": username, "username": username},
                    "message": {"message_id": message_id, "date": 0, "chat": {"id": chat_id, "type": "supergroup"}, "text": "x"},
                    "chat_instance": "ci",
                    "data": data,
                }
            });
            st.queue.push((update.clone(), Instant::now()));
            update
        };
        self.notify.notify_waiters();
        update["update_id"].as_i64().unwrap()
    }

    /// The update object of `press` (for webhook tests).
    pub fn update_json(
        data: &str,
        update_id: i64,
        user_id: i64,
        chat_id: i64,
        message_id: i64,
    ) -> Value {
        json!({
            "update_id": update_id,
            "callback_query": {
                "id": format!("cbq-{update_id}"),
                "from": {"id": user_id, "is_bot": false, "first_name": "u", "username": "u"},
                "message": {"message_id": message_id, "date": 0, "chat": {"id": chat_id, "type": "supergroup"}, "text": "x"},
                "chat_instance": "ci",
                "data": data,
            }
        })
    }

    /// Delivers an update again (Telegram may), even after its offset was confirmed.
    pub fn redeliver(&self, update_id: i64) {
        // A real duplicate: same update id, handed out again.
        let mut st = self.st();
        let data = format!("{update_id}");
        let _ = data;
        st.queue.push((json!({"update_id": update_id, "callback_query": {"id": format!("cbq-{update_id}-dup"), "from": {"id": 0, "is_bot": false, "first_name": "dup"}, "chat_instance": "ci", "data": "a:dup"}}), Instant::now()));
        drop(st);
        self.notify.notify_waiters();
    }

    /// Waits until `check` holds on the recorded state (up to `within`).
    pub async fn wait_for(&self, within: Duration, what: &str, check: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + within;
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "fake Telegram: timed out waiting for {what}; calls: {:?}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops it.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
