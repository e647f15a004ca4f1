//! docs/deployment.md is a test: its `sh` blocks (all but those whose first line says
//! `# not run by the test`; `sh test=postgres` ones on PostgreSQL only) run in order as one
//! bash script, `set -euo pipefail`, against the real binary in a fresh directory: once on
//! SQLite (the Development default) and once on PostgreSQL (`DB_CONNECTION_STRING`). A
//! command in the guide that stops working fails here.

use std::path::Path;
use std::process::Command;

use orchestra_tests::Backend;
use orchestra_tests::binary::orchestra_binary;
use orchestra_tests::pg::TestDatabase;

const SKIP: &str = "# not run by the test";

/// The guide's runnable blocks for `backend`, in order.
fn blocks(guide: &str, backend: Backend) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = guide.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```sh") else {
            continue;
        };
        let only = info.trim().strip_prefix("test=");
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim_start() != "```")
            .collect();
        let runs_here = match only {
            Some("postgres") => backend == Backend::Postgres,
            Some("sqlite") => backend == Backend::Sqlite,
            Some(other) => panic!("unknown block marker test={other}"),
            None => true,
        };
        if runs_here && body.first().is_none_or(|l| !l.trim().starts_with(SKIP)) {
            out.push(body.join("\n"));
        }
    }
    out
}

fn run_guide(backend: Backend) {
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", 5284)).is_ok(),
        "port 5284 is taken: the guide needs it"
    );
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deployment.md"),
    )
    .unwrap();
    let blocks = blocks(&guide, backend);
    assert!(
        blocks.len() >= 12,
        "the guide lost its tested blocks: {}",
        blocks.len()
    );
    for step in [
        "### Step 3",
        "### Step 5",
        "### Step 7",
        "## 4. Rollback",
        "## 5. Database migration",
    ] {
        assert!(guide.contains(step), "the guide lost `{step}`");
    }
    let dir = tempfile::tempdir().unwrap();
    let (work, home, bin) = (
        dir.path().join("app"),
        dir.path().join("home"),
        dir.path().join("bin"),
    );
    for d in [&work, &home, &bin] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::os::unix::fs::symlink(orchestra_binary(), bin.join("orchestra")).unwrap();
    let script = format!(
        "set -euo pipefail\n\
         trap 'if [ -f orchestra.pid ]; then kill -9 \"$(cat orchestra.pid)\" 2>/dev/null || true; fi' EXIT\n\
         {}\n",
        blocks.join("\n")
    );
    let db = (backend == Backend::Postgres).then(TestDatabase::empty);
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(&work)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", &home);
    if let Some(db) = &db {
        cmd.env("DB_CONNECTION_STRING", db.url());
    }
    let out = cmd.output().unwrap();
    let log = std::fs::read_to_string(work.join("log/api.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "the guide failed on {backend:?} ({}):\n--- stdout\n{}\n--- stderr\n{}\n--- log/api.log (last 4000 bytes)\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        &log[log.len().saturating_sub(4000)..]
    );
    // What the script left is what the guide says it leaves.
    assert!(work.join("backup/orchestra-before-upgrade").is_file());
    assert!(
        std::fs::read_to_string(work.join("log/rollback.log"))
            .unwrap()
            .contains("Rollback on")
    );
    assert!(
        log.contains("Orchestra stopped"),
        "the last block stopped the server"
    );
    let key = std::fs::read_to_string(home.join(".curlrc")).unwrap();
    assert!(
        !log.contains(
            key.trim()
                .trim_start_matches("header = \"Authorization: Bearer ")
                .trim_end_matches('"')
        ),
        "the key is never logged"
    );
}

#[test]
fn the_deployment_guide_runs_on_sqlite() {
    run_guide(Backend::Sqlite);
}

#[test]
fn the_deployment_guide_runs_on_postgresql() {
    run_guide(Backend::Postgres);
}

#[test]
fn the_block_rules_are_the_documented_ones() {
    let doc = "```sh\n# not run by the test\nrm -rf /\n```\n```sh\necho a\n```\n```sh test=postgres\necho pg\n```\n```text\nno\n```\n";
    assert_eq!(blocks(doc, Backend::Sqlite), vec!["echo a"]);
    assert_eq!(blocks(doc, Backend::Postgres), vec!["echo a", "echo pg"]);
}
