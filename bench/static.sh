#!/usr/bin/env bash
# /static benchmark (not a test): against a release build on loopback, wrk on a
# published object (the thumbnail: every request looks the key up in the video's rows,
# then opens the file without following links) and on an unpublished one (the
# uploaded source: rows say no, 404), on SQLite and PostgreSQL.
# Usage: bench/static.sh [BINARY]   (default: $CARGO_TARGET_DIR or target, release)
# Needs wrk, curl, jq, ffmpeg, psql. Environment: DURATION (10s), CONNS (64),
# THREADS (2), PORT (18766), PG_ADMIN (postgres://postgres@127.0.0.1:5432/test; empty
# to skip PostgreSQL), PRC_DATABASE__MAX_CONNECTIONS (4, as bench/jobs.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release/peertube-runner-connector}"
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-18766}
PG_ADMIN=${PG_ADMIN-postgres://postgres@127.0.0.1:5432/test}
export PRC_DATABASE__MAX_CONNECTIONS=${PRC_DATABASE__MAX_CONNECTIONS:-4}
WORK="$(mktemp -d)"
KEY="bench-key"
URL="http://127.0.0.1:$PORT"
PID=""
PG_DB=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ -n "$PG_DB" ] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

ffmpeg -nostdin -v error -y -f lavfi -t 2 -i testsrc2=size=640x360:rate=30 \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/clip.mp4"

bench() { # LABEL DATABASE_URL
  echo "=== $1"
  rm -rf "$WORK/data"
  PRC_DATABASE__URL="$2" PRC_DATA_DIR="$WORK/data" PRC_AUTH__API_KEYS="[\"$KEY\"]" \
    PRC_SERVER__WORKERS=2 PRC_LOG__LEVEL=warn "$BIN" serve --bind "127.0.0.1:$PORT" \
    >"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
  # Other videos, so that lookups are not on a one-row table.
  for i in $(seq 20); do
    curl -sf -o /dev/null -H "Authorization: Bearer $KEY" -F "videoFile=@$WORK/clip.mp4" \
      "$URL/api/v1/videos"
  done
  local video thumb source
  video=$(curl -sf -H "Authorization: Bearer $KEY" -F "videoFile=@$WORK/clip.mp4" "$URL/api/v1/videos")
  thumb=$(jq -r .thumbnailUrl <<<"$video")
  source="$URL/static/$(jq -r .source.key <<<"$video")"
  curl -sf -o /dev/null "$thumb"
  wrk -t"$THREADS" -c"$CONNS" -d2s "$thumb" >/dev/null
  echo "--- published thumbnail ($(curl -s -o /dev/null -w '%{http_code}, %{size_download} B' "$thumb"))"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$thumb" |
    grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
  echo "--- unpublished source ($(curl -s -o /dev/null -w '%{http_code}' "$source"))"
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$source" |
    grep -E "Requests/sec|50%|99%|Socket errors"
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
}

bench sqlite "sqlite://$WORK/data/bench.sqlite3"
if [ -n "$PG_ADMIN" ]; then
  PG_DB="prc_bench_static_$$"
  psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null
  bench postgresql "${PG_ADMIN%/*}/$PG_DB"
fi
