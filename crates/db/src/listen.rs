//! Decisions announced by PostgreSQL (`LISTEN orchestra_decisions`), so that a decision made
//! on one node reaches the agent waiting on another at once instead of at the next poll.
//!
//! A trigger (migration `decision_notify`) sends an approval's id when it leaves Pending, on
//! commit, whatever wrote it. One connection per node, outside the pool, listens on a thread
//! of its own: libpq receives notifications without a query, and diesel reads them without
//! blocking, so the thread checks every [`CHECK_INTERVAL`]. A lost connection is opened
//! again with backoff; meanwhile the database poll of waiting approvals delivers decisions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use orchestra_application::metrics_names as m;
use orchestra_domain::ApprovalId;

use super::{Database, DatabaseTarget};

/// The channel the trigger notifies.
pub const DECISIONS_CHANNEL: &str = "orchestra_decisions";

/// How often the listening thread reads what libpq has received.
const CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// How often the connection is checked with a query (a silently dropped TCP connection
/// delivers nothing and reports nothing otherwise).
const PING_INTERVAL: Duration = Duration::from_secs(15);

const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The listening thread; it stops when this is dropped or [`Self::stop`] is called.
#[derive(Debug)]
pub struct DecisionListener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DecisionListener {
    /// Starts listening on PostgreSQL; `None` on SQLite (one node: the in-process bus
    /// carries every decision). `on_decided` runs on the listening thread for each id.
    pub fn start(
        db: &Database,
        on_decided: impl Fn(ApprovalId) + Send + 'static,
    ) -> std::io::Result<Option<Self>> {
        let DatabaseTarget::Postgres { conninfo, .. } = db.target() else {
            return Ok(None);
        };
        let conninfo = with_keepalives(conninfo.expose());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("orchestra-pg-listen".into())
            .spawn(move || run(&conninfo, &flag, &on_decided))?;
        Ok(Some(Self {
            stop,
            thread: Some(thread),
        }))
    }

    /// Asks the thread to stop; it does within [`CHECK_INTERVAL`] (or once a connection
    /// attempt in progress gives up).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for DecisionListener {
    fn drop(&mut self) {
        self.stop();
    }
}

/// TCP keepalives and a user timeout for the listening connection, unless the connection
/// string sets its own: a connection that died without a word (a failover, a NAT that forgot
/// it) otherwise delivers nothing for as long as TCP retries, and the ping's query waits too.
const KEEPALIVES: [(&str, &str); 5] = [
    ("keepalives", "1"),
    ("keepalives_idle", "30"),
    ("keepalives_interval", "10"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "60000"),
];

fn with_keepalives(conninfo: &str) -> String {
    if conninfo.contains("keepalives") || conninfo.contains("tcp_user_timeout") {
        return conninfo.to_owned();
    }
    let lower = conninfo.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        let params: Vec<String> = KEEPALIVES.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let sep = if conninfo.contains('?') { '&' } else { '?' };
        format!("{conninfo}{sep}{}", params.join("&"))
    } else {
        let params: Vec<String> = KEEPALIVES.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} {conninfo}", params.join(" "))
    }
}

fn run(conninfo: &str, stop: &AtomicBool, on_decided: &dyn Fn(ApprovalId)) {
    let mut backoff = BACKOFF_MIN;
    let mut announced = false;
    while !stop.load(Ordering::Acquire) {
        let outcome = diesel::PgConnection::establish(conninfo)
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                diesel::sql_query(format!("LISTEN {DECISIONS_CHANNEL}"))
                    .execute(&mut conn)
                    .map_err(|e| e.to_string())?;
                if !announced {
                    tracing::info!(
                        channel = DECISIONS_CHANNEL,
                        "listening for decisions made on any node"
                    );
                    announced = true;
                } else {
                    tracing::info!(
                        channel = DECISIONS_CHANNEL,
                        "decision listener connected again"
                    );
                }
                backoff = BACKOFF_MIN;
                listen(&mut conn, stop, on_decided)
            });
        let Err(err) = outcome else { return };
        metrics::counter!(m::NODE_DECISION_LISTENER_ERRORS_TOTAL).increment(1);
        tracing::warn!(
            error = %err,
            retry_in_ms = backoff.as_millis() as u64,
            "the decision listener has no connection; decisions of other nodes arrive through the poll until it is back"
        );
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::Acquire) {
            std::thread::sleep(CHECK_INTERVAL);
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Delivers notifications until `stop` (`Ok`) or the connection fails (`Err`).
fn listen(
    conn: &mut diesel::PgConnection,
    stop: &AtomicBool,
    on_decided: &dyn Fn(ApprovalId),
) -> Result<(), String> {
    let mut pinged = Instant::now();
    while !stop.load(Ordering::Acquire) {
        for notification in conn.notifications_iter() {
            let notification = notification.map_err(|e| e.to_string())?;
            if notification.channel != DECISIONS_CHANNEL {
                continue;
            }
            match notification.payload.parse::<ApprovalId>() {
                Ok(id) => {
                    metrics::counter!(m::NODE_DECISION_NOTIFICATIONS_TOTAL).increment(1);
                    on_decided(id);
                }
                Err(_) => {
                    tracing::warn!(payload = %notification.payload, "ignored a decision notification that names no approval");
                }
            }
        }
        if pinged.elapsed() >= PING_INTERVAL {
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map_err(|e| e.to_string())?;
            pinged = Instant::now();
        }
        std::thread::sleep(CHECK_INTERVAL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_keepalives;

    #[test]
    fn the_listening_connection_gets_keepalives_unless_the_string_sets_them() {
        assert_eq!(
            with_keepalives("host='h' dbname='d'"),
            "keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3 tcp_user_timeout=60000 host='h' dbname='d'"
        );
        assert_eq!(
            with_keepalives("postgres://u:p@h/d"),
            "postgres://u:p@h/d?keepalives=1&keepalives_idle=30&keepalives_interval=10&keepalives_count=3&tcp_user_timeout=60000"
        );
        assert!(
            with_keepalives("postgresql://h/d?sslmode=require")
                .starts_with("postgresql://h/d?sslmode=require&keepalives=1&")
        );
        assert_eq!(
            with_keepalives("host=h keepalives=0"),
            "host=h keepalives=0"
        );
    }
}
