//! Raw HTTP/1.1 over kept-alive loopback connections, and an open-loop pacer: what the load
//! benchmarks (`loadgen`, `mixbench`) use so the generator costs as little CPU as possible
//! on the two cores it shares with the server.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Where requests go: `http://host:port/path`.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path and query (`/` when the URL has none).
    pub path: String,
}

/// Parses an `http://` URL.
///
/// # Panics
/// On another scheme or a port that is not a number (a benchmark's own input).
pub fn parse_url(url: &str) -> Target {
    let rest = url.strip_prefix("http://").expect("only http:// URLs");
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = authority
        .split_once(':')
        .map_or((authority.to_owned(), 80), |(h, p)| {
            (h.to_owned(), p.parse().unwrap())
        });
    Target { host, port, path }
}

/// The bytes of one request (`body` empty: none; otherwise sent as JSON).
pub fn request_bytes(
    method: &str,
    host: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let auth = auth
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    if body.is_empty() {
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n")
    } else {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
    .into_bytes()
}

/// One kept-alive connection.
#[derive(Debug)]
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects (with `TCP_NODELAY`).
    ///
    /// # Errors
    /// When the connection is refused.
    pub async fn open(t: &Target) -> std::io::Result<Conn> {
        let stream = TcpStream::connect((t.host.as_str(), t.port)).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one request and reads the whole response (a `Content-Length` body); returns the
    /// status.
    ///
    /// # Errors
    /// On a connection error or a response cut short.
    pub async fn request(&mut self, raw: &[u8]) -> std::io::Result<u16> {
        self.reader.get_mut().write_all(raw).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            if self.reader.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).await?;
        Ok(status)
    }
}

/// Open-loop tickets: `(n, due)` for n = 0, 1, ... released at `started + n / rate` until
/// `deadline` or `max` tickets. A thread sleeps, then spins the last 200 µs, so each ticket
/// is on time to microseconds (tokio's timer wheel would add up to a millisecond of its own
/// lateness to every sample). Latency measured from `due` cannot hide a stalled server.
pub fn pacer(
    rate: f64,
    started: Instant,
    deadline: Instant,
    max: u64,
) -> tokio::sync::mpsc::UnboundedReceiver<(u64, Instant)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let interval = Duration::from_secs_f64(1.0 / rate);
    std::thread::spawn(move || {
        let mut n: u64 = 0;
        loop {
            #[expect(
                clippy::cast_precision_loss,
                reason = "ticket numbers stay far below 2^52"
            )]
            let due = started + interval.mul_f64(n as f64);
            if due >= deadline || n >= max {
                break;
            }
            let now = Instant::now();
            if due > now + Duration::from_micros(200) {
                std::thread::sleep(due - now - Duration::from_micros(200));
            }
            while Instant::now() < due {
                std::hint::spin_loop();
            }
            if tx.send((n, due)).is_err() {
                break;
            }
            n += 1;
        }
    });
    rx
}

/// Milliseconds at percentile `p` of ascending microsecond samples (0 when there are none).
pub fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "microseconds")]
    let ms = crate::bin_support::nearest_rank(sorted_us, p) as f64 / 1000.0;
    ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_requests() {
        let t = parse_url("http://127.0.0.1:5284/api/approvals?status=Pending");
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 5284, "/api/approvals?status=Pending")
        );
        assert_eq!(parse_url("http://h").path, "/");
        let raw = String::from_utf8(request_bytes("POST", "h", "/x", Some("k"), "{}")).unwrap();
        assert_eq!(
            raw,
            "POST /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn percentiles_in_ms() {
        assert!(percentile_ms(&[], 0.5).abs() < f64::EPSILON);
        assert!((percentile_ms(&[1000, 2000, 3000, 4000], 0.5) - 2.0).abs() < 1e-9);
    }
}
