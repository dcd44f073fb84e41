#!/usr/bin/env bash
# Shutdown benchmark (not a test): how long `serve` takes to exit after SIGTERM, and
# what its clients see.
#  1. N idle runners (default 20) connected over WebSocket with the real npm
#     socket.io-client, as peertube-runner connects: time from SIGTERM to process exit,
#     the disconnect reason each client saw, and whether it started reconnecting.
#  2. The same, plus one video upload in progress (curl at 1 MB/s): exit time and the
#     HTTP status the uploader got (a refusal, not a cut connection, once the grace
#     period `server.shutdown_grace` ends).
# Usage: bench/shutdown.sh [N] [BINARY]   (default binary: release build in
#        $CARGO_TARGET_DIR or target). Env GRACE=3s sets PRC_SERVER__SHUTDOWN_GRACE.
# Needs node, curl, and `npm ci` in tests/.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-20}"
BIN="${2:-${CARGO_TARGET_DIR:-$ROOT/target}/release/peertube-runner-connector}"
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
[ -d "$ROOT/tests/node_modules/socket.io-client" ] || (cd "$ROOT/tests" && npm ci --silent)
WORK="$(mktemp -d)"
PORT="${PORT:-18766}"
URL="http://127.0.0.1:$PORT"
KEY="bench-key"
PID="" CLIENTS="" UPLOAD=""
cleanup() {
  for p in $UPLOAD $CLIENTS $PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export PRC_DATA_DIR="$WORK/data" PRC_AUTH__API_KEYS="[\"$KEY\"]" PRC_SERVER__WORKERS=2
[ -n "${GRACE:-}" ] && export PRC_SERVER__SHUTDOWN_GRACE="$GRACE"
truncate -s 1G "$WORK/big.bin"

ms() { date +%s%3N; }

start_server() {
  "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do curl -sf "$URL/readyz" >/dev/null && return; sleep 0.05; done
  echo "server did not start:" >&2; cat "$WORK/server.log" >&2; exit 1
}

register_runners() {
  : >"$WORK/tokens"
  for i in $(seq "$N"); do
    reg="$("$BIN" registration-token create 2>/dev/null | tail -1)"
    curl -sf -H 'Content-Type: application/json' \
      -d "{\"registrationToken\":\"$reg\",\"name\":\"bench-$1-$i\"}" \
      "$URL/api/v1/runners/register" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["runnerToken"])' >>"$WORK/tokens"
  done
}

connect_runners() {
  : >"$WORK/clients.log"
  node "$ROOT/bench/runner-sockets.js" "$URL" "$WORK/tokens" >"$WORK/clients.log" 2>&1 &
  CLIENTS=$!
  for _ in $(seq 300); do grep -q '^connected' "$WORK/clients.log" && return; sleep 0.05; done
  echo "runners did not connect:" >&2; cat "$WORK/clients.log" >&2; exit 1
}

stop_and_time() {
  local t0 t1 status=0
  t0=$(ms)
  kill -TERM "$PID"
  wait "$PID" || status=$?
  t1=$(ms)
  PID=""
  echo "  SIGTERM → exit: $((t1 - t0)) ms (exit status $status)"
}

report_clients() {
  sleep 2   # socket.io-client's first reconnection attempt comes 0.5–1.5 s after the drop
  echo "  client disconnect reasons: $(awk '$1=="disconnect" {print $3, $4}' "$WORK/clients.log" | sort | uniq -c | xargs)"
  echo "  clients that started reconnecting: $(awk '$1=="reconnect_attempt" && $3==1' "$WORK/clients.log" | wc -l) / $N"
  echo "  server log:"; grep -Ei 'shut|grace|socket|cut|still' "$WORK/server.log" | sed 's/^/    /' || true
  kill "$CLIENTS" 2>/dev/null || true; wait "$CLIENTS" 2>/dev/null || true; CLIENTS=""
}

echo "== $N idle runners on WebSocket"
start_server
register_runners a
connect_runners
stop_and_time
report_clients

echo "== $N idle runners and one upload in progress (1 MB/s)"
start_server
register_runners b
connect_runners
(rc=0; curl -s -o "$WORK/upload.out" -w '%{http_code}' --limit-rate 1M -H 'Expect:' \
  -H "Authorization: Bearer $KEY" -F "videoFile=@$WORK/big.bin;filename=big.mp4" \
  "$URL/api/v1/videos" >"$WORK/upload.status" || rc=$?; echo " (curl exit $rc)" >>"$WORK/upload.status") &
UPLOAD=$!
sleep 1
stop_and_time
wait "$UPLOAD" || true
UPLOAD=""
echo "  uploader got HTTP status: $(xargs <"$WORK/upload.status") $(head -c 200 "$WORK/upload.out" 2>/dev/null)"
report_clients
