//! The dependency direction domain <- application <- {infrastructure, api} <- server,
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
    let allowed: &[(&str, &[&str])] = &[
        ("orchestra-domain", &[]),
        ("orchestra-application", &["orchestra-domain"]),
        (
            "orchestra-infrastructure",
            &["orchestra-domain", "orchestra-application"],
        ),
        (
            "orchestra-api",
            &["orchestra-domain", "orchestra-application"],
        ),
        (
            "orchestra-server",
            &[
                "orchestra-domain",
                "orchestra-application",
                "orchestra-infrastructure",
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
                "orchestra-infrastructure",
            ],
        ),
        ("orchestra-infrastructure", &["actix-web", "utoipa"]),
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
