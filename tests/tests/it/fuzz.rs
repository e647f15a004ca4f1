//! The fuzz figure: schemathesis (pinned, installed by `scripts/test` into
//! `.tools/schemathesis`) against the real binary's OpenAPI document, every operation, every
//! check (no 5xx, every status and body as documented, schema-valid requests accepted,
//! invalid ones refused, `Allow` on 405, ...), bounded examples and a fixed seed (set
//! `FUZZ_SEED` for another draw, `FUZZ_EXAMPLES` for more). On SQLite and PostgreSQL.

use std::path::PathBuf;
use std::time::Duration;

use orchestra_tests::Backend;
use orchestra_tests::auth::TEST_ADMIN_KEY;
use orchestra_tests::binary::{ServerProcess, test_binary};
use orchestra_tests::pg::TestDatabase;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schemathesis() -> PathBuf {
    let st = repo().join(".tools/schemathesis/bin/st");
    assert!(
        st.exists(),
        "schemathesis is missing at {}: scripts/test installs it (python3 -m venv + pip)",
        st.display()
    );
    st
}

async fn schemathesis_finds_nothing(backend: Backend) {
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = match backend {
        Backend::Postgres => Some(
            tokio::task::spawn_blocking(TestDatabase::empty)
                .await
                .unwrap(),
        ),
        Backend::Sqlite => None,
    };
    let connection = db.as_ref().map_or_else(
        || format!("Data Source={}", dir.path().join("fuzz.db").display()),
        TestDatabase::ado_connection_string,
    );
    let fake = test_binary("fake-claude").display().to_string();
    let state = dir.path().join("fake-state").display().to_string();
    let server = ServerProcess::start(
        dir.path(),
        port,
        &[
            ("ORCHESTRA__SERVER__PORT", &port.to_string()),
            ("DB_CONNECTION_STRING", &connection),
            ("ORCHESTRA__CLAUDE__BINARY", &fake),
            ("ORCHESTRA__CLAUDE__ENV__FAKE_CLAUDE_STATE_DIR", &state),
            (
                "ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES",
                &work.display().to_string(),
            ),
        ],
    )
    .await;
    // Real resources for the ids in paths (70% of draws; the rest are generated), so the
    // fuzzer reaches what lies behind a 404 too.
    let ids = resources(port, &work).await;
    let mut config = std::fs::read_to_string(repo().join("tests/fuzz/schemathesis.toml")).unwrap();
    for (name, values) in &ids {
        let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
        config.push_str(&format!(
            "\n[dictionaries.{name}]\nvalues = [{}]\n",
            quoted.join(", ")
        ));
    }
    config.push_str("\n[parameters]\n");
    for (name, _) in &ids {
        config.push_str(&format!(
            "\"path.{name}\" = {{ dictionary = \"{name}\", probability = 0.7 }}\n"
        ));
    }
    let config_file = dir.path().join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let examples = std::env::var("FUZZ_EXAMPLES").unwrap_or_else(|_| "60".into());
    let seed = std::env::var("FUZZ_SEED").unwrap_or_else(|_| "20261203".into());
    // Kept after the run (target/fuzz-<backend>.xml) for a look at what ran and how long.
    let report = repo().join(format!("target/fuzz-{backend:?}.xml").to_lowercase());
    let output = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new(&st)
            .arg("--config-file")
            .arg(&config_file)
            .arg("--no-color")
            .arg("run")
            .arg(format!("http://127.0.0.1:{port}/swagger/v1/swagger.json"))
            // Valid and invalid data both (`--mode all`). Not the coverage phase: on this
            // machine's CPython 3.11.7 its AST walk fails now and then inside Hypothesis
            // ("AST constructor recursion depth mismatch"), a tool error, not a finding.
            .args(["--phases", "examples,fuzzing", "--mode", "all"])
            .args([
                "--max-examples",
                &examples,
                "--seed",
                &seed,
                "--workers",
                "2",
            ])
            .args(["--report", "junit", "--report-junit-path"])
            .arg(&report)
            .args(["-H", &format!("Authorization: Bearer {TEST_ADMIN_KEY}")])
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("schemathesis ran within 10 minutes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect();
    println!("{}", summary.join("\n"));
    assert!(
        output.status.success(),
        "schemathesis found problems ({:?}):\n{stdout}\n{}\nserver warnings:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        server
            .log_text()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        stdout.contains("Tested: 35") || stdout.contains("Selected: 35/35"),
        "every operation is tested:\n{stdout}"
    );
    server.terminate().await;
    drop(db);
}

/// Two sessions (one with a finished turn), a live approval of a tool call and a test
/// approval: the ids the fuzzer's paths use.
async fn resources(port: u16, work: &std::path::Path) -> Vec<(&'static str, Vec<String>)> {
    let client = orchestra_tests::auth::client_with_key(TEST_ADMIN_KEY);
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let post = |path: String, body: serde_json::Value| {
        let client = client.clone();
        async move {
            let r = client.post(path).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            assert!(status < 300, "{status} {body}");
            body
        }
    };
    let session = |body| post(url("/api/sessions"), body);
    let first = session(serde_json::json!({"workingDirectory": work})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = session(serde_json::json!({"workingDirectory": work})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let turn = post(
        url(&format!("/api/sessions/{first}/messages")),
        serde_json::json!({"prompt": "hello", "wait": true}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = post(
        url(&format!("/api/sessions/{second}/messages")),
        serde_json::json!({"prompt": "ASK Bash {\"command\":\"ls\"}"}),
    )
    .await;
    let mut approvals = vec![
        post(url("/api/approvals/test"), serde_json::json!({})).await["approval"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list: serde_json::Value = client
            .get(url(&format!("/api/approvals?sessionId={second}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(id) = list["items"][0]["id"].as_str() {
            approvals.push(id.to_owned());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no live approval: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    vec![
        ("sessionId", vec![first, second]),
        ("turnId", vec![turn]),
        ("approvalId", approvals),
    ]
}

both_backends!(schemathesis_finds_nothing);
