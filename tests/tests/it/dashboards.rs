//! The Grafana dashboard (deploy/grafana/orchestra.json) and the alert rules
//! (deploy/prometheus/alerts.yml) only name metrics a real server exposes: every PromQL
//! selector of every panel and rule is read, and each metric name is looked for in the
//! `/metrics` of a server that has just started and decided one approval (a dashboard
//! panel over a metric that is not there shows "No data" forever, and an alert never fires).

use std::collections::BTreeSet;

use orchestra_tests::{Backend, TestApp};
use serde_json::{Value, json};

const DASHBOARD: &str = include_str!("../../../deploy/grafana/orchestra.json");
const ALERTS: &str = include_str!("../../../deploy/prometheus/alerts.yml");

/// Series Prometheus makes itself, not the server.
const FROM_PROMETHEUS: &[&str] = &["up"];

const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
    // Aggregation operators: `sum by (le) (...)` puts a clause between the name and `(`.
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "limitk",
    "limit_ratio",
];

/// The metric names a PromQL expression selects: identifiers that are not functions,
/// keywords, label names (inside `{}` or after `by`/`without`/`on`/`ignoring`), strings,
/// durations (inside `[]`) or numbers.
fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let (mut i, mut braces, mut brackets) = (0, 0_i32, 0_i32);
    let mut skip_group = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '{' => {
                braces += 1;
                i += 1;
            }
            '}' => {
                braces -= 1;
                i += 1;
            }
            '[' => {
                brackets += 1;
                i += 1;
            }
            ']' => {
                brackets -= 1;
                i += 1;
            }
            '(' if skip_group => {
                // `by (le, route)`: label names up to the closing parenthesis.
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                skip_group = false;
                i += 1;
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':' | '$'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
                let lower = word.to_ascii_lowercase();
                if braces > 0 || brackets > 0 || word.starts_with('$') {
                    continue;
                }
                if matches!(
                    lower.as_str(),
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) {
                    skip_group = true;
                    continue;
                }
                if KEYWORDS.contains(&lower.as_str()) || chars.get(j) == Some(&'(') {
                    continue;
                }
                names.push(word);
            }
            _ => i += 1,
        }
    }
    names
}

fn panel_exprs(panels: &Value, out: &mut Vec<(String, String)>) {
    for p in panels.as_array().into_iter().flatten() {
        let title = p["title"].as_str().unwrap_or_default().to_owned();
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                title.clone(),
                t["expr"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        panel_exprs(&p["panels"], out);
    }
}

fn rule_exprs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut alert = String::new();
    for line in ALERTS.lines() {
        let line = line.trim();
        if let Some(a) = line.strip_prefix("- alert:") {
            alert = a.trim().to_owned();
        } else if let Some(e) = line.strip_prefix("expr:") {
            out.push((alert.clone(), e.trim().to_owned()));
        }
    }
    out
}

/// The series names of a text exposition.
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn promql_names_are_read_from_selectors_only() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{instance=~"$instance", status=~"5.."}[$__rate_interval])))"#
        ),
        ["http_request_duration_seconds_bucket"]
    );
    assert_eq!(
        metric_names(
            "sum(increase(a_total[15m])) / sum(increase(b_total[15m])) > 0.1 and on (job) up == 1"
        ),
        ["a_total", "b_total", "up"]
    );
    assert_eq!(
        metric_names("process_resident_memory_bytes > 1073741824"),
        ["process_resident_memory_bytes"]
    );
    assert_eq!(metric_names(r#"max(x{a="sum(y)"}) offset 5m"#), ["x"]);
}

#[test]
fn the_dashboard_is_well_formed() {
    let d: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    assert_eq!(
        (d["uid"].as_str(), d["title"].as_str()),
        (Some("orchestra"), Some("Orchestra"))
    );
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel ids are unique: {p}"
        );
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{p}"
        );
        if p["type"] != "row" {
            assert!(!p["targets"].as_array().unwrap().is_empty(), "{p}");
            assert_eq!(
                p["datasource"],
                json!({"type": "prometheus", "uid": "${datasource}"})
            );
        }
    }
    let titles: Vec<&str> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        [
            "HTTP",
            "Sessions and agents",
            "Approvals",
            "Telegram",
            "Database and process",
            "Nodes"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_and_alert_query_names_metrics_the_server_exposes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let approval = app.create_test_approval().await;
    let (status, body) = app
        .post_json(
            &format!("/api/approvals/{approval}/approve"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let names = exposed(&app.metrics_text().await);
    let d: Value = serde_json::from_str(DASHBOARD).unwrap();
    let mut exprs = Vec::new();
    panel_exprs(&d["panels"], &mut exprs);
    assert!(exprs.len() >= 30, "{}", exprs.len());
    exprs.extend(rule_exprs());
    let mut missing = Vec::new();
    for (where_, expr) in &exprs {
        let found = metric_names(expr);
        assert!(!found.is_empty(), "{where_}: no metric in {expr}");
        for name in found {
            if !names.contains(&name) && !FROM_PROMETHEUS.contains(&name.as_str()) {
                missing.push(format!("{where_}: {name}"));
            }
        }
    }
    assert!(missing.is_empty(), "not in /metrics: {missing:#?}");
    app.shutdown().await;
}
