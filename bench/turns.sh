#!/usr/bin/env bash
# Agent benchmarks with the fake CLI (see bench/README.md): Orchestra's overhead per turn
# over driving the same CLI directly, and the server's RSS with 200 live sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
TURNS=${TURNS:-2000}
SESSIONS=${SESSIONS:-200}
PORT=${PORT:-5398}
cargo build --release --locked -p orchestra-server --bin orchestra -p orchestra-tests --bin fake-claude --bin turnbench --bin loadgen >&2
root=$PWD
work=$(mktemp -d)
mkdir -p "$work/db" "$work/project" "$work/home"
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
export ORCHESTRA__SERVER__PORT=$PORT ORCHESTRA__SERVER__HOST=127.0.0.1 ORCHESTRA__TELEMETRY__LOG_LEVEL=warn \
    ORCHESTRA__CLAUDE__BINARY=$root/target/release/fake-claude ORCHESTRA__CLAUDE__HOME=$work/home \
    ORCHESTRA__CLAUDE__MAX_LIVE_PROCESSES=$((SESSIONS + 10))
# Every /api route needs a key: the server registers this one, turnbench sends it.
export ORCHESTRA_API_KEY=orch_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export ORCHESTRA__AUTH__BOOTSTRAP_ADMIN_KEY=$ORCHESTRA_API_KEY
(cd "$work/db" && exec "$root/target/release/orchestra" > "$work/server.log" 2>&1) &
pid=$!
target/release/loadgen wait --url "http://127.0.0.1:$PORT/health" >/dev/null
target/release/turnbench overhead --fake "$root/target/release/fake-claude" --url "http://127.0.0.1:$PORT" --work "$work/project" --turns "$TURNS"
target/release/turnbench sessions --url "http://127.0.0.1:$PORT" --work "$work/project" --pid "$pid" --count "$SESSIONS"
