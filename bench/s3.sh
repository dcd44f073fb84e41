#!/usr/bin/env bash
# S3 upload benchmark (not a test): against a release build and s3s-fs on loopback,
# submits a 2 GiB video (a real, uncompressed one: probed, thumbnailed, then stored in
# the bucket with a multipart upload) and samples the server's RSS every 50 ms, from
# the start of the upload to the 201 (so through staging, probing and the upload to
# S3). Then the same with local storage, for comparison.
# Usage: bench/s3.sh [BINARY]   (default: $CARGO_TARGET_DIR or target, release)
# Needs curl, ffmpeg, python3, s3s-fs (cargo install s3s-fs@0.14.1 --features binary
# --locked). The source file and the bucket live in $SHM (default /dev/shm: about
# 6 GiB of memory at the peak), staging in a temporary folder on disk (2 GiB).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release/peertube-runner-connector}"
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
S3S="$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")"
[ -x "$S3S" ] || { echo "install s3s-fs: cargo install s3s-fs@0.14.1 --features binary --locked" >&2; exit 1; }
SHM="${SHM:-/dev/shm}"
WORK="$(mktemp -d)"
FAST="$(mktemp -d -p "$SHM")"
PORT="${PORT:-18766}"
KEY="bench-key"
URL="http://127.0.0.1:$PORT"
PID="" S3PID=""
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=""; }
cleanup() { stop; [ -n "$S3PID" ] && kill "$S3PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK" "$FAST"; }
trap cleanup EXIT

echo "== making a 2 GiB video (720p, uncompressed, 52 s)"
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t 52 \
  -c:v rawvideo -pix_fmt yuv420p "$FAST/big.mkv"
SIZE=$(stat -c %s "$FAST/big.mkv")
echo "  $SIZE bytes"

mkdir -p "$FAST/buckets/bench"   # s3s-fs: a bucket is a folder
RUST_LOG=s3s_fs=info NO_COLOR=1 "$S3S" --host 127.0.0.1 --port 0 --access-key bench \
  --secret-key bench-secret "$FAST/buckets" >"$WORK/s3s.log" 2>&1 &
S3PID=$!
for _ in $(seq 100); do grep -q "server is running at" "$WORK/s3s.log" && break; sleep 0.1; done
S3URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/s3s.log" | head -1)
echo "  s3s-fs at $S3URL"

rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }

# run NAME [ENV=VALUE...]: starts the server with the extra settings, uploads, reports.
run() {
  local name=$1; shift
  rm -rf "$WORK/data"
  env PRC_DATA_DIR="$WORK/data" PRC_AUTH__API_KEYS="[\"$KEY\"]" PRC_SERVER__WORKERS=2 \
    PRC_LOG__LEVEL=warn "$@" "$BIN" serve --bind "127.0.0.1:$PORT" >"$WORK/server-$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "$URL/readyz" >/dev/null || { cat "$WORK/server-$name.log"; exit 1; }
  local base; base=$(rss)
  ( while kill -0 "$PID" 2>/dev/null; do rss; sleep 0.05; done ) >"$WORK/rss-$name.txt" &
  local sampler=$!
  echo "== $name: 2 GiB upload (multipart form) to 201"
  curl -s -o "$WORK/$name.json" -w "  status %{http_code}  %{size_upload} bytes, request start→201 %{time_total}s\n" \
    -H "Authorization: Bearer $KEY" -F "videoFile=@$FAST/big.mkv" "$URL/api/v1/videos"
  kill "$sampler" 2>/dev/null || true
  local max; max=$(sort -n "$WORK/rss-$name.txt" | tail -1)
  echo "  RSS before ${base} KiB, max ${max} KiB, growth $(( (max - base) / 1024 )) MiB (target < 64 MiB)"
  python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print("  source", b["source"]["key"], b["source"]["size"], "bytes")' "$WORK/$name.json"
  stop
}

run s3 PRC_STORAGE__BACKEND=s3 PRC_STORAGE__S3__BUCKET=bench PRC_STORAGE__S3__ENDPOINT="$S3URL" \
  PRC_STORAGE__S3__REGION=us-east-1 PRC_STORAGE__S3__FORCE_PATH_STYLE=true \
  PRC_STORAGE__S3__ACCESS_KEY_ID=bench PRC_STORAGE__S3__SECRET_ACCESS_KEY=bench-secret
OBJ=$(find "$FAST/buckets/bench" -name '*source.mkv' -type f | head -1)
echo "  in the bucket: $(stat -c %s "$OBJ") bytes ($(basename "$OBJ")); staging after: $(find "$WORK/data/storage/.staging" -type f | wc -l) files"
rm -rf "$FAST/buckets/bench"/*
run local
