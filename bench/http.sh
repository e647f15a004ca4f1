#!/usr/bin/env bash
# HTTP benchmark of the release server on loopback (see bench/README.md):
#   start to healthy, idle RSS, /health max throughput and at 1,000 req/s,
#   listing 1,000 pending approvals at 1,000 req/s (default page of 50, and all 1,000 per page).
# Bounded: each load phase runs for DURATION seconds (default 10), then everything stops.
# Every /api request sends an API key; NO_AUTH=1 runs the same with authentication off
# (auth.insecure_disabled, loopback), so the two runs show what authentication adds.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
PORT=${PORT:-5399}
cargo build --release --locked -p orchestra-server --bin orchestra -p orchestra-tests --bin loadgen >&2
BIN=target/release/orchestra
LOADGEN=target/release/loadgen
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT

KEY=orch_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export ORCHESTRA__SERVER__PORT=$PORT ORCHESTRA__SERVER__HOST=127.0.0.1 ORCHESTRA__TELEMETRY__LOG_LEVEL=warn \
    ORCHESTRA__AUTH__BOOTSTRAP_ADMIN_KEY=$KEY
if [ -n "${NO_AUTH:-}" ]; then export ORCHESTRA__AUTH__INSECURE_DISABLED=true; fi
(cd "$work" && exec "$OLDPWD/$BIN" migrate apply >/dev/null)
start_ns=$(date +%s%N)
(cd "$work" && exec "$OLDPWD/$BIN" > "$work/server.log" 2>&1) &
pid=$!
$LOADGEN wait --url "http://127.0.0.1:$PORT/health" >/dev/null
healthy_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
sleep 2
idle_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "{\"start_to_healthy_ms\":$healthy_ms,\"idle_rss_kb\":$idle_rss_kb}"

run() { $LOADGEN run --duration "$DURATION" "$@"; }
run --url "http://127.0.0.1:$PORT/health" --connections 8
run --url "http://127.0.0.1:$PORT/health" --rate 1000 --connections 16
# Seed 1,000 pending approvals.
$LOADGEN run --key "$KEY" --url "http://127.0.0.1:$PORT/api/approvals/test" --method POST \
    --body '{"toolName":"BenchTool","sessionId":"bench"}' --connections 4 --duration 600 --rate 200 --max 1000 >/dev/null 2>&1 || true
pending=$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/diagnostics/metrics" | jq '.QueueSize')
echo "{\"pending_approvals\":$pending}"
run --key "$KEY" --url "http://127.0.0.1:$PORT/api/approvals?status=Pending" --rate 1000 --connections 16
run --key "$KEY" --url "http://127.0.0.1:$PORT/api/approvals?status=Pending" --connections 8
run --key "$KEY" --url "http://127.0.0.1:$PORT/api/approvals?status=Pending&pageSize=1000" --connections 4
run --key "$KEY" --url "http://127.0.0.1:$PORT/api/approvals?status=Pending&pageSize=1000" --rate 100 --connections 8
# The cheapest /api route (memory only): what authentication adds shows most here.
run --key "$KEY" --url "http://127.0.0.1:$PORT/api/agents" --connections 8
run --key "$KEY" --url "http://127.0.0.1:$PORT/api/agents" --rate 1000 --connections 16
busy_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "{\"rss_after_load_kb\":$busy_rss_kb}"
