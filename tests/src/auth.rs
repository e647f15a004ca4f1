//! API keys for the tests: the admin key every test server starts with (as its
//! `auth.bootstrap_admin_key`), HTTP clients that send a key, and a curl configuration that
//! makes the deployment guide's `curl` commands carry it, unchanged.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The admin key of every test server (registered at start as `bootstrap-admin`).
pub const TEST_ADMIN_KEY: &str =
    "orch_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A client that sends `key` as its bearer token.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A `CURL_HOME` whose `.curlrc` sends the test admin key: what an operator sets up once so
/// that the guide's commands run as written against a server that requires keys.
pub fn curl_home() -> PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("orchestra-curl-home-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(".curlrc"),
            format!("header = \"Authorization: Bearer {TEST_ADMIN_KEY}\"\n"),
        )
        .unwrap();
        dir
    })
    .clone()
}
