#!/usr/bin/env bash
# The retention figure (issue 11 point 4, see bench/README.md): 1,000,000 expired rows
# (closed sessions, their turns, decided approvals, audit events) archived and deleted by
# the real RetentionService in batches of BATCH (default 1000), with a writer committing
# every 10 ms beside it, on SQLite and then on PostgreSQL (the test suite's cluster).
# Prints one JSON line per backend: the longest a delete transaction held the write lock,
# and how long the writer waited. Bounded: one run over a fixed number of rows.
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=${BATCH:-1000}
BACKENDS=${BACKENDS:-sqlite postgres}
cargo build --release --locked -p orchestra-tests --bin retentionbench --bin pg-harness >&2
for backend in $BACKENDS; do
    if [ "$backend" = postgres ]; then target/release/pg-harness start >&2; fi
    target/release/retentionbench --backend "$backend" --batch "$BATCH"
done
