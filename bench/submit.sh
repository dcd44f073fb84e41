#!/usr/bin/env bash
# Submission benchmark (not a test): against a release build on loopback, measures
#  1. time to the 201 for a 10 s 720p file (multipart upload, and JSON naming the
#     same file already in storage: no upload at all, so pure server work);
#  2. the server's RSS while a 2 GiB upload streams in (sampled every 50 ms);
#  3. upload throughput on loopback (curl's average upload speed for the 2 GiB body).
# Usage: bench/submit.sh [BINARY]   (default: $CARGO_TARGET_DIR or target, release)
# Needs curl, ffmpeg, python3.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release/peertube-runner-connector}"
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
WORK="$(mktemp -d)"
PORT="${PORT:-18765}"
KEY="bench-key"
URL="http://127.0.0.1:$PORT"
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait "${PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

ffmpeg -nostdin -v error -y -f lavfi -t 10 -i testsrc2=size=1280x720:rate=30 \
  -f lavfi -t 10 -i sine=frequency=440 -c:v libx264 -preset veryfast -pix_fmt yuv420p \
  -c:a aac "$WORK/720p.mp4"
truncate -s 2G "$WORK/big.bin"   # sparse: the disk read is free, the upload is not

PRC_DATA_DIR="$WORK/data" PRC_AUTH__API_KEYS="[\"$KEY\"]" PRC_SERVER__WORKERS=2 \
PRC_LOG__LEVEL=warn "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
echo "720p 10 s source: $(stat -c %s "$WORK/720p.mp4") bytes"

echo "== multipart upload of the 720p file, 5 runs (time_total; upload itself is ~ms on loopback)"
for i in 1 2 3 4 5; do
  curl -s -o /dev/null -w "  status %{http_code}  request start→201 %{time_total}s (upload %{size_upload} B)\n" \
    -H "Authorization: Bearer $KEY" -F "videoFile=@$WORK/720p.mp4" -F "name=run$i" "$URL/api/v1/videos"
done

echo "== JSON submission of the same file already in storage, 5 runs (no upload)"
mkdir -p "$WORK/data/storage/bench"
for i in 1 2 3 4 5; do
  cp "$WORK/720p.mp4" "$WORK/data/storage/bench/in$i.mp4"
  curl -s -o /dev/null -w "  status %{http_code}  %{time_total}s\n" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d "{\"filePath\":\"bench/in$i.mp4\"}" "$URL/api/v1/videos"
done

echo "== 2 GiB upload: RSS (KiB) sampled every 50 ms"
BASE=$(rss)
( while kill -0 "$PID" 2>/dev/null; do rss; sleep 0.05; done ) >"$WORK/rss.txt" &
SAMPLER=$!
curl -s -o "$WORK/big.json" -w "  status %{http_code}  %{size_upload} bytes in %{time_total}s, avg upload %{speed_upload} B/s\n" \
  -H "Authorization: Bearer $KEY" -F "videoFile=@$WORK/big.bin;filename=big.mp4" "$URL/api/v1/videos"
kill "$SAMPLER" 2>/dev/null || true
MAX=$(sort -n "$WORK/rss.txt" | tail -1)
echo "  RSS before ${BASE} KiB, max during ${MAX} KiB, growth $(( (MAX - BASE) / 1024 )) MiB (target < 64 MiB)"
echo "  (the zero-filled body is refused as not media after the upload: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["detail"][:60])' "$WORK/big.json"))"
echo "  staging after: $(find "$WORK/data/storage/.staging" -type f | wc -l) files"
