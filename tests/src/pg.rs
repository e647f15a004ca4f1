//! A throwaway PostgreSQL cluster for tests, started from the machine's binaries
//! (`initdb`, `pg_ctl`) on 127.0.0.1, as the `postgres` user when running as root.
//!
//! One cluster is shared by every test process of a checkout (a file lock guards its
//! start); each test gets its own database, copied from a template migrated once per
//! schema version, and dropped when the test ends. `scripts/test` stops the cluster at the
//! end of a run (`cargo run -p orchestra-tests --bin pg-harness -- stop`).

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use diesel::PgConnection;
use diesel::prelude::*;
use nix::fcntl::{Flock, FlockArg};
use orchestra_db::{Backend, Migrations};

/// A running cluster.
#[derive(Debug, Clone)]
pub struct PgCluster {
    /// Base directory (data dir, log, lock, port file).
    pub dir: PathBuf,
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The template database, migrated to the current schema.
    pub template: String,
}

static CLUSTER: OnceLock<PgCluster> = OnceLock::new();

/// The base directory of this checkout's cluster.
pub fn cluster_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ORCHESTRA_TEST_PG_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = env!("CARGO_MANIFEST_DIR");
    let hash = fnv(manifest.as_bytes());
    PathBuf::from(format!("/tmp/orchestra-test-pg-{hash:016x}"))
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Where `initdb` and `pg_ctl` are: `$PG_BIN`, `pg_config --bindir`, the PATH, or Debian's
/// `/usr/lib/postgresql/<version>/bin`.
pub fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").is_file() {
            return dir;
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        if let Some(dir) = versions
            .into_iter()
            .rev()
            .find(|d| d.join("initdb").is_file())
        {
            return dir;
        }
    }
    panic!(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql (e.g. `apt-get install postgresql-15`) \
         or set PG_BIN. Tests that need PostgreSQL do not skip."
    );
}

fn run_as_postgres(program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args);
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn url(port: u16, db: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{db}")
}

fn answers(port: u16) -> bool {
    PgConnection::establish(&url(port, "postgres")).is_ok()
}

fn lock(dir: &Path) -> Flock<File> {
    fs::create_dir_all(dir).unwrap();
    let file = File::options()
        .create(true)
        .append(true)
        .open(dir.join("lock"))
        .unwrap();
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap()
}

fn chown_to_postgres(path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "chown {} failed", path.display());
    }
}

/// Starts (or reuses) the cluster and the current template. Panics with the reason when
/// PostgreSQL cannot be started.
pub fn cluster() -> &'static PgCluster {
    CLUSTER.get_or_init(|| {
        let dir = cluster_dir();
        let _guard = lock(&dir);
        let port_file = dir.join("port");
        let data = dir.join("data");
        let mut port = fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse::<u16>().ok());
        if !port.is_some_and(answers) {
            let bin = pg_bin_dir();
            if !data.join("PG_VERSION").is_file() {
                let _ = fs::remove_dir_all(&data);
                fs::create_dir_all(&data).unwrap();
                chown_to_postgres(&dir);
                let out = run_as_postgres(
                    &bin.join("initdb"),
                    &[
                        "-D",
                        data.to_str().unwrap(),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--no-sync",
                    ],
                );
                assert!(
                    out.status.success(),
                    "initdb failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            chown_to_postgres(&dir);
            let p = crate::free_port();
            let opts = format!(
                "-p {p} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                dir.display()
            );
            let log = dir.join("postgres.log");
            let out = run_as_postgres(
                &bin.join("pg_ctl"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-o",
                    &opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            assert!(
                out.status.success(),
                "pg_ctl start failed: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                fs::read_to_string(&log).unwrap_or_default()
            );
            let deadline = Instant::now() + Duration::from_secs(30);
            while !answers(p) {
                assert!(
                    Instant::now() < deadline,
                    "PostgreSQL did not answer on 127.0.0.1:{p}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            let mut f = File::create(&port_file).unwrap();
            write!(f, "{p}").unwrap();
            port = Some(p);
        }
        let port = port.unwrap();
        let template = ensure_template(port);
        PgCluster {
            dir,
            port,
            template,
        }
    })
}

/// The template for the current migrations: created and migrated once per schema version.
fn ensure_template(port: u16) -> String {
    let name = format!(
        "orchestra_tpl_{:012x}",
        fnv(Migrations::sql(Backend::Postgres, true).as_bytes()) & 0xffff_ffff_ffff
    );
    let mut admin = PgConnection::establish(&url(port, "postgres")).unwrap();
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        e: bool,
    }
    let exists: Exists = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}' AND datistemplate) AS e"
    ))
    .get_result(&mut admin)
    .unwrap();
    if !exists.e {
        let building = format!("{name}_building");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .execute(&mut admin)
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {building}"))
            .execute(&mut admin)
            .unwrap();
        {
            let target = orchestra_db::DatabaseTarget::parse(&url(port, &building)).unwrap();
            let manager = orchestra_db::ConnectionManager::new(target);
            let mut c = diesel::r2d2::ManageConnection::connect(&manager).unwrap();
            Migrations::apply_pending(&mut c).unwrap();
        }
        diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
            .execute(&mut admin)
            .unwrap();
        diesel::sql_query(format!("ALTER DATABASE {name} WITH is_template = true"))
            .execute(&mut admin)
            .unwrap();
    }
    name
}

/// A database of its own for one test, dropped at the end.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    port: u16,
}

impl TestDatabase {
    /// A fresh database copied from the migrated template.
    pub fn migrated() -> Self {
        let c = cluster();
        Self::create(c, Some(&c.template))
    }

    /// A fresh, empty database (no tables).
    pub fn empty() -> Self {
        Self::create(cluster(), None)
    }

    fn create(c: &PgCluster, template: Option<&str>) -> Self {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&url(c.port, "postgres")).unwrap();
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        // A template copy fails while another session is still connected to the template;
        // retry briefly rather than flake.
        let mut attempts = 0;
        loop {
            match diesel::sql_query(&sql).execute(&mut admin) {
                Ok(_) => break,
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot create test database: {e}"),
            }
        }
        Self { name, port: c.port }
    }

    /// A `postgres://` URL for this database.
    pub fn url(&self) -> String {
        url(self.port, &self.name)
    }

    /// An ADO.NET-style connection string (the deployment guide's form) for this database.
    pub fn ado_connection_string(&self) -> String {
        format!(
            "Host=127.0.0.1;Port={};Database={};Username=postgres;Password=unused",
            self.port, self.name
        )
    }

    /// Drops the database now, terminating its connections (simulates an outage).
    pub fn drop_now(&self) {
        let mut admin = PgConnection::establish(&url(self.port, "postgres")).unwrap();
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .unwrap();
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&url(self.port, "postgres")) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// Stops this checkout's cluster, if it runs.
pub fn stop_cluster() -> bool {
    let dir = cluster_dir();
    let data = dir.join("data");
    if !data.join("postmaster.pid").is_file() {
        return false;
    }
    let _guard = lock(&dir);
    let out = run_as_postgres(
        &pg_bin_dir().join("pg_ctl"),
        &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
    );
    let _ = fs::remove_file(dir.join("port"));
    out.status.success()
}
