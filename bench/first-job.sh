#!/usr/bin/env bash
# Time to first job (not a test): a release server on loopback, one runner speaking
# Socket.IO through npm socket.io-client exactly as peertube-runner does (bench/first-job.js),
# and ROUNDS video submissions GAP_MS apart; prints, per submission, the time from its
# 201 to the runner's accepted job, then p50/p90/max against the target (< 200 ms).
# Usage: bench/first-job.sh [BINARY]   (default: $CARGO_TARGET_DIR or target, release)
# Environment: ROUNDS (20), GAP_MS (1500), PORT (18766), DATABASE_URL (default: SQLite
# in a temp dir; e.g. postgres://postgres@127.0.0.1:5432/<empty database>).
# Needs curl, jq, ffmpeg, node and `npm ci` in tests/.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release/peertube-runner-connector}"
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
[ -d "$ROOT/tests/node_modules/socket.io-client" ] || (cd "$ROOT/tests" && npm ci --silent)
WORK="$(mktemp -d)"
PORT="${PORT:-18766}"
KEY="bench-key"
URL="http://127.0.0.1:$PORT"
DB_URL="${DATABASE_URL:-sqlite://$WORK/data/bench.sqlite3}"
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait "${PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/data"
ffmpeg -nostdin -v error -y -f lavfi -t 2 -i testsrc2=size=640x360:rate=30 \
  -f lavfi -t 2 -i sine=frequency=440 -c:v libx264 -preset veryfast -pix_fmt yuv420p \
  -c:a aac "$WORK/clip.mp4"

PRC_DATABASE__URL="$DB_URL" PRC_DATA_DIR="$WORK/data" PRC_AUTH__API_KEYS="[\"$KEY\"]" \
PRC_LOG__LEVEL=warn PRC_SERVER__PUBLIC_URL="$URL" "$BIN" serve --bind "127.0.0.1:$PORT" \
  >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/readyz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

REG=$("$BIN" --database-url "$DB_URL" registration-token create)
TOKEN=$(curl -sf -H 'content-type: application/json' \
  -d "{\"registrationToken\":\"$REG\",\"name\":\"first-job-$$\"}" "$URL/api/v1/runners/register" |
  jq -r .runnerToken)
echo "server $BIN, database ${DB_URL%%:*}, load $(cut -d' ' -f1-3 /proc/loadavg)"
node "$ROOT/bench/first-job.js" "$URL" "$TOKEN" "$KEY" "$WORK/clip.mp4" "${ROUNDS:-20}" "${GAP_MS:-1500}"
