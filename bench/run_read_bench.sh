#!/usr/bin/env bash
# Baseline for the tasks benchmarks (issue 3): the raw SQLite single-row commit rate, measured
# by bench/sqlite_commit_rate.cpp (sqlite3 directly, WAL, synchronous as SQLITE_SYNCHRONOUS
# (default full, the server's default) and the other PRAGMAs of src/adapters/sqlite, one prepared INSERT per BEGIN IMMEDIATE ... COMMIT), so that
# "create task" can be reported as a ratio to it (aim: >= 0.7) in the same run.
#
# Usage: bench/run_read_bench.sh [build-dir]   (default: build)
# Env:   BENCH_DURATION (seconds per measurement, default 5), BENCH_DIR (where the database
#        file goes, default a temporary directory: put it on the same disk as the server's
#        database for a fair ratio), BENCH_THREADS (extra contended run, default 4).
# Output: key=value lines (sqlite_commit_rate_1t=..., sqlite_commit_rate_Nt=...), parsable by
#         the report scripts; the caller computes ratios against its own measurements.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DUR=${BENCH_DURATION:-5}
THREADS=${BENCH_THREADS:-4}
ninja -C "$BUILD" sqlite_commit_rate >/dev/null

TMP=$(mktemp -d ${BENCH_DIR:+-p "$BENCH_DIR"})
trap 'rm -rf "$TMP"' EXIT

rate() { awk -F'[= ]' '{print $2}'; }

echo "# SQLite raw single-row commit rate ($(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo "lib"), ${DUR}s each, db in $TMP)"
SYNC=${SQLITE_SYNCHRONOUS:-full}
one=$("$BUILD/sqlite_commit_rate" "$TMP/one.db" "$DUR" 1 "$SYNC")
echo "# $one"
echo "sqlite_commit_rate_1t=$(echo "$one" | rate)"
many=$("$BUILD/sqlite_commit_rate" "$TMP/many.db" "$DUR" "$THREADS" "$SYNC")
echo "# $many"
echo "sqlite_commit_rate_${THREADS}t=$(echo "$many" | rate)"
