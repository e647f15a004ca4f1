#!/usr/bin/env bash
# Escalation benchmarks (see bench/README.md): approval latency with the fake CLI and the
# fake Telegram through the release server, and expiring 10,000 approvals on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-300}
cargo build --release --locked -p orchestra-server --bin orchestra -p orchestra-tests --bin fake-claude --bin approvalbench --bin sweepbench >&2
target/release/approvalbench --orchestra target/release/orchestra --fake target/release/fake-claude --rounds "$ROUNDS"
target/release/sweepbench --count 10000
