#!/usr/bin/env bash
# Cost growth with the size of the job table (not a test): for each scale N the table
# holds N PENDING and N finished (COMPLETED) jobs, plus 100 PROCESSING ones, seeded in
# one SQL statement each (generate_series on PostgreSQL, a recursive CTE on SQLite);
# then, against a freshly started release server on loopback:
#   request   POST /jobs/request, wrk, CONNS connections, DURATION: req/s, p50, p99
#   healthz   GET /healthz, the same wrk, same server: the harness ceiling
#   accept    POST /jobs/{uuid}/accept of 20,000 extra PENDING jobs (seeded for it, deleted
#             afterwards), one per job, 8 connections: accepts/s, p50, p99
#   submit    POST /api/v1/videos naming a stored 2 s clip (JSON, no upload): median of 5
#   watchdog  the sweep's three queries (PROCESSING jobs of the requeued types and of
#             live past their window, COMPLETING past theirs), as the service issues
#             them, timed in psql / sqlite3: median of 20 sweeps
# and prints each figure beside its 10-job value (target: within 2x).
# Usage: bench/scale.sh [BINARY]      (default: $CARGO_TARGET_DIR or target, release)
# Environment: SCALES_PG ("10 10000 100000 1000000"), SCALES_SQLITE ("10 10000 100000"),
# PG_ADMIN (postgres://postgres@127.0.0.1:5432/test; empty: skip PostgreSQL), SQLITE
# (1; 0: skip), DURATION (5s), CONNS (64), THREADS (2), PORT (18767),
# PRC_DATABASE__MAX_CONNECTIONS (4). Needs wrk, curl, jq, ffmpeg, sqlite3, psql.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release/peertube-runner-connector}"
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
SCALES_PG=${SCALES_PG:-"10 10000 100000 1000000"}
SCALES_SQLITE=${SCALES_SQLITE:-"10 10000 100000"}
PG_ADMIN=${PG_ADMIN-postgres://postgres@127.0.0.1:5432/test}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-18767}
export PRC_DATABASE__MAX_CONNECTIONS=${PRC_DATABASE__MAX_CONNECTIONS:-4}
KEY=bench-key
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
mkdir -p "$WORK/data/storage/uploads"
ffmpeg -nostdin -v error -y -f lavfi -t 2 -i testsrc2=size=640x360:rate=30 \
  -f lavfi -t 2 -i sine=frequency=440 -c:v libx264 -preset veryfast -pix_fmt yuv420p \
  -c:a aac "$WORK/clip.mp4"

sql() { # SQL text on stdin
  case "$DB_URL" in
    sqlite://*) sqlite3 -bail "${DB_URL#sqlite://}" ;;
    *) psql "$DB_URL" -qAt -v ON_ERROR_STOP=1 ;;
  esac
}

# seed FROM COUNT STATE KIND PRIORITY: COUNT jobs numbered FROM.., in one statement.
# UUIDs are v4-shaped and unique: <hex i>-<kind>-4000-8000-<hex i>.
seed() {
  local from=$1 n=$2 state=$3 kind=$4 prio=$5 to=$(($1 + $2 - 1))
  [ "$n" -gt 0 ] || return 0
  local fin="NULL"
  [ "$state" = 3 ] && fin="CURRENT_TIMESTAMP"
  case "$DB_URL" in
    sqlite://*) sql <<EOF
WITH RECURSIVE c(i) AS (SELECT $from UNION ALL SELECT i + 1 FROM c WHERE i < $to),
u(i, id) AS (SELECT i, printf('%08x-%04x-4000-8000-%012x', i, $kind, i) FROM c)
INSERT INTO runner_jobs (uuid, job_type, state, payload, private_payload, priority, failures,
  created_at, updated_at, finished_at)
SELECT id, 'vod-hls-transcoding', $state,
  '{"input":{"videoFileUrl":"http://127.0.0.1/api/v1/runners/jobs/' || id || '/files/videos/'
    || id || '/max-quality","separatedAudioFileUrl":[]},"output":{"resolution":720,"fps":30,"separatedAudio":false}}',
  '{"videoUUID":"' || id || '","isNewVideo":true}', $prio, 0,
  CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, $fin FROM u;
EOF
      ;;
    *) sql <<EOF
INSERT INTO runner_jobs (uuid, job_type, state, payload, private_payload, priority, failures,
  created_at, updated_at, finished_at)
SELECT id, 'vod-hls-transcoding', $state,
  '{"input":{"videoFileUrl":"http://127.0.0.1/api/v1/runners/jobs/' || id || '/files/videos/'
    || id || '/max-quality","separatedAudioFileUrl":[]},"output":{"resolution":720,"fps":30,"separatedAudio":false}}',
  '{"videoUUID":"' || id || '","isNewVideo":true}', $prio, 0,
  now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', $( [ "$fin" = NULL ] && echo NULL || echo "now() AT TIME ZONE 'utc'" )
FROM (SELECT lpad(to_hex(i), 8, '0') || '-' || lpad(to_hex($kind), 4, '0') || '-4000-8000-'
        || lpad(to_hex(i), 12, '0') AS id FROM generate_series($from::bigint, $to::bigint) AS i) s;
ANALYZE runner_jobs;
EOF
      ;;
  esac
}

start_server() {
  PRC_DATABASE__URL="$DB_URL" PRC_DATA_DIR="$WORK/data" PRC_SERVER__BIND="127.0.0.1:$PORT" \
    PRC_AUTH__API_KEYS="[\"$KEY\"]" PRC_LOG__LEVEL=warn PRC_SERVER__PUBLIC_URL="$BASE" \
    "$BIN" serve >>"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 300); do curl -sf "$BASE/readyz" >/dev/null && return 0; sleep 0.1; done
  tail -20 "$WORK/server.log"
  return 1
}

stop_server() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

wrk_line() { # label, then wrk output on stdin -> "label req/s p50 p99"
  awk -v l="$1" '/Requests\/sec/ {r=$2} / 50%/ {p50=$2} / 99%/ {p99=$2}
    /accepts won/ {a=$4; gsub(/[^0-9.]/, "", a)}
    END { if (a != "") r = a; printf "%s %s %s %s\n", l, r, p50, p99 }'
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

watchdog_sql() { # the three queries of one sweep, cutoffs as the service computes them
  local types="'vod-web-video-transcoding','vod-hls-transcoding','vod-audio-merge-transcoding','video-studio-transcoding','video-transcription','generate-video-storyboard'"
  case "$DB_URL" in
    sqlite://*) local t="datetime('now', '-120 seconds')" l="datetime('now', '-30 seconds')" c="datetime('now', '-6 hours')" ;;
    *) local t="now() AT TIME ZONE 'utc' - interval '2 minutes'" l="now() AT TIME ZONE 'utc' - interval '30 seconds'" c="now() AT TIME ZONE 'utc' - interval '6 hours'" ;;
  esac
  cat <<EOF
SELECT * FROM runner_jobs WHERE state = 2 AND job_type IN ($types) AND updated_at < $t ORDER BY updated_at ASC LIMIT 500;
SELECT * FROM runner_jobs WHERE state = 2 AND job_type IN ('live-rtmp-hls-transcoding') AND updated_at < $l ORDER BY updated_at ASC LIMIT 500;
SELECT * FROM runner_jobs WHERE state = 9 AND job_type IN ($types,'live-rtmp-hls-transcoding') AND updated_at < $c ORDER BY updated_at ASC LIMIT 500;
EOF
}

time_watchdog() { # median ms of 20 sweeps (three queries each), timed inside one session
  local q; q=$(watchdog_sql)
  case "$DB_URL" in
    sqlite://*) python3 - "${DB_URL#sqlite://}" "$q" <<'PY'
import sqlite3, statistics, sys, time
db = sqlite3.connect(sys.argv[1])
queries = [s for s in sys.argv[2].split(";") if s.strip()]
runs = []
for _ in range(20):
    t = time.perf_counter()
    for s in queries:
        db.execute(s).fetchall()
    runs.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(runs):.2f}")
PY
      ;;
    *) { echo '\timing on'; for _ in $(seq 20); do printf '%s\n' "$q"; done; } | sql |
         awk '/^Time:/ {t += $2; n++; if (n % 3 == 0) {print t; t = 0}}' | median | awk '{printf "%.2f", $1}' ;;
  esac
}

time_submit() { # median s of 5 JSON submissions of a stored clip
  for i in 1 2 3 4 5; do
    local name="s-$RANDOM-$i"
    cp "$WORK/clip.mp4" "$WORK/data/storage/uploads/$name.mp4"
    curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' -d "{\"filePath\":\"uploads/$name.mp4\",\"resolutions\":[360]}" \
      "$BASE/api/v1/videos"
  done | median
}

declare -A BASELINE
report() { # backend scale metric value (higher_is_better 0|1)
  local key="$1/$3" v="$4"
  [ "$2" = "${FIRST_SCALE}" ] && BASELINE[$key]=$v
  local b=${BASELINE[$key]:-$v}
  awk -v s="$2" -v m="$3" -v v="$v" -v b="$b" -v hi="$5" 'BEGIN {
    r = (hi == 1) ? b / v : v / b
    printf "  %-9s %10s   x%.2f of the 10-job figure (%s)\n", m, v, r, (r <= 2 ? "ok, target <= 2x" : "MISS, target <= 2x") }'
}

to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }'; }

bench_backend() { # label url scales...
  local label=$1
  DB_URL=$2
  shift 2
  FIRST_SCALE=$1
  echo "=== $label ($BIN) ==="
  "$BIN" --database-url "$DB_URL" migrate >/dev/null
  local have=0 next=1
  seed 100000000 100 2 2 100 # PROCESSING (ids 1..100), fresh: the watchdog must skip them
  local reg token
  reg=$("$BIN" --database-url "$DB_URL" registration-token create)
  for n in "$@"; do
    seed $next $((n - have)) 1 0 100 # PENDING
    seed $((next + 200000000)) $((n - have)) 3 1 100 # COMPLETED
    next=$((next + n - have)); have=$n
    start_server
    [ -n "${token:-}" ] || token=$(curl -sf -H 'content-type: application/json' \
      -d "{\"registrationToken\":\"$reg\",\"name\":\"scale-$label\"}" "$BASE/api/v1/runners/register" | jq -r .runnerToken)
    echo "--- $n pending + $n finished jobs (load $(cut -d' ' -f1 /proc/loadavg))"
    RUNNER_TOKEN="$token" wrk -t"$THREADS" -c"$CONNS" -d2s -s "$ROOT/bench/request.lua" "$BASE/api/v1/runners/jobs/request" >/dev/null
    local req hz
    req=$(RUNNER_TOKEN="$token" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$ROOT/bench/request.lua" \
      "$BASE/api/v1/runners/jobs/request" | wrk_line request)
    hz=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$BASE/healthz" | wrk_line healthz)
    read -r _ rps p50 p99 <<<"$req"
    read -r _ hrps _ _ <<<"$hz"
    echo "  request   $rps req/s, p50 $p50, p99 $p99; healthz $hrps req/s: $(awk -v a="$rps" -v b="$hrps" 'BEGIN {printf "%.0f", 100 * a / b}') % of it"
    report "$label" "$n" request-rps "$rps" 1
    # p50, not p99: on a shared 2-core machine the tail is the scheduler's (the same
    # run's /healthz p99 moves as much).
    report "$label" "$n" request-p50 "$(echo "$p50" | to_ms)" 0
    seed 300000001 20000 1 3 50 # the accept set
    case "$DB_URL" in
      sqlite://*) echo "SELECT uuid FROM runner_jobs WHERE priority = 50;" ;;
      *) echo "SELECT uuid FROM runner_jobs WHERE priority = 50;" ;;
    esac | sql >"$WORK/accept.txt"
    local acc
    acc=$(RUNNER_TOKEN="$token" JOBS_FILE="$WORK/accept.txt" PER_JOB=1 wrk -t"$THREADS" -c8 -d"$DURATION" \
      --latency -s "$ROOT/bench/accept.lua" "$BASE" | wrk_line accept)
    read -r _ arps ap50 ap99 <<<"$acc"
    echo "  accept    $arps accepts/s, p50 $ap50, p99 $ap99"
    report "$label" "$n" accept-p50 "$(echo "$ap50" | to_ms)" 0
    echo "DELETE FROM runner_jobs WHERE priority = 50;" | sql
    local sub wd
    sub=$(time_submit)
    report "$label" "$n" submit-s "$sub" 0
    # The PROCESSING jobs are kept fresh (and PROCESSING: the server's own watchdog may
    # have requeued them by now), so every scale's sweep finds nothing to do.
    case "$DB_URL" in
      sqlite://*) echo "UPDATE runner_jobs SET state = 2, updated_at = CURRENT_TIMESTAMP WHERE id <= 100;" ;;
      *) echo "UPDATE runner_jobs SET state = 2, updated_at = now() AT TIME ZONE 'utc' WHERE id <= 100;" ;;
    esac | sql
    wd=$(time_watchdog)
    report "$label" "$n" sweep-ms "$wd" 0
    stop_server
  done
}

if [ "${SQLITE:-1}" = 1 ]; then
  # shellcheck disable=SC2086
  bench_backend sqlite "sqlite://$WORK/data/scale.sqlite3" $SCALES_SQLITE
fi
if [ -n "$PG_ADMIN" ]; then
  PG_DB="prc_scale_$$"
  psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null
  # shellcheck disable=SC2086
  bench_backend postgresql "${PG_ADMIN%/*}/$PG_DB" $SCALES_PG
fi
