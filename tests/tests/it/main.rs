//! Orchestra's end-to-end suite: one test binary, one module per area. Tests marked by the
//! `both_backends!` macro run twice, on a SQLite file and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

/// Runs each named `async fn(Backend)` once per backend, as `sqlite::<name>` and `postgres::<name>`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(orchestra_tests::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(orchestra_tests::Backend::Postgres).await;
                }
            )*
        }
    };
}

mod architecture;
mod audit;
mod auth;
mod backup;
mod bounded;
mod budgets;
mod chaos;
mod cli;
mod cli_traces;
mod console;
mod console_controls;
mod console_http;
mod crash;
mod dashboards;
mod deployment_guide;
mod escalation;
mod escalation_chat;
mod fuzz;
mod grants;
mod http_api;
mod isolation;
mod load_balancer;
mod log_file;
mod migrations;
mod nodes;
mod observability;
mod policy;
mod policy_cli;
mod quorum;
mod real_cli;
mod repository;
mod restart;
mod retention;
mod seed_smoke;
mod sessions;
mod snapshots;
mod suspension;
mod telegram_render;
mod three_nodes;
mod tls;
mod traces;
mod transcripts;
