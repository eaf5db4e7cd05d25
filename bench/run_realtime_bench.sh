#!/usr/bin/env bash
# Realtime fan-out benchmark (issue 4): N WebSocket clients subscribed to one project, tasks
# created one at a time; reports POST-to-delivery latency p50/p99 (bench/realtime_fanout.cpp).
# Usage: bench/run_realtime_bench.sh [build-dir] (default: build). CLIENTS, TASKS, GAP_MS override.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
CLIENTS=${CLIENTS:-1000}
TASKS=${TASKS:-50}
GAP_MS=${GAP_MS:-50}
ninja -C "$BUILD" taskhub realtime_fanout >/dev/null

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

PORT=$(free_port)
TASKHUB_ENV=testing PORT=$PORT DATABASE_URL="sqlite://$TMP/bench.db" ACCESS_LOG=false LOG_LEVEL=warn \
  LOGIN_IP_MAX_ATTEMPTS=1000000 JWT_SECRET_KEY=$(head -c 48 /dev/urandom | base64) \
  "$BUILD/taskhub" serve >"$TMP/taskhub.log" 2>&1 &
PIDS+=($!)
for i in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

BASE="http://127.0.0.1:$PORT/api/v1"
EMAIL="bench-$RANDOM@example.com"
curl -sf -X POST "$BASE/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"bench-password-123\",\"display_name\":\"Bench\"}" >/dev/null
json() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
TOKEN=$(curl -sf -X POST "$BASE/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"bench-password-123\"}" | json access_token)
WS=$(curl -sf -X POST "$BASE/workspaces" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"Bench"}' | json id)
PROJECT=$(curl -sf -X POST "$BASE/workspaces/$WS/projects" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"Bench","key":"BEN"}' | json id)

echo "== realtime fan-out ($(nproc) cores): $CLIENTS clients, $TASKS tasks, ${GAP_MS} ms apart =="
"$BUILD/realtime_fanout" 127.0.0.1 "$PORT" "$TOKEN" "$PROJECT" "$CLIENTS" "$TASKS" "$GAP_MS"
RSS=$(awk '/VmRSS/ {print $2}' /proc/${PIDS[0]}/status)
echo "taskhub RSS with $CLIENTS connected clients: $((RSS / 1024)) MiB"
