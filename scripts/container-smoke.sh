#!/usr/bin/env bash
# Builds the image with podman and proves it runs: /readyz answers 200 against the
# local PostgreSQL, `registration-token create` works inside the container, and a
# runner registers with the token. Needs podman (see ../shared/tools/container-base-images.sh
# for machines without registry access) and PostgreSQL on 127.0.0.1:5432 (trust auth).
# usage: scripts/container-smoke.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

image=localhost/peertube-runner-connector
name=prc-smoke-$$
port=${SMOKE_PORT:-18080}
pg_admin=${SMOKE_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
db=prc_smoke_$$

cleanup() {
    podman rm -f "$name" >/dev/null 2>&1 || true
    psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [[ "${1:-}" != --no-build ]]; then
    echo "==> podman build"
    time podman build --network host -t "$image" .
fi
podman image inspect "$image" --format 'image size: {{.Size}} bytes' 

psql "$pg_admin" -qc "CREATE DATABASE $db"
echo "==> podman run"
podman run -d --name "$name" --network host \
    -e PRC_SERVER__BIND="127.0.0.1:$port" \
    -e PRC_SERVER__PUBLIC_URL="http://127.0.0.1:$port" \
    -e PRC_DATABASE__URL="postgres://postgres@127.0.0.1:5432/$db" \
    -e PRC_AUTH__API_KEYS='["smoke-api-key"]' \
    "$image" >/dev/null

for _ in $(seq 1 60); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
    sleep 0.5
done
echo "==> GET /readyz"
curl -fsS -w ' (HTTP %{http_code})\n' "http://127.0.0.1:$port/readyz"

echo "==> healthcheck inside the container"
podman exec "$name" peertube-runner-connector healthcheck

echo "==> registration-token create inside the container"
token=$(podman exec "$name" peertube-runner-connector registration-token create)
echo "$token"
[[ "$token" == ptrrt-* ]]

echo "==> POST /api/v1/runners/register"
body=$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"registrationToken\":\"$token\",\"name\":\"smoke-runner\",\"version\":\"0.0.21\"}" \
    "http://127.0.0.1:$port/api/v1/runners/register")
echo "$body"
grep -q '"runnerToken":"ptrt-' <<<"$body"

echo "==> runner list inside the container"
podman exec "$name" peertube-runner-connector runner list | tee /dev/stderr | grep -q smoke-runner

echo "==> non-root user; ffmpeg and ffprobe work in the image"
podman exec "$name" sh -c 'id -u; ffprobe -version | head -n1;
  ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine -t 1 \
    -c:v libx264 -pix_fmt yuv420p -c:a aac /tmp/smoke.mp4 &&
  ffmpeg -nostdin -v error -i /tmp/smoke.mp4 -frames:v 1 -y /tmp/smoke.jpg &&
  ffprobe -v error -show_entries stream=codec_name -of csv=p=0 /tmp/smoke.mp4 | tr "\n" " "; echo'

echo "container smoke test passed"
