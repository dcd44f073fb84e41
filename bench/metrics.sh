#!/usr/bin/env bash
# Benchmark of GET /metrics against a release build, on SQLite and PostgreSQL (not a
# timed test; figures go to stdout): the time of a scrape with an empty database, then
# with FINISHED completed jobs and ACTIVE unfinished ones (half pending, half waiting
# for a parent) in the table. A scrape counts only the unfinished jobs, so its time
# should follow ACTIVE, not FINISHED.
# Needs curl, sqlite3 and psql. Environment: FINISHED (990000), ACTIVE (10000),
# SCRAPES (20), PORT (18090), PG_ADMIN (postgres://postgres@127.0.0.1:5432/test; empty
# to skip PostgreSQL), CARGO_TARGET_DIR, BIN (a prebuilt server binary instead of building
# this tree).
set -euo pipefail
cd "$(dirname "$0")/.."

FINISHED=${FINISHED:-990000}
ACTIVE=${ACTIVE:-10000}
SCRAPES=${SCRAPES:-20}
PORT=${PORT:-18090}
PG_ADMIN=${PG_ADMIN-postgres://postgres@127.0.0.1:5432/test}
TARGET=${CARGO_TARGET_DIR:-target}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
PID=""
PG_DB=""

cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ -n "$PG_DB" ] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${BIN:-}" ]; then
  cp "$BIN" "$WORK/prc"
else
  cargo build --release --quiet
  cp "$TARGET/release/peertube-runner-connector" "$WORK/prc"
fi
BIN="$WORK/prc"

start_server() { # DATABASE_URL
  PRC_DATABASE__URL="$1" PRC_DATA_DIR="$WORK/data" PRC_SERVER__BIND="127.0.0.1:$PORT" \
    PRC_LOG__LEVEL=warn PRC_SERVER__PUBLIC_URL="$BASE" "$BIN" serve >"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    curl -sf "$BASE/readyz" >/dev/null && return 0
    sleep 0.1
  done
  cat "$WORK/server.log"
  return 1
}

stop_server() {
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
}

# The SELECT producing N job rows numbered g = 1..N, for INSERT … SELECT: `$state` is an
# SQL expression of g.
jobs_select() { # BACKEND COUNT OFFSET STATE_EXPR
  local payload="'{\"input\":{\"videoFileUrl\":\"http://127.0.0.1/x\",\"separatedAudioFileUrl\":[]},\"output\":{\"resolution\":720,\"fps\":30,\"separatedAudio\":false}}'"
  local private="'{\"videoUUID\":\"00000000-0000-4000-8000-000000000000\",\"isNewVideo\":true}'"
  local cols="'bench-' || ($3 + g), 'vod-hls-transcoding', $4, $payload, $private, 100, 0,
    CURRENT_TIMESTAMP, CURRENT_TIMESTAMP"
  case "$1" in
    sqlite) echo "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $2)
      SELECT $cols FROM s" ;;
    *) echo "SELECT $cols FROM generate_series(1, $2) AS s(g)" ;;
  esac
}

seed() { # BACKEND DATABASE_URL
  local insert="INSERT INTO runner_jobs (uuid, job_type, state, payload, private_payload,
    priority, failures, created_at, updated_at)"
  # Completed (3) first, then pending (1) and waiting for a parent (5).
  local sql="$insert $(jobs_select "$1" "$FINISHED" 0 3);
    $insert $(jobs_select "$1" "$ACTIVE" "$FINISHED" "CASE WHEN g % 2 = 0 THEN 1 ELSE 5 END");"
  case "$1" in
    sqlite) sqlite3 "${2#sqlite://}" "BEGIN; $sql COMMIT; ANALYZE;" ;;
    *) psql "$2" -q -v ON_ERROR_STOP=1 -c "$sql" -c "VACUUM ANALYZE runner_jobs" >/dev/null ;;
  esac
}

scrapes() { # LABEL: SCRAPES sequential scrapes after one warm-up; min, p50, max in ms
  curl -sf "$BASE/metrics" -o "$WORK/scrape.txt"
  for _ in $(seq "$SCRAPES"); do
    curl -sf -o /dev/null -w '%{time_total}\n' "$BASE/metrics"
  done | sort -n | awk -v label="$1" '{ t[NR] = $1 * 1000 }
    END { printf "%s: %d scrapes, min %.1f ms, p50 %.1f ms, max %.1f ms\n",
          label, NR, t[1], t[int((NR + 1) / 2)], t[NR] }'
  grep -E '^prc_jobs\{state="(pending|waiting_for_parent_job)"' "$WORK/scrape.txt" |
    grep 'vod-hls' | tr '\n' ' '
  echo
}

bench_backend() { # BACKEND DATABASE_URL
  echo "=== $1 ==="
  "$BIN" --database-url "$2" migrate >/dev/null
  start_server "$2"
  scrapes "empty table"
  stop_server
  local t0=$SECONDS
  seed "$1" "$2"
  echo "seeded $FINISHED completed + $ACTIVE unfinished jobs in $((SECONDS - t0)) s"
  start_server "$2"
  scrapes "$((FINISHED + ACTIVE)) jobs"
  stop_server
}

mkdir -p "$WORK/data"
bench_backend sqlite "sqlite://$WORK/data/bench.sqlite3"
if [ -n "$PG_ADMIN" ]; then
  PG_DB="prc_bench_metrics_$$"
  psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null
  bench_backend postgresql "${PG_ADMIN%/*}/$PG_DB"
fi
