//! The `orchestra` binary, built inside the test package so that Cargo builds it (fresh)
//! before the integration tests and hands them its path (`CARGO_BIN_EXE_orchestra-under-test`).

fn main() -> std::process::ExitCode {
    orchestra_server::entry::main()
}
