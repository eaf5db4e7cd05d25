#!/usr/bin/env bash
# Files benchmark (issue 5): upload and download throughput of one large file through taskhub,
# against `cp` (+ fsync, as the blob store's put does) and `cat` of the same file on the same
# disk in the same run.
#   upload:   curl -T FILE -X POST /api/v1/tasks/{id}/attachments (raw body: spooled to disk by the
#             HTTP layer, hashed + typed, copied into the blob store with fsync, metadata row)
#   baseline: cp FILE COPY && sync COPY
#   download: curl -o /dev/null /api/v1/attachments/{id}/content (sendfile-less Beast file_body)
#   baseline: cat FILE > /dev/null
# Every figure is the median of REPS runs, in MiB/s; the file is in the page cache for all of
# them (written just before), so the figures compare the software paths, not the disk.
#
# Usage: bench/run_files_bench.sh [build-dir]   (default: build)
# Env:   SIZE_MIB (default 100), REPS (default 5), BENCH_TMPDIR (default: the build dir; the
#        files and the server's data live there, on the same file system)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SIZE_MIB=${SIZE_MIB:-100}
REPS=${REPS:-5}
ninja -C "$BUILD" taskhub >/dev/null

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
now_ns() { date +%s%N; }
# MiB/s of SIZE_MIB moved in $1 nanoseconds.
rate() { awk -v n="$1" -v s="$SIZE_MIB" 'BEGIN {printf "%.0f", s / (n / 1e9)}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }

TMP=$(mktemp -d "${BENCH_TMPDIR:-$BUILD}/files-bench.XXXXXX")
TMP=$(cd "$TMP" && pwd)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

PORT=$(free_port)
TASKHUB_ENV=testing PORT=$PORT DATABASE_URL="sqlite://$TMP/bench.db" ACCESS_LOG=false LOG_LEVEL=warn \
  FILES_DIR="$TMP/files" FILES_MAX_UPLOAD_BYTES=$(( (SIZE_MIB + 1) * 1048576 )) \
  FILES_WORKSPACE_QUOTA_BYTES=$(( 1 << 40 )) FILES_MAX_PER_TASK=100000 \
  JWT_SECRET_KEY=$(head -c 48 /dev/urandom | base64) "$BUILD/taskhub" serve >"$TMP/taskhub.log" 2>&1 &
PID=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 200); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/healthz" >/dev/null || { echo "taskhub did not start:"; cat "$TMP/taskhub.log"; exit 1; }

post() { curl -sf "$URL$1" -H "Authorization: Bearer ${TOKEN:-}" -H 'Content-Type: application/json' -d "$2"; }
post /api/v1/auth/register '{"email":"bench@example.com","password":"correct horse battery staple","display_name":"B"}' >/dev/null
TOKEN=$(post /api/v1/auth/login '{"email":"bench@example.com","password":"correct horse battery staple"}' | json access_token)
WS=$(post /api/v1/workspaces '{"name":"Bench"}' | json id)
PROJECT=$(post "/api/v1/workspaces/$WS/projects" '{"name":"Files","key":"FIL"}' | json id)
TASK=$(post "/api/v1/projects/$PROJECT/tasks" '{"title":"big files"}' | json id)

SRC="$TMP/src.bin"
head -c $((SIZE_MIB * 1048576)) /dev/urandom >"$SRC"
echo "file: $SIZE_MIB MiB, $REPS runs each, on $(df -P "$TMP" | awk 'NR==2 {print $1}') ($TMP)"

up=() cp_=() down=() cat_=()
for i in $(seq "$REPS"); do
  t0=$(now_ns); cp "$SRC" "$TMP/copy.bin" && sync "$TMP/copy.bin"; t1=$(now_ns)
  cp_+=($(rate $((t1 - t0)))); rm -f "$TMP/copy.bin"
  t0=$(now_ns)
  ID=$(curl -sf -T "$SRC" -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/octet-stream' \
         "$URL/api/v1/tasks/$TASK/attachments?name=big.bin" | json id)
  t1=$(now_ns)
  up+=($(rate $((t1 - t0))))
  t0=$(now_ns); cat "$SRC" >/dev/null; t1=$(now_ns)
  cat_+=($(rate $((t1 - t0))))
  t0=$(now_ns)
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL/api/v1/attachments/$ID/content"
  t1=$(now_ns)
  down+=($(rate $((t1 - t0))))
done
UP=$(printf '%s\n' "${up[@]}" | median)
CP=$(printf '%s\n' "${cp_[@]}" | median)
DOWN=$(printf '%s\n' "${down[@]}" | median)
CAT=$(printf '%s\n' "${cat_[@]}" | median)
printf '%-44s %8s MiB/s   (runs: %s)\n' "upload (curl -T, raw body)" "$UP" "${up[*]}"
printf '%-44s %8s MiB/s   (runs: %s)\n' "baseline: cp + sync" "$CP" "${cp_[*]}"
printf '%-44s %8s\n' "upload / cp" "$(ratio "$UP" "$CP")"
printf '%-44s %8s MiB/s   (runs: %s)\n' "download (curl -o /dev/null)" "$DOWN" "${down[*]}"
printf '%-44s %8s MiB/s   (runs: %s)\n' "baseline: cat > /dev/null" "$CAT" "${cat_[*]}"
printf '%-44s %8s\n' "download / cat" "$(ratio "$DOWN" "$CAT")"
printf '%-44s %8s MiB\n' "server peak RSS (VmHWM)" "$(awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$PID/status")"
