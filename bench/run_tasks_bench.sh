#!/usr/bin/env bash
# Tasks benchmarks (issue 3), over a data set seeded with `taskhub seed` (default 100k tasks in
# 10 projects, ~2 comments each, assignees, labels, history, full-text rows). Reports figures and
# ratios to baselines measured in the same run:
#   1. GET /api/v1/tasks/{id} req/s vs the minimal Beast server (bench/minimal_beast_server.cpp)
#      (aim >= 0.4)
#   2. POST /api/v1/projects/{id}/tasks (create) req/s, from BENCH_CONNECTIONS clients as the GET
#      run (and from 8), vs the raw SQLite single-row commit rate
#      (bench/sqlite_commit_rate, as bench/run_read_bench.sh) (aim >= 0.7), both with the same
#      SQLITE_SYNCHRONOUS (default full: every commit fsynced, as taskhub's default); the rate
#      with the other setting is printed beside it
#   3. p99 from one client (wrk -t1 -c1 --latency) of a filtered + sorted first page of 50
#      (state_group=started,unstarted&sort=-priority) and of a deep page (the cursor after
#      10 pages) (aim < 5 ms), and of full-text search (q=...) sorted by relevance
#   2b. the same creates without HTTP (bench/tasks_create_in_process: the route handler called
#      directly by 8 threads, every module running as in `taskhub serve`, taskhub stopped first):
#      how much of the gap to the raw commit rate is the create's own work, how much the HTTP path
#   4. the same on PostgreSQL (throwaway cluster via tests/api/pg_cluster.py, durable settings:
#      fsync and synchronous_commit on, as in production), unless --no-pg; there the create is
#      reported as a ratio to the same server's raw single-row commit rate (bench/pg_commit_rate)
#      and to the raw SQLite one
#
# Usage: bench/run_tasks_bench.sh [--tasks N] [--no-pg] [--latency-only] [build-dir]   (default: 100000, build)
#        --latency-only: only step 3 (the p99 figures)
#        --scale-check: step 3 on SQLite at 10k and then at 1M tasks, and the ratios of their p99s
# Env:   BENCH_DURATION (seconds per measurement, default 10), BENCH_CONNECTIONS (default 64),
#        SQLITE_SYNCHRONOUS (full or normal, default full: the server's and the baseline's)
# Scaling check (issue: p99 at 1M at most 1.5x that at 10k): bench/run_tasks_bench.sh --scale-check
# (1M tasks: ~5 GB of SQLite file in $TMPDIR, ~100 s of seeding and ~30 s of analytics backfill).
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=100000
PG=1
INNER=""
LATENCY_ONLY=0
SCALE=0
BUILD=build
while [ $# -gt 0 ]; do
  case "$1" in
    --tasks) TASKS=$2; shift 2 ;;
    --no-pg) PG=0; shift ;;
    --latency-only) LATENCY_ONLY=1; shift ;;
    --scale-check) SCALE=1; shift ;;
    --inner-postgres) INNER=postgres; shift ;;  # internal: run under pg_cluster.py
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) BUILD=$1; shift ;;
  esac
done
DUR=${BENCH_DURATION:-10}
export SQLITE_SYNCHRONOUS=${SQLITE_SYNCHRONOUS:-full}
if [ "${SCALE:-0}" = 1 ]; then
  # The issue's scaling aim: p99 of the first and the deep page at 1M tasks at most 1.5x that at
  # 10k, on SQLite, measured back to back by this same script.
  S=$(mktemp -d)
  SCALE_OUT=$S/10k "$0" --no-pg --latency-only --tasks 10000 "$BUILD"
  echo
  SCALE_OUT=$S/1m "$0" --no-pg --latency-only --tasks 1000000 "$BUILD"
  read -r F10 D10 <"$S/10k"
  read -r F1M D1M <"$S/1m"
  rm -rf "$S"
  echo
  echo "scaling 10k -> 1M tasks: first page p99 $F10 -> $F1M ms ($(awk -v a="$F1M" -v b="$F10" 'BEGIN {printf "%.2f", a/b}')x), deep page p99 $D10 -> $D1M ms ($(awk -v a="$D1M" -v b="$D10" 'BEGIN {printf "%.2f", a/b}')x) (aim <= 1.5x)"
  exit 0
fi
CONN=${BENCH_CONNECTIONS:-64}
[ -n "$INNER" ] || ninja -C "$BUILD" taskhub minimal_beast_server sqlite_commit_rate pg_commit_rate tasks_create_in_process >/dev/null

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rps() { awk '/Requests\/sec/ {print $2}'; }
p99() { awk '/ 99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# Waits (at most 180 s; an argument: silently) until the machine is idle (>= 85% idle CPU over one second): after the
# create run the outbox consumers (analytics, notifications, webhooks) and PostgreSQL's autovacuum
# work off what the creates left, and a latency measured meanwhile times them, not the query.
wait_idle() {
  local t0 i0 a b
  t0=$(date +%s)
  while :; do
    a=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
    i0=$(echo "$a $b" | awk '{d = $4 - $2; print (d > 0 ? int(100 * ($3 - $1) / d) : 100)}')
    [ "$i0" -ge 85 ] && break
    [ $(( $(date +%s) - t0 )) -lt 180 ] || { echo "  (the machine did not go idle within 180 s: $i0% idle)"; break; }
  done
  [ -n "${1:-}" ] || echo "  waited $(( $(date +%s) - t0 )) s for the machine to go idle ($i0% idle) before the latency runs"
}

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

if [ "$INNER" = postgres ]; then
  DB_URL=$TASKHUB_TEST_POSTGRES_URL
  LABEL="PostgreSQL"
else
  DB_URL="sqlite://$TMP/bench.db"
  LABEL="SQLite"
fi

echo "== taskhub tasks benchmarks on $LABEL: $TASKS tasks ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), wrk ${DUR}s) =="
DATABASE_URL=$DB_URL TASKHUB_ENV=testing "$BUILD/taskhub" seed --users 50 --workspace Bench --projects 10 \
  --tasks "$TASKS" --comments-per-task 2 >"$TMP/seed.out" 2>&1 || { cat "$TMP/seed.out"; exit 1; }
sed 's/^/  seed: /' "$TMP/seed.out" | grep -E "tasks:|projects:|total:"
PROJECT=$(awk '/first project:/ {print $3}' "$TMP/seed.out")

PORT=$(free_port)
BASE_PORT=$(free_port)
TASKHUB_ENV=testing PORT=$PORT DATABASE_URL="$DB_URL" ACCESS_LOG=false LOG_LEVEL=warn \
  LOGIN_IP_MAX_ATTEMPTS=1000000 JWT_SECRET_KEY=$(head -c 48 /dev/urandom | base64) \
  "$BUILD/taskhub" serve >"$TMP/taskhub.log" 2>&1 &
PIDS+=($!)
"$BUILD/minimal_beast_server" 127.0.0.1 "$BASE_PORT" "$(nproc)" >/dev/null 2>&1 &
PIDS+=($!)
for i in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "taskhub did not start:"; cat "$TMP/taskhub.log"; exit 1; }
API="http://127.0.0.1:$PORT/api/v1"
TOKEN=$(curl -sf -X POST "$API/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"seed-user-000001@example.test","password":"seed-password"}' | json 'd["access_token"]')
AUTH="Authorization: Bearer $TOKEN"
TASK=$(curl -sf -H "$AUTH" "$API/projects/$PROJECT/tasks?limit=1&sort=-number" | json 'd["items"][0]["id"]')
# The analytics module builds its read model from the seeded rows in the background (a backfill:
# about a minute at 1M tasks). Measuring while it writes would time the backfill, not the reads.
T0=$(date +%s)
until curl -sf -H "$AUTH" "$API/projects/$PROJECT/analytics/summary" | json 'd["as_of"]["backfilled"]' | grep -q True; do
  [ $(( $(date +%s) - T0 )) -lt 1200 ] || { echo "the analytics backfill did not finish within 20 minutes"; exit 1; }
  sleep 0.5
done
echo "  analytics read model built from the seeded rows in $(( $(date +%s) - T0 )) s (before any measurement)"

if [ "$LATENCY_ONLY" = 0 ]; then
# 1. GET /tasks/{id} vs minimal Beast server. Both rates move by a third between runs on this VM
# (the baseline measured 48k to 76k req/s within one hour), so the two are measured alternately,
# three pairs of DUR/2 seconds, and the ratio reported is the median pair's (with the range).
wrk -t2 -c"$CONN" -d2s "http://127.0.0.1:$BASE_PORT/" >/dev/null
wrk -t2 -c"$CONN" -d2s -H "$AUTH" "$API/tasks/$TASK" >/dev/null
PAIR_DUR=$(( DUR / 2 > 2 ? DUR / 2 : 2 ))
for r in 1 2 3; do
  B=$(wrk -t2 -c"$CONN" -d"${PAIR_DUR}s" "http://127.0.0.1:$BASE_PORT/" | rps)
  G=$(wrk -t2 -c"$CONN" -d"${PAIR_DUR}s" -H "$AUTH" "$API/tasks/$TASK" | rps)
  echo "$(ratio "$G" "$B") $G $B"
done | sort -g >"$TMP/get_pairs"
read -r GET_RATIO GET_RPS BASE_RPS < <(sed -n 2p "$TMP/get_pairs")
echo "baseline minimal Beast server:          $BASE_RPS req/s"
echo "GET /api/v1/tasks/{id}:                 $GET_RPS req/s   ratio $GET_RATIO (median of 3 alternating pairs; range $(head -1 "$TMP/get_pairs" | cut -d' ' -f1) to $(tail -1 "$TMP/get_pairs" | cut -d' ' -f1)) (aim >= 0.4)"

# 2. Create task vs raw SQLite single-row commit rate (same disk: $TMP), with the server's
# durability (SQLITE_SYNCHRONOUS); the other setting's rate is shown for scale.
OTHER_SYNC=$([ "$SQLITE_SYNCHRONOUS" = full ] && echo normal || echo full)
RAW=$("$BUILD/sqlite_commit_rate" "$TMP/raw.db" "$DUR" 1 "$SQLITE_SYNCHRONOUS" | awk -F'[= ]' '{print $2}')
RAW_OTHER=$("$BUILD/sqlite_commit_rate" "$TMP/raw2.db" "$(( DUR / 2 > 2 ? DUR / 2 : 2 ))" 1 "$OTHER_SYNC" | awk -F'[= ]' '{print $2}')
cat >"$TMP/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"title":"bench task ' .. n .. '","description":"created by run_tasks_bench","priority":"high"}')
end
LUA
CODE=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"title":"probe"}' "$API/projects/$PROJECT/tasks")
[ "$CODE" = 201 ] || { echo "create task answered $CODE"; exit 1; }
# On SQLite /metrics counts the WAL pages written: per create, with the relay's and consumers'
# writes it caused (read after the machine is idle again), the create's main cost there.
wal_pages() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^taskhub_sqlite_wal_pages_total / {print $2}'; }
# Two loads: $CONN clients (as the GET run: the server's create throughput, where the group
# commit has writes to group) and 8 clients (fewer writes wait together: smaller groups).
CREATE8_OUT=$(wrk -t1 -c8 -d"$(( DUR / 2 > 2 ? DUR / 2 : 2 ))s" -s "$TMP/create.lua" "$API/projects/$PROJECT/tasks")
CREATE8_RPS=$(echo "$CREATE8_OUT" | rps)
wait_idle quiet
PAGES0=$(wal_pages)
CREATE_OUT=$(wrk -t2 -c"$CONN" -d"${DUR}s" -s "$TMP/create.lua" "$API/projects/$PROJECT/tasks")
NON2XX=$(echo "$CREATE_OUT$CREATE8_OUT" | awk '/Non-2xx/ {n += $NF} END {if (n) print n}')
CREATE_RPS=$(echo "$CREATE_OUT" | rps)
CREATES=$(echo "$CREATE_OUT" | awk '/requests in/ {print $1}')
echo "raw SQLite single-row commit rate:      $RAW commits/s (synchronous=$SQLITE_SYNCHRONOUS, as the server; $RAW_OTHER with $OTHER_SYNC)"
if [ "$INNER" = postgres ]; then
  RAW_PG=$("$BUILD/pg_commit_rate" "$DB_URL" "$DUR" 1)
  echo "raw PostgreSQL single-row commit rate:  $(echo "$RAW_PG" | awk -F'[= ]' '{print $2}') commits/s (autocommit INSERT, one connection; synchronous_commit=${RAW_PG##*=})"
  RAW_PG=$(echo "$RAW_PG" | awk -F'[= ]' '{print $2}')
  RAW_OWN=$RAW_PG
  echo "POST /projects/{id}/tasks ($CONN clients): $CREATE_RPS req/s   ratio $(ratio "$CREATE_RPS" "$RAW_PG") to raw PostgreSQL, $(ratio "$CREATE_RPS" "$RAW") to raw SQLite (aim >= 0.7)${NON2XX:+ [$NON2XX non-2xx answers]}"
else
  RAW_OWN=$RAW
  echo "POST /projects/{id}/tasks ($CONN clients): $CREATE_RPS req/s   ratio $(ratio "$CREATE_RPS" "$RAW") (aim >= 0.7)${NON2XX:+ [$NON2XX non-2xx answers]}"
fi
echo "POST /projects/{id}/tasks (8 clients):  $CREATE8_RPS req/s   ratio $(ratio "$CREATE8_RPS" "$RAW_OWN")"
wait_idle quiet
if [ -n "$PAGES0" ]; then
  echo "  WAL pages written per create (create, relay, consumers): $(awk -v a="$(wal_pages)" -v b="$PAGES0" -v n="$CREATES" 'BEGIN {printf "%.1f", (a-b)/n}')"
fi

fi  # LATENCY_ONLY
wait_idle

# 3. Filtered + sorted first page, deep page, full-text search: p99 from one client.
# The deep page is the deepest FULL page of 50 within the first 10 (at 10k tasks the filter keeps
# ~520 rows per project, so "after 10 pages" would be a short last page and flatter the small
# data set in the scaling comparison). Each p99 is the median of three runs of DUR/3 seconds:
# a single run's p99 of ~1 ms moves by a millisecond with one scheduler hiccup on this VM.
FILTER="state_group=started,unstarted&sort=-priority&limit=50"
curl -sf -H "$AUTH" "$API/projects/$PROJECT/tasks?$FILTER" -o "$TMP/page.json" || { echo "list failed"; exit 1; }
CURSOR=""
DEEP_CURSOR=""
DEEP_PAGE=1
for i in $(seq 10); do
  curl -sf -H "$AUTH" "$API/projects/$PROJECT/tasks?$FILTER${CURSOR:+&cursor=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$CURSOR")}" -o "$TMP/page.json"
  [ "$(json 'len(d["items"])' <"$TMP/page.json")" = 50 ] || break
  DEEP_CURSOR=$CURSOR
  DEEP_PAGE=$i
  CURSOR=$(json 'd["next_cursor"] or ""' <"$TMP/page.json")
  [ -n "$CURSOR" ] || break
done
CURSOR_Q=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$DEEP_CURSOR")
LAT_DUR=$(( DUR / 3 > 2 ? DUR / 3 : 2 ))
lat() {
  for r in 1 2 3; do wrk -t1 -c1 -d"${LAT_DUR}s" --latency -H "$AUTH" "$1" | p99; done | sort -g | sed -n 2p
}
FIRST=$(lat "$API/projects/$PROJECT/tasks?$FILTER")
DEEP=$(lat "$API/projects/$PROJECT/tasks?$FILTER${DEEP_CURSOR:+&cursor=$CURSOR_Q}")
SEARCH=$(lat "$API/projects/$PROJECT/tasks?q=login&sort=relevance&limit=50")
SEARCH2=$(lat "$API/projects/$PROJECT/tasks?q=timeout%20server&limit=50")
echo "first page of 50 ($FILTER) p99:  $FIRST ms (aim < 5)"
echo "deep page (page $DEEP_PAGE, full, by cursor) p99:  $DEEP ms (aim < 5)"
echo "full-text q=login by relevance p99:     $SEARCH ms"
echo "full-text q=timeout server p99:         $SEARCH2 ms"
[ -z "${SCALE_OUT:-}" ] || printf '%s %s\n' "$FIRST" "$DEEP" >"$SCALE_OUT"

if [ "$LATENCY_ONLY" = 0 ]; then
  # 2b. Create without HTTP, on the same database once taskhub has stopped (one process at a time).
  kill "${PIDS[0]}" 2>/dev/null || true
  wait "${PIDS[0]}" 2>/dev/null || true
  INPROC=$(TASKHUB_ENV=testing DATABASE_URL="$DB_URL" LOG_LEVEL=warn JWT_SECRET_KEY=$(head -c 48 /dev/urandom | base64) \
    "$BUILD/tasks_create_in_process" seed-user-000001@example.test seed-password "$PROJECT" "$DUR" 8 all)
  INPROC_RPS=$(echo "$INPROC" | awk -F'[= ]' '{print $2}')
  echo "create without HTTP (handler called directly, 8 threads): $INPROC_RPS creates/s   ratio $(ratio "$INPROC_RPS" "$RAW") to the raw commit rate, $(ratio "$CREATE_RPS" "$INPROC_RPS") of it reached over HTTP"
  echo "$INPROC" | grep -o 'commits_per_create=.*' | sed 's/^/  /' || true
fi

if [ -z "$INNER" ] && [ "$PG" = 1 ]; then
  cleanup
  trap - EXIT
  echo
  TASKHUB_PG_DURABLE=1 /usr/bin/python3 tests/api/pg_cluster.py run -- "$0" --inner-postgres --tasks "$TASKS" \
    $([ "$LATENCY_ONLY" = 1 ] && echo --latency-only) "$BUILD"
fi
