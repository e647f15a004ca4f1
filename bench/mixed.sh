#!/usr/bin/env bash
# The load figure (issue 9 point 8, see bench/README.md): 1,000 req/s of a mixed API load
# (lists, gets, decisions, /health) for DURATION seconds (default 60) through the release
# server, with 32 live fake sessions running turns (one every TURN_MS, default 2,000 ms, each)
# and streaming their events, on SQLite and
# then on PostgreSQL (the test suite's cluster, started on 127.0.0.1 if it is not running).
# Bounded: each backend's run stops after DURATION seconds; the server is killed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60}
RATE=${RATE:-1000}
TURN_MS=${TURN_MS:-2000}
BACKENDS=${BACKENDS:-sqlite postgres}
cargo build --release --locked -p orchestra-server --bin orchestra \
    -p orchestra-tests --bin fake-claude --bin capbench --bin mixbench --bin pg-harness >&2
for backend in $BACKENDS; do
    if [ "$backend" = postgres ]; then target/release/pg-harness start >&2; fi
    target/release/mixbench --orchestra target/release/orchestra --fake target/release/fake-claude \
        --backend "$backend" --rate "$RATE" --duration "$DURATION" --turn-ms "$TURN_MS"
done
