//! The binary's subcommands and its start-up rules, as an operator meets them.

use std::process::Command;

use orchestra_tests::binary::orchestra_binary;
use orchestra_tests::pg::TestDatabase;

fn orchestra(cwd: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(orchestra_binary())
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// How many migrations there are, and the newest version.
fn migrations() -> (usize, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    let mut versions: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .split('_')
                .next()
                .unwrap()
                .replace('-', "")
        })
        .collect();
    versions.sort();
    (versions.len(), versions.pop().unwrap())
}

#[test]
fn check_config_validates_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ASPNETCORE_ENVIRONMENT", "Production"),
        (
            "ConnectionStrings__DefaultConnection",
            "Host=db;Database=o;Username=app;Password=sup3r-s3cret",
        ),
        ("TelegramEscalation__BotToken", "123:tok3n-s3cret"),
        ("TelegramEscalation__ChatId", "-42"),
        ("ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS", "42"),
        ("ORCHESTRA__SERVER__TLS_TERMINATED_BY_PROXY", "true"),
        (
            "ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES",
            "/srv/work",
        ),
    ];
    let (code, out, err) = orchestra(dir.path(), &["check-config"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("environment = \"Production\""), "{out}");
    assert!(out.contains("db:5432/o"));
    assert!(
        !out.contains("sup3r-s3cret") && !out.contains("tok3n-s3cret"),
        "{out}"
    );

    let (code, _, err) = orchestra(
        dir.path(),
        &["check-config"],
        &[("ASPNETCORE_ENVIRONMENT", "Production")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("DB_CONNECTION_STRING"), "{err}");
    let (code, _, err) = orchestra(
        dir.path(),
        &["check-config"],
        &[("DB_CONNECTION_STRING", "Host=x;Password=leak-me;Bogus=1")],
    );
    assert_eq!(code, 2);
    // Issue 8.9: no part of the value is echoed, not even the unknown key (a password may
    // contain `;`); the error says which part.
    assert!(
        err.contains("part 3") && !err.contains("leak-me") && !err.contains("Bogus"),
        "{err}"
    );
}

#[test]
fn migrate_print_shows_the_sql_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = orchestra(
        dir.path(),
        &["migrate", "print", "--backend", "postgres"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("CREATE TABLE approvals") && out.contains("DOUBLE PRECISION"));
    let (_, down, _) = orchestra(dir.path(), &["migrate", "print", "--down"], &[]);
    assert!(down.contains("DROP TABLE sessions"));
    assert!(
        !dir.path().join("orchestra.db").exists(),
        "print touches no database"
    );
}

#[test]
fn production_refuses_to_start_with_pending_migrations_until_they_are_applied() {
    let db = TestDatabase::empty();
    let dir = tempfile::tempdir().unwrap();
    let cs = db.ado_connection_string();
    let env = [
        ("ASPNETCORE_ENVIRONMENT", "Production"),
        ("DB_CONNECTION_STRING", cs.as_str()),
        ("TelegramEscalation__Enabled", "false"),
        ("ORCHESTRA__SERVER__PORT", "0"),
        ("ORCHESTRA__SERVER__TLS_TERMINATED_BY_PROXY", "true"),
        (
            "ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES",
            "/srv/work",
        ),
    ];
    let (code, _, err) = orchestra(dir.path(), &["serve"], &env);
    assert_eq!(code, 1);
    assert!(
        err.contains("pending") && err.contains("orchestra migrate apply"),
        "{err}"
    );

    let (code, out, err) = orchestra(dir.path(), &["migrate", "status"], &env);
    assert_eq!(code, 0, "{err}");
    let (n, latest) = migrations();
    assert!(out.contains(&format!("0 applied, {n} pending")), "{out}");
    let (code, out, err) = orchestra(dir.path(), &["migrate", "apply"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("applied {latest}"))
            && out.contains(&format!("{n} applied, 0 pending")),
        "{out}"
    );
    let (code, out, _) = orchestra(dir.path(), &["migrate", "revert"], &env);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("reverted {latest}"))
            && out.contains(&format!("{} applied, 1 pending", n - 1)),
        "{out}"
    );
}

#[test]
fn sqlite_backup_writes_a_usable_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = orchestra(dir.path(), &["migrate", "apply"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = orchestra(dir.path(), &["backup", "--output", "copy.db"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backed up"));
    let (code, out, _) = orchestra(
        dir.path(),
        &["migrate", "status"],
        &[("DB_CONNECTION_STRING", "Data Source=copy.db")],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("{} applied, 0 pending", migrations().0)),
        "the copy has the schema: {out}"
    );
    let (code, _, err) = orchestra(dir.path(), &["backup", "--output", "copy.db"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("exists"), "{err}");
}
