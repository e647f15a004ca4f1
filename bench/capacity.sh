#!/usr/bin/env bash
# The capacity figure (issue 10 point 2, see bench/README.md): SESSIONS (default 10,000) open
# sessions created through the API on one node with SLOTS (default 32) process slots and the
# fake CLI, on SQLite and then on PostgreSQL (the test suite's cluster): server RSS, reads,
# and a message to a suspended session next to the CLI's own cold start.
# Bounded: a fixed number of requests per phase; the server is killed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-10000}
SLOTS=${SLOTS:-32}
BACKENDS=${BACKENDS:-sqlite postgres}
cargo build --release --locked -p orchestra-server --bin orchestra \
    -p orchestra-tests --bin fake-claude --bin capbench --bin mixbench --bin pg-harness >&2
for backend in $BACKENDS; do
    if [ "$backend" = postgres ]; then target/release/pg-harness start >&2; fi
    target/release/capbench --orchestra target/release/orchestra --fake target/release/fake-claude \
        --backend "$backend" --sessions "$SESSIONS" --slots "$SLOTS"
done
