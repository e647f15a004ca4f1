//! Small helpers shared by this crate's binaries (the benchmarks and the fake CLI).

/// The value after `name` in `args` (`--name value`), if present.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// A keep-alive client for the benchmarks that sends `ORCHESTRA_API_KEY` (the scripts set it
/// and give the server the same key as its bootstrap admin key), or the test admin key.
pub fn bench_client() -> reqwest::Client {
    let key = std::env::var("ORCHESTRA_API_KEY")
        .unwrap_or_else(|_| crate::auth::TEST_ADMIN_KEY.to_owned());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

/// POSTs `body` as JSON to `url` and returns the JSON answer.
///
/// # Panics
/// On a connection error, a status other than 2xx or a body that is not JSON (a benchmark's
/// failure).
pub async fn post_ok(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    client
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap_or(serde_json::Value::Null)
}

/// The nearest-rank percentile `p` (0..=1) of an ascending, non-empty slice.
///
/// # Panics
/// When `sorted` is empty.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> T {
    assert!(!sorted.is_empty(), "no samples");
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "index math"
    )]
    let i = (((sorted.len() as f64) * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_the_right_sample() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 0.5), 50);
        assert_eq!(nearest_rank(&v, 0.99), 99);
        assert_eq!(nearest_rank(&v, 1.0), 100);
        assert_eq!(nearest_rank(&v, 0.0), 1);
        assert_eq!(nearest_rank(&[7], 0.9), 7);
    }

    #[test]
    fn flag_reads_the_following_value() {
        let args: Vec<String> = ["x", "--a", "1", "--b"].map(String::from).to_vec();
        assert_eq!(flag(&args, "--a").as_deref(), Some("1"));
        assert_eq!(flag(&args, "--b"), None);
        assert_eq!(flag(&args, "--c"), None);
    }
}
