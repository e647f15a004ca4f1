//! Every control of the console in a real browser (headless chromium over WebDriver), against
//! the real binary with the fake CLI and the fake Bot API: the health strip, who asked and
//! where, a live countdown, "Allow for session", a denial with a reason, a decision made on
//! Telegram turning the card, a vote refused on a card still waiting, the sessions list with
//! its processes, a session page's events and its pause / resume / interrupt / close
//! buttons, and a pending card on a phone-wide screen.

use orchestra_tests::Backend;
use orchestra_tests::browser::{Browser, keys};
use orchestra_tests::crash::{APPROVER, CHAT, CrashRig, wait_until};
use serde_json::{Value, json};

use crate::console::{WAIT, card, decided_card, sign_in};

async fn click(b: &Browser, selector: &str) {
    b.client
        .find(fantoccini::Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn text(b: &Browser, expression: &str) -> String {
    b.eval(&format!("{expression}.innerText"))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Sends `prompt` once the session's last turn has ended (a message during a turn gets 409
/// `turn_in_progress`); the turn it started.
async fn send(rig: &CrashRig, session: &str, prompt: &str) -> Value {
    wait_until(WAIT, "the session to take the message", || async {
        match rig
            .post(
                &format!("/api/sessions/{session}/messages"),
                json!({ "prompt": prompt }),
            )
            .await
        {
            Some((202, turn)) => Some(turn),
            Some((409, body)) if body["code"] == "turn_in_progress" => None,
            other => panic!("{prompt}: {other:?}"),
        }
    })
    .await
}

/// Makes the session's agent ask to run `command` with Bash.
async fn ask(rig: &CrashRig, session: &str, command: &str) {
    send(
        rig,
        session,
        &format!("ASK Bash {}", json!({ "command": command })),
    )
    .await;
}

/// The card's selector for CSS (the helpers in `console` are JavaScript expressions).
fn css_card(id: &str) -> String {
    format!("#pending article[data-approval-id=\"{id}\"]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_control_of_the_console_works_in_a_real_browser() {
    let rig = CrashRig::new(
        Backend::Sqlite,
        &[("ORCHESTRA__POLICY__RULES", "ask:critical Bash(git push:*)")],
    )
    .await;
    let server = rig.start(None).await;
    let b = Browser::start(1280, 1000).await;
    sign_in(&b, &rig.base).await;

    // The health strip: the database, the Telegram breaker, the slots, the undelivered.
    b.wait_for(
        WAIT,
        "the whole health strip",
        "['health-db', 'health-telegram', 'health-slots', 'health-undelivered'].every(id => document.getElementById(id))",
    )
    .await;
    assert_eq!(
        text(&b, "document.getElementById('health-telegram')").await,
        "Telegram breaker Closed"
    );
    assert_eq!(
        text(&b, "document.getElementById('health-undelivered')").await,
        "Undelivered 0"
    );
    let agents = rig.get("/api/agents").await;
    let slots = format!("Slots 0 of {}", agents[0]["maxProcesses"]);
    assert_eq!(
        text(&b, "document.getElementById('health-slots')").await,
        slots
    );

    // Who asked, where, and a countdown that runs.
    let a = rig.create_session().await;
    ask(&rig, &a, "npm test").await;
    let first = rig.pending_approval(&a).await;
    b.wait_for(WAIT, "the first card", &card(&first)).await;
    let shown = text(&b, &card(&first)).await;
    assert!(
        shown.contains("started by key:bootstrap-admin"),
        "who asked: {shown}"
    );
    assert!(
        shown.contains(&rig.work().display().to_string()),
        "the directory: {shown}"
    );
    let countdown = b
        .eval(&format!(
            "{}.querySelector('.countdown').textContent",
            card(&first)
        ))
        .await;
    b.wait_for(
        WAIT,
        "the countdown to tick",
        &format!(
            "{}.querySelector('.countdown').textContent !== {countdown}",
            card(&first)
        ),
    )
    .await;
    b.wait_for(
        WAIT,
        "the slot in use",
        "document.getElementById('health-slots').textContent.startsWith('Slots 1 of')",
    )
    .await;

    // Keyboard only, from the top of the page: Tab reaches the card's reason field, then its
    // Approve, Deny and Allow for session buttons, in that order.
    b.client
        .execute(
            "document.activeElement.blur(); window.scrollTo(0, 0);",
            vec![],
        )
        .await
        .unwrap();
    let reason = format!("{}.querySelector('input.reason')", card(&first));
    let mut tabs = 0;
    while b
        .eval(&format!("document.activeElement === {reason}"))
        .await
        != json!(true)
    {
        tabs += 1;
        assert!(tabs <= 20, "Tab never reached the card's reason field");
        b.press(keys::TAB).await;
    }
    for expected in ["approve", "deny", "allow-session"] {
        b.press(keys::TAB).await;
        assert_eq!(
            b.eval("document.activeElement.className").await,
            json!(expected),
            "the tab order after the reason field"
        );
    }

    // "Allow for session": the call runs, and the next call its rule covers asks nobody.
    assert_eq!(
        text(
            &b,
            &format!("{}.querySelector('button.allow-session')", card(&first))
        )
        .await,
        "Allow for session: Bash(npm test:*)"
    );
    click(&b, &format!("{} button.allow-session", css_card(&first))).await;
    b.wait_for(WAIT, "the first card decided", &decided_card(&first))
        .await;
    wait_until(WAIT, "the allowed call to run", || async {
        (rig.tools_ran(&a) == 1).then_some(())
    })
    .await;
    ask(&rig, &a, "npm test -- -u").await;
    wait_until(WAIT, "the covered call to run unasked", || async {
        (rig.tools_ran(&a) == 2).then_some(())
    })
    .await;
    assert_eq!(rig.approvals_of(&a).await.len(), 1, "nobody was asked");

    // A denial with a reason, from the page.
    ask(&rig, &a, "rm -rf build").await;
    let denied = rig.pending_approval(&a).await;
    b.wait_for(WAIT, "the card to deny", &card(&denied)).await;
    b.client
        .find(fantoccini::Locator::Css(&format!(
            "{} input.reason",
            css_card(&denied)
        )))
        .await
        .unwrap()
        .send_keys("not in this repository")
        .await
        .unwrap();
    click(&b, &format!("{} button.deny", css_card(&denied))).await;
    b.wait_for(WAIT, "the denied card decided", &decided_card(&denied))
        .await;
    let shown = text(&b, &decided_card(&denied)).await;
    assert!(
        shown.contains("Rejected by key:bootstrap-admin")
            && shown.contains("not in this repository"),
        "{shown}"
    );
    assert_eq!(rig.tools_ran(&a), 2, "the denied call did not run");

    // Decided on Telegram: the page's card turns.
    let second = rig.create_session().await;
    ask(&rig, &second, "make lint").await;
    let on_telegram = rig.pending_approval(&second).await;
    b.wait_for(WAIT, "the card decided elsewhere", &card(&on_telegram))
        .await;
    let message = wait_until(WAIT, "the Telegram message", || async {
        rig.tg
            .sent()
            .into_iter()
            .find(|m| m.text.contains(&on_telegram))
            .map(|m| m.message_id)
    })
    .await;
    rig.tg.press(
        &format!("a:{on_telegram}"),
        APPROVER,
        "alice",
        CHAT,
        message,
    );
    b.wait_for(
        WAIT,
        "the card decided on Telegram",
        &decided_card(&on_telegram),
    )
    .await;
    let shown = text(&b, &decided_card(&on_telegram)).await;
    assert!(
        shown.contains(&format!("Approved by telegram:{APPROVER}")),
        "{shown}"
    );

    // A critical call needs two approvers: one yes from the page leaves it waiting, and a
    // second yes from the same key is refused on the card, which says why.
    ask(&rig, &a, "git push origin main").await;
    let critical = rig.pending_approval(&a).await;
    b.wait_for(WAIT, "the critical card", &card(&critical))
        .await;
    assert!(
        text(&b, &card(&critical))
            .await
            .contains("Needs 2 different approvers"),
        "the card says so"
    );
    assert_eq!(
        b.eval(&format!(
            "{}.querySelector('button.allow-session')",
            card(&critical)
        ))
        .await,
        Value::Null,
        "no grant is offered for a critical call"
    );
    click(&b, &format!("{} button.approve", css_card(&critical))).await;
    b.wait_for(
        WAIT,
        "the vote on the card",
        &format!(
            "{c} && {c}.innerText.includes('yes so far: key:bootstrap-admin')",
            c = card(&critical)
        ),
    )
    .await;
    click(&b, &format!("{} button.approve", css_card(&critical))).await;
    b.wait_for(
        WAIT,
        "the refusal on the waiting card",
        &format!(
            "{c} && {c}.querySelector('.card-status.error') && {c}.querySelector('.card-status.error').textContent.includes('refused')",
            c = card(&critical)
        ),
    )
    .await;
    let approval = rig.get(&format!("/api/approvals/{critical}")).await;
    assert_eq!(
        (
            approval["status"].as_str(),
            approval["votes"].as_array().map(Vec::len)
        ),
        (Some("Pending"), Some(1)),
        "{approval}"
    );
    rig.deny(&critical).await;

    // The sessions list: status, cost, turns and the process of each.
    b.client
        .goto(&format!("{}/console#/sessions", rig.base))
        .await
        .unwrap();
    let row = format!("document.querySelector('#sessions tr[data-session-id=\"{a}\"]')");
    b.wait_for(WAIT, "the session's row", &row).await;
    let cells = b
        .eval(&format!(
            "Array.from({row}.querySelectorAll('td')).map(td => td.textContent)"
        ))
        .await;
    let session = rig.get(&format!("/api/sessions/{a}")).await;
    assert_eq!(cells[1], "Active", "{cells}");
    assert_eq!(
        cells[3],
        session["turnCount"].to_string(),
        "turns: {cells} {session}"
    );
    assert!(cells[2].as_str().unwrap().starts_with('$'), "cost: {cells}");
    assert!(
        ["idle", "running a turn"].contains(&cells[4].as_str().unwrap()),
        "its process: {cells}"
    );

    // A session page: the agent's events, then interrupt, pause, resume and close.
    b.client
        .goto(&format!("{}/console#/sessions/{a}", rig.base))
        .await
        .unwrap();
    b.wait_for(
        WAIT,
        "the replayed events",
        "['tool_use', 'permission_request', 'approval_requested', 'approval_decided', 'tool_result', 'turn_finished'].every(t => document.querySelector(`#events li[data-type=\"${t}\"]`))",
    )
    .await;
    // Escape leaves the prompt box.
    b.client
        .execute("document.getElementById('prompt').focus()", vec![])
        .await
        .unwrap();
    b.press(keys::ESCAPE).await;
    assert_eq!(
        b.eval("document.activeElement === document.getElementById('prompt')")
            .await,
        json!(false),
        "Escape leaves the prompt box"
    );
    let started = "document.querySelectorAll('#events li[data-type=\"turn_started\"]').length";
    let started_before = b.eval(started).await;
    let turn = send(&rig, &a, "SLOW 60000").await;
    b.wait_for(
        WAIT,
        "the turn to start",
        &format!("{started} > {started_before}"),
    )
    .await;
    let ended_before = b
        .eval("document.querySelectorAll('#events li[data-type=\"turn_finished\"]').length")
        .await;
    click(&b, "#session button[data-action=\"interrupt\"]").await;
    b.wait_for(
        WAIT,
        "the interrupted turn's end",
        &format!(
            "document.querySelectorAll('#events li[data-type=\"turn_finished\"]').length > {ended_before}"
        ),
    )
    .await;
    let turn = rig
        .get(&format!(
            "/api/sessions/{a}/turns/{}",
            turn["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(turn["status"], "Interrupted", "{turn}");
    for (action, status) in [
        ("pause", "Paused"),
        ("resume", "Active"),
        ("close", "Closed"),
    ] {
        click(&b, &format!("#session button[data-action=\"{action}\"]")).await;
        b.wait_for(
            WAIT,
            status,
            &format!("document.getElementById('session-status').textContent === 'Status {status}'"),
        )
        .await;
        assert_eq!(
            rig.get(&format!("/api/sessions/{a}")).await["status"],
            status
        );
    }

    // A phone: at most 375 px wide, a card waiting with its buttons, nothing wider than the
    // screen, no serious accessibility violation.
    b.client.set_window_size(375, 800).await.unwrap();
    ask(&rig, &second, "make deploy").await;
    let last = rig.pending_approval(&second).await;
    b.client
        .goto(&format!("{}/console#/approvals", rig.base))
        .await
        .unwrap();
    b.wait_for(WAIT, "the card on a phone", &card(&last)).await;
    let inner = b.eval("window.innerWidth").await.as_f64().unwrap();
    assert!(inner <= 375.0, "the window is phone-wide: {inner}");
    let width = b
        .eval("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        .await
        .as_f64()
        .unwrap();
    assert!(
        width <= inner,
        "the inbox scrolls sideways: {width} > {inner}"
    );
    let button = b
        .eval(&format!(
            "{}.querySelector('button.approve').getBoundingClientRect().right",
            card(&last)
        ))
        .await
        .as_f64()
        .unwrap();
    assert!(
        button <= inner,
        "Approve is on the screen: {button} > {inner}"
    );
    assert_eq!(
        b.accessibility_violations().await,
        Vec::<String>::new(),
        "the inbox on a phone"
    );
    server.terminate().await;
}
