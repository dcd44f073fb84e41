#!/usr/bin/env bash
# Benchmark of the dashboard's pages against a release build on SQLite (not a timed
# test; figures go to stdout): VIDEOS videos with JOBS_PER_VIDEO jobs each (1,000 and
# 10,000 by default; most completed within the last hour, the rest pending, running or
# errored), then each page loaded LOADS times after one warm-up, with a session cookie.
# Prints min, p50 and max per page beside the target (p50 under 200 ms); exits 1 when
# a page misses it.
# Needs curl and sqlite3. Environment: VIDEOS (1000), JOBS_PER_VIDEO (10), LOADS (20),
# PORT (18091), TARGET_MS (200), CARGO_TARGET_DIR, BIN (a prebuilt server binary
# instead of building this tree).
set -euo pipefail
cd "$(dirname "$0")/.."

VIDEOS=${VIDEOS:-1000}
JOBS_PER_VIDEO=${JOBS_PER_VIDEO:-10}
LOADS=${LOADS:-20}
PORT=${PORT:-18091}
TARGET_MS=${TARGET_MS:-200}
TARGET=${CARGO_TARGET_DIR:-target}
BASE="http://127.0.0.1:$PORT"
KEY=bench-dashboard-admin
WORK=$(mktemp -d)
PID=""

cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
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
DB="$WORK/data/bench.sqlite3"
mkdir -p "$WORK/data"
"$BIN" --database-url "sqlite://$DB" migrate >/dev/null

# Video g: UUID 00000000-0000-4000-8000-<g>, state published (1) for 8 in 10, else
# transcoding (2). Job (g, k): UUID 10000000-0000-4000-8000-<(g-1)*J+k>; completed (3)
# and finished k minutes ago for most, else pending (1), processing (2, with progress)
# or errored (4, with an error), spread over the videos.
JOBS=$((VIDEOS * JOBS_PER_VIDEO))
sqlite3 "$DB" <<SQL
BEGIN;
WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $VIDEOS)
INSERT INTO videos (uuid, state, name, directory, base_filename, duration, options,
  created_at, updated_at)
SELECT printf('00000000-0000-4000-8000-%012d', g), CASE WHEN g % 10 < 8 THEN 1 ELSE 2 END,
  'Bench video ' || g, 'videos/bench-' || g, 'bench-' || g, 12.5,
  '{"hls":true,"webVideos":false,"resolutions":[240,480],"sourceOwned":true}',
  datetime('now', '-' || ($VIDEOS - g) || ' seconds'), CURRENT_TIMESTAMP
FROM s;
WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < $JOBS - 1)
INSERT INTO runner_jobs (uuid, job_type, state, payload, private_payload, priority,
  failures, error, progress, video_id, started_at, finished_at, created_at, updated_at)
SELECT printf('10000000-0000-4000-8000-%012d', n + 1), 'vod-hls-transcoding',
  CASE n % 20 WHEN 0 THEN 1 WHEN 1 THEN 2 WHEN 2 THEN 4 ELSE 3 END,
  '{"input":{"videoFileUrl":"http://127.0.0.1/x","separatedAudioFileUrl":[]},"output":{"resolution":240,"fps":30,"separatedAudio":false}}',
  '{"videoUUID":"' || printf('00000000-0000-4000-8000-%012d', n / $JOBS_PER_VIDEO + 1) || '","isNewVideo":true,"deleteWebVideoFiles":false}',
  100, CASE n % 20 WHEN 2 THEN 3 ELSE 0 END,
  CASE n % 20 WHEN 2 THEN 'ffmpeg exited with code 1: Invalid data found when processing input' END,
  CASE n % 20 WHEN 1 THEN n % 100 END,
  n / $JOBS_PER_VIDEO + 1,
  CASE WHEN n % 20 >= 1 THEN datetime('now', '-' || (n % 60 + 1) || ' minutes') END,
  CASE WHEN n % 20 >= 2 THEN datetime('now', '-' || (n % 60) || ' minutes') END,
  datetime('now', '-2 hours', '+' || n || ' seconds'), CURRENT_TIMESTAMP
FROM s;
COMMIT;
ANALYZE;
SQL
echo "seeded $VIDEOS videos and $JOBS jobs (SQLite)"

PRC_DATABASE__URL="sqlite://$DB" PRC_DATA_DIR="$WORK/data" PRC_SERVER__BIND="127.0.0.1:$PORT" \
  PRC_LOG__LEVEL=warn PRC_SERVER__PUBLIC_URL="$BASE" PRC_AUTH__ADMIN_KEYS="$KEY" \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  curl -sf "$BASE/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf -o /dev/null -c "$WORK/cookies" -H "Origin: $BASE" --data-urlencode "key=$KEY" \
  "$BASE/dashboard/login"

MISSED=0
load() { # PATH: LOADS sequential loads after one warm-up; min, p50, max in ms
  curl -sf -o /dev/null -b "$WORK/cookies" "$BASE$1" || { echo "$1: failed"; MISSED=1; return; }
  local line
  line=$(for _ in $(seq "$LOADS"); do
    curl -sf -o /dev/null -b "$WORK/cookies" -w '%{time_total}\n' "$BASE$1"
  done | sort -n | awk -v path="$1" -v target="$TARGET_MS" '{ t[NR] = $1 * 1000 }
    END { p50 = t[int((NR + 1) / 2)];
          printf "%-52s min %6.1f ms  p50 %6.1f ms  max %6.1f ms  (target p50 < %d ms: %s)\n",
            path, t[1], p50, t[NR], target, (p50 < target ? "met" : "MISSED") }')
  echo "$line"
  case "$line" in *MISSED*) MISSED=1 ;; esac
}

load /dashboard
load /dashboard/queue
load "/dashboard/queue?start=$((JOBS - 50))"
load "/dashboard/queue?stateOneOf=4"
load "/dashboard/queue?stateOneOf=1&typeOneOf=vod-hls-transcoding"
load /dashboard/videos
load "/dashboard/videos?start=$((VIDEOS - 50))"
load "/dashboard/videos?state=transcoding"
load "/dashboard/videos/$(printf '00000000-0000-4000-8000-%012d' $((VIDEOS / 2)))"
exit "$MISSED"
