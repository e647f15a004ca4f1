//! A fake `claude` CLI for the faults the real one will not produce on demand. It speaks
//! the same stream-json protocol (initialize, user messages, interrupt, results) and reacts
//! to keywords in the prompt:
//!
//! | prompt contains | behaviour |
//! |---|---|
//! | `SILENCE` | starts the turn, then never writes again (a hung agent) |
//! | `CRASH` | writes some text, then exits with code 3 mid-turn |
//! | `STDERR_FLOOD <MB>` | writes that many MB to stderr, then answers |
//! | `HUGE_LINE <MB>` | answers with one assistant line of that size |
//! | `GARBAGE` | writes non-JSON and unknown message types, then answers |
//! | `SLOW <ms>` | waits (interruptible), then answers |
//! | `TOOL_SLEEP` | starts `sleep 300` in its own process group (a tool), then goes silent |
//! | `COST <usd>` | reports that cost |
//! | `ASK <tool> <json input>` | asks `can_use_tool` (a Bash call suggests `Bash(<command>:*)`) and waits; allowed: runs the tool (logs it to `<state>/<session>.tools`); denied: reports the denial; denied with interrupt: aborts the turn and exits 1, like the real CLI |
//! | `SILENT_DENY <tool> <json input>` | denies the call by itself (`permission_denials`) unless `--allowedTools` allows it |
//! | `TOOL_NO_RESULT` | reports success although its tool use got no result |
//! | `[orchestra] ...` (a continuation) | repeats the session's last `ASK` / `SILENT_DENY` |
//! | anything else | answers `echo: <prompt> (history: N)`, N = earlier prompts of the session |
//!
//! Environment: `FAKE_CLAUDE_IGNORE_SIGNALS=1` ignores SIGINT and SIGTERM (only SIGKILL
//! stops it); `FAKE_CLAUDE_EXIT_AT_START=<code>` exits at once; the conversation is kept
//! where the real CLI keeps it (`$HOME/.claude/projects/<cwd slug>/<session>.jsonl`, one JSON
//! line per prompt) so `--resume` remembers, or under `$FAKE_CLAUDE_STATE_DIR` when set; the
//! tool log under `$FAKE_CLAUDE_STATE_DIR` (default `$HOME/.fake-claude`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test double: fail loudly"
)]

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestra_tests::bin_support::flag;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

type Out = Arc<Mutex<tokio::io::Stdout>>;
type Waiters =
    Arc<std::sync::Mutex<std::collections::HashMap<String, tokio::sync::oneshot::Sender<Value>>>>;

async fn emit(out: &Out, v: &Value) {
    emit_raw(out, &serde_json::to_vec(v).unwrap()).await;
}

/// Writes one line as it is.
async fn emit_raw(out: &Out, line: &[u8]) {
    let mut line = line.to_vec();
    line.push(b'\n');
    let mut o = out.lock().await;
    let _ = o.write_all(&line).await;
    let _ = o.flush().await;
}

fn number_after(prompt: &str, keyword: &str) -> Option<f64> {
    let rest = &prompt[prompt.find(keyword)? + keyword.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Where the fake keeps its own files (the tool log).
fn state_dir() -> PathBuf {
    let dir = std::env::var("FAKE_CLAUDE_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".fake-claude")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The conversation, where the real CLI keeps it:
/// `<$CLAUDE_CONFIG_DIR or $HOME/.claude>/projects/<cwd slug>/<session>.jsonl`, one JSON line
/// per prompt; an existing file under any project directory is found, as `--resume` does.
/// With `FAKE_CLAUDE_STATE_DIR` set, the history is kept there instead (the benches).
fn history_file(session: &str) -> PathBuf {
    if std::env::var_os("FAKE_CLAUDE_STATE_DIR").is_some() {
        return state_dir().join(format!("{session}.history"));
    }
    let config = std::env::var("CLAUDE_CONFIG_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into())).join(".claude")
        });
    let projects = config.join("projects");
    let name = format!("{session}.jsonl");
    if let Some(found) = std::fs::read_dir(&projects).ok().and_then(|dir| {
        dir.filter_map(Result::ok)
            .map(|e| e.path().join(&name))
            .find(|p| p.is_file())
    }) {
        return found;
    }
    let cwd = std::env::current_dir().unwrap().display().to_string();
    projects
        .join(orchestra_claude::project_slug(&cwd))
        .join(name)
}

/// The prompts of the conversation so far.
fn history(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(str::to_owned))
        .collect()
}

fn result(
    session: &str,
    subtype: &str,
    is_error: bool,
    text: Option<&str>,
    cost: f64,
    started: Instant,
) -> Value {
    let mut v = json!({
        "type": "result", "subtype": subtype, "is_error": is_error, "session_id": session,
        "total_cost_usd": cost, "duration_ms": started.elapsed().as_millis() as u64, "duration_api_ms": 1,
        "num_turns": 1, "permission_denials": [], "uuid": "fake",
        "terminal_reason": if is_error { "aborted_tools" } else { "completed" },
    });
    if let Some(t) = text {
        v["result"] = json!(t);
    } else {
        v["errors"] = json!(["[ede_diagnostic] interrupted"]);
    }
    v
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--version") {
        println!("9.9.9 (Fake Claude)");
        return;
    }
    if let Ok(code) = std::env::var("FAKE_CLAUDE_EXIT_AT_START") {
        eprintln!("fake-claude: told to fail at start");
        std::process::exit(code.parse().unwrap_or(1));
    }
    let (session, resume) = match (flag(&args, "--session-id"), flag(&args, "--resume")) {
        (Some(s), _) => (s, false),
        (None, Some(s)) => (s, true),
        _ => ("no-session".into(), false),
    };
    // Like the real CLI in print mode: a W3C parent for its own spans. Recorded, appended
    // per process, so a test can see which span started it.
    if let Ok(traceparent) = std::env::var("TRACEPARENT") {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(state_dir().join(format!("{session}.traceparent")))
            .unwrap();
        writeln!(f, "{traceparent}").unwrap();
    }
    let history_path = history_file(&session);
    if resume && !history_path.exists() {
        eprintln!("No conversation found with session ID: {session}");
        std::process::exit(1);
    }
    if !resume && history_path.exists() {
        eprintln!("Error: Session ID {session} is already in use.");
        std::process::exit(1);
    }
    // Like the real CLI, the conversation is written only once a prompt arrives: a process
    // stopped before its first prompt leaves nothing, and its id can start again.
    let mut signals = Vec::new();
    let _ = &signals;
    if std::env::var("FAKE_CLAUDE_IGNORE_SIGNALS").is_ok_and(|v| v == "1") {
        use tokio::signal::unix::{SignalKind, signal};
        // A registered handler replaces the default action: these signals no longer kill us.
        signals.push(signal(SignalKind::terminate()).unwrap());
        signals.push(signal(SignalKind::interrupt()).unwrap());
    }
    let out: Out = Arc::new(Mutex::new(tokio::io::stdout()));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut turn: Option<tokio::task::JoinHandle<()>> = None;
    let waiters: Waiters = Arc::default();
    let allowed: Vec<String> = flag(&args, "--allowedTools")
        .map(|a| a.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let cancel = Arc::new(tokio::sync::Notify::new());
    loop {
        // `signals` stays alive: its handlers keep SIGINT and SIGTERM from killing us.
        let Ok(Some(line)) = lines.next_line().await else {
            break;
        };
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        match msg["type"].as_str() {
            Some("control_response") => {
                let id = msg["response"]["request_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                timing("response", &id);
                if let Some(tx) = waiters.lock().unwrap().remove(&id) {
                    let _ = tx.send(msg["response"].clone());
                }
            }
            Some("control_request") => {
                let id = msg["request_id"].clone();
                match msg["request"]["subtype"].as_str() {
                    Some("initialize") => {
                        emit(&out, &json!({"type": "control_response", "response": {"subtype": "success", "request_id": id, "response": {"claude_code_version": "9.9.9"}}})).await;
                    }
                    Some("interrupt") => {
                        emit(&out, &json!({"type": "control_response", "response": {"subtype": "success", "request_id": id, "response": {"still_queued": []}}})).await;
                        if let Some(t) = turn.take()
                            && !t.is_finished()
                        {
                            cancel.notify_one();
                            let _ = t.await;
                        }
                    }
                    _ => {
                        emit(&out, &json!({"type": "control_response", "response": {"subtype": "error", "request_id": id, "error": "unsupported"}})).await;
                    }
                }
            }
            Some("user") => {
                let prompt = msg["message"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let previous = history(&history_path).len();
                if let Some(dir) = history_path.parent() {
                    std::fs::create_dir_all(dir).unwrap();
                }
                let mut h = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&history_path)
                    .unwrap();
                std::io::Write::write_all(
                    &mut h,
                    format!("{}\n", json!({"type": "user", "prompt": prompt})).as_bytes(),
                )
                .unwrap();
                if let Some(t) = turn.take() {
                    let _ = t.await;
                }
                let out = Arc::clone(&out);
                let session = session.clone();
                let cancel = Arc::clone(&cancel);
                let ctx = Ctx {
                    waiters: Arc::clone(&waiters),
                    allowed: allowed.clone(),
                    history: history(&history_path),
                };
                turn = Some(tokio::spawn(async move {
                    run_turn(out, session, prompt, previous, cancel, ctx).await
                }));
            }
            _ => {}
        }
    }
    if let Some(t) = turn.take() {
        let _ = t.await;
    }
}

struct Ctx {
    waiters: Waiters,
    allowed: Vec<String>,
    history: Vec<String>,
}

/// With `FAKE_CLAUDE_TIMING_LOG`, records when control messages cross the pipe (ns since
/// the Unix epoch), for the approval latency benchmark.
fn timing(event: &str, id: &str) {
    if let Ok(path) = std::env::var("FAKE_CLAUDE_TIMING_LOG") {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        std::io::Write::write_all(&mut f, format!("{event} {id} {nanos}\n").as_bytes()).unwrap();
    }
}

fn tool_log(session: &str) -> PathBuf {
    state_dir().join(format!("{session}.tools"))
}

fn run_tool(session: &str, tool: &str, input: &Value) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(tool_log(session))
        .unwrap();
    std::io::Write::write_all(&mut f, format!("ran {tool} {input}\n").as_bytes()).unwrap();
}

/// `<tool> <json>` after `keyword`.
fn tool_call(prompt: &str, keyword: &str) -> Option<(String, Value)> {
    let rest = prompt[prompt.find(keyword)? + keyword.len()..].trim();
    let (tool, json) = rest.split_once(' ')?;
    let mut input: Value = serde_json::from_str(json.trim()).ok()?;
    // `{"padKb": N}` stands for an input with N KiB of content (prompts are short).
    if let Some(kb) = input.get("padKb").and_then(Value::as_u64) {
        let kb = usize::try_from(kb).ok()?;
        input = json!({"file_path": "big.html", "content": "<p>&amp;</p>".repeat(kb * 1024 / 12)});
    }
    Some((tool.to_owned(), input))
}

async fn run_turn(
    out: Out,
    session: String,
    prompt: String,
    previous: usize,
    cancel: Arc<tokio::sync::Notify>,
    ctx: Ctx,
) {
    let started = Instant::now();
    emit(&out, &json!({"type": "system", "subtype": "init", "session_id": session, "model": "fake-model", "tools": ["Bash", "Read"], "claude_code_version": "9.9.9", "cwd": std::env::current_dir().unwrap()})).await;
    let cost = number_after(&prompt, "COST").unwrap_or(0.01);
    let interrupted = |out: Out, session: String| async move {
        emit(&out, &json!({"type": "user", "message": {"role": "user", "content": "[Request interrupted by user for tool use]"}})).await;
        emit(
            &out,
            &result(&session, "error_during_execution", true, None, 0.0, started),
        )
        .await;
    };
    // A continuation repeats the last tool call the session asked for.
    let prompt = if prompt.starts_with("[orchestra]") {
        ctx.history
            .iter()
            .rev()
            .find(|l| l.starts_with("ASK ") || l.starts_with("SILENT_DENY "))
            .unwrap_or(&prompt)
            .clone()
    } else {
        prompt
    };
    let n = previous;
    if prompt.contains("TOOL_NO_RESULT") {
        emit(&out, &json!({"type": "assistant", "message": {"content": [{"type": "tool_use", "id": format!("toolu_lost_{n}"), "name": "Bash", "input": {"command": "true"}}]}})).await;
        emit(
            &out,
            &result(&session, "success", false, Some("all done"), cost, started),
        )
        .await;
        return;
    }
    if let Some((tool, input)) = tool_call(&prompt, "SILENT_DENY") {
        let tool_use = format!("toolu_sd_{n}");
        emit(&out, &json!({"type": "assistant", "message": {"content": [{"type": "tool_use", "id": tool_use, "name": tool, "input": input}]}})).await;
        let rule = match input.get("command").and_then(Value::as_str) {
            Some(c) => format!("{tool}({c})"),
            None => tool.clone(),
        };
        if ctx.allowed.contains(&tool) || ctx.allowed.contains(&rule) {
            run_tool(&session, &tool, &input);
            emit(&out, &json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use, "content": format!("ran {input}"), "is_error": false}]}})).await;
            emit(
                &out,
                &result(
                    &session,
                    "success",
                    false,
                    Some(&format!("tool ran: {input}")),
                    cost,
                    started,
                ),
            )
            .await;
        } else {
            emit(&out, &json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use, "content": "needs approval", "is_error": true}]}})).await;
            let mut r = result(
                &session,
                "success",
                false,
                Some("could not run the tool"),
                cost,
                started,
            );
            r["permission_denials"] =
                json!([{"tool_name": tool, "tool_use_id": tool_use, "tool_input": input}]);
            emit(&out, &r).await;
        }
        return;
    }
    if let Some((tool, input)) = tool_call(&prompt, "ASK") {
        let tool_use = format!("toolu_ask_{n}_{}", started.elapsed().as_nanos());
        let request_id = format!("req-{tool_use}");
        let (tx, rx) = tokio::sync::oneshot::channel();
        ctx.waiters.lock().unwrap().insert(request_id.clone(), tx);
        emit(&out, &json!({"type": "assistant", "message": {"content": [{"type": "tool_use", "id": tool_use, "name": tool, "input": input}]}})).await;
        // Like the real CLI: a Bash call comes with a rule to remember (here the command as
        // a prefix) and a directory; other tools with none.
        let suggestions = match input["command"].as_str() {
            Some(cmd) if tool == "Bash" => json!([
                {"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": format!("{cmd}:*")}], "behavior": "allow", "destination": "localSettings"},
                {"type": "addDirectories", "directories": ["/"], "destination": "session"}
            ]),
            _ => json!([]),
        };
        // Keys in the real CLI's order (type and request_id first, the input in the middle):
        // what Orchestra reads from the head of a line too long to parse.
        let j = |v: &str| Value::from(v).to_string();
        let line = format!(
            r#"{{"type":"control_request","request_id":{},"request":{{"subtype":"can_use_tool","tool_name":{},"display_name":{},"input":{input},"tool_use_id":{},"description":"the fake wants to run a tool","permission_suggestions":{suggestions}}}}}"#,
            j(&request_id),
            j(&tool),
            j(&tool),
            j(&tool_use),
        );
        emit_raw(&out, line.as_bytes()).await;
        timing("request", &request_id);
        let answer = tokio::select! {
            a = rx => a.unwrap_or(Value::Null),
            () = cancel.notified() => return interrupted(out, session).await,
        };
        let decision = &answer["response"];
        if decision["behavior"] == "allow" {
            let used = if decision["updatedInput"].is_object() {
                decision["updatedInput"].clone()
            } else {
                input.clone()
            };
            run_tool(&session, &tool, &used);
            emit(&out, &json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use, "content": format!("ran {used}"), "is_error": false}]}})).await;
            emit(
                &out,
                &result(
                    &session,
                    "success",
                    false,
                    Some(&format!("tool ran: {used}")),
                    cost,
                    started,
                ),
            )
            .await;
        } else {
            let message = decision["message"].as_str().unwrap_or("denied").to_owned();
            emit(&out, &json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use, "content": message, "is_error": true}]}})).await;
            let denial = json!([{"tool_name": tool, "tool_use_id": tool_use, "tool_input": input}]);
            if decision["interrupt"] == true {
                emit(&out, &json!({"type": "user", "message": {"role": "user", "content": "[Request interrupted by user for tool use]"}})).await;
                let mut r = result(&session, "error_during_execution", true, None, 0.0, started);
                r["permission_denials"] = denial;
                emit(&out, &r).await;
                std::process::exit(1);
            }
            let mut r = result(
                &session,
                "success",
                false,
                Some(&format!("denied: {message}")),
                cost,
                started,
            );
            r["permission_denials"] = denial;
            emit(&out, &r).await;
        }
        return;
    }
    if prompt.contains("CRASH") {
        emit(&out, &json!({"type": "assistant", "message": {"content": [{"type": "text", "text": "about to crash"}]}})).await;
        std::process::exit(3);
    }
    if prompt.contains("SILENCE") {
        cancel.notified().await;
        return interrupted(out, session).await;
    }
    if prompt.contains("TOOL_SLEEP") {
        #[expect(
            clippy::zombie_processes,
            reason = "the tool is meant to outlive a killed CLI, like the real Bash tool"
        )]
        let child = std::process::Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap();
        emit(&out, &json!({"type": "assistant", "message": {"content": [{"type": "tool_use", "id": "toolu_sleep", "name": "Bash", "input": {"command": "sleep 300"}}]}})).await;
        eprintln!("fake-claude: tool pid {}", child.id());
        cancel.notified().await;
        return interrupted(out, session).await;
    }
    if let Some(ms) = number_after(&prompt, "SLOW") {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "test input"
        )]
        let wait = Duration::from_millis(ms as u64);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = cancel.notified() => return interrupted(out, session).await,
        }
    }
    if let Some(mb) = number_after(&prompt, "STDERR_FLOOD") {
        let chunk = vec![b'e'; 64 * 1024];
        let mut err = tokio::io::stderr();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "test input"
        )]
        for _ in 0..(mb * 16.0) as usize {
            let _ = err.write_all(&chunk).await;
        }
        let _ = err.write_all(b"\nstderr flood done\n").await;
    }
    if prompt.contains("GARBAGE") {
        let mut o = out.lock().await;
        let _ = o.write_all(b"this is not json\n{\"type\":\"mystery\",\"x\":1}\n{\"type\":\"system\",\"subtype\":\"brand_new\"}\n{broken json\n").await;
        let _ = o.flush().await;
    }
    let text = match number_after(&prompt, "HUGE_LINE") {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "test input"
        )]
        Some(mb) => "h".repeat((mb * 1024.0 * 1024.0) as usize),
        None => format!("echo: {prompt} (history: {previous})"),
    };
    emit(
        &out,
        &json!({"type": "assistant", "message": {"content": [{"type": "text", "text": text}]}}),
    )
    .await;
    let summary = if text.len() > 1000 {
        format!("huge answer of {} bytes", text.len())
    } else {
        text
    };
    emit(
        &out,
        &result(&session, "success", false, Some(&summary), cost, started),
    )
    .await;
}
