//! The `orchestra` binary.

fn main() -> std::process::ExitCode {
    orchestra_server::entry::main()
}
