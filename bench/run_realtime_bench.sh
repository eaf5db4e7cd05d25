#!/usr/bin/env bash
# Realtime benchmarks (issue 4), each with a same-run baseline: the minimal Beast WebSocket
# broadcast server (bench/minimal_ws_broadcast_server.cpp, threads = cores). Client:
# bench/realtime_fanout.cpp (one I/O thread, at most 256 handshakes in flight).
#   1. memory: IDLE idle WebSocket connections (taskhub: authenticated and subscribed to a
#      project; baseline: just connected); VmRSS of the server process before and after
#      (aim for taskhub: under 100 MiB for the whole process)
#   2. fan-out: SUBS subscribers, EVENTS events published one at a time GAP_MS apart (taskhub:
#      POST /projects/{id}/tasks; baseline: POST /publish with a body of the event's size);
#      publish-to-delivery latency p50/p99 (client clock: right before the request is written ->
#      arrival at each subscriber) (aim p99 < 20 ms), fan-out rate (subscribers / time until the
#      last one got the event, median over events) and delivered messages/s over the run
#   3. POST /tasks throughput (wrk -t1 -c8, BENCH_DURATION s) with 0 subscribers, with SUBS
#      connected subscribers of another project (the cost of holding them: they receive nothing),
#      and with SUBS subscribers of the project written to (each POST is SUBS deliveries), and the
#      ratios; the same for the baseline's POST /publish. The subscribers read as fast as one
#      client thread can on the same machine: taskhub closes those that fall WS_SEND_QUEUE_MAX
#      behind (4008, counted as "closed"); the baseline drops messages for them (queue of 1024
#      per client). "received" counts the task.created messages they got.
#
# Usage: bench/run_realtime_bench.sh [build-dir]   (default: build)
# Env:   IDLE (default 10000), SUBS (1000), EVENTS (50), GAP_MS (50), BENCH_DURATION (10)
#        e.g. IDLE=1000 SUBS=100 EVENTS=20 BENCH_DURATION=3 bench/run_realtime_bench.sh  (quick run)
# Needs `ulimit -n` of at least IDLE + 100 (raised here up to the hard limit).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
IDLE=${IDLE:-10000}
SUBS=${SUBS:-1000}
EVENTS=${EVENTS:-50}
GAP_MS=${GAP_MS:-50}
DUR=${BENCH_DURATION:-10}
ninja -C "$BUILD" taskhub realtime_fanout minimal_ws_broadcast_server >/dev/null

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rps() { awk '/Requests\/sec/ {print $2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
json() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) {print $(i+1); exit}}'; }  # value after a key

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((IDLE + 100)) ] || { echo "ulimit -n $(ulimit -n) is too low for IDLE=$IDLE"; exit 1; }

PORT=$(free_port)
BASE_PORT=$(free_port)
TASKHUB_ENV=testing PORT=$PORT DATABASE_URL="sqlite://$TMP/bench.db" ACCESS_LOG=false LOG_LEVEL=warn \
  LOGIN_IP_MAX_ATTEMPTS=1000000 WS_MAX_CONNECTIONS=$((IDLE + 1000)) JWT_SECRET_KEY=$(head -c 48 /dev/urandom | base64) \
  "$BUILD/taskhub" serve >"$TMP/taskhub.log" 2>&1 &
TASKHUB_PID=$!
PIDS+=($TASKHUB_PID)
"$BUILD/minimal_ws_broadcast_server" 127.0.0.1 "$BASE_PORT" "$(nproc)" >/dev/null 2>&1 &
BASE_PID=$!
PIDS+=($BASE_PID)
for i in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "taskhub did not start:"; cat "$TMP/taskhub.log"; exit 1; }

API="http://127.0.0.1:$PORT/api/v1"
EMAIL="bench-$RANDOM@example.com"
curl -sf -X POST "$API/auth/register" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"bench-password-123\",\"display_name\":\"Bench\"}" >/dev/null
TOKEN=$(curl -sf -X POST "$API/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"bench-password-123\"}" | json access_token)
WS=$(curl -sf -X POST "$API/workspaces" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"Bench"}' | json id)
PROJECT=$(curl -sf -X POST "$API/workspaces/$WS/projects" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"Bench","key":"BEN"}' | json id)
OTHER_PROJECT=$(curl -sf -X POST "$API/workspaces/$WS/projects" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"Elsewhere","key":"ELS"}' | json id)
export BENCH_TOKEN=$TOKEN BENCH_PROJECT=$PROJECT

# Starts realtime_fanout in hold mode ($1 = taskhub|baseline, $2 = port, $3 = clients) and waits
# until all are ready; sets HOLD_PID. Output in $TMP/hold.out.
hold_start() {
  "$BUILD/realtime_fanout" hold "$1" 127.0.0.1 "$2" "$3" >"$TMP/hold.out" 2>"$TMP/hold.err" &
  HOLD_PID=$!
  for i in $(seq 1800); do grep -q '^ready' "$TMP/hold.out" && break; kill -0 "$HOLD_PID" 2>/dev/null || break; sleep 0.1; done
  if ! grep -q "^ready $3\$" "$TMP/hold.out"; then
    echo "  $1: could not open $3 connections: $(cat "$TMP/hold.out" "$TMP/hold.err" | head -5 | tr '\n' ' ')"
    return 1
  fi
}
hold_stop() {
  kill -TERM "$HOLD_PID" 2>/dev/null || true
  wait "$HOLD_PID" 2>/dev/null || true
  sleep 2  # let the server notice the closes
}

echo "== taskhub realtime benchmarks ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)): $IDLE idle, $SUBS subscribers, $EVENTS events ${GAP_MS} ms apart, wrk ${DUR}s =="
echo "   baseline: minimal Beast WebSocket broadcast server ($(nproc) threads), same run"

# 1. Memory for IDLE idle connections.
MEM_FAIL=0
B0=$(rss_kib $BASE_PID)
if hold_start baseline "$BASE_PORT" "$IDLE"; then
  B1=$(rss_kib $BASE_PID); CLIENT_RSS=$(rss_kib $HOLD_PID); hold_stop
else MEM_FAIL=1; B1=0; CLIENT_RSS=0; hold_stop; fi
T0=$(rss_kib $TASKHUB_PID)
if hold_start taskhub "$PORT" "$IDLE"; then
  T1=$(rss_kib $TASKHUB_PID); hold_stop
else MEM_FAIL=1; T1=0; hold_stop; fi
per_conn() { awk -v a="$1" -v b="$2" -v n="$IDLE" 'BEGIN {printf "%.1f", (b-a)/n}'; }
echo "-- 1. memory, $IDLE idle WebSocket connections (VmRSS of the server process) --"
echo "baseline broadcast server:              $(mib "$B1") MiB   ($(mib "$B0") MiB before, $(per_conn "$B0" "$B1") KiB/connection)"
echo "taskhub (authenticated + subscribed):   $(mib "$T1") MiB   ($(mib "$T0") MiB before, $(per_conn "$T0" "$T1") KiB/connection)   ratio $(ratio "$T1" "$B1") (aim < 100 MiB)"
echo "   per-connection ratio $(ratio "$(per_conn "$T0" "$T1")" "$(per_conn "$B0" "$B1")"); client process held $(mib "$CLIENT_RSS") MiB for $IDLE connections"

# 2. Fan-out latency and rate.
fanout() {  # $1 target, $2 port -> output in $TMP/fan-$1.out
  "$BUILD/realtime_fanout" latency "$1" 127.0.0.1 "$2" "$SUBS" "$EVENTS" "$GAP_MS" >"$TMP/fan-$1.out" 2>"$TMP/fan-$1.err" || true
}
fanout baseline "$BASE_PORT"
sleep 1
fanout taskhub "$PORT"
sleep 1
line() {  # $1 target
  local f="$TMP/fan-$1.out"
  local got exp p50 p99 max rate paced
  got=$(field delivered <"$f"); exp=$(field expected <"$f")
  p50=$(grep '^latency_ms' "$f" | field p50); p99=$(grep '^latency_ms' "$f" | field p99); max=$(grep '^latency_ms' "$f" | field max)
  rate=$(field fanout_msgs_per_s <"$f"); paced=$(field paced_msgs_per_s <"$f")
  first=$(grep '^last_subscriber_ms' "$f" | field first_event)
  echo "$p50 $p99 $max $rate $paced $got $exp $first"
}
read -r BP50 BP99 BMAX BRATE BPACED BGOT BEXP BFIRST <<<"$(line baseline)"
read -r TP50 TP99 TMAX TRATE TPACED TGOT TEXP TFIRST <<<"$(line taskhub)"
echo "-- 2. one event to $SUBS subscribers, $EVENTS events ${GAP_MS} ms apart (publish-to-delivery, client clock) --"
echo "baseline POST /publish:                 p50 $BP50 ms  p99 $BP99 ms  max $BMAX ms   fan-out $BRATE msg/s   delivered $BGOT/$BEXP ($BPACED msg/s paced)"
echo "taskhub POST /tasks -> task.created:    p50 $TP50 ms  p99 $TP99 ms  max $TMAX ms   fan-out $TRATE msg/s   delivered $TGOT/$TEXP ($TPACED msg/s paced)"
echo "   first event (all included above), time to its last subscriber: baseline $BFIRST ms, taskhub $TFIRST ms"
echo "   ratios taskhub/baseline: p50 $(ratio "$TP50" "$BP50")  p99 $(ratio "$TP99" "$BP99") (aim p99 < 20 ms)  fan-out rate $(ratio "$TRATE" "$BRATE")"
for t in baseline taskhub; do [ -s "$TMP/fan-$t.err" ] && sed "s/^/   $t client: /" "$TMP/fan-$t.err" | head -5; done

# 3. POST throughput with 0 and SUBS subscribers.
cat >"$TMP/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"title":"bench task ' .. n .. '","description":"created by run_realtime_bench","priority":"high"}')
end
LUA
cat >"$TMP/publish.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"id":"01936f0e-8b7a-7cc3-9d2e-5f4b3a2c1d0e","type":"task.created","payload":{"title":"bench task","description":"created by run_realtime_bench","priority":"high","state":"todo","number":1}}'
LUA
TASKS_URL="$API/projects/$PROJECT/tasks"
PUB_URL="http://127.0.0.1:$BASE_PORT/publish"
run_wrk() {  # $1 script, $2 url -> "rps requests non2xx"
  local out; out=$(wrk -t1 -c8 -d"${DUR}s" -s "$1" "$2")
  echo "$(echo "$out" | rps) $(echo "$out" | awk '/requests in/ {print $1}') $(echo "$out" | awk '/Non-2xx/ {print $NF}')"
}
wrk -t1 -c8 -d2s -s "$TMP/create.lua" "$TASKS_URL" >/dev/null
read -r T_RPS0 T_N0 T_NON0 <<<"$(run_wrk "$TMP/create.lua" "$TASKS_URL")"
T_RPSO=0; T_NONO=""
export BENCH_PROJECT=$OTHER_PROJECT
if hold_start taskhub "$PORT" "$SUBS"; then
  read -r T_RPSO T_NO T_NONO <<<"$(run_wrk "$TMP/create.lua" "$TASKS_URL")"
  hold_stop
fi
export BENCH_PROJECT=$PROJECT
T_RPS1=0; T_N1=0; T_NON1=""; T_HOLD="n/a"; T_CLOSE=""
if hold_start taskhub "$PORT" "$SUBS"; then
  read -r T_RPS1 T_N1 T_NON1 <<<"$(run_wrk "$TMP/create.lua" "$TASKS_URL")"
  sleep 3; hold_stop; T_HOLD="$(tail -1 "$TMP/hold.out") of ~$((T_N1 * SUBS)) published to them, 3 s after the end"
  T_CLOSE=$(grep -m1 'connection closed' "$TMP/hold.err" || true)
fi
wrk -t1 -c8 -d2s -s "$TMP/publish.lua" "$PUB_URL" >/dev/null
read -r B_RPS0 B_N0 B_NON0 <<<"$(run_wrk "$TMP/publish.lua" "$PUB_URL")"
B_RPS1=0; B_N1=0; B_NON1=""; B_HOLD="n/a"
if hold_start baseline "$BASE_PORT" "$SUBS"; then
  read -r B_RPS1 B_N1 B_NON1 <<<"$(run_wrk "$TMP/publish.lua" "$PUB_URL")"
  sleep 3; hold_stop; B_HOLD="$(tail -1 "$TMP/hold.out") of ~$((B_N1 * SUBS)) published to them, 3 s after the end"
fi
echo "-- 3. publish throughput with 0 and $SUBS connected subscribers (wrk -t1 -c8, ${DUR}s) --"
echo "taskhub POST /tasks:     0 subs $T_RPS0 req/s${T_NON0:+ [$T_NON0 non-2xx]}   $SUBS subs of another project $T_RPSO req/s${T_NONO:+ [$T_NONO non-2xx]}   ratio $(ratio "$T_RPSO" "$T_RPS0")"
echo "                         $SUBS subs of this project $T_RPS1 req/s${T_NON1:+ [$T_NON1 non-2xx]}   ratio $(ratio "$T_RPS1" "$T_RPS0")   (subscribers: $T_HOLD)"
[ -z "$T_CLOSE" ] || echo "   taskhub closed subscribers during the run (they could not keep up; first: $T_CLOSE)"
echo "baseline POST /publish:  0 subs $B_RPS0 req/s   $SUBS subs $B_RPS1 req/s   ratio $(ratio "$B_RPS1" "$B_RPS0")   (subscribers: $B_HOLD)"
echo "   taskhub POST /tasks with $SUBS subscribers vs baseline publish with $SUBS subscribers: ratio $(ratio "$T_RPS1" "$B_RPS1")"
echo "   load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$MEM_FAIL" = 0 ]
