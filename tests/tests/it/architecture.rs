//! The dependency direction domain <- application <- {adapters (db, claude, telegram,
//! resilience, telemetry), api} <- server,
//! checked against `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn workspace_deps() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null()) // normal dependencies only
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn crates_depend_only_inward() {
    let deps = workspace_deps();
    const INNER: &[&str] = &["orchestra-domain", "orchestra-application"];
    let allowed: &[(&str, &[&str])] = &[
        ("orchestra-domain", &[]),
        ("orchestra-application", &["orchestra-domain"]),
        ("orchestra-db", INNER),
        ("orchestra-claude", INNER),
        ("orchestra-resilience", INNER),
        // The Telegram client retries through the resilience crate's policy.
        (
            "orchestra-telegram",
            &[
                "orchestra-domain",
                "orchestra-application",
                "orchestra-resilience",
            ],
        ),
        ("orchestra-telemetry", INNER),
        ("orchestra-api", INNER),
        (
            "orchestra-server",
            &[
                "orchestra-domain",
                "orchestra-application",
                "orchestra-db",
                "orchestra-claude",
                "orchestra-telegram",
                "orchestra-resilience",
                "orchestra-telemetry",
                "orchestra-api",
            ],
        ),
    ];
    for (krate, may) in allowed {
        let actual: BTreeSet<&str> = deps[*krate]
            .iter()
            .map(String::as_str)
            .filter(|d| d.starts_with("orchestra-"))
            .collect();
        let extra: Vec<&&str> = actual.iter().filter(|d| !may.contains(d)).collect();
        assert!(extra.is_empty(), "{krate} must not depend on {extra:?}");
    }
}

#[test]
fn only_the_adapters_know_their_technologies() {
    let deps = workspace_deps();
    let forbidden: &[(&str, &[&str])] = &[
        (
            "orchestra-domain",
            &[
                "tokio",
                "diesel",
                "actix-web",
                "reqwest",
                "serde",
                "frankenstein",
                "tracing",
            ],
        ),
        (
            "orchestra-application",
            &[
                "diesel",
                "actix-web",
                "reqwest",
                "frankenstein",
                "failsafe",
                "utoipa",
            ],
        ),
        (
            "orchestra-api",
            &[
                "diesel",
                "frankenstein",
                "failsafe",
                "orchestra-db",
                "orchestra-claude",
                "orchestra-telegram",
                "orchestra-resilience",
                "orchestra-telemetry",
            ],
        ),
    ];
    for (krate, never) in forbidden {
        for dep in *never {
            assert!(
                !deps[*krate].contains(*dep),
                "{krate} must not depend on {dep}"
            );
        }
    }
}

#[test]
fn each_technology_is_known_by_one_adapter_crate() {
    let deps = workspace_deps();
    // technology -> the one workspace crate (besides tests) that may name it.
    let owners: &[(&str, &str)] = &[
        ("diesel", "orchestra-db"),
        ("diesel_migrations", "orchestra-db"),
        ("frankenstein", "orchestra-telegram"),
        ("failsafe", "orchestra-resilience"),
        ("opentelemetry", "orchestra-telemetry"),
        ("opentelemetry_sdk", "orchestra-telemetry"),
        ("opentelemetry-otlp", "orchestra-telemetry"),
        ("metrics-exporter-prometheus", "orchestra-telemetry"),
        ("actix-web", "orchestra-api"),
        ("utoipa", "orchestra-api"),
    ];
    for (tech, owner) in owners {
        for (krate, krate_deps) in &deps {
            // The composition root may name actix-web to start the server; tests may name anything.
            let exempt =
                krate == "orchestra-tests" || (krate == "orchestra-server" && *tech == "actix-web");
            if krate != owner && !exempt {
                assert!(
                    !krate_deps.contains(*tech),
                    "{krate} depends on {tech}; only {owner} may"
                );
            }
        }
    }
}

#[test]
fn every_path_the_architecture_document_names_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let prefixes = [
        "crates/",
        "tests/",
        "migrations/",
        "docs/",
        "config/",
        "deploy/",
        "bench/",
    ];
    let mut named = 0;
    let mut missing = Vec::new();
    for quoted in doc.split('`').skip(1).step_by(2) {
        let path = quoted.trim_end_matches('/');
        if prefixes.iter().any(|p| path.starts_with(p))
            && !path.contains(char::is_whitespace)
            && !path.contains('<')
        {
            named += 1;
            if !root.join(path).exists() {
                missing.push(path.to_owned());
            }
        }
    }
    assert!(named > 40, "the code map names only {named} paths");
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}
