//! `pg-harness start|stop|url`: manages the test suite's shared PostgreSQL cluster.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test tool")]

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("start") => {
            let c = orchestra_tests::pg::cluster();
            println!(
                "PostgreSQL test cluster on 127.0.0.1:{} ({})",
                c.port,
                c.dir.display()
            );
        }
        Some("stop") => {
            if orchestra_tests::pg::stop_cluster() {
                println!("PostgreSQL test cluster stopped");
            } else {
                println!("PostgreSQL test cluster was not running");
            }
        }
        _ => {
            eprintln!("usage: pg-harness start|stop");
            std::process::exit(2);
        }
    }
}
