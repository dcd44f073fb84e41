#!/usr/bin/env bash
# Webhook delivery benchmark (not a test): against a release build on loopback,
# N pending deliveries (of V videos, so a video's events go one after the other) are
# written to the outbox in one transaction while the server runs; measured is the time
# until none is pending, and the server's RSS. The receiver is a threaded Python HTTP
# server answering 204 (it is likely the bottleneck: its figure is printed too).
# Usage: bench/webhooks.sh [N] [V]   (default 5000 deliveries of 500 videos)
# Env: BIN (default target/release/peertube-runner-connector), CONCURRENCY (8),
#      DATABASE_URL (default: a SQLite file; postgres://… uses psql on that database,
#      which must exist and be empty or migrated).
# Needs curl, python3, and sqlite3 or psql.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/peertube-runner-connector}"
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
N="${1:-5000}"
V="${2:-500}"
WORK="$(mktemp -d)"
PORT="${PORT:-18766}"
RPORT="${RPORT:-18767}"
DB="${DATABASE_URL:-sqlite://$WORK/data/connector.sqlite3}"
cleanup() {
  for p in "${PID:-}" "${RPID:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/receiver.py" <<'EOF'
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count, lock = 0, threading.Lock()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock: count += 1
        self.send_response(204); self.send_header("content-length", "0"); self.end_headers()
    def do_GET(self):
        body = str(count).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
class S(ThreadingHTTPServer):
    request_queue_size = 256   # the default (5) refuses connections under load
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$WORK/receiver.py" "$RPORT" &
RPID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$RPORT/" >/dev/null && break; sleep 0.1; done

SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
export PRC_DATA_DIR="$WORK/data" PRC_DATABASE__URL="$DB" PRC_LOG__LEVEL=info \
  PRC_WEBHOOKS__ENDPOINTS="[{name=\"bench\", url=\"http://127.0.0.1:$RPORT/h\", secret=\"$SECRET\"}]" \
  PRC_WEBHOOKS__ALLOWED_TARGETS=127.0.0.1 PRC_WEBHOOKS__POLL_INTERVAL=20ms \
  PRC_WEBHOOKS__CONCURRENCY="${CONCURRENCY:-8}" PRC_SERVER__WORKERS=2
"$BIN" migrate >/dev/null
"$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

PAD=$(printf 'x%.0s' $(seq 1500))   # a body of about the size of a video resource
case "$DB" in
  postgres*) SQL() { psql -q -X "$DB" -t -A -c "$1"; }
             NOW="now() at time zone 'utc'"; DAY="(now() at time zone 'utc') + interval '1 day'"
             UUID="'00000000-0000-4000-8000-' || lpad((i % $V)::text, 12, '0')"
             SERIES="generate_series(1, $N) AS i" ;;
  *)         SQL() { sqlite3 "${DB#sqlite://}" "$1"; }
             NOW="strftime('%Y-%m-%d %H:%M:%f', 'now')"; DAY="strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 day')"
             UUID="printf('00000000-0000-4000-8000-%012d', i % $V)"
             SERIES="(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $N) SELECT i FROM s)" ;;
esac
START=$(date +%s.%N)
SQL "INSERT INTO webhook_deliveries (event_id, event, video_uuid, endpoint, url, payload, state,
       attempts, next_attempt_at, expires_at, created_at, updated_at)
     SELECT 'evt_' || i, 'video.published', $UUID, 'bench', 'http://127.0.0.1:$RPORT/h',
       '{\"id\":\"evt_' || i || '\",\"pad\":\"$PAD\"}', 'pending', 0, $NOW, $DAY, $NOW, $NOW
     FROM $SERIES"
PEAK=0
while :; do
  LEFT=$(SQL "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")
  R=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status"); [ "$R" -gt "$PEAK" ] && PEAK=$R
  [ "$LEFT" -eq 0 ] && break
  sleep 0.05
done
END=$(date +%s.%N)
GOT=$(curl -s "http://127.0.0.1:$RPORT/")
FAILED=$(grep -c "webhook attempt failed" "$WORK/server.log" || true)
if [ "$FAILED" -gt 0 ]; then
  echo "$FAILED failed attempts, e.g.:"; grep "webhook attempt failed" "$WORK/server.log" | head -3
fi
ONCE=$(SQL "SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered' AND attempts = 1")
awk -v n="$N" -v s="$START" -v e="$END" -v got="$GOT" -v once="$ONCE" -v rss="$PEAK" -v c="${CONCURRENCY:-8}" -v db="$DB" 'BEGIN {
  t = e - s
  printf "%d deliveries (%s) in %.2f s: %.0f/s, concurrency %d; receiver got %d, delivered on the first attempt %d; server RSS peak %.1f MiB\n",
    n, db ~ /^postgres/ ? "PostgreSQL" : "SQLite", t, n / t, c, got, once, rss / 1024 }'
