//! The operator console in a real browser (headless chromium over WebDriver) against the
//! real binary with the fake CLI: sign in, approvals arriving and decided live, the agent
//! continuing, a stale decision refused, tool input shown as text, keyboard-only use, a
//! phone-wide screen, and the screenshots docs/img/ shows.

use std::path::PathBuf;
use std::time::Duration;

use orchestra_tests::Backend;
use orchestra_tests::auth::TEST_ADMIN_KEY;
use orchestra_tests::browser::{Browser, keys};
use orchestra_tests::crash::{CrashRig, wait_until};
use serde_json::json;

pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// Where the screenshots go: docs/img/ with `ORCHESTRA_UPDATE_SCREENSHOTS=1` (to refresh
/// the README's pictures), else target/ (a test run does not change tracked files).
fn screenshot_path(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    if std::env::var("ORCHESTRA_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        root.join("docs/img").join(name)
    } else {
        root.join("target/console-screenshots").join(name)
    }
}

pub(crate) fn card(id: &str) -> String {
    format!("document.querySelector('#pending article[data-approval-id=\"{id}\"]')")
}

pub(crate) fn decided_card(id: &str) -> String {
    format!("document.querySelector('#decided article[data-approval-id=\"{id}\"]')")
}

pub(crate) async fn sign_in(b: &Browser, base: &str) {
    b.client.goto(&format!("{base}/console")).await.unwrap();
    b.wait_for(
        WAIT,
        "the sign-in page",
        "location.pathname === '/console/login' && !!document.getElementById('key')",
    )
    .await;
    let key = b.client.find(fantoccini::Locator::Id("key")).await.unwrap();
    key.send_keys(TEST_ADMIN_KEY).await.unwrap();
    // Keyboard: Enter in the key field submits the form.
    key.send_keys(keys::ENTER).await.unwrap();
    b.wait_for(
        WAIT,
        "the console",
        "location.pathname === '/console' && document.body.dataset.ready === 'true'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_watches_and_decides_in_a_real_browser() {
    let rig = CrashRig::new(Backend::Sqlite, &[]).await;
    let server = rig.start(None).await;
    let b = Browser::start(1280, 1000).await;

    // A wrong key is refused on the page, then the right one signs in.
    b.client
        .goto(&format!("{}/console/login", rig.base))
        .await
        .unwrap();
    let key = b.client.find(fantoccini::Locator::Id("key")).await.unwrap();
    key.send_keys("orch_not-a-key").await.unwrap();
    key.send_keys(keys::ENTER).await.unwrap();
    b.wait_for(WAIT, "the refusal", "document.querySelector('.error') && document.querySelector('.error').textContent.includes('not valid')").await;
    assert_eq!(
        b.accessibility_violations().await,
        Vec::<String>::new(),
        "the sign-in page"
    );
    sign_in(&b, &rig.base).await;
    assert_eq!(
        b.eval("document.cookie.includes('orchestra_console')")
            .await,
        json!(false),
        "the key's cookie is HttpOnly: the page's script cannot read it"
    );
    assert_eq!(
        b.eval("document.getElementById('who').textContent").await,
        json!("key:bootstrap-admin (admin)")
    );
    b.wait_for(WAIT, "the health strip", "document.getElementById('health-db') && document.getElementById('health-db').textContent.includes('Healthy')").await;

    // An approval appears without a reload.
    let first = rig.create_session().await;
    rig.ask(&first, "npm test -- --grep console").await;
    let first_id = rig.pending_approval(&first).await;
    b.wait_for(WAIT, "the first approval's card", &card(&first_id))
        .await;
    let shown = b.eval(&format!("{}.innerText", card(&first_id))).await;
    let shown = shown.as_str().unwrap();
    assert!(shown.contains("$ npm test -- --grep console"), "{shown}");
    assert!(shown.contains(&first[..8]), "the session is named: {shown}");
    assert!(shown.contains("left"), "a countdown runs: {shown}");

    // Tool input that is HTML is shown as text, and nothing of it runs.
    let hostile = "<img src=x onerror=\"document.body.dataset.pwned='yes'\"><script>document.body.dataset.pwned='yes'</script>";
    let second = rig.create_session().await;
    rig.ask(&second, hostile).await;
    let second_id = rig.pending_approval(&second).await;
    b.wait_for(WAIT, "the second approval's card", &card(&second_id))
        .await;
    let command = b
        .eval(&format!(
            "{}.querySelector('pre.command').textContent",
            card(&second_id)
        ))
        .await;
    assert_eq!(command, json!(format!("$ {hostile}")));
    assert_eq!(
        b.eval(&format!(
            "{}.querySelectorAll('img, script').length",
            card(&second_id)
        ))
        .await,
        json!(0),
        "no element came from the input"
    );
    assert_eq!(
        b.eval("document.body.dataset.pwned || 'no'").await,
        json!("no")
    );
    assert_eq!(
        b.eval("document.getElementById('pending-count').textContent")
            .await,
        json!("2")
    );
    b.screenshot(&screenshot_path("console-inbox.png")).await;
    assert_eq!(
        b.accessibility_violations().await,
        Vec::<String>::new(),
        "the inbox"
    );

    // Keyboard only: into the reason field, Escape clears it and moves to Approve; type a
    // reason, Tab to Approve, Enter decides. The agent then runs the call.
    b.client
        .execute(
            &format!("{}.querySelector('input.reason').focus()", card(&first_id)),
            vec![],
        )
        .await
        .unwrap();
    b.press("scratch").await;
    b.press(keys::ESCAPE).await;
    assert_eq!(
        b.eval("document.activeElement.className").await,
        json!("approve"),
        "Escape leaves the reason field for the Approve button"
    );
    assert_eq!(
        b.eval(&format!(
            "{}.querySelector('input.reason').value",
            card(&first_id)
        ))
        .await,
        json!("")
    );
    b.press(keys::TAB).await;
    assert_eq!(
        b.eval("document.activeElement.className").await,
        json!("deny"),
        "the tab order runs reason, Approve, Deny"
    );
    b.client
        .execute(
            &format!("{}.querySelector('input.reason').focus()", card(&first_id)),
            vec![],
        )
        .await
        .unwrap();
    b.press("ran from the console").await;
    b.press(keys::TAB).await;
    b.press(keys::ENTER).await;
    b.wait_for(WAIT, "the first card decided", &decided_card(&first_id))
        .await;
    let decided = b
        .eval(&format!("{}.innerText", decided_card(&first_id)))
        .await;
    assert!(
        decided
            .as_str()
            .unwrap()
            .contains("Approved by key:bootstrap-admin"),
        "{decided}"
    );
    wait_until(WAIT, "the approved call to run", || async {
        (rig.tools_ran(&first) == 1).then_some(())
    })
    .await;
    let approval = rig.get(&format!("/api/approvals/{first_id}")).await;
    assert_eq!(approval["reason"], "ran from the console", "{approval}");

    // A decision made over REST turns the card to decided on the page.
    let (status, body) = rig
        .post(
            &format!("/api/approvals/{second_id}/approve"),
            json!({"approved": false, "reason": "not from the console"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    b.wait_for(WAIT, "the second card decided", &decided_card(&second_id))
        .await;
    assert!(
        b.eval(&format!("{}.innerText", decided_card(&second_id)))
            .await
            .as_str()
            .unwrap()
            .contains("Rejected by key:bootstrap-admin")
    );
    assert_eq!(rig.tools_ran(&second), 0, "a refused call does not run");

    // A stale page: the approval is decided elsewhere and the page's button is pressed
    // before the page heard of it. The decision carries the version it showed: refused,
    // and the card says why.
    let third = rig.create_session().await;
    rig.ask(&third, "make deploy").await;
    let third_id = rig.pending_approval(&third).await;
    b.wait_for(WAIT, "the third approval's card", &card(&third_id))
        .await;
    let stale = b
        .client
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1];
                 const button = {}.querySelector('button.approve');
                 fetch('/api/approvals/{third_id}/approve', {{method: 'POST',
                     headers: {{'Authorization': 'Bearer {TEST_ADMIN_KEY}', 'Content-Type': 'application/json'}},
                     body: JSON.stringify({{approved: false, reason: 'elsewhere'}})}})
                   .then(r => {{ button.click(); done(r.status); }});",
                card(&third_id)
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(stale, json!(200), "the decision elsewhere");
    b.wait_for(
        WAIT,
        "the card to say the approval changed",
        &format!(
            "Array.from(document.querySelectorAll('article[data-approval-id=\"{third_id}\"] .card-status')).some(s => s.textContent.includes('changed since it was shown'))"
        ),
    )
    .await;
    let approval = rig.get(&format!("/api/approvals/{third_id}")).await;
    assert_eq!(
        approval["status"], "Rejected",
        "the stale approve changed nothing: {approval}"
    );
    assert_eq!(rig.tools_ran(&third), 0);

    // A file edit is shown against the file on disk: context, the removed and the added
    // line; one that no longer applies says so.
    std::fs::write(rig.work().join("notes.txt"), "alpha\nbeta\ngamma\ndelta\n").unwrap();
    let fourth = rig.create_session().await;
    let edit = json!({"file_path": rig.work().join("notes.txt"), "old_string": "gamma", "new_string": "GAMMA <b>bold</b>"});
    rig.post(
        &format!("/api/sessions/{fourth}/messages"),
        json!({"prompt": format!("ASK Edit {edit}")}),
    )
    .await
    .unwrap();
    let fourth_id = rig.pending_approval(&fourth).await;
    b.wait_for(
        WAIT,
        "the edit's diff against the file",
        &format!("{}.querySelector('pre.file-diff')", card(&fourth_id)),
    )
    .await;
    let lines = b
        .eval(&format!(
            "Array.from({}.querySelectorAll('pre.file-diff span')).map(s => s.textContent)",
            card(&fourth_id)
        ))
        .await;
    assert_eq!(
        lines,
        json!([
            "@@ line 3 @@",
            "  alpha",
            "  beta",
            "- gamma",
            "+ GAMMA <b>bold</b>",
            "  delta",
            "  "
        ]),
        "{lines}"
    );
    assert_eq!(
        b.eval(&format!(
            "{}.querySelectorAll('b').length",
            card(&fourth_id)
        ))
        .await,
        json!(0)
    );
    b.screenshot(&screenshot_path("console-edit.png")).await;
    assert_eq!(
        b.accessibility_violations().await,
        Vec::<String>::new(),
        "the inbox with a diff"
    );
    rig.deny(&fourth_id).await;

    // The session page: live events, a prompt, the turns.
    b.client
        .goto(&format!("{}/console#/sessions/{first}", rig.base))
        .await
        .unwrap();
    b.wait_for(
        WAIT,
        "the session page's turns",
        "document.querySelectorAll('#session .turns tbody tr').length >= 1",
    )
    .await;
    b.client
        .execute("document.getElementById('prompt').focus()", vec![])
        .await
        .unwrap();
    b.press("hello from the console").await;
    b.press(keys::TAB).await;
    assert_eq!(b.eval("document.activeElement.id").await, json!("send"));
    b.press(keys::ENTER).await;
    b.wait_for(
        WAIT,
        "both turns' ends in the live events",
        "document.querySelectorAll('#events li[data-type=\"turn_finished\"]').length >= 2",
    )
    .await;
    b.wait_for(
        WAIT,
        "the second turn listed",
        "document.querySelectorAll('#session .turns tbody tr').length >= 2",
    )
    .await;
    b.screenshot(&screenshot_path("console-session.png")).await;
    assert_eq!(
        b.accessibility_violations().await,
        Vec::<String>::new(),
        "the session page"
    );

    // A phone: 375 px wide, nothing wider than the screen.
    b.client.set_window_size(375, 800).await.unwrap();
    for (page, view) in [
        ("#/approvals".to_owned(), "#inbox h1"),
        (format!("#/sessions/{first}"), "#session .turns tbody tr"),
        ("#/sessions".to_owned(), "#sessions tbody tr"),
    ] {
        b.client
            .goto(&format!("{}/console{page}", rig.base))
            .await
            .unwrap();
        b.wait_for(
            WAIT,
            "the page",
            &format!("document.body.dataset.ready === 'true' && document.querySelector('{view}')"),
        )
        .await;
        let width = b
            .eval("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
            .await;
        let inner = b.eval("window.innerWidth").await;
        assert!(
            width.as_f64().unwrap() <= inner.as_f64().unwrap(),
            "{page} scrolls sideways at 375 px: {width} > {inner}"
        );
    }
    b.screenshot(&screenshot_path("console-phone.png")).await;
    assert_eq!(
        b.accessibility_violations().await,
        Vec::<String>::new(),
        "the sessions list on a phone"
    );

    // Signing out forgets the key: the console sends the browser to sign in again.
    b.client
        .goto(&format!("{}/console", rig.base))
        .await
        .unwrap();
    b.wait_for(
        WAIT,
        "the console",
        "document.body.dataset.ready === 'true'",
    )
    .await;
    b.client
        .find(fantoccini::Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for(
        WAIT,
        "the sign-in page",
        "location.pathname === '/console/login'",
    )
    .await;
    b.client
        .goto(&format!("{}/console", rig.base))
        .await
        .unwrap();
    b.wait_for(
        WAIT,
        "the sign-in page again",
        "location.pathname === '/console/login'",
    )
    .await;
    server.terminate().await;
}
